//! OpenAI error bodies: `{"error": {"message", "type", "param", "code"}}`.

use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use sluice_types::{ErrorKind, GatewayError};

use super::OpenAiCodec;

/// An OpenAI error envelope.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorEnvelope {
    error: ErrorObject,
}

#[derive(Debug, Deserialize)]
struct ErrorObject {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<Value>,
}

impl ErrorEnvelope {
    /// The gateway error for this envelope, received with `status`.
    pub(super) fn into_error(self, status: u16) -> GatewayError {
        let code = match self.error.code {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let message = self
            .error
            .message
            .unwrap_or_else(|| format!("upstream returned HTTP {status}"));
        let kind = classify(status, code.as_deref(), &message);
        GatewayError::upstream(kind, status, message, self.error.kind, code)
    }
}

/// OpenAI-family servers report context-length and content-policy errors as plain 400s;
/// the code (OpenAI, Azure, vLLM) or the message (others) tells them apart.
fn classify(status: u16, code: Option<&str>, message: &str) -> ErrorKind {
    if status != 400 {
        return ErrorKind::UpstreamStatus;
    }
    let lower = message.to_ascii_lowercase();
    match code {
        Some("context_length_exceeded" | "string_above_max_length") => ErrorKind::ContextLength,
        Some("content_filter" | "content_policy_violation") => ErrorKind::ContentFilter,
        _ if lower.contains("maximum context length") || lower.contains("context window") => {
            ErrorKind::ContextLength
        }
        _ => ErrorKind::UpstreamStatus,
    }
}

impl OpenAiCodec {
    pub(super) fn decode_error_body(&self, status: StatusCode, body: &[u8]) -> GatewayError {
        match serde_json::from_slice::<ErrorEnvelope>(body) {
            Ok(env) => env.into_error(status.as_u16()),
            Err(_) => {
                let text = String::from_utf8_lossy(&body[..body.len().min(500)]);
                let text = text.trim();
                let message = if text.is_empty() {
                    format!("upstream returned HTTP {}", status.as_u16())
                } else {
                    format!("upstream returned HTTP {}: {text}", status.as_u16())
                };
                GatewayError::upstream_status(status.as_u16(), message, None, None)
            }
        }
    }
}
