//! `POST /model/{modelId}/converse` and `/converse-stream`: a mock of AWS Bedrock's Converse
//! API, and `/invoke` (InvokeModel) for Titan and Cohere embedding models (see `invoke.rs`).
//!
//! Every request must carry a valid SigV4 signature (service `bedrock`) made with one of the
//! mock's known key pairs ([`ACCESS_KEY_ID`] / [`SECRET_ACCESS_KEY`], or the temporary
//! [`SESSION_ACCESS_KEY_ID`] / [`SESSION_SECRET_ACCESS_KEY`] / [`SESSION_TOKEN`]): the mock
//! recomputes it with `aws-sigv4` from the request it received and answers 403 the way AWS
//! does when it differs (`InvalidSignatureException`), when the key is unknown
//! (`UnrecognizedClientException`) or when there is none (`MissingAuthenticationToken…`);
//! see `sigv4.rs`. It then validates the body like the API (alternating roles starting with
//! `user`, non-blank text, `toolResult` ids that answer the previous turn's `toolUse`,
//! `toolConfig` present when tool blocks are, positive `maxTokens`, image formats and
//! base64, thinking budgets and reasoning signatures; see `validate.rs`) and answers
//! deterministically (see `answer.rs`): a signed reasoning block first when Anthropic
//! `thinking` is enabled, a `toolUse` block per tool when tools are given (unless the turn
//! answers tool results and nothing is forced), else an echo of the last user text; usage
//! counts words, those before a `cachePoint` as cache reads. The guardrail `mock-block`
//! intervenes. Streams use the real AWS event-stream framing. Errors carry
//! `x-amzn-errortype` and a `{"message"}` body; every answer has an `x-amzn-requestid`.

mod answer;
mod invoke;
mod sigv4;
mod validate;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::Behavior;
use crate::wire::{Reply, percent_decode};

pub use answer::BLOCKING_GUARDRAIL;
pub use sigv4::{
    ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, SESSION_ACCESS_KEY_ID, SESSION_SECRET_ACCESS_KEY,
    SESSION_TOKEN,
};

/// The signature the mock gives a reasoning block with this text, and requires when the
/// block is sent back.
pub fn signature(text: &str) -> String {
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("BrMock{h:016x}")
}

/// The request id the mock sends with its `n`-th answer.
pub fn request_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// A [`Behavior`] that answers like a Bedrock error: `status`, `x-amzn-errortype: kind` and
/// `{"message": message}`; e.g. `error(400, "ValidationException", "…")`.
pub fn error(status: u16, kind: &str, message: &str) -> Behavior {
    Behavior::Respond {
        status,
        headers: vec![
            (
                "x-amzn-errortype".to_owned(),
                format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            ),
            ("x-amzn-requestid".to_owned(), request_id(0)),
        ],
        body: json!({ "message": message }).to_string(),
    }
}

/// A `ThrottlingException` 429, as Bedrock sends it.
pub fn rate_limited() -> Behavior {
    error(
        429,
        "ThrottlingException",
        "Too many requests, please wait before trying again.",
    )
}

/// An error reply: the body names the type in `__type` too, from which
/// [`response_headers`] makes the `x-amzn-errortype` header.
pub(crate) fn error_reply(status: u16, kind: &str, message: &str) -> Reply {
    Reply::Json {
        status,
        body: Bytes::from(json!({"__type": kind, "message": message}).to_string()),
    }
}

/// Whether `path` is a Converse, ConverseStream or InvokeModel path.
pub(crate) fn is_bedrock(path: &str) -> bool {
    model_and_op(path).is_some()
}

/// The operations of the mock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Converse,
    ConverseStream,
    Invoke,
}

/// The model id (still percent-encoded) and the operation of a path.
fn model_and_op(path: &str) -> Option<(&str, Op)> {
    let rest = path.strip_prefix("/model/")?;
    let (model, op) = rest.rsplit_once('/')?;
    let op = match op {
        "converse" => Op::Converse,
        "converse-stream" => Op::ConverseStream,
        "invoke" => Op::Invoke,
        _ => return None,
    };
    (!model.is_empty() && !model.contains('/')).then_some((model, op))
}

/// Answers one Converse, ConverseStream or InvokeModel request.
pub(crate) fn reply(parts: &Parts, body: &[u8], n: u64) -> Reply {
    let Some((model, op)) = model_and_op(parts.uri.path()) else {
        return error_reply(404, "UnknownOperationException", "Unknown operation");
    };
    if let Err(reply) = sigv4::verify(parts, body) {
        return reply;
    }
    if op == Op::Invoke {
        return invoke::reply(&percent_decode(model, false), body, n);
    }
    let checked = match validate::check(body) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    answer::answer(&checked, n, op == Op::ConverseStream)
}

/// Headers Bedrock sends with every answer: `x-amzn-requestid`, the event-stream content type
/// for streams, and `x-amzn-errortype` for errors. Empty for other paths.
pub(crate) fn response_headers(path: &str, reply: &Reply, n: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    if !is_bedrock(path) {
        return h;
    }
    if let Ok(id) = HeaderValue::from_str(&request_id(n)) {
        h.insert(HeaderName::from_static("x-amzn-requestid"), id);
    }
    match reply {
        Reply::Sse(_) => {
            h.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.amazon.eventstream"),
            );
        }
        Reply::Json { status, body } if *status >= 400 => {
            let kind = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("__type").and_then(Value::as_str).map(str::to_owned));
            let value = kind.and_then(|k| {
                HeaderValue::from_str(&format!(
                    "{k}:http://internal.amazon.com/coral/com.amazon.bedrock/"
                ))
                .ok()
            });
            if let Some(v) = value {
                h.insert(HeaderName::from_static("x-amzn-errortype"), v);
            }
        }
        Reply::Json { .. } => {}
    }
    h
}

#[cfg(test)]
mod tests;
