//! Google Vertex AI: Gemini models and Anthropic's Claude models in a Google Cloud project,
//! authorized with OAuth access tokens of a service account.
//!
//! Vertex AI serves each publisher's models with that publisher's API, so a `vertex`
//! provider is two HTTP providers sharing one connection pool and one cached access token
//! (see `auth.rs`), and each target goes to the one its model's [`Publisher`] names:
//!
//! - **Gemini** (any model not named `claude…`): the Gemini codec's translation unchanged, at
//!   `{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:
//!   generateContent` or `:streamGenerateContent?alt=sse` ([`VertexGeminiCodec`]).
//! - **Claude** (`claude…`, e.g. `claude-sonnet-4-5@20250929`): the Anthropic codec's
//!   translation, with the model left out of the body and `"anthropic_version":
//!   "vertex-2023-10-16"` put in it, at `…/publishers/anthropic/models/{model}:rawPredict` or
//!   `:streamRawPredict` ([`VertexAnthropicCodec`]); `http(s)` image URLs are fetched by the
//!   gateway and sent inline, since Vertex AI refuses URL sources for Claude.
//!
//! - **Embeddings** (OpenAI's `/v1/embeddings`): Google's text-embedding models'
//!   `…/publishers/google/models/{model}:predict` (see `embed.rs`).
//!
//! The base URL is the location's host, `https://{location}-aiplatform.googleapis.com`, or
//! `https://aiplatform.googleapis.com` for `global`. Native pass-through forwards
//! `/{provider}/v1/projects/…` to that host with the provider's token. Other OpenAI-shaped
//! endpoints answer 501.

mod codec;
mod embed;
mod endpoint;

use futures_util::future::BoxFuture;
use sluice_config::ProviderConfig;
use sluice_types::{ChatRequest, ChatResponse, GatewayError};

use crate::{
    CallCx, ChunkStream, ForwardRequest, HttpProvider, NativeRequest, Provider, Target,
    UpstreamBody,
};

pub use codec::{VERTEX_ANTHROPIC_VERSION, VertexAnthropicCodec, VertexGeminiCodec};
pub use endpoint::Publisher;

/// A `vertex` provider: Gemini and Claude models behind one set of credentials.
pub struct VertexProvider {
    google: HttpProvider<VertexGeminiCodec>,
    anthropic: HttpProvider<VertexAnthropicCodec>,
}

impl VertexProvider {
    /// The provider of a `vertex` config entry.
    pub fn new(cfg: &ProviderConfig) -> Result<Self, GatewayError> {
        let google = HttpProvider::new(cfg, VertexGeminiCodec::for_config(cfg)?)?;
        let anthropic = google.with_codec(VertexAnthropicCodec::for_config(cfg)?);
        Ok(Self { google, anthropic })
    }
}

impl Provider for VertexProvider {
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        target: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        match Publisher::of(&target.model) {
            Publisher::Google => self.google.chat(req, target, cx),
            Publisher::Anthropic => self.anthropic.chat(req, target, cx),
        }
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        target: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        match Publisher::of(&target.model) {
            Publisher::Google => self.google.chat_stream(req, target, cx),
            Publisher::Anthropic => self.anthropic.chat_stream(req, target, cx),
        }
    }

    fn forward<'a>(
        &'a self,
        req: ForwardRequest,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<http::Response<UpstreamBody>, GatewayError>> {
        self.google.forward(req, cx)
    }

    fn forward_native<'a>(
        &'a self,
        req: NativeRequest,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<http::Response<UpstreamBody>, GatewayError>> {
        self.google.forward_native(req, cx)
    }
}

#[cfg(test)]
mod tests;
