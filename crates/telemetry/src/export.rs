//! The exporter: a bounded queue the request path fills without waiting, and a background
//! task that drains it in batches and sends each batch with a timeout.

use std::time::{Duration, Instant};

use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::context::{RequestSpan, SpanId, TraceContext, TraceId, Traced, unix_nanos_now};
use crate::proto::{self, KeyValue};
use crate::span::Span;
use crate::transport::{ExportError, Transport};
use crate::{Protocol, TelemetryError};

/// Spans dropped instead of exported, by reason (`queue_full`, `export_failed`).
pub const SPANS_DROPPED: &str = "sluice_trace_spans_dropped_total";
/// Spans the collector accepted.
pub const SPANS_EXPORTED: &str = "sluice_trace_spans_exported_total";

/// Where and how spans are exported.
#[derive(Debug, Clone)]
pub struct ExportConfig {
    /// The collector's base URL (`http://collector:4318`); the protocol's path is appended.
    pub endpoint: String,
    /// OTLP/HTTP with protobuf, or OTLP/gRPC.
    pub protocol: Protocol,
    /// Headers sent with every export (collector credentials).
    pub headers: Vec<(String, String)>,
    /// The longest one export may take.
    pub timeout: Duration,
    /// `service.name` of the resource.
    pub service_name: String,
    /// `service.version` of the resource.
    pub service_version: String,
    /// Share of new traces recorded, 0 to 1; a continued trace follows its caller's flag.
    pub sample: f64,
    /// Spans held for export at most; beyond it spans are dropped and counted.
    pub queue: usize,
    /// The most spans sent in one export.
    pub batch_size: usize,
    /// How long the first span of a batch waits for more before the batch is sent.
    pub batch_interval: Duration,
}

impl ExportConfig {
    /// Defaults for `endpoint` and `protocol`: a 5 s timeout, every trace sampled, a queue
    /// of 2,048 spans, batches of up to 512 spans or 1 s.
    pub fn new(endpoint: impl Into<String>, protocol: Protocol) -> Self {
        Self {
            endpoint: endpoint.into(),
            protocol,
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
            service_name: "sluice".to_owned(),
            service_version: env!("CARGO_PKG_VERSION").to_owned(),
            sample: 1.0,
            queue: 2048,
            batch_size: 512,
            batch_interval: Duration::from_secs(1),
        }
    }
}

/// The request path's handle: starts traces and queues finished spans. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Tracer {
    queue: mpsc::Sender<Span>,
    /// New traces whose id's low 8 bytes are below this are recorded (`None`: all).
    threshold: Option<u64>,
}

/// The background export task; [`Exporter::shutdown`] flushes what is queued.
#[derive(Debug)]
pub struct Exporter {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Starts the export task (on the current tokio runtime) and returns its tracer.
pub fn start(config: ExportConfig) -> Result<(Tracer, Exporter), TelemetryError> {
    if !(0.0..=1.0).contains(&config.sample) {
        return Err(TelemetryError::Sample(config.sample));
    }
    let transport = Transport::new(&config.endpoint, config.protocol, &config.headers)?;
    metrics::describe_counter!(
        SPANS_DROPPED,
        "Trace spans dropped instead of exported, by reason: queue_full (the export queue was full) or export_failed (the collector did not take them)."
    );
    metrics::describe_counter!(SPANS_EXPORTED, "Trace spans the OTLP collector accepted.");
    let (tx, rx) = mpsc::channel(config.queue.max(1));
    let (stop, stopped) = watch::channel(false);
    let threshold = (config.sample < 1.0).then(|| {
        // The share of the id space below the threshold is the sampling ratio.
        let scaled = config.sample * 2f64.powi(64);
        if scaled >= u64::MAX as f64 {
            u64::MAX
        } else {
            scaled as u64
        }
    });
    let batcher = Batcher {
        resource: vec![
            proto::string_attribute("service.name", &config.service_name),
            proto::string_attribute("service.version", &config.service_version),
        ],
        version: config.service_version.clone(),
        transport,
        timeout: config.timeout,
        batch_size: config.batch_size.max(1),
        interval: config.batch_interval,
        failing: false,
    };
    let task = tokio::spawn(batcher.run(rx, stopped));
    Ok((
        Tracer {
            queue: tx,
            threshold,
        },
        Exporter { stop, task },
    ))
}

impl Tracer {
    /// Starts a request's part in a trace. A valid `incoming` context is continued: when
    /// its caller sampled it, the request gets a span of its own as the caller's child;
    /// otherwise the context is passed on unchanged. Without one, a new trace starts,
    /// recorded when the sampling ratio picks it.
    pub fn start(&self, incoming: Option<TraceContext>) -> Traced {
        let (context, parent) = match incoming {
            Some(caller) if !caller.sampled => {
                return Traced {
                    context: caller,
                    recording: None,
                };
            }
            Some(caller) => (caller.child(), Some(caller.span_id)),
            None => {
                let trace_id = TraceId::random();
                let sampled = self.threshold.is_none_or(|t| trace_id.low() < t);
                let context = TraceContext {
                    trace_id,
                    span_id: SpanId::random(),
                    sampled,
                    state: None,
                };
                if !sampled {
                    return Traced {
                        context,
                        recording: None,
                    };
                }
                (context, None)
            }
        };
        let span = RequestSpan {
            span_id: context.span_id,
            parent,
            start_unix_nanos: unix_nanos_now(),
            started: Instant::now(),
        };
        Traced {
            context,
            recording: Some(std::sync::Arc::new(span)),
        }
    }

