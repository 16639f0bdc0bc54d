//! The request log: exactly one record per request, assembled off the handlers' backs and
//! handed to the store's non-blocking [`LogSink`].
//!
//! A middleware inside the per-request context starts an [`Entry`] with what the request
//! itself says (id, path, client, `x-sluice-user`, `x-sluice-tags`). Handlers add what only
//! they know through the request's [`LogSlot`] (requested model, group, usage; for streams
//! [`observe`] notes the first token, the usage chunk and an error that ended the stream),
//! the router records each attempt in the `CallCx`, and the response's `x-sluice-*` headers
//! name the target that answered. When the response is ready the entry moves into a body
//! wrapper, which completes the record when the body ends or is dropped (a client that hangs
//! up mid-stream). A request whose client hangs up before the response head still leaves its
//! record (status 499) when the middleware's future is dropped.

mod body;
mod query;
mod usage;

pub(crate) use query::{get as get_log, list as list_logs};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http::HeaderMap;
use sluice_providers::{CallCx, ChunkStream};
use sluice_store::{Api, AttemptRecord, LogRecord, LogSink, UsageSource};
use sluice_types::{ChatChunk, GatewayError, Usage};

use crate::{Gateway, RequestCx};
use body::{Capture, CaptureBody, LoggedBody, Tail};
use usage::Tokens;

/// Where request records go, and how much of the bodies they keep.
#[derive(Debug)]
pub struct RequestLog {
    sink: LogSink,
    /// `Some(cap)` when bodies are stored (`logging.bodies`).
    bodies: Option<usize>,
}

impl RequestLog {
    /// Records go to `sink`; with `bodies`, up to `max_body_bytes` of each body are kept.
    pub fn new(sink: LogSink, bodies: bool, max_body_bytes: u64) -> Self {
        let cap = usize::try_from(max_body_bytes).unwrap_or(usize::MAX);
        Self {
            sink,
            bodies: bodies.then_some(cap),
        }
    }

    /// The sink's counters (queue depth, journal size), for metrics.
    pub fn stats(&self) -> sluice_store::LogStats {
        self.sink.stats()
    }
}

/// What a handler learned about its request, for the log.
#[derive(Debug, Default)]
pub(crate) struct LogFacts {
    /// The client API, when the path alone does not say.
    pub api: Option<Api>,
    /// The model name the client sent.
    pub requested_model: Option<String>,
    /// The model group it resolved to.
    pub resolved_model: Option<String>,
    /// The end user named in the body (`user`).
    pub user: Option<String>,
    /// Whether the answer streams.
    pub stream: bool,
    /// Usage the upstream reported.
    pub usage: Option<Usage>,
    /// When a stream's first content arrived.
    pub first_token: Option<Instant>,
    /// The error that ended a stream after it began.
    pub stream_error: Option<GatewayError>,
    /// The virtual key, its team and org (ids).
    pub key: Option<String>,
    pub team: Option<String>,
    pub org: Option<String>,
    /// Tags of the key, team and org, under the request's own `x-sluice-tags`.
    pub tenant_tags: serde_json::Map<String, serde_json::Value>,
    /// What the limits reserved for this request, settled when the record is finished.
    pub permit: Option<sluice_limits::Permit>,
    /// The cost already worked out for a JSON answer (for `x-sluice-cost-usd`), so it is
    /// neither priced nor counted as unknown twice; `Some(None)`: its price is unknown.
    pub cost: Option<Option<sluice_pricing::Usd>>,
    /// The gateway's own count of the prompt, for when a stream ends without usage.
    pub prompt_estimate: Option<PromptCount>,
    /// The text a stream delivered (content, reasoning, tool arguments), for the same case.
    pub delivered: String,
    /// The log's cache outcome when it says more than `x-sluice-cache` (`SEMANTIC-SKIP`,
    /// `SEMANTIC-VETO`).
    pub cache_outcome: Option<&'static str>,
    /// The similarity of a semantic hit, or of the best vetoed match.
    pub cache_score: Option<f64>,
    /// What each guardrail check that ran did (`{check, stage, action, hits, score}`).
    pub guardrails: Vec<serde_json::Value>,
}

