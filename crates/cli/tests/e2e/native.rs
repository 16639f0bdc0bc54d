//! Native pass-through, `/{provider}/…`: a provider's own API forwarded unchanged through the
//! real binary to the mocks (which serve OpenAI, Anthropic `/v1/messages` and Gemini
//! `/v1beta/models/…` on one server), with the provider's credentials in place of the
//! client's, streams relayed as they arrive, and upstream errors relayed as they are.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::Method;
use http_body_util::BodyExt;
use serde_json::Value;
use sluice_testkit::{Behavior, MockUpstream, Recorded, anthropic};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Resp, Sluice, create_key, get, post_as, read_events, send, send_streaming};

const ADMIN_KEY: &str = "sk-admin-native";
const GEMINI_GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";

/// Providers `claude` (Anthropic), `gem` (Gemini) and `openai` (OpenAI, base URL ending in
/// `/v1`), all on `mock`; `hidden` (OpenAI-compatible, `native: false`); `server` is put in
/// front (a `server:` section, or nothing).
fn config(mock: &MockUpstream, server: &str) -> String {
    format!(
        r#"
{server}
providers:
  claude: {{ kind: anthropic, base_url: "{root}", api_key: sk-ant-provider }}
  gem:    {{ kind: gemini, base_url: "{root}", api_key: gem-provider-key }}
  openai: {{ kind: openai, base_url: "{v1}", api_key: sk-openai-provider }}
  hidden: {{ kind: openai-compatible, base_url: "{v1}", api_key: sk-hidden, native: false }}
models:
  - name: fast
    targets: [ {{ provider: openai, model: gpt-4o-mini }} ]
"#,
        root = mock.root_url(),
        v1 = mock.base_url(),
    )
}

async fn start() -> (MockUpstream, Sluice) {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&config(&mock, ""));
    (mock, gw)
}

/// An Anthropic Messages body, formatted the way no serializer would write it, so a
/// re-encoding would show.
fn messages_body(text: &str, stream: bool) -> String {
    format!(
        "{{ \"model\":\"claude-sonnet-4-5\",\n  \"max_tokens\": 64, \"stream\": {stream},\n  \
         \"messages\": [ {{\"role\": \"user\", \"content\": \"{text}\"}} ],\n  \
         \"x_future\": 1.50 }}"
    )
}

fn gemini_body(text: &str) -> String {
    format!("{{\"contents\": [{{\"role\": \"user\", \"parts\": [{{\"text\": \"{text}\"}}]}}]}}")
}

fn assert_ok(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The OpenAI-shaped error of a gateway answer with `status`.
fn openai_error(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    let v = r.json();
    assert!(v["error"]["message"].is_string(), "OpenAI error shape: {v}");
    v["error"].clone()
}

/// No client credential and no gateway header reached the upstream.
fn assert_no_client_secrets(seen: &Recorded, secret: &str) {
    for (name, value) in &seen.headers {
        assert!(
            !value.contains(secret),
            "the client's key leaked upstream in {name}: {value}"
        );
        assert!(
            !name.starts_with("x-sluice-"),
            "gateway header {name} leaked"
        );
    }
}

/// An Anthropic request arrives byte for byte, at `{base_url}/v1/messages`, with the
/// provider's `x-api-key` instead of the client's, the client's `anthropic-version` and
/// `anthropic-beta` kept, and the answer relayed unchanged.
#[tokio::test]
async fn anthropic_request_arrives_byte_identical_with_the_provider_key() {
    let (mock, gw) = start().await;
    let body = messages_body("hello there", false);
    let r = send(
        Method::POST,
        &gw.url("/claude/v1/messages?beta=true"),
        &[
            ("content-type", "application/json"),
            ("x-api-key", "sk-client-own-key"),
            ("anthropic-version", "2023-01-01"),
            ("anthropic-beta", "prompt-caching-2024-07-31"),
            ("x-sluice-tags", "{\"a\":\"b\"}"),
            ("accept-encoding", "gzip"),
        ],
        body.clone(),
    )
    .await;
    assert_ok(&r);
    let seen = mock.last().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/v1/messages?beta=true")
    );
    assert_eq!(
        seen.body,
        body.as_bytes(),
        "the body arrives byte-identical"
    );
    assert_eq!(seen.header("x-api-key"), Some("sk-ant-provider"));
    assert_eq!(seen.header("anthropic-version"), Some("2023-01-01"));
    assert_eq!(
        seen.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("accept-encoding"), None);
    assert_eq!(
        seen.header("x-request-id"),
        r.header("x-request-id"),
        "the gateway's request id goes upstream"
    );
    assert_no_client_secrets(&seen, "sk-client-own-key");

    let answer = r.json();
    assert_eq!(answer["type"], "message", "Anthropic's own shape: {answer}");
    assert_eq!(answer["content"][0]["text"], "echo: hello there");
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(r.header("x-sluice-provider"), Some("claude"));
    assert!(
        r.header("x-sluice-upstream-request-id")
            .unwrap()
            .starts_with("req_mock_")
    );
    assert_ne!(
        r.header("x-request-id"),
        r.header("x-sluice-upstream-request-id")
    );
}

