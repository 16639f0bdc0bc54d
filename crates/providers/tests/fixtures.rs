//! Fixture tests for the OpenAI codec.
//!
//! Every directory under `fixtures/openai/` is one case:
//! - `input.json`: the request the client sends (any model name);
//! - `upstream_request.json`: the body the codec must send, with the model swapped for
//!   [`TARGET_MODEL`];
//! - `upstream_response.json` and `expected.json`: the upstream's answer and what the client
//!   gets; or, for a stream, `upstream_response.sse` and `expected.sse`, whose `data:` lines
//!   are the chunks the client gets, ending with `[DONE]`.
//!
//! JSON is compared as values, so key order and whitespace do not matter. Every case runs and
//! every failure is reported together.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use sluice_config::{Preset, ProviderConfig, ProviderKind, Timeouts};
use sluice_providers::openai_compat::OpenAiCodec;
use sluice_providers::{Codec, DecodeCx, SseParser, Target};
use sluice_types::ChatRequest;

/// The upstream model every fixture targets.
const TARGET_MODEL: &str = "gpt-4o-mini";

/// Files a case may contain.
const KNOWN_FILES: &[&str] = &[
    "input.json",
    "upstream_request.json",
    "upstream_response.json",
    "upstream_response.sse",
    "expected.json",
    "expected.sse",
];

/// Whether a case is a whole JSON answer or a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Sse,
}

fn codec() -> OpenAiCodec {
    OpenAiCodec::for_config(&ProviderConfig {
        name: "openai".into(),
        kind: ProviderKind::OpenAiCompatible(Preset::OpenAi),
        base_url: "https://api.openai.com/v1".into(),
        api_key: None,
        api_version: None,
        headers: Vec::new(),
        direct: true,
        timeouts: Timeouts::default(),
    })
}

fn target() -> Target {
    Target {
        provider: Arc::from("openai"),
        model: Arc::from(TARGET_MODEL),
        timeouts: Timeouts::default(),
    }
}

fn read(dir: &Path, name: &str) -> Result<String, String> {
    std::fs::read_to_string(dir.join(name)).map_err(|e| format!("cannot read {name}: {e}"))
}

fn read_json(dir: &Path, name: &str) -> Result<Value, String> {
    serde_json::from_str(&read(dir, name)?).map_err(|e| format!("{name} is not JSON: {e}"))
}

/// Checks the case's files and says which kind it is.
fn kind_of(dir: &Path) -> Result<Kind, String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("cannot list: {e}"))? {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        let name = name.to_string_lossy().into_owned();
        if !KNOWN_FILES.contains(&name.as_str()) {
            return Err(format!(
                "unexpected file {name}; a case holds {KNOWN_FILES:?}"
            ));
        }
        names.push(name);
    }
    let has = |n: &str| names.iter().any(|x| x == n);
    for required in ["input.json", "upstream_request.json"] {
        if !has(required) {
            return Err(format!("missing {required}"));
        }
    }
    match (
        has("upstream_response.json") || has("expected.json"),
        has("upstream_response.sse") || has("expected.sse"),
    ) {
        (true, false) if has("upstream_response.json") && has("expected.json") => Ok(Kind::Json),
        (false, true) if has("upstream_response.sse") && has("expected.sse") => Ok(Kind::Sse),
        (false, false) => {
            Err("missing upstream_response.{json,sse} and expected.{json,sse}".into())
        }
        (true, true) => Err("mixes .json and .sse answers".into()),
        _ => Err("needs both upstream_response and expected, of the same kind".into()),
    }
}

/// The `data:` payloads of an SSE text, fed to the parser in small pieces so events split
/// across reads are exercised too.
fn sse_events(text: &str) -> Vec<sluice_providers::SseEvent> {
    let mut parser = SseParser::default();
    let mut events = Vec::new();
    for piece in text.as_bytes().chunks(7) {
        events.extend(parser.push(piece));
    }
    events.extend(parser.finish());
    events
}

fn same_json(what: &str, got: &Value, expected: &Value) -> Result<(), String> {
    if got == expected {
        return Ok(());
    }
    Err(format!(
        "{what} differs\n   got: {got}\nexpected: {expected}"
    ))
}

