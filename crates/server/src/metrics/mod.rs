//! Prometheus metrics: `GET /metrics` in the text exposition format (version 0.0.4).
//!
//! Code records through the `metrics` facade (the router does, for attempts, retries,
//! fallbacks and hedges) or straight into the [`Registry`] (the request middleware does, for
//! requests, durations and overhead). The registry is this module's own: atomics in sharded
//! maps with fixed-bucket histograms (see `registry`), rendered by hand, so no exporter and
//! no second HTTP stack come along. Target state (circuit breaker, in-flight requests) is not
//! recorded at all: it is read from the router's groups when a scrape asks.
//!
//! Labels are bounded by design. `route` is the matched route template, never the raw path;
//! `model` is a configured model name, `provider/*` for a direct call, `""` when the request
//! named none, and `other` for anything else a client sent; providers and upstream models
//! come from the config. The one exception is opt-in: `metrics.per_key` adds the virtual
//! key's id to the request, token and cost counters. Like the registry, that setting is the
//! process's.
//!
//! What a request's finished record adds (tokens, cost, cache outcome, time to first token)
//! and the gateway-wide in-flight count are in `request`; the log pipeline's gauges are read
//! from the gateway when a scrape asks.

mod registry;
mod request;

pub(crate) use request::RequestMetrics;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Once, OnceLock};
use std::time::Duration;

use axum::extract::{MatchedPath, State};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http::{HeaderValue, header};
use metrics::{Histogram, Key, Label, SharedString};
use sluice_providers::{ChunkStream, Target};
use sluice_router::{CircuitState, Router};

use crate::Gateway;
use registry::{Facade, Registry, family_head, sample};

/// `Content-Type` of the text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Requests answered, by route, model and status.
const REQUESTS: &str = "sluice_requests_total";
/// Request duration until the response head, by route and model.
const DURATION: &str = "sluice_request_duration_seconds";
/// The gateway's own time per request (the `x-sluice-overhead-us` header).
pub(crate) const OVERHEAD: &str = "sluice_gateway_overhead_seconds";
/// Streams that failed after they began, by provider.
const STREAM_ERRORS: &str = "sluice_stream_errors_total";
/// Circuit state per target, read at scrape time.
const CIRCUIT: &str = "sluice_circuit_state";
/// Requests in flight per target, read at scrape time.
const IN_FLIGHT: &str = "sluice_target_in_flight";
/// Always 1, labelled with the version.
const BUILD_INFO: &str = "sluice_build_info";
/// Records waiting in the request log's in-memory queue, read at scrape time.
const LOG_QUEUE: &str = "sluice_log_queue_depth";
/// Bytes in the request log's journal not yet replayed, read at scrape time.
const LOG_JOURNAL: &str = "sluice_log_journal_bytes";

/// The `route` label of a request that matched no route.
const UNMATCHED_ROUTE: &str = "unmatched";
/// The `model` label of a name that is neither configured nor `provider/…`.
const OTHER_MODEL: &str = "other";