impl LogFacts {
    /// Notes who is calling.
    pub(crate) fn note_principal(&mut self, p: &crate::Principal) {
        self.key = p.key.as_ref().map(|t| t.doc.id.clone());
        self.team = p.team.as_ref().map(|t| t.doc.id.clone());
        self.org = p.org.as_ref().map(|t| t.doc.id.clone());
        if let Some(user) = p.default_user() {
            self.user.get_or_insert_with(|| user.to_owned());
        }
        for t in p.chain() {
            for (k, v) in &t.doc.tags {
                self.tenant_tags
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
        }
    }
}

/// A stream's prompt tokens for a record that needs the gateway's own count: already
/// counted (by admission), or the request, counted only if the stream ends without usage.
#[derive(Debug)]
pub(crate) enum PromptCount {
    /// Counted.
    Counted(u64),
    /// To count when needed.
    Later(Arc<sluice_types::ChatRequest>),
}

impl PromptCount {
    fn count(self) -> u64 {
        match self {
            PromptCount::Counted(n) => n,
            PromptCount::Later(req) => sluice_tokens::prompt_tokens(&req),
        }
    }
}

/// The per-request place handlers put [`LogFacts`]; shared by clones, locked only by its
/// own request.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogSlot(Arc<Mutex<LogFacts>>);

impl LogSlot {
    /// Changes the facts.
    pub(crate) fn update(&self, f: impl FnOnce(&mut LogFacts)) {
        if let Ok(mut facts) = self.0.lock() {
            f(&mut facts);
        }
    }

    fn take(&self) -> LogFacts {
        self.0
            .lock()
            .map(|mut facts| std::mem::take(&mut *facts))
            .unwrap_or_default()
    }
}

/// Wraps a chunk stream so the log learns its first token, its usage and an error that
/// ended it, as the chunks go by.
pub(crate) fn observe(chunks: ChunkStream, slot: &LogSlot) -> ChunkStream {
    let slot = slot.clone();
    let mut first = true;
    Box::pin(chunks.inspect(move |item| match item {
        Ok(chunk) => {
            let content = has_content(chunk);
            if content || chunk.usage.is_some() {
                slot.update(|f| {
                    if content && first {
                        f.first_token = Some(Instant::now());
                    }
                    if content && f.delivered.len() < MAX_DELIVERED {
                        delivered_text(chunk, &mut f.delivered);
                    }
                    if let Some(u) = &chunk.usage {
                        f.usage = Some(u.clone());
                    }
                });
                first &= !content;
            }
        }
        Err(e) => slot.update(|f| f.stream_error = Some(e.clone())),
    }))
}

/// The most delivered text kept to count a cut stream's tokens.
const MAX_DELIVERED: usize = 4 << 20;

/// Appends what `chunk` delivered (text, reasoning, refusal, tool-call names and arguments).
fn delivered_text(chunk: &ChatChunk, out: &mut String) {
    for c in &chunk.choices {
        let d = &c.delta;
        for text in [&d.content, &d.reasoning_content, &d.refusal]
            .into_iter()
            .flatten()
        {
            out.push_str(text);
        }
        for call in d.tool_calls.iter().flatten() {
            if let Some(f) = &call.function {
                out.push_str(f.name.as_deref().unwrap_or_default());
                out.push_str(f.arguments.as_deref().unwrap_or_default());
            }
        }
    }
}

fn has_content(chunk: &ChatChunk) -> bool {
    chunk.choices.iter().any(|c| {
        let d = &c.delta;
        d.content.as_deref().is_some_and(|t| !t.is_empty())
            || d.tool_calls.is_some()
            || d.reasoning_content.is_some()
            || d.refusal.is_some()
    })
}

/// The middleware: one record per logged request.
pub async fn record(State(gw): State<Arc<Gateway>>, mut req: Request, next: Next) -> Response {
    let Some(cx) = req.extensions().get::<RequestCx>() else {
        return next.run(req).await;
    };
    let log = gw.log.clone();
    let Some(api) = classify(&gw, req.uri().path()) else {
        return next.run(req).await;
    };
    let metrics = crate::metrics::RequestMetrics::start(req.extensions().get(), &cx.model);
    let h = req.headers();
    let record = LogRecord {
        id: cx.id.to_string(),
        received_at: sluice_store::unix_ms(),
        api,
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        user: header(h, "x-sluice-user"),
        tags: h
            .get("x-sluice-tags")
            .and_then(|v| serde_json::from_slice::<serde_json::Value>(v.as_bytes()).ok())
            .filter(serde_json::Value::is_object),
        client_ip: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_string()),
        user_agent: header(h, "user-agent"),
        ..LogRecord::default()
    };
    let bodies = log.as_ref().and_then(|l| l.bodies);
    let mut entry = Entry {
        gw: gw.clone(),
        log,
        record,
        started: Instant::now(),
        call: cx.call.clone(),
        slot: cx.log.clone(),
        first_byte: None,
        tail: None,
        request_body: None,
        response_body: None,
        secrets: Vec::new(),
        metrics,
    };
    if let Some(cap) = bodies {
        entry.secrets = presented_secrets(req.headers());
        let capture = Arc::new(Mutex::new(Capture::new(cap + slack(&entry.secrets))));
        entry.request_body = Some(capture.clone());
        let body = std::mem::take(req.body_mut());
        *req.body_mut() = Body::new(CaptureBody {
            inner: body,
            capture,
        });
    }
    let mut pending = Pending(Some(entry));
    let resp = next.run(req).await;
    match pending.0.take() {
        Some(entry) => entry.respond(resp),
        None => resp,
    }
}

