//! An OTLP trace receiver: a collector stand-in on `127.0.0.1:0` that accepts exports over
//! OTLP/HTTP (`POST /v1/traces`, protobuf) and OTLP/gRPC (`TraceService/Export`, HTTP/2
//! with or without TLS negotiation, here cleartext), decodes every span, and keeps them for
//! tests to inspect. It can be told to refuse the next exports, to test an exporter's
//! failure path.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use prost::Message;
use serde_json::Value;
use sluice_telemetry::proto::{
    ExportTraceServiceRequest, ExportTraceServiceResponse, KeyValue, any_value,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// How an export arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/HTTP with protobuf.
    Http,
    /// OTLP/gRPC.
    Grpc,
}

/// One export call as the receiver saw it.
#[derive(Debug, Clone)]
pub struct ReceivedExport {
    /// Its transport.
    pub protocol: OtlpProtocol,
    /// Request headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// Spans it held.
    pub spans: usize,
    /// Whether the receiver refused it.
    pub refused: bool,
}

/// One decoded span.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// How it arrived.
    pub protocol: OtlpProtocol,
    /// Lowercase hex.
    pub trace_id: String,
    /// Lowercase hex.
    pub span_id: String,
    /// Lowercase hex; `None` for a root span.
    pub parent_span_id: Option<String>,
    /// The W3C `tracestate`.
    pub trace_state: String,
    /// Span name.
    pub name: String,
    /// `server`, `client`, or the number of another kind.
    pub kind: String,
    /// Start, Unix nanoseconds.
    pub start_unix_nanos: u64,
    /// End, Unix nanoseconds.
    pub end_unix_nanos: u64,
    /// Attributes as JSON values (strings, integers, doubles).
    pub attributes: BTreeMap<String, Value>,
    /// `StatusCode`: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    /// The status message.
    pub status_message: String,
    /// OTLP span flags (W3C flags in bits 0–7, parent-is-remote in bits 8–9).
    pub flags: u32,
    /// Attributes of the resource (`service.name`, …).
    pub resource: BTreeMap<String, Value>,
}

impl ReceivedSpan {
    /// Attribute `key`, or `Value::Null`.
    pub fn attr(&self, key: &str) -> Value {
        self.attributes.get(key).cloned().unwrap_or(Value::Null)
    }
}

struct Shared {
    spans: Mutex<Vec<ReceivedSpan>>,
    exports: Mutex<Vec<ReceivedExport>>,
    refuse: AtomicUsize,
    /// How many spans were kept, for [`OtlpReceiver::wait_spans`].
    count: watch::Sender<usize>,
}

/// A running OTLP receiver; dropping it stops the server.
pub struct OtlpReceiver {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    count: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl OtlpReceiver {
    /// Starts a receiver on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test environment).
    pub async fn start() -> OtlpReceiver {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("sluice-testkit: cannot bind an OTLP receiver: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("sluice-testkit: no local address: {e}"),
        };
        let (tx, count) = watch::channel(0);
        let shared = Arc::new(Shared {
            spans: Mutex::default(),
            exports: Mutex::default(),
            refuse: AtomicUsize::new(0),
            count: tx,
        });
        let task = tokio::spawn(serve(listener, shared.clone()));
        OtlpReceiver {
            addr,
            shared,
            count,
            task,
        }
    }

    /// The endpoint to configure, for either protocol: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        lock(&self.shared.spans).clone()
    }

    /// Every export call received so far.
    pub fn exports(&self) -> Vec<ReceivedExport> {
        lock(&self.shared.exports).clone()
    }

    /// Refuses the next `n` exports (HTTP 503, or gRPC status 14 `UNAVAILABLE`).
    pub fn refuse_next(&self, n: usize) {
        self.shared.refuse.store(n, Ordering::SeqCst);
    }