/// Help text of every metric recorded through the registry, the router's included.
const HELP: &[(&str, &str)] = &[
    (
        REQUESTS,
        "Requests answered, by route template, requested model and HTTP status.",
    ),
    (
        DURATION,
        "Seconds from a request's arrival to its response head (for streams, the first content), by route template and requested model.",
    ),
    (
        OVERHEAD,
        "Seconds a request spent in the gateway itself: its duration minus the time spent waiting on upstreams (the x-sluice-overhead-us header).",
    ),
    (
        "sluice_upstream_attempts_total",
        "Upstream calls, by provider, upstream model and outcome: ok, cancelled (a hedge that lost) or the error class.",
    ),
    (
        "sluice_upstream_latency_seconds",
        "Seconds to answer of successful upstream calls (for streams, until the first content), by provider and upstream model.",
    ),
    (
        "sluice_retries_total",
        "Attempts after the first within one model's targets, by model.",
    ),
    (
        "sluice_fallbacks_total",
        "Moves from a model whose attempts failed to one of its fallbacks.",
    ),
    (
        "sluice_hedges_total",
        "Second attempts started because the first had no answer within the model's hedge delay.",
    ),
    (
        STREAM_ERRORS,
        "Streams that failed after they began (the client got an error event), by provider.",
    ),
    (
        sluice_cache::HITS,
        "Chat requests answered from the response cache, by model.",
    ),
    (
        sluice_cache::MISSES,
        "Response cache lookups that found no entry (or failed), by model.",
    ),
    (
        sluice_cache::BYTES,
        "Bytes of the answers held by the in-memory response cache.",
    ),
    (
        sluice_cache::EVICTIONS,
        "Entries the in-memory response cache removed, by reason: size (to make room) or expired.",
    ),
    (
        sluice_cache::semantic::HITS,
        "Requests answered by a semantic cache match (a question meaning the same, verified), by model.",
    ),
    (
        sluice_cache::semantic::SKIPS,
        "Requests the semantic cache did not compare, by model and reason: temperature, tools, content (the last message is not a user's text) or embedder (failed or slower than embed_timeout).",
    ),
    (
        sluice_cache::semantic::VETOES,
        "Semantic cache lookups whose matches above the threshold were all refused by the verifier, by model.",
    ),
    (
        crate::cost::COST_UNKNOWN,
        "Requests whose model has no known price (their cost is recorded as null), by provider.",
    ),
    (
        sluice_limits::REDIS_ERRORS,
        "Limit admissions and settlements that could not use Redis, by op (admit or settle); limits.on_redis_error decided what happened to the request.",
    ),
    (
        crate::tenancy::REJECTED,
        "Requests refused by a rate limit, budget or parallel cap, by code (rate_limit_exceeded_requests_key, budget_exceeded, ...).",
    ),
    (
        request::TOKENS,
        "Tokens of answered requests (not cache hits) by provider and type: prompt, completion, cached (prompt tokens read from the provider's cache), cache_write, reasoning (completion tokens spent reasoning).",
    ),
    (
        request::COST,
        "Cost in US dollars of answered requests, by provider; cache hits cost nothing.",
    ),
    (
        request::CACHE_REQUESTS,
        "Requests with a response cache outcome, by model and outcome: hit, semantic-hit, miss or bypass.",
    ),
    (
        request::TTFT,
        "Seconds from a stream's arrival to its first content, by route template and requested model.",
    ),
    (
        crate::guardrails::ACTIONS,
        "Guardrail checks that ran, by check and action: block, mask or flag when the check fired, pass when it found nothing.",
    ),
    (
        crate::tenancy::alerts::ALERTS,
        "Budget soft alerts raised (once per budget and period, when its committed spend reached alert_at of the amount), by level.",
    ),
];

/// Every series of this process.
static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    let r = Registry::new();
    for (name, help) in HELP {
        r.describe(name, help);
    }
    r
});

/// The overhead histogram has no labels: one handle for the life of the process.
static OVERHEAD_HISTOGRAM: LazyLock<Histogram> =
    LazyLock::new(|| REGISTRY.histogram(&Key::from_static_name(OVERHEAD)));

/// Whether the request, token and cost counters carry the virtual key (`metrics.per_key`).
static PER_KEY: AtomicBool = AtomicBool::new(false);

fn per_key() -> bool {
    PER_KEY.load(Ordering::Relaxed)
}

/// Makes the registry the process's `metrics` recorder, once, and sets whether series carry
/// the virtual key (`metrics.per_key`; the registry is the process's, so the gateway built
/// last decides). When something else installed a recorder first, what is recorded through
/// the facade goes there instead, and `/metrics` shows only what the server records itself.
pub(crate) fn install(per_key: bool) {
    PER_KEY.store(per_key, Ordering::Relaxed);
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if metrics::set_global_recorder(Facade(&REGISTRY)).is_err() {
            tracing::warn!(
                "another metrics recorder is installed: /metrics will miss router metrics"
            );
        }
    });
}

/// The requested model of one request, as a bounded `model` label, and (with
/// `metrics.per_key`) its virtual key. Each is set once by the code that learns it; read by
/// the middleware when the request ends.
#[derive(Clone, Default)]
pub(crate) struct ModelSlot(Arc<SlotLabels>);

#[derive(Default)]
struct SlotLabels {
    model: OnceLock<Arc<str>>,
    key: OnceLock<Arc<str>>,
}

impl ModelSlot {
    /// Notes that the client asked for `requested` (bounded with [`model_label`]).
    pub(crate) fn set(&self, router: &Router, requested: &str) {
        let _ = self.0.model.set(model_label(router, requested).into());
    }

