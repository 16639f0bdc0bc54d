//! The series each request's record feeds, scraped after known traffic: tokens by type, cost,
//! cache outcomes, time to first token, the in-flight and log gauges, and the `key` label
//! that only `metrics.per_key` adds.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};

use super::CHAT;
use crate::harness::{Sluice, create_key, mock_config, post_as, post_json, send};
use crate::prom::Scrape;

/// `mock/gpt-4o-mini` costs $1 per million input tokens and $2 per million output tokens;
/// model `cached` caches its answers.
fn gateway(mock: &MockUpstream, extra: &str) -> Sluice {
    Sluice::start(&format!(
        "{extra}pricing:\n  models:\n    mock/gpt-4o-mini: {{ input: \"1\", output: \"2\" }}\n{}  - name: cached\n    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]\n    cache: {{ ttl: 1m, scope: global }}\n",
        mock_config(&mock.base_url())
    ))
}

/// A chat request for `model` with `words` words (the mock's usage: `words` prompt tokens,
/// `words + 1` completion tokens).
fn ask(model: &str, words: usize, stream: Option<bool>) -> Value {
    let content = vec!["word"; words].join(" ");
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": content}]});
    if let Some(usage_chunk) = stream {
        body["stream"] = json!(true);
        if usage_chunk {
            body["stream_options"] = json!({"include_usage": true});
        }
    }
    body
}

async fn scrape(gw: &Sluice, headers: &[(&str, &str)]) -> Scrape {
    let r = send(Method::GET, &gw.url("/metrics"), headers, "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    Scrape::parse(&r.text())
}

/// Scrapes (with `headers`) until `sluice_requests_in_flight` is `want`, 10 s at most, and
/// returns that scrape. A request's record, and what it adds, is complete before it leaves
/// the in-flight count.
async fn wait_in_flight(gw: &Sluice, headers: &[(&str, &str)], want: f64) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = scrape(gw, headers).await;
        let now = m.get("sluice_requests_in_flight", &[]);
        if now == want {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{now} requests in flight, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn records_feed_tokens_cost_cache_outcomes_and_time_to_first_token() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let url = gw.url(CHAT);
    for words in [2, 3, 4] {
        assert_eq!(post_json(&url, &ask("fast", words, None)).await.status, 200);
    }
    for (words, usage_chunk) in [(5, true), (6, false)] {
        let r = post_json(&url, &ask("fast", words, Some(usage_chunk))).await;
        assert_eq!(r.status, 200);
    }
    let first = post_json(&url, &ask("cached", 1, None)).await;
    let again = post_json(&url, &ask("cached", 1, None)).await;
    assert_eq!(
        (
            first.header("x-sluice-cache"),
            again.header("x-sluice-cache")
        ),
        (Some("MISS"), Some("HIT"))
    );

    let m = wait_in_flight(&gw, &[], 0.0).await;
    let tokens = |kind: &str| {
        m.value(
            "sluice_tokens_total",
            &[("provider", "mock"), ("type", kind)],
        )
    };
    // 2+3+4+5+6 words to `fast`, 1 to `cached`; the cache hit spent nothing.
    assert_eq!(tokens("prompt"), Some(21.0));
    assert_eq!(tokens("completion"), Some(27.0));
    for kind in ["cached", "cache_write", "reasoning"] {
        assert!(
            matches!(tokens(kind), None | Some(0.0)),
            "{kind}: {:?}",
            tokens(kind)
        );
    }
    let cost = m.get("sluice_cost_usd_total", &[("provider", "mock")]);
    assert!(
        (cost - 75e-6).abs() < 1e-12,
        "21 × $1/M + 27 × $2/M, got {cost}"
    );
    assert_eq!(m.types["sluice_cost_usd_total"], "counter");
    let cache = |outcome: &str| {
        m.value(
            "sluice_cache_requests_total",
            &[("model", "cached"), ("outcome", outcome)],
        )
    };
    assert_eq!((cache("miss"), cache("hit")), (Some(1.0), Some(1.0)));
    assert!(
        m.of("sluice_cache_requests_total")
            .all(|s| s.labels["model"] == "cached"),
        "a model without a cache has no cache outcome"
    );
    let ttft = [("route", CHAT), ("model", "fast")];
    assert_eq!(
        m.get("sluice_time_to_first_token_seconds_count", &ttft),
        2.0,
        "one per stream"
    );
    assert_eq!(m.types["sluice_time_to_first_token_seconds"], "histogram");
    assert_eq!(m.get("sluice_requests_in_flight", &[]), 0.0);
    assert_eq!(m.get("sluice_log_journal_bytes", &[]), 0.0);
    assert!(m.get("sluice_log_queue_depth", &[]) >= 0.0);
    assert!(
        m.samples.iter().all(|s| !s.labels.contains_key("key")),
        "no key label unless metrics.per_key"
    );

    // A request waiting on its upstream is in flight until its answer is out.
    mock.push(Behavior::Delay(Duration::from_secs(1)));
    let slow = tokio::spawn(async move { post_json(&url, &ask("fast", 1, None)).await.status });
    wait_in_flight(&gw, &[], 1.0).await;
    assert_eq!(slow.await.unwrap(), 200);
    wait_in_flight(&gw, &[], 0.0).await;
}

#[tokio::test]
async fn per_key_metrics_label_requests_tokens_and_cost_with_the_key() {
    const ADMIN: &str = "sk-admin-per-key-123456";
    let mock = MockUpstream::start().await;
    let gw = gateway(
        &mock,
        &format!("server: {{ admin_key: \"{ADMIN}\" }}\nmetrics: {{ per_key: true }}\n"),
    );
    let (id, secret) = create_key(&gw, ADMIN, json!({"name": "bot"})).await;
    let url = gw.url(CHAT);
    for _ in 0..2 {
        let r = post_as(&url, &secret, &ask("fast", 2, None), &[]).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = post_as(&url, ADMIN, &ask("fast", 3, Some(true)), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let auth = format!("Bearer {ADMIN}");
    let m = wait_in_flight(&gw, &[("authorization", &auth)], 0.0).await;
    let requests = |key: &str, status: &str| {
        m.value(
            "sluice_requests_total",
            &[
                ("route", CHAT),
                ("model", "fast"),
                ("status", status),
                ("key", key),
            ],
        )
    };
    assert_eq!(requests(&id, "200"), Some(2.0));
    assert_eq!(
        requests("", "200"),
        Some(1.0),
        "the admin key is no virtual key"
    );
    assert!(
        m.of("sluice_requests_total")
            .all(|s| s.labels.contains_key("key")),
        "every request series has the key label"
    );
    let prompt = |key: &str| {
        m.value(
            "sluice_tokens_total",
            &[("provider", "mock"), ("type", "prompt"), ("key", key)],
        )
    };
    assert_eq!((prompt(&id), prompt("")), (Some(4.0), Some(3.0)));
    let cost = m.get(
        "sluice_cost_usd_total",
        &[("provider", "mock"), ("key", &id)],
    );
    assert!(
        (cost - 16e-6).abs() < 1e-12,
        "4 × $1/M + 6 × $2/M, got {cost}"
    );
}