    /// Waits until at least `n` spans were received and returns them all. Wrap it in a
    /// timeout in tests.
    pub async fn wait_spans(&self, n: usize) -> Vec<ReceivedSpan> {
        let mut count = self.count.clone();
        let _ = count.wait_for(|c| *c >= n).await;
        self.spans()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                let builder = builder.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(shared.clone(), req));
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Answer>, Infallible> {
    let (parts, body) = req.into_parts();
    let protocol = match (&parts.method, parts.uri.path()) {
        (&Method::POST, "/v1/traces") => OtlpProtocol::Http,
        (&Method::POST, GRPC_PATH) => OtlpProtocol::Grpc,
        _ => {
            return Ok(reply(
                StatusCode::NOT_FOUND,
                "text/plain",
                Bytes::new(),
                None,
            ));
        }
    };
    let Ok(body) = body.collect().await.map(|c| c.to_bytes()) else {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            "text/plain",
            Bytes::new(),
            None,
        ));
    };
    let message = match protocol {
        OtlpProtocol::Http => body,
        OtlpProtocol::Grpc => body.slice(5.min(body.len())..),
    };
    let Ok(export) = ExportTraceServiceRequest::decode(message) else {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            "text/plain",
            Bytes::new(),
            None,
        ));
    };
    let refused = shared
        .refuse
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let spans = flatten(&export, protocol);
    lock(&shared.exports).push(ReceivedExport {
        protocol,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        spans: spans.len(),
        refused,
    });
    if !refused {
        let total = {
            let mut all = lock(&shared.spans);
            all.extend(spans);
            all.len()
        };
        shared.count.send_replace(total);
    }
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    Ok(match (protocol, refused) {
        (OtlpProtocol::Http, false) => reply(
            StatusCode::OK,
            "application/x-protobuf",
            Bytes::from(answer),
            None,
        ),
        (OtlpProtocol::Http, true) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            Bytes::new(),
            None,
        ),
        (OtlpProtocol::Grpc, refused) => {
            let mut trailers = HeaderMap::new();
            let (status, data) = if refused {
                trailers.insert(
                    "grpc-message",
                    HeaderValue::from_static("the receiver refuses exports"),
                );
                ("14", Bytes::new())
            } else {
                ("0", sluice_telemetry::grpc_frame(&answer))
            };
            trailers.insert("grpc-status", HeaderValue::from_static(status));
            reply(StatusCode::OK, "application/grpc", data, Some(trailers))
        }
    })
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    data: Bytes,
    trailers: Option<HeaderMap>,
) -> Response<Answer> {
    let mut resp = Response::new(Answer {
        data: Some(data).filter(|d| !d.is_empty()),
        trailers,
    });
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn flatten(export: &ExportTraceServiceRequest, protocol: OtlpProtocol) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for rs in &export.resource_spans {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
            let status = span.status.clone().unwrap_or_default();
            out.push(ReceivedSpan {
                protocol,
                trace_id: hex(&span.trace_id),
                span_id: hex(&span.span_id),
                parent_span_id: Some(hex(&span.parent_span_id)).filter(|p| !p.is_empty()),
                trace_state: span.trace_state.clone(),
                name: span.name.clone(),
                kind: match span.kind {
                    2 => "server".to_owned(),
                    3 => "client".to_owned(),
                    other => other.to_string(),
                },
                start_unix_nanos: span.start_time_unix_nano,
                end_unix_nanos: span.end_time_unix_nano,
                attributes: attributes(&span.attributes),
                status_code: status.code,
                status_message: status.message,
                flags: span.flags,
                resource: resource.clone(),
            });
        }
    }
    out
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, Value> {
    kvs.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => Value::from(s.as_str()),
                Some(any_value::Value::IntValue(i)) => Value::from(*i),
                Some(any_value::Value::DoubleValue(f)) => Value::from(*f),
                None => Value::Null,
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A response body: optional data, then optional trailers (gRPC's status).
struct Answer {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}
