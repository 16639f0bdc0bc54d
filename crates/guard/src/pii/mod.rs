//! PII and secret detection: built-in detectors, user regexes and word lists, compiled once.
//!
//! A [`Scanner`] holds every regex of its check in one [`RegexSet`], which answers in a
//! single pass which patterns occur at all; only those are then run on their own to find
//! the spans, and each candidate goes through its validator (checksums, number rules,
//! context). Word lists are one Aho-Corasick automaton, ASCII-case-insensitive, kept only
//! where the match is a whole word. Overlapping detections are resolved to the earliest,
//! then the longest, then the one of the higher-priority pattern.

mod patterns;
mod validate;

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::GuardError;
use validate::Validator;

/// A built-in kind of personal data or secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    /// Email addresses.
    Email,
    /// Phone numbers: E.164 (`+44 20 7946 0958`), North American and trunk-`0` national forms.
    Phone,
    /// Payment card numbers (issuer prefix, length and Luhn checked).
    Card,
    /// International bank account numbers (country length and mod-97 checked).
    Iban,
    /// US social security numbers (area, group and serial rules checked).
    Ssn,
    /// IPv4 and IPv6 addresses.
    Ip,
    /// Credentials: AWS keys, OpenAI, Anthropic and GitHub tokens, private key blocks, JWTs.
    Secret,
}

impl Entity {
    /// Every entity, in the order the docs list them.
    pub const ALL: [Entity; 7] = [
        Entity::Email,
        Entity::Phone,
        Entity::Card,
        Entity::Iban,
        Entity::Ssn,
        Entity::Ip,
        Entity::Secret,
    ];

    /// The config name (`email`, `phone`, `card`, `iban`, `ssn`, `ip`, `secret`), which is
    /// also the label of its detections.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Email => "email",
            Entity::Phone => "phone",
            Entity::Card => "card",
            Entity::Iban => "iban",
            Entity::Ssn => "ssn",
            Entity::Ip => "ip",
            Entity::Secret => "secret",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Entity {
    type Err = GuardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Entity::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| GuardError::UnknownEntity(s.to_owned()))
    }
}

/// A user-defined detector: a regex whose every match is reported under `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomPattern {
    /// The label of its detections (`employee_id` gives placeholders `[EMPLOYEE_ID_1]`).
    pub name: String,
    /// The regex, in the `regex` crate's syntax.
    pub regex: String,
}

/// What a PII check looks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PiiSpec {
    /// Built-in detectors to run.
    pub entities: Vec<Entity>,
    /// User-defined regexes.
    pub patterns: Vec<CustomPattern>,
    /// Words and phrases matched whole and ASCII-case-insensitively, labelled `word`.
    pub words: Vec<String>,
}

/// The label of word-list detections.
pub const WORD_LABEL: &str = "word";

/// One detection: its label and its byte range in the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding<'s> {
    /// `email`, `phone`, …, a custom pattern's name, or [`WORD_LABEL`].
    pub label: &'s str,
    /// Where it is in the text.
    pub span: Range<usize>,
}

struct Rule {
    label: String,
    regex: Regex,
    group: Option<usize>,
    validate: Option<Validator>,
}

/// The compiled detectors of one PII check. Build it once; scanning is `&self` and
/// thread-safe.
pub struct Scanner {
    set: RegexSet,
    rules: Vec<Rule>,
    words: Option<AhoCorasick>,
}

impl fmt::Debug for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scanner")
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.label).collect::<Vec<_>>(),
            )
            .field("words", &self.words.as_ref().map(AhoCorasick::patterns_len))
            .finish()
    }
}

/// Bigger than any built-in needs, small enough that a hostile custom regex cannot take
/// the process's memory.
const REGEX_SIZE_LIMIT: usize = 8 << 20;

impl Scanner {
    /// Compiles the detectors of `spec`; fails on an invalid custom regex or empty word.
    pub fn new(spec: &PiiSpec) -> Result<Self, GuardError> {
        let mut rules = Vec::new();
        for b in patterns::BUILTINS {
            if spec.entities.contains(&b.entity) {
                rules.push(rule(b.entity.name(), b.regex, Some(b.validate))?);
            }
        }
        for c in &spec.patterns {
            if c.name.is_empty() {
                return Err(GuardError::Invalid("a custom pattern needs a name".into()));
            }
            rules.push(rule(&c.name, &c.regex, None)?);
        }
        let set = RegexSetBuilder::new(rules.iter().map(|r| r.regex.as_str()))
            .size_limit(REGEX_SIZE_LIMIT * 4)
            .build()
            .map_err(|e| GuardError::Regex(e.to_string()))?;
        let words = if spec.words.is_empty() {
            None
        } else {
            if spec.words.iter().any(|w| w.trim().is_empty()) {
                return Err(GuardError::Invalid("a word list has an empty word".into()));
            }
            let ac = AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(spec.words.iter().map(|w| w.trim()))
                .map_err(|e| GuardError::Invalid(format!("word list: {e}")))?;
            Some(ac)
        };
        Ok(Self { set, rules, words })
    }

