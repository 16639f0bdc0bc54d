//! The checks the server runs itself, through the real binary: an LLM judge served by a mock
//! provider (allow, block, time out, in both failure modes; in parallel with the upstream
//! call, where a late block cancels the answer; the moderation endpoint), a policy webhook
//! (allow, deny, modify on input and output, failure modes), and a `json_schema` check that
//! asks again for an answer that fails it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};

use crate::guardrails::{ADMIN, serve, streamed};
use crate::harness::{Resp, Sluice, post_as};

const CHAT: &str = "/v1/chat/completions";

/// A gateway whose models reach `upstream` and whose judge model `guard` is served by
/// `judge`, with the given `guardrails:` entries; model `m` runs `checks`.
fn gateway(upstream: &str, judge: &str, guardrails: &str, checks: &str) -> Sluice {
    Sluice::start(&format!(
        r#"
server: {{ admin_key: "{ADMIN}" }}
providers:
  up: {{ kind: openai-compatible, base_url: "{upstream}" }}
  judges: {{ kind: openai-compatible, base_url: "{judge}" }}
guardrails:
{guardrails}
models:
  - name: m
    targets: [ {{ provider: up, model: gpt-4o-mini }} ]
    guardrails: [{checks}]
  - name: guard
    targets: [ {{ provider: judges, model: llama-guard-3-8b }} ]
logging: {{ batch_interval: 50ms }}
"#
    ))
}

fn ask(content: &str, stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": content}]})
}

async fn chat(gw: &Sluice, id: &str, body: &Value) -> Resp {
    post_as(&gw.url(CHAT), ADMIN, body, &[("x-request-id", id)]).await
}

/// An OpenAI chat completion whose answer is `content`.
fn completion(content: &str) -> String {
    json!({
        "id": "chatcmpl-j", "object": "chat.completion", "created": 1, "model": "llama-guard-3-8b",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34}
    })
    .to_string()
}

fn verdict(content: &str) -> Behavior {
    Behavior::Status {
        status: 200,
        body: completion(content),
    }
}

/// The error of a refused request, after checking it is a `guardrail_blocked` 400.
fn blocked(r: &Resp) -> String {
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["code"], "guardrail_blocked", "{e}");
    e["message"].as_str().unwrap().to_owned()
}

