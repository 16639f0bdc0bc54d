//! The one HTTP transport: pooled keep-alive connections over rustls (HTTP/2 where the
//! upstream offers it), credentials (headers, a SigV4 signature or a Google access token,
//! see [`crate::auth`]), image URLs fetched for providers that cannot (see
//! [`crate::images`]), deadlines, stream framing (see [`crate::driver`]) and transport error
//! capture.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::rt::TokioExecutor;
use sluice_config::{ProviderConfig, ProviderKind, Timeouts};
use sluice_types::{ChatRequest, ChatResponse, ErrorKind, GatewayError, Origin};

use crate::auth::{AWS_SIGNATURE_HEADERS, Auth};
use crate::call::unix_now;
use crate::codec::UNSUPPORTED_PARAMETER;
use crate::driver::{StreamDriver, timeout};
use crate::forward::{DeadlineBody, ForwardRequest, NativeRequest, native_url};
use crate::images::{ImageFetcher, inline_remote_images};
use crate::ratelimit;
use crate::{
    CallCx, ChunkStream, Codec, DecodeCx, Provider, Target, UpstreamBody, UpstreamRequest, box_body,
};

/// Largest upstream body read into memory (non-stream answers and error bodies).
const MAX_UPSTREAM_BODY: usize = 64 << 20;

/// Request headers that carry credentials: never sent upstream from a client on native
/// routes (the provider's own are added in their place).
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "x-api-key", "api-key", "x-goog-api-key"];

/// The pooled client every provider (and the Google token endpoint) is reached with.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

/// A pooled keep-alive client over rustls (HTTP/2 where the server offers it, plain HTTP for
/// `http://` URLs), connecting within `connect_timeout`.
pub(crate) fn http_client(connect_timeout: std::time::Duration) -> HttpClient {
    pooled(https(HttpConnector::new(), connect_timeout))
}

/// `http` (allowed plain `http://` URLs, without Nagle's delay, connecting within
/// `connect_timeout`) wrapped in rustls with the webpki roots, HTTP/2 where the server offers
/// it by ALPN.
pub(crate) fn https<R>(
    mut http: HttpConnector<R>,
    connect_timeout: std::time::Duration,
) -> HttpsConnector<HttpConnector<R>> {
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http)
}

/// A pooled keep-alive client over `connector`.
pub(crate) fn pooled<C: Connect + Clone + Send + Sync + 'static>(
    connector: C,
) -> Client<C, UpstreamBody> {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .build(connector)
}

/// A provider reached over HTTP, speaking the wire format of codec `C`.
pub struct HttpProvider<C: Codec> {
    name: Arc<str>,
    codec: Arc<C>,
    client: HttpClient,
    /// Credentials and configured extra headers, added to every request (shared by the
    /// providers [`HttpProvider::with_codec`] makes).
    auth: Arc<Auth>,
    /// The configured base URL without a trailing slash, for native pass-through.
    base_url: String,
    /// What the provider speaks, for native pass-through's URL and header rules.
    kind: ProviderKind,
    /// Drop parameters the codec cannot honour instead of refusing the request.
    drop_unsupported: bool,
    /// Fetches image URLs for codecs whose provider cannot.
    images: Arc<ImageFetcher>,
}

impl<C: Codec> HttpProvider<C> {
    /// A provider for `cfg` with its own connection pool.
    pub fn new(cfg: &ProviderConfig, codec: C) -> Result<Self, GatewayError> {
        let auth = Auth::for_config(cfg, &|name| std::env::var(name).ok())?;
        Ok(Self {
            name: cfg.name.as_str().into(),
            codec: Arc::new(codec),
            client: http_client(cfg.timeouts.connect),
            auth: Arc::new(auth),
            base_url: cfg.base_url.trim_end_matches('/').to_owned(),
            kind: cfg.kind,
            drop_unsupported: cfg.drop_unsupported,
            images: Arc::new(ImageFetcher::new(&cfg.image_fetch, cfg.timeouts.connect)),
        })
    }

    /// The same provider speaking codec `D`: one name, connection pool and set of credentials
    /// (one cached access token) for the wire formats of one upstream.
    pub(crate) fn with_codec<D: Codec>(&self, codec: D) -> HttpProvider<D> {
        HttpProvider {
            name: self.name.clone(),
            codec: Arc::new(codec),
            client: self.client.clone(),
            auth: self.auth.clone(),
            base_url: self.base_url.clone(),
            kind: self.kind,
            drop_unsupported: self.drop_unsupported,
            images: self.images.clone(),
        }
    }