/// The client API of `path`; `None` for paths that are not logged (health, metrics, admin, UI).
fn classify(gw: &Gateway, path: &str) -> Option<Api> {
    const PASSTHROUGH: &[&str] = &[
        "/v1/images/",
        "/v1/audio/",
        "/v1/files",
        "/v1/batches",
        "/v1/uploads",
        "/v1/moderations",
    ];
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/health") || under("/metrics") || under("/admin") || under("/ui") {
        return None;
    }
    Some(match path {
        "/v1/chat/completions" => Api::Chat,
        "/v1/messages" | "/v1/messages/count_tokens" => Api::Messages,
        "/v1/completions" => Api::Completions,
        "/v1/embeddings" => Api::Embeddings,
        _ if under("/v1/responses") => Api::Responses,
        _ if PASSTHROUGH.iter().any(|p| path.starts_with(p)) => Api::Passthrough,
        _ if path.starts_with("/v1/") => Api::Other,
        _ => {
            let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
            if !first.is_empty() && gw.router.native_provider(first).is_some() {
                Api::Native
            } else {
                Api::Other
            }
        }
    })
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The credentials a client presented, so a stored body never repeats them.
fn presented_secrets(h: &HeaderMap) -> Vec<String> {
    ["authorization", "x-api-key", "api-key"]
        .iter()
        .filter_map(|name| h.get(*name)?.to_str().ok())
        .map(|v| {
            let v = v.trim();
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v)
                .trim()
                .to_owned()
        })
        .filter(|v| v.len() >= 8)
        .collect()
}

/// An entry whose response head is not ready; dropped, it records the hang-up (or panic).
struct Pending(Option<Entry>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut entry) = self.0.take() {
            let r = &mut entry.record;
            if std::thread::panicking() {
                r.status = 500;
                r.error_type = Some("server_error".into());
                r.error_code = Some("internal_error".into());
                r.error_message = Some("the gateway hit an internal error".into());
            } else {
                r.status = 499;
                r.error_type = Some("client_closed".into());
                r.error_message =
                    Some("the client closed the connection before the response".into());
            }
            entry.finish();
        }
    }
}

/// One request's record in the making.
pub(crate) struct Entry {
    gw: Arc<Gateway>,
    /// Where the record goes; `None` when the request log is off (the entry still settles
    /// the request's limits and budget).
    log: Option<Arc<RequestLog>>,
    record: LogRecord,
    started: Instant,
    call: CallCx,
    slot: LogSlot,
    first_byte: Option<Instant>,
    /// The end of a body relayed undecoded, to find its usage in.
    tail: Option<Tail>,
    request_body: Option<Arc<Mutex<Capture>>>,
    response_body: Option<Capture>,
    secrets: Vec<String>,
    /// Counts the request in flight until the entry is gone; fed the finished record.
    metrics: crate::metrics::RequestMetrics,
}

