//! The semantic cache through the real binary, with the testkit's deterministic embedder
//! behind a model of the config: a paraphrase in the same conversation is served (as JSON
//! and as a stream, scored on the log), another conversation never is, a near-miss is
//! vetoed, a slow or failing embedder makes a plain miss, tools and hot sampling are
//! skipped on the log, purges remove semantic entries, and Redis shares them between two
//! gateways.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream, bedrock};

use crate::cache::{chat, outcome};
use crate::harness::{Resp, Sluice, get, redis_available, send, sse_data};

/// A gateway whose model `fast` (chat on `chat`) has a semantic cache embedding with the
/// model `embed` (on `embedder`); `semantic` adds settings, `top` top-level config.
fn gateway(chat: &MockUpstream, embedder: &MockUpstream, semantic: &str, top: &str) -> Sluice {
    Sluice::start(&config(chat, embedder, "fast", semantic, top))
}

fn config(
    chat: &MockUpstream,
    embedder: &MockUpstream,
    model: &str,
    semantic: &str,
    top: &str,
) -> String {
    format!(
        r#"
{top}
providers:
  mock: {{ kind: openai-compatible, base_url: "{}" }}
  emb: {{ kind: openai-compatible, base_url: "{}" }}
models:
  - name: embed
    targets: [ {{ provider: emb, model: text-embedding-3-small }} ]
  - name: {model}
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
    cache: {{ ttl: 1h, scope: global, semantic: {{ embedder: embed{semantic} }} }}
"#,
        chat.base_url(),
        embedder.base_url()
    )
}

/// A request to `model` whose last user message is `text`, after `earlier` messages.
fn ask_in(model: &str, earlier: &[Value], text: &str) -> Value {
    let mut messages = earlier.to_vec();
    messages.push(json!({"role": "user", "content": text}));
    json!({"model": model, "messages": messages})
}

fn ask(text: &str) -> Value {
    ask_in("fast", &[], text)
}

