#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_eventstream::frame::read_message_from;
use serde_json::{Value, json};

use super::*;

const PATH: &str = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse";

/// Request parts signed like the gateway signs them.
fn signed(path: &str, body: &[u8], key: &str, secret: &str, token: Option<&str>) -> Parts {
    let uri = format!("http://127.0.0.1:9{path}");
    let creds = Credentials::new(key, secret, token.map(str::to_owned), None, "test");
    let identity = creds.into();
    let request = SignableRequest::new(
        "POST",
        uri.as_str(),
        [("content-type", "application/json")].into_iter(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("bedrock")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut b = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "127.0.0.1:9")
        .header("content-type", "application/json");
    for (k, v) in instructions.headers() {
        b = b.header(k, v);
    }
    b.body(()).unwrap().into_parts().0
}

fn call_at(path: &str, body: &Value) -> Reply {
    let bytes = body.to_string();
    let parts = signed(
        path,
        bytes.as_bytes(),
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        None,
    );
    reply(&parts, bytes.as_bytes(), 7)
}

fn json_of(r: Reply) -> (u16, Value) {
    match r {
        Reply::Json { status, body } => (status, serde_json::from_slice(&body).unwrap()),
        Reply::Sse(_) => panic!("expected JSON"),
    }
}

fn call(body: &Value) -> (u16, Value) {
    json_of(call_at(PATH, body))
}

fn error_of(body: &Value) -> String {
    let (status, v) = call(body);
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["__type"], "ValidationException");
    v["message"].as_str().unwrap().to_owned()
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": [{"text": text}]})
}

#[test]
fn signatures_are_verified() {
    let body = json!({"messages": [user("hi")]}).to_string();
    let ok = signed(
        PATH,
        body.as_bytes(),
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        None,
    );
    assert_eq!(json_of(reply(&ok, body.as_bytes(), 1)).0, 200);

    let wrong_secret = signed(PATH, body.as_bytes(), ACCESS_KEY_ID, "not-the-secret", None);
    let (status, v) = json_of(reply(&wrong_secret, body.as_bytes(), 1));
    assert_eq!(
        (status, v["__type"].as_str()),
        (403, Some("InvalidSignatureException"))
    );

    // The body is signed: a tampered body fails.
    let (status, _) = json_of(reply(&ok, br#"{"messages":[]}"#, 1));
    assert_eq!(status, 403);

    let unknown = signed(
        PATH,
        body.as_bytes(),
        "AKIAUNKNOWN",
        SECRET_ACCESS_KEY,
        None,
    );
    let (_, v) = json_of(reply(&unknown, body.as_bytes(), 1));
    assert_eq!(v["__type"], "UnrecognizedClientException");

    let session = signed(
        PATH,
        body.as_bytes(),
        SESSION_ACCESS_KEY_ID,
        SESSION_SECRET_ACCESS_KEY,
        Some(SESSION_TOKEN),
    );
    assert_eq!(json_of(reply(&session, body.as_bytes(), 1)).0, 200);
    let no_token = signed(
        PATH,
        body.as_bytes(),
        SESSION_ACCESS_KEY_ID,
        SESSION_SECRET_ACCESS_KEY,
        None,
    );
    assert_eq!(json_of(reply(&no_token, body.as_bytes(), 1)).0, 403);

    let unsigned = http::Request::builder()
        .method("POST")
        .uri(PATH)
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let (_, v) = json_of(reply(&unsigned, body.as_bytes(), 1));
    assert_eq!(v["__type"], "MissingAuthenticationTokenException");
}

#[test]
fn validates_like_the_api() {
    assert!(error_of(&json!({"messages": []})).contains("messages"));
    assert!(
        error_of(&json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}))
            .contains("start with a user")
    );
    assert!(error_of(&json!({"messages": [user("a"), user("b")]})).contains("alternate"));
    assert!(
        error_of(&json!({"messages": [{"role": "user", "content": [{"text": " "}]}]}))
            .contains("blank")
    );
    assert!(
        error_of(&json!({"messages": [user("a")], "inferenceConfig": {"maxTokens": 0}}))
            .contains("maxTokens")
    );
    let tools = json!({"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]});
    let orphan = json!({"toolConfig": tools, "messages": [user("a"),
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t2", "content": [{"text": "x"}]}}]}]});
    assert!(error_of(&orphan).contains("t2"));
    let no_config = json!({"messages": [user("a"),
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "x"}]}}]}]});
    assert!(error_of(&no_config).contains("toolConfig"));
    let bad_image = json!({"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": "QUJD"}}}]}]});
    assert!(error_of(&bad_image).contains("format"));
    let forged = json!({"inferenceConfig": {"maxTokens": 2000},
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        "messages": [user("a"), {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "t", "signature": "forged"}}}, {"text": "b"}]}, user("c")]});
    assert!(error_of(&forged).contains("signature"));
}