/// Runs one case; on failure says what differed.
fn run_case(dir: &Path) -> Result<Kind, String> {
    let kind = kind_of(dir)?;
    let codec = codec();

    let text = read(dir, "input.json")?;
    let mut input: ChatRequest = serde_json::from_str(&text)
        .map_err(|e| format!("input.json is not a chat request: {e}"))?;
    let expected_request = read_json(dir, "upstream_request.json")?;
    // Both encodings must send the same request: the typed fields, and the client's own
    // bytes with the model replaced (what the server forwards when nothing changed).
    for (what, raw) in [("typed", None), ("raw", Some(Bytes::from(text.clone())))] {
        input.raw = raw;
        let up = codec
            .encode(&input, &target())
            .map_err(|e| format!("{what} encode failed: {e}"))?;
        if !up.url.ends_with("/chat/completions") {
            return Err(format!("{what} encode went to {}", up.url));
        }
        let sent: Value = serde_json::from_slice(&up.body).map_err(|e| e.to_string())?;
        same_json(
            &format!("{what} upstream request"),
            &sent,
            &expected_request,
        )?;
    }

    match kind {
        Kind::Json => {
            let body = Bytes::from(read(dir, "upstream_response.json")?);
            let headers = HeaderMap::new();
            let resp = codec
                .decode(StatusCode::OK, body, &DecodeCx { headers: &headers })
                .map_err(|e| format!("decode failed: {e}"))?;
            let expected = read_json(dir, "expected.json")?;
            let client = resp.openai_json().map_err(|e| e.to_string())?;
            let got: Value = serde_json::from_slice(&client).map_err(|e| e.to_string())?;
            same_json("client response", &got, &expected)?;
            // The typed view the gateway works with (usage, finish reasons) matches too.
            let typed = serde_json::to_value(&resp).map_err(|e| e.to_string())?;
            for field in ["usage", "model", "id"] {
                same_json(&format!("typed {field}"), &typed[field], &expected[field])?;
            }
            let reason = &expected["choices"][0]["finish_reason"];
            same_json(
                "typed finish_reason",
                &typed["choices"][0]["finish_reason"],
                reason,
            )?;
        }
        Kind::Sse => {
            let mut state = <OpenAiCodec as Codec>::StreamState::default();
            let mut got = Vec::new();
            for ev in sse_events(&read(dir, "upstream_response.sse")?) {
                let chunks = codec
                    .decode_event(&mut state, ev)
                    .map_err(|e| format!("decode_event failed: {e}"))?;
                for chunk in chunks {
                    let json = chunk.openai_json().map_err(|e| e.to_string())?;
                    got.push(String::from_utf8_lossy(&json).into_owned());
                }
            }
            // The gateway ends every relayed stream with `[DONE]`.
            got.push("[DONE]".to_owned());
            let expected: Vec<String> = sse_events(&read(dir, "expected.sse")?)
                .into_iter()
                .map(|ev| ev.data)
                .collect();
            if expected.last().map(String::as_str) != Some("[DONE]") {
                return Err("expected.sse must end with `data: [DONE]`".into());
            }
            if got.len() != expected.len() {
                return Err(format!(
                    "{} client events, expected {}:\n{}",
                    got.len(),
                    expected.len(),
                    got.join("\n")
                ));
            }
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                if e == "[DONE]" || g == "[DONE]" {
                    if g != e {
                        return Err(format!("event {i}: got {g}, expected {e}"));
                    }
                    continue;
                }
                let g: Value = serde_json::from_str(g).map_err(|e| e.to_string())?;
                let e: Value = serde_json::from_str(e)
                    .map_err(|err| format!("expected.sse event {i} is not JSON: {err}"))?;
                same_json(&format!("event {i}"), &g, &e)?;
            }
        }
    }
    Ok(kind)
}

fn case_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn openai_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/openai");
    let mut failures = Vec::new();
    let (mut json, mut sse) = (0, 0);
    for dir in case_dirs(&root) {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        match run_case(&dir) {
            Ok(Kind::Json) => json += 1,
            Ok(Kind::Sse) => sse += 1,
            Err(e) => failures.push(format!("fixtures/openai/{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
    assert!(json >= 1, "no JSON case ran");
    assert!(sse >= 1, "no stream case ran");
    eprintln!("{json} JSON and {sse} stream cases passed");
}

/// A case with a missing or stray file is an error, never silently skipped.
#[test]
fn incomplete_cases_fail() {
    let dir = std::env::temp_dir().join(format!("sluice-fixture-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str| std::fs::write(dir.join(name), "{}").unwrap();

    write("input.json");
    assert!(
        run_case(&dir)
            .unwrap_err()
            .contains("upstream_request.json")
    );
    write("upstream_request.json");
    assert!(run_case(&dir).unwrap_err().contains("missing"));
    write("upstream_response.json");
    assert!(run_case(&dir).is_err(), "no expected.json");
    write("expected.sse");
    assert!(run_case(&dir).unwrap_err().contains("mixes"));
    std::fs::remove_file(dir.join("expected.sse")).unwrap();
    write("expected.jsn");
    assert!(run_case(&dir).unwrap_err().contains("unexpected file"));

    std::fs::remove_dir_all(&dir).unwrap();
}
