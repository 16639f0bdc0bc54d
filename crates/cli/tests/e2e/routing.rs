//! Routing and reliability through the real binary: retries by error class, fallbacks,
//! circuit breakers, stream idle timeouts, and the attempt counts each upstream saw.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};

use http::Method;

use crate::harness::{
    Sluice, admin_call, create_key, get, post_as, post_json, read_events, send_streaming,
};

fn hi() -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
}

/// Two providers `a` and `b`, and model `m` built from `model_yaml` (indented as a list item body).
fn two_upstreams(a: &MockUpstream, b: &MockUpstream, model_yaml: &str) -> Sluice {
    Sluice::start(&format!(
        r#"
providers:
  a: {{ kind: openai-compatible, base_url: "{}" }}
  b: {{ kind: openai-compatible, base_url: "{}" }}
models:
{model_yaml}
"#,
        a.base_url(),
        b.base_url()
    ))
}

/// A 429 with `Retry-After: 1` is retried no sooner than the upstream asked.
#[tokio::test]
async fn retry_after_is_honoured() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    targets: [ { provider: a, model: x } ]\n    retry: { max: 1, backoff: 1ms }",
    );
    a.push(Behavior::rate_limited(1));
    let started = Instant::now();
    let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry waited for Retry-After"
    );
    assert_eq!(r.header("x-sluice-attempts"), Some("2"));
    assert_eq!(a.request_count(), 2);
}

/// A context-length error is not retried on the same model but falls back to the bigger one.
#[tokio::test]
async fn context_length_falls_back_to_the_bigger_model() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    targets: [ { provider: a, model: small } ]\n    retry: { max: 2, backoff: 1ms }\n    fallbacks: [big]\n  - name: big\n    targets: [ { provider: b, model: large } ]",
    );
    a.push(Behavior::openai_error(
        400,
        "This model's maximum context length is 8192 tokens.",
        "invalid_request_error",
        Some("context_length_exceeded"),
    ));
    let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-model"), Some("large"));
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
}

/// Without a fallback the client gets the upstream's context-length error, classified.
#[tokio::test]
async fn context_length_without_fallback_is_a_400_with_its_code() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    targets: [ { provider: a, model: small } ]\n    retry: { max: 2 }",
    );
    a.push(Behavior::openai_error(
        400,
        "maximum context length exceeded",
        "invalid_request_error",
        None,
    ));
    let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "context_length_exceeded");
    assert_eq!(a.request_count(), 1);
}

/// When every attempt fails, the one error lists each attempt with its class and status.
#[tokio::test]
async fn all_targets_down_gives_one_error_listing_every_attempt() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    strategy: ordered\n    targets: [ { provider: a, model: x }, { provider: b, model: y } ]\n    retry: { max: 1, backoff: 1ms }",
    );
    a.push(Behavior::openai_error(
        503,
        "a is down",
        "server_error",
        None,
    ));
    b.push(Behavior::openai_error(
        500,
        "b is down",
        "server_error",
        None,
    ));
    let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.header("x-sluice-attempts"),
        Some("2"),
        "errors say how many attempts were made too"
    );
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.starts_with("all 2 attempts failed"), "{msg}");
    assert!(
        msg.contains("a/x: 5xx 503: a is down") && msg.contains("b/y: 5xx 500: b is down"),
        "{msg}"
    );
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
}

