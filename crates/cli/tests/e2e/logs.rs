//! The request log as an operator sees it: every request leaves exactly one record, readable
//! at `/admin/v1/logs/{x-request-id}`, with the tokens, attempts, timings and status of what
//! happened, hang-ups included; SIGTERM flushes every record to the store; and a gateway
//! whose Postgres is unreachable keeps answering and journals its records.

use std::path::Path;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};

use crate::harness::{Sluice, get, mock_config, send, sse_data};

const CHAT: &str = "/v1/chat/completions";

fn hi(content: &str) -> Value {
    json!({"model": "fast", "messages": [{"role": "user", "content": content}]})
}

/// POSTs a chat request with `x-request-id: id` and extra headers.
async fn chat(
    gw: &Sluice,
    id: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> crate::harness::Resp {
    let mut all = vec![("content-type", "application/json"), ("x-request-id", id)];
    all.extend_from_slice(headers);
    send(Method::POST, &gw.url(CHAT), &all, body.to_string()).await
}

/// The record of request `id`, waiting for the writer's next batch (10 s at most).
async fn record(gw: &Sluice, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(&gw.url(&format!("/admin/v1/logs/{id}"))).await;
        if r.status == 200 {
            return r.json();
        }
        assert_eq!(r.status, 404, "{}", r.text());
        assert!(Instant::now() < deadline, "no log record for {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many stored records have request id `id`.
async fn count(gw: &Sluice, id: &str) -> usize {
    let page = get(&gw.url("/admin/v1/logs?limit=1000")).await.json();
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["id"] == id)
        .count()
}

/// `(provider, model, outcome, status)` of each attempt.
fn attempts(record: &Value) -> Vec<(String, String, String, Option<u64>)> {
    record["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["provider"].as_str().unwrap().to_owned(),
                a["model"].as_str().unwrap().to_owned(),
                a["outcome"].as_str().unwrap().to_owned(),
                a["status"].as_u64(),
            )
        })
        .collect()
}

fn ok(provider: &str, model: &str) -> (String, String, String, Option<u64>) {
    (provider.into(), model.into(), "ok".into(), None)
}

