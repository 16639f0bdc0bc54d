//! Every way a request can fail, as a client sees it: an OpenAI-shaped error body
//! `{"error":{"message","type","param","code"}}` with a status it can act on, and a gateway
//! process that never panics.

// Every function in this test binary is test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Resp, Sluice, get, mock_config, post_json, send, sse_data};

const CHAT: &str = "/v1/chat/completions";

fn hi() -> Value {
    json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]})
}

fn hi_stream() -> Value {
    json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "one two three four"}]})
}

/// Checks that `r` has `status` and an OpenAI-shaped error body; returns its `error` object.
fn openai_error(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "unexpected status; body: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{}",
        r.text()
    );
    let body = r.json();
    let obj = body.as_object().expect("the body is a JSON object");
    assert_eq!(obj.len(), 1, "only `error` at the top level: {body}");
    let e = &body["error"];
    let fields = e.as_object().expect("`error` is an object");
    for key in ["message", "type", "param", "code"] {
        assert!(fields.contains_key(key), "`error.{key}` is missing: {body}");
    }
    assert!(
        !e["message"].as_str().unwrap_or_default().is_empty(),
        "{body}"
    );
    assert!(e["type"].is_string(), "{body}");
    assert!(e["param"].is_null() || e["param"].is_string(), "{body}");
    assert!(e["code"].is_null() || e["code"].is_string(), "{body}");
    e.clone()
}

/// The gateway logged no panic while serving the test.
fn assert_no_panic(gw: &Sluice) {
    let logs = gw.logs();
    assert!(!logs.contains("panicked"), "the gateway panicked:\n{logs}");
}

/// An OpenAI-style base URL on a loopback port where nothing listens.
fn refused_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

/// A gateway in front of `mock` with the alias `fast`.
fn gateway_for(mock: &MockUpstream) -> Sluice {
    Sluice::start(&mock_config(&mock.base_url()))
}

/// Sends a raw HTTP/1.1 request and returns the status and the body that follows the head.
async fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let exchange = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        conn.write_all(request).await.expect("write");
        let mut out = Vec::new();
        // The gateway may close once it has answered; whatever arrived is the answer.
        let _ = conn.read_to_end(&mut out).await;
        out
    };
    let out = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the gateway answered");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A JSON body roughly `len` bytes long.
fn chat_body_of_len(len: usize) -> String {
    json!({"model": "fast", "messages": [{"role": "user", "content": "x".repeat(len)}]}).to_string()
}

// ---------------------------------------------------------------------------------------------
// The client's request is wrong: 400, 404, 405, 413.

/// A body that is not JSON at all is a 400 that says so.
#[tokio::test]
async fn malformed_json_is_a_400_that_mentions_json() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    let r = send(
        Method::POST,
        &gw.url(CHAT),
        &[("content-type", "application/json")],
        r#"{"model": "fast", "messages": [ "#,
    )
    .await;
    let e = openai_error(&r, 400);
    assert_eq!(e["type"], "invalid_request_error");
    assert!(e["message"].as_str().unwrap().contains("JSON"), "{e}");
    assert_eq!(mock.request_count(), 0, "nothing reaches the upstream");
    assert_no_panic(&gw);
}

/// An empty body is a 400, not a crash or a hang.
#[tokio::test]
async fn empty_body_is_a_400() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    let r = send(
        Method::POST,
        &gw.url(CHAT),
        &[("content-type", "application/json")],
        "",
    )
    .await;
    let e = openai_error(&r, 400);
    assert!(e["message"].as_str().unwrap().contains("empty"), "{e}");
    assert_no_panic(&gw);
}

/// A field of the wrong type is a 400 whose `param` is the field's path.
#[tokio::test]
async fn wrong_field_type_names_the_field_path() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);

    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}),
    )
    .await;
    let e = openai_error(&r, 400);
    assert_eq!(e["param"], "temperature");
    assert!(
        e["message"].as_str().unwrap().contains("temperature"),
        "{e}"
    );

    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "fast", "messages": [{"role": "user", "content": 5}]}),
    )
    .await;
    let e = openai_error(&r, 400);
    assert_eq!(e["param"], "messages[0].content");

    let r = post_json(&gw.url(CHAT), &json!({"model": "fast", "messages": "hi"})).await;
    assert_eq!(openai_error(&r, 400)["param"], "messages");

    assert_eq!(mock.request_count(), 0);
    assert_no_panic(&gw);
}

