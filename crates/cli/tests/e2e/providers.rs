//! Provider flavours: Azure OpenAI deployment URLs, every OpenAI-compatible preset, direct
//! `provider/model` names, and providers registered from the environment.

use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::MockUpstream;

use crate::harness::{Resp, Sluice, Start, post_json, send, sse_data};

const CHAT: &str = "/v1/chat/completions";

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hello there"}]})
}

/// The text of a streamed chat answer, checking that it ends with `[DONE]`.
fn streamed_text(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    let events = sse_data(&r.body);
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{}",
        r.text()
    );
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// Azure OpenAI: the deployment is in the URL with `api-version`, the key goes in `api-key`,
/// and no `Authorization` header is sent (not even the client's). Streams and embeddings too.
#[tokio::test]
async fn azure_openai_uses_deployment_urls_and_the_api_key_header() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        r#"
providers:
  azure: {{ kind: azure-openai, base_url: "{}", api_key: "az-key", api_version: "2024-10-21" }}
models:
  - name: fast
    targets: [ {{ provider: azure, model: my-gpt }} ]
  - name: embed
    targets: [ {{ provider: azure, model: my-embed }} ]
"#,
        mock.root_url()
    ));
    let client_auth = [
        ("content-type", "application/json"),
        ("authorization", "Bearer sk-client"),
    ];
    let assert_azure_request = |path: &str| {
        let seen = mock.last().unwrap();
        assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", path));
        assert_eq!(seen.query_param("api-version"), Some("2024-10-21"));
        assert_eq!(seen.header("api-key"), Some("az-key"));
        assert_eq!(seen.header("authorization"), None);
    };

    let r = send(
        Method::POST,
        &gw.url(CHAT),
        &client_auth,
        chat("fast", false).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_azure_request("/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21");
    assert_eq!(r.json()["model"], "my-gpt");
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "echo: hello there"
    );
    assert_eq!(r.header("x-sluice-provider"), Some("azure"));

    let r = send(
        Method::POST,
        &gw.url(CHAT),
        &client_auth,
        chat("fast", true).to_string(),
    )
    .await;
    assert_eq!(streamed_text(&r), "echo: hello there");
    assert_azure_request("/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21");

    let body = json!({"model": "embed", "input": "hello", "dimensions": 4});
    let r = send(
        Method::POST,
        &gw.url("/v1/embeddings"),
        &client_auth,
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_azure_request("/openai/deployments/my-embed/embeddings?api-version=2024-10-21");
    assert_eq!(
        r.json()["data"][0]["embedding"].as_array().unwrap().len(),
        4
    );
}

/// Every OpenAI-compatible preset kind, pointed at the mock, serves chat end to end with its
/// own key, stream and non-stream.
#[tokio::test]
async fn every_openai_compatible_preset_works_end_to_end() {
    const PRESETS: &[&str] = &[
        "groq",
        "together",
        "mistral",
        "deepseek",
        "xai",
        "fireworks",
        "openrouter",
        "perplexity",
        "ollama",
        "vllm",
        "lmstudio",
    ];
    let mock = MockUpstream::start().await;
    let mut yaml = String::from("providers:\n");
    for kind in PRESETS {
        yaml.push_str(&format!(
            "  p-{kind}: {{ kind: {kind}, base_url: \"{}\", api_key: \"k-{kind}\" }}\n",
            mock.base_url()
        ));
    }
    yaml.push_str("models:\n");
    for kind in PRESETS {
        yaml.push_str(&format!(
            "  - {{ name: via-{kind}, targets: [ {{ provider: p-{kind}, model: model-{kind} }} ] }}\n"
        ));
    }
    let gw = Sluice::start(&yaml);

    for kind in PRESETS {
        let r = post_json(&gw.url(CHAT), &chat(&format!("via-{kind}"), false)).await;
        assert_eq!(r.status, 200, "{kind}: {}", r.text());
        assert_eq!(
            r.header("x-sluice-provider"),
            Some(format!("p-{kind}").as_str())
        );
        assert_eq!(r.json()["model"], format!("model-{kind}"), "{kind}");
        let seen = mock.last().unwrap();
        assert_eq!(seen.path, "/v1/chat/completions", "{kind}");
        assert_eq!(seen.json()["model"], format!("model-{kind}"), "{kind}");
        let auth = format!("Bearer k-{kind}");
        assert_eq!(seen.header("authorization"), Some(auth.as_str()), "{kind}");

        let r = post_json(&gw.url(CHAT), &chat(&format!("via-{kind}"), true)).await;
        assert_eq!(streamed_text(&r), "echo: hello there", "{kind}");
    }
    assert_eq!(mock.request_count(), 2 * PRESETS.len());
}

