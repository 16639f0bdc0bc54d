//! Fixture tests for the provider codecs.
//!
//! Each provider's cases live under `fixtures/<provider>/`, and [`suites`] says which codec,
//! target model and upstream URL go with each directory; the Gemini and Anthropic cases run
//! a second time through the Vertex AI codecs, which must translate the same way. Every
//! directory is one case:
//! - `input.json`: the request the client sends (any model name);
//! - `upstream_request.json`: the body the codec must send, with the model swapped for the
//!   suite's target model;
//! - `upstream_response.json` and `expected.json`: the upstream's answer and what the client
//!   gets; or, for a stream, `upstream_response.sse` (or, for the AWS event stream,
//!   `upstream_response.events.json`: a list of `{"event": type, "payload": …}` or
//!   `{"exception": type, "payload": …}` messages the runner frames) and `expected.sse`,
//!   whose `data:` lines
//!   are the events the client gets, ending with `[DONE]` (or with the error event that ends
//!   a stream failing after it began);
//! - or, for an upstream error, `upstream_status` (the HTTP status, as text),
//!   `upstream_response.json` (the error body) and `expected_error.json`: the OpenAI-shaped
//!   error body the client gets, plus its `status` and whether the error is `retryable`.
//!
//! JSON is compared as values, so key order and whitespace do not matter. Every case runs and
//! every failure is reported together.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use sluice_config::{Preset, ProviderConfig, ProviderKind, Timeouts, VertexConfig};
use sluice_providers::anthropic::AnthropicCodec;
use sluice_providers::bedrock::BedrockCodec;
use sluice_providers::cohere::CohereCodec;
use sluice_providers::eventstream::{encode_event, encode_exception};
use sluice_providers::gemini::GeminiCodec;
use sluice_providers::openai_compat::OpenAiCodec;
use sluice_providers::vertex::{VERTEX_ANTHROPIC_VERSION, VertexAnthropicCodec, VertexGeminiCodec};
use sluice_providers::{
    Codec, DecodeCx, EventStreamParser, SseEvent, SseParser, Target, UpstreamRequest,
};
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, GatewayError};

/// One provider's fixtures: where they are and what runs them.
struct Suite {
    /// The suite's name (its test); the directory's name unless another suite runs it.
    name: &'static str,
    /// The directory under `fixtures/`.
    dir: &'static str,
    /// `upstream_request.json` as this suite's codec sends it (Claude on Vertex AI names the
    /// model in the URL, and the version in the body).
    request: fn(Value) -> Value,
    /// The upstream model every case targets.
    model: &'static str,
    /// Whether an encoded request went to the right URL.
    url_ok: fn(&str) -> bool,
    codec: Box<dyn FixtureCodec>,
}

/// The table of providers with fixtures.
fn suites() -> Vec<Suite> {
    vec![
        Suite {
            name: "openai",
            dir: "openai",
            request: same,
            model: "gpt-4o-mini",
            url_ok: |url| url == "https://api.openai.com/v1/chat/completions",
            codec: Box::new(OpenAiCodec::for_config(&provider(
                ProviderKind::OpenAiCompatible(Preset::OpenAi),
                "https://api.openai.com/v1",
            ))),
        },
        Suite {
            name: "anthropic",
            dir: "anthropic",
            request: same,
            model: "claude-sonnet-4-5",
            url_ok: |url| url == "https://api.anthropic.com/v1/messages",
            codec: Box::new(AnthropicCodec::for_config(&provider(
                ProviderKind::Anthropic,
                "https://api.anthropic.com",
            ))),
        },
        Suite {
            name: "gemini",
            dir: "gemini",
            request: same,
            model: "gemini-2.5-flash",
            url_ok: |url| {
                let base =
                    "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash";
                url == format!("{base}:generateContent")
                    || url == format!("{base}:streamGenerateContent?alt=sse")
            },
            codec: Box::new(GeminiCodec::for_config(&provider(
                ProviderKind::Gemini,
                "https://generativelanguage.googleapis.com",
            ))),
        },
        Suite {
            name: "cohere",
            dir: "cohere",
            request: same,
            model: "command-a-03-2025",
            url_ok: |url| url == "https://api.cohere.com/v2/chat",
            codec: Box::new(CohereCodec::for_config(&provider(
                ProviderKind::Cohere,
                "https://api.cohere.com",
            ))),
        },
        Suite {
            name: "bedrock",
            dir: "bedrock",
            request: same,
            model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
            url_ok: |url| {
                let base = "https://bedrock-runtime.us-east-1.amazonaws.com/model/\
                            anthropic.claude-sonnet-4-5-20250929-v1%3A0";
                url == format!("{base}/converse") || url == format!("{base}/converse-stream")
            },
            codec: Box::new(BedrockCodec::for_config(&provider(
                ProviderKind::Bedrock,
                "https://bedrock-runtime.us-east-1.amazonaws.com",
            ))),
        },
        // The Gemini and Anthropic cases again, through their Vertex AI codecs.
        Suite {
            name: "vertex-gemini",
            dir: "gemini",
            request: same,
            model: "gemini-2.5-flash",
            url_ok: |url| {
                let base = format!("{VERTEX}/publishers/google/models/gemini-2.5-flash");
                url == format!("{base}:generateContent")
                    || url == format!("{base}:streamGenerateContent?alt=sse")
            },
            codec: Box::new(VertexGeminiCodec::for_config(&vertex_provider()).unwrap()),
        },
        Suite {
            name: "vertex-anthropic",
            dir: "anthropic",
            request: |mut body| {
                let map = body.as_object_mut().unwrap();
                map.remove("model");
                map.insert("anthropic_version".into(), VERTEX_ANTHROPIC_VERSION.into());
                body
            },
            model: "claude-sonnet-4-5",
            url_ok: |url| {
                let base = format!("{VERTEX}/publishers/anthropic/models/claude-sonnet-4-5");
                url == format!("{base}:rawPredict") || url == format!("{base}:streamRawPredict")
            },
            codec: Box::new(VertexAnthropicCodec::for_config(&vertex_provider()).unwrap()),
        },
    ]
}

