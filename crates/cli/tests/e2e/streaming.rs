//! Streaming as a client sees it: events relayed one by one as the upstream sends them, a
//! client hang-up cancelling the upstream call, usage and tool-call chunks, and chunk fields
//! passed through unchanged.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};
use tokio::io::AsyncWriteExt;

use crate::harness::{Sluice, mock_config, post_json, read_events, send_streaming, sse_data};

const CHAT: &str = "/v1/chat/completions";
/// How long a cancellation may take before the test calls it a failure (not a timing target).
const CANCEL_GUARD: Duration = Duration::from_secs(5);

fn stream_body(content: &str) -> Value {
    json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": content}]})
}

/// Starts a streaming chat request through `gw` and returns its still-open body.
async fn open_stream(gw: &Sluice, body: &Value) -> hyper::body::Incoming {
    let resp = send_streaming(
        Method::POST,
        &gw.url(CHAT),
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    resp.into_body()
}

/// The JSON chunks of an SSE body, checking that it ends with `[DONE]`.
fn chunks(body: &[u8]) -> Vec<Value> {
    let events = sse_data(body);
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "the stream must end with [DONE]: {}",
        String::from_utf8_lossy(body)
    );
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap_or_else(|err| panic!("{err}: {e}")))
        .collect()
}

/// Waits until the mock noticed an unfinished stream being dropped, and reports how long
/// that took after `since`.
async fn assert_upstream_closed(mock: &MockUpstream, since: Instant, what: &str) {
    let closed = tokio::time::timeout(CANCEL_GUARD, mock.wait_stream_closed())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{what}: the upstream call was still open {CANCEL_GUARD:?} after the client left"
            )
        });
    eprintln!(
        "{what}: upstream closed {:?} after the client disconnected",
        closed.saturating_duration_since(since)
    );
}

/// Events are relayed as they arrive: with an upstream that sends three events and then
/// stalls forever, the client still gets those three.
#[tokio::test]
async fn events_are_relayed_one_by_one_without_waiting_for_the_end() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::StallMidStream { after_chunks: 3 });
    let gw = Sluice::start(&mock_config(&mock.base_url()));

    let mut body = open_stream(&gw, &stream_body("one two three four five six")).await;
    let events = read_events(&mut body, 3).await;

    assert_eq!(events.len(), 3, "{events:?}");
    let chunks: Vec<Value> = events
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: one", "the first two words arrived");
}

/// A client that hangs up mid-stream cancels the upstream call, even while the upstream is
/// silent.
#[tokio::test]
async fn client_disconnect_mid_stream_cancels_the_upstream() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::StallMidStream { after_chunks: 2 });
    let gw = Sluice::start(&mock_config(&mock.base_url()));

    let mut body = open_stream(&gw, &stream_body("one two three")).await;
    read_events(&mut body, 1).await;
    assert!(mock.streams_closed().is_empty());
    let left = Instant::now();
    drop(body);

    assert_upstream_closed(&mock, left, "stalled stream").await;
}

/// The same with a slow upstream that is still sending: the gateway stops reading from it.
#[tokio::test]
async fn client_disconnect_cancels_a_slow_stream() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::ChunkInterval(Duration::from_millis(200)));
    let gw = Sluice::start(&mock_config(&mock.base_url()));

    let mut body = open_stream(&gw, &stream_body("a b c d e f g h i j k l m n o p")).await;
    read_events(&mut body, 1).await;
    let left = Instant::now();
    drop(body);

    assert_upstream_closed(&mock, left, "slow stream").await;
}

/// A non-stream client that hangs up while the gateway waits on the upstream cancels the
/// upstream call too. (The mock only observes dropped response bodies, so the upstream
/// answers with its head and then holds the body back; a `Behavior::Delay` before the head
/// is not observable.)
#[tokio::test]
async fn client_disconnect_cancels_a_waiting_non_stream_call() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::StallMidStream { after_chunks: 0 });
    let gw = Sluice::start(&mock_config(&mock.base_url()));

    let body =
        json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let mut conn = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let head = format!(
        "POST {CHAT} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        gw.addr,
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body.as_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while mock.request_count() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the request reached the upstream");
    let left = Instant::now();
    drop(conn);

    assert_upstream_closed(&mock, left, "non-stream call").await;
}