    fn label(&self) -> Arc<str> {
        self.0.model.get().cloned().unwrap_or_else(|| Arc::from(""))
    }

    fn set_key(&self, key: &str) {
        let _ = self.0.key.set(key.into());
    }

    fn key(&self) -> Arc<str> {
        self.0.key.get().cloned().unwrap_or_else(|| Arc::from(""))
    }
}

/// The `model` label for a name a client sent: the name itself when it is configured,
/// `provider/*` for a direct `provider/model` call to a configured provider, `""` for no
/// name, and `other` for anything else, so no client can mint new series.
pub(crate) fn model_label(router: &Router, requested: &str) -> String {
    if requested.is_empty() {
        return String::new();
    }
    if router.group(requested).is_some() || router.model_names().iter().any(|n| n == requested) {
        return requested.to_owned();
    }
    match requested.split_once('/') {
        Some((provider, _)) if router.provider(provider).is_some() => format!("{provider}/*"),
        _ => OTHER_MODEL.to_owned(),
    }
}

/// Records one finished request: its count by status, its duration, and the gateway's
/// overhead when known (a request whose client left has none).
pub(crate) fn record_request(
    route: Option<&MatchedPath>,
    model: &ModelSlot,
    status: u16,
    duration: Duration,
    overhead: Option<Duration>,
) {
    let route = route_label(route);
    let key = per_key().then(|| SharedString::from(model.key()));
    let model = SharedString::from(model.label());
    let mut labels = vec![
        Label::new("route", route.clone()),
        Label::new("model", model.clone()),
        Label::new("status", status_label(status)),
    ];
    labels.extend(key.map(|k| Label::new("key", k)));
    REGISTRY
        .counter(&Key::from_parts(REQUESTS, labels))
        .increment(1);
    let duration_key = Key::from_parts(
        DURATION,
        vec![Label::new("route", route), Label::new("model", model)],
    );
    REGISTRY
        .histogram(&duration_key)
        .record(duration.as_secs_f64());
    if let Some(overhead) = overhead {
        OVERHEAD_HISTOGRAM.record(overhead.as_secs_f64());
    }
}

/// The `route` label: the matched route template, or `unmatched`.
fn route_label(route: Option<&MatchedPath>) -> SharedString {
    route.map_or(UNMATCHED_ROUTE.into(), |m| {
        SharedString::from(Arc::<str>::from(m.as_str()))
    })
}

/// Common statuses without an allocation.
fn status_label(status: u16) -> SharedString {
    let s: &'static str = match status {
        200 => "200",
        201 => "201",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        413 => "413",
        429 => "429",
        499 => "499",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => return status.to_string().into(),
    };
    s.into()
}

/// `chunks`, counting a failure after the stream began against `target`'s provider.
pub(crate) fn watch_stream(chunks: ChunkStream, target: &Target) -> ChunkStream {
    let provider = target.provider.clone();
    let mut counted = false;
    Box::pin(chunks.inspect(move |item| {
        if item.is_err() && !counted {
            counted = true;
            let key = Key::from_parts(
                STREAM_ERRORS,
                vec![Label::new("provider", SharedString::from(provider.clone()))],
            );
            REGISTRY.counter(&key).increment(1);
        }
    }))
}

/// `GET /metrics`: every series in the Prometheus text format.
pub async fn render(State(gw): State<Arc<Gateway>>) -> Response {
    let mut out = String::with_capacity(16 * 1024);
    REGISTRY.render(&mut out);
    render_targets(&gw.router, &mut out);
    render_gauges(&gw, &mut out);
    family_head(
        &mut out,
        BUILD_INFO,
        Some("Always 1; the version label says which Sluice is running."),
        "gauge",
    );
    sample(
        &mut out,
        BUILD_INFO,
        "",
        &[("version", env!("CARGO_PKG_VERSION"))],
        None,
        1.0,
    );
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT))],
        out,
    )
        .into_response()
}