/// The upstream request a suite's codec sends is the one in the fixture.
fn same(body: Value) -> Value {
    body
}

/// Where the Vertex AI suites' provider sends its requests.
const VERTEX: &str =
    "https://us-east5-aiplatform.googleapis.com/v1/projects/p-1/locations/us-east5";

/// A `vertex` provider in project `p-1`, location `us-east5`.
fn vertex_provider() -> ProviderConfig {
    ProviderConfig {
        vertex: Some(VertexConfig {
            project: "p-1".into(),
            location: "us-east5".into(),
            service_account: None,
        }),
        ..provider(
            ProviderKind::Vertex,
            "https://us-east5-aiplatform.googleapis.com",
        )
    }
}

fn provider(kind: ProviderKind, base_url: &str) -> ProviderConfig {
    ProviderConfig {
        name: kind.kind_name().to_owned(),
        kind,
        base_url: base_url.into(),
        api_key: None,
        api_version: None,
        headers: Vec::new(),
        direct: true,
        drop_unsupported: false,
        native: true,
        timeouts: Timeouts::default(),
        aws: None,
        vertex: None,
    }
}

/// A codec with its stream state type erased, so the suites fit in one table.
trait FixtureCodec {
    fn encode(&self, req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, GatewayError>;
    fn decode(&self, body: Bytes, headers: &HeaderMap) -> Result<ChatResponse, GatewayError>;
    /// Decodes a whole stream with one fresh state; the error ends it, as in the transport.
    fn decode_stream(
        &self,
        events: Vec<SseEvent>,
        headers: &HeaderMap,
    ) -> (Vec<ChatChunk>, Option<GatewayError>);
    fn decode_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> GatewayError;
}

impl<C: Codec> FixtureCodec for C {
    fn encode(&self, req: &ChatRequest, target: &Target) -> Result<UpstreamRequest, GatewayError> {
        Codec::encode(self, req, target)
    }

    fn decode(&self, body: Bytes, headers: &HeaderMap) -> Result<ChatResponse, GatewayError> {
        Codec::decode(self, StatusCode::OK, body, &DecodeCx { headers })
    }

    fn decode_stream(
        &self,
        events: Vec<SseEvent>,
        headers: &HeaderMap,
    ) -> (Vec<ChatChunk>, Option<GatewayError>) {
        let mut state = C::StreamState::default();
        self.start_stream(&mut state, &DecodeCx { headers });
        let mut chunks = Vec::new();
        for ev in events {
            match self.decode_event(&mut state, ev) {
                Ok(more) => chunks.extend(more),
                Err(e) => return (chunks, Some(e)),
            }
        }
        (chunks, None)
    }