impl Entry {
    /// Notes the response head and moves the entry into the response body.
    fn respond(mut self, resp: Response) -> Response {
        self.slot
            .update(|f| self.metrics.note_key(f.key.as_deref()));
        let r = &mut self.record;
        r.status = resp.status().as_u16();
        if let Some(e) = resp.extensions().get::<GatewayError>() {
            set_error(r, e);
        }
        let h = resp.headers();
        r.provider = header(h, "x-sluice-provider");
        r.upstream_model = header(h, "x-sluice-model");
        r.variant = header(h, "x-sluice-variant");
        r.rule = header(h, "x-sluice-rule");
        r.cache = header(h, "x-sluice-cache");
        let content_type = h
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        r.stream = content_type.starts_with("text/event-stream");
        // Chat and Messages decode their upstream and report usage themselves.
        let decoded = matches!(r.api, Api::Chat | Api::Messages);
        if !decoded && (r.stream || content_type.contains("json")) {
            self.tail = Some(Tail::default());
        }
        if let Some(cap) = self.log.as_ref().and_then(|l| l.bodies) {
            self.response_body = Some(Capture::new(cap + slack(&self.secrets)));
        }
        let (parts, body) = resp.into_parts();
        let body = LoggedBody {
            inner: body,
            entry: Some(self),
            ended: false,
        };
        Response::from_parts(parts, Body::new(body))
    }

    fn on_data(&mut self, data: &Bytes) {
        if self.first_byte.is_none() {
            self.first_byte = Some(Instant::now());
        }
        if let Some(tail) = &mut self.tail {
            tail.push(data);
        }
        if let Some(capture) = &mut self.response_body {
            capture.push(data);
        }
    }

    fn on_body_error(&mut self, message: &str) {
        let r = &mut self.record;
        if r.error_message.is_none() {
            r.error_type = Some("upstream_error".into());
            r.error_message = Some(format!("the response body failed: {message}"));
        }
    }

    /// The response body ended (`complete`) or was dropped before its end.
    fn finish_body(mut self, complete: bool) {
        if !complete {
            let r = &mut self.record;
            r.status = 499;
            r.error_type = Some("client_closed".into());
            r.error_code = None;
            r.error_message = Some("the client closed the connection during the response".into());
        }
        self.finish();
    }

