//! Decoding a complete OpenAI chat response.

use bytes::Bytes;
use sluice_types::{ChatResponse, ErrorKind, GatewayError, Origin};

use super::OpenAiCodec;

impl OpenAiCodec {
    pub(super) fn decode_chat(&self, body: &Bytes) -> Result<ChatResponse, GatewayError> {
        let mut resp: ChatResponse = serde_json::from_slice(body)
            .map_err(|e| not_our_protocol("chat completion", body, &e))?;
        resp.raw = Some(body.clone());
        Ok(resp)
    }
}

/// The error for an upstream body that is not what the protocol promises.
pub(super) fn not_our_protocol(what: &str, body: &[u8], e: &serde_json::Error) -> GatewayError {
    let head = String::from_utf8_lossy(&body[..body.len().min(200)]);
    GatewayError::new(
        ErrorKind::UpstreamProtocol,
        Origin::Upstream,
        format!("upstream returned a body that is not a {what} ({e}); it starts with: {head:?}"),
    )
}