/// Without `anthropic-version` the gateway adds the one it speaks; a client key sent as
/// `Authorization: Bearer` is removed as well.
#[tokio::test]
async fn anthropic_version_is_added_when_the_client_sent_none() {
    let (mock, gw) = start().await;
    let r = send(
        Method::POST,
        &gw.url("/claude/v1/messages"),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-client-bearer"),
        ],
        messages_body("hi", false),
    )
    .await;
    assert_ok(&r);
    let seen = mock.last().unwrap();
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(seen.header("x-api-key"), Some("sk-ant-provider"));
    assert_eq!(seen.header("authorization"), None);
    assert_no_client_secrets(&seen, "sk-client-bearer");
}

/// Gemini gets its key as `x-goog-api-key`; a client key in the header or in `?key=` is
/// removed, other query parameters are kept.
#[tokio::test]
async fn gemini_request_gets_the_provider_key_as_x_goog_api_key() {
    let (mock, gw) = start().await;
    let body = gemini_body("hello gemini");
    let r = send(
        Method::POST,
        &gw.url(&format!("/gem{GEMINI_GENERATE}?key=client-query-key&x=1")),
        &[
            ("content-type", "application/json"),
            ("x-goog-api-key", "client-header-key"),
        ],
        body.clone(),
    )
    .await;
    assert_ok(&r);
    let seen = mock.last().unwrap();
    assert_eq!(seen.path, format!("{GEMINI_GENERATE}?x=1"));
    assert_eq!(seen.body, body.as_bytes());
    assert_eq!(seen.header("x-goog-api-key"), Some("gem-provider-key"));
    assert_no_client_secrets(&seen, "client-header-key");
    assert_no_client_secrets(&seen, "client-query-key");
    let answer = r.json();
    assert!(
        answer["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("hello gemini"),
        "Gemini's own shape: {answer}"
    );
    assert_eq!(r.header("x-sluice-provider"), Some("gem"));
}

/// OpenAI's base URL ends in `/v1`, so `/openai/v1/chat/completions` reaches
/// `{base_url}/chat/completions` (not `/v1/v1/…`); `/openai/models` works too. The key goes as
/// a Bearer token.
#[tokio::test]
async fn openai_request_gets_a_bearer_key_and_the_v1_rule() {
    let (mock, gw) = start().await;
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hey"}]}"#;
    let r = send(
        Method::POST,
        &gw.url("/openai/v1/chat/completions"),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-client-openai"),
            ("openai-organization", "org-1"),
        ],
        body,
    )
    .await;
    assert_ok(&r);
    let seen = mock.last().unwrap();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.body, body.as_bytes());
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer sk-openai-provider")
    );
    assert_eq!(seen.header("openai-organization"), Some("org-1"));
    assert_no_client_secrets(&seen, "sk-client-openai");
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: hey");

    for path in ["/openai/v1/models", "/openai/models"] {
        let r = get(&gw.url(path)).await;
        assert_ok(&r);
        assert_eq!(mock.last().unwrap().path, "/v1/models", "{path}");
        assert_eq!(r.json()["object"], "list");
    }
}