    /// Completes the record and hands it to the sink.
    fn finish(self) {
        let Entry {
            gw,
            log,
            mut record,
            started,
            call,
            slot,
            first_byte,
            tail,
            request_body,
            response_body,
            secrets,
            metrics,
        } = self;
        let cap = log.as_ref().and_then(|l| l.bodies).unwrap_or(0);
        let r = &mut record;
        let facts = slot.take();
        let since = |t: Instant| {
            u64::try_from(t.saturating_duration_since(started).as_millis()).unwrap_or(u64::MAX)
        };
        let received = r.received_at;
        let at = |ms: u64| r_at(received, ms);
        r.first_byte_at = first_byte.map(|t| at(since(t)));
        r.duration_ms = since(Instant::now());
        r.done_at = at(r.duration_ms);
        if let Some(api) = facts.api {
            r.api = api;
        }
        r.requested_model = facts.requested_model;
        r.resolved_model = facts.resolved_model;
        if r.user.is_none() {
            r.user = facts.user;
        }
        r.stream |= facts.stream;
        if r.stream {
            r.ttft_ms = facts.first_token.or(first_byte).map(since);
        }
        if let Some(e) = &facts.stream_error {
            if r.error_message.is_none() || r.status == 499 {
                set_error(r, e);
            }
        }
        r.key = facts.key;
        r.team = facts.team;
        r.org = facts.org;
        if !facts.tenant_tags.is_empty() {
            let mut tags = facts.tenant_tags;
            if let Some(serde_json::Value::Object(own)) = r.tags.take() {
                tags.extend(own);
            }
            r.tags = Some(serde_json::Value::Object(tags));
        }
        if let Some(outcome) = facts.cache_outcome {
            r.cache = Some(outcome.to_owned());
        }
        r.cache_score = facts.cache_score;
        if !facts.guardrails.is_empty() {
            r.guardrails = Some(serde_json::Value::Array(facts.guardrails));
        }
        let cache_hit = matches!(r.cache.as_deref(), Some("HIT" | "SEMANTIC-HIT"));
        if let Some(t) = tail.as_ref().filter(|_| r.upstream_model.is_none()) {
            r.upstream_model = usage::model_of_body(t.head());
        }
        let mut tokens = match &facts.usage {
            Some(u) => Some(Tokens::from(u)),
            None => tail.and_then(|t| usage::of_body(t.head(), &t.concat())),
        };
        r.usage_source = if tokens.is_some() {
            UsageSource::Upstream
        } else {
            UsageSource::None
        };
        if tokens.is_none() && r.stream && r.provider.is_some() && !cache_hit {
            // A stream cut before the provider's usage: count what was sent and delivered.
            if let Some(prompt) = facts.prompt_estimate {
                tokens = Some(Tokens {
                    prompt: Some(prompt.count()),
                    completion: Some(sluice_tokens::completion_tokens(&facts.delivered)),
                    ..Tokens::default()
                });
                r.usage_source = UsageSource::Estimated;
            }
        }
        if let Some(t) = tokens {
            r.prompt_tokens = t.prompt;
            r.completion_tokens = t.completion;
            r.cached_tokens = t.cached;
            r.cache_write_tokens = t.cache_write;
            r.reasoning_tokens = t.reasoning;
        }
        let cost = match (facts.cost, tokens, &r.provider, &r.upstream_model) {
            (Some(priced), ..) => priced,
            (None, Some(t), Some(provider), Some(model)) => {
                gw.pricing.cost(provider, model, &t.priced())
            }
            _ => None,
        };
        if cache_hit {
            r.cost_usd = Some(0.0);
            r.saved_usd = cost.map(sluice_pricing::Usd::as_f64);
        } else {
            r.cost_usd = cost.map(sluice_pricing::Usd::as_f64);
        }
        if let Some(permit) = facts.permit {
            let used = if cache_hit {
                0
            } else {
                tokens.map_or(0, |t| t.prompt.unwrap_or(0) + t.completion.unwrap_or(0))
            };
            let spent = if cache_hit {
                Some(0)
            } else {
                cost.map(|c| c.0)
            };
            let tenancy = gw.tenancy.clone();
            let mut settle = Box::pin(async move {
                let settled = permit.settle(used, spent).await;
                tenancy.settled(&settled).await;
            });
            // In memory the settlement completes at once: do it here rather than wake
            // another worker for it. Redis (or an alert to raise) goes to a task.
            if futures_util::FutureExt::now_or_never(&mut settle).is_none() {
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(settle);
                }
            }
        }
        metrics.finish(r);
        r.attempts = call
            .attempts()
            .into_iter()
            .map(|a| AttemptRecord {
                provider: a.provider.to_string(),
                model: a.model.to_string(),
                outcome: a.outcome.to_owned(),
                status: a.status,
                duration_ms: u64::try_from(a.duration.as_millis()).unwrap_or(u64::MAX),
                dropped: a.dropped,
            })
            .collect();
        if let Some(capture) = request_body {
            if let Ok(c) = capture.lock() {
                r.request_body = body_text(&c, &secrets, cap);
            }
        }
        if let Some(c) = response_body {
            r.response_body = body_text(&c, &secrets, cap);
        }
        if let Some(traces) = &gw.traces {
            traces.export(&record, &call);
        }
        if let Some(log) = log {
            log.sink.send(record);
        }
    }
}

fn r_at(received_at: i64, ms: u64) -> i64 {
    received_at.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))
}

fn set_error(r: &mut LogRecord, e: &GatewayError) {
    r.error_type = Some(e.error_type().to_owned());
    r.error_code = e.code().map(str::to_owned);
    r.error_message = Some(e.message().to_owned());
}