/// Consecutive failures open a target's circuit: it is skipped, shown as open in the admin
/// API, and probed again after the cooldown.
#[tokio::test]
async fn circuit_opens_then_recovers_after_the_cooldown() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    strategy: ordered\n    targets: [ { provider: a, model: x }, { provider: b, model: y } ]\n    retry: { max: 1, backoff: 1ms }\n    circuit: { failures: 2, cooldown: 1s }",
    );
    a.push_times(Behavior::openai_error(500, "boom", "server_error", None), 2);
    for _ in 0..2 {
        let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
        assert_eq!(r.header("x-sluice-model"), Some("y"));
    }
    let admin = get(&gw.url("/admin/v1/models")).await.json();
    assert_eq!(admin["data"][0]["targets"][0]["circuit"], "open", "{admin}");
    let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
    assert_eq!(
        (r.header("x-sluice-model"), r.header("x-sluice-attempts")),
        (Some("y"), Some("1"))
    );
    assert_eq!(
        a.request_count(),
        2,
        "an open circuit sends nothing to the target"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
    assert_eq!(
        r.header("x-sluice-model"),
        Some("x"),
        "the probe after the cooldown succeeds"
    );
    let admin = get(&gw.url("/admin/v1/models")).await.json();
    assert_eq!(admin["data"][0]["targets"][0]["circuit"], "closed");
    assert_eq!((a.request_count(), b.request_count()), (3, 3));
}

/// A stream that stalls after it began ends with an idle-timeout error event, not a hang.
#[tokio::test]
async fn a_stalled_stream_hits_the_idle_timeout() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    targets: [ { provider: a, model: x } ]\n    timeout: { idle: 300ms }",
    );
    a.push(Behavior::StallMidStream { after_chunks: 2 });
    let mut body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "one two three"}]});
    body["stream"] = json!(true);
    let resp = send_streaming(
        http::Method::POST,
        &gw.url("/v1/chat/completions"),
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut incoming = resp.into_body();
    let events = read_events(&mut incoming, 3).await;
    let last: Value = serde_json::from_str(&events[2]).unwrap();
    let msg = last["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("idle"), "{events:?}");
    assert_eq!(last["error"]["code"], "upstream_timeout");
}

/// A stall before the first byte times out and falls back to the next model.
#[tokio::test]
async fn a_stall_before_the_first_byte_falls_back() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    targets: [ { provider: a, model: x } ]\n    timeout: { first_byte: 300ms }\n    fallbacks: [backup]\n  - name: backup\n    targets: [ { provider: b, model: y } ]",
    );
    a.push(Behavior::Delay(Duration::from_secs(5)));
    let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.header("x-sluice-model"), r.header("x-sluice-attempts")),
        (Some("y"), Some("2"))
    );
}

/// Requests of one `x-sluice-session` stick to one target; other sessions spread out.
#[tokio::test]
async fn a_session_sticks_to_one_target() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    strategy: round-robin\n    targets: [ { provider: a, model: x }, { provider: b, model: y } ]",
    );
    let mut seen = std::collections::HashSet::new();
    for _ in 0..6 {
        let r = crate::harness::send(
            http::Method::POST,
            &gw.url("/v1/chat/completions"),
            &[
                ("content-type", "application/json"),
                ("x-sluice-session", "conv-42"),
            ],
            hi().to_string(),
        )
        .await;
        seen.insert(r.header("x-sluice-model").unwrap().to_owned());
    }
    assert_eq!(seen.len(), 1, "one session, one target: {seen:?}");
    // Without a session, round-robin alternates.
    let mut models = Vec::new();
    for _ in 0..2 {
        let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
        models.push(r.header("x-sluice-model").unwrap().to_owned());
    }
    assert_ne!(models[0], models[1]);
}

/// With `hedge: { after: 200ms }`, a slow first target loses to a second attempt on the
/// other target; the client gets one answer and the headers count both attempts.
#[tokio::test]
async fn hedging_wins_on_a_slow_first_target() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    strategy: ordered\n    targets: [ { provider: a, model: x }, { provider: b, model: y } ]\n    hedge: { after: 200ms }",
    );
    a.push(Behavior::Delay(Duration::from_secs(5)));
    let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        (r.header("x-sluice-model"), r.header("x-sluice-attempts")),
        (Some("y"), Some("2"))
    );
    assert_eq!((a.request_count(), b.request_count()), (1, 1));
}

