//! Vertex AI through the real binary: Gemini and Claude models of one `vertex` provider,
//! authorized with access tokens that the gateway gets from the mock's OAuth token endpoint
//! by signing JWTs with a service-account key file. The mock verifies those signatures,
//! accepts only tokens it issued and that have not expired, and validates each publisher's
//! body the way its API does.

use std::path::Path;
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream, Recorded, vertex};

use crate::harness::{Sluice, error_of, ok_json, post_json, send, stream_chunks};

const CHAT: &str = "/v1/chat/completions";
const LOCATION: &str = "/v1/projects/sluice-test/locations/europe-west4/publishers";
const CLAUDE: &str = "claude-sonnet-4-5@20250929";

/// A key file of the mock's service account whose token endpoint is `token_uri`, written to
/// `dir/name`, with `change` applied to its JSON.
fn key_file(dir: &Path, name: &str, token_uri: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut file: Value = serde_json::from_str(&vertex::service_account(token_uri)).unwrap();
    change(&mut file);
    let path = dir.join(name);
    std::fs::write(&path, file.to_string()).unwrap();
    path.display().to_string()
}

/// A gateway with provider `gcp` (Vertex AI on the mock, in `europe-west4`, with the key file
/// at `key`) and models `flash` (Gemini) and `claude`.
fn gateway(mock: &MockUpstream, key: &str) -> Sluice {
    Sluice::start(&format!(
        r#"
providers:
  gcp: {{ kind: vertex, base_url: "{root}", location: europe-west4, credentials: "{key}" }}
models:
  - name: flash
    targets: [ {{ provider: gcp, model: gemini-2.5-flash }} ]
  - name: claude
    targets: [ {{ provider: gcp, model: "{CLAUDE}" }} ]
"#,
        root = mock.root_url(),
    ))
}

async fn start() -> (MockUpstream, Sluice, tempfile::TempDir) {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "sa.json", &mock.token_uri(), |_| {});
    let gw = gateway(&mock, &key);
    (mock, gw, dir)
}

fn hello(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "stream_options": {"include_usage": true},
        "max_tokens": 50, "messages": [{"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"}]})
}

/// The requests that reached the token endpoint and Vertex AI, in order.
fn split(received: Vec<Recorded>) -> (Vec<Recorded>, Vec<Recorded>) {
    received.into_iter().partition(|r| r.path == "/token")
}

