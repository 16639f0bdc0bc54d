//! The other OpenAI endpoints (embeddings, legacy completions, moderations, images, audio,
//! files, batches) pass through to OpenAI-family providers: routed by `model` when the JSON
//! body names one, otherwise to the default provider or the one `x-sluice-provider` names,
//! with bodies relayed unchanged and the provider's own credentials.

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::MockUpstream;

use crate::harness::{Resp, Sluice, get, mock_config, post_json, send, sse_data};

/// Providers `openai` (mock `a`, the default for model-less requests), `other` (mock `b`) and
/// `keyless` (mock `b`, no API key), with aliases for embeddings, completions and images.
fn config(a: &MockUpstream, b: &MockUpstream) -> String {
    format!(
        r#"
providers:
  openai:  {{ kind: openai, base_url: "{a}", api_key: "sk-provider-a" }}
  other:   {{ kind: openai-compatible, base_url: "{b}", api_key: "sk-provider-b" }}
  keyless: {{ kind: openai-compatible, base_url: "{b}" }}
models:
  - name: embed-small
    targets: [ {{ provider: openai, model: text-embedding-3-small }} ]
  - name: instruct
    targets: [ {{ provider: openai, model: gpt-3.5-turbo-instruct }} ]
  - name: painter
    targets: [ {{ provider: other, model: dall-e-3 }} ]
"#,
        a = a.base_url(),
        b = b.base_url(),
    )
}

async fn start() -> (MockUpstream, MockUpstream, Sluice) {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = Sluice::start(&config(&a, &b));
    (a, b, gw)
}

/// Sends `body` as JSON with extra request headers.
async fn post_json_with(url: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send(Method::POST, url, &all, body.to_string()).await
}

fn assert_ok(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text());
}

/// An embeddings request to an alias reaches the upstream with the target's model name and
/// every other field untouched, and the upstream's answer comes back as it was.
#[tokio::test]
async fn embeddings_alias_forwards_every_field_and_relays_the_answer() {
    let (a, _b, gw) = start().await;
    let body = json!({
        "model": "embed-small", "input": ["the quick brown fox", "jumps"],
        "dimensions": 4, "encoding_format": "base64", "user": "u-1",
        "x_future_option": {"nested": [1, null, "two"]}
    });
    let r = post_json(&gw.url("/v1/embeddings"), &body).await;
    assert_ok(&r);
    assert_eq!(r.header("x-sluice-provider"), Some("openai"));
    assert_eq!(r.header("x-sluice-model"), Some("text-embedding-3-small"));

    let seen = a.last().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/v1/embeddings")
    );
    let mut expected = body.clone();
    expected["model"] = json!("text-embedding-3-small");
    assert_eq!(seen.json(), expected);

    let direct = post_json(&format!("{}/embeddings", a.base_url()), &expected).await;
    assert_eq!(r.json(), direct.json(), "the answer is relayed unchanged");
    assert_eq!(r.json()["data"][1]["index"], 1);
}

/// Legacy `/v1/completions` works non-stream and stream; the stream is relayed as SSE up to
/// `[DONE]`.
#[tokio::test]
async fn legacy_completions_non_stream_and_stream() {
    let (a, _b, gw) = start().await;
    let body = json!({"model": "instruct", "prompt": "Say this is a test", "max_tokens": 16,
                      "temperature": 0, "suffix_hint": "kept"});
    let r = post_json(&gw.url("/v1/completions"), &body).await;
    assert_ok(&r);
    let out = r.json();
    assert_eq!(out["object"], "text_completion");
    assert_eq!(out["model"], "gpt-3.5-turbo-instruct");
    assert_eq!(out["choices"][0]["text"], "echo: Say this is a test");
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert_eq!(out["usage"]["prompt_tokens"], 5);
    let mut expected = body.clone();
    expected["model"] = json!("gpt-3.5-turbo-instruct");
    assert_eq!(a.last_json(), expected);

    let mut body = body;
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = post_json(&gw.url("/v1/completions"), &body).await;
    assert_ok(&r);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream")),
        "{:?}",
        r.header("content-type")
    );
    let events = sse_data(&r.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "echo: Say this is a test");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 11);
}

