//! The codec interface: pure translation between the internal types and one wire format.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, GatewayError};

use crate::embeddings::Embedder;
use crate::{SseEvent, Target};

/// An encoded upstream request, before credentials are added.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    /// Absolute URL.
    pub url: String,
    /// Extra headers this wire format needs (content type, versions).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The encoded body.
    pub body: Bytes,
}

/// What a decoder may need to know about the exchange.
#[derive(Debug, Clone, Copy)]
pub struct DecodeCx<'a> {
    /// The upstream's response headers.
    pub headers: &'a HeaderMap,
}

/// How a codec's streamed answers are framed on the wire. The transport undoes the framing
/// and hands the codec one [`SseEvent`] per event either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Server-sent events (`text/event-stream`).
    #[default]
    Sse,
    /// The AWS binary event stream (`application/vnd.amazon.eventstream`). Each message becomes
    /// an [`SseEvent`] whose `event` is its `:event-type` header (`:exception-type` for an
    /// exception message, `error` for an error message) and whose `data` is its payload.
    AwsEventStream,
}

/// A wire format. Pure: no I/O, fixture-testable.
///
/// Besides the required methods, five have defaults that only some formats override:
/// [`Codec::framing`] (SSE unless said otherwise), [`Codec::start_stream`] (a look at the
/// response head before the first event), [`Codec::decode_error_response`] (error
/// decoding that also sees the response headers), [`Codec::embedder`] (the provider's
/// own embeddings API) and [`Codec::fetches_image_urls`] (images the gateway must fetch).
pub trait Codec: Send + Sync + 'static {
    /// Per-stream state: ids, tool-call indices, usage so far.
    type StreamState: Default + Send;

    /// Encodes a chat request for `target`.
    fn encode(&self, req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, GatewayError>;

    /// Decodes a complete response; `status` is a success status.
    fn decode(
        &self,
        status: StatusCode,
        body: Bytes,
        cx: &DecodeCx<'_>,
    ) -> Result<ChatResponse, GatewayError>;

    /// Decodes one SSE event into zero or more chunks. `[DONE]`-style end markers give none.
    fn decode_event(
        &self,
        st: &mut Self::StreamState,
        ev: SseEvent,
    ) -> Result<Vec<ChatChunk>, GatewayError>;

    /// Turns an upstream error status and body into a gateway error that keeps both.
    fn decode_error(&self, status: StatusCode, body: &[u8]) -> GatewayError;

    /// How this format frames streams. Default: server-sent events.
    fn framing(&self) -> Framing {
        Framing::Sse
    }

    /// Called once with the head of a successful stream response, before its first event,
    /// for formats whose events lack something the head carries (Bedrock's request id).
    /// Default: nothing.
    fn start_stream(&self, st: &mut Self::StreamState, cx: &DecodeCx<'_>) {
        let _ = (st, cx);
    }

    /// Like [`Codec::decode_error`], with the response headers, for formats that name the
    /// error type in a header (Bedrock's `x-amzn-errortype`). Default: `decode_error`.
    fn decode_error_response(
        &self,
        status: StatusCode,
        cx: &DecodeCx<'_>,
        body: &[u8],
    ) -> GatewayError {
        let _ = cx;
        self.decode_error(status, body)
    }

    /// Whether the provider cannot fetch `http(s)` image URLs itself, so the transport
    /// fetches them and the codec gets them as data URLs (see `crate::images`). Default:
    /// false.
    fn fetches_image_urls(&self) -> bool {
        false
    }

    /// The provider's own embeddings API, which OpenAI's `/embeddings` is translated to.
    /// Default: none, and `/embeddings` is forwarded to [`Codec::forward_url`] unchanged.
    fn embedder(&self) -> Option<&dyn Embedder> {
        None
    }

    /// The absolute URL for an OpenAI-shaped pass-through of `path` (the part after `/v1`,
    /// starting with `/`), for `model` when the request names one.
    fn forward_url(
        &self,
        path: &str,
        query: Option<&str>,
        model: Option<&str>,
    ) -> Result<String, GatewayError>;
}

/// The error `code` of a request parameter a provider cannot honour. With the provider's
/// `drop_unsupported: true`, the transport drops such parameters instead of refusing.
pub const UNSUPPORTED_PARAMETER: &str = "unsupported_parameter";

/// A 400 naming a request parameter the provider cannot honour.
pub fn unsupported_parameter(param: &str, message: String) -> GatewayError {
    GatewayError::invalid_request(message)
        .with_param(param)
        .with_code(UNSUPPORTED_PARAMETER)
}