fn text_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[tokio::test]
async fn gemini_on_vertex_answers_with_a_service_account_token() {
    let (mock, gw, _dir) = start().await;
    let out = ok_json(&post_json(&gw.url(CHAT), &hello("flash", false)).await);
    assert_eq!(out["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert_eq!(out["model"], "gemini-2.5-flash");
    assert!(out["usage"]["total_tokens"].as_u64() > Some(0));

    let (token_requests, calls) = split(mock.received());
    assert_eq!(token_requests.len(), 1);
    let form = String::from_utf8_lossy(&token_requests[0].body).into_owned();
    assert!(
        form.starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
        ),
        "{form}"
    );
    assert_eq!(
        token_requests[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let call = &calls[0];
    assert_eq!(
        call.path,
        format!("{LOCATION}/google/models/gemini-2.5-flash:generateContent")
    );
    assert_eq!(call.header("authorization"), Some("Bearer ya29.mock-1"));
    assert_eq!(call.header("x-goog-api-key"), None);
    assert_eq!(
        call.json(),
        json!({"systemInstruction": {"parts": [{"text": "be brief"}]},
            "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
            "generationConfig": {"maxOutputTokens": 50}})
    );

    // The token is cached: a second request signs in no more.
    ok_json(&post_json(&gw.url(CHAT), &hello("flash", false)).await);
    let (token_requests, calls) = split(mock.received());
    assert_eq!((token_requests.len(), calls.len()), (1, 2));
    assert_eq!(calls[1].header("authorization"), Some("Bearer ya29.mock-1"));
}

#[tokio::test]
async fn gemini_on_vertex_streams() {
    let (mock, gw, _dir) = start().await;
    let chunks = stream_chunks(&post_json(&gw.url(CHAT), &hello("flash", true)).await);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(text_of(&chunks), "echo: hello there");
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    assert!(chunks[n - 1]["usage"]["total_tokens"].as_u64() > Some(0));
    let (_, calls) = split(mock.received());
    assert_eq!(
        calls[0].path,
        format!("{LOCATION}/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    );
    assert_eq!(calls[0].header("authorization"), Some("Bearer ya29.mock-1"));
}

#[tokio::test]
async fn claude_on_vertex_answers_through_raw_predict() {
    let (mock, gw, _dir) = start().await;
    let r = post_json(&gw.url(CHAT), &hello("claude", false)).await;
    let out = ok_json(&r);
    assert_eq!(out["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert!(out["id"].as_str().unwrap().starts_with("msg_mock_"));
    assert_eq!(out["model"], CLAUDE);
    assert_eq!(r.header("x-sluice-provider"), Some("gcp"));

    let (_, calls) = split(mock.received());
    let call = &calls[0];
    assert_eq!(
        call.path,
        format!("{LOCATION}/anthropic/models/{CLAUDE}:rawPredict")
    );
    assert_eq!(call.header("authorization"), Some("Bearer ya29.mock-1"));
    assert_eq!(call.header("anthropic-version"), None);
    assert_eq!(call.header("x-api-key"), None);
    assert_eq!(
        call.json(),
        json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 50, "system": "be brief",
            "messages": [{"role": "user", "content": "hello there"}]})
    );
}

#[tokio::test]
async fn claude_on_vertex_streams_through_stream_raw_predict() {
    let (mock, gw, _dir) = start().await;
    let chunks = stream_chunks(&post_json(&gw.url(CHAT), &hello("claude", true)).await);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(text_of(&chunks), "echo: hello there");
    let id = &chunks[0]["id"];
    assert!(chunks.iter().all(|c| &c["id"] == id));
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[n - 1]["usage"]["prompt_tokens"], 4);
    let (_, calls) = split(mock.received());
    assert_eq!(
        calls[0].path,
        format!("{LOCATION}/anthropic/models/{CLAUDE}:streamRawPredict")
    );
    assert_eq!(calls[0].json()["stream"], true);
}

#[tokio::test]
async fn an_expired_token_is_replaced_before_it_is_sent() {
    let (mock, gw, _dir) = start().await;
    // Tokens that live one second; the mock refuses them once that second is over.
    mock.set_token_lifetime(Duration::from_secs(1));
    ok_json(&post_json(&gw.url(CHAT), &hello("flash", false)).await);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    ok_json(&post_json(&gw.url(CHAT), &hello("claude", false)).await);
    let (token_requests, calls) = split(mock.received());
    assert_eq!(token_requests.len(), 2);
    let bearers: Vec<_> = calls.iter().map(|c| c.header("authorization")).collect();
    assert_eq!(
        bearers,
        [Some("Bearer ya29.mock-1"), Some("Bearer ya29.mock-3")]
    );
}

#[tokio::test]
async fn a_failing_token_endpoint_is_a_502_that_names_the_sign_in() {
    let (mock, gw, _dir) = start().await;
    mock.push(Behavior::Status {
        status: 503,
        body: r#"{"error":"temporarily_unavailable","error_description":"try later"}"#.into(),
    });
    let e = error_of(&post_json(&gw.url(CHAT), &hello("flash", false)).await, 502);
    assert_eq!(e["code"], "upstream_auth_failed");
    assert_eq!(e["type"], "upstream_error");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "could not get an access token for service account {} from {}: HTTP 503: \
             temporarily_unavailable: try later",
            vertex::CLIENT_EMAIL,
            mock.token_uri()
        )),
        "{message}"
    );
    let (token_requests, calls) = split(mock.received());
    assert_eq!((token_requests.len(), calls.len()), (1, 0));

    // A stream fails the same way, before it starts; the next request signs in again.
    let e = {
        mock.push(Behavior::Reset);
        error_of(&post_json(&gw.url(CHAT), &hello("claude", true)).await, 502)
    };
    assert_eq!(e["code"], "upstream_auth_failed");
    ok_json(&post_json(&gw.url(CHAT), &hello("flash", false)).await);
}

#[tokio::test]
async fn a_key_the_token_endpoint_refuses_is_a_502_with_its_reason() {
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // A key of an account the token endpoint does not know.
    let key = key_file(dir.path(), "intruder.json", &mock.token_uri(), |file| {
        file["client_email"] = json!("intruder@elsewhere.iam.gserviceaccount.com");
    });
    let gw = gateway(&mock, &key);
    let e = error_of(&post_json(&gw.url(CHAT), &hello("flash", false)).await, 502);
    assert_eq!(e["code"], "upstream_auth_failed");
    let why = format!(
        "could not get an access token for service account \
         intruder@elsewhere.iam.gserviceaccount.com from {}: HTTP 400: invalid_grant: Invalid \
         email or User ID",
        mock.token_uri()
    );
    assert!(e["message"].as_str().unwrap().ends_with(&why), "{e}");

    // An endpoint that cannot be reached at all fails at once, not after a hang.
    let unreachable = "http://127.0.0.1:9/token";
    let gw = gateway(&mock, &key_file(dir.path(), "sa.json", unreachable, |_| {}));
    let started = std::time::Instant::now();
    let e = error_of(
        &post_json(&gw.url(CHAT), &hello("claude", false)).await,
        502,
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(e["code"], "upstream_auth_failed");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(&format!("from {unreachable}: ")),
        "{e}"
    );
}

#[tokio::test]
async fn native_pass_through_carries_the_provider_s_token() {
    let (mock, gw, _dir) = start().await;
    let path = format!("{LOCATION}/google/models/gemini-2.5-flash:generateContent");
    let r = send(
        Method::POST,
        &gw.url(&format!("/gcp{path}")),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer client-token"),
        ],
        r#"{"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["candidates"][0]["content"]["parts"][0]["text"],
        "echo: hi"
    );
    let (_, calls) = split(mock.received());
    assert_eq!(calls[0].path, path);
    assert_eq!(calls[0].header("authorization"), Some("Bearer ya29.mock-1"));
}