/// A request without `model` (or with an empty one) is a 400 that names `model`.
#[tokio::test]
async fn missing_model_is_a_400() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    let r = post_json(
        &gw.url(CHAT),
        &json!({"messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let e = openai_error(&r, 400);
    assert!(e["message"].as_str().unwrap().contains("model"), "{e}");

    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(openai_error(&r, 400)["param"], "model");
    assert_no_panic(&gw);
}

/// A typo in the model name is a 404 `model_not_found` that suggests the alias meant.
#[tokio::test]
async fn unknown_model_is_a_404_that_suggests_the_close_match() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "fsat", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let e = openai_error(&r, 404);
    assert_eq!(e["code"], "model_not_found");
    assert_eq!(e["param"], "model");
    let msg = e["message"].as_str().unwrap();
    assert!(msg.contains("`fsat`"), "{msg}");
    assert!(
        msg.contains("`fast`"),
        "the close match is suggested: {msg}"
    );
    assert_eq!(mock.request_count(), 0);
    assert_no_panic(&gw);
}

/// A body over `server.max_body` is a 413, whether its length is declared up front or the
/// body arrives chunked with no length; a body under the limit still works.
#[tokio::test]
async fn body_over_max_body_is_a_413_with_or_without_content_length() {
    let mock = MockUpstream::start().await;
    let yaml = format!(
        "server: {{ max_body: 1KiB }}\n{}",
        mock_config(&mock.base_url())
    );
    let gw = Sluice::start(&yaml);

    let r = send(
        Method::POST,
        &gw.url(CHAT),
        &[("content-type", "application/json")],
        chat_body_of_len(600),
    )
    .await;
    assert_eq!(
        r.status,
        200,
        "a body under the limit is served: {}",
        r.text()
    );

    let r = send(
        Method::POST,
        &gw.url(CHAT),
        &[("content-type", "application/json")],
        chat_body_of_len(4096),
    )
    .await;
    let e = openai_error(&r, 413);
    assert_eq!(e["code"], "request_too_large");

    // Chunked: the gateway can only find out by reading.
    let body = chat_body_of_len(4096);
    let (first, rest) = body.split_at(512);
    let mut request = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        gw.addr
    );
    for part in [first, rest] {
        request.push_str(&format!("{:x}\r\n{part}\r\n", part.len()));
    }
    request.push_str("0\r\n\r\n");
    let (status, body) = raw_http(gw.addr, request.as_bytes()).await;
    assert_eq!(status, 413, "{body}");
    let start = body.find('{').expect("a JSON body");
    let end = body.rfind('}').expect("a JSON body");
    let v: Value = serde_json::from_str(&body[start..=end]).expect("JSON");
    assert_eq!(v["error"]["code"], "request_too_large", "{v}");

    assert_eq!(
        mock.request_count(),
        1,
        "only the small request went upstream"
    );
    assert_no_panic(&gw);
}

/// A path that does not exist and a wrong method both answer in OpenAI's shape.
#[tokio::test]
async fn unknown_path_is_404_and_wrong_method_is_405() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    let r = get(&gw.url("/v1/no/such/thing")).await;
    let e = openai_error(&r, 404);
    assert!(
        e["message"].as_str().unwrap().contains("/v1/no/such/thing"),
        "{e}"
    );
    let r = post_json(&gw.url("/nowhere"), &hi()).await;
    openai_error(&r, 404);

    let r = get(&gw.url(CHAT)).await;
    let e = openai_error(&r, 405);
    assert!(e["message"].as_str().unwrap().contains("GET"), "{e}");
    assert_no_panic(&gw);
}

/// `x-sluice-timeout` bounds the whole request (504), and a value that is not a duration is
/// a 400 naming the header.
#[tokio::test]
async fn x_sluice_timeout_gives_504_and_a_bad_value_400() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    mock.push(Behavior::Delay(Duration::from_secs(3)));
    let r = send(
        Method::POST,
        &gw.url(CHAT),
        &[
            ("content-type", "application/json"),
            ("x-sluice-timeout", "300ms"),
        ],
        hi().to_string(),
    )
    .await;
    let e = openai_error(&r, 504);
    assert_eq!(e["code"], "upstream_timeout");

    let r = send(
        Method::POST,
        &gw.url(CHAT),
        &[
            ("content-type", "application/json"),
            ("x-sluice-timeout", "soon"),
        ],
        hi().to_string(),
    )
    .await;
    let e = openai_error(&r, 400);
    assert_eq!(e["param"], "x-sluice-timeout");
    assert_eq!(
        mock.request_count(),
        1,
        "the bad header never went upstream"
    );
    assert_no_panic(&gw);
}

// ---------------------------------------------------------------------------------------------
// The upstream fails: 502, 504, or its own status.

