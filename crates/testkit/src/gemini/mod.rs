//! A mock of the Google Gemini API (AI Studio, `v1beta`), served by the same
//! [`crate::MockUpstream`] as the OpenAI endpoints:
//!
//! - `POST /v1beta/models/{model}:generateContent` answers one `GenerateContentResponse`;
//! - `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` streams the same answer as
//!   `data: {…}\r\n\r\n` events (without `alt=sse`, as one JSON array of them);
//! - `POST /v1beta/models/{model}:embedContent` and `:batchEmbedContents` are Gemini's own
//!   embeddings (see `embed.rs`);
//! - `POST /v1beta/openai/embeddings` is Gemini's OpenAI-compatible embeddings endpoint.
//!
//! Requests are validated the way the real API does (see [`validate`]): a missing
//! `x-goog-api-key` is a 403, an unknown field, an empty `contents`, a role other than
//! `user` / `model` (a system prompt sent as a `system` turn included), a `functionResponse`
//! without a name or with a non-object response, a schema keyword the `Schema` subset lacks,
//! or a current-turn `functionCall` sent back without the thought signature the mock issued
//! are 400 `INVALID_ARGUMENT`s with Gemini's error shape. Answers are deterministic (see
//! [`answer`]). Fault-injection behaviours apply as for every endpoint; [`error`] and
//! [`rate_limited`] script Gemini-shaped error answers.

mod answer;
mod embed;
mod validate;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Value, json};

use crate::Behavior;
use crate::wire::Reply;

/// A Gemini error body: `{"error": {"code", "message", "status"}}`.
pub fn error_body(code: u16, status: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message, "status": status}}).to_string()
}

/// A behaviour answering with a Gemini-shaped error, e.g.
/// `error(400, "INVALID_ARGUMENT", "The input token count (…) exceeds …")`.
pub fn error(code: u16, status: &str, message: &str) -> Behavior {
    Behavior::Status {
        status: code,
        body: error_body(code, status, message),
    }
}

/// A 429 `RESOURCE_EXHAUSTED`, as Gemini answers when a quota is used up.
pub fn rate_limited() -> Behavior {
    error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
    )
}

/// An error reply in Gemini's shape.
pub(crate) fn reply_error(code: u16, status: &str, message: &str) -> Reply {
    Reply::Json {
        status: code,
        body: Bytes::from(error_body(code, status, message)),
    }
}

/// A 400 `INVALID_ARGUMENT`.
pub(crate) fn invalid(message: &str) -> Reply {
    reply_error(400, "INVALID_ARGUMENT", message)
}

/// Answers one request under `/v1beta/`.
pub(crate) fn reply(parts: &http::request::Parts, body: &[u8], n: u64) -> Reply {
    let key = parts
        .headers
        .get("x-goog-api-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .or_else(|| query_param(parts.uri.query(), "key"));
    match key.as_deref() {
        None => {
            return reply_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established \
                 identity). Please use API Key or other form of API consumer identity to call \
                 this API.",
            );
        }
        Some("") => return invalid("API key not valid. Please pass a valid API key."),
        Some(_) => {}
    }
    let path = parts
        .uri
        .path()
        .strip_prefix("/v1beta/")
        .unwrap_or_default();
    if path == "openai/embeddings" {
        return crate::embeddings::reply(body, None);
    }
    let Some((model, method)) = path
        .strip_prefix("models/")
        .and_then(|rest| rest.rsplit_once(':'))
    else {
        return reply_error(404, "NOT_FOUND", "Requested entity was not found.");
    };
    match method {
        "embedContent" | "batchEmbedContents" => embed::reply(model, method, body),
        _ => generate(model, method, parts.uri.query(), body, n),
    }
}

/// Answers `method` (`generateContent` or `streamGenerateContent`) of `model` for a caller
/// already authenticated (by API key here, by access token on Vertex AI).
pub(crate) fn generate(
    model: &str,
    method: &str,
    query: Option<&str>,
    body: &[u8],
    n: u64,
) -> Reply {
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return reply_error(404, "NOT_FOUND", "Requested entity was not found."),
    };
    let req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return invalid("Invalid JSON payload received. Expected an object."),
    };
    if let Err(message) = validate::request(&req) {
        return invalid(&message);
    }
    let events = answer::answer(&req, model, n, stream);
    if !stream {
        return Reply::ok(&events.into_iter().next().unwrap_or(Value::Null));
    }
    if query_param(query, "alt").as_deref() == Some("sse") {
        Reply::Sse(events.iter().map(sse_frame).collect())
    } else {
        Reply::ok(&Value::Array(events))
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// One SSE event as Gemini frames it: `data: <json>\r\n\r\n`.
fn sse_frame(v: &Value) -> Bytes {
    let mut buf = BytesMut::with_capacity(256).writer();
    buf.get_mut().put_slice(b"data: ");
    let _ = serde_json::to_writer(&mut buf, v);
    let mut buf = buf.into_inner();
    buf.put_slice(b"\r\n\r\n");
    buf.freeze()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn call(path: &str, key: Option<&str>, body: &Value) -> (u16, Value, Vec<String>) {
        let mut req = http::Request::builder().method("POST").uri(path);
        if let Some(k) = key {
            req = req.header("x-goog-api-key", k);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        match reply(&parts, body.to_string().as_bytes(), 7) {
            Reply::Json { status, body } => {
                (status, serde_json::from_slice(&body).unwrap(), vec![])
            }
            Reply::Sse(frames) => (
                200,
                Value::Null,
                frames
                    .iter()
                    .map(|f| String::from_utf8(f.to_vec()).unwrap())
                    .collect(),
            ),
        }
    }

    const GEN: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

    #[test]
    fn auth_and_validation_errors_have_gemini_shape() {
        let ok = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]});
        let (status, v, _) = call(GEN, None, &ok);
        assert_eq!(
            (status, v["error"]["status"].as_str()),
            (403, Some("PERMISSION_DENIED"))
        );
        for bad in [
            json!({"contents": []}),
            json!({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}),
            json!({"contents": [{"role": "user", "parts": [{"functionResponse": {"response": {}}}]}]}),
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "temprature": 1}),
        ] {
            let (status, v, _) = call(GEN, Some("k"), &bad);
            assert_eq!(status, 400, "{bad}");
            assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
            assert_eq!(v["error"]["code"], 400);
        }
    }

    #[test]
    fn answers_echo_and_stream_as_crlf_events() {
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]});
        let (status, v, _) = call(GEN, Some("k"), &req);
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            v["candidates"][0]["content"]["parts"][0]["text"],
            "echo: hello there"
        );
        assert_eq!(v["candidates"][0]["finishReason"], "STOP");
        assert_eq!(v["modelVersion"], "gemini-2.5-flash");
        assert_eq!(v["usageMetadata"]["totalTokenCount"], 5);
        let (_, _, frames) = call(
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            Some("k"),
            &req,
        );
        assert_eq!(frames.len(), 3);
        assert!(
            frames
                .iter()
                .all(|f| f.starts_with("data: {") && f.ends_with("}\r\n\r\n"))
        );
        assert!(frames[2].contains("\"finishReason\":\"STOP\""));
    }
}