/// An A/B split sends each user to one variant, always the same, and says which.
#[tokio::test]
async fn an_ab_split_is_sticky_per_user() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    split: [ { model: control, weight: 1 }, { model: treatment, weight: 1 } ]\n  - name: control\n    targets: [ { provider: a, model: x } ]\n  - name: treatment\n    targets: [ { provider: b, model: y } ]",
    );
    let ask = |user: String| {
        let url = gw.url("/v1/chat/completions");
        async move {
            let body = json!({"model": "m", "user": user, "messages": [{"role": "user", "content": "hi"}]});
            let r = post_json(&url, &body).await;
            assert_eq!(r.status, 200, "{}", r.text());
            (
                r.header("x-sluice-variant").unwrap().to_owned(),
                r.header("x-sluice-model").unwrap().to_owned(),
            )
        }
    };
    let first = ask("user-7".into()).await;
    for _ in 0..5 {
        assert_eq!(ask("user-7".into()).await, first, "one user, one variant");
    }
    let mut variants = std::collections::HashSet::new();
    for i in 0..30 {
        let (variant, model) = ask(format!("u{i}")).await;
        assert_eq!(model, if variant == "control" { "x" } else { "y" });
        variants.insert(variant);
    }
    assert_eq!(variants.len(), 2, "users are spread over both variants");
    assert_eq!(a.request_count() + b.request_count(), 36);
    let models = get(&gw.url("/v1/models/m")).await;
    assert_eq!(models.status, 200);
}

/// Routing rules send matching requests to another model and say which rule fired.
#[tokio::test]
async fn routing_rules_pick_the_model() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    targets: [ { provider: a, model: x } ]\n  - name: big\n    targets: [ { provider: b, model: y } ]\nrouting:\n  - name: long-prompts\n    if: { prompt_tokens_over: 500 }\n    then: big\n  - name: search-team\n    if: { header: { x-team: search }, tags: { feature: rerank } }\n    then: big",
    );
    let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
    assert_eq!(
        (r.header("x-sluice-model"), r.header("x-sluice-rule")),
        (Some("x"), None)
    );
    let long =
        json!({"model": "m", "messages": [{"role": "user", "content": "word ".repeat(1000)}]});
    let r = post_json(&gw.url("/v1/chat/completions"), &long).await;
    assert_eq!(
        (r.header("x-sluice-model"), r.header("x-sluice-rule")),
        (Some("y"), Some("long-prompts"))
    );
    let r = crate::harness::send(
        http::Method::POST,
        &gw.url("/v1/chat/completions"),
        &[
            ("content-type", "application/json"),
            ("x-team", "search"),
            ("x-sluice-tags", r#"{"feature":"rerank"}"#),
        ],
        hi().to_string(),
    )
    .await;
    assert_eq!(
        (r.header("x-sluice-model"), r.header("x-sluice-rule")),
        (Some("y"), Some("search-team"))
    );
    let r = crate::harness::send(
        http::Method::POST,
        &gw.url("/v1/chat/completions"),
        &[
            ("content-type", "application/json"),
            ("x-sluice-tags", "not json"),
        ],
        hi().to_string(),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "x-sluice-tags");
}

/// A target at its configured `rpm` is skipped, and so is one whose upstream said its rate
/// limit is exhausted (`x-ratelimit-remaining-requests: 0`), until the window resets.
#[tokio::test]
async fn targets_at_their_rate_limit_are_skipped() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = two_upstreams(
        &a,
        &b,
        "  - name: m\n    strategy: ordered\n    targets: [ { provider: a, model: x, rpm: 2 }, { provider: b, model: y } ]\n  - name: n\n    strategy: ordered\n    targets: [ { provider: a, model: x2 }, { provider: b, model: y2 } ]",
    );
    let mut models = Vec::new();
    for _ in 0..3 {
        let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
        models.push(r.header("x-sluice-model").unwrap().to_owned());
    }
    assert_eq!(models, ["x", "x", "y"]);
    let admin = get(&gw.url("/admin/v1/models")).await.json();
    assert_eq!(
        admin["data"][0]["targets"][0]["rate_limited"], true,
        "{admin}"
    );

    let completion = r#"{"id":"c1","object":"chat.completion","created":1,"model":"x2","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#;
    a.push(Behavior::Respond {
        status: 200,
        headers: vec![
            ("x-ratelimit-remaining-requests".into(), "0".into()),
            ("x-ratelimit-reset-requests".into(), "30s".into()),
        ],
        body: completion.into(),
    });
    let ask = json!({"model": "n", "messages": [{"role": "user", "content": "hi"}]});
    let r = post_json(&gw.url("/v1/chat/completions"), &ask).await;
    assert_eq!(
        r.header("x-sluice-model"),
        Some("x2"),
        "the answer itself is relayed"
    );
    let r = post_json(&gw.url("/v1/chat/completions"), &ask).await;
    assert_eq!(
        r.header("x-sluice-model"),
        Some("y2"),
        "then the exhausted target is left alone"
    );
}

