//! The built-in detectors: one regex per pattern and the validator that confirms it.
//!
//! The regexes find candidates cheaply (ASCII classes, ASCII word boundaries, so the lazy
//! DFA handles every input); the validators in [`super::validate`] decide. A pattern with a
//! capture group named `v` detects only that group (the key, not the `aws_secret…=` before
//! it).

use super::Entity;
use super::validate::{self as v, Validator};

/// One built-in pattern.
pub(crate) struct Builtin {
    /// The entity it detects.
    pub entity: Entity,
    /// The regex that finds candidates.
    pub regex: &'static str,
    /// The check that confirms a candidate.
    pub validate: Validator,
}

const fn p(entity: Entity, regex: &'static str, validate: Validator) -> Builtin {
    Builtin {
        entity,
        regex,
        validate,
    }
}

/// Every built-in pattern, in priority order: when two detections cover the same text, the
/// earlier pattern wins.
pub(crate) const BUILTINS: &[Builtin] = &[
    // Secrets first: a key can contain runs that look like other things.
    p(
        Entity::Secret,
        r"-----BEGIN[A-Z0-9 ]{0,32} PRIVATE KEY-----(?:(?s:.)*?-----END[A-Z0-9 ]{0,32} PRIVATE KEY-----|[A-Za-z0-9+/=\s]{40,})",
        v::pem,
    ),
    p(
        Entity::Secret,
        r"(?-u:\b)sk-ant-[A-Za-z0-9_-]{20,}",
        v::token,
    ),
    p(
        Entity::Secret,
        r"(?-u:\b)sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
        v::openai_key,
    ),
    p(
        Entity::Secret,
        r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,255})(?-u:\b)",
        v::token,
    ),
    p(
        Entity::Secret,
        r"(?-u:\b)(?:AKIA|ASIA)[A-Z0-9]{16}(?-u:\b)",
        v::token,
    ),
    p(
        Entity::Secret,
        r#"(?i-u)(?:aws[a-z_ .-]{0,24}?secret|secret_?access_?key)[a-z_ .-]{0,24}?["']?[ \t]{0,3}(?:[:=]|=>)[ \t]{0,3}["']?(?P<v>[A-Za-z0-9/+]{40})"#,
        v::aws_secret,
    ),
    p(
        Entity::Secret,
        r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{10,}",
        v::jwt,
    ),
    p(
        Entity::Email,
        r"(?i-u)[a-z0-9][a-z0-9._%+'-]{0,63}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}",
        v::email,
    ),
    p(
        Entity::Iban,
        r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)",
        v::iban,
    ),
    p(
        Entity::Card,
        r"(?-u:\b)(?:[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,4}(?:[ -][0-9]{3})?|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})(?-u:\b)",
        v::card,
    ),
    p(
        Entity::Ssn,
        r"(?-u:\b)[0-9]{3}(?:-[0-9]{2}-|[ ][0-9]{2}[ ])[0-9]{4}(?-u:\b)",
        v::ssn,
    ),
    p(
        Entity::Phone,
        r"\+[1-9][0-9]{0,2}(?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,4})){2,7}(?-u:\b)",
        v::phone_international,
    ),
    p(
        Entity::Phone,
        r"(?:1[ .-])?(?:\([2-9][0-9]{2}\) ?|(?-u:\b)[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}(?-u:\b)",
        v::phone_nanp,
    ),
    p(
        Entity::Phone,
        r"(?:\(0[1-9][0-9]{0,3}\)|(?-u:\b)0[1-9][0-9]{0,3})(?:[ .-][0-9]{2,6}){1,4}(?-u:\b)",
        v::phone_trunk,
    ),
    p(
        Entity::Ip,
        r"(?-u:\b)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?-u:\b)",
        v::ipv4,
    ),
    p(
        Entity::Ip,
        r"(?i-u)(?:[0-9a-f]{0,4}:){2,8}(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3}|[0-9a-f]{1,4})?",
        v::ipv6,
    ),
];
