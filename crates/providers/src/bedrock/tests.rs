#![allow(clippy::unwrap_used)]

use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};
use sluice_config::{ProviderConfig, ProviderKind, Timeouts};
use sluice_types::{ChatChunk, ChatRequest, ErrorKind, GatewayError};

use super::BedrockCodec;
use crate::eventstream::{EventStreamParser, encode_event, encode_exception};
use crate::{Codec, DecodeCx, SseEvent, Target};

fn codec() -> BedrockCodec {
    BedrockCodec::for_config(&ProviderConfig::new(
        "br",
        ProviderKind::Bedrock,
        "https://bedrock-runtime.us-east-1.amazonaws.com/",
    ))
}

const CLAUDE: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

fn target(model: &str) -> Target {
    Target {
        provider: "br".into(),
        model: model.into(),
        timeouts: Timeouts::default(),
    }
}

fn encode_for(model: &str, req: Value) -> Result<Value, GatewayError> {
    let req: ChatRequest = serde_json::from_value(req).unwrap();
    let up = codec().encode(&req, &target(model))?;
    Ok(serde_json::from_slice(&up.body).unwrap())
}

fn encode(req: Value) -> Result<Value, GatewayError> {
    encode_for(CLAUDE, req)
}

fn hi() -> Value {
    json!([{"role": "user", "content": "hi"}])
}

#[test]
fn urls_encode_the_model_id_and_follow_the_stream_flag() {
    let req: ChatRequest = serde_json::from_value(json!({"model": "x", "messages": hi()})).unwrap();
    let up = codec().encode(&req, &target(CLAUDE)).unwrap();
    assert_eq!(
        up.url,
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse"
    );
    let arn = "arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude";
    let mut req = req;
    req.stream = Some(true);
    let up = codec().encode(&req, &target(arn)).unwrap();
    assert!(
        up.url.ends_with(
            "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.anthropic.claude/converse-stream"
        ),
        "{}",
        up.url
    );
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(
        body,
        json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
    );
}

#[test]
fn parameters_map_to_inference_config_and_model_fields() {
    let body = encode(json!({"model": "x", "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Cache me", "cache_control": {"type": "ephemeral"}}]},
            {"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        "max_completion_tokens": 300, "max_tokens": 9, "temperature": 0.2, "top_p": 0.9,
        "stop": "END", "top_k": 40, "user": "u-1",
        "guardrail_config": {"guardrailIdentifier": "g1", "guardrailVersion": "1"},
        "additionalModelRequestFields": {"anthropic_beta": ["x"]},
        "requestMetadata": {"team": "search"}}))
    .unwrap();
    assert_eq!(
        body,
        json!({
            "system": [{"text": "Be terse."}, {"text": "Cache me"}, {"cachePoint": {"type": "default"}}],
            "messages": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}],
            "inferenceConfig": {"maxTokens": 300, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
            "additionalModelRequestFields": {"anthropic_beta": ["x"], "top_k": 40},
            "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"},
            "requestMetadata": {"team": "search"}
        })
    );
}

#[test]
fn unsupported_parameters_are_named_with_the_provider() {
    for (field, value) in [
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("presence_penalty", json!(0.5)),
        ("frequency_penalty", json!(1)),
        ("seed", json!(7)),
        ("logit_bias", json!({"1": 2})),
        ("parallel_tool_calls", json!(false)),
    ] {
        let mut req = json!({"model": "x", "messages": hi()});
        req[field] = value;
        let e = encode(req).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{field}");
        assert_eq!(e.param(), Some(field));
        assert_eq!(e.code(), Some(crate::UNSUPPORTED_PARAMETER));
        assert!(
            e.message().contains("br") && e.message().contains("Bedrock"),
            "{}",
            e.message()
        );
    }
    encode(
        json!({"model": "x", "n": 1, "logprobs": false, "presence_penalty": 0,
        "parallel_tool_calls": true, "messages": hi()}),
    )
    .unwrap();
}

