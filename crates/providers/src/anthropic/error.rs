//! Anthropic error bodies (`{"type": "error", "error": {"type", "message"}}`) and `error`
//! stream events as gateway errors.
//!
//! The upstream's status, message and error type are kept, so retryability follows the
//! status: `overloaded_error` (529) and `api_error` (500) are retryable, `rate_limit_error`
//! (429) too, client errors are not. An `invalid_request_error` that says the prompt does not
//! fit the context window becomes [`ErrorKind::ContextLength`]
//! (`code: context_length_exceeded`).

use sluice_types::{ErrorKind, GatewayError, Origin};

use super::wire::{ErrorBody, ErrorEnvelope};

/// The status Anthropic uses for each error type (for errors inside a stream, which arrive
/// with a 200).
pub(super) fn status_of(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        // api_error and anything newer.
        _ => 500,
    }
}

/// Whether an `invalid_request_error` message says the input is too long for the model.
fn is_context_length(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("prompt is too long")
        || m.contains("exceed context limit")
        || m.contains("context window")
        || m.contains("context length")
}

/// The gateway error for an Anthropic error object received with `status`.
pub(super) fn from_error(status: u16, e: &ErrorBody) -> GatewayError {
    let message = if e.message.trim().is_empty() {
        format!("upstream returned HTTP {status} ({})", e.kind)
    } else {
        e.message.clone()
    };
    if e.kind == "invalid_request_error" && is_context_length(&message) {
        return GatewayError::new(ErrorKind::ContextLength, Origin::Upstream, message)
            .with_status(status);
    }
    let code = match e.kind.as_str() {
        "rate_limit_error" => Some("rate_limit_exceeded".to_owned()),
        "overloaded_error" => Some("overloaded".to_owned()),
        _ => None,
    };
    GatewayError::upstream_status(status, message, Some(e.kind.clone()), code)
}

/// The gateway error for an `error` event inside a stream.
pub(super) fn stream_error(e: &ErrorBody) -> GatewayError {
    from_error(status_of(&e.kind), e)
}

/// The gateway error for an upstream error response.
pub(super) fn decode_error_body(status: u16, body: &[u8]) -> GatewayError {
    if let Ok(env) = serde_json::from_slice::<ErrorEnvelope>(body) {
        return from_error(status, &env.error);
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(500)]);
    let text = text.trim();
    let message = if text.is_empty() {
        format!("upstream returned HTTP {status}")
    } else {
        format!("upstream returned HTTP {status}: {text}")
    };
    GatewayError::upstream_status(status, message, None, None)
}
