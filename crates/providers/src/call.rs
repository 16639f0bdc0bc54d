//! What the router hands a provider for one attempt, and the provider interface itself.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use sluice_config::Timeouts;
use sluice_telemetry::{SpanId, Traced};
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, ErrorKind, GatewayError, Origin};

use crate::forward::{ForwardRequest, NativeRequest};

/// A request or response body of the transport.
pub type UpstreamBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Wraps bytes as an [`UpstreamBody`].
pub fn box_body(bytes: Bytes) -> UpstreamBody {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A stream of chat chunks from one upstream.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, GatewayError>> + Send>>;

/// One concrete upstream for one attempt: which provider, which of its models, which deadlines.
#[derive(Debug, Clone)]
pub struct Target {
    /// Provider name.
    pub provider: Arc<str>,
    /// The provider's own model name (Azure: deployment).
    pub model: Arc<str>,
    /// Deadlines in force for this target.
    pub timeouts: Timeouts,
}

/// Per-request facts an attempt needs: its deadline and where to book time spent upstream.
#[derive(Debug, Clone)]
pub struct CallCx {
    /// The request's id, sent upstream as `x-request-id`.
    pub request_id: Arc<str>,
    /// The request's overall deadline (from `x-sluice-timeout`), if any.
    pub deadline: Option<Instant>,
    /// Session affinity key (`x-sluice-session`, else the end user): requests with the same
    /// key prefer the same target while it is healthy.
    pub affinity: Option<Arc<str>>,
    /// Estimated tokens of the request (prompt plus output limit), for targets' `tpm`.
    pub estimated_tokens: u64,
    /// The trace context upstream requests carry as `traceparent` / `tracestate`, when the
    /// request is traced or its caller sent one.
    pub trace: Option<Traced>,
    upstream_nanos: Arc<AtomicU64>,
    /// Set by a provider whose upstream said its rate limit is exhausted: for how many
    /// milliseconds the target should be left alone. Taken by the router after each attempt.
    exhausted_ms: Arc<AtomicU64>,
    /// Every attempt made for this request, for the request log.
    attempts: Arc<std::sync::Mutex<Vec<AttemptNote>>>,
    /// Parameters a provider with `drop_unsupported` dropped from the attempt's request.
    /// Taken by the router after each attempt.
    dropped: Arc<std::sync::Mutex<Vec<String>>>,
}

/// One finished (or abandoned) upstream attempt, as the router saw it.
#[derive(Debug, Clone)]
pub struct AttemptNote {
    /// Provider name.
    pub provider: Arc<str>,
    /// The provider's model.
    pub model: Arc<str>,
    /// `ok`, `cancelled`, or the error class name (`5xx`, `timeout`, …).
    pub outcome: &'static str,
    /// The upstream's HTTP status, when it answered with an error status.
    pub status: Option<u16>,
    /// When the attempt started.
    pub started: Instant,
    /// How long the attempt took.
    pub duration: Duration,
    /// The attempt's span, when the request's spans are recorded.
    pub span: Option<SpanId>,
    /// Request parameters the provider could not honour and dropped (`drop_unsupported`).
    pub dropped: Vec<String>,
}

impl CallCx {
    /// A context for request `request_id`.
    pub fn new(request_id: Arc<str>, deadline: Option<Instant>) -> Self {
        Self {
            request_id,
            deadline,
            affinity: None,
            estimated_tokens: 0,
            trace: None,
            upstream_nanos: Arc::default(),
            exhausted_ms: Arc::default(),
            attempts: Arc::default(),
            dropped: Arc::default(),
        }
    }

    /// This context for one attempt: when the request's spans are recorded, a copy whose
    /// trace context is a new span (its id returned too), so the attempt's upstream request
    /// names that span as its parent.
    pub fn for_attempt(&self) -> Option<(CallCx, SpanId)> {
        let (trace, span) = self.trace.as_ref()?.attempt()?;
        let cx = CallCx {
            trace: Some(trace),
            ..self.clone()
        };
        Some((cx, span))
    }

    /// Notes one attempt of this request (the lock is this request's own).
    /// Notes that the provider dropped `param` from this attempt's request.
    pub fn note_dropped(&self, param: &str) {
        if let Ok(mut dropped) = self.dropped.lock() {
            dropped.push(param.to_owned());
        }
    }

    /// The parameters dropped since the last call.
    pub fn take_dropped(&self) -> Vec<String> {
        self.dropped
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default()
    }

    pub fn record_attempt(&self, note: AttemptNote) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.push(note);
        }
    }

    /// The attempts noted so far, in order.
    pub fn attempts(&self) -> Vec<AttemptNote> {
        self.attempts.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Books `d` as time spent waiting on an upstream.
    pub fn add_upstream_wait(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.upstream_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Notes that the upstream's rate limit is exhausted for `d`.
    pub fn note_exhausted(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        self.exhausted_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Takes what [`Self::note_exhausted`] noted since the last call.
    pub fn take_exhausted(&self) -> Option<Duration> {
        match self.exhausted_ms.swap(0, Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Total time booked as waiting on upstreams so far.
    pub fn upstream_wait(&self) -> Duration {
        Duration::from_nanos(self.upstream_nanos.load(Ordering::Relaxed))
    }

    /// The deadline of an attempt on `target` started now: the earlier of the target's
    /// total timeout and the request's deadline.
    pub fn attempt_deadline(&self, target: &Target) -> Instant {
        let own = Instant::now() + target.timeouts.total;
        match self.deadline {
            Some(d) if d < own => d,
            _ => own,
        }
    }
}

/// Anything that can answer chat requests: an HTTP provider with its codec, or the offline demo.
pub trait Provider: Send + Sync + 'static {
    /// One non-streaming chat completion.
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        target: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>>;

    /// One streaming chat completion; resolves once the upstream accepted the request.
    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        target: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>>;

    /// Forwards an OpenAI-shaped request (embeddings, completions, images, audio, files, …)
    /// unchanged except for the URL and credentials, and returns the upstream's response.
    /// Embeddings for a provider with its own embeddings API ([`crate::Codec::embedder`])
    /// are translated there and back instead, and answered in OpenAI's shape.
    fn forward<'a>(
        &'a self,
        req: ForwardRequest,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<http::Response<UpstreamBody>, GatewayError>>;

    /// Forwards a request in the provider's own API (native pass-through, `/{provider}/…`)
    /// with the provider's credentials in place of the client's. Every upstream answer,
    /// error statuses included, is returned as it is; only transport failures (connect,
    /// reset, timeout) are errors. Providers without an HTTP API answer 501 (the default).
    fn forward_native<'a>(
        &'a self,
        req: NativeRequest,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<http::Response<UpstreamBody>, GatewayError>> {
        let _ = (req, cx);
        Box::pin(async {
            Err(GatewayError::new(
                ErrorKind::Unsupported,
                Origin::Client,
                "this provider has no native API to pass requests through to",
            ))
        })
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