#[test]
fn images_come_from_data_urls_only() {
    let body = encode(
        json!({"model": "x", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}}]}]}),
    )
    .unwrap();
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"image": {"format": "jpeg", "source": {"bytes": "QUJD"}}})
    );
    let e = encode(
        json!({"model": "x", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
    )
    .unwrap_err();
    assert_eq!(e.param(), Some("messages[0].content[0].image_url.url"));
    assert!(e.message().contains("cannot fetch"), "{}", e.message());
    let e = encode(
        json!({"model": "x", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,QUJD"}}]}]}),
    )
    .unwrap_err();
    assert!(e.message().contains("image/bmp"), "{}", e.message());
}

fn weather() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})
}

#[test]
fn tools_tool_choice_and_tool_results_map() {
    let convo = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "tooluse_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "tooluse_1", "content": "14C"},
        {"role": "user", "content": "thanks"}
    ]);
    let body = encode(
        json!({"model": "x", "messages": convo, "tools": [weather()],
        "tool_choice": "required"}),
    )
    .unwrap();
    assert_eq!(
        body["toolConfig"],
        json!({"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather",
            "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}],
            "toolChoice": {"any": {}}})
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "content": [{"text": "Checking."},
            {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}}]})
    );
    assert_eq!(
        body["messages"][2],
        json!({"role": "user", "content": [
            {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "14C"}]}},
            {"text": "thanks"}]})
    );
    let named = encode(json!({"model": "x", "messages": hi(), "tools": [weather()],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}))
    .unwrap();
    assert_eq!(
        named["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "get_weather"}})
    );
    // `none` leaves the tools out, unless the conversation already uses them.
    let none = encode(
        json!({"model": "x", "messages": hi(), "tools": [weather()], "tool_choice": "none"}),
    )
    .unwrap();
    assert!(none.get("toolConfig").is_none(), "{none}");
    let e = encode(
        json!({"model": "x", "messages": convo, "tools": [weather()], "tool_choice": "none"}),
    )
    .unwrap_err();
    assert_eq!(e.param(), Some("tool_choice"));
    let e = encode(json!({"model": "x", "messages": convo})).unwrap_err();
    assert_eq!(e.param(), Some("tools"));
}

#[test]
fn json_schema_is_a_forced_tool() {
    let body = encode(json!({"model": "x", "messages": hi(), "response_format": {"type": "json_schema",
        "json_schema": {"name": "person", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}}))
    .unwrap();
    assert_eq!(
        body["toolConfig"]["toolChoice"],
        json!({"tool": {"name": "sluice_json_person"}})
    );
    assert_eq!(
        body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["properties"]["name"],
        json!({"type": "string"})
    );
}

#[test]
fn reasoning_effort_becomes_anthropic_thinking_and_signatures_go_back() {
    let body = encode(
        json!({"model": "x", "reasoning_effort": "medium", "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "thinking_blocks": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
            {"type": "thinking", "thinking": "unsigned"},
            {"type": "redacted_thinking", "data": "ZW5j"}]},
        {"role": "user", "content": "again"}]}),
    )
    .unwrap();
    assert_eq!(
        body["additionalModelRequestFields"],
        json!({"thinking": {"type": "enabled", "budget_tokens": 4096}})
    );
    assert_eq!(body["inferenceConfig"], json!({"maxTokens": 64000}));
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig=="}}},
            {"reasoningContent": {"redactedContent": "ZW5j"}},
            {"text": "a"}
        ])
    );
    let e = encode(
        json!({"model": "x", "reasoning_effort": "low", "temperature": 0.5, "messages": hi()}),
    )
    .unwrap_err();
    assert_eq!(e.param(), Some("temperature"));
    let e = encode_for(
        "amazon.nova-pro-v1:0",
        json!({"model": "x", "reasoning_effort": "high", "messages": hi()}),
    )
    .unwrap_err();
    assert_eq!(e.param(), Some("reasoning_effort"));
    encode_for(
        "amazon.nova-pro-v1:0",
        json!({"model": "x", "reasoning_effort": "none", "messages": hi()}),
    )
    .unwrap();
}

fn decode(body: Value, request_id: Option<&str>) -> Value {
    let mut headers = HeaderMap::new();
    if let Some(id) = request_id {
        headers.insert("x-amzn-requestid", HeaderValue::from_str(id).unwrap());
    }
    let resp = codec()
        .decode(
            StatusCode::OK,
            body.to_string().into(),
            &DecodeCx { headers: &headers },
        )
        .unwrap();
    serde_json::from_slice(&resp.openai_json().unwrap()).unwrap()
}