    /// Queues finished spans for export without waiting; when the queue is full they are
    /// dropped and counted in `sluice_trace_spans_dropped_total`.
    pub fn submit(&self, spans: Vec<Span>) {
        let mut dropped = 0u64;
        for span in spans {
            if self.queue.try_send(span).is_err() {
                dropped += 1;
            }
        }
        if dropped > 0 {
            metrics::counter!(SPANS_DROPPED, "reason" => "queue_full").increment(dropped);
        }
    }
}

impl Exporter {
    /// Stops taking new batches and exports what is queued, for at most `within`.
    pub async fn shutdown(self, within: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(within, &mut task).await.is_err() {
            task.abort();
            tracing::warn!(
                "trace export did not finish in time at shutdown; queued spans are lost"
            );
        }
    }
}

/// The export task's state.
struct Batcher {
    resource: Vec<KeyValue>,
    version: String,
    transport: Transport,
    timeout: Duration,
    batch_size: usize,
    interval: Duration,
    /// Whether the last export failed (failures are logged once until one succeeds).
    failing: bool,
}

impl Batcher {
    async fn run(mut self, mut rx: mpsc::Receiver<Span>, mut stop: watch::Receiver<bool>) {
        let mut batch = Vec::with_capacity(self.batch_size);
        loop {
            // Wait for a first span, then for more until the batch is full or the interval
            // since the first one is over.
            let stopping = tokio::select! {
                n = rx.recv_many(&mut batch, self.batch_size) => n == 0,
                _ = stop.wait_for(|s| *s) => true,
            };
            let until = tokio::time::Instant::now() + self.interval;
            let mut stopping = stopping;
            while !stopping && batch.len() < self.batch_size {
                let room = self.batch_size - batch.len();
                tokio::select! {
                    n = rx.recv_many(&mut batch, room) => stopping = n == 0,
                    () = tokio::time::sleep_until(until) => break,
                    _ = stop.wait_for(|s| *s) => stopping = true,
                }
            }
            if stopping {
                // Take what is queued now, then stop.
                while let Ok(span) = rx.try_recv() {
                    batch.push(span);
                }
                for chunk in batch.chunks(self.batch_size) {
                    self.export(chunk).await;
                }
                return;
            }
            self.export(&batch).await;
            batch.clear();
        }
    }

    async fn export(&mut self, spans: &[Span]) {
        if spans.is_empty() {
            return;
        }
        let message =
            proto::export_request(&self.resource, ("sluice", &self.version), spans).encode_to_vec();
        let n = spans.len() as u64;
        let result = match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(result) => result,
            Err(_) => Err(ExportError::Transport(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        };
        match result {
            Ok(rejected) => {
                let rejected = u64::try_from(rejected).unwrap_or(0).min(n);
                metrics::counter!(SPANS_EXPORTED).increment(n - rejected);
                if rejected > 0 {
                    metrics::counter!(SPANS_DROPPED, "reason" => "export_failed")
                        .increment(rejected);
                }
                if self.failing {
                    tracing::info!("trace export works again");
                    self.failing = false;
                }
            }
            Err(e) => {
                metrics::counter!(SPANS_DROPPED, "reason" => "export_failed").increment(n);
                if self.failing {
                    tracing::debug!(spans = n, "trace export failed: {e}");
                } else {
                    tracing::warn!(
                        spans = n,
                        "trace export failed: {e}; spans are dropped until it works again"
                    );
                    self.failing = true;
                }
            }
        }
    }
}
