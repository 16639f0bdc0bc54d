//! Drives the mock upstream over real HTTP with a plain hyper client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn send(
    c: &HttpClient,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    c.request(req.body(Full::new(body.into())).unwrap()).await
}

async fn post_json(mock: &MockUpstream, path: &str, body: &Value) -> (StatusCode, String, Bytes) {
    let url = format!("{}{path}", mock.base_url());
    let resp = send(
        &client(),
        Method::POST,
        &url,
        &[("content-type", "application/json")],
        serde_json::to_vec(body).unwrap(),
    )
    .await
    .unwrap();
    let status = resp.status();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, bytes)
}

/// Parses an SSE body into its data payloads.
fn sse_data(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("\n\n"), "events end with a blank line");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").unwrap().to_owned())
        .collect()
}

fn chat_body(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello world"}
        ]
    })
}

#[tokio::test]
async fn non_stream_chat_shape() {
    let mock = MockUpstream::start().await;
    let (status, ct, body) = post_json(&mock, "/chat/completions", &chat_body(false)).await;
    assert_eq!(status, 200);
    assert_eq!(ct, "application/json");
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["id"], "chatcmpl-mock-1");
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["system_fingerprint"], "fp_mock");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "echo: hello world");
    assert!(choice["message"]["refusal"].is_null());
    assert!(choice["logprobs"].is_null());
    assert_eq!(choice["finish_reason"], "stop");
    let u = &v["usage"];
    assert_eq!(u["prompt_tokens"], 4);
    assert_eq!(u["completion_tokens"], 3);
    assert_eq!(u["total_tokens"], 7);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
}

#[tokio::test]
async fn stream_chunks_and_done() {
    let mock = MockUpstream::start().await;
    let (status, ct, body) = post_json(&mock, "/chat/completions", &chat_body(true)).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/event-stream"));
    let data = sse_data(&body);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], "chatcmpl-mock-1");
        assert_eq!(c["model"], "gpt-4o-mini");
        assert!(c.get("usage").is_none(), "no usage without include_usage");
    }
    let first = &chunks[0]["choices"][0];
    assert_eq!(
        first["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    assert!(first["finish_reason"].is_null());
    let pieces: Vec<&str> = chunks[1..chunks.len() - 1]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(pieces, ["echo:", " hello", " world"]);
    let last = &chunks.last().unwrap()["choices"][0];
    assert_eq!(last["delta"], json!({}));
    assert_eq!(last["finish_reason"], "stop");
}

#[tokio::test]
async fn include_usage_final_chunk() {
    let mock = MockUpstream::start().await;
    let mut req = chat_body(true);
    req["stream_options"] = json!({"include_usage": true});
    let (_, _, body) = post_json(&mock, "/chat/completions", &req).await;
    let data = sse_data(&body);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["total_tokens"], 7);
    assert!(rest.iter().all(|c| c.get("usage") == Some(&Value::Null)));
    let finish = rest.last().unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn status_behavior_then_back_to_normal() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::Status {
        status: 503,
        body: r#"{"error":{"message":"overloaded"}}"#.to_owned(),
    });
    mock.push(Behavior::rate_limited(7));
    let (status, ct, body) = post_json(&mock, "/chat/completions", &chat_body(false)).await;
    assert_eq!(status, 503);
    assert_eq!(ct, "application/json");
    assert_eq!(&body[..], br#"{"error":{"message":"overloaded"}}"#);

    let url = format!("{}/chat/completions", mock.base_url());
    let resp = send(&client(), Method::POST, &url, &[], "{}")
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");

    let (status, _, _) = post_json(&mock, "/chat/completions", &chat_body(false)).await;
    assert_eq!(status, 200);
    assert_eq!(mock.request_count(), 3);
}

#[tokio::test]
async fn reset_is_a_connection_error() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::Reset);
    let url = format!("{}/chat/completions", mock.base_url());
    let body = serde_json::to_vec(&chat_body(false)).unwrap();
    let err = send(&client(), Method::POST, &url, &[], body).await;
    assert!(err.is_err(), "expected a connection error, got {err:?}");
    // The request was still recorded before the connection was closed.
    assert_eq!(mock.received().len(), 1);
    assert_eq!(mock.last_json()["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn reset_mid_stream_breaks_the_body() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::ResetMidStream { after_chunks: 2 });
    let url = format!("{}/chat/completions", mock.base_url());
    let body = serde_json::to_vec(&chat_body(true)).unwrap();
    let resp = send(&client(), Method::POST, &url, &[], body)
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let res = resp.into_body().collect().await;
    assert!(res.is_err(), "body must fail after the reset");
    assert!(
        mock.streams_closed().is_empty(),
        "a reset is not a peer close"
    );
}

#[tokio::test]
async fn stalled_stream_reports_peer_close() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::StallMidStream { after_chunks: 2 });
    let url = format!("{}/chat/completions", mock.base_url());
    let body = serde_json::to_vec(&chat_body(true)).unwrap();
    let resp = send(&client(), Method::POST, &url, &[], body)
        .await
        .unwrap();
    let mut body = resp.into_body();
    let mut got = Vec::new();
    while got.len() < 2 {
        let frame = body.frame().await.unwrap().unwrap();
        got.extend(sse_data(frame.data_ref().unwrap()));
    }
    let next = tokio::time::timeout(Duration::from_millis(50), body.frame()).await;
    assert!(next.is_err(), "the stream must stall");
    let dropped_at = Instant::now();
    drop(body);
    let seen = tokio::time::timeout(Duration::from_secs(5), mock.wait_stream_closed())
        .await
        .expect("the mock must notice the disconnect");
    assert!(seen >= dropped_at);
}