/// The `guardrails` field of request `id`'s log record, once written.
async fn outcomes(gw: &Sluice, id: &str) -> Vec<Value> {
    crate::guardrails::record(gw, id).await["guardrails"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_judge_allows_blocks_and_fails_either_way() {
    let upstream = MockUpstream::start().await;
    let judge = MockUpstream::start().await;
    let gw = gateway(
        &upstream.base_url(),
        &judge.base_url(),
        "  open: { kind: judge, model: guard, timeout: 400ms, on_error: allow }\n  strict: { kind: judge, model: guard, timeout: 400ms, on_error: block }\n  out: { kind: judge, model: guard, stage: output, instructions: Judge the reply. }",
        "open",
    );

    judge.push(verdict("safe"));
    let r = chat(&gw, "judge-safe", &ask("hello there", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(upstream.request_count(), 1);
    let asked = judge.last_json();
    assert_eq!(asked["model"], "llama-guard-3-8b");
    assert_eq!(
        asked["messages"],
        json!([{"role": "user", "content": "hello there"}])
    );

    judge.push(verdict("unsafe\nS1,S10"));
    let r = chat(&gw, "judge-unsafe", &ask("something violent", false)).await;
    assert_eq!(
        blocked(&r),
        "blocked by guardrail \"open\": the judge found the request unsafe: S1 (violent crimes), S10 (hate)"
    );
    assert_eq!(
        upstream.request_count(),
        1,
        "a blocked request never goes upstream"
    );
    let logged = outcomes(&gw, "judge-unsafe").await;
    assert_eq!(logged[0]["check"], "open");
    assert_eq!(logged[0]["action"], "block");
    assert_eq!(
        logged[0]["hits"],
        json!([{"kind": "S1", "count": 1}, {"kind": "S10", "count": 1}])
    );

    // A judge that does not answer in time: `allow` lets the request through and records
    // the failure; `block` refuses it.
    judge.set_latency(Duration::from_millis(1500));
    let r = chat(&gw, "judge-slow", &ask("hello again", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(upstream.request_count(), 2);
    let logged = outcomes(&gw, "judge-slow").await;
    assert_eq!(logged[0]["action"], "pass");
    let error = logged[0]["error"].as_str().unwrap();
    assert!(
        error.contains("timed out") || error.contains("did not answer within 400 ms"),
        "{logged:?}"
    );

    let strict = gateway(
        &upstream.base_url(),
        &judge.base_url(),
        "  strict: { kind: judge, model: guard, timeout: 400ms, on_error: block }",
        "strict",
    );
    let r = chat(&strict, "judge-slow-strict", &ask("hello again", false)).await;
    let message = blocked(&r);
    assert!(
        message.starts_with("blocked by guardrail \"strict\": the check could not run (")
            && message.ends_with("and on_error is block"),
        "{message}"
    );
    // An answer that is no verdict is a failure too.
    judge.set_latency(Duration::ZERO);
    judge.push(verdict("I would rather not say"));
    let r = chat(&strict, "judge-garbled", &ask("hello", false)).await;
    assert!(blocked(&r).contains("neither a verdict nor JSON"));
    assert_eq!(upstream.request_count(), 2);
}

#[tokio::test]
async fn an_output_judge_reads_the_answer_and_withholds_it() {
    let upstream = MockUpstream::start().await;
    let judge = MockUpstream::start().await;
    let gw = gateway(
        &upstream.base_url(),
        &judge.base_url(),
        "  out: { kind: judge, model: guard, stage: output, instructions: 'Answer {\"verdict\": \"allow\" or \"block\", \"categories\": [...]}' }",
        "out",
    );
    judge.push(verdict(
        r#"{"verdict": "block", "categories": ["medical"], "reason": "dosage advice"}"#,
    ));
    let r = chat(&gw, "judge-out", &ask("how much aspirin", false)).await;
    assert_eq!(
        blocked(&r),
        "blocked by guardrail \"out\": the judge found the answer unsafe: medical — dosage advice"
    );
    let asked = judge.last_json();
    assert_eq!(
        asked["messages"],
        json!([
            {"role": "system", "content": "Answer {\"verdict\": \"allow\" or \"block\", \"categories\": [...]}"},
            {"role": "user", "content": "how much aspirin"},
            {"role": "assistant", "content": "echo: how much aspirin"},
        ])
    );

    // A stream: the text flows, but its end waits for the verdict, which ends it with an
    // error event instead.
    judge.push(verdict(r#"{"verdict": "block"}"#));
    let r = chat(&gw, "judge-out-stream", &ask("how much aspirin", true)).await;
    let (text, error) = streamed(&r);
    assert_eq!(text, "echo: how much aspirin");
    assert_eq!(error.unwrap()["code"], "guardrail_blocked");
    judge.push(verdict(r#"{"verdict": "allow"}"#));
    let r = chat(&gw, "judge-out-stream-ok", &ask("hi", true)).await;
    assert_eq!(streamed(&r), ("echo: hi".to_owned(), None));
}

#[tokio::test]
async fn a_parallel_judge_runs_alongside_and_a_late_block_cancels_the_answer() {
    let upstream = MockUpstream::start().await;
    let judge = MockUpstream::start().await;
    judge.set_latency(Duration::from_millis(400));
    let gw = gateway(
        &upstream.base_url(),
        &judge.base_url(),
        "  early: { kind: judge, model: guard, parallel: true }",
        "early",
    );

    judge.push(verdict("unsafe\nS2"));
    let r = chat(&gw, "par-json", &ask("help me steal", false)).await;
    assert_eq!(
        blocked(&r),
        "blocked by guardrail \"early\": the judge found the request unsafe: S2 (non-violent crimes)"
    );
    assert_eq!(
        upstream.request_count(),
        1,
        "the upstream call ran while the judge thought"
    );

    upstream.set_chunk_interval(Duration::from_millis(30));
    judge.push(verdict("unsafe\nS2"));
    let r = chat(&gw, "par-stream", &ask("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen", true)).await;
    let (text, error) = streamed(&r);
    assert_eq!(error.unwrap()["code"], "guardrail_blocked");
    assert!(
        !text.contains("sixteen"),
        "the answer was cut short: {text}"
    );
    let logged = outcomes(&gw, "par-stream").await;
    assert_eq!(logged[0]["action"], "block");

    judge.push(verdict("safe"));
    let r = chat(&gw, "par-ok", &ask("one two three", true)).await;
    assert_eq!(streamed(&r), ("echo: one two three".to_owned(), None));
}

#[tokio::test]
async fn a_moderation_endpoint_judges_the_texts() {
    let upstream = MockUpstream::start().await;
    let judge = MockUpstream::start().await;
    let gw = gateway(
        &upstream.base_url(),
        &judge.base_url(),
        "  mod: { kind: judge, model: guard, endpoint: moderations }",
        "mod",
    );
    judge.push(Behavior::Status {
        status: 200,
        body: json!({"id": "modr-1", "model": "omni-moderation-latest", "results": [
            {"flagged": true, "categories": {"harassment": true, "violence": false}, "category_scores": {"harassment": 0.9}}
        ]})
        .to_string(),
    });
    let r = chat(&gw, "mod-1", &ask("you are awful", false)).await;
    assert_eq!(
        blocked(&r),
        "blocked by guardrail \"mod\": the judge found the request unsafe: harassment"
    );
    let asked = judge.last().unwrap();
    assert_eq!(asked.path, "/v1/moderations");
    let asked: Value = serde_json::from_slice(&asked.body).unwrap();
    assert_eq!(
        asked,
        json!({"input": ["you are awful"], "model": "llama-guard-3-8b"})
    );
}

/// A policy webhook: denies requests that mention `forbidden`, rewrites those that mention
/// `rewrite`, replaces answers that mention `redact-me`, allows the rest; keeps every body.
struct Policy {
    addr: std::net::SocketAddr,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Policy {
    async fn start() -> Policy {
        let (addr, bodies) = serve(|body| {
            let body: Value = serde_json::from_str(body).unwrap_or_default();
            let said = body["request"]["messages"].to_string();
            let answer = match body["stage"].as_str() {
                Some("input") if said.contains("forbidden") => {
                    json!({"action": "deny", "reason": "that topic is not allowed here"})
                }
                Some("input") if said.contains("rewrite") => {
                    let mut req = body["request"].clone();
                    req["messages"][0]["content"] = json!("rewritten by policy");
                    json!({"action": "modify", "request": req})
                }
                Some("output") if body["response"].to_string().contains("redact-me") => {
                    let mut resp = body["response"].clone();
                    resp["choices"][0]["message"]["content"] = json!("[redacted by policy]");
                    json!({"action": "modify", "response": resp})
                }
                _ => json!({"action": "allow"}),
            };
            ("application/json", answer.to_string())
        })
        .await;
        Policy { addr, bodies }
    }

    fn url(&self) -> String {
        format!("http://{}/check", self.addr)
    }

    fn bodies(&self) -> Vec<Value> {
        let bodies = self.bodies.lock().unwrap();
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).unwrap_or_default())
            .collect()
    }
}

#[tokio::test]
async fn a_webhook_allows_denies_and_modifies() {
    let upstream = MockUpstream::start().await;
    let policy = Policy::start().await;
    let url = policy.url();
    let gw = gateway(
        &upstream.base_url(),
        &upstream.base_url(),
        &format!(
            "  policy: {{ kind: webhook, url: '{url}', stage: both, headers: {{ authorization: Bearer hook-secret }} }}"
        ),
        "policy",
    );

    let r = chat(&gw, "hook-allow", &ask("hello", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: hello");
    let seen = policy.bodies();
    assert_eq!(seen.len(), 2, "input and output: {seen:?}");
    assert_eq!(
        (
            &seen[0]["check"],
            &seen[0]["stage"],
            &seen[0]["model"],
            &seen[0]["request_id"]
        ),
        (
            &json!("policy"),
            &json!("input"),
            &json!("m"),
            &json!("hook-allow")
        )
    );
    assert_eq!(seen[0]["request"]["messages"][0]["content"], "hello");
    assert_eq!(seen[1]["stage"], "output");
    assert_eq!(
        seen[1]["response"]["choices"][0]["message"]["content"],
        "echo: hello"
    );

    let r = chat(&gw, "hook-deny", &ask("tell me the forbidden thing", false)).await;
    assert_eq!(
        blocked(&r),
        "blocked by guardrail \"policy\": that topic is not allowed here"
    );
    assert_eq!(upstream.request_count(), 1);

    let r = chat(&gw, "hook-rewrite", &ask("please rewrite me", false)).await;
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "echo: rewritten by policy"
    );
    assert_eq!(
        upstream.last_json()["messages"][0]["content"],
        "rewritten by policy"
    );

    let r = chat(&gw, "hook-redact", &ask("redact-me now", false)).await;
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "[redacted by policy]"
    );
    let logged = outcomes(&gw, "hook-redact").await;
    let actions: Vec<(&str, &str)> = logged
        .iter()
        .map(|o| (o["stage"].as_str().unwrap(), o["action"].as_str().unwrap()))
        .collect();
    assert_eq!(actions, [("input", "pass"), ("output", "modify")]);
}

#[tokio::test]
async fn a_webhook_that_fails_is_decided_by_on_error() {
    let upstream = MockUpstream::start().await;
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/check", closed.local_addr().unwrap());
    drop(closed);
    let gw = gateway(
        &upstream.base_url(),
        &upstream.base_url(),
        &format!(
            "  lenient: {{ kind: webhook, url: '{url}', timeout: 500ms }}\n  strict: {{ kind: webhook, url: '{url}', timeout: 500ms, on_error: block }}"
        ),
        "lenient",
    );
    let r = chat(&gw, "hook-down", &ask("hello", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let logged = outcomes(&gw, "hook-down").await;
    assert_eq!(logged[0]["action"], "pass");
    assert!(logged[0]["error"].as_str().is_some(), "{logged:?}");

    let strict = gateway(
        &upstream.base_url(),
        &upstream.base_url(),
        &format!("  strict: {{ kind: webhook, url: '{url}', timeout: 500ms, on_error: block }}"),
        "strict",
    );
    let r = chat(&strict, "hook-down-strict", &ask("hello", false)).await;
    assert!(
        blocked(&r).starts_with("blocked by guardrail \"strict\": the check could not run"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn an_answer_that_fails_its_schema_is_asked_for_again() {
    let upstream = MockUpstream::start().await;
    let gw = gateway(
        &upstream.base_url(),
        &upstream.base_url(),
        "  shape: { kind: json_schema, retries: 1 }",
        "shape",
    );
    let schema =
        json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "a number"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "num", "schema": schema}}});

    upstream.push(Behavior::Status {
        status: 200,
        body: completion(r#"{"n": "seven"}"#),
    });
    upstream.push(Behavior::Status {
        status: 200,
        body: completion(r#"{"n": 7}"#),
    });
    let r = chat(&gw, "schema-retry", &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], r#"{"n": 7}"#);
    assert_eq!(upstream.request_count(), 2);
    let rec = crate::guardrails::record(&gw, "schema-retry").await;
    assert_eq!(rec["prompt_tokens"], 60, "both answers are paid for: {rec}");

    upstream.push_times(
        Behavior::Status {
            status: 200,
            body: completion("not json"),
        },
        2,
    );
    let r = chat(&gw, "schema-fail", &body).await;
    assert!(blocked(&r).contains("\"shape\""));
    assert_eq!(upstream.request_count(), 4, "one try and one retry");
}

/// A streamed answer that a late verdict withholds is never cached: the same request asked
/// again goes upstream, and only an answer the judge let through is served from the cache.
#[tokio::test]
async fn a_stream_withheld_by_a_late_verdict_is_not_cached() {
    let upstream = MockUpstream::start().await;
    let judge = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        r#"
server: {{ admin_key: "{ADMIN}" }}
providers:
  up: {{ kind: openai-compatible, base_url: "{}" }}
  judges: {{ kind: openai-compatible, base_url: "{}" }}
guardrails:
  out: {{ kind: judge, model: guard, stage: output }}
models:
  - name: m
    targets: [ {{ provider: up, model: gpt-4o-mini }} ]
    guardrails: [out]
    cache: {{ ttl: 1h }}
  - name: guard
    targets: [ {{ provider: judges, model: llama-guard-3-8b }} ]
"#,
        upstream.base_url(),
        judge.base_url()
    ));
    let body = ask("tell me a secret", true);
    judge.push(verdict("unsafe\nS7"));
    let r = chat(&gw, "late-1", &body).await;
    assert_eq!(streamed(&r).1.unwrap()["code"], "guardrail_blocked");
    // The store would have happened by now if it were going to.
    tokio::time::sleep(Duration::from_millis(300)).await;
    judge.push(verdict("safe"));
    let r = chat(&gw, "late-2", &body).await;
    assert_eq!(r.header("x-sluice-cache"), Some("MISS"));
    assert_eq!(streamed(&r), ("echo: tell me a secret".to_owned(), None));
    assert_eq!(
        upstream.request_count(),
        2,
        "the withheld answer was not served from the cache"
    );
    // The approved answer is stored and served.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = chat(&gw, "late-3", &body).await;
        if r.header("x-sluice-cache") == Some("HIT") {
            assert_eq!(streamed(&r), ("echo: tell me a secret".to_owned(), None));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the approved answer was never cached"
        );
        judge.push(verdict("safe"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
