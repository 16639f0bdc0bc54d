//! `GET /metrics` through the real binary: after known traffic, the Prometheus text parses
//! strictly and every series has exactly the count that traffic implies; circuit gauges
//! follow the breaker; the endpoint needs the admin key when one is set.

use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};

use crate::harness::{Resp, Sluice, get, post_json, send};
use crate::prom::Scrape;

const CHAT: &str = "/v1/chat/completions";

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

/// Scrapes `gw` (with `headers`) and parses the answer.
async fn scrape_with(gw: &Sluice, headers: &[(&str, &str)]) -> (Resp, Scrape) {
    let r = send(Method::GET, &gw.url("/metrics"), headers, "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    let scrape = Scrape::parse(&r.text());
    (r, scrape)
}

async fn scrape(gw: &Sluice) -> Scrape {
    scrape_with(gw, &[]).await.1
}

// ---------------------------------------------------------------------------------------------

/// After a success, an upstream 500 retried to success, a fallback, a direct call, an unknown
/// model, an unknown route and a stream cut after it began, every series has the exact count.
#[tokio::test]
async fn requests_attempts_retries_fallbacks_and_stream_errors_are_counted() {
    let a = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        r#"
providers:
  a: {{ kind: openai-compatible, base_url: "{}" }}
models:
  - name: m
    targets: [ {{ provider: a, model: x }} ]
    retry: {{ max: 1, backoff: 1ms }}
  - name: n
    targets: [ {{ provider: a, model: z }} ]
    retry: {{ max: 0 }}
    fallbacks: [m]
  - name: s
    targets: [ {{ provider: a, model: st }} ]
"#,
        a.base_url()
    ));
    let url = gw.url(CHAT);
    assert_eq!(post_json(&url, &chat("m")).await.status, 200);
    a.push(Behavior::openai_error(500, "boom", "server_error", None));
    let r = post_json(&url, &chat("m")).await;
    assert_eq!((r.status, r.header("x-sluice-attempts")), (200, Some("2")));
    assert_eq!(post_json(&url, &chat("no-such-model")).await.status, 404);
    assert_eq!(get(&gw.url("/nowhere")).await.status, 404);
    let r = post_json(&url, &chat("a/some-direct-model")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    a.push(Behavior::openai_error(500, "boom", "server_error", None));
    let r = post_json(&url, &chat("n")).await;
    assert_eq!((r.status, r.header("x-sluice-model")), (200, Some("x")));
    a.push(Behavior::ResetMidStream { after_chunks: 2 });
    let mut body = chat("s");
    body["stream"] = json!(true);
    let r = post_json(&url, &body).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("\"error\""), "{}", r.text());
    assert_eq!(a.request_count(), 7);

    let m = scrape(&gw).await;
    let requests = |model: &str, status: &str| {
        m.get(
            "sluice_requests_total",
            &[("route", CHAT), ("model", model), ("status", status)],
        )
    };
    assert_eq!(requests("m", "200"), 2.0);
    assert_eq!(requests("n", "200"), 1.0);
    assert_eq!(requests("s", "200"), 1.0);
    assert_eq!(requests("a/*", "200"), 1.0);
    assert_eq!(requests("other", "404"), 1.0);
    assert_eq!(
        m.get(
            "sluice_requests_total",
            &[("route", "unmatched"), ("model", ""), ("status", "404")]
        ),
        1.0
    );
    assert!(
        m.label_values()
            .all(|v| !v.contains("no-such-model") && !v.contains("some-direct-model")),
        "a name the client made up became a label"
    );
    assert_eq!(
        m.get(
            "sluice_request_duration_seconds_count",
            &[("route", CHAT), ("model", "m")]
        ),
        2.0
    );
    assert_eq!(m.get("sluice_gateway_overhead_seconds_count", &[]), 7.0);

    let attempts = |model: &str, outcome: &str| {
        m.get(
            "sluice_upstream_attempts_total",
            &[("provider", "a"), ("model", model), ("outcome", outcome)],
        )
    };
    assert_eq!(attempts("x", "ok"), 3.0);
    assert_eq!(attempts("x", "5xx"), 1.0);
    assert_eq!(attempts("z", "5xx"), 1.0);
    assert_eq!(attempts("*", "ok"), 1.0);
    assert_eq!(attempts("st", "ok"), 1.0);
    assert_eq!(
        m.get(
            "sluice_upstream_latency_seconds_count",
            &[("provider", "a"), ("model", "x")]
        ),
        3.0
    );
    assert_eq!(m.get("sluice_retries_total", &[("model", "m")]), 1.0);
    assert_eq!(m.value("sluice_retries_total", &[("model", "n")]), None);
    assert_eq!(
        m.get("sluice_fallbacks_total", &[("from", "n"), ("to", "m")]),
        1.0
    );
    assert_eq!(
        m.get("sluice_stream_errors_total", &[("provider", "a")]),
        1.0
    );
    for (model, group) in [("x", "m"), ("z", "n"), ("st", "s")] {
        let labels = [("provider", "a"), ("model", model), ("group", group)];
        assert_eq!(m.get("sluice_circuit_state", &labels), 0.0);
        assert_eq!(m.get("sluice_target_in_flight", &labels), 0.0);
    }
    assert_eq!(
        m.get(
            "sluice_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(m.types["sluice_requests_total"], "counter");
    assert_eq!(m.types["sluice_request_duration_seconds"], "histogram");
    assert_eq!(m.types["sluice_circuit_state"], "gauge");

    // The scrape itself is counted once it has been answered.
    let m = scrape(&gw).await;
    assert_eq!(
        m.get(
            "sluice_requests_total",
            &[("route", "/metrics"), ("model", ""), ("status", "200")]
        ),
        1.0
    );
}

/// The circuit gauge follows the breaker: 2 once it opened, 1 when the cooldown is over, 0
/// after the probe succeeded.
#[tokio::test]
async fn circuit_state_gauge_follows_the_breaker() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        r#"
providers:
  a: {{ kind: openai-compatible, base_url: "{}" }}
  b: {{ kind: openai-compatible, base_url: "{}" }}
models:
  - name: m
    strategy: ordered
    targets: [ {{ provider: a, model: x }}, {{ provider: b, model: y }} ]
    retry: {{ max: 1, backoff: 1ms }}
    circuit: {{ failures: 2, cooldown: 1s }}
"#,
        a.base_url(),
        b.base_url()
    ));
    let state = |m: &Scrape, provider: &str, model: &str| {
        m.get(
            "sluice_circuit_state",
            &[("provider", provider), ("model", model), ("group", "m")],
        )
    };
    a.push_times(Behavior::openai_error(500, "boom", "server_error", None), 2);
    for _ in 0..2 {
        let r = post_json(&gw.url(CHAT), &chat("m")).await;
        assert_eq!(r.header("x-sluice-model"), Some("y"));
    }
    let m = scrape(&gw).await;
    assert_eq!((state(&m, "a", "x"), state(&m, "b", "y")), (2.0, 0.0));
    assert_eq!(m.get("sluice_retries_total", &[("model", "m")]), 2.0);
    assert_eq!(
        m.get(
            "sluice_upstream_attempts_total",
            &[("provider", "a"), ("model", "x"), ("outcome", "5xx")]
        ),
        2.0
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(state(&scrape(&gw).await, "a", "x"), 1.0, "half-open");
    let r = post_json(&gw.url(CHAT), &chat("m")).await;
    assert_eq!(r.header("x-sluice-model"), Some("x"), "the probe succeeds");
    assert_eq!(state(&scrape(&gw).await, "a", "x"), 0.0);
}

/// With an admin key set, `/metrics` needs it, like `/admin`.
#[tokio::test]
async fn metrics_need_the_admin_key_when_one_is_set() {
    let a = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        "server: {{ admin_key: \"sk-admin-test\" }}\n{}",
        crate::harness::mock_config(&a.base_url())
    ));
    assert_eq!(get(&gw.url("/metrics")).await.status, 401);
    let wrong = send(
        Method::GET,
        &gw.url("/metrics"),
        &[("authorization", "Bearer sk-wrong")],
        "",
    )
    .await;
    assert_eq!(wrong.status, 401);
    let (_, m) = scrape_with(&gw, &[("authorization", "Bearer sk-admin-test")]).await;
    assert_eq!(
        m.get(
            "sluice_requests_total",
            &[("route", "/metrics"), ("model", ""), ("status", "401")]
        ),
        2.0
    );
}