/// With `stream_options.include_usage` the last chunk before `[DONE]` has no choices and
/// carries the usage; without it no chunk carries usage. Either way the upstream is asked
/// for usage (the gateway needs it), so its chunks say `"usage": null`, relayed as sent.
#[tokio::test]
async fn include_usage_adds_a_final_usage_chunk() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&mock_config(&mock.base_url()));

    let mut req = stream_body("count these four words");
    req["stream_options"] = json!({"include_usage": true});
    let r = post_json(&gw.url(CHAT), &req).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let with = chunks(&r.body);
    let last = with.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 4);
    assert_eq!(last["usage"]["completion_tokens"], 5);
    assert_eq!(last["usage"]["total_tokens"], 9);
    assert!(
        with[..with.len() - 1]
            .iter()
            .all(|c| c["usage"].is_null() && !c["choices"].as_array().unwrap().is_empty()),
        "only the last chunk carries usage: {with:?}"
    );

    let r = post_json(&gw.url(CHAT), &stream_body("count these four words")).await;
    assert_eq!(
        mock.last_json()["stream_options"],
        json!({"include_usage": true})
    );
    let without = chunks(&r.body);
    assert!(without.iter().all(|c| c["usage"].is_null()), "{without:?}");
    assert!(
        without
            .iter()
            .all(|c| !c["choices"].as_array().unwrap().is_empty())
    );
}

/// A streamed tool call arrives as `tool_calls` deltas: index, id and function name first,
/// then argument fragments that join into valid JSON, and finish reason `tool_calls`.
#[tokio::test]
async fn tool_calls_stream_as_deltas() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    let req = json!({
        "model": "fast", "stream": true,
        "messages": [{"role": "user", "content": "weather in Paris?"}],
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }}]
    });
    let r = post_json(&gw.url(CHAT), &req).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let chunks = chunks(&r.body);

    let first = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["id"], "call_mock_1");
    assert_eq!(first["type"], "function");
    assert_eq!(first["function"]["name"], "get_weather");

    let mut arguments = String::new();
    let mut fragments = 0;
    for c in &chunks[1..] {
        if let Some(calls) = c["choices"][0]["delta"]["tool_calls"].as_array() {
            assert_eq!(calls[0]["index"], 0);
            assert!(calls[0].get("id").is_none(), "the id comes only once");
            arguments.push_str(calls[0]["function"]["arguments"].as_str().unwrap());
            fragments += 1;
        }
    }
    assert!(fragments >= 2, "arguments arrive in fragments: {chunks:?}");
    let args: Value = serde_json::from_str(&arguments).expect("arguments are JSON");
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

/// Every chunk reaches the client exactly as the upstream sent it: the same stream fetched
/// straight from the (deterministic) mock matches what came through the gateway.
#[tokio::test]
async fn stream_chunks_reach_the_client_unchanged() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    let mut req = stream_body("keep every field");
    req["stream_options"] = json!({"include_usage": true});

    let via_gateway = post_json(&gw.url(CHAT), &req).await;
    assert_eq!(via_gateway.status, 200, "{}", via_gateway.text());
    let got = chunks(&via_gateway.body);

    req["model"] = json!("gpt-4o-mini");
    let direct = post_json(&format!("{}/chat/completions", mock.base_url()), &req).await;
    let mut expected = chunks(&direct.body);
    // The mock numbers its answers and stamps the time; the first answer was the gateway's.
    for c in &mut expected {
        c["id"] = json!("chatcmpl-mock-1");
        c["created"] = got[0]["created"].clone();
    }

    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e, "a chunk changed on its way through the gateway");
    }
    assert_eq!(got[0]["system_fingerprint"], "fp_mock");
    assert!(got[0]["usage"].is_null() && got[0].get("usage").is_some());
}

/// Fields this gateway has never heard of (`obfuscation`, new delta fields) are relayed too.
#[tokio::test]
async fn unknown_chunk_fields_reach_the_client() {
    let mock = MockUpstream::start().await;
    let upstream = [
        json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
               "model": "gpt-4o-mini", "system_fingerprint": "fp_x", "service_tier": "default",
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}],
               "obfuscation": "a1B2"}),
        json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
               "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": "Hi", "future_delta": {"x": [1]}},
               "logprobs": {"content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}]},
               "finish_reason": null}], "obfuscation": "c3"}),
        json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
               "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}],
               "obfuscation": "d"}),
    ];
    let sse: String = upstream
        .iter()
        .map(|c| format!("data: {c}\n\n"))
        .chain(["data: [DONE]\n\n".to_owned()])
        .collect();
    mock.push(Behavior::Respond {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        body: sse,
    });
    let gw = Sluice::start(&mock_config(&mock.base_url()));

    let r = post_json(&gw.url(CHAT), &stream_body("hi")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(chunks(&r.body), upstream);
}