/// A moderation request names no model, so it goes to the default OpenAI-family provider
/// (`openai`) with its body unchanged.
#[tokio::test]
async fn moderations_without_a_model_go_to_the_default_provider() {
    let (a, b, gw) = start().await;
    let body = json!({"input": "I want to hug everyone", "x_extra": true});
    let r = post_json(&gw.url("/v1/moderations"), &body).await;
    assert_ok(&r);
    assert_eq!(r.header("x-sluice-provider"), Some("openai"));
    let seen = a.last().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/v1/moderations")
    );
    assert_eq!(
        seen.body,
        body.to_string(),
        "the body is forwarded byte for byte"
    );
    assert_eq!(r.json()["path"], "/v1/moderations");
    assert_eq!(b.request_count(), 0);
}

/// An image generation with a model alias is routed to the alias's target.
#[tokio::test]
async fn image_generation_with_an_alias_is_routed_to_its_target() {
    let (a, b, gw) = start().await;
    let body = json!({"model": "painter", "prompt": "a lighthouse at dusk", "n": 1,
                      "size": "1024x1024", "quality": "hd"});
    let r = post_json(&gw.url("/v1/images/generations"), &body).await;
    assert_ok(&r);
    assert_eq!(r.header("x-sluice-provider"), Some("other"));
    assert_eq!(r.header("x-sluice-model"), Some("dall-e-3"));
    let seen = b.last().unwrap();
    assert_eq!(seen.path, "/v1/images/generations");
    let mut expected = body;
    expected["model"] = json!("dall-e-3");
    assert_eq!(seen.json(), expected);
    assert_eq!(a.request_count(), 0);
}

/// A multipart audio upload (a ~200 KB file part and form fields) reaches the upstream byte
/// for byte, with the client's content type and boundary, and the answer is relayed.
#[tokio::test]
async fn multipart_audio_upload_is_forwarded_byte_for_byte() {
    let (a, _b, gw) = start().await;
    let boundary = "----sluice-test-7MA4YWxkTrZu0gW";
    let content_type = format!("multipart/form-data; boundary={boundary}");
    // Every byte value, in a scrambled but reproducible order.
    let audio: Vec<u8> = (0u32..200 * 1024)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        b"Content-Disposition: form-data; name=\"file\"; filename=\"speech.wav\"\r\n\
          Content-Type: audio/wav\r\n\r\n",
    );
    body.extend_from_slice(&audio);
    body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    body.extend_from_slice(b"Content-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1");
    body.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
    body.extend_from_slice(b"Content-Disposition: form-data; name=\"response_format\"\r\n\r\njson");
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    let r = send(
        Method::POST,
        &gw.url("/v1/audio/transcriptions"),
        &[("content-type", &content_type)],
        body.clone(),
    )
    .await;
    assert_ok(&r);
    let seen = a.last().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/v1/audio/transcriptions")
    );
    assert_eq!(seen.header("content-type"), Some(content_type.as_str()));
    assert_eq!(seen.body.len(), body.len());
    assert!(seen.body == body, "the upstream got a different body");
    let echo = r.json();
    assert_eq!(echo["body_len"], body.len());
    assert_eq!(echo["content_type"], content_type);
}

/// File and batch endpoints keep their method, path and query on the way upstream.
#[tokio::test]
async fn files_and_batches_keep_method_path_and_query() {
    let (a, _b, gw) = start().await;

    let r = send(
        Method::GET,
        &gw.url("/v1/files?purpose=batch&limit=2"),
        &[],
        "",
    )
    .await;
    assert_ok(&r);
    let seen = a.last().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/v1/files?purpose=batch&limit=2")
    );
    assert_eq!(seen.query_param("purpose"), Some("batch"));

    let r = send(Method::GET, &gw.url("/v1/files/file-abc/content"), &[], "").await;
    assert_ok(&r);
    assert_eq!(a.last().unwrap().path, "/v1/files/file-abc/content");
    assert_eq!(r.json()["path"], "/v1/files/file-abc/content");

    let batch = json!({"input_file_id": "file-abc", "endpoint": "/v1/chat/completions",
                       "completion_window": "24h", "metadata": {"job": "nightly"}});
    let r = post_json(&gw.url("/v1/batches"), &batch).await;
    assert_ok(&r);
    let seen = a.last().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/v1/batches")
    );
    assert_eq!(seen.json(), batch);

    let r = send(Method::DELETE, &gw.url("/v1/files/file-abc"), &[], "").await;
    assert_ok(&r);
    let seen = a.last().unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("DELETE", "/v1/files/file-abc")
    );
    assert_eq!(a.request_count(), 4);
}

