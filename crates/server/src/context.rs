//! Per-request context: the request id, the deadline, the trace context, overhead
//! accounting, panic capture, the access log and the request metrics, applied around every
//! route; and the request's spans, built from its finished record.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue};
use sluice_config::{Config, Preset, ProviderKind};
use sluice_providers::CallCx;
use sluice_router::Router;
use sluice_store::{Api, LogRecord};
use sluice_telemetry::genai::{AttemptFacts, RequestFacts, Upstream, Usage, request_spans};
use sluice_telemetry::{TraceContext, Traced, Tracer};
use sluice_types::GatewayError;

use crate::ApiError;
use crate::metrics::{self, ModelSlot};

/// Longest accepted `x-request-id`.
const MAX_REQUEST_ID: usize = 128;

/// What every handler knows about its request.
#[derive(Clone)]
pub struct RequestCx {
    /// The request id (`x-request-id`).
    pub id: Arc<str>,
    /// Deadline and upstream time accounting, shared with providers.
    pub call: CallCx,
    /// The requested model, as the metrics label it becomes.
    pub(crate) model: ModelSlot,
    /// What handlers learn for the request log.
    pub(crate) log: crate::reqlog::LogSlot,
}

impl RequestCx {
    /// Notes the model the client asked for, for the request metrics (the first call wins).
    pub(crate) fn note_model(&self, router: &Router, requested: &str) {
        self.model.set(router, requested);
    }
}

/// Reads or makes the request id, applies `x-sluice-timeout`, continues or starts the trace,
/// catches panics, stamps `x-request-id` and `x-sluice-overhead-us` on the response, and
/// logs and counts the request.
pub async fn around(
    State(gw): State<Arc<crate::Gateway>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id: Arc<str> = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(new_request_id, Into::into);
    let mut log = AccessLog {
        id: id.clone(),
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        route: req.extensions().get::<MatchedPath>().cloned(),
        model: ModelSlot::default(),
        started,
        logged: false,
    };
    let deadline = match req.headers().get("x-sluice-timeout").map(parse_timeout) {
        None => Ok(None),
        Some(Ok(d)) => Ok(Some(started + d)),
        Some(Err(e)) => Err(e),
    };
    let mut call = CallCx::new(id.clone(), deadline.as_ref().ok().copied().flatten());
    call.trace = trace(gw.traces.as_ref().map(|t| &t.tracer), req.headers());
    req.extensions_mut().insert(RequestCx {
        id: id.clone(),
        call: call.clone(),
        model: log.model.clone(),
        log: crate::reqlog::LogSlot::default(),
    });
    let mut resp = match deadline {
        Err(e) => ApiError(e).into_response(),
        Ok(_) => match std::panic::AssertUnwindSafe(next.run(req))
            .catch_unwind()
            .await
        {
            Ok(resp) => resp,
            Err(_) => {
                tracing::error!(request_id = %id, "handler panicked");
                ApiError(GatewayError::internal("the gateway hit an internal error"))
                    .into_response()
            }
        },
    };
    let overhead = started.elapsed().saturating_sub(call.upstream_wait());
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    h.insert(
        "x-sluice-overhead-us",
        HeaderValue::from(u64::try_from(overhead.as_micros()).unwrap_or(u64::MAX)),
    );
    let error = resp
        .extensions()
        .get::<GatewayError>()
        .map(|e| e.message().to_owned());
    log.write(resp.status().as_u16(), Some(overhead), error.as_deref());
    resp
}

/// The access log line and metrics of one request. A request whose client hung up before the
/// response head was ready is still logged and counted, as status 499, when its future is
/// dropped.
struct AccessLog {
    id: Arc<str>,
    method: http::Method,
    path: String,
    /// The route template that matched, for the metrics.
    route: Option<MatchedPath>,
    model: ModelSlot,
    started: Instant,
    logged: bool,
}

impl AccessLog {
    /// Logs and counts the request; `overhead` is `None` when it is unknown (client gone).
    fn write(&mut self, status: u16, overhead: Option<Duration>, error: Option<&str>) {
        self.logged = true;
        let duration = self.started.elapsed();
        metrics::record_request(self.route.as_ref(), &self.model, status, duration, overhead);
        let overhead_us = overhead.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        tracing::info!(
            target: "sluice::access",
            request_id = %self.id,
            method = %self.method,
            path = self.path,
            status,
            duration_ms = duration.as_secs_f64() * 1000.0,
            overhead_us,
            error,
            "request"
        );
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        if !self.logged {
            self.write(
                499,
                None,
                Some("the client closed the connection before the response"),
            );
        }
    }
}

