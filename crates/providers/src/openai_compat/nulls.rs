//! Explicit `null`s in upstream answers.
//!
//! OpenAI sends `"usage": null` on every chunk of a stream with `include_usage`,
//! `"refusal": null` on messages and first deltas, and `"content": null` on tool-call turns.
//! The internal types read such a field as `None`, and `None` is not serialized, so the
//! client would get the field removed. After decoding, the field's explicit `null` is
//! recorded in the owning object's `extra` map, which serializes it back in place. The
//! entry is only added while the typed field is `None`; code that later sets that field must
//! remove the entry.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use sluice_types::{ChatChunk, ChatResponse, Delta, JsonMap, Message};

/// Which optional fields of one JSON object were an explicit `null`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FieldNulls {
    #[serde(deserialize_with = "is_null")]
    role: bool,
    #[serde(deserialize_with = "is_null")]
    content: bool,
    #[serde(deserialize_with = "is_null")]
    name: bool,
    #[serde(deserialize_with = "is_null")]
    tool_calls: bool,
    #[serde(deserialize_with = "is_null")]
    tool_call_id: bool,
    #[serde(deserialize_with = "is_null")]
    refusal: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ChoiceNulls {
    delta: FieldNulls,
    message: FieldNulls,
}

/// The explicit `null`s of a chunk or a response that the typed decode loses.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Nulls {
    #[serde(deserialize_with = "is_null")]
    usage: bool,
    choices: Vec<ChoiceNulls>,
}

fn is_null<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<IgnoredAny>::deserialize(d)?.is_none())
}

/// Reads which fields of `data` are explicit `null`s; `None` when there can be none.
fn nulls(data: &[u8]) -> Option<Nulls> {
    if !data.windows(4).any(|w| w == b"null") {
        return None;
    }
    serde_json::from_slice(data).ok()
}

fn keep(extra: &mut JsonMap, field: &str, was_null: bool, typed_is_none: bool) {
    if was_null && typed_is_none {
        extra.insert(field.to_owned(), Value::Null);
    }
}

fn keep_delta(d: &mut Delta, n: &FieldNulls) {
    keep(&mut d.extra, "role", n.role, d.role.is_none());
    keep(&mut d.extra, "content", n.content, d.content.is_none());
    keep(
        &mut d.extra,
        "tool_calls",
        n.tool_calls,
        d.tool_calls.is_none(),
    );
    keep(&mut d.extra, "refusal", n.refusal, d.refusal.is_none());
}

fn keep_message(m: &mut Message, n: &FieldNulls) {
    keep(&mut m.extra, "content", n.content, m.content.is_none());
    keep(&mut m.extra, "name", n.name, m.name.is_none());
    keep(
        &mut m.extra,
        "tool_calls",
        n.tool_calls,
        m.tool_calls.is_none(),
    );
    let no_call_id = m.tool_call_id.is_none();
    keep(&mut m.extra, "tool_call_id", n.tool_call_id, no_call_id);
    keep(&mut m.extra, "refusal", n.refusal, m.refusal.is_none());
}

/// Puts back the explicit `null`s of `data` that decoding `chunk` from it dropped.
pub(super) fn keep_chunk_nulls(chunk: &mut ChatChunk, data: &[u8]) {
    let Some(n) = nulls(data) else { return };
    keep(&mut chunk.extra, "usage", n.usage, chunk.usage.is_none());
    for (choice, n) in chunk.choices.iter_mut().zip(&n.choices) {
        keep_delta(&mut choice.delta, &n.delta);
    }
}

/// Puts back the explicit `null`s of `data` that decoding `resp` from it dropped.
pub(super) fn keep_response_nulls(resp: &mut ChatResponse, data: &[u8]) {
    let Some(n) = nulls(data) else { return };
    keep(&mut resp.extra, "usage", n.usage, resp.usage.is_none());
    for (choice, n) in resp.choices.iter_mut().zip(&n.choices) {
        keep_message(&mut choice.message, &n.message);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn explicit_nulls_survive_a_chunk_round_trip() {
        let data = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null},
                         "logprobs": null, "finish_reason": null}],
            "usage": null})
        .to_string();
        let mut chunk: ChatChunk = serde_json::from_str(&data).unwrap();
        keep_chunk_nulls(&mut chunk, data.as_bytes());
        let back: Value = serde_json::to_value(&chunk).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(&data).unwrap());
    }

    #[test]
    fn explicit_nulls_survive_a_response_round_trip() {
        let data = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                "logprobs": null, "finish_reason": "tool_calls"}]})
        .to_string();
        let mut resp: ChatResponse = serde_json::from_str(&data).unwrap();
        keep_response_nulls(&mut resp, data.as_bytes());
        let back: Value = serde_json::to_value(&resp).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(&data).unwrap());
    }

    #[test]
    fn absent_fields_stay_absent() {
        let data =
            r#"{"id":"c","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#;
        let mut chunk: ChatChunk = serde_json::from_str(data).unwrap();
        keep_chunk_nulls(&mut chunk, data.as_bytes());
        assert!(chunk.extra.is_empty());
        assert!(chunk.choices[0].delta.extra.is_empty());
    }
}
