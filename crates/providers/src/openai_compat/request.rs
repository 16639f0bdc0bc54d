//! Encoding a chat request in the OpenAI wire format: every field the client sent, with the
//! target's model name. A request that arrived as OpenAI JSON and is unchanged is forwarded
//! as those bytes with only `model` replaced; otherwise the typed fields are serialized.

use bytes::Bytes;
use sluice_types::{ChatRequest, GatewayError};

use super::OpenAiCodec;
use super::splice::with_string_field;
use crate::{Target, UpstreamRequest};

impl OpenAiCodec {
    pub(super) fn encode_chat(
        &self,
        req: &ChatRequest,
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        let url = self.url("/chat/completions", None, Some(&target.model))?;
        let spliced = req
            .raw
            .as_deref()
            .and_then(|raw| with_string_field(raw, "model", &target.model));
        if let Some(body) = spliced {
            return Ok(UpstreamRequest {
                url,
                headers: Vec::new(),
                body: Bytes::from(body),
            });
        }
        // A request the gateway changed: serialize its fields with the target's model.
        let mut changed = req.clone();
        changed.model = target.model.to_string();
        let body = serde_json::to_vec(&changed)
            .map_err(|e| GatewayError::internal(format!("could not encode the request: {e}")))?;
        Ok(UpstreamRequest {
            url,
            headers: Vec::new(),
            body: Bytes::from(body),
        })
    }
}