#[test]
fn answers_with_reasoning_tools_usage_and_guardrails() {
    let (status, v) = call(&json!({"inferenceConfig": {"maxTokens": 2000},
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        "system": [{"text": "long cached prefix"}, {"cachePoint": {"type": "default"}}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json":
            {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}]},
        "messages": [user("weather?")]}));
    assert_eq!(status, 200, "{v}");
    let content = &v["output"]["message"]["content"];
    let thought = "The user said: weather?";
    assert_eq!(
        content[0]["reasoningContent"]["reasoningText"]["signature"],
        signature(thought)
    );
    assert_eq!(content[1]["toolUse"]["input"], json!({"city": "Paris"}));
    assert_eq!(v["stopReason"], "tool_use");
    assert_eq!(v["usage"]["cacheReadInputTokens"], 3);
    assert_eq!(v["usage"]["inputTokens"], 1);

    let (_, v) = call(
        &json!({"guardrailConfig": {"guardrailIdentifier": BLOCKING_GUARDRAIL, "guardrailVersion": "1"},
        "messages": [user("anything")]}),
    );
    assert_eq!(v["stopReason"], "guardrail_intervened");

    let (_, v) =
        call(&json!({"inferenceConfig": {"maxTokens": 2}, "messages": [user("one two three")]}));
    assert_eq!(v["stopReason"], "max_tokens");
    assert_eq!(v["output"]["message"]["content"][0]["text"], "echo: one");
}

#[test]
fn streams_are_aws_event_streams() {
    let path = "/model/anthropic.claude-x/converse-stream";
    let Reply::Sse(frames) = call_at(path, &json!({"messages": [user("stream me")]})) else {
        panic!("expected a stream");
    };
    let events: Vec<(String, Value)> = frames
        .into_iter()
        .map(|f| {
            let m = read_message_from(f).unwrap();
            let kind = m
                .headers()
                .iter()
                .find(|h| h.name().as_str() == ":event-type")
                .and_then(|h| h.value().as_string().ok())
                .map(|s| s.as_str().to_owned())
                .unwrap();
            (kind, serde_json::from_slice(m.payload()).unwrap())
        })
        .collect();
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"messageStart"));
    assert_eq!(
        &kinds[kinds.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    let text: String = events
        .iter()
        .filter_map(|(_, v)| v.pointer("/delta/text").and_then(Value::as_str))
        .collect();
    assert_eq!(text, "echo: stream me");

    let headers = response_headers(path, &Reply::Sse(Vec::new()), 3);
    assert_eq!(
        headers["content-type"],
        "application/vnd.amazon.eventstream"
    );
    assert_eq!(headers["x-amzn-requestid"], request_id(3).as_str());
    let err = error_reply(400, "ValidationException", "bad");
    assert!(
        response_headers(PATH, &err, 1)["x-amzn-errortype"]
            .to_str()
            .unwrap()
            .starts_with("ValidationException:")
    );
    assert!(response_headers("/v1/messages", &err, 1).is_empty());
}

/// Every request the codec fixtures expect the gateway to send is one the mock (and so the
/// real API's rules) accepts, signed the way the gateway signs. Reasoning signed by the real
/// API is the one thing the mock cannot verify, so those blocks are re-signed first.
#[test]
fn codec_fixture_requests_pass_validation() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/bedrock");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(text) = std::fs::read_to_string(dir.join("upstream_request.json")) else {
            continue;
        };
        let mut body: Value = serde_json::from_str(&text).unwrap();
        for m in body["messages"].as_array_mut().unwrap() {
            for b in m["content"].as_array_mut().into_iter().flatten() {
                if let Some(rt) = b.pointer_mut("/reasoningContent/reasoningText") {
                    rt["signature"] = json!(signature(rt["text"].as_str().unwrap()));
                }
            }
        }
        let stream = dir.join("upstream_response.events.json").exists();
        let op = if stream {
            "converse-stream"
        } else {
            "converse"
        };
        let path = format!("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/{op}");
        match call_at(&path, &body) {
            Reply::Json { status, body } => assert_eq!(
                status,
                200,
                "{}: {}",
                dir.display(),
                String::from_utf8_lossy(&body)
            ),
            Reply::Sse(_) => assert!(stream, "{}", dir.display()),
        }
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} cases checked");
}
