//! The official `openai` and `anthropic` Python SDKs, unchanged, against the real binary.

use std::path::PathBuf;
use std::process::Command;

use sluice_testkit::MockUpstream;

use crate::harness::Sluice;

/// The Python with `module` installed: `SLUICE_PYTHON`, else the repo's `.venv`.
/// `None` means it is not installed here; under `CI=true` that is a failure.
fn python_with(module: &str) -> Option<PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("SLUICE_PYTHON").map(PathBuf::from),
        Some(repo.join(".venv/bin/python")),
    ];
    let found = candidates.into_iter().flatten().find(|py| {
        Command::new(py)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let why = format!(
            "no Python with the `{module}` package (set SLUICE_PYTHON or run .ci/run to create .venv)"
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED: {why}");
    }
    found
}

/// Which wire format the mock upstream behind the gateway speaks.
#[derive(Clone, Copy)]
enum Upstream {
    OpenAi,
    Gemini,
}

/// Runs the scenarios of `tests/python/{script}` with the SDK `module` against a gateway in
/// front of a fresh mock speaking `upstream` (chat model `fast`, embedding model `embed`);
/// `SLUICE_BASE_URL` is the gateway's root plus `base_path`. Asserts that every scenario
/// passed and returns the mock, or `None` when no Python here has the SDK.
async fn run_sdk(
    module: &str,
    script: &str,
    base_path: &str,
    upstream: Upstream,
) -> Option<MockUpstream> {
    let python = python_with(module)?;
    let mock = MockUpstream::start().await;
    let (provider, chat_model) = match upstream {
        Upstream::OpenAi => (
            format!(
                "{{ kind: openai-compatible, base_url: \"{}\", api_key: \"sk-upstream\" }}",
                mock.base_url()
            ),
            "gpt-4o-mini",
        ),
        Upstream::Gemini => (
            format!(
                "{{ kind: gemini, base_url: \"{}\", api_key: \"sk-upstream\" }}",
                mock.root_url()
            ),
            "gemini-2.5-flash",
        ),
    };
    let gw = Sluice::start(&format!(
        r#"
providers:
  mock: {provider}
models:
  - name: fast
    targets: [ {{ provider: mock, model: {chat_model} }} ]
  - name: embed
    targets: [ {{ provider: mock, model: text-embedding-3-small }} ]
"#
    ));
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/python")
        .join(script);
    let base_url = format!("http://{}{base_path}", gw.addr);
    let (out, gw) = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(path)
            .env("SLUICE_BASE_URL", base_url)
            .env("SLUICE_UPSTREAM_MODEL", chat_model)
            .output()
            .map(|o| (o, gw))
    })
    .await
    .expect("join")
    .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} scenarios failed:\n{stdout}\n{}\n--- gateway ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.logs()
    );
    eprintln!("{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    Some(mock)
}

#[tokio::test]
async fn openai_sdk_works_unchanged() {
    let Some(mock) = run_sdk("openai", "openai_sdk.py", "/v1", Upstream::OpenAi).await else {
        return;
    };
    // Every SDK request went through the gateway to the mock.
    assert!(mock.request_count() >= 10);
}

/// The Anthropic SDK talks to `/v1/messages`; the gateway translates every request to the
/// OpenAI upstream and every answer back.
#[tokio::test]
async fn anthropic_sdk_works_unchanged() {
    let Some(mock) = run_sdk("anthropic", "anthropic_sdk.py", "", Upstream::OpenAi).await else {
        return;
    };
    let received = mock.received();
    assert!(received.len() >= 8, "{}", received.len());
    assert!(received.iter().all(|r| r.path == "/v1/chat/completions"));
    // The system prompt reached the upstream as a system message.
    assert!(received.iter().any(|r| {
        let first = &r.json()["messages"][0];
        first["role"] == "system"
            && first["content"] == "You are a terse assistant (anthropic-sdk)."
    }));
}

/// The Anthropic SDK against a Gemini model: `/v1/messages` in, `generateContent` out.
#[tokio::test]
async fn anthropic_sdk_works_with_a_gemini_upstream() {
    let Some(mock) = run_sdk("anthropic", "anthropic_sdk.py", "", Upstream::Gemini).await else {
        return;
    };
    let received = mock.received();
    assert!(received.len() >= 8, "{}", received.len());
    assert!(
        received
            .iter()
            .all(|r| r.path.starts_with("/v1beta/models/gemini-2.5-flash:"))
    );
}

/// The `openai` SDK's Responses API against a Gemini model: `/v1/responses` in,
/// `generateContent` out, with conversation state kept by the gateway.
#[tokio::test]
async fn responses_api_works_on_a_translated_model() {
    let Some(mock) = run_sdk("openai", "responses_sdk.py", "/v1", Upstream::Gemini).await else {
        return;
    };
    let received = mock.received();
    assert!(received.len() >= 9, "{}", received.len());
    assert!(
        received
            .iter()
            .all(|r| r.path.starts_with("/v1beta/models/gemini-2.5-flash:"))
    );
    // `previous_response_id` sent the earlier turns along: the question after the stored
    // conversation, the instructions of a request never carried over.
    let texts = |r: &sluice_testkit::Recorded| r.json()["contents"].to_string();
    assert!(received.iter().any(|r| {
        let t = texts(r);
        t.contains("my name is Ann")
            && t.contains("echo: my name is Ann")
            && t.contains("what is my name?")
    }));
    assert!(received.iter().any(|r| {
        let t = texts(r);
        t.contains("functionResponse") && t.contains("sunny") && t.contains("weather in Paris?")
    }));
}
