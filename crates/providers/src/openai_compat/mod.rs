//! The OpenAI chat wire format, spoken by OpenAI, Azure OpenAI and every OpenAI-compatible
//! server. The flavours differ only in URLs, which [`OpenAiCodec`] builds, and in whether a
//! stream may ask for usage; vendor defaults (base URLs, key variables, stream usage) are
//! data in `sluice-config`'s preset table. Mistral's API differs in a few names and fields,
//! which `mistral.rs` maps.

mod error;
mod mistral;
mod request;
mod response;
mod splice;
mod stream;

use bytes::Bytes;
use http::StatusCode;
use sluice_config::{Preset, ProviderConfig, ProviderKind};
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, GatewayError};

use crate::embeddings::Embedder;
use crate::{Codec, DecodeCx, SseEvent, Target, UpstreamRequest};

pub use stream::StreamState;

/// Where the OpenAI-shaped endpoints of one provider live.
#[derive(Debug, Clone)]
enum Flavor {
    /// `{base_url}/chat/completions`, `{base_url}/embeddings`, …
    Standard,
    /// `{base_url}/openai/deployments/{deployment}/…?api-version=…`
    Azure { api_version: String },
}

/// The OpenAI chat codec for one provider.
#[derive(Debug, Clone)]
pub struct OpenAiCodec {
    base_url: String,
    flavor: Flavor,
    /// Whether streams ask the upstream for usage (`stream_options.include_usage`).
    stream_usage: bool,
    /// Whether the upstream is Mistral's API (see `mistral.rs`).
    mistral: bool,
}

/// The first Azure OpenAI `api-version` that accepts `stream_options`.
const AZURE_STREAM_OPTIONS_SINCE: &str = "2024-09-01";

/// Whether Azure OpenAI at `api_version` accepts `stream_options`: dated versions
/// (`2024-10-21`, `2024-09-01-preview`) from [`AZURE_STREAM_OPTIONS_SINCE`] on; undated
/// ones (`preview`, `latest`) name the newest API, which does.
fn azure_accepts_stream_options(api_version: &str) -> bool {
    match api_version.get(..AZURE_STREAM_OPTIONS_SINCE.len()) {
        Some(date) if date.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
            date >= AZURE_STREAM_OPTIONS_SINCE
        }
        _ => true,
    }
}

/// Paths that Azure serves under a deployment.
const AZURE_DEPLOYMENT_PATHS: &[&str] = &[
    "/chat/completions",
    "/completions",
    "/embeddings",
    "/images/generations",
    "/images/edits",
    "/audio/transcriptions",
    "/audio/translations",
    "/audio/speech",
];

impl OpenAiCodec {
    /// The codec for a provider entry of the OpenAI family.
    pub fn for_config(cfg: &ProviderConfig) -> Self {
        let (flavor, stream_usage) = match cfg.kind {
            ProviderKind::AzureOpenAi => {
                let api_version = cfg
                    .api_version
                    .clone()
                    .unwrap_or_else(|| sluice_config::DEFAULT_AZURE_API_VERSION.into());
                let stream_usage = azure_accepts_stream_options(&api_version);
                (Flavor::Azure { api_version }, stream_usage)
            }
            ProviderKind::OpenAiCompatible(preset) => (Flavor::Standard, preset.row().stream_usage),
            ProviderKind::Demo
            | ProviderKind::Anthropic
            | ProviderKind::Gemini
            | ProviderKind::Bedrock
            | ProviderKind::Cohere
            | ProviderKind::Vertex => (Flavor::Standard, false),
        };
        Self {
            base_url: cfg.base_url.trim_end_matches('/').to_owned(),
            flavor,
            stream_usage,
            mistral: cfg.kind == ProviderKind::OpenAiCompatible(Preset::Mistral),
        }
    }

    /// The URL of `path` (after `/v1`) for `model`, with `query` appended.
    fn url(
        &self,
        path: &str,
        query: Option<&str>,
        model: Option<&str>,
    ) -> Result<String, GatewayError> {
        let mut url = match &self.flavor {
            Flavor::Standard => format!("{}{}", self.base_url, path),
            Flavor::Azure { api_version } => {
                let scoped = AZURE_DEPLOYMENT_PATHS.contains(&path);
                let mut url = if scoped {
                    let deployment = model.ok_or_else(|| {
                        GatewayError::invalid_request(
                            "`model` is required to reach an Azure deployment",
                        )
                        .with_param("model")
                    })?;
                    format!(
                        "{}/openai/deployments/{}{}",
                        self.base_url, deployment, path
                    )
                } else {
                    format!("{}/openai{}", self.base_url, path)
                };
                url.push_str("?api-version=");
                url.push_str(api_version);
                if let Some(q) = query.filter(|q| !q.is_empty()) {
                    url.push('&');
                    url.push_str(q);
                }
                return Ok(url);
            }
        };
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }
        Ok(url)
    }
}

impl Codec for OpenAiCodec {
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
        _st: &mut StreamState,
        ev: SseEvent,
    ) -> Result<Vec<ChatChunk>, GatewayError> {
        self.decode_chunk(ev)
    }

    fn decode_error(&self, status: StatusCode, body: &[u8]) -> GatewayError {
        self.decode_error_body(status, body)
    }

    /// Mistral's embeddings name `dimensions` differently (see `mistral.rs`); every other
    /// provider of the family takes OpenAI's request as it is.
    fn embedder(&self) -> Option<&dyn Embedder> {
        self.mistral.then_some(self as &dyn Embedder)
    }

    fn forward_url(
        &self,
        path: &str,
        query: Option<&str>,
        model: Option<&str>,
    ) -> Result<String, GatewayError> {
        self.url(path, query, model)
    }
}

#[cfg(test)]
mod tests;
