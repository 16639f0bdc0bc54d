//! The two wire formats of Vertex AI, each the existing codec of its publisher with Vertex
//! AI's URL (and, for Claude, its body differences).

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use serde_json::Value;
use sluice_config::ProviderConfig;
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, GatewayError};

use super::endpoint::{Endpoint, Publisher};
use crate::anthropic::AnthropicCodec;
use crate::embeddings::Embedder;
use crate::gemini::GeminiCodec;
use crate::{Codec, DecodeCx, SseEvent, Target, UpstreamRequest};

/// The `anthropic_version` Claude on Vertex AI takes in the body.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// The API named in refusals of OpenAI endpoints.
const API: &str = "Vertex AI API";

/// Gemini models on Vertex AI: the Gemini API's request and answers (the same
/// `GenerateContentRequest` and `GenerateContentResponse`) at Vertex AI's
/// `publishers/google/models/{model}:generateContent` or
/// `:streamGenerateContent?alt=sse`.
#[derive(Debug, Clone)]
pub struct VertexGeminiCodec {
    gemini: GeminiCodec,
    endpoint: Endpoint,
    provider: String,
}

impl VertexGeminiCodec {
    /// The codec for a `vertex` provider entry.
    pub fn for_config(cfg: &ProviderConfig) -> Result<Self, GatewayError> {
        Ok(Self {
            gemini: GeminiCodec::for_config(cfg),
            endpoint: Endpoint::for_config(cfg)?,
            provider: cfg.name.clone(),
        })
    }

    /// The provider's project and location.
    pub(super) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Codec for VertexGeminiCodec {
    type StreamState = crate::gemini::StreamState;

    fn encode(&self, req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, GatewayError> {
        let method = match req.is_stream() {
            true => "streamGenerateContent?alt=sse",
            false => "generateContent",
        };
        let url = self
            .endpoint
            .model_url(Publisher::Google, &target.model, method)?;
        let up = self.gemini.encode(req, target)?;
        Ok(UpstreamRequest { url, ..up })
    }

    fn decode(
        &self,
        status: StatusCode,
        body: Bytes,
        cx: &DecodeCx<'_>,
    ) -> Result<ChatResponse, GatewayError> {
        self.gemini.decode(status, body, cx)
    }

    fn decode_event(
        &self,
        st: &mut Self::StreamState,
        ev: SseEvent,
    ) -> Result<Vec<ChatChunk>, GatewayError> {
        self.gemini.decode_event(st, ev)
    }

    fn decode_error(&self, status: StatusCode, body: &[u8]) -> GatewayError {
        self.gemini.decode_error(status, body)
    }

    /// Embeddings are translated to `predict` (see `embed.rs`).
    fn embedder(&self) -> Option<&dyn Embedder> {
        Some(self)
    }

    fn forward_url(
        &self,
        path: &str,
        query: Option<&str>,
        _model: Option<&str>,
    ) -> Result<String, GatewayError> {
        crate::translate::openai_endpoint_url(&self.provider, API, path, query, None)
    }
}

/// Claude models on Vertex AI: Anthropic's Messages request without `model` (the URL names
/// it) and with `anthropic_version: vertex-2023-10-16` in the body instead of a header, at
/// `publishers/anthropic/models/{model}:rawPredict` or `:streamRawPredict`, with image URLs
/// fetched by the gateway (Vertex AI refuses URL sources); the answers and streams are
/// Anthropic's. Errors are Anthropic's when the model refused, and Google's
/// (`{"error": {"code", "message", "status"}}`) when Vertex AI itself did (authentication,
/// quota, unknown model).
#[derive(Debug, Clone)]
pub struct VertexAnthropicCodec {
    anthropic: AnthropicCodec,
    /// Decodes Vertex AI's own, Google-shaped errors.
    google: GeminiCodec,
    endpoint: Endpoint,
    provider: String,
}

impl VertexAnthropicCodec {
    /// The codec for a `vertex` provider entry.
    pub fn for_config(cfg: &ProviderConfig) -> Result<Self, GatewayError> {
        Ok(Self {
            anthropic: AnthropicCodec::for_config(cfg),
            google: GeminiCodec::for_config(cfg),
            endpoint: Endpoint::for_config(cfg)?,
            provider: cfg.name.clone(),
        })
    }
}

impl Codec for VertexAnthropicCodec {
    type StreamState = crate::anthropic::StreamState;

    fn encode(&self, req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, GatewayError> {
        let method = match req.is_stream() {
            true => "streamRawPredict",
            false => "rawPredict",
        };
        let url = self
            .endpoint
            .model_url(Publisher::Anthropic, &target.model, method)?;
        let mut body = self
            .anthropic
            .messages_request(req, target, "Claude on Vertex AI")?;
        body.model.clear();
        body.extra.insert(
            "anthropic_version".to_owned(),
            Value::from(VERTEX_ANTHROPIC_VERSION),
        );
        let body = serde_json::to_vec(&body)
            .map_err(|e| GatewayError::internal(format!("could not encode the request: {e}")))?;
        Ok(UpstreamRequest {
            url,
            headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body: Bytes::from(body),
        })
    }

    fn decode(
        &self,
        status: StatusCode,
        body: Bytes,
        cx: &DecodeCx<'_>,
    ) -> Result<ChatResponse, GatewayError> {
        self.anthropic.decode(status, body, cx)
    }

    fn decode_event(
        &self,
        st: &mut Self::StreamState,
        ev: SseEvent,
    ) -> Result<Vec<ChatChunk>, GatewayError> {
        self.anthropic.decode_event(st, ev)
    }

    /// Claude on Vertex AI refuses URL image sources: the transport fetches them.
    fn fetches_image_urls(&self) -> bool {
        true
    }

    fn decode_error(&self, status: StatusCode, body: &[u8]) -> GatewayError {
        if is_google_error(body) {
            self.google.decode_error(status, body)
        } else {
            self.anthropic.decode_error(status, body)
        }
    }

    fn forward_url(
        &self,
        path: &str,
        query: Option<&str>,
        _model: Option<&str>,
    ) -> Result<String, GatewayError> {
        crate::translate::openai_endpoint_url(&self.provider, API, path, query, None)
    }
}

/// Whether an error body is Google's `{"error": {…}}` (or a list of them) rather than
/// Anthropic's `{"type": "error", "error": {…}}`.
fn is_google_error(body: &[u8]) -> bool {
    let google =
        |v: &Value| v.get("error").is_some_and(Value::is_object) && v.get("type").is_none();
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items.first().is_some_and(google),
        Ok(v) => google(&v),
        Err(_) => false,
    }
}
