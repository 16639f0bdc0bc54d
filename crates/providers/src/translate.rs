//! Helpers every translating codec shares: field-path errors, and reading the text out of
//! OpenAI content parts.

use serde_json::Value;
use sluice_types::{ContentPart, GatewayError};

/// A 400 about a malformed field at `path`.
pub(crate) fn invalid(path: &str, why: &str) -> GatewayError {
    GatewayError::invalid_request(format!("{path}: {why}")).with_param(path)
}

/// The text of a `text` part at `at`.
pub(crate) fn part_text(p: &ContentPart, at: &str) -> Result<String, GatewayError> {
    p.text
        .clone()
        .ok_or_else(|| invalid(&format!("{at}.text"), "is required for a text part"))
}

/// The text of an assistant content part: `text` or `refusal`; other part types cannot be
/// sent back as an assistant turn.
pub(crate) fn assistant_part_text(p: &ContentPart, at: &str) -> Result<String, GatewayError> {
    match p.kind.as_str() {
        "text" => part_text(p, at),
        "refusal" => Ok(p
            .extra
            .get("refusal")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()),
        other => Err(invalid(
            &format!("{at}.type"),
            &format!("assistant content parts of type {other:?} cannot be sent"),
        )),
    }
}
