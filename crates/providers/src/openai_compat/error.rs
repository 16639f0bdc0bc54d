//! OpenAI error bodies: `{"error": {"message", "type", "param", "code"}}`.

use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use sluice_types::GatewayError;

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
        GatewayError::upstream_status(
            status,
            self.error
                .message
                .unwrap_or_else(|| format!("upstream returned HTTP {status}")),
            self.error.kind,
            code,
        )
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