/// A stream is relayed event by event, `event:` lines included: with an upstream that sends
/// three events and then stalls, the client has those three; when it hangs up, the upstream
/// call is cancelled.
#[tokio::test]
async fn a_stream_is_relayed_event_by_event() {
    let (mock, gw) = start().await;
    mock.push(Behavior::StallMidStream { after_chunks: 3 });
    let resp = send_streaming(
        Method::POST,
        &gw.url("/claude/v1/messages"),
        &[
            ("content-type", "application/json"),
            ("anthropic-version", "2023-06-01"),
        ],
        messages_body("one two three four five", true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = resp.into_body();
    let events = read_events(&mut body, 3).await;
    let types: Vec<String> = events
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap()["type"].to_string())
        .collect();
    assert_eq!(
        types,
        ["\"message_start\"", "\"content_block_start\"", "\"ping\""]
    );
    let left = Instant::now();
    drop(body);
    tokio::time::timeout(Duration::from_secs(5), mock.wait_stream_closed())
        .await
        .expect("the upstream call was cancelled when the client left");
    eprintln!("upstream closed {:?} after the client left", left.elapsed());
}

/// A slow stream arrives at the pace the upstream sends it (nothing is held back), and its
/// bytes are exactly the upstream's (the same request sent straight to the mock).
#[tokio::test]
async fn a_slow_stream_is_not_buffered_and_arrives_byte_identical() {
    let (mock, gw) = start().await;
    let interval = Duration::from_millis(150);
    mock.push(Behavior::ChunkInterval(interval));
    let resp = send_streaming(
        Method::POST,
        &gw.url("/claude/v1/messages"),
        &[("content-type", "application/json")],
        messages_body("a b c d e f", true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut arrivals = Vec::new();
    let mut relayed = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            arrivals.push(Instant::now());
            relayed.extend_from_slice(&data);
        }
    }
    let spread = arrivals[arrivals.len() - 1] - arrivals[0];
    assert!(
        arrivals.len() >= 4 && spread >= interval * 3,
        "{} frames over {spread:?}: the stream was held back",
        arrivals.len()
    );

    let direct = send(
        Method::POST,
        &format!("{}/v1/messages", mock.root_url()),
        &[
            ("content-type", "application/json"),
            ("x-api-key", "k"),
            ("anthropic-version", "2023-06-01"),
        ],
        messages_body("a b c d e f", true),
    )
    .await;
    assert_eq!(
        without_ids(&String::from_utf8_lossy(&relayed)),
        without_ids(&direct.text()),
        "the relayed bytes are the upstream's"
    );
}

/// `text` with the mock's per-request message ids (`msg_mock_<n>`) made equal.
fn without_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("msg_mock_") {
        out.push_str(&rest[..i + "msg_mock_".len()]);
        rest = rest[i + "msg_mock_".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// Upstream errors are relayed as they are: Anthropic's 429 with its body, `retry-after` and
/// rate-limit headers, Gemini's own 400; neither is retried.
#[tokio::test]
async fn upstream_errors_are_relayed_with_their_own_status_and_body() {
    let (mock, gw) = start().await;
    let body429 = anthropic::error_body("rate_limit_error", "Number of requests exceeded");
    mock.push(Behavior::Respond {
        status: 429,
        headers: vec![
            ("retry-after".into(), "7".into()),
            ("anthropic-ratelimit-requests-remaining".into(), "0".into()),
            ("request-id".into(), "req_ant_1".into()),
            ("set-cookie".into(), "a=b".into()),
        ],
        body: body429.clone(),
    });
    let r = send(
        Method::POST,
        &gw.url("/claude/v1/messages"),
        &[("content-type", "application/json")],
        messages_body("hi", false),
    )
    .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), body429, "Anthropic's own error body");
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(
        r.header("anthropic-ratelimit-requests-remaining"),
        Some("0")
    );
    assert_eq!(r.header("request-id"), Some("req_ant_1"));
    assert_eq!(r.header("set-cookie"), None);
    assert_eq!(mock.request_count(), 1, "not retried");

    // The Gemini mock's own validation error: an empty `contents`.
    let r = send(
        Method::POST,
        &gw.url(&format!("/gem{GEMINI_GENERATE}")),
        &[("content-type", "application/json")],
        r#"{"contents": []}"#,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let e = r.json();
    assert_eq!(
        e["error"]["status"], "INVALID_ARGUMENT",
        "Gemini's shape: {e}"
    );
    assert_eq!(e["error"]["code"], 400);
}

/// A transport failure (nothing listens) is a gateway error in the OpenAI shape.
#[tokio::test]
async fn a_transport_failure_is_a_gateway_error() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let gw = Sluice::start(&format!(
        "providers:\n  claude: {{ kind: anthropic, base_url: \"http://{closed}\", api_key: k }}\n"
    ));
    let r = send(
        Method::POST,
        &gw.url("/claude/v1/messages"),
        &[("content-type", "application/json")],
        messages_body("hi", false),
    )
    .await;
    let e = openai_error(&r, 502);
    assert_eq!(e["code"], "upstream_connect_error", "{e}");
}

/// Unknown providers and providers with `native: false` are 404s in the OpenAI shape, and
/// nothing goes upstream; the demo provider has no native API (501).
#[tokio::test]
async fn unknown_and_non_native_providers_are_404() {
    let (mock, gw) = start().await;
    for path in ["/nosuch/v1/messages", "/hidden/v1/chat/completions"] {
        let r = send(
            Method::POST,
            &gw.url(path),
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
        let e = openai_error(&r, 404);
        assert_eq!(e["code"], "not_found", "{e}");
        assert!(e["message"].as_str().unwrap().contains(path), "{e}");
    }
    assert_eq!(mock.request_count(), 0);

    let demo = Sluice::start("providers:\n  demo: { kind: demo }\n");
    let r = get(&demo.url("/demo/v1/models")).await;
    openai_error(&r, 501);
}

/// The gateway's own routes win over `/{provider}/…`.
#[tokio::test]
async fn gateway_routes_are_not_shadowed() {
    let (mock, gw) = start().await;
    let r = get(&gw.url("/v1/models")).await;
    assert_ok(&r);
    let list = r.json();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&"fast"), "the gateway's model list: {list}");
    assert_eq!(r.header("x-sluice-provider"), None);

    let r = get(&gw.url("/health/live")).await;
    assert_ok(&r);
    assert_eq!(r.json()["status"], "ok");
    let r = get(&gw.url("/admin/v1/models")).await;
    assert_ok(&r);
    let r = get(&gw.url("/v1/models/fast")).await;
    assert_ok(&r);

    let r = get(&gw.url("/v1/no/such/thing")).await;
    let e = openai_error(&r, 404);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("no route for /v1/no/such/thing"),
        "{e}"
    );
    let r = get(&gw.url("/health/somewhere")).await;
    openai_error(&r, 404);
    let r = send(Method::POST, &gw.url("/health/live"), &[], "").await;
    openai_error(&r, 405);
    let r = get(&gw.url("/v1/chat/completions")).await;
    openai_error(&r, 405);
    assert_eq!(mock.request_count(), 0, "none of these went upstream");
}