/// The circuit state and in-flight count of every target of every configured model, read
/// now. A target is labelled with its group too, since one provider and model can be a
/// target of several groups, each with its own breaker.
fn render_targets(router: &Router, out: &mut String) {
    let mut circuits = String::new();
    let mut in_flight = String::new();
    for group in router.model_names().iter().filter_map(|n| router.group(n)) {
        for slot in &group.slots {
            let h = slot.health();
            let labels = [
                ("provider", &*slot.target.provider),
                ("model", &*slot.target.model),
                ("group", group.name.as_str()),
            ];
            sample(
                &mut circuits,
                CIRCUIT,
                "",
                &labels,
                None,
                circuit_value(h.circuit),
            );
            sample(
                &mut in_flight,
                IN_FLIGHT,
                "",
                &labels,
                None,
                h.in_flight as f64,
            );
        }
    }
    family_head(
        out,
        CIRCUIT,
        Some("Circuit breaker state per target: 0 closed, 1 half-open, 2 open."),
        "gauge",
    );
    out.push_str(&circuits);
    family_head(
        out,
        IN_FLIGHT,
        Some("Requests in flight per target."),
        "gauge",
    );
    out.push_str(&in_flight);
}

/// The gateway-wide gauges, read now: requests in flight and, when requests are logged, the
/// log's queue depth and journal size.
fn render_gauges(gw: &Gateway, out: &mut String) {
    let mut gauge = |name: &str, help: &str, value: f64| {
        family_head(out, name, Some(help), "gauge");
        sample(out, name, "", &[] as &[(&str, &str)], None, value);
    };
    gauge(
        request::IN_FLIGHT_REQUESTS,
        "API requests in flight: arrived, and their response body not yet ended.",
        request::in_flight() as f64,
    );
    if let Some(stats) = gw.log_stats() {
        gauge(
            LOG_QUEUE,
            "Request records waiting in the log's in-memory queue.",
            stats.queued as f64,
        );
        gauge(
            LOG_JOURNAL,
            "Bytes of request records in the log's journal on disk, waiting to be replayed into the store.",
            stats.journal_bytes as f64,
        );
    }
}

/// 0 closed, 1 half-open, 2 open.
fn circuit_value(state: CircuitState) -> f64 {
    match state {
        CircuitState::Closed => 0.0,
        CircuitState::HalfOpen => 1.0,
        CircuitState::Open => 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let yaml = r#"
providers:
  demo: { kind: demo }
  local: { kind: openai-compatible, base_url: "http://127.0.0.1:9/v1" }
models:
  - name: fast
    targets: [ { provider: demo, model: demo } ]
  - name: team/chat
    targets: [ { provider: local, model: m } ]
"#;
        let config = sluice_config::parse_str(yaml, &|_| None).unwrap();
        Router::new(&config, &|_, _| None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn model_labels_are_bounded_to_configured_names() {
        let r = router();
        assert_eq!(model_label(&r, "fast"), "fast");
        assert_eq!(model_label(&r, "team/chat"), "team/chat");
        assert_eq!(model_label(&r, "local/llama-3-70b"), "local/*");
        assert_eq!(model_label(&r, "demo/anything"), "demo/*");
        assert_eq!(model_label(&r, ""), "");
        assert_eq!(model_label(&r, "gpt-unknown-7"), "other");
        assert_eq!(model_label(&r, "nope/gpt-4o"), "other", "unknown provider");
        assert_eq!(model_label(&r, "fast\"}\n"), "other");
    }

    #[test]
    fn a_model_slot_keeps_the_first_label_and_defaults_to_empty() {
        let r = router();
        let slot = ModelSlot::default();
        assert_eq!(&*slot.label(), "");
        slot.set(&r, "fast");
        slot.clone().set(&r, "other-name");
        assert_eq!(&*slot.label(), "fast");
    }

    #[test]
    fn targets_render_circuit_and_in_flight_per_group() {
        let mut out = String::new();
        render_targets(&router(), &mut out);
        assert!(
            out.contains(
                "sluice_circuit_state{provider=\"demo\",model=\"demo\",group=\"fast\"} 0\n"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "sluice_target_in_flight{provider=\"local\",model=\"m\",group=\"team/chat\"} 0\n"
            ),
            "{out}"
        );
        assert_eq!(circuit_value(CircuitState::Open), 2.0);
        assert_eq!(circuit_value(CircuitState::HalfOpen), 1.0);
    }

    #[test]
    fn statuses_label_as_digits() {
        assert_eq!(&*status_label(200), "200");
        assert_eq!(&*status_label(418), "418");
    }
}
