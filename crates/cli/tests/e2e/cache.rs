//! The exact-match response cache through the real binary: hits the upstream never sees,
//! stream and JSON answers from one entry, what changes the key, scopes per API key, the
//! request directives, truncated streams, TTLs, purging, the Anthropic Messages API, and one
//! Redis shared by two gateways.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};

use crate::harness::{Resp, Sluice, send, sse_data};

const CHAT: &str = "/v1/chat/completions";

/// A gateway whose model `fast` (and `smart`, `brief` with a 1 s TTL) caches, in front of
/// `mock`; `extra` is added at the top level.
fn cached(mock: &MockUpstream, extra: &str) -> Sluice {
    Sluice::start(&format!(
        r#"
{extra}
providers:
  mock: {{ kind: openai-compatible, base_url: "{}" }}
models:
  - name: fast
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
    cache: {{ ttl: 1h }}
  - name: smart
    targets: [ {{ provider: mock, model: gpt-4o }} ]
    cache: {{ ttl: 1h }}
  - name: brief
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
    cache: {{ ttl: 1s }}
  - name: plain
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
"#,
        mock.base_url()
    ))
}

fn ask(content: &str) -> Value {
    json!({"model": "fast", "messages": [{"role": "user", "content": content}]})
}

/// POSTs a chat request with extra headers.
pub(crate) async fn chat(gw: &Sluice, body: &Value, headers: &[(&str, &str)]) -> Resp {
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    let r = send(Method::POST, &gw.url(CHAT), &h, body.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r
}

/// The `x-sluice-cache` outcome of a response.
pub(crate) fn outcome(r: &Resp) -> &str {
    r.header("x-sluice-cache").unwrap_or("(none)")
}

/// `sluice_cache_bytes` from `/metrics`.
async fn cache_bytes(gw: &Sluice, headers: &[(&str, &str)]) -> f64 {
    let r = send(Method::GET, &gw.url("/metrics"), headers, "").await;
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix("sluice_cache_bytes "))
        .map_or(0.0, |v| v.parse().unwrap())
}

/// Waits until the in-memory cache holds more than `before` bytes: a write, which happens
/// on its own task after the answer, has landed.
async fn stored_since(gw: &Sluice, before: f64) {
    stored_since_with(gw, before, &[]).await;
}

