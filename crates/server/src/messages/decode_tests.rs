//! Unit tests of [`super`]: Anthropic requests → internal chat requests.

#![allow(clippy::unwrap_used)]

use super::*;

fn decode(body: Value) -> Result<ChatRequest, GatewayError> {
    chat_request(serde_json::from_value(body).unwrap())
}

#[test]
fn parameters_map() {
    let req = decode(json!({
        "model": "fast", "max_tokens": 100, "stop_sequences": ["END"], "temperature": 0.5,
        "top_p": 0.9, "top_k": 40, "metadata": {"user_id": "u1"}, "stream": true,
        "thinking": {"type": "enabled", "budget_tokens": 4096},
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "tools": [{"name": "w", "description": "d", "input_schema": {"type": "object"},
                   "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}]
    }))
    .unwrap();
    let v = serde_json::to_value(&req).unwrap();
    assert_eq!(
        v,
        json!({
            "model": "fast", "max_tokens": 100, "stop": ["END"], "temperature": 0.5,
            "top_p": 0.9, "top_k": 40, "user": "u1", "stream": true,
            "stream_options": {"include_usage": true}, "reasoning_effort": "medium",
            "tool_choice": "required", "parallel_tool_calls": false,
            "tools": [{"type": "function", "cache_control": {"type": "ephemeral"},
                       "function": {"name": "w", "description": "d", "parameters": {"type": "object"}}}],
            "messages": [{"role": "user", "content": "hi"}]
        })
    );
    assert!(req.raw.is_none());
}

#[test]
fn thinking_budgets_and_tool_choices() {
    assert_eq!(
        (
            effort(1024),
            effort(2048),
            effort(2049),
            effort(8192),
            effort(8193)
        ),
        ("low", "low", "medium", "medium", "high")
    );
    assert_eq!(
        tool_choice(ToolChoice::Tool {
            name: "w".into(),
            disable_parallel_tool_use: None
        }),
        (
            Some(json!({"type": "function", "function": {"name": "w"}})),
            None
        )
    );
    assert_eq!(tool_choice(ToolChoice::None), (Some(json!("none")), None));
    assert_eq!(
        tool_choice(ToolChoice::Auto {
            disable_parallel_tool_use: Some(false)
        }),
        (Some(json!("auto")), None)
    );
}

#[test]
fn system_images_and_documents() {
    let req = decode(json!({
        "model": "m", "max_tokens": 1,
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAA"}},
            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
            {"type": "document", "title": "a.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVB"}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain"}},
            {"type": "text", "text": "what?"}
        ]}]
    }))
    .unwrap();
    let v = serde_json::to_value(&req.messages).unwrap();
    assert_eq!(
        v,
        json!([
            {"role": "system", "content": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVB", "filename": "a.pdf"}},
                {"type": "text", "text": "plain"},
                {"type": "text", "text": "what?"}
            ]}
        ])
    );
    let plain =
        decode(json!({"model": "m", "max_tokens": 1, "system": "sys", "messages": []})).unwrap();
    assert_eq!(
        serde_json::to_value(&plain.messages).unwrap(),
        json!([{"role": "system", "content": "sys"}])
    );
}

#[test]
fn tool_use_and_tool_result_conversation() {
    let req = decode(json!({
        "model": "m", "max_tokens": 1,
        "messages": [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "text", "text": "here you go"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
                 "content": [{"type": "text", "text": "no clock"}]}
            ]}
        ]
    }))
    .unwrap();
    assert_eq!(
        serde_json::to_value(&req.messages).unwrap(),
        json!([
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": [
                {"type": "text", "text": "[tool error]"}, {"type": "text", "text": "no clock"}
            ]},
            {"role": "user", "content": [{"type": "text", "text": "here you go"}]}
        ])
    );
}

#[test]
fn thinking_blocks_are_kept_byte_for_byte() {
    let blocks = json!([
        {"type": "thinking", "thinking": "Let me think…\n", "signature": "EqQBCgIYAhIM+sig/=="},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
        {"type": "text", "text": "Done."}
    ]);
    let req = decode(json!({
        "model": "m", "max_tokens": 1,
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": blocks}]
    }))
    .unwrap();
    let openai = serde_json::to_value(&req).unwrap();
    assert_eq!(
        openai["messages"][1],
        json!({
            "role": "assistant", "content": "Done.", "reasoning_content": "Let me think…\n",
            "thinking_blocks": [
                {"type": "thinking", "thinking": "Let me think…\n", "signature": "EqQBCgIYAhIM+sig/=="},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}
            ]
        })
    );
}

#[test]
fn bad_input_names_the_field() {
    let e = decode(json!({"model": "m", "max_tokens": 1,
        "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "x", "name": "n", "input": {}}]}]}))
    .unwrap_err();
    assert_eq!(e.status(), 400);
    assert_eq!(e.param(), Some("messages[0].content[0].type"));
    assert!(
        e.message().starts_with("messages[0].content[0].type: "),
        "{}",
        e.message()
    );
    let e = decode(
        json!({"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}),
    )
    .unwrap_err();
    assert_eq!(e.param(), Some("messages[0].role"));
    let e = decode(
        json!({"model": "m", "max_tokens": 1, "system": [{"type": "image",
        "source": {"type": "url", "url": "https://x"}}], "messages": []}),
    )
    .unwrap_err();
    assert_eq!(e.param(), Some("system[0].type"));
    let e = decode(
        json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [
        {"type": "server_tool_use", "id": "x"}]}]}),
    )
    .unwrap_err();
    assert_eq!(e.param(), Some("messages[0].content[0].type"));
}
