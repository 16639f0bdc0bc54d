//! Sluice's traces: W3C trace context in and out, GenAI spans built after the fact, and an
//! OTLP exporter (HTTP/protobuf or gRPC) that never makes a request wait.
//!
//! Nothing here runs as a `tracing` layer on the hot path. When a request arrives, the
//! server asks the [`Tracer`] to [`start`](Tracer::start) its part in a trace: it continues
//! the caller's `traceparent` ([`TraceContext`]) or starts a new trace, decides sampling, and
//! returns a [`Traced`] holding the ids and the start time (two clock reads and a few random
//! numbers). Each upstream attempt takes a span id of its own ([`Traced::attempt`]) so its
//! `traceparent` can name it as the upstream's parent. Only when the request's record is
//! complete are the spans built ([`genai::request_spans`]: one server span for the request
//! and a client span per attempt, with the OpenTelemetry GenAI attributes) and handed to
//! [`Tracer::submit`], which puts them in a bounded queue without waiting, dropping and
//! counting them when it is full. A background task ([`Exporter`]) drains the queue in
//! batches (512 spans or 1 s), encodes them with the few OTLP messages declared in
//! [`proto`] (plain `prost` derives, no generated code, no gRPC framework), and sends each
//! batch with a timeout over a pooled hyper client; gRPC is an HTTP/2 POST with a
//! length-prefixed body and a `grpc-status` trailer. With telemetry off, none of this runs:
//! the server only passes an incoming `traceparent` on to upstreams unchanged.

mod context;
mod export;
pub mod genai;
pub mod proto;
mod span;
mod transport;

pub use context::{RequestSpan, SpanId, TraceContext, TraceId, Traced};
pub use export::{ExportConfig, Exporter, SPANS_DROPPED, SPANS_EXPORTED, Tracer, start};
pub use span::{Span, SpanKind, Status, Value};
pub use transport::grpc_frame;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (`POST {endpoint}/v1/traces`).
    Http,
    /// OTLP/gRPC (`TraceService/Export`).
    Grpc,
}

/// Why the exporter cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The endpoint is not an `http://` or `https://` URL.
    #[error("invalid OTLP endpoint {0:?}: expected an http:// or https:// URL")]
    Endpoint(String),
    /// A configured header has an invalid name or value.
    #[error("invalid OTLP header {0:?}")]
    Header(String),
    /// The sampling ratio is not between 0 and 1.
    #[error("invalid sampling ratio {0}: expected a number from 0 to 1")]
    Sample(f64),
}