/// `x-sluice-provider` picks another configured provider for requests without a model; an
/// unknown name is a 400 that says what was wrong.
#[tokio::test]
async fn x_sluice_provider_selects_the_provider_for_model_less_requests() {
    let (a, b, gw) = start().await;

    let r = send(
        Method::GET,
        &gw.url("/v1/files"),
        &[("x-sluice-provider", "other")],
        "",
    )
    .await;
    assert_ok(&r);
    assert_eq!(r.header("x-sluice-provider"), Some("other"));
    assert_eq!(b.last().unwrap().path, "/v1/files");

    let r = post_json_with(
        &gw.url("/v1/moderations"),
        &[("x-sluice-provider", "other")],
        &json!({"input": "hello"}),
    )
    .await;
    assert_ok(&r);
    assert_eq!(b.last().unwrap().path, "/v1/moderations");
    assert_eq!(a.request_count(), 0);

    let r = send(
        Method::GET,
        &gw.url("/v1/files"),
        &[("x-sluice-provider", "nope")],
        "",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["type"], "invalid_request_error");
    assert_eq!(e["param"], "x-sluice-provider");
    assert!(e["message"].as_str().unwrap().contains("nope"), "{e}");
    assert_eq!(a.request_count() + b.request_count(), 2);
}

/// The upstream is authenticated with the provider's key; the client's credentials, in any
/// of the accepted headers, never reach it.
#[tokio::test]
async fn the_upstream_sees_the_provider_key_never_the_clients() {
    let (a, b, gw) = start().await;
    let client_creds = [
        ("authorization", "Bearer sk-client-secret"),
        ("x-api-key", "sk-client-secret"),
        ("api-key", "sk-client-secret"),
    ];
    let assert_creds = |mock: &MockUpstream, expected: Option<&str>| {
        let seen = mock.last().unwrap();
        assert_eq!(seen.header("authorization"), expected, "{}", seen.path);
        assert_eq!(seen.header("x-api-key"), None);
        assert_eq!(seen.header("api-key"), None);
    };

    let chat =
        json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    assert_ok(&post_json_with(&gw.url("/v1/chat/completions"), &client_creds, &chat).await);
    assert_creds(&a, Some("Bearer sk-provider-a"));

    let routed = json!({"model": "embed-small", "input": "hi"});
    assert_ok(&post_json_with(&gw.url("/v1/embeddings"), &client_creds, &routed).await);
    assert_creds(&a, Some("Bearer sk-provider-a"));

    let model_less = json!({"input_file_id": "file-abc", "endpoint": "/v1/embeddings", "completion_window": "24h"});
    assert_ok(&post_json_with(&gw.url("/v1/batches"), &client_creds, &model_less).await);
    assert_creds(&a, Some("Bearer sk-provider-a"));

    let mut headers = client_creds.to_vec();
    headers.push(("x-sluice-provider", "other"));
    assert_ok(&send(Method::GET, &gw.url("/v1/files"), &headers, "").await);
    assert_creds(&b, Some("Bearer sk-provider-b"));

    // A provider without a key gets no credentials at all, not the client's.
    let mut headers = client_creds.to_vec();
    headers.push(("x-sluice-provider", "keyless"));
    assert_ok(&send(Method::GET, &gw.url("/v1/files"), &headers, "").await);
    assert_creds(&b, None);
}

/// The Responses API passes through to OpenAI-family providers: a model alias is routed and
/// rewritten, streams are relayed, and retrieving a stored response reaches the upstream.
#[tokio::test]
async fn responses_api_passes_through_to_openai_family_providers() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    let body =
        json!({"model": "fast", "input": "hello", "store": true, "reasoning": {"effort": "low"}});
    let r = post_json(&gw.url("/v1/responses"), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = mock.last().unwrap();
    assert_eq!(seen.path, "/v1/responses");
    let mut expected = body.clone();
    expected["model"] = json!("gpt-4o-mini");
    assert_eq!(seen.json(), expected);
    assert_eq!(r.header("x-sluice-model"), Some("gpt-4o-mini"));
    let r = get(&gw.url("/v1/responses/resp_123?include=x")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        mock.last().unwrap().path,
        "/v1/responses/resp_123?include=x"
    );
}
