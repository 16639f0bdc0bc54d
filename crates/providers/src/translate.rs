//! Helpers every translating codec shares: field-path errors, and reading the text out of
//! OpenAI content parts.

use serde_json::Value;
use sluice_types::{ContentPart, ErrorKind, GatewayError, Origin};

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

/// The URL a translating codec gives an OpenAI-shaped pass-through of `path`: `embeddings`
/// (the provider's OpenAI-compatible embeddings URL, if it has one) for `/embeddings`, and a
/// 501 naming the provider and its API for anything else.
pub(crate) fn openai_endpoint_url(
    provider: &str,
    api: &str,
    path: &str,
    query: Option<&str>,
    embeddings: Option<String>,
) -> Result<String, GatewayError> {
    let Some(mut url) = embeddings.filter(|_| path == "/embeddings") else {
        return Err(GatewayError::new(
            ErrorKind::Unsupported,
            Origin::Client,
            format!(
                "provider {provider} speaks the {api} and cannot serve the OpenAI endpoint /v1{path}"
            ),
        ));
    };
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    Ok(url)
}

/// A stable id derived from an upstream body, for formats whose answers carry none
/// (`{prefix}-` and 64-bit FNV-1a in hex).
pub(crate) fn body_id(prefix: &str, bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{prefix}-{h:016x}")
}

/// `stop` (a string or an array of strings) as a list of stop sequences.
pub(crate) fn stop_sequences(stop: Option<&Value>) -> Result<Option<Vec<String>>, GatewayError> {
    let seqs = match stop {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(&format!("stop[{i}]"), "must be a string"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(invalid("stop", "must be a string or an array of strings")),
    };
    Ok((!seqs.is_empty()).then_some(seqs))
}

/// A tool call's `arguments` (JSON text; empty means `{}`) as the object providers take as
/// input; `at` is the call's path (`messages[i].tool_calls[k]`).
pub(crate) fn tool_input(arguments: &str, at: &str) -> Result<Value, GatewayError> {
    let args = arguments.trim();
    let input: Value = if args.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_str(args).map_err(|e| {
            invalid(
                &format!("{at}.function.arguments"),
                &format!("is not valid JSON ({e})"),
            )
        })?
    };
    if !input.is_object() {
        return Err(invalid(
            &format!("{at}.function.arguments"),
            "must be a JSON object",
        ));
    }
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_endpoints_of_translating_codecs() {
        let emb = || Some("http://h/v1beta/openai/embeddings".to_owned());
        assert_eq!(
            openai_endpoint_url("g", "Gemini API", "/embeddings", Some("a=1"), emb()).unwrap(),
            "http://h/v1beta/openai/embeddings?a=1"
        );
        let e =
            openai_endpoint_url("g", "Gemini API", "/images/generations", None, emb()).unwrap_err();
        assert_eq!(e.status(), 501);
        assert!(e.message().contains("provider g speaks the Gemini API"));
        assert!(
            openai_endpoint_url("a", "Anthropic Messages API", "/embeddings", None, None).is_err()
        );
    }

    #[test]
    fn body_ids_are_stable_and_distinct() {
        assert_eq!(body_id("x", b"abc"), body_id("x", b"abc"));
        assert_ne!(body_id("x", b"abc"), body_id("x", b"abd"));
        assert!(body_id("gemini", b"").starts_with("gemini-"));
    }
}