    fn decode_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> GatewayError {
        self.decode_error_response(status, &DecodeCx { headers }, body)
    }
}

/// Files a case may contain.
const KNOWN_FILES: &[&str] = &[
    "input.json",
    "upstream_request.json",
    "upstream_response.json",
    "upstream_response.sse",
    "upstream_response.events.json",
    "upstream_headers.json",
    "expected.json",
    "expected.sse",
    "upstream_status",
    "expected_error.json",
];

/// Whether a case is a whole JSON answer or a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Sse,
    Error,
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
    let stream_answer = match (
        has("upstream_response.sse"),
        has("upstream_response.events.json"),
    ) {
        (true, true) => {
            return Err(
                "holds both upstream_response.sse and upstream_response.events.json".into(),
            );
        }
        (sse, events) => sse || events,
    };
    if has("upstream_status") || has("expected_error.json") {
        return if has("upstream_status")
            && has("expected_error.json")
            && has("upstream_response.json")
            && !has("expected.json")
            && !has("expected.sse")
            && !has("upstream_response.sse")
            && !has("upstream_response.events.json")
        {
            Ok(Kind::Error)
        } else {
            Err(
                "an error case holds upstream_status, upstream_response.json and \
                 expected_error.json only"
                    .into(),
            )
        };
    }
    match (
        has("upstream_response.json") || has("expected.json"),
        stream_answer || has("expected.sse"),
    ) {
        (true, false) if has("upstream_response.json") && has("expected.json") => Ok(Kind::Json),
        (false, true) if stream_answer && has("expected.sse") => Ok(Kind::Sse),
        (false, false) => {
            Err("missing upstream_response.{json,sse} and expected.{json,sse}".into())
        }
        (true, true) => Err("mixes .json and .sse answers".into()),
        _ => Err("needs both upstream_response and expected, of the same kind".into()),
    }
}

/// `upstream_headers.json` (an object of header name → value) as a header map.
fn headers_of(v: &Value) -> Result<HeaderMap, String> {
    let map = v
        .as_object()
        .ok_or("upstream_headers.json must be an object")?;
    let mut out = HeaderMap::new();
    for (k, v) in map {
        let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
        let value = v
            .as_str()
            .and_then(|v| http::HeaderValue::from_str(v).ok())
            .ok_or_else(|| format!("upstream_headers.json: {k} must be a header value"))?;
        out.insert(name, value);
    }
    Ok(out)
}

/// The messages of `upstream_response.events.json` framed as an AWS event stream (each
/// `{"event": type, "payload"}` or `{"exception": type, "payload"}`), then unframed in small
/// pieces the way the transport does.
fn aws_events(v: &Value) -> Result<Vec<SseEvent>, String> {
    let list = v
        .as_array()
        .ok_or("upstream_response.events.json must be a list")?;
    let mut wire = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let payload = m
            .get("payload")
            .ok_or_else(|| format!("message {i} has no payload"))?
            .to_string();
        let frame = match (m.get("event"), m.get("exception")) {
            (Some(Value::String(t)), None) => encode_event(t, payload.as_bytes()),
            (None, Some(Value::String(t))) => encode_exception(t, payload.as_bytes()),
            _ => return Err(format!("message {i} needs one of event or exception")),
        };
        wire.extend_from_slice(&frame);
    }
    let mut parser = EventStreamParser::default();
    let mut events = Vec::new();
    for piece in wire.chunks(7) {
        events.extend(parser.push(piece).map_err(|e| e.to_string())?);
    }
    parser.finish().map_err(|e| e.to_string())?;
    Ok(events)
}