/// Bytes captured beyond the cap, so a credential that starts before the cap is seen whole
/// and blanked out before the text is cut.
fn slack(secrets: &[String]) -> usize {
    secrets.iter().map(String::len).max().unwrap_or(0)
}

/// A captured body as text of at most `cap` bytes, with presented credentials blanked out;
/// binary bodies are described, not stored.
fn body_text(c: &Capture, secrets: &[String], cap: usize) -> Option<String> {
    if c.total == 0 {
        return None;
    }
    let text = match std::str::from_utf8(&c.bytes) {
        Ok(text) => text,
        // Cut inside a character at the cap.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&c.bytes[..e.valid_up_to()]).ok()?
        }
        Err(_) => return Some(format!("[binary body: {} bytes]", c.total)),
    };
    if text.contains('\0') {
        return Some(format!("[binary body: {} bytes]", c.total));
    }
    let mut text = text.to_owned();
    for secret in secrets {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "[REDACTED]");
        }
    }
    let mut cut = text.len() > cap;
    if cut {
        let mut end = cap;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    cut |= c.total > u64::try_from(c.bytes.len()).unwrap_or(u64::MAX);
    if cut {
        text.push_str(&format!("…[truncated: {} bytes in all]", c.total));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_text_without_credentials() {
        let mut c = Capture::new(1024);
        c.push(br#"{"api_key":"sk-secret-123456","q":"hi"}"#);
        let text = body_text(&c, &["sk-secret-123456".to_owned()], 1024);
        assert_eq!(
            text.as_deref(),
            Some(r#"{"api_key":"[REDACTED]","q":"hi"}"#)
        );
        let mut cut = Capture::new(4);
        cut.push("aé€".as_bytes());
        assert_eq!(
            body_text(&cut, &[], 4).as_deref(),
            Some("aé…[truncated: 6 bytes in all]")
        );
        let mut bin = Capture::new(16);
        bin.push(&[0, 159, 146, 150]);
        assert_eq!(
            body_text(&bin, &[], 16).as_deref(),
            Some("[binary body: 4 bytes]")
        );
        assert_eq!(body_text(&Capture::new(4), &[], 4), None);
        // A key that straddles the cap is still blanked out before the cut.
        let secret = "sk-straddle-123456".to_owned();
        let mut edge = Capture::new(8 + slack(std::slice::from_ref(&secret)));
        edge.push(format!("abcdef{secret}xyz").as_bytes());
        let text = body_text(&edge, &[secret], 8).unwrap_or_default();
        assert_eq!(text, "abcdef[R…[truncated: 27 bytes in all]");
    }

    #[test]
    fn paths_name_their_api_and_operations_are_not_logged() {
        let Ok(gw) = Gateway::new(&sluice_config::default_config(&|_| None)) else {
            panic!("the default config builds");
        };
        for (path, api) in [
            ("/v1/chat/completions", Some(Api::Chat)),
            ("/v1/messages", Some(Api::Messages)),
            ("/v1/messages/count_tokens", Some(Api::Messages)),
            ("/v1/responses", Some(Api::Responses)),
            ("/v1/responses/resp_1/input_items", Some(Api::Responses)),
            ("/v1/embeddings", Some(Api::Embeddings)),
            ("/v1/completions", Some(Api::Completions)),
            ("/v1/images/generations", Some(Api::Passthrough)),
            ("/v1/files/file-1/content", Some(Api::Passthrough)),
            ("/v1/models", Some(Api::Other)),
            ("/demo/anything", Some(Api::Native)),
            ("/nope/anything", Some(Api::Other)),
            ("/healthz", Some(Api::Other)),
            ("/health/live", None),
            ("/metrics", None),
            ("/admin/v1/logs", None),
            ("/ui", None),
        ] {
            assert_eq!(classify(&gw, path), api, "{path}");
        }
    }

    #[test]
    fn secrets_come_from_every_credential_header() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            http::HeaderValue::from_static("Bearer sk-one-123456"),
        );
        h.insert("x-api-key", http::HeaderValue::from_static("sk-two-123456"));
        h.insert("api-key", http::HeaderValue::from_static("short"));
        assert_eq!(presented_secrets(&h), ["sk-one-123456", "sk-two-123456"]);
    }
}