/// With `server.admin_key`, native routes need it (in any accepted header, Gemini's
/// `x-goog-api-key` included), and it never goes upstream.
#[tokio::test]
async fn admin_key_guards_native_routes_and_is_not_forwarded() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&config(
        &mock,
        &format!("server: {{ admin_key: \"{ADMIN_KEY}\" }}"),
    ));
    let post = |headers: Vec<(&'static str, String)>| {
        let url = gw.url("/claude/v1/messages");
        async move {
            let mut all: Vec<(&str, &str)> = vec![("content-type", "application/json")];
            all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
            send(Method::POST, &url, &all, messages_body("hi", false)).await
        }
    };
    let r = post(vec![]).await;
    openai_error(&r, 401);
    let r = post(vec![("x-api-key", "sk-wrong".into())]).await;
    openai_error(&r, 401);
    assert_eq!(mock.request_count(), 0);

    for (header, value) in [
        ("x-api-key", ADMIN_KEY.to_owned()),
        ("authorization", format!("Bearer {ADMIN_KEY}")),
        ("api-key", ADMIN_KEY.to_owned()),
    ] {
        let r = post(vec![(header, value)]).await;
        assert_ok(&r);
        let seen = mock.last().unwrap();
        assert_eq!(
            seen.header("x-api-key"),
            Some("sk-ant-provider"),
            "{header}"
        );
        assert_no_client_secrets(&seen, ADMIN_KEY);
    }

    let r = send(
        Method::POST,
        &gw.url(&format!("/gem{GEMINI_GENERATE}")),
        &[
            ("content-type", "application/json"),
            ("x-goog-api-key", ADMIN_KEY),
        ],
        gemini_body("hi"),
    )
    .await;
    assert_ok(&r);
    let seen = mock.last().unwrap();
    assert_eq!(seen.header("x-goog-api-key"), Some("gem-provider-key"));
    assert_no_client_secrets(&seen, ADMIN_KEY);

    // Unknown providers are not revealed to a client without the key.
    let r = post_to(&gw, "/nosuch/v1/messages").await;
    openai_error(&r, 401);
}

