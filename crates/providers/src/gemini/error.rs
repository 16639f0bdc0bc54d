//! Gemini error bodies: `{"error": {"code": 429, "message": …, "status": "RESOURCE_EXHAUSTED",
//! "details": […]}}` (also wrapped in a one-element array by some endpoints).
//!
//! The HTTP status is kept (or, for an error sent inside a 200 stream, taken from `code` or
//! the gRPC `status` name), so retryability follows it: `RESOURCE_EXHAUSTED` is a retryable
//! 429, `UNAVAILABLE` a retryable 503. The client sees Gemini's message, an OpenAI error
//! `type` for the status, and Gemini's `status` name as `code`. An `INVALID_ARGUMENT` about
//! the prompt's size is a context-length error (`context_length_exceeded`), which the
//! router may send to a bigger model.

use http::StatusCode;
use serde_json::Value;
use sluice_types::{ErrorKind, GatewayError, Origin};

use super::GeminiCodec;

/// gRPC status names and the HTTP status each maps to.
const GRPC_STATUS: &[(&str, u16)] = &[
    ("INVALID_ARGUMENT", 400),
    ("FAILED_PRECONDITION", 400),
    ("OUT_OF_RANGE", 400),
    ("UNAUTHENTICATED", 401),
    ("PERMISSION_DENIED", 403),
    ("NOT_FOUND", 404),
    ("ALREADY_EXISTS", 409),
    ("ABORTED", 409),
    ("RESOURCE_EXHAUSTED", 429),
    ("CANCELLED", 499),
    ("INTERNAL", 500),
    ("UNKNOWN", 500),
    ("DATA_LOSS", 500),
    ("UNIMPLEMENTED", 501),
    ("UNAVAILABLE", 503),
    ("DEADLINE_EXCEEDED", 504),
];

/// The OpenAI error `type` for a client-side status.
fn openai_type(status: u16) -> Option<&'static str> {
    Some(match status {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => return None,
    })
}

/// Whether an `INVALID_ARGUMENT` message says the prompt is too long for the model.
fn is_context_length(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    (m.contains("token count") && m.contains("exceeds"))
        || m.contains("exceeds the maximum number of tokens")
        || m.contains("context window")
        || m.contains("context length")
}

impl GeminiCodec {
    pub(super) fn decode_error_body(&self, status: StatusCode, body: &[u8]) -> GatewayError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let error = match &parsed {
            Some(Value::Object(o)) => o.get("error"),
            Some(Value::Array(a)) => a.first().and_then(|first| first.get("error")),
            _ => None,
        };
        if let Some(error) = error.filter(|e| e.is_object()) {
            return self.error_value(status.as_u16(), error);
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(500)]);
        let text = text.trim();
        let message = if text.is_empty() {
            format!("gemini returned HTTP {}", status.as_u16())
        } else {
            format!("gemini returned HTTP {}: {text}", status.as_u16())
        };
        GatewayError::upstream_status(status.as_u16(), message, None, None)
    }

    /// The gateway error for Gemini's `error` object, received with HTTP status `http`.
    pub(super) fn error_value(&self, http: u16, error: &Value) -> GatewayError {
        let grpc = error.get("status").and_then(Value::as_str);
        let status = if http >= 400 {
            http
        } else {
            error
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .filter(|c| (400..=599).contains(c))
                .or_else(|| {
                    GRPC_STATUS
                        .iter()
                        .find(|(name, _)| Some(*name) == grpc)
                        .map(|(_, s)| *s)
                })
                .unwrap_or(500)
        };
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map_or_else(
                || format!("provider {} (gemini) returned HTTP {status}", self.provider),
                str::to_owned,
            );
        if status == 400 && is_context_length(&message) {
            return GatewayError::new(ErrorKind::ContextLength, Origin::Upstream, message)
                .with_status(400);
        }
        GatewayError::upstream_status(
            status,
            message,
            openai_type(status).map(str::to_owned),
            grpc.map(str::to_owned),
        )
    }
}
