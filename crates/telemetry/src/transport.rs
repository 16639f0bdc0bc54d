//! Sending one encoded export to the collector: OTLP/HTTP (`POST {endpoint}/v1/traces`,
//! `application/x-protobuf`) or OTLP/gRPC (`TraceService/Export` as an HTTP/2 POST of
//! `application/grpc` with a 5-byte length prefix, answered by a `grpc-status` trailer), on
//! a pooled hyper client with rustls for `https` endpoints.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue, TE};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prost::Message;

use crate::proto::ExportTraceServiceResponse;
use crate::{Protocol, TelemetryError};

/// The gRPC method of a trace export.
const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// The OTLP/HTTP path of a trace export.
const HTTP_PATH: &str = "/v1/traces";
/// The most of a collector's answer that is read.
const MAX_RESPONSE: usize = 1 << 20;

/// Where and how exports are sent.
pub(crate) struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: Uri,
    protocol: Protocol,
    headers: HeaderMap,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    /// The collector could not be reached or the connection failed.
    #[error("cannot reach the collector: {0}")]
    Transport(String),
    /// The collector answered with an error.
    #[error("the collector answered {0}")]
    Refused(String),
}

impl Transport {
    /// A transport to `endpoint` (a base URL) speaking `protocol`, adding `headers`.
    pub(crate) fn new(
        endpoint: &str,
        protocol: Protocol,
        headers: &[(String, String)],
    ) -> Result<Self, TelemetryError> {
        let path = match protocol {
            Protocol::Http => HTTP_PATH,
            Protocol::Grpc => GRPC_PATH,
        };
        let base = endpoint.trim_end_matches('/');
        let uri: Uri = format!("{base}{path}")
            .parse()
            .map_err(|_| TelemetryError::Endpoint(endpoint.to_owned()))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(TelemetryError::Endpoint(endpoint.to_owned()));
        }
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let bad = || TelemetryError::Header(name.clone());
            let name = HeaderName::try_from(name.as_str()).map_err(|_| bad())?;
            let value = HeaderValue::try_from(value.as_str()).map_err(|_| bad())?;
            map.append(name, value);
        }
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http();
        let mut builder = Client::builder(TokioExecutor::new());
        let client = match protocol {
            Protocol::Http => {
                builder.build(https.enable_http1().enable_http2().wrap_connector(http))
            }
            // gRPC is HTTP/2 only: prior knowledge on `http`, ALPN `h2` on `https`.
            Protocol::Grpc => builder
                .http2_only(true)
                .build(https.enable_http2().wrap_connector(http)),
        };
        Ok(Self {
            client,
            uri,
            protocol,
            headers: map,
        })
    }

    /// Sends one encoded `ExportTraceServiceRequest`; returns the spans the collector
    /// reported as rejected.
    pub(crate) async fn send(&self, message: Vec<u8>) -> Result<i64, ExportError> {
        let (content_type, body) = match self.protocol {
            Protocol::Http => ("application/x-protobuf", Bytes::from(message)),
            Protocol::Grpc => ("application/grpc", grpc_frame(&message)),
        };
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .body(Full::new(body))
            .map_err(|e| ExportError::Transport(e.to_string()))?;
        let h = req.headers_mut();
        h.extend(self.headers.clone());
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if self.protocol == Protocol::Grpc {
            h.insert(TE, HeaderValue::from_static("trailers"));
        }
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| ExportError::Transport(error_chain(&e)))?;
        let (parts, body) = resp.into_parts();
        let collected = Limited::new(body, MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| ExportError::Transport(e.to_string()))?;
        if !parts.status.is_success() {
            return Err(ExportError::Refused(format!("HTTP {}", parts.status)));
        }
        let payload = match self.protocol {
            Protocol::Http => collected.to_bytes(),
            Protocol::Grpc => {
                // A trailers-only answer carries the status in the headers.
                let trailers = collected.trailers().cloned().unwrap_or_default();
                let status = |name: &str| {
                    trailers
                        .get(name)
                        .or_else(|| parts.headers.get(name))
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                match status("grpc-status").as_deref() {
                    Some("0") => {}
                    code => {
                        let message = status("grpc-message").unwrap_or_default();
                        return Err(ExportError::Refused(format!(
                            "grpc-status {} {message}",
                            code.unwrap_or("(none)")
                        )));
                    }
                }
                let bytes = collected.to_bytes();
                bytes
                    .get(5..)
                    .map(Bytes::copy_from_slice)
                    .unwrap_or_default()
            }
        };
        let rejected = ExportTraceServiceResponse::decode(payload)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_spans);
        Ok(rejected)
    }
}

/// A gRPC message frame: not compressed (one zero byte), the length (4 bytes, big-endian),
/// then the message.
pub fn grpc_frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