async fn post_to(gw: &Sluice, path: &str) -> Resp {
    send(
        Method::POST,
        &gw.url(path),
        &[("content-type", "application/json")],
        "{}",
    )
    .await
}

/// Bodies stream upstream within `server.max_body`: over the limit is a 413 whether the
/// length is declared or the body arrives chunked; under it, a chunked upload arrives whole.
#[tokio::test]
async fn bodies_are_streamed_within_max_body() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&config(&mock, "server: { max_body: 1KiB }"));
    let big = messages_body(&"word ".repeat(400), false);
    let r = send(
        Method::POST,
        &gw.url("/claude/v1/messages"),
        &[("content-type", "application/json")],
        big.clone(),
    )
    .await;
    let e = openai_error(&r, 413);
    assert_eq!(e["code"], "request_too_large");
    assert_eq!(mock.request_count(), 0);

    let (status, text) = chunked_post(gw.addr, "/claude/v1/messages", &big).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("request_too_large"), "{text}");

    let small = messages_body("small chunked upload", false);
    let (status, text) = chunked_post(gw.addr, "/claude/v1/messages", &small).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(mock.last().unwrap().body, small.as_bytes());
}

/// POSTs `body` in two chunks with no `content-length`; the status and the body text.
async fn chunked_post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let (first, rest) = body.split_at(body.len() / 2);
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    for part in [first, rest] {
        request.push_str(&format!("{:x}\r\n{part}\r\n", part.len()));
    }
    request.push_str("0\r\n\r\n");
    let exchange = async {
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        conn.write_all(request.as_bytes()).await.expect("write");
        let mut out = Vec::new();
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
    (status, text)
}