/// `least-cost` sends requests to the cheapest target first and moves on to the next
/// cheapest when it fails; a target without a price stops the gateway at startup.
#[tokio::test]
async fn least_cost_prefers_the_cheapest_target() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    // `a` serves a model of the catalogue (gpt-4o), `b` one priced in the config, cheaper.
    let model = "  - name: m\n    strategy: least-cost\n    retry: { max: 1, backoff: 1ms }\n    targets: [ { provider: a, model: gpt-4o }, { provider: b, model: house-model } ]";
    let config = |prices: &str| {
        format!(
            "providers:\n  a: {{ kind: openai-compatible, base_url: \"{}\" }}\n  b: {{ kind: openai-compatible, base_url: \"{}\" }}\nmodels:\n{model}\n{prices}",
            a.base_url(),
            b.base_url()
        )
    };
    let gw = Sluice::start(&config(
        "pricing:\n  models:\n    b/house-model: { input: \"0.01\", output: \"0.02\" }",
    ));
    for _ in 0..3 {
        let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-sluice-provider"), Some("b"));
    }
    assert_eq!((a.request_count(), b.request_count()), (0, 3));
    b.push(Behavior::Status {
        status: 500,
        body: "{}".into(),
    });
    let r = post_json(&gw.url("/v1/chat/completions"), &hi()).await;
    assert_eq!(r.header("x-sluice-provider"), Some("a"), "{}", r.text());

    let refused = crate::harness::Start::default()
        .config(&config(""))
        .try_spawn();
    let logs = refused
        .err()
        .expect("a least-cost target without a price must stop startup");
    assert!(logs.contains("b/house-model has none"), "{logs}");
}

/// A routing rule on the caller's team sends that team's requests to another model.
#[tokio::test]
async fn routing_rules_see_the_callers_team() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let admin = "sk-admin-rules-123456";
    let gw = Sluice::start(&format!(
        "server: {{ admin_key: \"{admin}\" }}\nproviders:\n  a: {{ kind: openai-compatible, base_url: \"{}\" }}\n  b: {{ kind: openai-compatible, base_url: \"{}\" }}\nmodels:\n  - {{ name: m, targets: [ {{ provider: a, model: x }} ] }}\n  - {{ name: premium, targets: [ {{ provider: b, model: y }} ] }}\nrouting:\n  - name: vip\n    if: {{ team: team_vip }}\n    then: premium\n",
        a.base_url(),
        b.base_url()
    ));
    let r = admin_call(
        &gw,
        admin,
        Method::POST,
        "/admin/v1/teams",
        json!({"id": "team_vip"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let (_, vip) = create_key(&gw, admin, json!({"name": "v", "team": "team_vip"})).await;
    let (_, plain) = create_key(&gw, admin, json!({"name": "plain"})).await;
    let url = gw.url("/v1/chat/completions");
    let ask = |key: String| {
        let url = url.clone();
        async move { post_as(&url, &key, &hi(), &[]).await }
    };
    let r = ask(vip).await;
    assert_eq!(r.header("x-sluice-rule"), Some("vip"), "{}", r.text());
    assert_eq!(r.header("x-sluice-provider"), Some("b"));
    let r = ask(plain).await;
    assert_eq!(r.header("x-sluice-rule"), None);
    assert_eq!(r.header("x-sluice-provider"), Some("a"));
}