#[test]
fn responses_map_text_reasoning_calls_stop_reasons_and_usage() {
    let out = decode(
        json!({"output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "think", "signature": "s1"}}},
            {"text": "Calling."},
            {"toolUse": {"toolUseId": "tooluse_a", "name": "get_weather", "input": {"city": "Paris"}}}]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 40, "cacheReadInputTokens": 20, "cacheWriteInputTokens": 5},
            "metrics": {"latencyMs": 120}}),
        Some("req-1"),
    );
    assert_eq!(out["id"], "req-1");
    let m = &out["choices"][0]["message"];
    assert_eq!(m["content"], "Calling.");
    assert_eq!(m["reasoning_content"], "think");
    assert_eq!(
        m["thinking_blocks"],
        json!([{"type": "thinking", "thinking": "think", "signature": "s1"}])
    );
    assert_eq!(
        m["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens": 35, "completion_tokens": 5, "total_tokens": 40,
            "prompt_tokens_details": {"cached_tokens": 20, "cache_creation_tokens": 5}})
    );
    for (reason, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ] {
        let out = decode(
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}}, "stopReason": reason}),
            None,
        );
        assert_eq!(out["choices"][0]["finish_reason"], finish, "{reason}");
        assert!(out["id"].as_str().unwrap().starts_with("bedrock-"));
    }
    let json_answer = decode(
        json!({"output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": "t", "name": "sluice_json_person", "input": {"name": "Ada"}}}]}},
            "stopReason": "tool_use", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}),
        None,
    );
    assert_eq!(
        json_answer["choices"][0]["message"]["content"],
        "{\"name\":\"Ada\"}"
    );
    assert_eq!(json_answer["choices"][0]["finish_reason"], "stop");
}

fn stream_of(wire: &[u8], request_id: Option<&str>) -> (Vec<ChatChunk>, Option<GatewayError>) {
    let codec = codec();
    let mut st = super::StreamState::default();
    let mut headers = HeaderMap::new();
    if let Some(id) = request_id {
        headers.insert("x-amzn-requestid", HeaderValue::from_str(id).unwrap());
    }
    codec.start_stream(&mut st, &DecodeCx { headers: &headers });
    let mut parser = EventStreamParser::default();
    let mut chunks = Vec::new();
    for piece in wire.chunks(11) {
        for ev in parser.push(piece).unwrap() {
            match codec.decode_event(&mut st, ev) {
                Ok(more) => chunks.extend(more),
                Err(e) => return (chunks, Some(e)),
            }
        }
    }
    (chunks, None)
}

fn event(kind: &str, payload: Value) -> Vec<u8> {
    encode_event(kind, payload.to_string().as_bytes()).to_vec()
}

