//! Cohere's Chat API v2 (`POST {base_url}/v2/chat`, `Authorization: Bearer`), and embeddings
//! through Cohere's OpenAI-compatible endpoint (`{base_url}/compatibility/v1/embeddings`).
//!
//! Every chat request is translated. Cohere v2 is close to OpenAI's shape (the same four
//! roles, `tool_calls` with a JSON arguments string, `tool_call_id` on tool messages, the
//! same function tool definitions), so [`messages`] maps message by message; [`request`]
//! maps the parameters (`top_p` → `p`, `top_k` → `k`, `stop` → `stop_sequences`,
//! `tool_choice` → `REQUIRED` / `NONE`, `response_format` → Cohere's `json_object` with an
//! optional schema, `reasoning_effort` → `thinking`) and refuses with a 400 naming the
//! parameter whatever Cohere cannot honour. [`response`] and [`stream`] turn the answers back
//! into OpenAI shapes: thinking and the tool plan become `reasoning_content`, finish reasons
//! are mapped (`ERROR` and `TIMEOUT` become errors), usage is read from `usage.tokens`
//! (else `billed_units`), and every stream ends with a usage chunk. Cohere sends neither a
//! model name nor a timestamp; the transport fills both in. [`error`] maps Cohere's error
//! bodies by status. The serde types are in [`wire`].

mod error;
mod messages;
mod request;
mod response;
mod stream;
pub mod wire;

use bytes::Bytes;
use http::StatusCode;
use sluice_config::ProviderConfig;
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, GatewayError};

use crate::{Codec, DecodeCx, SseEvent, Target, UpstreamRequest};

pub use stream::StreamState;

/// The Cohere codec for one provider entry.
#[derive(Debug, Clone)]
pub struct CohereCodec {
    /// The provider's name, for error messages.
    name: String,
    /// The host root, without a trailing slash.
    base_url: String,
}

impl CohereCodec {
    /// The codec for a `cohere` provider entry.
    pub fn for_config(cfg: &ProviderConfig) -> Self {
        Self {
            name: cfg.name.clone(),
            base_url: cfg.base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The Chat v2 endpoint.
    fn chat_url(&self) -> String {
        format!("{}/v2/chat", self.base_url)
    }
}

impl Codec for CohereCodec {
    type StreamState = StreamState;

    fn encode(&self, req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, GatewayError> {
        self.encode_chat(req, target)
    }

    fn decode(
        &self,
        _status: StatusCode,
        body: Bytes,
        _cx: &DecodeCx<'_>,
    ) -> Result<ChatResponse, GatewayError> {
        self.decode_chat(&body)
    }

    fn decode_event(
        &self,
        st: &mut StreamState,
        ev: SseEvent,
    ) -> Result<Vec<ChatChunk>, GatewayError> {
        st.decode(&self.name, &ev)
    }

    fn decode_error(&self, status: StatusCode, body: &[u8]) -> GatewayError {
        error::decode_error_body(&self.name, status.as_u16(), body)
    }

    /// Embeddings go to Cohere's OpenAI-compatible endpoint
    /// (`/compatibility/v1/embeddings`), which takes the OpenAI request (`input`, `model`,
    /// `encoding_format`); nothing else has an OpenAI-shaped twin here.
    fn forward_url(
        &self,
        path: &str,
        query: Option<&str>,
        _model: Option<&str>,
    ) -> Result<String, GatewayError> {
        crate::translate::openai_endpoint_url(
            &self.name,
            "Cohere v2 API",
            path,
            query,
            Some(format!("{}/compatibility/v1/embeddings", self.base_url)),
        )
    }
}

#[cfg(test)]
mod tests;