/// The request's trace: with traces on, the caller's `traceparent` continued (or a new
/// trace); with them off, only a valid caller context, passed on to upstreams as it is.
fn trace(tracer: Option<&Tracer>, h: &HeaderMap) -> Option<Traced> {
    let incoming = h.get("traceparent").and_then(|tp| {
        TraceContext::parse(
            tp.as_bytes(),
            h.get("tracestate").map(HeaderValue::as_bytes),
        )
    });
    match tracer {
        Some(tracer) => Some(tracer.start(incoming)),
        None => incoming.map(|context| Traced {
            context,
            recording: None,
        }),
    }
}

/// The gateway's traces: the tracer, and what spans say about each configured provider.
pub(crate) struct Traces {
    tracer: Tracer,
    upstreams: HashMap<String, UpstreamFacts>,
}

/// A provider as spans name it.
struct UpstreamFacts {
    /// `gen_ai.provider.name`.
    system: String,
    /// The base URL's host and port.
    address: Option<String>,
    port: Option<u16>,
}

impl Traces {
    /// Traces for `config` through `tracer`.
    pub(crate) fn new(tracer: Tracer, config: &Config) -> Self {
        let upstreams = config
            .providers
            .iter()
            .map(|p| {
                let (address, port) = host_port(&p.base_url).unzip();
                let facts = UpstreamFacts {
                    system: genai_provider(p.kind).unwrap_or(&p.name).to_owned(),
                    address,
                    port: port.flatten(),
                };
                (p.name.clone(), facts)
            })
            .collect();
        Self { tracer, upstreams }
    }

    /// Builds the spans of a finished request from its record and attempts, and queues them
    /// for export (nothing when the request is not recorded).
    pub(crate) fn export(&self, record: &LogRecord, call: &CallCx) {
        let Some(traced) = call.trace.as_ref().filter(|t| t.recording.is_some()) else {
            return;
        };
        let upstream = |provider: &'_ str, model| -> Option<Upstream<'_>> {
            let (name, facts) = self.upstreams.get_key_value(provider)?;
            Some(Upstream {
                provider: name,
                system: &facts.system,
                address: facts.address.as_deref(),
                port: facts.port,
                model,
            })
        };
        let answered = match (&record.provider, &record.upstream_model) {
            (Some(p), Some(m)) => upstream(p, m),
            _ => None,
        };
        let facts = RequestFacts {
            request_id: &record.id,
            method: &record.method,
            path: &record.path,
            operation: operation(record.api, &record.method, &record.path),
            requested_model: record.requested_model.as_deref(),
            answered,
            status: record.status,
            error_type: record.error_type.as_deref(),
            error_message: record.error_message.as_deref(),
            usage: Usage {
                input: record.prompt_tokens,
                output: record.completion_tokens,
                cache_read: record.cached_tokens,
                cache_write: record.cache_write_tokens,
            },
            cost_usd: record.cost_usd,
            key: record.key.as_deref(),
            team: record.team.as_deref(),
            cache: record.cache.as_deref(),
            end: Instant::now(),
        };
        let notes = call.attempts();
        let attempts: Vec<AttemptFacts<'_>> = notes
            .iter()
            .filter_map(|a| {
                Some(AttemptFacts {
                    span_id: a.span?,
                    upstream: upstream(&a.provider, &a.model)?,
                    started: a.started,
                    duration: a.duration,
                    outcome: a.outcome,
                    status: a.status,
                })
            })
            .collect();
        self.tracer.submit(request_spans(traced, &facts, &attempts));
    }
}

/// The GenAI operation of a request, when its API says.
fn operation(api: Api, method: &str, path: &str) -> Option<&'static str> {
    match (api, method, path) {
        (Api::Chat, ..) | (Api::Messages, "POST", "/v1/messages") => Some("chat"),
        (Api::Responses, "POST", "/v1/responses") => Some("chat"),
        (Api::Embeddings, ..) => Some("embeddings"),
        (Api::Completions, ..) => Some("text_completion"),
        _ => None,
    }
}