#[test]
fn streams_send_role_text_tool_fragments_finish_and_usage_last() {
    let mut wire = event("messageStart", json!({"role": "assistant"}));
    wire.extend(event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}}),
    ));
    wire.extend(event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
    ));
    wire.extend(event("contentBlockStop", json!({"contentBlockIndex": 0})));
    wire.extend(event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 1, "delta": {"text": "Hi"}}),
    ));
    wire.extend(event(
        "contentBlockStart",
        json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tu1", "name": "f"}}}),
    ));
    wire.extend(event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"a\":"}}}),
    ));
    wire.extend(event(
        "contentBlockDelta",
        json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "1}"}}}),
    ));
    wire.extend(event(
        "contentBlockStart",
        json!({"contentBlockIndex": 3, "start": {"toolUse": {"toolUseId": "tu2", "name": "g"}}}),
    ));
    wire.extend(event("messageStop", json!({"stopReason": "tool_use"})));
    wire.extend(event("metadata", json!({"usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}, "metrics": {"latencyMs": 9}})));
    let (chunks, err) = stream_of(&wire, Some("rid-9"));
    assert!(err.is_none());
    let v: Vec<Value> = chunks
        .iter()
        .map(|c| serde_json::from_slice(&c.openai_json().unwrap()).unwrap())
        .collect();
    assert!(v.iter().all(|c| c["id"] == "rid-9"));
    assert_eq!(
        v[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(
        v[1]["choices"][0]["delta"],
        json!({"reasoning_content": "hm"})
    );
    assert_eq!(
        v[2]["choices"][0]["delta"],
        json!({"thinking_blocks": [{"type": "thinking", "signature": "sig"}]})
    );
    assert_eq!(v[3]["choices"][0]["delta"], json!({"content": "Hi"}));
    assert_eq!(
        v[4]["choices"][0]["delta"]["tool_calls"],
        json!([{"index": 0, "id": "tu1", "type": "function", "function": {"name": "f", "arguments": ""}}])
    );
    assert_eq!(
        v[6]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        "1}"
    );
    assert_eq!(v[7]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
    assert_eq!(v[8]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v[9]["choices"], json!([]));
    assert_eq!(v[9]["usage"]["total_tokens"], 7);
    assert_eq!(v.len(), 10);
}

#[test]
fn stream_exceptions_and_garbage_end_the_stream() {
    let mut wire = event("messageStart", json!({"role": "assistant"}));
    wire.extend_from_slice(&encode_exception(
        "throttlingException",
        br#"{"message":"Too many tokens, please wait."}"#,
    ));
    let (chunks, err) = stream_of(&wire, None);
    assert_eq!(chunks.len(), 1);
    let e = err.unwrap();
    assert_eq!(e.status(), 429);
    assert!(e.is_retryable());
    assert_eq!(e.error_type(), "ThrottlingException");
    assert_eq!(e.message(), "Too many tokens, please wait.");

    let wire = encode_exception("modelStreamErrorException", br#"{"message":"boom"}"#);
    let (_, err) = stream_of(&wire, None);
    assert_eq!(err.unwrap().status(), 424);

    let mut st = super::StreamState::default();
    let e = codec()
        .decode_event(
            &mut st,
            SseEvent {
                event: Some("contentBlockDelta".into()),
                data: "<html>".into(),
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UpstreamProtocol);
}

fn error_of(status: u16, kind: Option<&str>, body: &str) -> GatewayError {
    let mut headers = HeaderMap::new();
    if let Some(k) = kind {
        headers.insert("x-amzn-errortype", HeaderValue::from_str(k).unwrap());
    }
    codec().decode_error_response(
        StatusCode::from_u16(status).unwrap(),
        &DecodeCx { headers: &headers },
        body.as_bytes(),
    )
}

#[test]
fn errors_map_exceptions_statuses_and_context_length() {
    let e = error_of(
        400,
        Some("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        r#"{"message":"Input is too long for requested model."}"#,
    );
    assert_eq!(e.kind(), ErrorKind::ContextLength);
    assert_eq!(e.code(), Some("context_length_exceeded"));
    assert_eq!(e.status(), 400);

    let e = error_of(
        429,
        Some("ThrottlingException"),
        r#"{"message":"Too many requests"}"#,
    );
    assert!(e.is_retryable());
    assert_eq!(e.code(), Some("rate_limit_exceeded"));
    assert_eq!(e.error_type(), "ThrottlingException");

    let e = error_of(
        400,
        None,
        r#"{"__type":"com.amazon.bedrock#ServiceQuotaExceededException","message":"quota"}"#,
    );
    assert_eq!(e.status(), 429);
    assert_eq!(e.error_type(), "ServiceQuotaExceededException");

    let e = error_of(
        403,
        Some("AccessDeniedException"),
        r#"{"Message":"denied"}"#,
    );
    assert_eq!(
        (e.status(), e.is_retryable(), e.message()),
        (403, false, "denied")
    );
    let e = error_of(
        503,
        Some("ServiceUnavailableException"),
        r#"{"message":"down"}"#,
    );
    assert!(e.is_retryable());
    let e = error_of(408, Some("ModelTimeoutException"), "{}");
    assert!(e.is_retryable());
    assert!(
        e.message().contains("ModelTimeoutException"),
        "{}",
        e.message()
    );
    let e = codec().decode_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
    assert!(e.message().contains("bad gateway"));
    assert_eq!(e.status(), 502);
}

#[test]
fn forwarding_openai_endpoints_is_unsupported() {
    let e = codec().forward_url("/embeddings", None, None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}
