//! Cohere error bodies (`{"id": …, "message": …}`) as gateway errors.
//!
//! Cohere's errors carry no type, so the status decides: it is kept, and retryability follows
//! it (429 and 5xx are retryable, other 4xx are not, 498 "blocked token" and 499 "cancelled"
//! included). The client sees Cohere's message with an OpenAI error `type` for the status;
//! a 429 has `code: rate_limit_exceeded`. A 400 or 422 whose message says the prompt does not
//! fit the model ("too many tokens", "context length", …) becomes
//! [`ErrorKind::ContextLength`] (`code: context_length_exceeded`), which the router may send
//! to a bigger model.

use sluice_types::{ErrorKind, GatewayError, Origin};

use super::wire::ErrorBody;

/// The OpenAI error `type` for a client-side status.
fn openai_type(status: u16) -> Option<&'static str> {
    Some(match status {
        401 | 498 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => return None,
    })
}

/// Whether a message says the input is too long for the model.
fn is_context_length(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("too many tokens")
        || m.contains("context length")
        || m.contains("context window")
        || m.contains("maximum context")
        || (m.contains("prompt") && m.contains("too long"))
}

/// The gateway error for an upstream error response.
pub(super) fn decode_error_body(provider: &str, status: u16, body: &[u8]) -> GatewayError {
    let message = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(m), ..
        }) if !m.trim().is_empty() => m,
        _ => {
            let text = String::from_utf8_lossy(&body[..body.len().min(500)]);
            match text.trim() {
                "" => format!("provider {provider} (cohere) returned HTTP {status}"),
                t => format!("provider {provider} (cohere) returned HTTP {status}: {t}"),
            }
        }
    };
    if matches!(status, 400 | 422) && is_context_length(&message) {
        return GatewayError::new(ErrorKind::ContextLength, Origin::Upstream, message)
            .with_status(status);
    }
    let code = (status == 429).then(|| "rate_limit_exceeded".to_owned());
    GatewayError::upstream_status(
        status,
        message,
        openai_type(status).map(str::to_owned),
        code,
    )
}