    /// Sends `headers` and `body` to `url` within `timeouts` (and the request's deadline), and
    /// returns the response head with the deadline that governs the rest of the exchange.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: UpstreamBody,
        timeouts: &Timeouts,
        cx: &CallCx,
    ) -> Result<(Response<Incoming>, Instant), GatewayError> {
        let started = Instant::now();
        let own = started + timeouts.total;
        let deadline = cx.deadline.map_or(own, |d| d.min(own));
        let mut builder = Request::builder().method(method).uri(url);
        if let Some(h) = builder.headers_mut() {
            *h = headers;
        }
        let http_req = builder
            .body(body)
            .map_err(|e| GatewayError::internal(format!("invalid upstream URL {url}: {e}")))?;
        let resp = self
            .send(http_req, timeouts.first_byte, deadline, cx)
            .await?;
        Ok((resp, deadline))
    }

    /// Adds the credentials and sends one request, then waits for the response head, within
    /// the first-byte deadline. A request that is signed has its body read first (within the
    /// same deadline), since the signature covers it; an access token that must be fetched
    /// first is fetched within that deadline too.
    async fn send(
        &self,
        req: Request<UpstreamBody>,
        target_first_byte: std::time::Duration,
        deadline: Instant,
        cx: &CallCx,
    ) -> Result<Response<Incoming>, GatewayError> {
        let started = Instant::now();
        let first_byte = (started + target_first_byte).min(deadline);
        let (mut parts, body) = req.into_parts();
        if let Some(trace) = &cx.trace {
            inject_trace(&mut parts.headers, &trace.context);
        }
        let body = if self.auth.signs() {
            // The server bounds request bodies (`max_body`); chat bodies are already bytes.
            let bytes =
                read_request_body(body, first_byte, &self.name, "the request body to sign").await?;
            self.auth.apply(&mut parts, &bytes, first_byte).await?;
            box_body(bytes)
        } else {
            self.auth.apply(&mut parts, &[], first_byte).await?;
            body
        };
        let req = Request::from_parts(parts, body);
        let res = tokio::time::timeout_at(first_byte.into(), self.client.request(req)).await;
        cx.add_upstream_wait(started.elapsed());
        match res {
            Err(_) => Err(timeout(&self.name, "response headers")),
            Ok(Err(e)) => Err(transport_error(&self.name, &e)),
            Ok(Ok(resp)) => {
                if let Some(wait) = ratelimit::exhausted_for(resp.headers()) {
                    cx.note_exhausted(wait);
                }
                Ok(resp)
            }
        }
    }

    /// Encodes `req`; with `drop_unsupported`, parameters the codec refuses as unsupported are
    /// removed one by one (each with a warning) until it accepts the request.
    fn encode(
        &self,
        req: &ChatRequest,
        target: &Target,
        cx: &CallCx,
    ) -> Result<UpstreamRequest, GatewayError> {
        let mut err = match self.codec.encode(req, target) {
            Ok(up) => return Ok(up),
            Err(e) => e,
        };
        let mut changed: Option<ChatRequest> = None;
        // Each round removes one parameter; a request has only so many.
        for _ in 0..32 {
            let droppable = self.drop_unsupported && err.code() == Some(UNSUPPORTED_PARAMETER);
            let Some(param) = err.param().filter(|_| droppable).map(str::to_owned) else {
                return Err(err);
            };
            let copy = changed.get_or_insert_with(|| req.clone());
            if !copy.remove_param(&param) {
                return Err(err);
            }
            tracing::warn!(provider = %self.name, param, "dropped a parameter the provider cannot honour");
            cx.note_dropped(&param);
            err = match self.codec.encode(copy, target) {
                Ok(up) => return Ok(up),
                Err(e) => e,
            };
        }
        Err(err)
    }

    /// Sends a chat request and returns the successful response head, or the decoded error.
    async fn start_chat(
        &self,
        req: &ChatRequest,
        target: &Target,
        cx: &CallCx,
        deadline: Instant,
    ) -> Result<Response<Incoming>, GatewayError> {
        let fetched = match self.codec.fetches_image_urls() {
            true => {
                let started = Instant::now();
                let fetched = inline_remote_images(&self.images, req, deadline).await;
                cx.add_upstream_wait(started.elapsed());
                fetched?
            }
            false => None,
        };
        let up = self.encode(fetched.as_ref().unwrap_or(req), target, cx)?;
        self.send_encoded(up, target, deadline, cx).await
    }

    /// POSTs an encoded JSON request and returns the successful response head, or the
    /// decoded error.
    async fn send_encoded(
        &self,
        up: UpstreamRequest,
        target: &Target,
        deadline: Instant,
        cx: &CallCx,
    ) -> Result<Response<Incoming>, GatewayError> {
        let mut builder = Request::builder().method(Method::POST).uri(&up.url);
        if let Some(h) = builder.headers_mut() {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            for (k, v) in up.headers {
                h.insert(k, v);
            }
        }
        let http_req = builder
            .body(box_body(up.body))
            .map_err(|e| GatewayError::internal(format!("invalid upstream URL {}: {e}", up.url)))?;
        let resp = self
            .send(http_req, target.timeouts.first_byte, deadline, cx)
            .await?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let (parts, body) = resp.into_parts();
        let body = read_body(&self.name, body, deadline, cx).await?;
        Err(self.upstream_error(&parts, &body))
    }

    /// POSTs an encoded JSON request and returns the successful answer's body.
    pub(crate) async fn call_json(
        &self,
        up: UpstreamRequest,
        target: &Target,
        deadline: Instant,
        cx: &CallCx,
    ) -> Result<Bytes, GatewayError> {
        let resp = self.send_encoded(up, target, deadline, cx).await?;
        read_body(&self.name, resp.into_body(), deadline, cx).await
    }

    /// The provider's name.
    pub(crate) fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Whether parameters the codec cannot honour are dropped instead of refused.
    pub(crate) fn drop_unsupported(&self) -> bool {
        self.drop_unsupported
    }

    /// The error for an upstream error response, keeping its `Retry-After` so the client (and
    /// the router's backoff) wait as long as the upstream asked.
    fn upstream_error(&self, parts: &http::response::Parts, body: &[u8]) -> GatewayError {
        let cx = DecodeCx {
            headers: &parts.headers,
        };
        let e = self.codec.decode_error_response(parts.status, &cx, body);
        match ratelimit::retry_after(&parts.headers) {
            Some(after) => e.with_retry_after(after),
            None => e,
        }
    }
}