/// Mistral: OpenAI names Mistral spells differently are mapped, OpenAI fields it lacks are
/// refused by name, its own fields pass, its embeddings take `output_dimension`, and its other
/// endpoints (FIM, OCR, classifiers) are reached through native pass-through.
#[tokio::test]
async fn mistral_speaks_its_own_dialect() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        "providers:\n  mis: {{ kind: mistral, base_url: \"{}\", api_key: k }}\n",
        mock.base_url()
    ));
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "mis/mistral-small-latest", "seed": 7, "max_completion_tokens": 50,
            "safe_prompt": true, "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "developer", "content": "be brief"},
                {"role": "user", "content": "hello there"}]}),
    )
    .await;
    assert_eq!(streamed_text(&r), "echo: hello there");
    let sent = mock.last().unwrap().json();
    assert_eq!(
        sent,
        json!({"model": "mistral-small-latest", "random_seed": 7, "max_tokens": 50,
            "safe_prompt": true, "stream": true,
            "messages": [{"role": "system", "content": "be brief"},
                {"role": "user", "content": "hello there"}]})
    );

    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "mis/mistral-small-latest", "user": "u-1",
            "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(
        (e["param"].as_str(), e["code"].as_str()),
        (Some("user"), Some("unsupported_parameter"))
    );

    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": "mis/mistral-embed", "input": ["a b", "c"], "dimensions": 8}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2);
    let seen = mock.last().unwrap();
    assert_eq!(seen.path, "/v1/embeddings");
    assert_eq!(
        seen.json(),
        json!({"model": "mistral-embed", "input": ["a b", "c"], "output_dimension": 8})
    );

    for path in ["/v1/fim/completions", "/v1/ocr", "/v1/chat/classifications"] {
        let r = send(
            Method::POST,
            &gw.url(&format!("/mis{path}")),
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer client"),
            ],
            r#"{"model": "codestral-latest", "prompt": "def f(", "suffix": "return 1"}"#,
        )
        .await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let seen = mock.last().unwrap();
        assert_eq!(seen.path, path);
        assert_eq!(seen.header("authorization"), Some("Bearer k"));
    }
    // The same endpoints on the gateway's own /v1, routed by `model` like chat.
    for path in [
        "/v1/fim/completions",
        "/v1/ocr",
        "/v1/classifications",
        "/v1/chat/moderations",
        "/v1/chat/classifications",
    ] {
        let r = post_json(
            &gw.url(path),
            &json!({"model": "mis/codestral-latest", "prompt": "def f(", "suffix": "return 1"}),
        )
        .await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let seen = mock.last().unwrap();
        assert_eq!(seen.path, path);
        assert_eq!(seen.json()["model"], "codestral-latest");
        assert_eq!(seen.header("authorization"), Some("Bearer k"));
    }
}

/// `provider/model` reaches that provider with the model part as the upstream model, unless
/// the provider sets `direct: false` (then it is an unknown model, though aliases still
/// reach it).
#[tokio::test]
async fn direct_provider_model_names_unless_the_provider_opts_out() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        r#"
providers:
  mock:   {{ kind: openai-compatible, base_url: "{url}", api_key: "k-mock" }}
  hidden: {{ kind: openai-compatible, base_url: "{url}", api_key: "k-hidden", direct: false }}
models:
  - name: curated
    targets: [ {{ provider: hidden, model: vetted-model }} ]
"#,
        url = mock.base_url()
    ));

    let r = post_json(&gw.url(CHAT), &chat("mock/some-model", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(mock.last_json()["model"], "some-model");
    assert_eq!(r.header("x-sluice-provider"), Some("mock"));
    assert_eq!(r.header("x-sluice-model"), Some("some-model"));

    let r = post_json(&gw.url(CHAT), &chat("hidden/some-model", false)).await;
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "model_not_found");
    assert_eq!(mock.request_count(), 1, "nothing reached the upstream");

    let r = post_json(&gw.url(CHAT), &chat("curated", false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(mock.last_json()["model"], "vetted-model");
}

/// With no config file, `GROQ_API_KEY` in the environment registers the `groq` provider:
/// `groq/…` is not an unknown model. There is no network here, so the call itself fails as
/// an upstream error (502, or 504 if name resolution hangs until `x-sluice-timeout`) that
/// names the provider and never shows the key.
#[tokio::test]
async fn groq_key_in_the_environment_registers_groq() {
    let gw = Start::default()
        .env("GROQ_API_KEY", "gsk-secret-test-key")
        .spawn();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        send(
            Method::POST,
            &gw.url(CHAT),
            &[
                ("content-type", "application/json"),
                ("x-sluice-timeout", "3s"),
            ],
            chat("groq/llama-3.1-8b-instant", false).to_string(),
        ),
    )
    .await
    .expect("the gateway answers within its own deadline");
    assert_ne!(r.status, 404, "groq must be registered: {}", r.text());
    assert!(matches!(r.status, 502 | 504), "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("groq"), "{message}");
    assert!(!r.text().contains("gsk-secret-test-key"));
    assert!(!gw.logs().contains("gsk-secret-test-key"));
}
