//! The Google Gemini API (AI Studio) wire format: `models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`, with the key sent as `x-goog-api-key` by the transport.
//!
//! [`GeminiCodec`] translates the internal (OpenAI-shaped) request into a
//! `GenerateContentRequest` and Gemini's answers back into chat responses and chunks. The
//! rules that are not obvious from the two references:
//!
//! - **Turns.** `system` / `developer` messages become `systemInstruction`; `assistant` turns
//!   become `model` turns; `tool` results become `functionResponse` parts of a `user` turn
//!   (named after the assistant call they answer); consecutive turns of one role are merged.
//! - **Tool-call ids.** Gemini calls carry no id (unless the model sets `functionCall.id`),
//!   so the k-th call of a candidate gets `call_<k>`: stable for one response, and enough to
//!   pair results with calls because a result is matched against the nearest preceding
//!   assistant turn. Ids are never sent upstream.
//! - **Thought signatures.** A part's `thoughtSignature` becomes a `thinking_blocks` entry
//!   `{type: "thinking", signature}`, in part order; when the signature sat on a thought
//!   part the block also holds that part's text. On the next turn a block with text goes
//!   back as a thought part, and a block without text is put back on the part it came from:
//!   the k-th such block on the turn's k-th `functionCall` part, or, in a turn without
//!   calls, on its last part. Gemini places signatures exactly there (the first call of a
//!   parallel set, every call of a sequence, the last part of a call-free answer).
//! - **Response ids.** `responseId`, or when the upstream sent none, `gemini-` followed by
//!   a 64-bit FNV-1a hash of the body (of the first event for a stream): deterministic,
//!   never a placeholder. `created` is left 0 for the transport to fill in.
//! - **Streams.** Every SSE event is a whole `GenerateContentResponse`. The first chunk of
//!   each candidate carries `role`; a call arrives complete, so each becomes one tool-call
//!   delta with its id, name and full arguments; a `finishReason` becomes its own chunk,
//!   followed once by a usage-only chunk built from the latest `usageMetadata`.

mod embed;
mod error;
mod options;
mod request;
mod response;
mod schema;
mod stream;
mod wire;

use bytes::Bytes;
use http::StatusCode;
use sluice_config::ProviderConfig;
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, GatewayError};

use crate::embeddings::Embedder;
use crate::{Codec, DecodeCx, SseEvent, Target, UpstreamRequest};

pub use stream::StreamState;

/// The Gemini codec for one provider entry.
#[derive(Debug, Clone)]
pub struct GeminiCodec {
    /// The host root, without a trailing slash.
    base_url: String,
    /// The provider's name, for error messages.
    provider: String,
}

impl GeminiCodec {
    /// The codec for a `gemini` provider entry.
    pub fn for_config(cfg: &ProviderConfig) -> Self {
        Self {
            base_url: cfg.base_url.trim_end_matches('/').to_owned(),
            provider: cfg.name.clone(),
        }
    }

    /// The URL of `model`'s `generateContent` (or, for a stream, SSE `streamGenerateContent`).
    fn chat_url(&self, model: &str, stream: bool) -> String {
        match stream {
            true => self.model_url(model, "streamGenerateContent?alt=sse"),
            false => self.model_url(model, "generateContent"),
        }
    }

    /// The URL of `method` (with its query, if any) on `model`.
    fn model_url(&self, model: &str, method: &str) -> String {
        format!(
            "{}/v1beta/models/{}:{method}",
            self.base_url,
            embed::bare_model(model)
        )
    }
}

impl Codec for GeminiCodec {
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
        self.decode_chunk(st, &ev)
    }

    fn decode_error(&self, status: StatusCode, body: &[u8]) -> GatewayError {
        self.decode_error_body(status, body)
    }

    /// Embeddings are translated to `embedContent` / `batchEmbedContents` (see `embed.rs`).
    fn embedder(&self) -> Option<&dyn Embedder> {
        Some(self)
    }

    /// No other OpenAI endpoint has a Gemini twin.
    fn forward_url(
        &self,
        path: &str,
        query: Option<&str>,
        _model: Option<&str>,
    ) -> Result<String, GatewayError> {
        crate::translate::openai_endpoint_url(&self.provider, "Gemini API", path, query, None)
    }
}

/// The response id: the upstream's, or one derived from the body it came in.
fn response_id(upstream: Option<String>, body: &[u8]) -> String {
    match upstream.filter(|id| !id.is_empty()) {
        Some(id) => id,
        None => crate::translate::body_id("gemini", body),
    }
}

#[cfg(test)]
mod tests;