#[tokio::test]
async fn a_plain_request_leaves_one_complete_record() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    let resp = chat(
        &gw,
        "log-plain-1",
        &[
            ("x-sluice-user", "u-42"),
            ("x-sluice-tags", r#"{"feature":"search"}"#),
            ("user-agent", "e2e/1.0"),
        ],
        &hi("one two three"),
    )
    .await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let usage = resp.json()["usage"].clone();
    let r = record(&gw, "log-plain-1").await;
    assert_eq!(r["api"], "chat");
    assert_eq!(
        (r["method"].as_str(), r["path"].as_str()),
        (Some("POST"), Some(CHAT))
    );
    assert_eq!(r["status"], 200);
    assert_eq!(r["requested_model"], "fast");
    assert_eq!(r["resolved_model"], "fast");
    assert_eq!(r["provider"], "mock");
    assert_eq!(r["upstream_model"], "gpt-4o-mini");
    assert_eq!(r["prompt_tokens"], usage["prompt_tokens"]);
    assert_eq!(r["completion_tokens"], usage["completion_tokens"]);
    assert!(r["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(r["usage_source"], "upstream");
    assert_eq!(r["stream"], false);
    assert_eq!(r["ttft_ms"], Value::Null);
    assert_eq!(attempts(&r), [ok("mock", "gpt-4o-mini")]);
    assert_eq!(r["user"], "u-42");
    assert_eq!(r["tags"], json!({"feature": "search"}));
    assert_eq!(r["client_ip"], "127.0.0.1");
    assert_eq!(r["user_agent"], "e2e/1.0");
    assert_eq!(r["error_type"], Value::Null);
    let received = r["received_at"].as_i64().unwrap();
    assert!(r["done_at"].as_i64().unwrap() >= received);
    assert_eq!(r["request_body"], Value::Null, "bodies are off by default");
    assert_eq!(count(&gw, "log-plain-1").await, 1);
    // `sluice logs` prints it, as a table and as JSON lines.
    let table = cli_logs(&gw, &[]);
    assert!(
        table.lines().next().unwrap().starts_with("TIME (UTC)"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.contains("log-plain-1"))
        .expect(&table);
    assert!(
        row.contains("mock/gpt-4o-mini") && row.contains(" 200 "),
        "{row}"
    );
    let json = cli_logs(&gw, &["--json", "--model", "fast"]);
    let line: Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
    assert_eq!(line["id"], "log-plain-1");
    // Admin and health requests are not logged.
    assert!(
        get(&gw.url("/admin/v1/logs")).await.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["path"].as_str().unwrap().starts_with("/admin"))
    );
}

#[tokio::test]
async fn bodies_are_kept_only_when_asked_capped_and_without_credentials() {
    let mock = MockUpstream::start().await;
    let config = format!(
        "logging: {{ bodies: true, max_body_bytes: 300 }}\n{}",
        mock_config(&mock.base_url())
    );
    let gw = Sluice::start(&config);
    let key = "sk-client-key-0123456789";
    let mut body = hi(&format!("my key is {key} {}", "pad ".repeat(100)));
    body["user"] = json!("u-body");
    let auth = format!("Bearer {key}");
    let resp = chat(&gw, "log-bodies-1", &[("authorization", &auth)], &body).await;
    assert_eq!(resp.status, 200);
    let r = record(&gw, "log-bodies-1").await;
    let req = r["request_body"].as_str().unwrap();
    assert!(
        req.starts_with('{') && req.contains("\"messages\""),
        "{req}"
    );
    assert!(
        !req.contains(key),
        "the presented key is never stored: {req}"
    );
    assert!(req.contains("[REDACTED]"), "{req}");
    assert!(req.contains("…[truncated: "), "capped: {req}");
    let answer = r["response_body"].as_str().unwrap();
    assert!(
        answer.starts_with('{') && answer.contains("\"choices\""),
        "{answer}"
    );
    assert!(!answer.contains(key), "{answer}");
    assert_eq!(r["user"], "u-body", "the body's `user` is the end user");
}

#[tokio::test]
async fn a_stream_records_its_usage_chunk_and_time_to_first_token() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    let mut body = hi("streamed words here");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = chat(&gw, "log-stream-1", &[], &body).await;
    assert_eq!(resp.status, 200);
    let events = sse_data(&resp.body);
    let usage = events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .find(|c| c["usage"].is_object())
        .expect("a usage chunk")["usage"]
        .clone();
    let r = record(&gw, "log-stream-1").await;
    assert_eq!(r["stream"], true);
    assert_eq!(r["status"], 200);
    assert_eq!(r["prompt_tokens"], usage["prompt_tokens"]);
    assert_eq!(r["completion_tokens"], usage["completion_tokens"]);
    assert_eq!(r["usage_source"], "upstream");
    let ttft = r["ttft_ms"].as_u64().expect("ttft for a stream");
    assert!(ttft <= r["duration_ms"].as_u64().unwrap());
    assert!(r["first_byte_at"].as_i64().unwrap() >= r["received_at"].as_i64().unwrap());
    assert_eq!(attempts(&r), [ok("mock", "gpt-4o-mini")]);
    assert_eq!(count(&gw, "log-stream-1").await, 1);

    // A stream without a usage chunk is still one record, with its timings.
    let mut quiet = hi("three more words");
    quiet["stream"] = json!(true);
    let resp = chat(&gw, "log-stream-2", &[], &quiet).await;
    assert_eq!(resp.status, 200);
    let r = record(&gw, "log-stream-2").await;
    assert_eq!(
        (r["stream"].as_bool(), r["status"].as_u64()),
        (Some(true), Some(200))
    );
    assert!(r["ttft_ms"].is_u64(), "{r}");
}

#[tokio::test]
async fn retries_and_failures_record_every_attempt() {
    let mock = MockUpstream::start().await;
    let config = format!(
        "{}    retry: {{ max: 1, backoff: 1ms }}\n",
        mock_config(&mock.base_url())
    );
    let gw = Sluice::start(&config);
    mock.push(Behavior::openai_error(500, "boom", "server_error", None));
    let resp = chat(&gw, "log-retry-1", &[], &hi("again")).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    let r = record(&gw, "log-retry-1").await;
    assert_eq!(r["status"], 200);
    assert_eq!(
        attempts(&r),
        [
            ("mock".into(), "gpt-4o-mini".into(), "5xx".into(), Some(500)),
            ok("mock", "gpt-4o-mini"),
        ]
    );
    assert!(r["prompt_tokens"].as_u64().unwrap() > 0);

    // Both tries fail: the record has the client's status and the error.
    mock.push_times(Behavior::openai_error(503, "down", "server_error", None), 2);
    let resp = chat(&gw, "log-retry-2", &[], &hi("again")).await;
    assert_eq!(resp.status, 503, "{}", resp.text());
    let r = record(&gw, "log-retry-2").await;
    assert_eq!(r["status"], 503);
    assert_eq!(r["error_type"], resp.json()["error"]["type"]);
    assert!(r["error_message"].as_str().unwrap().contains("down"), "{r}");
    assert_eq!(r["usage_source"], "none");
    assert_eq!(r["provider"], Value::Null);
    let outcomes: Vec<_> = attempts(&r).into_iter().map(|a| (a.2, a.3)).collect();
    assert_eq!(
        outcomes,
        [("5xx".into(), Some(503)), ("5xx".into(), Some(503))]
    );

    // A request refused before any upstream call is logged too.
    let resp = chat(
        &gw,
        "log-unknown-model",
        &[],
        &json!({"model": "nope", "messages": []}),
    )
    .await;
    assert_eq!(resp.status, 404);
    let r = record(&gw, "log-unknown-model").await;
    assert_eq!(
        (r["status"].as_u64(), r["requested_model"].as_str()),
        (Some(404), Some("nope"))
    );
    assert!(r["attempts"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_client_hang_up_is_recorded_as_499() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::Delay(Duration::from_secs(5)));
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    let wait = hi("wait");
    let call = chat(&gw, "log-gone-1", &[], &wait);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), call)
            .await
            .is_err()
    );
    let r = record(&gw, "log-gone-1").await;
    assert_eq!(r["status"], 499);
    assert_eq!(r["error_type"], "client_closed");
    assert_eq!(r["requested_model"], "fast");
    assert_eq!(r["usage_source"], "none");
    assert_eq!(count(&gw, "log-gone-1").await, 1);

    // A stream the client drops half way is a 499 as well.
    mock.push(Behavior::StallMidStream { after_chunks: 2 });
    let mut body = hi("stall please");
    body["stream"] = json!(true);
    let resp = crate::harness::send_streaming(
        Method::POST,
        &gw.url(CHAT),
        &[
            ("content-type", "application/json"),
            ("x-request-id", "log-gone-2"),
        ],
        body.to_string(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut incoming = resp.into_body();
    crate::harness::read_events(&mut incoming, 1).await;
    drop(incoming);
    let r = record(&gw, "log-gone-2").await;
    assert_eq!(
        (r["status"].as_u64(), r["stream"].as_bool()),
        (Some(499), Some(true))
    );
    assert!(r["ttft_ms"].is_u64());
}

#[tokio::test]
async fn sigterm_flushes_every_record_to_the_sqlite_file() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("logs.db");
    // Records are written only at shutdown: the batch interval is far away.
    let config = format!(
        "store: sqlite://{}\nlogging: {{ batch_interval: 1h, journal: {} }}\n{}",
        db.display(),
        dir.path().join("journal").display(),
        mock_config(&mock.base_url())
    );
    let mut gw = Sluice::start(&config);
    let ids: Vec<String> = (0..20).map(|i| format!("log-term-{i}")).collect();
    for id in &ids {
        assert_eq!(chat(&gw, id, &[], &hi("flush me")).await.status, 200);
    }
    gw.terminate();
    let status = gw
        .wait_exit(Duration::from_secs(15))
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", gw.logs());
    let store = sluice_store::Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    assert_eq!(store.count_logs().await.unwrap(), 20);
    for id in &ids {
        let r = store.log(id).await.unwrap().expect("record");
        assert_eq!((r.status, r.provider.as_deref()), (200, Some("mock")));
    }
    assert_eq!(
        journal_lines(&dir.path().join("journal")),
        0,
        "nothing needed the journal"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_store_still_serves_and_journals() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let config = format!(
        "store: postgres://postgres@127.0.0.1:1/nowhere\nlogging: {{ journal: {} }}\n{}",
        journal.display(),
        mock_config(&mock.base_url())
    );
    let mut gw = Sluice::start(&config);
    for i in 0..3 {
        let resp = chat(&gw, &format!("log-pg-down-{i}"), &[], &hi("still here")).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while journal_ids(&journal).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "records not journalled:\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reading logs back needs the store: a clear error, not a hang.
    let r = get(&gw.url("/admin/v1/logs")).await;
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.text().contains("log store"), "{}", r.text());
    gw.terminate();
    assert!(gw.wait_exit(Duration::from_secs(15)).is_some());
    let mut ids = journal_ids(&journal);
    ids.sort();
    assert_eq!(ids, ["log-pg-down-0", "log-pg-down-1", "log-pg-down-2"]);
}

/// Runs `sluice logs ARGS` against `gw` and returns what it printed.
fn cli_logs(gw: &Sluice, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("logs")
        .args(args)
        .env("SLUICE_URL", gw.url(""))
        .env_remove("SLUICE_ADMIN_KEY")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The request ids of this file's records (`log-…`) in the journal directory.
fn journal_ids(dir: &Path) -> Vec<String> {
    crate::harness::journal_ids(dir)
        .into_iter()
        .filter(|id| id.starts_with("log-"))
        .collect()
}

fn journal_lines(dir: &Path) -> usize {
    journal_ids(dir).len()
}