impl<C: Codec> Provider for HttpProvider<C> {
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        target: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(async move {
            let deadline = cx.attempt_deadline(target);
            let resp = self.start_chat(req, target, cx, deadline).await?;
            let (parts, body) = resp.into_parts();
            let body = read_body(&self.name, body, deadline, cx).await?;
            let mut resp = self.codec.decode(
                parts.status,
                body,
                &DecodeCx {
                    headers: &parts.headers,
                },
            )?;
            if resp.created == 0 {
                resp.created = unix_now();
            }
            // Formats that do not name the model (Bedrock, Cohere) answer with the target's.
            if resp.model.is_empty() {
                resp.model = target.model.to_string();
            }
            Ok(resp)
        })
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        target: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        Box::pin(async move {
            let deadline = cx.attempt_deadline(target);
            let resp = self.start_chat(req, target, cx, deadline).await?;
            let (parts, body) = resp.into_parts();
            let mut state = C::StreamState::default();
            self.codec.start_stream(
                &mut state,
                &DecodeCx {
                    headers: &parts.headers,
                },
            );
            let state = StreamDriver::new(
                self.name.clone(),
                self.codec.clone(),
                body,
                state,
                deadline,
                target,
            );
            let stream = futures_util::stream::unfold(state, |mut st| async move {
                let item = st.next().await?;
                Some((item, st))
            });
            Ok(Box::pin(stream) as ChunkStream)
        })
    }

    fn forward<'a>(
        &'a self,
        req: ForwardRequest,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<Response<UpstreamBody>, GatewayError>> {
        Box::pin(async move {
            if req.method == Method::POST && req.path == "/embeddings" {
                if let Some(e) = self.codec.embedder() {
                    return self.embed(e, req, cx).await;
                }
            }
            let url =
                self.codec
                    .forward_url(&req.path, req.query.as_deref(), req.model.as_deref())?;
            let (resp, deadline) = self
                .exchange(req.method, &url, req.headers, req.body, &req.timeouts, cx)
                .await?;
            let (parts, body) = resp.into_parts();
            if !parts.status.is_success() {
                let body = read_body(&self.name, body, deadline, cx).await?;
                return Err(self.upstream_error(&parts, &body));
            }
            let body = DeadlineBody::new(body, deadline).boxed_unsync();
            Ok(Response::from_parts(parts, body))
        })
    }

    fn forward_native<'a>(
        &'a self,
        req: NativeRequest,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<Response<UpstreamBody>, GatewayError>> {
        Box::pin(async move {
            let url = native_url(&self.base_url, self.kind, &req.path, req.query.as_deref());
            let mut headers = req.headers;
            for name in CREDENTIAL_HEADERS.iter().chain(AWS_SIGNATURE_HEADERS) {
                headers.remove(*name);
            }
            if self.kind == ProviderKind::Anthropic && !headers.contains_key("anthropic-version") {
                headers.insert(
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static(crate::anthropic::wire::ANTHROPIC_VERSION),
                );
            }
            if let Ok(id) = HeaderValue::from_str(&cx.request_id) {
                headers.insert(HeaderName::from_static("x-request-id"), id);
            }
            let (resp, deadline) = self
                .exchange(req.method, &url, headers, req.body, &req.timeouts, cx)
                .await?;
            let (parts, body) = resp.into_parts();
            let is_stream = parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    let v = v.trim_start();
                    v.starts_with("text/event-stream")
                        || v.starts_with("application/vnd.amazon.eventstream")
                });
            let mut body = DeadlineBody::new(body, deadline);
            if is_stream {
                body = body.with_idle(req.timeouts.idle);
            }
            Ok(Response::from_parts(parts, body.boxed_unsync()))
        })
    }
}