    /// Every detection in `text`, ordered by position, without overlaps.
    pub fn find<'s>(&'s self, text: &str) -> Vec<Finding<'s>> {
        let mut found: Vec<(Range<usize>, usize)> = Vec::new();
        if !self.rules.is_empty() {
            for i in self.set.matches(text).iter() {
                let r = &self.rules[i];
                let mut push = |span: Range<usize>| {
                    let span = match r.validate {
                        Some(validate) => validate(text, span),
                        None => Some(span),
                    };
                    if let Some(span) = span.filter(|s| !s.is_empty()) {
                        found.push((span, i));
                    }
                };
                match r.group {
                    Some(g) => r
                        .regex
                        .captures_iter(text)
                        .filter_map(|c| c.get(g))
                        .for_each(|m| push(m.range())),
                    None => r.regex.find_iter(text).for_each(|m| push(m.range())),
                }
            }
        }
        if let Some(ac) = &self.words {
            let word = self.rules.len();
            found.extend(
                ac.find_iter(text)
                    .map(|m| m.range())
                    .filter(|r| whole_word(text, r))
                    .map(|r| (r, word)),
            );
        }
        found.sort_by(|(a, ai), (b, bi)| (a.start, b.end, ai).cmp(&(b.start, a.end, bi)));
        let mut out = Vec::with_capacity(found.len());
        let mut last_end = 0;
        for (span, i) in found {
            if span.start < last_end {
                continue;
            }
            last_end = span.end;
            let label = self.rules.get(i).map_or(WORD_LABEL, |r| r.label.as_str());
            out.push(Finding { label, span });
        }
        out
    }
}

fn rule(label: &str, pattern: &str, validate: Option<Validator>) -> Result<Rule, GuardError> {
    let regex = RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| GuardError::Regex(format!("{label}: {e}")))?;
    let group = regex.capture_names().position(|n| n == Some("v"));
    Ok(Rule {
        label: label.to_owned(),
        regex,
        group,
        validate,
    })
}

fn whole_word(text: &str, r: &Range<usize>) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    text[..r.start].chars().next_back().is_none_or(|c| !word(c))
        && text[r.end..].chars().next().is_none_or(|c| !word(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(entities: &[Entity]) -> Scanner {
        Scanner::new(&PiiSpec {
            entities: entities.to_vec(),
            ..PiiSpec::default()
        })
        .unwrap()
    }

    fn labels(s: &Scanner, text: &str) -> Vec<(String, String)> {
        s.find(text)
            .into_iter()
            .map(|f| (f.label.to_owned(), text[f.span].to_owned()))
            .collect()
    }

    #[test]
    fn findings_are_ordered_and_do_not_overlap() {
        let s = scanner(&Entity::ALL);
        let text = "mail ann@example.org or call +1 415 555 2671 from ::ffff:192.0.2.1";
        assert_eq!(
            labels(&s, text),
            [
                ("email".into(), "ann@example.org".into()),
                ("phone".into(), "+1 415 555 2671".into()),
                ("ip".into(), "::ffff:192.0.2.1".into()),
            ]
        );
    }

    #[test]
    fn only_the_named_group_of_a_context_pattern_is_detected() {
        let s = scanner(&[Entity::Secret]);
        let text = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";
        assert_eq!(
            labels(&s, text),
            [(
                "secret".into(),
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()
            )]
        );
    }

    #[test]
    fn words_match_whole_and_ignore_ascii_case() {
        let s = Scanner::new(&PiiSpec {
            words: vec!["Project Falcon".into(), "acme".into()],
            ..PiiSpec::default()
        })
        .unwrap();
        assert_eq!(
            labels(&s, "PROJECT FALCON ships; acmeCorp and ACME differ"),
            [
                ("word".into(), "PROJECT FALCON".into()),
                ("word".into(), "ACME".into()),
            ]
        );
    }

    #[test]
    fn bad_custom_regexes_and_entity_names_are_errors() {
        let bad = PiiSpec {
            patterns: vec![CustomPattern {
                name: "x".into(),
                regex: "(".into(),
            }],
            ..PiiSpec::default()
        };
        assert!(matches!(Scanner::new(&bad), Err(GuardError::Regex(_))));
        assert!("passport".parse::<Entity>().is_err());
        assert_eq!("iban".parse::<Entity>().unwrap(), Entity::Iban);
    }
}