fn answer(r: &Resp) -> String {
    r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asks `body` (without storing its answer) until it is a semantic hit: the first answer's
/// write, which runs on its own task, has landed.
async fn until_semantic_hit(gw: &Sluice, body: &Value) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = chat(gw, body, &[("x-sluice-cache", "no-store")]).await;
        if outcome(&r) == "SEMANTIC-HIT" {
            return r;
        }
        assert_eq!(outcome(&r), "MISS");
        assert!(Instant::now() < deadline, "never a semantic hit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The log record of request `id`, once written.
async fn record(gw: &Sluice, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(&gw.url(&format!("/admin/v1/logs/{id}"))).await;
        if r.status == 200 {
            return r.json();
        }
        assert!(Instant::now() < deadline, "no log record for {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn id(r: &Resp) -> String {
    r.header("x-request-id").unwrap().to_owned()
}

async fn metrics(gw: &Sluice) -> String {
    send(Method::GET, &gw.url("/metrics"), &[], "").await.text()
}

#[tokio::test]
async fn a_paraphrase_is_served_as_json_and_as_a_stream_then_purged() {
    let (mock, embedder) = (MockUpstream::start().await, MockUpstream::start().await);
    let gw = gateway(&mock, &embedder, "", "");
    let first = chat(&gw, &ask("How do I reset my password?"), &[]).await;
    assert_eq!(outcome(&first), "MISS");
    let hit = until_semantic_hit(&gw, &ask("how can I reset my password")).await;
    let calls = mock.request_count();
    assert_eq!(answer(&hit), answer(&first), "the first question's answer");
    assert_eq!(hit.header("x-sluice-attempts"), Some("0"));
    assert!(hit.header("age").is_some());
    let mut stream = ask("how can I reset my password");
    stream["stream"] = json!(true);
    let replay = chat(&gw, &stream, &[]).await;
    assert_eq!(outcome(&replay), "SEMANTIC-HIT");
    assert_eq!(replay.header("content-type"), Some("text/event-stream"));
    let text: String = sse_data(&replay.body)
        .iter()
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| {
            let v: Value = serde_json::from_str(d).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, answer(&first));
    assert_eq!(mock.request_count(), calls, "hits never reach the upstream");
    let rec = record(&gw, &id(&hit)).await;
    assert_eq!(rec["cache"], "SEMANTIC-HIT");
    let score = rec["cache_score"].as_f64().unwrap();
    assert!((0.95..=1.0).contains(&score), "{score}");
    assert_eq!(rec["cost_usd"], 0.0);
    assert!(
        metrics(&gw)
            .await
            .contains("sluice_cache_semantic_hits_total{model=\"fast\"} 2")
    );
    let purge = send(
        Method::DELETE,
        &gw.url("/admin/v1/cache?model=fast"),
        &[],
        "",
    )
    .await;
    assert_eq!(purge.status, 200, "{}", purge.text());
    let after = chat(&gw, &ask("how can I reset my password"), &[]).await;
    assert_eq!(outcome(&after), "MISS", "purged with the answers");
}

#[tokio::test]
async fn a_bedrock_titan_embedder_serves_paraphrases() {
    let (mock, aws) = (MockUpstream::start().await, MockUpstream::start().await);
    let gw = Sluice::start(&format!(
        r#"
providers:
  mock: {{ kind: openai-compatible, base_url: "{}" }}
  aws: {{ kind: bedrock, base_url: "{}", region: {}, access_key_id: {}, secret_access_key: "{}" }}
models:
  - name: embed
    targets: [ {{ provider: aws, model: "amazon.titan-embed-text-v2:0" }} ]
  - name: fast
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
    cache: {{ ttl: 1h, scope: global, semantic: {{ embedder: embed }} }}
"#,
        mock.base_url(),
        aws.root_url(),
        bedrock::REGION,
        bedrock::ACCESS_KEY_ID,
        bedrock::SECRET_ACCESS_KEY,
    ));
    let first = chat(&gw, &ask("How do I reset my password?"), &[]).await;
    assert_eq!(outcome(&first), "MISS");
    let hit = until_semantic_hit(&gw, &ask("how can I reset my password")).await;
    assert_eq!(answer(&hit), answer(&first));
    let embeds = aws.received();
    assert!(embeds.len() >= 2, "{embeds:?}");
    assert!(
        embeds
            .iter()
            .all(|r| r.path == "/model/amazon.titan-embed-text-v2%3A0/invoke"),
        "signed InvokeModel calls (the mock verifies each signature)"
    );
}

#[tokio::test]
async fn another_conversation_never_matches() {
    let (mock, embedder) = (MockUpstream::start().await, MockUpstream::start().await);
    let gw = gateway(&mock, &embedder, "", "");
    let earlier = [
        json!({"role": "system", "content": "You are a support agent for Acme."}),
        json!({"role": "user", "content": "I use the mobile app."}),
        json!({"role": "assistant", "content": "Great, how can I help?"}),
    ];
    let question = "How do I reset my password?";
    chat(&gw, &ask_in("fast", &earlier, question), &[]).await;
    // The same conversation, another wording: served.
    until_semantic_hit(
        &gw,
        &ask_in("fast", &earlier, "how can I reset my password"),
    )
    .await;
    // The same question after other turns, or with no earlier turns: never.
    let mut other = earlier.clone();
    other[1] = json!({"role": "user", "content": "I use the website."});
    for body in [
        ask_in("fast", &other, "how can I reset my password"),
        ask_in("fast", &earlier[..1], "how can I reset my password"),
        ask("how can I reset my password"),
    ] {
        assert_eq!(outcome(&chat(&gw, &body, &[]).await), "MISS", "{body}");
    }
}

#[tokio::test]
async fn a_near_miss_is_vetoed_and_logged() {
    let (mock, embedder) = (MockUpstream::start().await, MockUpstream::start().await);
    let gw = gateway(&mock, &embedder, "", "");
    chat(&gw, &ask("Flights from Paris to Berlin"), &[]).await;
    // The control: a paraphrase is served, so the first answer is stored.
    until_semantic_hit(&gw, &ask("flights from Paris to Berlin please")).await;
    let calls = mock.request_count();
    // The same words the other way round: the embedder scores it 1.0, the verifier says no.
    let back = chat(&gw, &ask("Flights from Berlin to Paris"), &[]).await;
    assert_eq!(outcome(&back), "MISS");
    assert!(
        answer(&back).contains("Berlin to Paris"),
        "{}",
        answer(&back)
    );
    assert_eq!(mock.request_count(), calls + 1);
    let rec = record(&gw, &id(&back)).await;
    assert_eq!(rec["cache"], "SEMANTIC-VETO");
    assert!(rec["cache_score"].as_f64().unwrap() > 0.99);
    assert!(
        metrics(&gw)
            .await
            .contains("sluice_cache_semantic_vetoes_total{model=\"fast\"} 1")
    );
}

#[tokio::test]
async fn a_slow_or_failing_embedder_makes_a_plain_miss() {
    let (mock, embedder) = (MockUpstream::start().await, MockUpstream::start().await);
    let gw = gateway(&mock, &embedder, ", embed_timeout: 100ms", "");
    embedder.set_latency(Duration::from_secs(5));
    let slow = chat(&gw, &ask("What is the capital of France?"), &[]).await;
    assert_eq!(outcome(&slow), "MISS");
    assert!(answer(&slow).contains("capital of France"));
    embedder.set_latency(Duration::ZERO);
    embedder.push_times(
        Behavior::openai_error(500, "embedder down", "server_error", None),
        10,
    );
    let failed = chat(&gw, &ask("What is the capital of Spain?"), &[]).await;
    assert_eq!(outcome(&failed), "MISS");
    for r in [&slow, &failed] {
        let rec = record(&gw, &id(r)).await;
        assert_eq!(rec["cache"], "SEMANTIC-SKIP", "{rec}");
        assert_eq!(rec["status"], 200);
    }
    let m = metrics(&gw).await;
    assert!(
        m.contains(r#"sluice_cache_semantic_skips_total{model="fast",reason="embedder"}"#),
        "{m}"
    );
}

#[tokio::test]
async fn tools_and_hot_sampling_are_skipped_on_the_log() {
    let (mock, embedder) = (MockUpstream::start().await, MockUpstream::start().await);
    let gw = gateway(&mock, &embedder, ", max_temperature: 0.8", "");
    let mut tools = ask("What is the weather in Paris?");
    tools["tools"] = json!([{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]);
    let mut hot = ask("Write a poem about the sea.");
    hot["temperature"] = json!(1.2);
    for body in [tools, hot] {
        let r = chat(&gw, &body, &[]).await;
        assert_eq!(outcome(&r), "MISS");
        assert_eq!(record(&gw, &id(&r)).await["cache"], "SEMANTIC-SKIP");
    }
    assert_eq!(
        embedder.request_count(),
        0,
        "skipped requests are never embedded"
    );
    let m = metrics(&gw).await;
    for reason in ["tools", "temperature"] {
        let line =
            format!(r#"sluice_cache_semantic_skips_total{{model="fast",reason="{reason}"}} 1"#);
        assert!(m.contains(&line), "{line} in\n{m}");
    }
    // A cooler request is compared.
    let mut cool = ask("Write a poem about the sea.");
    cool["temperature"] = json!(0.5);
    chat(&gw, &cool, &[]).await;
    assert!(embedder.request_count() >= 1);
}

#[tokio::test]
async fn two_gateways_share_semantic_entries_through_redis() {
    if !redis_available("two_gateways_share_semantic_entries_through_redis") {
        return;
    }
    let (mock, embedder) = (MockUpstream::start().await, MockUpstream::start().await);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    // A model of its own, so this run's entries are its own and purged at the end.
    let model = format!("semantic-{}-{nanos}", std::process::id());
    let yaml = config(
        &mock,
        &embedder,
        &model,
        "",
        "redis: redis://127.0.0.1:6379",
    );
    let a = Sluice::start(&yaml);
    let b = Sluice::start(&yaml);
    let first = chat(&a, &ask_in(&model, &[], "How do I reset my password?"), &[]).await;
    assert_eq!(outcome(&first), "MISS");
    let from_b = until_semantic_hit(&b, &ask_in(&model, &[], "how can I reset my password")).await;
    assert_eq!(answer(&from_b), answer(&first), "B serves what A stored");
    let purge = send(
        Method::DELETE,
        &b.url(&format!("/admin/v1/cache?model={model}")),
        &[],
        "",
    )
    .await;
    assert_eq!(purge.json()["backend"], "redis");
    let after = chat(&a, &ask_in(&model, &[], "how can I reset my password"), &[]).await;
    assert_eq!(outcome(&after), "MISS", "the purge reached every replica");
    let _ = send(
        Method::DELETE,
        &a.url(&format!("/admin/v1/cache?model={model}")),
        &[],
        "",
    )
    .await;
}