async fn stored_since_with(gw: &Sluice, before: f64, headers: &[(&str, &str)]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache_bytes(gw, headers).await <= before {
        assert!(Instant::now() < deadline, "the answer was never stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asks once (a miss) and waits until the answer is stored.
async fn prime(gw: &Sluice, body: &Value, headers: &[(&str, &str)]) -> Resp {
    let before = cache_bytes(gw, &[]).await;
    let r = chat(gw, body, headers).await;
    assert_eq!(outcome(&r), "MISS");
    stored_since(gw, before).await;
    r
}

/// The `data:` payloads of an OpenAI stream as JSON, `[DONE]` left out.
fn chunks(body: &[u8]) -> Vec<Value> {
    let data = sse_data(body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{data:?}");
    data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn streamed_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn a_repeat_is_a_hit_the_upstream_never_sees() {
    let mock = MockUpstream::start().await;
    let gw = cached(&mock, "");
    let first = prime(&gw, &ask("what is rust"), &[]).await;
    assert_eq!(first.header("x-sluice-attempts"), Some("1"));
    let again = chat(&gw, &ask("what is rust"), &[]).await;
    assert_eq!(outcome(&again), "HIT");
    assert_eq!(mock.request_count(), 1, "the upstream saw only the first");
    assert_eq!(again.body, first.body, "the upstream's bytes, replayed");
    assert_eq!(again.header("content-type"), Some("application/json"));
    assert!(again.header("age").unwrap().parse::<u64>().is_ok());
    assert_eq!(again.header("x-sluice-attempts"), Some("0"));
    assert_eq!(again.header("x-sluice-provider"), Some("mock"));
    assert_eq!(again.header("x-sluice-model"), Some("gpt-4o-mini"));
    // A model without `cache` says nothing about caching.
    let mut plain = ask("what is rust");
    plain["model"] = json!("plain");
    assert_eq!(outcome(&chat(&gw, &plain, &[]).await), "(none)");
    let metrics = send(Method::GET, &gw.url("/metrics"), &[], "").await.text();
    assert!(
        metrics.contains("sluice_cache_hits_total{model=\"fast\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("sluice_cache_misses_total{model=\"fast\"} 1"));
}

#[tokio::test]
async fn a_stream_after_a_non_stream_is_replayed_from_the_cache() {
    let mock = MockUpstream::start().await;
    let gw = cached(&mock, "");
    let first = prime(&gw, &ask("tell me a story"), &[]).await.json();
    let mut stream = ask("tell me a story");
    stream["stream"] = json!(true);
    stream["stream_options"] = json!({"include_usage": true});
    stream["user"] = json!("someone-else");
    let r = chat(&gw, &stream, &[]).await;
    assert_eq!(outcome(&r), "HIT");
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(mock.request_count(), 1);
    let chunks = chunks(&r.body);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(
        streamed_text(&chunks),
        first["choices"][0]["message"]["content"].as_str().unwrap()
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], first["usage"]);
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == first["id"] && c["object"] == "chat.completion.chunk")
    );
    // Without include_usage there is no usage chunk.
    stream["stream_options"] = json!({"include_usage": false});
    let r = chat(&gw, &stream, &[]).await;
    assert_eq!(outcome(&r), "HIT");
    assert!(chunks_of(&r).iter().all(|c| c.get("usage").is_none()));
}

fn chunks_of(r: &Resp) -> Vec<Value> {
    chunks(&r.body)
}

#[tokio::test]
async fn a_finished_stream_is_stored_and_served_as_json() {
    let mock = MockUpstream::start().await;
    let gw = cached(&mock, "");
    let mut stream = ask("stream then ask");
    stream["stream"] = json!(true);
    let before = cache_bytes(&gw, &[]).await;
    let r = chat(&gw, &stream, &[]).await;
    assert_eq!(outcome(&r), "MISS");
    let text = streamed_text(&chunks_of(&r));
    stored_since(&gw, before).await;
    let again = chat(&gw, &ask("stream then ask"), &[]).await;
    assert_eq!(outcome(&again), "HIT");
    assert_eq!(mock.request_count(), 1);
    let v = again.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["content"], text.as_str());
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn output_changing_fields_miss() {
    let mock = MockUpstream::start().await;
    let gw = cached(&mock, "");
    let mut base = ask("pick a number");
    base["temperature"] = json!(0.2);
    prime(&gw, &base, &[]).await;
    let mut warmer = base.clone();
    warmer["temperature"] = json!(0.9);
    assert_eq!(outcome(&chat(&gw, &warmer, &[]).await), "MISS");
    let mut other_model = base.clone();
    other_model["model"] = json!("smart");
    assert_eq!(outcome(&chat(&gw, &other_model, &[]).await), "MISS");
    assert_eq!(mock.request_count(), 3);
    // Content as a single text part is the same request.
    let mut parts = base.clone();
    parts["messages"][0]["content"] = json!([{"type": "text", "text": "pick a number"}]);
    assert_eq!(outcome(&chat(&gw, &parts, &[]).await), "HIT");
}

#[tokio::test]
async fn api_keys_do_not_share_entries() {
    let mock = MockUpstream::start().await;
    let gw = cached(&mock, "");
    prime(
        &gw,
        &ask("secret plans"),
        &[("authorization", "Bearer sk-a")],
    )
    .await;
    let a = chat(&gw, &ask("secret plans"), &[("x-api-key", "sk-a")]).await;
    assert_eq!(outcome(&a), "HIT", "the same key, in another header");
    let b = chat(
        &gw,
        &ask("secret plans"),
        &[("authorization", "Bearer sk-b")],
    )
    .await;
    assert_eq!(outcome(&b), "MISS");
    let anonymous = chat(&gw, &ask("secret plans"), &[]).await;
    assert_eq!(outcome(&anonymous), "MISS");
    assert_eq!(mock.request_count(), 3);
}

#[tokio::test]
async fn no_cache_no_store_and_refresh() {
    let mock = MockUpstream::start().await;
    let gw = cached(&mock, "");
    let first = prime(&gw, &ask("directives"), &[]).await;
    let skip = chat(&gw, &ask("directives"), &[("x-sluice-cache", "no-cache")]).await;
    assert_eq!(outcome(&skip), "BYPASS");
    let skip = chat(&gw, &ask("directives"), &[("cache-control", "no-cache")]).await;
    assert_eq!(outcome(&skip), "BYPASS");
    assert_eq!(mock.request_count(), 3);

    let unstored = chat(&gw, &ask("not kept"), &[("x-sluice-cache", "no-store")]).await;
    assert_eq!(outcome(&unstored), "MISS");
    let unstored = chat(&gw, &ask("not kept"), &[("cache-control", "no-store")]).await;
    assert_eq!(outcome(&unstored), "MISS", "the first was not stored");
    assert_eq!(mock.request_count(), 5);

    let fresh = chat(&gw, &ask("directives"), &[("x-sluice-cache", "refresh")]).await;
    assert_eq!(outcome(&fresh), "BYPASS");
    assert_eq!(mock.request_count(), 6);
    assert_ne!(fresh.json()["id"], first.json()["id"]);
    // The refreshed answer replaces the old one (the same size, so wait on the id instead).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hit = send(
            Method::POST,
            &gw.url(CHAT),
            &[("content-type", "application/json")],
            ask("directives").to_string(),
        )
        .await;
        assert_eq!(outcome(&hit), "HIT");
        if hit.json()["id"] == fresh.json()["id"] {
            break;
        }
        assert!(Instant::now() < deadline, "the refresh was never stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(mock.request_count(), 6);

    let bad = send(
        Method::POST,
        &gw.url(CHAT),
        &[
            ("content-type", "application/json"),
            ("x-sluice-cache", "forever"),
        ],
        ask("directives").to_string(),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["param"], "x-sluice-cache");
}

#[tokio::test]
async fn a_truncated_stream_is_not_stored() {
    let mock = MockUpstream::start().await;
    let gw = cached(&mock, "");
    mock.push(Behavior::ResetMidStream { after_chunks: 2 });
    let mut stream = ask("cut me off mid sentence please");
    stream["stream"] = json!(true);
    let r = chat(&gw, &stream, &[]).await;
    assert_eq!(outcome(&r), "MISS");
    assert!(r.text().contains("error"), "{}", r.text());
    let again = chat(&gw, &stream, &[]).await;
    assert_eq!(outcome(&again), "MISS", "the broken stream was not kept");
    assert_eq!(mock.request_count(), 2);
    assert!(!again.text().contains("\"error\""));
}

#[tokio::test]
async fn entries_expire_after_the_model_or_request_ttl() {
    let mock = MockUpstream::start().await;
    let gw = cached(&mock, "");
    let mut brief = ask("short lived");
    brief["model"] = json!("brief");
    prime(&gw, &brief, &[]).await;
    prime(&gw, &ask("also short"), &[("x-sluice-cache-ttl", "1s")]).await;
    assert_eq!(outcome(&chat(&gw, &brief, &[]).await), "HIT");
    assert_eq!(outcome(&chat(&gw, &ask("also short"), &[]).await), "HIT");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(outcome(&chat(&gw, &brief, &[]).await), "MISS");
    assert_eq!(outcome(&chat(&gw, &ask("also short"), &[]).await), "MISS");
    assert_eq!(mock.request_count(), 4);
}

#[tokio::test]
async fn purging_by_model_behind_the_admin_key() {
    let mock = MockUpstream::start().await;
    let gw = cached(&mock, "server: { admin_key: sk-admin }");
    let auth = [("authorization", "Bearer sk-admin")];
    let mut smart = ask("purge me");
    smart["model"] = json!("smart");
    for body in [ask("purge me"), smart.clone()] {
        let before = cache_bytes(&gw, &auth).await;
        assert_eq!(outcome(&chat(&gw, &body, &auth).await), "MISS");
        stored_since_with(&gw, before, &auth).await;
    }
    let purge = |query: &'static str, headers: &'static [(&'static str, &'static str)]| {
        let url = gw.url(&format!("/admin/v1/cache{query}"));
        async move { send(Method::DELETE, &url, headers, "").await }
    };
    assert_eq!(purge("?model=fast", &[]).await.status, 401);
    let r = purge("?model=fast", &[("authorization", "Bearer sk-admin")]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["purged"], 1);
    assert_eq!(r.json()["backend"], "memory");
    assert_eq!(outcome(&chat(&gw, &ask("purge me"), &auth).await), "MISS");
    assert_eq!(outcome(&chat(&gw, &smart, &auth).await), "HIT");
    let r = purge("?model=nope", &[("authorization", "Bearer sk-admin")]).await;
    assert_eq!(r.status, 404);
    let r = purge("?modle=fast", &[("authorization", "Bearer sk-admin")]).await;
    assert_eq!(r.status, 400);
    let r = purge("", &[("authorization", "Bearer sk-admin")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(outcome(&chat(&gw, &smart, &auth).await), "MISS");
}

#[tokio::test]
async fn an_anthropic_messages_repeat_is_a_hit() {
    let mock = MockUpstream::start().await;
    let gw = cached(&mock, "");
    let body = json!({"model": "fast", "max_tokens": 50, "messages": [{"role": "user", "content": "hello claude"}]});
    let post = |body: Value| {
        let url = gw.url("/v1/messages");
        async move {
            let h = [
                ("content-type", "application/json"),
                ("anthropic-version", "2023-06-01"),
            ];
            send(Method::POST, &url, &h, body.to_string()).await
        }
    };
    let before = cache_bytes(&gw, &[]).await;
    let first = post(body.clone()).await;
    assert_eq!((first.status, outcome(&first)), (200, "MISS"));
    stored_since(&gw, before).await;
    let again = post(body.clone()).await;
    assert_eq!((again.status, outcome(&again)), (200, "HIT"));
    assert_eq!(again.json()["type"], "message");
    assert_eq!(again.json()["content"], first.json()["content"]);
    let mut stream = body;
    stream["stream"] = json!(true);
    let r = post(stream).await;
    assert_eq!(outcome(&r), "HIT");
    let text = r.text();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(text.contains("event: content_block_delta"));
    assert!(text.contains("echo: hello claude"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("data: {\"type\":\"message_stop\"}"),
        "{text}"
    );
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test]
async fn two_gateways_share_one_redis() {
    if !crate::harness::redis_available("two_gateways_share_one_redis") {
        return;
    }
    let mock = MockUpstream::start().await;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    // A model name of its own, so this run's entries are its own and purged at the end.
    let model = format!("shared-{}-{nanos}", std::process::id());
    let config = format!(
        r#"
redis: redis://127.0.0.1:6379
providers:
  mock: {{ kind: openai-compatible, base_url: "{}" }}
models:
  - name: {model}
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
    cache: {{ ttl: 1m, scope: global }}
"#,
        mock.base_url()
    );
    let a = Sluice::start(&config);
    let b = Sluice::start(&config);
    let body = json!({"model": model, "messages": [{"role": "user", "content": "shared answer"}]});
    let first = chat(&a, &body, &[]).await;
    assert_eq!(outcome(&first), "MISS");
    // The write lands on its own task: ask A until it hits (each miss stores again).
    let deadline = Instant::now() + Duration::from_secs(10);
    while outcome(&chat(&a, &body, &[]).await) != "HIT" {
        assert!(Instant::now() < deadline, "the answer never reached Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = mock.request_count();
    let from_b = chat(&b, &body, &[("authorization", "Bearer another-key")]).await;
    assert_eq!(outcome(&from_b), "HIT", "B reads what A stored");
    assert_eq!(from_b.body, first.body);
    assert_eq!(mock.request_count(), seen);
    let r = send(
        Method::DELETE,
        &b.url(&format!("/admin/v1/cache?model={model}")),
        &[],
        "",
    )
    .await;
    assert_eq!(r.json()["backend"], "redis");
    assert!(r.json()["purged"].as_u64().unwrap() >= 1, "{}", r.text());
    assert_eq!(outcome(&chat(&a, &body, &[]).await), "MISS");
    let _ = send(
        Method::DELETE,
        &a.url(&format!("/admin/v1/cache?model={model}")),
        &[],
        "",
    )
    .await;
}

/// With `scope: team`, keys of one team share answers and other teams never see them; a
/// team's entries can be purged alone.
#[tokio::test]
async fn team_scopes_share_within_a_team_only() {
    let mock = MockUpstream::start().await;
    let admin = "sk-admin-cache-123456";
    let g = Sluice::start(&format!(
        r#"
server: {{ admin_key: "{admin}" }}
providers:
  mock: {{ kind: openai-compatible, base_url: "{}" }}
models:
  - name: fast
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
    cache: {{ ttl: 1h, scope: team }}
"#,
        mock.base_url()
    ));
    let auth = format!("Bearer {admin}");
    let post = |path: &'static str, body: Value| {
        let g = &g;
        let auth = auth.clone();
        async move {
            let r = send(
                Method::POST,
                &g.url(path),
                &[
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ],
                body.to_string(),
            )
            .await;
            assert_eq!(r.status, 201, "{}", r.text());
            r.json()
        }
    };
    post("/admin/v1/teams", json!({"id": "team_a"})).await;
    post("/admin/v1/teams", json!({"id": "team_b"})).await;
    let key = |team: &'static str| {
        let post = &post;
        async move {
            post("/admin/v1/keys", json!({"name": team, "team": team})).await["key"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (a1, a2, b1) = (
        key("team_a").await,
        key("team_a").await,
        key("team_b").await,
    );
    let body = json!({"model": "fast", "messages": [{"role": "user", "content": "team answer"}]});
    let ask = |k: &str| {
        let auth = format!("Bearer {k}");
        let g = &g;
        let body = body.clone();
        async move { chat(g, &body, &[("authorization", auth.as_str())]).await }
    };
    assert_eq!(outcome(&ask(&a1).await), "MISS");
    let deadline = Instant::now() + Duration::from_secs(10);
    while outcome(&ask(&a2).await) != "HIT" {
        assert!(
            Instant::now() < deadline,
            "a team mate never saw the answer"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        outcome(&ask(&b1).await),
        "MISS",
        "another team must not see it"
    );
    let r = send(
        Method::DELETE,
        &g.url("/admin/v1/cache?team=team_a"),
        &[("authorization", auth.as_str())],
        "",
    )
    .await;
    assert_eq!(r.json()["purged"], 1, "{}", r.text());
    assert_eq!(outcome(&ask(&a2).await), "MISS");
}
