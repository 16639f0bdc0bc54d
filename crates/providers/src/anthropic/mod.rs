//! The Anthropic Messages wire format (`POST {base_url}/v1/messages`, `x-api-key`,
//! `anthropic-version`).
//!
//! Unlike the OpenAI family, every request is translated. [`request`] maps the parameters of
//! the internal OpenAI-shaped [`ChatRequest`] (limits, sampling, tools, a forced tool for
//! `response_format`, `reasoning_effort` → thinking) and refuses with a 400 naming the
//! parameter whatever Anthropic cannot honour; [`messages`] translates the conversation (a
//! top-level `system`, merged alternating turns, `tool_use` / `tool_result` blocks, thinking
//! blocks sent back byte for byte). [`response`] and [`stream`] turn the answer back into
//! OpenAI chat shapes; the stream state carries the message id, the model, the mapping from
//! Anthropic block indices to OpenAI tool-call indices and the usage so far, and every stream
//! ends with a usage chunk. [`error`] maps Anthropic's error types to gateway errors. The
//! serde types of the API are in [`wire`], public so the inbound `/v1/messages` API can reuse
//! them.

mod error;
mod messages;
pub(crate) mod request;
mod response;
mod stream;
pub mod wire;

use bytes::Bytes;
use http::StatusCode;
use sluice_config::ProviderConfig;
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, GatewayError};

use crate::{Codec, DecodeCx, SseEvent, Target, UpstreamRequest};

pub use request::default_max_tokens;
pub use stream::StreamState;

/// Prefix of the tool that carries a `response_format` answer: the model is forced to call
/// it, and its input comes back to the client as the message content. Client tools may not
/// use the prefix, so a tool call with it is always ours.
pub const JSON_TOOL_PREFIX: &str = "sluice_json";

/// The Anthropic Messages codec for one provider.
#[derive(Debug, Clone)]
pub struct AnthropicCodec {
    /// The provider's name, for error messages.
    name: String,
    /// The host root, without a trailing slash.
    base_url: String,
}

impl AnthropicCodec {
    /// The codec for an `anthropic` provider entry.
    pub fn for_config(cfg: &ProviderConfig) -> Self {
        Self {
            name: cfg.name.clone(),
            base_url: cfg.base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The Messages endpoint.
    fn messages_url(&self) -> String {
        format!("{}/v1/messages", self.base_url)
    }
}

impl Codec for AnthropicCodec {
    type StreamState = StreamState;

    fn encode(&self, req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, GatewayError> {
        self.encode_messages(req, target)
    }

    fn decode(
        &self,
        _status: StatusCode,
        body: Bytes,
        _cx: &DecodeCx<'_>,
    ) -> Result<ChatResponse, GatewayError> {
        self.decode_message(&body)
    }

    fn decode_event(
        &self,
        st: &mut StreamState,
        ev: SseEvent,
    ) -> Result<Vec<ChatChunk>, GatewayError> {
        st.decode(&ev)
    }

    fn decode_error(&self, status: StatusCode, body: &[u8]) -> GatewayError {
        error::decode_error_body(status.as_u16(), body)
    }

    fn forward_url(
        &self,
        path: &str,
        query: Option<&str>,
        _model: Option<&str>,
    ) -> Result<String, GatewayError> {
        crate::translate::openai_endpoint_url(
            &self.name,
            "Anthropic Messages API",
            path,
            query,
            None,
        )
    }
}

#[cfg(test)]
mod tests;