#[tokio::test]
async fn chunk_interval_paces_events() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::ChunkInterval(Duration::from_millis(5)));
    let url = format!("{}/chat/completions", mock.base_url());
    let body = serde_json::to_vec(&chat_body(true)).unwrap();
    let resp = send(&client(), Method::POST, &url, &[], body)
        .await
        .unwrap();
    let mut body = resp.into_body();
    let mut frames = 0;
    while let Some(f) = body.frame().await {
        let f = f.unwrap();
        if let Some(d) = f.data_ref() {
            // Every event arrives on its own.
            assert_eq!(sse_data(d).len(), 1);
            frames += 1;
        }
    }
    // role, "echo:", " hello", " world", finish, [DONE]
    assert_eq!(frames, 6);
}

#[tokio::test]
async fn garbage_behaviors() {
    let mock = MockUpstream::start().await;
    mock.push(Behavior::Garbage);
    mock.push(Behavior::GarbageStream);
    let (status, ct, body) = post_json(&mock, "/chat/completions", &chat_body(false)).await;
    assert_eq!((status.as_u16(), ct.as_str()), (200, "application/json"));
    assert!(serde_json::from_slice::<Value>(&body).is_err());
    let (status, ct, body) = post_json(&mock, "/chat/completions", &chat_body(true)).await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/event-stream"));
    for d in sse_data(&body) {
        assert!(serde_json::from_str::<Value>(&d).is_err());
    }
}

#[tokio::test]
async fn recording_and_azure_paths() {
    let mock = MockUpstream::start().await;
    let url = format!(
        "{}/openai/deployments/my-dep/chat/completions?api-version=2024-10-21",
        mock.root_url()
    );
    let body =
        serde_json::to_vec(&json!({"messages": [{"role": "user", "content": "hi"}]})).unwrap();
    let resp = send(
        &client(),
        Method::POST,
        &url,
        &[("api-key", "secret"), ("content-type", "application/json")],
        body.clone(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["model"], "my-dep");

    let rec = mock.received();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].method, "POST");
    assert_eq!(
        rec[0].path,
        "/openai/deployments/my-dep/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(rec[0].query_param("api-version"), Some("2024-10-21"));
    assert_eq!(rec[0].header("api-key"), Some("secret"));
    assert_eq!(&rec[0].body[..], &body[..]);
}

#[tokio::test]
async fn embeddings_models_and_echo() {
    let mock = MockUpstream::start().await;
    let (status, _, body) = post_json(
        &mock,
        "/embeddings",
        &json!({"model": "text-embedding-3-small", "input": ["a b", "c"]}),
    )
    .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][1]["object"], "embedding");
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 512);
    assert_eq!(v["usage"], json!({"prompt_tokens": 3, "total_tokens": 3}));

    let c = client();
    let resp = send(
        &c,
        Method::GET,
        &format!("{}/models", mock.base_url()),
        &[],
        "",
    )
    .await
    .unwrap();
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "gpt-4o-mini");
    assert_eq!(v["data"][0]["object"], "model");

    let multipart =
        "--b\r\ncontent-disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n--b--\r\n";
    let resp = send(
        &c,
        Method::POST,
        &format!("{}/audio/transcriptions", mock.base_url()),
        &[("content-type", "multipart/form-data; boundary=b")],
        multipart,
    )
    .await
    .unwrap();
    let v: Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(v["object"], "mock.echo");
    assert_eq!(v["path"], "/v1/audio/transcriptions");
    assert_eq!(v["content_type"], "multipart/form-data; boundary=b");
    assert_eq!(v["body_len"], multipart.len());
    assert_eq!(&mock.last().unwrap().body[..], multipart.as_bytes());
}

#[tokio::test]
async fn drop_stops_the_server() {
    let mock = MockUpstream::start().await;
    let url = format!("{}/models", mock.base_url());
    drop(mock);
    tokio::task::yield_now().await;
    assert!(send(&client(), Method::GET, &url, &[], "").await.is_err());
}

#[tokio::test]
async fn fail_rate_answers_that_share_with_500s() {
    let mock = MockUpstream::start().await;
    mock.set_fail_rate(1.0);
    let (status, _, body) = post_json(&mock, "/chat/completions", &chat_body(false)).await;
    assert_eq!(status, 500);
    assert!(String::from_utf8_lossy(&body).contains("random failure"));
    mock.set_fail_rate(0.0);
    let (status, _, _) = post_json(&mock, "/chat/completions", &chat_body(false)).await;
    assert_eq!(status, 200);
}
