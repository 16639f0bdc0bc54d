//! Helpers shared by the OpenAI endpoints: the reply type, SSE framing,
//! deterministic token counting and text extraction.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value, json};

/// What an endpoint answers, before behaviours and pacing are applied.
pub(crate) enum Reply {
    /// A JSON body with this status.
    Json { status: u16, body: Bytes },
    /// SSE events, each one a complete `data: …\n\n` frame.
    Sse(Vec<Bytes>),
}

impl Reply {
    /// A 200 JSON reply.
    pub(crate) fn ok(v: &Value) -> Self {
        Reply::Json {
            status: 200,
            body: to_bytes(v),
        }
    }

    /// An OpenAI-shaped `invalid_request_error`.
    pub(crate) fn invalid(message: &str, param: Option<&str>) -> Self {
        let v = serde_json::json!({
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": null,
            }
        });
        Reply::Json {
            status: 400,
            body: to_bytes(&v),
        }
    }
}

fn to_bytes(v: &Value) -> Bytes {
    // Serializing a `Value` cannot fail (all map keys are strings).
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// One SSE event: `data: <json>\n\n`.
pub(crate) fn sse_event(v: &Value) -> Bytes {
    let mut buf = BytesMut::with_capacity(256).writer();
    buf.get_mut().put_slice(b"data: ");
    let _ = serde_json::to_writer(&mut buf, v);
    let mut buf = buf.into_inner();
    buf.put_slice(b"\n\n");
    buf.freeze()
}

/// The terminating `data: [DONE]` event.
pub(crate) fn sse_done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Deterministic token count: whitespace-separated words.
pub(crate) fn count_words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Splits text into word pieces whose concatenation is the text:
/// `"echo: hello world"` → `["echo:", " hello", " world"]`.
pub(crate) fn word_pieces(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut seen_word = false;
    let mut ws_start = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            ws_start.get_or_insert(i);
        } else {
            if let Some(w) = ws_start.take() {
                if seen_word {
                    out.push(&s[start..w]);
                    start = w;
                }
            }
            seen_word = true;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Splits a string into at most `n` non-empty pieces of similar length.
pub(crate) fn split_even(s: &str, n: usize) -> Vec<&str> {
    let chars: Vec<usize> = s.char_indices().map(|(i, _)| i).collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let n = n.clamp(1, chars.len());
    let per = chars.len().div_ceil(n);
    let mut out = Vec::with_capacity(n);
    let mut k = 0;
    while k < chars.len() {
        let end = chars.get(k + per).copied().unwrap_or(s.len());
        out.push(&s[chars[k]..end]);
        k += per;
    }
    out
}

/// The first `max` words of `s` (keeping the original spacing).
pub(crate) fn truncate_words(s: &str, max: usize) -> &str {
    let pieces = word_pieces(s);
    let len: usize = pieces.iter().take(max).map(|p| p.len()).sum();
    &s[..len]
}

/// The text of a message `content`: a string, or the `text` of its text parts
/// joined with spaces.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The texts of an `input`/`prompt` field: a string, strings, or token arrays
/// (tokens rendered as space-separated numbers). Also returns the token count
/// (words for text, array length for token arrays).
pub(crate) fn inputs(v: &Value) -> Option<Vec<(String, u64)>> {
    fn tokens(arr: &[Value]) -> Option<(String, u64)> {
        let nums: Option<Vec<u64>> = arr.iter().map(Value::as_u64).collect();
        let nums = nums?;
        let text = nums
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        Some((text, nums.len() as u64))
    }
    match v {
        Value::String(s) => Some(vec![(s.clone(), count_words(s))]),
        Value::Array(items) if items.iter().all(Value::is_number) && !items.is_empty() => {
            Some(vec![tokens(items)?])
        }
        Value::Array(items) => items
            .iter()
            .map(|it| match it {
                Value::String(s) => Some((s.clone(), count_words(s))),
                Value::Array(t) => tokens(t),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// The requested model, or the Azure deployment when there is one.
pub(crate) fn model_of(req: &Value, deployment: Option<&str>) -> Option<String> {
    match deployment {
        Some(d) => Some(d.to_owned()),
        None => req.get("model").and_then(Value::as_str).map(str::to_owned),
    }
}

/// `stream_options.include_usage`.
pub(crate) fn include_usage(req: &Value) -> bool {
    req.pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// `max_completion_tokens`, else `max_tokens`.
pub(crate) fn max_tokens(req: &Value) -> Option<usize> {
    req.get("max_completion_tokens")
        .and_then(Value::as_u64)
        .or_else(|| req.get("max_tokens").and_then(Value::as_u64))
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// An input satisfying a schema's required properties (all of them if none are required):
/// strings are `"Paris"`, enums their first value.
pub(crate) fn schema_example(schema: &Value) -> Value {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return json!({});
    };
    let names: Vec<&str> = match schema.get("required").and_then(Value::as_array) {
        Some(req) => req.iter().filter_map(Value::as_str).collect(),
        None => props.keys().map(String::as_str).collect(),
    };
    let mut out = Map::new();
    for name in names {
        let prop = props.get(name).unwrap_or(&Value::Null);
        let value = if let Some(first) = prop.get("enum").and_then(|e| e.get(0)) {
            first.clone()
        } else {
            match prop.get("type").and_then(Value::as_str) {
                Some("number" | "integer") => json!(1),
                Some("boolean") => json!(true),
                Some("array") => json!([]),
                Some("object") => schema_example(prop),
                _ => json!("Paris"),
            }
        };
        out.insert(name.to_owned(), value);
    }
    Value::Object(out)
}

/// `%XX` escapes decoded to their bytes (malformed escapes are kept as they are), and with
/// `plus_is_space` a `+` as a space (form encoding; in a URL path `+` is itself).
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_to_the_text() {
        for s in ["echo: hello world", "  lead", "a  b\nc ", "", "one"] {
            assert_eq!(word_pieces(s).concat(), s, "{s:?}");
        }
        assert_eq!(
            word_pieces("echo: hello world"),
            ["echo:", " hello", " world"]
        );
    }

    #[test]
    fn split_even_pieces() {
        let s = r#"{"city":"Paris"}"#;
        let p = split_even(s, 3);
        assert_eq!(p.len(), 3);
        assert_eq!(p.concat(), s);
        assert_eq!(split_even("{}", 3), ["{", "}"]);
        assert!(split_even("", 3).is_empty());
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate_words("echo: a b c", 2), "echo: a");
        assert_eq!(truncate_words("x", 5), "x");
    }

    #[test]
    fn input_forms() {
        use serde_json::json;
        assert_eq!(inputs(&json!("a b")).unwrap(), [("a b".to_owned(), 2)]);
        assert_eq!(inputs(&json!(["a", "b c"])).unwrap().len(), 2);
        assert_eq!(inputs(&json!([1, 2, 3])).unwrap()[0].1, 3);
        assert_eq!(inputs(&json!([[1], [2, 3]])).unwrap()[1].1, 2);
        assert!(inputs(&json!(7)).is_none());
    }

    #[test]
    fn sse_framing() {
        let e = sse_event(&serde_json::json!({"a": 1}));
        assert_eq!(&e[..], b"data: {\"a\":1}\n\n");
    }
}
