//! The AWS Bedrock Converse API: `POST {base_url}/model/{modelId}/converse` and
//! `/converse-stream`, signed with SigV4 (service `bedrock`) by the transport.
//!
//! Every request is translated. [`request`] maps the parameters of the internal
//! OpenAI-shaped [`ChatRequest`] (`inferenceConfig`, `toolConfig`, a forced tool for
//! `response_format`, `reasoning_effort` → Anthropic `thinking` in
//! `additionalModelRequestFields`, `guardrailConfig` passed through) and refuses with a 400
//! naming the parameter whatever Converse cannot honour; [`messages`] translates the
//! conversation (`system` blocks, merged alternating turns, `toolUse` / `toolResult` blocks,
//! reasoning blocks sent back with their signatures, images from data URLs). [`response`]
//! and [`stream`] turn the answers back into OpenAI chat shapes. ConverseStream is framed as
//! an AWS binary event stream ([`Codec::framing`]), which the transport undoes into named
//! events; the stream state carries the id (the `x-amzn-requestid` header, read in
//! [`Codec::start_stream`]), the block → tool-call index map, and every stream ends with a
//! usage chunk. [`error`] maps Bedrock's exceptions, named in the `x-amzn-errortype` header
//! ([`Codec::decode_error_response`]) or in stream exception events, to gateway errors.
//!
//! OpenAI's `/v1/embeddings` is translated to InvokeModel for Amazon Titan and Cohere Embed
//! models (see `embed.rs`).
//!
//! The model id goes in the URL path percent-encoded (`:` → `%3A`, `/` → `%2F` for ARNs),
//! as the AWS SDKs send it; SigV4 then signs the path encoded once more, as AWS expects.

mod embed;
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

use crate::codec::Framing;
use crate::embeddings::Embedder;
use crate::{Codec, DecodeCx, SseEvent, Target, UpstreamRequest};

pub use stream::StreamState;

/// The Bedrock Converse codec for one provider entry.
#[derive(Debug, Clone)]
pub struct BedrockCodec {
    /// The provider's name, for error messages.
    name: String,
    /// The host root, without a trailing slash.
    base_url: String,
}

impl BedrockCodec {
    /// The codec for a `bedrock` provider entry.
    pub fn for_config(cfg: &ProviderConfig) -> Self {
        Self {
            name: cfg.name.clone(),
            base_url: cfg.base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The Converse (or ConverseStream) URL of `model`.
    fn converse_url(&self, model: &str, stream: bool) -> String {
        let op = if stream {
            "converse-stream"
        } else {
            "converse"
        };
        format!("{}/model/{}/{op}", self.base_url, encode_label(model))
    }
}

/// Percent-encodes a path label: everything but RFC 3986's unreserved characters.
fn encode_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for b in label.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Codec for BedrockCodec {
    type StreamState = StreamState;

    fn encode(&self, req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, GatewayError> {
        self.encode_converse(req, target)
    }

    fn decode(
        &self,
        _status: StatusCode,
        body: Bytes,
        cx: &DecodeCx<'_>,
    ) -> Result<ChatResponse, GatewayError> {
        response::decode(&body, cx.headers)
    }

    fn decode_event(
        &self,
        st: &mut StreamState,
        ev: SseEvent,
    ) -> Result<Vec<ChatChunk>, GatewayError> {
        st.decode(&ev)
    }

    fn decode_error(&self, status: StatusCode, body: &[u8]) -> GatewayError {
        error::decode_error(status.as_u16(), &http::HeaderMap::new(), body)
    }

    fn framing(&self) -> Framing {
        Framing::AwsEventStream
    }

    /// The stream's id is the request id of its response head; without one, a unique id from
    /// the clock (Bedrock always sends one).
    fn start_stream(&self, st: &mut StreamState, cx: &DecodeCx<'_>) {
        st.id = response::request_id(cx.headers).unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            format!("bedrock-{nanos:x}")
        });
    }

    fn decode_error_response(
        &self,
        status: StatusCode,
        cx: &DecodeCx<'_>,
        body: &[u8],
    ) -> GatewayError {
        error::decode_error(status.as_u16(), cx.headers, body)
    }

    /// Converse takes image bytes, not URLs: the transport fetches them.
    fn fetches_image_urls(&self) -> bool {
        true
    }

    /// Embeddings of Titan and Cohere Embed models go through InvokeModel (`embed.rs`).
    fn embedder(&self) -> Option<&dyn Embedder> {
        Some(self)
    }

    fn forward_url(
        &self,
        path: &str,
        query: Option<&str>,
        _model: Option<&str>,
    ) -> Result<String, GatewayError> {
        crate::translate::openai_endpoint_url(
            &self.name,
            "AWS Bedrock Converse API",
            path,
            query,
            None,
        )
    }
}

#[cfg(test)]
mod tests;
