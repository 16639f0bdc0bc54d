//! `${VAR}` and `${VAR:-default}` interpolation from the environment.
//!
//! It runs on string values after the YAML is parsed, never on the raw file, so an
//! environment value containing `:`, `#` or quotes cannot change the document's
//! structure. `$${` is a literal `${`; any other `$` is kept as it is.
//! `${VAR:-default}` uses the default when `VAR` is unset or empty, as in the shell.
//! Defaults cannot nest: the first `}` ends the reference.

use std::borrow::Cow;

/// One problem found while interpolating a string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// `${VAR}` without a default names a variable that is not set.
    #[error("environment variable {0} is not set")]
    Unset(String),
    /// `${` without a closing `}`.
    #[error(r#"unterminated "${{"; write "$${{" for a literal "${{""#)]
    Unterminated,
    /// The text between `${` and `}` is not `NAME` or `NAME:-default`.
    #[error(r#"invalid variable reference "${{{0}}}"; use ${{NAME}} or ${{NAME:-default}}"#)]
    Invalid(String),
}

/// Replaces every `${VAR}` and `${VAR:-default}` in `input` using `env`.
///
/// Returns every problem found, not just the first.
pub fn interpolate<'a>(
    input: &'a str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'a, str>, Vec<InterpolateError>> {
    if !input.contains('$') {
        return Ok(Cow::Borrowed(input));
    }
    let mut out = String::with_capacity(input.len());
    let mut errors = Vec::new();
    let mut rest = input;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(close) = tail.find('}') else {
                errors.push(InterpolateError::Unterminated);
                break;
            };
            match resolve(&tail[..close], env) {
                Ok(value) => out.push_str(&value),
                Err(error) => errors.push(error),
            }
            rest = &tail[close + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    if errors.is_empty() {
        out.push_str(rest);
        Ok(Cow::Owned(out))
    } else {
        Err(errors)
    }
}

/// Looks up the inside of one `${…}`.
fn resolve(
    reference: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let (name, default) = match reference.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (reference, None),
    };
    if !is_var_name(name) {
        return Err(InterpolateError::Invalid(reference.to_owned()));
    }
    match (env(name), default) {
        (Some(value), None) => Ok(value),
        (Some(value), Some(_)) if !value.is_empty() => Ok(value),
        (_, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(InterpolateError::Unset(name.to_owned())),
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("sk-123".into()),
            "EMPTY" => Some(String::new()),
            "WEIRD" => Some("a: b # c \"d\" ${NOT}".into()),
            _ => None,
        }
    }

    fn run(input: &str) -> Result<String, Vec<InterpolateError>> {
        interpolate(input, &env).map(Cow::into_owned)
    }

    #[test]
    fn plain_strings_are_borrowed() {
        assert!(matches!(
            interpolate("no vars", &env),
            Ok(Cow::Borrowed("no vars"))
        ));
    }

    #[test]
    fn substitutes_variables() {
        assert_eq!(run("${KEY}").unwrap(), "sk-123");
        assert_eq!(run("Bearer ${KEY}!").unwrap(), "Bearer sk-123!");
        assert_eq!(run("${KEY}${KEY}").unwrap(), "sk-123sk-123");
        assert_eq!(run("${EMPTY}").unwrap(), "");
    }

    #[test]
    fn values_are_not_reinterpreted() {
        assert_eq!(run("${WEIRD}").unwrap(), "a: b # c \"d\" ${NOT}");
    }

    #[test]
    fn defaults() {
        assert_eq!(run("${MISSING:-fallback}").unwrap(), "fallback");
        assert_eq!(run("${EMPTY:-fallback}").unwrap(), "fallback");
        assert_eq!(run("${KEY:-fallback}").unwrap(), "sk-123");
        assert_eq!(run("${MISSING:-}").unwrap(), "");
        assert_eq!(run("${MISSING:-http://h:1/v1}").unwrap(), "http://h:1/v1");
    }

    #[test]
    fn escapes_and_lone_dollars() {
        assert_eq!(run("$${KEY}").unwrap(), "${KEY}");
        assert_eq!(run("cost $5 $").unwrap(), "cost $5 $");
        assert_eq!(run("$$").unwrap(), "$$");
        assert_eq!(run("$$${KEY}").unwrap(), "$${KEY}");
    }

    #[test]
    fn errors() {
        assert_eq!(
            run("${OPENAI_API_KEY}").unwrap_err(),
            vec![InterpolateError::Unset("OPENAI_API_KEY".into())]
        );
        assert_eq!(
            run("${A} and ${B}").unwrap_err(),
            vec![
                InterpolateError::Unset("A".into()),
                InterpolateError::Unset("B".into())
            ]
        );
        assert_eq!(
            run("${KEY").unwrap_err(),
            vec![InterpolateError::Unterminated]
        );
        assert_eq!(
            run("${1X}").unwrap_err(),
            vec![InterpolateError::Invalid("1X".into())]
        );
        assert_eq!(
            run("${}").unwrap_err(),
            vec![InterpolateError::Invalid(String::new())]
        );
        assert_eq!(
            InterpolateError::Unset("OPENAI_API_KEY".into()).to_string(),
            "environment variable OPENAI_API_KEY is not set"
        );
        assert_eq!(
            InterpolateError::Invalid("A:B".into()).to_string(),
            r#"invalid variable reference "${A:B}"; use ${NAME} or ${NAME:-default}"#
        );
    }
}