/// `gen_ai.provider.name` of a provider kind: the semantic conventions' well-known value,
/// else the vendor's kind name; `None` where the config name says more (a generic
/// OpenAI-compatible server, the demo).
fn genai_provider(kind: ProviderKind) -> Option<&'static str> {
    Some(match kind {
        ProviderKind::OpenAiCompatible(preset) => match preset {
            Preset::Generic => return None,
            Preset::OpenAi => "openai",
            Preset::Groq => "groq",
            Preset::Mistral => "mistral_ai",
            Preset::DeepSeek => "deepseek",
            Preset::Xai => "x_ai",
            Preset::Perplexity => "perplexity",
            other => other.kind_name(),
        },
        ProviderKind::AzureOpenAi => "azure.ai.openai",
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::Gemini => "gcp.gemini",
        ProviderKind::Bedrock => "aws.bedrock",
        ProviderKind::Cohere => "cohere",
        ProviderKind::Vertex => "gcp.vertex_ai",
        ProviderKind::Demo => return None,
    })
}

/// The host and port of a base URL (the scheme's port when it names none).
fn host_port(url: &str) -> Option<(String, Option<u16>)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let default = match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    // `[::1]:8080`, `host:8080`, or a bare host.
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()),
        _ => (authority, default),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

fn new_request_id() -> Arc<str> {
    format!("req_{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)).into()
}

/// Parses `x-sluice-timeout` (`250ms`, `20s`, `2m`) with the config's duration syntax.
fn parse_timeout(v: &HeaderValue) -> Result<Duration, GatewayError> {
    let bad = |why: String| {
        GatewayError::invalid_request(format!("invalid x-sluice-timeout: {why}"))
            .with_param("x-sluice-timeout")
    };
    let text = v.to_str().map_err(|_| bad("not text".into()))?;
    let d = sluice_config::units::parse_duration(text.trim()).map_err(|e| bad(e.to_string()))?;
    if d.is_zero() {
        return Err(bad("must be longer than zero".into()));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse() {
        let p = |s: &str| {
            parse_timeout(&HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("x")))
        };
        assert_eq!(p("250ms").ok(), Some(Duration::from_millis(250)));
        assert_eq!(p("20s").ok(), Some(Duration::from_secs(20)));
        assert_eq!(p("2m").ok(), Some(Duration::from_secs(120)));
        assert!(p("soon").is_err());
        assert!(p("0s").is_err());
        assert!(p("").is_err());
    }

    #[test]
    fn upstream_addresses_come_from_base_urls() {
        let hp = |url: &str| host_port(url);
        assert_eq!(
            hp("https://api.openai.com/v1"),
            Some(("api.openai.com".into(), Some(443)))
        );
        assert_eq!(
            hp("http://127.0.0.1:8000/v1"),
            Some(("127.0.0.1".into(), Some(8000)))
        );
        assert_eq!(hp("http://[::1]:9/x"), Some(("::1".into(), Some(9))));
        assert_eq!(hp("http://[::1]/x"), Some(("::1".into(), Some(80))));
        assert_eq!(hp(""), None);
    }

    #[test]
    fn only_inference_apis_name_an_operation() {
        assert_eq!(
            operation(Api::Chat, "POST", "/v1/chat/completions"),
            Some("chat")
        );
        assert_eq!(
            operation(Api::Messages, "POST", "/v1/messages"),
            Some("chat")
        );
        assert_eq!(
            operation(Api::Messages, "POST", "/v1/messages/count_tokens"),
            None
        );
        assert_eq!(operation(Api::Responses, "GET", "/v1/responses/r_1"), None);
        assert_eq!(
            operation(Api::Embeddings, "POST", "/v1/embeddings"),
            Some("embeddings")
        );
        assert_eq!(
            operation(Api::Native, "POST", "/openai/v1/chat/completions"),
            None
        );
    }

    #[test]
    fn an_incoming_traceparent_is_passed_on_even_with_traces_off() {
        let mut h = HeaderMap::new();
        assert!(trace(None, &h).is_none());
        h.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let passed = trace(None, &h).unwrap_or_else(|| panic!("a valid traceparent"));
        assert!(passed.recording.is_none());
        assert_eq!(passed.context.span_id.to_string(), "00f067aa0ba902b7");
        h.insert("traceparent", HeaderValue::from_static("garbage"));
        assert!(trace(None, &h).is_none());
    }
}