/// A provider whose port is closed is a 502 that names the provider.
#[tokio::test]
async fn upstream_refused_is_a_502() {
    let gw = Sluice::start(&mock_config(&refused_base_url()));
    let r = post_json(&gw.url(CHAT), &hi()).await;
    let e = openai_error(&r, 502);
    assert_eq!(e["code"], "upstream_connect_error");
    assert!(e["message"].as_str().unwrap().contains("mock"), "{e}");

    let r = post_json(&gw.url(CHAT), &hi_stream()).await;
    openai_error(&r, 502);
    assert_no_panic(&gw);
}

/// An upstream that drops the connection without answering is a 502.
#[tokio::test]
async fn upstream_reset_is_a_502() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    mock.push(Behavior::Reset);
    let r = post_json(&gw.url(CHAT), &hi()).await;
    let e = openai_error(&r, 502);
    assert_eq!(e["type"], "upstream_error");

    mock.push(Behavior::Reset);
    let r = post_json(&gw.url(CHAT), &hi_stream()).await;
    openai_error(&r, 502);

    let r = post_json(&gw.url(CHAT), &hi()).await;
    assert_eq!(r.status, 200, "the next request is fine: {}", r.text());
    assert_no_panic(&gw);
}

/// An upstream slower than the provider's `first_byte` timeout is a 504.
#[tokio::test]
async fn upstream_timeout_is_a_504() {
    let mock = MockUpstream::start().await;
    let yaml = format!(
        r#"
providers:
  mock: {{ kind: openai-compatible, base_url: "{}", api_key: "sk-upstream-secret-123", timeout: {{ first_byte: 200ms }} }}
models:
  - name: fast
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
"#,
        mock.base_url()
    );
    let gw = Sluice::start(&yaml);
    mock.push(Behavior::Delay(Duration::from_secs(2)));
    let r = post_json(&gw.url(CHAT), &hi()).await;
    let e = openai_error(&r, 504);
    assert_eq!(e["code"], "upstream_timeout");

    mock.push(Behavior::Delay(Duration::from_secs(2)));
    let r = post_json(&gw.url(CHAT), &hi_stream()).await;
    openai_error(&r, 504);
    assert_no_panic(&gw);
}

/// A 200 whose body is not JSON is the upstream's fault: 502, and the message says so.
#[tokio::test]
async fn upstream_garbage_is_a_502_blaming_the_upstream() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    mock.push(Behavior::Garbage);
    let r = post_json(&gw.url(CHAT), &hi()).await;
    let e = openai_error(&r, 502);
    assert!(e["message"].as_str().unwrap().contains("upstream"), "{e}");
    assert_no_panic(&gw);
}

/// An upstream 4xx keeps its status, message, type and code.
#[tokio::test]
async fn upstream_400_keeps_status_message_type_and_code() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    mock.push(Behavior::openai_error(
        400,
        "bad param x",
        "invalid_request_error",
        Some("bad_x"),
    ));
    let r = post_json(&gw.url(CHAT), &hi()).await;
    let e = openai_error(&r, 400);
    assert_eq!(e["message"], "bad param x");
    assert_eq!(e["type"], "invalid_request_error");
    assert_eq!(e["code"], "bad_x");
    assert_eq!(mock.request_count(), 1, "a client error is not retried");
    assert_no_panic(&gw);
}

/// An upstream 5xx keeps its status and message, streamed or not.
#[tokio::test]
async fn upstream_503_keeps_status_and_message() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    mock.push(Behavior::openai_error(
        503,
        "The engine is currently overloaded",
        "server_error",
        None,
    ));
    let r = post_json(&gw.url(CHAT), &hi()).await;
    let e = openai_error(&r, 503);
    assert_eq!(e["message"], "The engine is currently overloaded");

    mock.push(Behavior::openai_error(
        503,
        "The engine is currently overloaded",
        "server_error",
        None,
    ));
    let r = post_json(&gw.url(CHAT), &hi_stream()).await;
    let e = openai_error(&r, 503);
    assert_eq!(e["message"], "The engine is currently overloaded");
    assert_no_panic(&gw);
}

/// An upstream 429 reaches the client as a 429 with the upstream's `Retry-After`.
#[tokio::test]
async fn upstream_429_is_a_429_with_retry_after() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    mock.push(Behavior::rate_limited(3));
    let r = post_json(&gw.url(CHAT), &hi()).await;
    let e = openai_error(&r, 429);
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_no_panic(&gw);
}

// ---------------------------------------------------------------------------------------------
// A stream that fails after it began.

