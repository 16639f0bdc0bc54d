//! Providers: one pure codec per wire format, and one HTTP transport shared by all of them.
//!
//! A [`Codec`] turns the internal [`ChatRequest`] into an upstream request and the upstream's
//! answers (whole bodies or stream events) back into [`ChatResponse`] / [`ChatChunk`]; it does
//! no I/O, so it is tested with fixtures alone. [`HttpProvider`] owns everything that touches
//! the network for every codec: the pooled rustls client (HTTP/2 where offered),
//! authentication (credential headers, AWS SigV4 signing, or Google service-account access
//! tokens), deadlines, stream framing (SSE,
//! or the AWS binary event stream a codec declares with [`Codec::framing`]), and turning
//! transport failures into typed [`GatewayError`]s.
//! Two more jobs sit on the transport because they do I/O: OpenAI embeddings answered
//! through a provider's own embeddings API ([`embeddings`], the codec's [`Codec::embedder`]),
//! and image URLs fetched for providers that cannot fetch them (`images`, behind
//! [`Codec::fetches_image_urls`]).
//! OpenAI-compatible vendors are data (a preset row in `sluice-config`), not code. The router
//! sees every provider, HTTP or not (the offline `demo`), through the object-safe [`Provider`].

pub mod anthropic;
mod auth;
pub mod bedrock;
mod call;
mod codec;
pub mod cohere;
mod demo;
mod driver;
pub mod embeddings;
pub mod eventstream;
mod forward;
pub mod gemini;
mod http;
mod images;
pub mod openai_compat;
mod ratelimit;
mod sse;
mod translate;
pub mod vertex;

use std::sync::Arc;

use sluice_config::{ProviderConfig, ProviderKind};
use sluice_types::GatewayError;

pub use call::{AttemptNote, CallCx, ChunkStream, Provider, Target, UpstreamBody, box_body};
pub use codec::{
    Codec, DecodeCx, Framing, UNSUPPORTED_PARAMETER, UpstreamRequest, unsupported_parameter,
};
pub use demo::DemoProvider;
pub use eventstream::EventStreamParser;
pub use forward::{ForwardRequest, NativeRequest};
pub use http::HttpProvider;
pub use sluice_telemetry::SpanId;
pub use sse::{SseEvent, SseParser};

/// Builds the provider a config entry describes.
pub fn build(cfg: &ProviderConfig) -> Result<Arc<dyn Provider>, GatewayError> {
    Ok(match cfg.kind {
        ProviderKind::Demo => Arc::new(DemoProvider),
        ProviderKind::OpenAiCompatible(_) | ProviderKind::AzureOpenAi => Arc::new(
            HttpProvider::new(cfg, openai_compat::OpenAiCodec::for_config(cfg))?,
        ),
        ProviderKind::Anthropic => Arc::new(HttpProvider::new(
            cfg,
            anthropic::AnthropicCodec::for_config(cfg),
        )?),
        ProviderKind::Gemini => Arc::new(HttpProvider::new(
            cfg,
            gemini::GeminiCodec::for_config(cfg),
        )?),
        ProviderKind::Cohere => Arc::new(HttpProvider::new(
            cfg,
            cohere::CohereCodec::for_config(cfg),
        )?),
        ProviderKind::Bedrock => Arc::new(HttpProvider::new(
            cfg,
            bedrock::BedrockCodec::for_config(cfg),
        )?),
        ProviderKind::Vertex => Arc::new(vertex::VertexProvider::new(cfg)?),
    })
}