/// A native request is logged like any other (the access log line has its path and status).
#[tokio::test]
async fn native_requests_are_logged() {
    let (_mock, gw) = start().await;
    let r = send(
        Method::POST,
        &gw.url("/claude/v1/messages"),
        &[("content-type", "application/json")],
        messages_body("hi", false),
    )
    .await;
    assert_ok(&r);
    let id = r.header("x-request-id").unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let logs = gw.logs();
        if logs
            .lines()
            .any(|l| l.contains(&id) && l.contains("/claude/v1/messages") && l.contains("200"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no access log line for {id}:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A native request's record has the tokens, the model and the cost, found in the answer
/// the gateway relayed without decoding it: Anthropic JSON and streams (whose prompt count
/// is only in `message_start`), and Gemini JSON (whose model is only in the path).
#[tokio::test]
async fn native_records_carry_tokens_model_and_cost() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&config(
        &mock,
        &format!("server: {{ admin_key: {ADMIN_KEY} }}\nlogging: {{ batch_interval: 50ms }}"),
    ));
    let admin = [("authorization", format!("Bearer {ADMIN_KEY}"))];
    let headers: Vec<(&str, &str)> = vec![
        ("content-type", "application/json"),
        ("x-api-key", ADMIN_KEY),
    ];
    let calls = [
        (
            "native-json",
            "/claude/v1/messages",
            messages_body("hello there", false),
        ),
        (
            "native-sse",
            "/claude/v1/messages",
            messages_body("hello there", true),
        ),
        (
            "native-gem",
            &format!("/gem{GEMINI_GENERATE}"),
            gemini_body("hello there"),
        ),
    ];
    for (id, path, body) in &calls {
        let mut h = headers.clone();
        h.push(("x-request-id", id));
        let r = send(Method::POST, &gw.url(path), &h, body.clone()).await;
        assert_ok(&r);
    }
    for (id, model) in [
        ("native-json", "claude-sonnet-4-5"),
        ("native-sse", "claude-sonnet-4-5"),
        ("native-gem", "gemini-2.5-flash"),
    ] {
        let deadline = Instant::now() + Duration::from_secs(10);
        let rec = loop {
            let r = send(
                Method::GET,
                &gw.url(&format!("/admin/v1/logs/{id}")),
                &[("authorization", admin[0].1.as_str())],
                String::new(),
            )
            .await;
            if r.status == 200 {
                break r.json();
            }
            assert!(Instant::now() < deadline, "no record for {id}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(rec["api"], "native", "{rec}");
        assert_eq!(rec["upstream_model"], model, "{rec}");
        assert!(
            rec["prompt_tokens"].as_u64().unwrap_or(0) > 0,
            "{id}: {rec}"
        );
        assert!(
            rec["completion_tokens"].as_u64().unwrap_or(0) > 0,
            "{id}: {rec}"
        );
        assert_eq!(rec["usage_source"], "upstream", "{rec}");
        assert!(rec["cost_usd"].as_f64().unwrap_or(0.0) > 0.0, "{id}: {rec}");
    }
}

/// A native stream that goes silent for longer than the provider's `timeout.idle` is cut
/// off instead of holding the client forever.
#[tokio::test]
async fn a_stalled_native_stream_ends_after_the_idle_timeout() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        "providers:\n  claude: {{ kind: anthropic, base_url: \"{}\", api_key: k, \
         timeout: {{ idle: 300ms }} }}\n",
        mock.root_url()
    ));
    mock.push(Behavior::StallMidStream { after_chunks: 2 });
    let started = Instant::now();
    let resp = send_streaming(
        Method::POST,
        &gw.url("/claude/v1/messages"),
        &[("content-type", "application/json")],
        messages_body("one two", true),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match body.frame().await {
                Some(Ok(_)) => continue,
                Some(Err(_)) => return "broken off",
                None => return "ended",
            }
        }
    })
    .await
    .expect("the stalled stream was cut off");
    eprintln!("{ended} after {:?}", started.elapsed());
    tokio::time::timeout(Duration::from_secs(5), mock.wait_stream_closed())
        .await
        .expect("the upstream call was closed");
}

/// Virtual keys reach native routes under their limits: the allowlist is checked as
/// `PROVIDER/*`, and the key's RPM counts native requests too.
#[tokio::test]
async fn native_routes_apply_virtual_keys_and_their_limits() {
    let mock = sluice_testkit::MockUpstream::start().await;
    let admin = "sk-admin-native-123456";
    let gw = crate::harness::Sluice::start(&format!(
        "server: {{ admin_key: \"{admin}\" }}\nproviders:\n  mock: {{ kind: openai-compatible, base_url: \"{}\" }}\n",
        mock.base_url()
    ));
    let (_, limited) = create_key(
        &gw,
        admin,
        serde_json::json!({"name": "n", "rpm": 1, "models": ["mock/*"]}),
    )
    .await;
    let (_, elsewhere) = create_key(
        &gw,
        admin,
        serde_json::json!({"name": "o", "models": ["other/*"]}),
    )
    .await;
    let body = serde_json::json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let url = gw.url("/mock/v1/chat/completions");
    let call = |key: String| {
        let (url, body) = (url.clone(), body.clone());
        async move { post_as(&url, &key, &body, &[]).await }
    };
    assert_eq!(call(limited.clone()).await.status, 200);
    let r = call(limited).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(
        r.json()["error"]["code"],
        "rate_limit_exceeded_requests_key"
    );
    let r = call(elsewhere).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(mock.request_count(), 1);
}