/// Splits a finished SSE body into its chunks (parsed) and checks how it ended: an error
/// event and no `[DONE]`. Returns the chunks before the error and the error object.
fn failed_stream(r: &Resp) -> (Vec<Value>, Value) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = sse_data(&r.body);
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "a failed stream must not claim success: {events:?}"
    );
    let (last, before) = events.split_last().expect("at least the error event");
    let err: Value = serde_json::from_str(last).expect("the last event is JSON");
    let e = &err["error"];
    assert!(e["message"].is_string() && e["type"].is_string(), "{err}");
    let chunks = before
        .iter()
        .map(|s| serde_json::from_str::<Value>(s).expect("chunk JSON"))
        .collect();
    (chunks, e.clone())
}

/// The upstream drops the connection after two chunks: the client keeps the two chunks and
/// then gets an error event instead of `[DONE]`.
#[tokio::test]
async fn stream_reset_midway_ends_with_an_error_event() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    mock.push(Behavior::ResetMidStream { after_chunks: 2 });
    let r = post_json(&gw.url(CHAT), &hi_stream()).await;
    let (chunks, e) = failed_stream(&r);
    assert_eq!(
        chunks.len(),
        2,
        "the chunks sent before the reset arrive: {chunks:?}"
    );
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk", "{c}");
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(e["message"].as_str().unwrap().contains("mock"), "{e}");
    assert_no_panic(&gw);
}

/// A stream that breaks before any content was sent is still a clean error: a 502 with an
/// OpenAI body, not a 200 that ends in an error event (and so it can be retried, below).
#[tokio::test]
async fn garbage_stream_before_content_is_a_502() {
    let mock = MockUpstream::start().await;
    let gw = gateway_for(&mock);
    mock.push(Behavior::GarbageStream);
    let r = post_json(&gw.url(CHAT), &hi_stream()).await;
    let e = openai_error(&r, 502);
    assert!(e["message"].as_str().unwrap().contains("upstream"), "{e}");
    assert_no_panic(&gw);
}

/// With a retry configured, a stream that breaks before content is retried transparently:
/// the client sees one clean stream.
#[tokio::test]
async fn a_stream_broken_before_content_is_retried() {
    let mock = MockUpstream::start().await;
    let yaml = format!(
        r#"
providers:
  mock: {{ kind: openai-compatible, base_url: "{}" }}
models:
  - name: fast
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
    retry: {{ max: 1, backoff: 10ms }}
"#,
        mock.base_url()
    );
    let gw = Sluice::start(&yaml);
    mock.push(Behavior::GarbageStream);
    let r = post_json(&gw.url(CHAT), &hi_stream()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-attempts"), Some("2"));
    let events = crate::harness::sse_data(&r.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(mock.request_count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Retries and fallbacks hide failures the client never needs to see.

/// With `retry: { max: 1 }`, one upstream 500 is retried and the client gets a 200 that
/// says two attempts were made.
#[tokio::test]
async fn a_retry_turns_an_upstream_500_into_a_200() {
    let mock = MockUpstream::start().await;
    let yaml = format!(
        r#"
providers:
  mock: {{ kind: openai-compatible, base_url: "{}", api_key: "sk-upstream-secret-123" }}
models:
  - name: fast
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
    retry: {{ max: 1, backoff: 10ms }}
"#,
        mock.base_url()
    );
    let gw = Sluice::start(&yaml);
    mock.push(Behavior::openai_error(
        500,
        "internal oops",
        "server_error",
        None,
    ));
    let r = post_json(&gw.url(CHAT), &hi()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-attempts"), Some("2"));
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: hi");
    assert_eq!(mock.request_count(), 2);
    assert_no_panic(&gw);
}

/// When every target of a model is down, its `fallbacks` answer instead.
#[tokio::test]
async fn fallback_model_answers_when_the_first_provider_is_down() {
    let mock = MockUpstream::start().await;
    let yaml = format!(
        r#"
providers:
  dead: {{ kind: openai-compatible, base_url: "{}", api_key: "sk-dead" }}
  mock: {{ kind: openai-compatible, base_url: "{}", api_key: "sk-upstream-secret-123" }}
models:
  - name: fast
    targets: [ {{ provider: dead, model: gpt-4o-mini }} ]
    fallbacks: [backup]
  - name: backup
    targets: [ {{ provider: mock, model: gpt-4o }} ]
"#,
        refused_base_url(),
        mock.base_url()
    );
    let gw = Sluice::start(&yaml);
    let r = post_json(&gw.url(CHAT), &hi()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-provider"), Some("mock"));
    assert_eq!(r.header("x-sluice-model"), Some("gpt-4o"));
    assert_eq!(r.header("x-sluice-attempts"), Some("2"));
    assert_eq!(mock.last_json()["model"], "gpt-4o");

    let r = post_json(&gw.url(CHAT), &hi_stream()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-provider"), Some("mock"));
    assert_eq!(sse_data(&r.body).last().map(String::as_str), Some("[DONE]"));
    assert_no_panic(&gw);
}
