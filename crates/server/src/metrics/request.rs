//! What each API request adds once its record is complete: tokens by type, cost, the cache
//! outcome and, for streams, the time to first token; and the gateway-wide count of requests
//! in flight.
//!
//! The request log's middleware starts a [`RequestMetrics`] for every request it records and
//! hands it the finished record, so these series count exactly what the log holds (whether
//! or not the log is stored). Tokens and cost come from the record, after the body ended, so
//! a stream's usage chunk is included. A request is in flight from its arrival until its
//! response body ended or was dropped; the guard's `Drop` keeps the count right on every
//! path, panics and hang-ups included.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::MatchedPath;
use metrics::{Key, Label, SharedString};
use sluice_store::LogRecord;

use super::{ModelSlot, REGISTRY, per_key, route_label};

/// Tokens by provider and type (`prompt`, `completion`, `cached`, `cache_write`, `reasoning`).
pub(crate) const TOKENS: &str = "sluice_tokens_total";
/// Cost in USD by provider.
pub(crate) const COST: &str = "sluice_cost_usd_total";
/// Requests by model and cache outcome.
pub(crate) const CACHE_REQUESTS: &str = "sluice_cache_requests_total";
/// Seconds from a stream's arrival to its first content, by route and model.
pub(crate) const TTFT: &str = "sluice_time_to_first_token_seconds";
/// Requests in flight in the whole gateway, read at scrape time.
pub(crate) const IN_FLIGHT_REQUESTS: &str = "sluice_requests_in_flight";

/// API requests between arrival and the end of their response body.
static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);

/// The API requests in flight now.
pub(crate) fn in_flight() -> u64 {
    IN_FLIGHT.load(Ordering::Relaxed)
}

/// One request's metrics from its arrival to its finished record; counts it as in flight
/// while it lives.
pub(crate) struct RequestMetrics {
    route: SharedString,
    model: ModelSlot,
}

impl RequestMetrics {
    /// Counts a request as in flight; `route` and `model` label what it adds later.
    pub(crate) fn start(route: Option<&MatchedPath>, model: &ModelSlot) -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        Self {
            route: route_label(route),
            model: model.clone(),
        }
    }

    /// Notes the caller's virtual key, for the `key` label of `sluice_requests_total` when
    /// `metrics.per_key` is on.
    pub(crate) fn note_key(&self, key: Option<&str>) {
        if per_key() {
            self.model.set_key(key.unwrap_or_default());
        }
    }

    /// Records what the finished `record` adds: its tokens by type and its cost (not for
    /// cache hits, which spent none), its cache outcome and a stream's time to first token.
    pub(crate) fn finish(&self, record: &LogRecord) {
        self.note_key(record.key.as_deref());
        let model = SharedString::from(self.model.label());
        if let Some(outcome) = record.cache.as_deref() {
            let key = Key::from_parts(
                CACHE_REQUESTS,
                vec![
                    Label::new("model", model.clone()),
                    Label::new("outcome", cache_outcome(outcome)),
                ],
            );
            REGISTRY.counter(&key).increment(1);
        }
        if let (true, Some(ttft)) = (record.stream, record.ttft_ms) {
            let key = Key::from_parts(
                TTFT,
                vec![
                    Label::new("route", self.route.clone()),
                    Label::new("model", model),
                ],
            );
            REGISTRY.histogram(&key).record(ttft as f64 / 1000.0);
        }
        let cache_hit = matches!(record.cache.as_deref(), Some("HIT" | "SEMANTIC-HIT"));
        if let (false, Some(provider)) = (cache_hit, record.provider.as_deref()) {
            spend(record, provider);
        }
    }
}

impl Drop for RequestMetrics {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Adds the record's tokens by type and its cost under `provider` (and its key, per key).
fn spend(record: &LogRecord, provider: &str) {
    let mut labels = vec![Label::new(
        "provider",
        SharedString::from(Arc::<str>::from(provider)),
    )];
    if per_key() {
        let key = record.key.as_deref().unwrap_or_default();
        labels.push(Label::new("key", SharedString::from(Arc::<str>::from(key))));
    }
    let tokens = [
        ("prompt", record.prompt_tokens),
        ("completion", record.completion_tokens),
        ("cached", record.cached_tokens),
        ("cache_write", record.cache_write_tokens),
        ("reasoning", record.reasoning_tokens),
    ];
    for (kind, n) in tokens {
        if let Some(n) = n {
            let mut labels = labels.clone();
            labels.push(Label::new("type", kind));
            REGISTRY
                .counter(&Key::from_parts(TOKENS, labels))
                .increment(n);
        }
    }
    if let Some(cost) = record.cost_usd {
        REGISTRY
            .float_counter(&Key::from_parts(COST, labels))
            .add(cost);
    }
}

/// The `outcome` label of a record's cache outcome: `hit`, `semantic-hit`, `miss`,
/// `bypass`, `semantic-skip` (the semantic lookup did not run), `semantic-veto` (every match
/// was vetoed), or `other` for anything else.
fn cache_outcome(value: &str) -> &'static str {
    match value {
        "HIT" => "hit",
        "SEMANTIC-HIT" => "semantic-hit",
        "MISS" => "miss",
        "BYPASS" => "bypass",
        "SEMANTIC-SKIP" => "semantic-skip",
        "SEMANTIC-VETO" => "semantic-veto",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_outcomes_are_a_bounded_set() {
        assert_eq!(cache_outcome("HIT"), "hit");
        assert_eq!(cache_outcome("SEMANTIC-HIT"), "semantic-hit");
        assert_eq!(cache_outcome("BYPASS"), "bypass");
        assert_eq!(cache_outcome("MISS"), "miss");
        assert_eq!(cache_outcome("SEMANTIC-VETO"), "semantic-veto");
        assert_eq!(cache_outcome("made-up"), "other");
    }
}