/// The `data:` payloads of an SSE text, fed to the parser in small pieces so events split
/// across reads are exercised too.
fn sse_events(text: &str) -> Vec<SseEvent> {
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
fn run_case(suite: &Suite, dir: &Path) -> Result<Kind, String> {
    let kind = kind_of(dir)?;
    let codec = &suite.codec;
    let target = Target {
        provider: Arc::from(suite.dir),
        model: Arc::from(suite.model),
        timeouts: Timeouts::default(),
    };

    let text = read(dir, "input.json")?;
    let mut input: ChatRequest = serde_json::from_str(&text)
        .map_err(|e| format!("input.json is not a chat request: {e}"))?;
    let expected_request = (suite.request)(read_json(dir, "upstream_request.json")?);
    // Both encodings must send the same request: the typed fields, and the client's own
    // bytes with the model replaced (what the server forwards when nothing changed).
    for (what, raw) in [("typed", None), ("raw", Some(Bytes::from(text.clone())))] {
        input.raw = raw;
        let up = codec
            .encode(&input, &target)
            .map_err(|e| format!("{what} encode failed: {e}"))?;
        if !(suite.url_ok)(&up.url) {
            return Err(format!("{what} encode went to {}", up.url));
        }
        let sent: Value = serde_json::from_slice(&up.body).map_err(|e| e.to_string())?;
        same_json(
            &format!("{what} upstream request"),
            &sent,
            &expected_request,
        )?;
    }

    // The upstream's response headers, when the case gives some (Bedrock's request id and
    // error type travel in headers).
    let headers = match dir.join("upstream_headers.json").exists() {
        false => HeaderMap::new(),
        true => headers_of(&read_json(dir, "upstream_headers.json")?)?,
    };
    match kind {
        Kind::Json => {
            let body = Bytes::from(read(dir, "upstream_response.json")?);
            let resp = codec
                .decode(body, &headers)
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
            let events = if dir.join("upstream_response.events.json").exists() {
                aws_events(&read_json(dir, "upstream_response.events.json")?)?
            } else {
                sse_events(&read(dir, "upstream_response.sse")?)
            };
            let (chunks, error) = codec.decode_stream(events, &headers);
            let mut got = Vec::new();
            for chunk in chunks {
                let json = chunk.openai_json().map_err(|e| e.to_string())?;
                got.push(String::from_utf8_lossy(&json).into_owned());
            }
            // The gateway ends a relayed stream with `[DONE]`, or with an error event when
            // the stream fails after it began.
            got.push(match error {
                None => "[DONE]".to_owned(),
                Some(e) => e.to_openai_body().to_string(),
            });
            let expected: Vec<String> = sse_events(&read(dir, "expected.sse")?)
                .into_iter()
                .map(|ev| ev.data)
                .collect();
            let last_ok = expected.last().is_some_and(|last| {
                last == "[DONE]"
                    || serde_json::from_str::<Value>(last).is_ok_and(|v| v.get("error").is_some())
            });
            if !last_ok {
                return Err("expected.sse must end with `data: [DONE]` or an error event".into());
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
        Kind::Error => {
            let status = read(dir, "upstream_status")?;
            let status = status
                .trim()
                .parse::<u16>()
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .ok_or_else(|| format!("upstream_status is not a status: {status:?}"))?;
            let body = read(dir, "upstream_response.json")?;
            let e = codec.decode_error(status, &headers, body.as_bytes());
            let got = serde_json::json!({
                "status": e.status(),
                "retryable": e.is_retryable(),
                "error": e.to_openai_body()["error"],
            });
            same_json(
                "client error",
                &got,
                &read_json(dir, "expected_error.json")?,
            )?;
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

/// Runs every case of suite `name` (in `fixtures/<dir>`).
fn run_suite(name: &str) {
    let suites = suites();
    let suite = suites
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no suite {name}"));
    let dir = suite.dir;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(dir);
    let mut failures = Vec::new();
    let (mut json, mut sse, mut errors) = (0, 0, 0);
    for case in case_dirs(&root) {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        match run_case(suite, &case) {
            Ok(Kind::Json) => json += 1,
            Ok(Kind::Sse) => sse += 1,
            Ok(Kind::Error) => errors += 1,
            Err(e) => failures.push(format!("fixtures/{dir}/{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
    assert!(json >= 1, "no JSON case ran");
    assert!(sse >= 1, "no stream case ran");
    eprintln!("{name}: {json} JSON, {sse} stream and {errors} error cases passed");
}

#[test]
fn openai_fixtures() {
    run_suite("openai");
}

#[test]
fn anthropic_fixtures() {
    run_suite("anthropic");
}

#[test]
fn gemini_fixtures() {
    run_suite("gemini");
}

#[test]
fn cohere_fixtures() {
    run_suite("cohere");
}

#[test]
fn bedrock_fixtures() {
    run_suite("bedrock");
}

/// A case with a missing or stray file is an error, never silently skipped.
#[test]
fn incomplete_cases_fail() {
    let dir = std::env::temp_dir().join(format!("sluice-fixture-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str| std::fs::write(dir.join(name), "{}").unwrap();

    let suites = suites();
    let run_case = |dir: &Path| run_case(&suites[0], dir);
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
    write("upstream_status");
    assert!(run_case(&dir).unwrap_err().contains("error case"));
    std::fs::remove_file(dir.join("upstream_status")).unwrap();
    write("expected.jsn");
    assert!(run_case(&dir).unwrap_err().contains("unexpected file"));

    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn vertex_gemini_fixtures() {
    run_suite("vertex-gemini");
}

#[test]
fn vertex_anthropic_fixtures() {
    run_suite("vertex-anthropic");
}
