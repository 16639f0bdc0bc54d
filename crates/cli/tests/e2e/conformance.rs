//! Conformance: the same client-visible scenarios, through the real binary, against every
//! provider's mock upstream. Each mock speaks its provider's wire format and validates
//! requests the way the real API does, so a translation bug fails here.

use std::path::Path;

use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream, anthropic, bedrock, cohere, gemini, vertex};

use crate::harness::{Sluice, post_json, stream_chunks};

const CHAT: &str = "/v1/chat/completions";

/// A 1×1 transparent PNG as a data URL.
const PIXEL: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// What a provider entry may refer to.
struct Upstream<'a> {
    /// The mock's root URL (`http://127.0.0.1:PORT`).
    root: String,
    /// The mock's OAuth token endpoint.
    token_uri: String,
    /// A directory that lives as long as the gateway, for files the entry names.
    files: &'a Path,
}

/// How to reach one provider kind's mock, and its error replies.
struct Kind {
    /// The provider entry.
    provider: fn(&Upstream<'_>) -> String,
    /// The provider's model name.
    model: &'static str,
    /// A 400 in the provider's own error shape.
    bad_request: fn() -> Behavior,
    /// A 429 in the provider's own error shape.
    rate_limited: fn() -> Behavior,
}

fn openai_error(status: u16, code: &str) -> Behavior {
    Behavior::openai_error(
        status,
        "refused by the mock",
        "invalid_request_error",
        Some(code),
    )
}

const OPENAI: Kind = Kind {
    provider: |up| {
        format!(
            "{{ kind: openai-compatible, base_url: \"{}/v1\", api_key: k }}",
            up.root
        )
    },
    model: "gpt-4o-mini",
    bad_request: || openai_error(400, "bad"),
    rate_limited: || Behavior::rate_limited(1),
};

const AZURE: Kind = Kind {
    provider: |up| {
        format!(
            "{{ kind: azure-openai, base_url: \"{}\", api_key: k }}",
            up.root
        )
    },
    model: "my-deployment",
    bad_request: || openai_error(400, "bad"),
    rate_limited: || Behavior::rate_limited(1),
};

const ANTHROPIC: Kind = Kind {
    provider: |up| {
        format!(
            "{{ kind: anthropic, base_url: \"{}\", api_key: k }}",
            up.root
        )
    },
    model: "claude-sonnet-4-5",
    bad_request: || anthropic::error(400, "invalid_request_error", "refused by the mock"),
    rate_limited: || anthropic::error(429, "rate_limit_error", "slow down"),
};

const GEMINI: Kind = Kind {
    provider: |up| format!("{{ kind: gemini, base_url: \"{}\", api_key: k }}", up.root),
    model: "gemini-2.5-flash",
    bad_request: || gemini::error(400, "INVALID_ARGUMENT", "refused by the mock"),
    rate_limited: gemini::rate_limited,
};

const COHERE: Kind = Kind {
    provider: |up| format!("{{ kind: cohere, base_url: \"{}\", api_key: k }}", up.root),
    model: "command-a-03-2025",
    bad_request: || cohere::error(400, "invalid request: refused by the mock"),
    rate_limited: cohere::rate_limited,
};

const BEDROCK: Kind = Kind {
    provider: |up| {
        format!(
            "{{ kind: bedrock, base_url: \"{}\", region: us-east-1, access_key_id: {}, secret_access_key: \"{}\" }}",
            up.root,
            bedrock::ACCESS_KEY_ID,
            bedrock::SECRET_ACCESS_KEY
        )
    },
    model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
    bad_request: || bedrock::error(400, "ValidationException", "refused by the mock"),
    rate_limited: bedrock::rate_limited,
};

/// A Vertex AI entry on the mock, signing in with a key file of the mock's service account
/// (written to `up.files`).
fn vertex_provider(up: &Upstream<'_>) -> String {
    let key = up.files.join("service-account.json");
    std::fs::write(&key, vertex::service_account(&up.token_uri)).unwrap();
    format!(
        "{{ kind: vertex, base_url: \"{}\", location: europe-west4, credentials: \"{}\" }}",
        up.root,
        key.display()
    )
}

const VERTEX_GEMINI: Kind = Kind {
    provider: vertex_provider,
    model: "gemini-2.5-flash",
    bad_request: || gemini::error(400, "INVALID_ARGUMENT", "refused by the mock"),
    rate_limited: gemini::rate_limited,
};

const VERTEX_CLAUDE: Kind = Kind {
    provider: vertex_provider,
    model: "claude-sonnet-4-5@20250929",
    bad_request: || anthropic::error(400, "invalid_request_error", "refused by the mock"),
    rate_limited: || anthropic::error(429, "rate_limit_error", "slow down"),
};

/// A gateway whose model `m` is the kind's model on the mock, with the directory of the
/// files its provider entry names (kept as long as the gateway is used).
fn gateway(kind: &Kind, mock: &MockUpstream) -> (Sluice, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let up = Upstream {
        root: mock.root_url(),
        token_uri: mock.token_uri(),
        files: files.path(),
    };
    let gw = Sluice::start(&format!(
        "providers:\n  up: {}\nmodels:\n  - name: m\n    targets: [ {{ provider: up, model: \"{}\" }} ]\n",
        (kind.provider)(&up),
        kind.model
    ));
    (gw, files)
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

async fn simple(kind: &Kind) {
    let mock = MockUpstream::start().await;
    let (gw, _files) = gateway(kind, &mock);
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "m", "messages": user("hello there")}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["object"], "chat.completion");
    assert!(!out["id"].as_str().unwrap().is_empty());
    assert!(
        out["created"].as_u64().unwrap() > 0,
        "a real timestamp, never a placeholder"
    );
    assert_eq!(out["choices"][0]["message"]["role"], "assistant");
    assert!(
        out["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("hello there"),
        "{out}"
    );
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    let usage = &out["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(r.header("x-sluice-model"), Some(kind.model));
}

async fn stream(kind: &Kind) {
    let mock = MockUpstream::start().await;
    let (gw, _files) = gateway(kind, &mock);
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": user("stream this")});
    let chunks = stream_chunks(&post_json(&gw.url(CHAT), &body).await);
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["role"], "assistant",
        "role chunk first"
    );
    let id = chunks[0]["id"].clone();
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["object"] == "chat.completion.chunk")
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(text.contains("stream this"), "{text}");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]), "usage chunk last: {last}");
    assert!(last["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );
}

async fn tools(kind: &Kind) {
    let mock = MockUpstream::start().await;
    let (gw, _files) = gateway(kind, &mock);
    let body = json!({"model": "m", "messages": user("weather in Paris?"), "tools": weather_tool(), "tool_choice": "auto"});
    let r = post_json(&gw.url(CHAT), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    let call = &out["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args.is_object());
    // The result goes back and the conversation continues.
    let follow = json!({"model": "m", "tools": weather_tool(), "messages": [
        {"role": "user", "content": "weather in Paris?"},
        out["choices"][0]["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}
    ]});
    let r = post_json(&gw.url(CHAT), &follow).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn stream_tools(kind: &Kind) {
    let mock = MockUpstream::start().await;
    let (gw, _files) = gateway(kind, &mock);
    let body = json!({"model": "m", "stream": true, "messages": user("weather?"), "tools": weather_tool()});
    let chunks = stream_chunks(&post_json(&gw.url(CHAT), &body).await);
    let mut name = String::new();
    let mut args = String::new();
    for c in &chunks {
        for tc in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(tc["index"], 0);
            name.push_str(tc["function"]["name"].as_str().unwrap_or_default());
            args.push_str(tc["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    assert_eq!(name, "get_weather");
    assert!(
        serde_json::from_str::<Value>(&args).unwrap().is_object(),
        "{args}"
    );
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );
}

async fn vision(kind: &Kind) {
    let mock = MockUpstream::start().await;
    let (gw, _files) = gateway(kind, &mock);
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": PIXEL}}
    ]}]});
    let r = post_json(&gw.url(CHAT), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn json_mode(kind: &Kind) {
    let mock = MockUpstream::start().await;
    let (gw, _files) = gateway(kind, &mock);
    let schema =
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
    let body = json!({"model": "m", "messages": user("a person"),
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}});
    let r = post_json(&gw.url(CHAT), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let content = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let parsed: Value = serde_json::from_str(&content).unwrap();
    assert!(parsed.is_object(), "{content}");
}

async fn errors(kind: &Kind) {
    let mock = MockUpstream::start().await;
    let (gw, _files) = gateway(kind, &mock);
    // A first answer, so a provider that signs in first (Vertex AI) holds its token before
    // the faults are queued: they answer the next requests, whatever they are.
    let r = post_json(&gw.url(CHAT), &json!({"model": "m", "messages": user("x")})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let before = mock.request_count();
    mock.push((kind.bad_request)());
    let r = post_json(&gw.url(CHAT), &json!({"model": "m", "messages": user("x")})).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["error"];
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("refused by the mock"),
        "{e}"
    );
    assert!(e["type"].is_string());
    mock.push((kind.rate_limited)());
    let r = post_json(&gw.url(CHAT), &json!({"model": "m", "messages": user("x")})).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(
        mock.request_count(),
        before + 2,
        "client errors and 429s without retry config are not retried"
    );
}

/// One module of identical scenarios per provider kind.
macro_rules! conformance {
    ($($name:ident => $kind:expr),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn simple() { super::simple(&$kind).await }
            #[tokio::test]
            async fn stream() { super::stream(&$kind).await }
            #[tokio::test]
            async fn tools() { super::tools(&$kind).await }
            #[tokio::test]
            async fn stream_tools() { super::stream_tools(&$kind).await }
            #[tokio::test]
            async fn vision() { super::vision(&$kind).await }
            #[tokio::test]
            async fn json_mode() { super::json_mode(&$kind).await }
            #[tokio::test]
            async fn errors() { super::errors(&$kind).await }
        }
    )*};
}

conformance! {
    openai => super::OPENAI,
    azure => super::AZURE,
    anthropic_messages => super::ANTHROPIC,
    gemini_api => super::GEMINI,
    cohere_chat => super::COHERE,
    bedrock_converse => super::BEDROCK,
    vertex_gemini => super::VERTEX_GEMINI,
    vertex_claude => super::VERTEX_CLAUDE,
}
