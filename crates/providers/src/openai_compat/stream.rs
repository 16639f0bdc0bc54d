//! Decoding OpenAI chat stream events (`data: {chunk}` … `data: [DONE]`).

use bytes::Bytes;
use serde::Deserialize;
use sluice_types::{ChatChunk, GatewayError};

use super::OpenAiCodec;
use super::error::ErrorEnvelope;
use super::response::not_our_protocol;
use crate::SseEvent;

/// OpenAI chunks carry their own ids and indices, so the stream needs no state.
#[derive(Debug, Default)]
pub struct StreamState;

impl OpenAiCodec {
    pub(super) fn decode_chunk(&self, ev: SseEvent) -> Result<Vec<ChatChunk>, GatewayError> {
        let data = ev.data.trim();
        if data == "[DONE]" || data.is_empty() {
            return Ok(Vec::new());
        }
        match serde_json::from_str::<ChatChunk>(data) {
            Ok(mut chunk) => {
                chunk.raw = Some(Bytes::copy_from_slice(data.as_bytes()));
                Ok(vec![chunk])
            }
            Err(e) => {
                match ErrorEnvelope::deserialize(&mut serde_json::Deserializer::from_str(data)) {
                    Ok(env) => Err(env.into_error(500)),
                    Err(_) => Err(not_our_protocol(
                        "chat completion chunk",
                        data.as_bytes(),
                        &e,
                    )),
                }
            }
        }
    }
}
