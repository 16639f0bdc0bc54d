#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::{reply, signature};
use crate::wire::Reply;

fn parts(key: bool, version: bool) -> http::request::Parts {
    let mut b = http::Request::builder().method("POST").uri("/v1/messages");
    if key {
        b = b.header("x-api-key", "k");
    }
    if version {
        b = b.header("anthropic-version", "2023-06-01");
    }
    b.body(()).unwrap().into_parts().0
}

fn call(body: &Value) -> (u16, Value) {
    match reply(&parts(true, true), body.to_string().as_bytes(), 1) {
        Reply::Json { status, body } => (status, serde_json::from_slice(&body).unwrap()),
        Reply::Sse(_) => panic!("expected JSON"),
    }
}

fn error_of(body: &Value) -> String {
    let (status, v) = call(body);
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    v["error"]["message"].as_str().unwrap().to_owned()
}

#[test]
fn headers_are_required() {
    let body = br#"{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let Reply::Json { status, .. } = reply(&parts(false, true), body, 1) else {
        panic!()
    };
    assert_eq!(status, 401);
    let Reply::Json { status, body } = reply(&parts(true, false), body, 1) else {
        panic!()
    };
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("anthropic-version"));
}

#[test]
fn validates_like_the_api() {
    let msgs = json!([{"role":"user","content":"hi"}]);
    assert!(error_of(&json!({"model":"m","messages":msgs})).contains("max_tokens"));
    assert!(
        error_of(
            &json!({"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":"hi"}]})
        )
        .contains("first message")
    );
    assert!(
        error_of(&json!({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}))
            .contains("alternate")
    );
    let orphan = json!({"model":"m","max_tokens":5,"tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[
        {"role":"user","content":"a"},
        {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t2","content":"x"}]}]});
    assert!(error_of(&orphan).contains("unexpected `tool_use_id`"));
    let thinking = json!({"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},
        "messages":[{"role":"user","content":"a"},
          {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"forged"},{"type":"text","text":"b"}]},
          {"role":"user","content":"c"}]});
    assert!(error_of(&thinking).contains("Invalid `signature`"));
    let budget = json!({"model":"m","max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024},"messages":msgs});
    assert!(error_of(&budget).contains("max_tokens"));
}

#[test]
fn answers_with_tools_thinking_and_cache_usage() {
    let (status, v) = call(&json!({"model":"claude-x","max_tokens":2000,
        "thinking":{"type":"enabled","budget_tokens":1024},
        "system":[{"type":"text","text":"long cached prefix","cache_control":{"type":"ephemeral"}}],
        "tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["c","f"]}},"required":["city","unit"]}},
                 {"name":"other","input_schema":{"type":"object"}}],
        "tool_choice":{"type":"auto","disable_parallel_tool_use":true},
        "messages":[{"role":"user","content":"weather?"}]}));
    assert_eq!(status, 200, "{v}");
    let content = v["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "thinking");
    assert_eq!(
        content[0]["signature"],
        signature(content[0]["thinking"].as_str().unwrap())
    );
    assert_eq!(content.len(), 2, "parallel use disabled: one call");
    assert_eq!(content[1]["input"], json!({"city":"Paris","unit":"c"}));
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["usage"]["cache_read_input_tokens"], 3);
    assert_eq!(v["usage"]["input_tokens"], 1);
}

#[test]
fn tool_results_get_an_echo_and_streams_use_anthropic_events() {
    let body = json!({"model":"m","max_tokens":50,"stream":true,
        "tools":[{"name":"f","input_schema":{"type":"object"}}],
        "messages":[{"role":"user","content":"a"},
          {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
          {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny"}]}]});
    let Reply::Sse(frames) = reply(&parts(true, true), body.to_string().as_bytes(), 7) else {
        panic!("expected SSE")
    };
    let text: Vec<String> = frames
        .iter()
        .map(|f| String::from_utf8(f.to_vec()).unwrap())
        .collect();
    let names: Vec<&str> = text
        .iter()
        .map(|e| e.lines().next().unwrap().strip_prefix("event: ").unwrap())
        .collect();
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
    assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
    let said: String = text
        .iter()
        .filter_map(|e| {
            let data: Value =
                serde_json::from_str(e.lines().nth(1)?.strip_prefix("data: ")?).ok()?;
            data.pointer("/delta/text")?.as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(said, "echo: sunny");
}

/// Every request the codec fixtures expect the gateway to send is one the mock (and so the
/// real API's rules) accepts. Signed thinking from the real API is the one thing the mock
/// cannot verify, so those blocks are re-signed first.
#[test]
fn codec_fixture_requests_pass_validation() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/anthropic");
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(text) = std::fs::read_to_string(dir.join("upstream_request.json")) else {
            continue;
        };
        let mut body: Value = serde_json::from_str(&text).unwrap();
        for m in body["messages"].as_array_mut().unwrap() {
            for b in m["content"].as_array_mut().into_iter().flatten() {
                if b["type"] == "thinking" {
                    b["signature"] = json!(signature(b["thinking"].as_str().unwrap()));
                }
            }
        }
        let status = match reply(&parts(true, true), body.to_string().as_bytes(), 1) {
            Reply::Json { status, body } => {
                assert_eq!(
                    status,
                    200,
                    "{}: {}",
                    dir.display(),
                    String::from_utf8_lossy(&body)
                );
                status
            }
            Reply::Sse(_) => 200,
        };
        assert_eq!(status, 200);
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} fixture requests found");
}