/// Sets `traceparent` and `tracestate` to `trace`'s, replacing what a client sent on a
/// pass-through route (a client `tracestate` without a valid `traceparent` is removed).
fn inject_trace(headers: &mut HeaderMap, trace: &sluice_telemetry::TraceContext) {
    headers.insert(HeaderName::from_static("traceparent"), trace.traceparent());
    match trace.tracestate() {
        Some(state) => headers.insert(HeaderName::from_static("tracestate"), state),
        None => headers.remove("tracestate"),
    };
}

/// Reads a whole upstream body within `deadline`, booking the time as upstream wait.
async fn read_body(
    name: &str,
    body: Incoming,
    deadline: Instant,
    cx: &CallCx,
) -> Result<Bytes, GatewayError> {
    let started = Instant::now();
    let limited = http_body_util::Limited::new(body, MAX_UPSTREAM_BODY);
    let res = tokio::time::timeout_at(deadline.into(), limited.collect()).await;
    cx.add_upstream_wait(started.elapsed());
    match res {
        Err(_) => Err(timeout(name, "the response body")),
        Ok(Err(e)) => Err(GatewayError::new(
            ErrorKind::UpstreamReset,
            Origin::Upstream,
            format!("provider {name}: the connection failed while reading the response: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// A client error with the chain of its sources: `error: source: source's source`.
pub(crate) fn error_detail(e: &hyper_util::client::legacy::Error) -> String {
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    detail
}

fn transport_error(name: &str, e: &hyper_util::client::legacy::Error) -> GatewayError {
    let detail = error_detail(e);
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if s.is::<http_body_util::LengthLimitError>() {
            return GatewayError::new(
                ErrorKind::PayloadTooLarge,
                Origin::Client,
                "the request body is larger than this gateway accepts",
            );
        }
        src = s.source();
    }
    if e.is_connect() {
        GatewayError::new(
            ErrorKind::UpstreamConnect,
            Origin::Upstream,
            format!("could not connect to provider {name}: {detail}"),
        )
    } else {
        GatewayError::new(
            ErrorKind::UpstreamReset,
            Origin::Upstream,
            format!("provider {name} closed the connection: {detail}"),
        )
    }
}

/// The whole of a client's request `body`, read by `deadline`; running out of time is the
/// provider's timeout (naming `what` it was waiting for), a body that fails is the client's.
pub(crate) async fn read_request_body(
    body: UpstreamBody,
    deadline: Instant,
    provider: &str,
    what: &str,
) -> Result<Bytes, GatewayError> {
    match tokio::time::timeout_at(deadline.into(), body.collect()).await {
        Err(_) => Err(timeout(provider, what)),
        Ok(Err(e)) => Err(GatewayError::new(
            ErrorKind::InvalidRequest,
            Origin::Client,
            format!("could not read the request body: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}
