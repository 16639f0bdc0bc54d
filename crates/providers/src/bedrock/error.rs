//! Bedrock errors as gateway errors.
//!
//! An HTTP error names its exception in the `x-amzn-errortype` header
//! (`ValidationException:http://internal.amazon.com/…`; the part before `:` counts), or else
//! in the body's `__type` / `code` (`namespace#ValidationException`); the body's `message`
//! is the message. The upstream's status is kept, with one exception:
//! `ServiceQuotaExceededException` (sent with a 400) means a quota that passes with time, so
//! it becomes a 429 that clients and the router back off from. A `ValidationException` whose
//! message says the input does not fit the model becomes [`ErrorKind::ContextLength`]
//! (`code: context_length_exceeded`). Throttling and quota errors get
//! `code: rate_limit_exceeded`.
//!
//! Exceptions inside a stream (`throttlingException`, `modelStreamErrorException`, …) arrive
//! after a 200, so their status comes from the API reference's table in [`status_of`].

use http::HeaderMap;
use sluice_types::{ErrorKind, GatewayError};

use super::wire::ErrorBody;

/// The status the API reference gives each exception (for exceptions inside a stream).
pub(super) fn status_of(kind: &str) -> u16 {
    match kind {
        "ValidationException" => 400,
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException" => 403,
        "ResourceNotFoundException" => 404,
        "ModelTimeoutException" => 408,
        "ConflictException" => 409,
        "ModelErrorException" | "ModelStreamErrorException" => 424,
        "ThrottlingException" | "ServiceQuotaExceededException" | "ModelNotReadyException" => 429,
        "ServiceUnavailableException" => 503,
        // InternalServerException and anything newer.
        _ => 500,
    }
}

/// The exception name in its canonical `PascalCase` (`throttlingException` →
/// `ThrottlingException`), without a namespace (`…#`) or a URL suffix (`:http://…`).
fn canonical(kind: &str) -> String {
    let kind = kind.rsplit('#').next().unwrap_or(kind);
    let kind = kind.split(':').next().unwrap_or(kind).trim();
    let mut chars = kind.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Whether a `ValidationException` message says the input is too long for the model.
fn is_context_length(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("too long")
        || m.contains("too many input tokens")
        || m.contains("context window")
        || m.contains("context length")
        || m.contains("maximum context")
        || (m.contains("exceed") && m.contains("token"))
}

/// The gateway error for exception `kind` with `message`, received with `status`.
fn from_exception(status: u16, kind: &str, message: Option<String>) -> GatewayError {
    let message = message
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| format!("upstream returned HTTP {status} ({kind})"));
    if kind == "ValidationException" && is_context_length(&message) {
        return GatewayError::upstream(
            ErrorKind::ContextLength,
            status,
            message,
            Some(kind.to_owned()),
            None,
        );
    }
    let (status, code) = match kind {
        "ThrottlingException" => (status, Some("rate_limit_exceeded")),
        "ServiceQuotaExceededException" => (429, Some("rate_limit_exceeded")),
        _ => (status, None),
    };
    GatewayError::upstream_status(
        status,
        message,
        Some(kind.to_owned()),
        code.map(str::to_owned),
    )
}

/// The gateway error for an HTTP error response.
pub(super) fn decode_error(status: u16, headers: &HeaderMap, body: &[u8]) -> GatewayError {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    let header = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty());
    let kind = header
        .map(canonical)
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|p| p.kind.as_deref())
                .map(canonical)
        })
        .filter(|k| !k.is_empty());
    let message = parsed.and_then(|p| p.message);
    match kind {
        Some(kind) => from_exception(status, &kind, message),
        None => {
            let message = message.unwrap_or_else(|| {
                let text = String::from_utf8_lossy(&body[..body.len().min(500)]);
                let text = text.trim();
                if text.is_empty() {
                    format!("upstream returned HTTP {status}")
                } else {
                    format!("upstream returned HTTP {status}: {text}")
                }
            });
            GatewayError::upstream_status(status, message, None, None)
        }
    }
}

/// The gateway error for an exception event named `event` inside a stream, whose payload is
/// `data` (`{"message": …}`).
pub(super) fn stream_exception(event: &str, data: &str) -> GatewayError {
    let parsed = serde_json::from_str::<ErrorBody>(data).ok();
    let kind = match event {
        // An error message: its code was put in the payload.
        "error" => parsed
            .as_ref()
            .and_then(|p| p.kind.as_deref())
            .map_or_else(|| "InternalServerException".to_owned(), canonical),
        other => canonical(other),
    };
    let message = parsed.and_then(|p| p.message);
    from_exception(status_of(&kind), &kind, message)
}