#[tokio::test]
async fn embeddings_are_translated_to_predict() {
    let (mock, gw, _dir) = start().await;
    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": "gcp/text-embedding-005", "input": ["one two", "three"], "dimensions": 32}),
    )
    .await;
    let out = ok_json(&r);
    assert_eq!(out["model"], "text-embedding-005");
    let data = out["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    assert_eq!(data[1]["embedding"].as_array().unwrap().len(), 32);
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens": 3, "total_tokens": 3}),
        "Vertex AI's own counts"
    );
    let (_, calls) = split(mock.received());
    assert_eq!(calls.len(), 1, "both texts in one call");
    assert_eq!(
        calls[0].path,
        format!("{LOCATION}/google/models/text-embedding-005:predict")
    );
    assert_eq!(calls[0].header("authorization"), Some("Bearer ya29.mock-1"));
    assert_eq!(
        calls[0].json(),
        json!({"instances": [{"content": "one two"}, {"content": "three"}],
            "parameters": {"outputDimensionality": 32}})
    );

    // gemini-embedding-001 takes one instance a call: one call per text, answers in order.
    mock.clear_received();
    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": "gcp/gemini-embedding-001", "input": ["alpha", "beta gamma", "delta"]}),
    )
    .await;
    let out = ok_json(&r);
    let first: Vec<f32> = out["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(first, sluice_testkit::embed("alpha", 768));
    assert_eq!(out["usage"]["prompt_tokens"], 4);
    let (_, calls) = split(mock.received());
    assert_eq!(calls.len(), 3);
    assert!(
        calls
            .iter()
            .all(|c| c.json()["instances"].as_array().unwrap().len() == 1)
    );
}

#[tokio::test]
async fn claude_on_vertex_gets_image_urls_as_bytes_and_gemini_by_reference() {
    let (mock, images) = (MockUpstream::start().await, MockUpstream::start().await);
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "sa.json", &mock.token_uri(), |_| {});
    let gw = Sluice::start(&format!(
        r#"
server:
  image_fetch: {{ allow_private: [127.0.0.1] }}
providers:
  gcp: {{ kind: vertex, base_url: "{root}", location: europe-west4, credentials: "{key}" }}
"#,
        root = mock.root_url(),
    ));
    let url = format!("{}/images/pixel.png", images.root_url());
    let look = |model: &str| {
        json!({"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": url}}]}]})
    };
    ok_json(&post_json(&gw.url(CHAT), &look(&format!("gcp/{CLAUDE}"))).await);
    let (_, calls) = split(mock.received());
    assert_eq!(
        calls[0].json()["messages"][0]["content"][1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png",
            "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="}})
    );
    assert_eq!(images.request_count(), 1, "fetched by the gateway");

    ok_json(&post_json(&gw.url(CHAT), &look("gcp/gemini-2.5-flash")).await);
    let (_, calls) = split(mock.received());
    assert_eq!(
        calls[1].json()["contents"][0]["parts"][1],
        json!({"fileData": {"mimeType": "image/png", "fileUri": url}}),
        "Gemini on Vertex AI fetches it itself"
    );
    assert_eq!(images.request_count(), 1);
}

/// Runs `sluice check-config` on `yaml` with no Google variables set; returns its exit code
/// and stderr.
fn check_config(dir: &Path, yaml: &str) -> (Option<i32>, String) {
    let path = dir.join("sluice.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("check-config")
        .arg(&path)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_reports_vertex_problems_at_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "sa.json", "http://127.0.0.1:9/token", |_| {});
    let missing = dir.path().join("nope.json").display().to_string();
    let yaml = format!(
        r#"
providers:
  ok: {{ kind: vertex, location: global, credentials: "{key}" }}
  no_key: {{ kind: vertex, project: p }}
  bad_file: {{ kind: vertex, credentials: "{missing}" }}
  bad_location: {{ kind: vertex, location: Europe, credentials: "{key}" }}
"#
    );
    let (code, stderr) = check_config(dir.path(), &yaml);
    assert_eq!(code, Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with(r#"providers.no_key: missing required field "credentials""#),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "providers.bad_file.credentials: cannot read {missing:?}"
        )),
        "{stderr}"
    );
    assert!(
        lines[2].starts_with("providers.bad_location.location: expected a Google Cloud location"),
        "{stderr}"
    );
    assert!(lines[3].ends_with("3 problem(s)"), "{stderr}");

    let (code, stderr) = check_config(
        dir.path(),
        &format!("providers:\n  vertex: {{ credentials: \"{key}\" }}\n"),
    );
    assert_eq!(code, Some(0), "{stderr}");
}
