#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::reply;
use crate::wire::Reply;

fn parts(auth: Option<&str>) -> http::request::Parts {
    let mut b = http::Request::builder().method("POST").uri("/v2/chat");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(()).unwrap().into_parts().0
}

fn call(body: &Value) -> (u16, Value) {
    match reply(&parts(Some("Bearer k")), body.to_string().as_bytes(), 3) {
        Reply::Json { status, body } => (status, serde_json::from_slice(&body).unwrap()),
        Reply::Sse(_) => panic!("expected JSON"),
    }
}

fn events(body: &Value) -> Vec<String> {
    match reply(&parts(Some("Bearer k")), body.to_string().as_bytes(), 3) {
        Reply::Sse(frames) => frames
            .iter()
            .map(|f| String::from_utf8(f.to_vec()).unwrap())
            .collect(),
        Reply::Json { body, .. } => panic!("expected a stream: {}", String::from_utf8_lossy(&body)),
    }
}

fn error_of(body: &Value) -> String {
    let (status, v) = call(body);
    assert_eq!(status, 400, "{v}");
    v["message"].as_str().unwrap().to_owned()
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn weather() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

#[test]
fn a_bearer_key_is_required() {
    let body = json!({"model": "m", "messages": user("hi")}).to_string();
    for auth in [None, Some("k"), Some("Bearer ")] {
        let Reply::Json { status, body } = reply(&parts(auth), body.as_bytes(), 1) else {
            panic!()
        };
        assert_eq!(status, 401, "{auth:?}");
        assert!(serde_json::from_slice::<Value>(&body).unwrap()["message"].is_string());
    }
}

#[test]
fn validates_like_the_api() {
    let cases = [
        (json!({"model": "m", "messages": []}), "messages"),
        (
            json!({"model": "m", "messages": user("x"), "top_p": 0.5}),
            "unknown field `top_p`",
        ),
        (
            json!({"model": "m", "messages": [{"role": "developer", "content": "x"}]}),
            "role",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x", "name": "a"}]}),
            "unknown field `name`",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"},
            {"role": "tool", "tool_call_id": "nope", "content": "r"}]}),
            "tool_call_id",
        ),
        (
            json!({"model": "m", "messages": user("x"), "tool_choice": "REQUIRED"}),
            "tool_choice",
        ),
        (
            json!({"model": "m", "messages": user("x"), "tools": weather(), "tool_choice": "ANY"}),
            "tool_choice",
        ),
        (
            json!({"model": "m", "messages": user("x"), "tools": weather(),
            "response_format": {"type": "json_object"}}),
            "response_format",
        ),
        (
            json!({"model": "m", "messages": user("x"), "p": 1.0}),
            "p must be",
        ),
        (
            json!({"model": "m", "messages": user("x"), "thinking": {"type": "enabled", "budget_tokens": 5}}),
            "thinking",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}]}),
            "image_url",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]}),
            "arguments",
        ),
    ];
    for (body, needle) in cases {
        let message = error_of(&body);
        assert!(message.contains(needle), "{body}: {message}");
        assert!(message.starts_with("invalid request"), "{message}");
    }
}

#[test]
fn answers_echo_with_usage_from_words() {
    let (status, v) = call(&json!({"model": "m", "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"id": "00000000-0000-4000-8000-000000000003", "finish_reason": "COMPLETE",
            "message": {"role": "assistant", "content": [{"type": "text", "text": "echo: hello there"}]},
            "usage": {"billed_units": {"input_tokens": 4, "output_tokens": 3},
                "tokens": {"input_tokens": 9, "output_tokens": 3}}})
    );
    let (_, v) = call(&json!({"model": "m", "messages": user("one two three"), "max_tokens": 2}));
    assert_eq!(v["message"]["content"][0]["text"], "echo: one");
    assert_eq!(v["finish_reason"], "MAX_TOKENS");
    let (_, v) =
        call(&json!({"model": "m", "messages": user("one two three"), "stop_sequences": ["two"]}));
    assert_eq!(v["message"]["content"][0]["text"], "echo: one ");
    assert_eq!(v["finish_reason"], "STOP_SEQUENCE");
}

#[test]
fn tools_json_and_thinking() {
    let (_, v) = call(&json!({"model": "m", "messages": user("weather?"), "tools": weather()}));
    assert_eq!(v["finish_reason"], "TOOL_CALL");
    assert_eq!(v["message"]["tool_plan"], "I will call get_weather.");
    let call0 = &v["message"]["tool_calls"][0];
    assert_eq!(call0["id"], "get_weather_mock3x0");
    assert_eq!(call0["function"]["arguments"], "{\"city\":\"Paris\"}");
    // Results go back; the answer echoes them.
    let (status, v) = call(&json!({"model": "m", "tools": weather(), "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_plan": "p", "tool_calls": [call0]},
        {"role": "tool", "tool_call_id": "get_weather_mock3x0", "content": "sunny"}]}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["message"]["content"][0]["text"], "echo: sunny");
    let (_, v) = call(
        &json!({"model": "m", "messages": user("x"), "tools": weather(), "tool_choice": "NONE"}),
    );
    assert_eq!(v["finish_reason"], "COMPLETE");

    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
    let (_, v) = call(&json!({"model": "m", "messages": user("a person"),
        "response_format": {"type": "json_object", "json_schema": schema}}));
    assert_eq!(v["message"]["content"][0]["text"], "{\"name\":\"Paris\"}");

    let (_, v) =
        call(&json!({"model": "m", "messages": user("hi"), "thinking": {"type": "enabled"}}));
    assert_eq!(
        v["message"]["content"][0],
        json!({"type": "thinking", "thinking": "The user said: hi"})
    );
}

#[test]
fn streams_follow_coheres_event_sequence() {
    let ev = events(&json!({"model": "m", "stream": true, "messages": user("hi there")}));
    let kinds: Vec<&str> = ev
        .iter()
        .map(|e| e.lines().next().unwrap().trim_start_matches("event: "))
        .collect();
    assert_eq!(
        kinds,
        [
            "message-start",
            "content-start",
            "content-delta",
            "content-delta",
            "content-delta",
            "content-end",
            "message-end",
            "data: [DONE]"
        ]
    );
    assert!(
        ev[1].contains(r#""delta":{"message":{"content":{"text":"","type":"text"}}}"#)
            || ev[1].contains(r#""delta":{"message":{"content":{"type":"text","text":""}}}"#),
        "{}",
        ev[1]
    );
    assert!(ev[6].contains("\"finish_reason\":\"COMPLETE\""));

    let ev =
        events(&json!({"model": "m", "stream": true, "messages": user("w"), "tools": weather()}));
    let kinds: Vec<&str> = ev
        .iter()
        .map(|e| e.lines().next().unwrap().trim_start_matches("event: "))
        .collect();
    assert_eq!(kinds[0], "message-start");
    assert!(kinds.contains(&"tool-plan-delta"));
    let start = kinds.iter().position(|k| *k == "tool-call-start").unwrap();
    assert_eq!(kinds[start + 1], "tool-call-delta");
    assert_eq!(kinds[kinds.len() - 3], "tool-call-end");
    assert_eq!(kinds[kinds.len() - 2], "message-end");
}
