//! The official `openai` Python SDK, unchanged, against the real binary.

use std::path::PathBuf;
use std::process::Command;

use sluice_testkit::MockUpstream;

use crate::harness::Sluice;

/// The Python with the `openai` package: `SLUICE_PYTHON`, else the repo's `.venv`.
/// `None` means it is not installed here; under `CI=true` that is a failure.
fn python_with_openai() -> Option<PathBuf> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("SLUICE_PYTHON").map(PathBuf::from),
        Some(repo.join(".venv/bin/python")),
    ];
    let found = candidates.into_iter().flatten().find(|py| {
        Command::new(py)
            .args(["-c", "import openai"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        let why = "no Python with the `openai` package (set SLUICE_PYTHON or run .ci/run to create .venv)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{why}");
        eprintln!("SKIPPED: {why}");
    }
    found
}

#[tokio::test]
async fn openai_sdk_works_unchanged() {
    let Some(python) = python_with_openai() else {
        return;
    };
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        r#"
providers:
  mock: {{ kind: openai-compatible, base_url: "{}", api_key: "sk-upstream" }}
models:
  - name: fast
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
  - name: embed
    targets: [ {{ provider: mock, model: text-embedding-3-small }} ]
"#,
        mock.base_url()
    ));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/openai_sdk.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("SLUICE_BASE_URL", format!("http://{}/v1", gw.addr))
            .output()
            .map(|o| (o, gw))
    })
    .await
    .expect("join")
    .expect("run python");
    let (out, gw) = out;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openai SDK scenarios failed:\n{stdout}\n{}\n--- gateway ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.logs()
    );
    eprintln!("{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    // Every SDK request went through the gateway to the mock.
    assert!(mock.request_count() >= 10);
}
