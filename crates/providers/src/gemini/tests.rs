#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use sluice_config::{ProviderConfig, ProviderKind, Timeouts};
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, ErrorKind};

use super::GeminiCodec;
use crate::{Codec, DecodeCx, SseEvent, Target};

fn codec() -> GeminiCodec {
    GeminiCodec::for_config(&ProviderConfig::new(
        "gem",
        ProviderKind::Gemini,
        "https://generativelanguage.googleapis.com/",
    ))
}

fn target() -> Target {
    Target {
        provider: "gem".into(),
        model: "gemini-2.5-flash".into(),
        timeouts: Timeouts::default(),
    }
}

fn encode(req: Value) -> (String, Value) {
    let req: ChatRequest = serde_json::from_value(req).unwrap();
    let up = codec().encode(&req, &target()).unwrap();
    (up.url, serde_json::from_slice(&up.body).unwrap())
}

fn encode_err(req: Value) -> sluice_types::GatewayError {
    let req: ChatRequest = serde_json::from_value(req).unwrap();
    codec().encode(&req, &target()).unwrap_err()
}

fn decode(body: Value) -> ChatResponse {
    let headers = HeaderMap::new();
    codec()
        .decode(
            StatusCode::OK,
            Bytes::from(body.to_string()),
            &DecodeCx { headers: &headers },
        )
        .unwrap()
}

fn events(codec: &GeminiCodec, datas: &[Value]) -> Vec<ChatChunk> {
    let mut st = Default::default();
    datas
        .iter()
        .flat_map(|d| {
            codec
                .decode_event(
                    &mut st,
                    SseEvent {
                        event: None,
                        data: d.to_string(),
                    },
                )
                .unwrap()
        })
        .collect()
}

#[test]
fn urls_follow_the_stream_flag() {
    let (url, _) = encode(json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(
        url,
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    );
    let (url, _) = encode(
        json!({"model": "x", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert!(url.ends_with("/models/gemini-2.5-flash:streamGenerateContent?alt=sse"));
    assert!(
        codec().embedder().is_some(),
        "embeddings are translated, not forwarded"
    );
    let e = codec()
        .forward_url("/images/generations", None, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

#[test]
fn system_goes_to_system_instruction_and_same_roles_merge() {
    let (_, body) = encode(json!({"model": "x", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "a"},
        {"role": "developer", "content": [{"type": "text", "text": "and kind"}]},
        {"role": "user", "content": [{"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": "d"}
    ]}));
    assert_eq!(
        body,
        json!({
            "systemInstruction": {"parts": [{"text": "be brief"}, {"text": "and kind"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
                {"role": "model", "parts": [{"text": "c"}, {"text": "d"}]}
            ]
        })
    );
}

#[test]
fn sampling_and_limits_map_to_generation_config() {
    let (_, body) = encode(
        json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "max_tokens": 10, "max_completion_tokens": 20,
        "stop": "END", "n": 2, "seed": 7, "presence_penalty": 0.1, "frequency_penalty": 0.2,
        "response_format": {"type": "json_object"}, "reasoning_effort": "medium", "user": "u1"}),
    );
    assert_eq!(
        body["generationConfig"],
        json!({"temperature": 0.5, "topP": 0.9, "topK": 40, "maxOutputTokens": 20,
            "stopSequences": ["END"], "candidateCount": 2, "seed": 7, "presencePenalty": 0.1,
            "frequencyPenalty": 0.2, "responseMimeType": "application/json",
            "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": true}})
    );
    let (_, body) = encode(
        json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
        "reasoning_effort": "none"}),
    );
    assert_eq!(
        body["generationConfig"],
        json!({"thinkingConfig": {"thinkingBudget": 0}})
    );
}

#[test]
fn unsupported_parameters_are_refused_by_name() {
    let base = || json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]});
    for (field, value) in [
        ("logit_bias", json!({"1": 2})),
        ("parallel_tool_calls", json!(false)),
        ("audio", json!({"voice": "x"})),
    ] {
        let mut req = base();
        req[field] = value;
        let e = encode_err(req);
        assert_eq!(e.status(), 400, "{field}");
        assert_eq!(e.param(), Some(field));
        assert!(e.message().contains("gem (gemini)"), "{}", e.message());
    }
    let mut req = base();
    req["reasoning_effort"] = json!("extreme");
    assert_eq!(encode_err(req).param(), Some("reasoning_effort"));
}

#[test]
fn tool_results_are_named_after_the_call_and_wrapped_as_objects() {
    let (_, body) = encode(json!({"model": "x", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": ""}}
        ]},
        {"role": "tool", "tool_call_id": "call_0", "content": "{\"temp\":21}"},
        {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
        {"role": "user", "content": "thanks"}
    ]}));
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}}
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
                {"text": "thanks"}
            ]}
        ])
    );
    let e = encode_err(json!({"model": "x", "messages": [
        {"role": "tool", "tool_call_id": "nope", "content": "x"}]}));
    assert_eq!(e.param(), Some("messages[0].tool_call_id"));
    let e = encode_err(json!({"model": "x", "messages": [
        {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{bad"}}]}]}));
    assert_eq!(
        e.param(),
        Some("messages[0].tool_calls[0].function.arguments")
    );
}

#[test]
fn images_become_inline_or_file_data() {
    let (_, body) = encode(
        json!({"model": "x", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?x=1"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/photo"}}
        ]}]}),
    );
    assert_eq!(
        body["contents"][0]["parts"],
        json!([
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.JPG?x=1"}},
            {"fileData": {"fileUri": "https://example.com/photo"}}
        ])
    );
    let e = encode_err(
        json!({"model": "x", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}]}),
    );
    assert_eq!(e.param(), Some("messages[0].content[0].image_url.url"));
}

#[test]
fn tools_and_tool_choice_map() {
    let tools = json!([{"type": "function", "function": {"name": "f", "description": "d", "strict": true,
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"], "additionalProperties": false}}},
        {"type": "function", "function": {"name": "g", "parameters": {"type": "object", "properties": {}}}}]);
    let cases = [
        (json!("auto"), json!({"mode": "AUTO"})),
        (json!("none"), json!({"mode": "NONE"})),
        (json!("required"), json!({"mode": "ANY"})),
        (
            json!({"type": "function", "function": {"name": "g"}}),
            json!({"mode": "ANY", "allowedFunctionNames": ["g"]}),
        ),
    ];
    for (choice, expected) in cases {
        let (_, body) = encode(
            json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
            "tools": tools, "tool_choice": choice}),
        );
        assert_eq!(body["toolConfig"]["functionCallingConfig"], expected);
        assert_eq!(
            body["tools"],
            json!([{"functionDeclarations": [
                {"name": "f", "description": "d", "parameters": {"type": "OBJECT",
                    "properties": {"q": {"type": "STRING"}}, "required": ["q"]}},
                {"name": "g"}
            ]}])
        );
    }
}

#[test]
fn responses_map_text_calls_finish_and_usage() {
    let resp = decode(json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"text": "thinking…", "thought": true},
            {"functionCall": {"name": "f", "args": {"q": "x"}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "g"}}
        ]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 3,
            "cachedContentTokenCount": 4, "totalTokenCount": 18},
        "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"
    }));
    let v = serde_json::to_value(&resp).unwrap();
    assert_eq!(v["id"], "resp-1");
    assert_eq!(v["model"], "gemini-2.5-flash");
    assert_eq!(v["created"], 0);
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"].get("content").is_none());
    assert_eq!(choice["message"]["reasoning_content"], "thinking…");
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([
            {"id": "call_0", "type": "function", "function": {"name": "f", "arguments": "{\"q\":\"x\"}"}},
            {"id": "call_1", "type": "function", "function": {"name": "g", "arguments": "{}"}}
        ])
    );
    assert_eq!(
        choice["message"]["thinking_blocks"],
        json!([{"type": "thinking", "signature": "c2ln"}])
    );
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 3}})
    );
}

#[test]
fn signatures_go_back_on_the_parts_they_came_from() {
    let (_, body) = encode(json!({"model": "x", "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "calling", "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "call_1", "type": "function", "function": {"name": "g", "arguments": "{}"}}],
         "thinking_blocks": [{"type": "thinking", "thinking": "plan", "signature": "A"},
                             {"type": "thinking", "signature": "B"}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "1"},
        {"role": "tool", "tool_call_id": "call_1", "content": "2"},
        {"role": "assistant", "content": "done", "thinking_blocks": [{"type": "thinking", "signature": "C"}]},
        {"role": "user", "content": "again"}
    ]}));
    assert_eq!(
        body["contents"][1]["parts"],
        json!([
            {"text": "plan", "thought": true, "thoughtSignature": "A"},
            {"text": "calling"},
            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "B"},
            {"functionCall": {"name": "g", "args": {}}}
        ])
    );
    assert_eq!(
        body["contents"][3]["parts"],
        json!([{"text": "done", "thoughtSignature": "C"}])
    );
}

#[test]
fn blocked_prompts_and_missing_ids() {
    let headers = HeaderMap::new();
    let body = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}});
    let e = codec()
        .decode(
            StatusCode::OK,
            Bytes::from(body.to_string()),
            &DecodeCx { headers: &headers },
        )
        .unwrap_err();
    assert_eq!((e.kind(), e.status()), (ErrorKind::ContentFilter, 400));
    let body =
        json!({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "SAFETY"}]});
    let a = decode(body.clone());
    let b = decode(body);
    assert_eq!(a.id, b.id);
    assert!(a.id.starts_with("gemini-") && a.id.len() == 23, "{}", a.id);
    assert_eq!(
        a.choices[0].finish_reason.as_deref(),
        Some("content_filter")
    );
}

#[test]
fn errors_keep_status_and_recognise_context_length() {
    let c = codec();
    let e = c.decode_error(
        StatusCode::TOO_MANY_REQUESTS,
        br#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#,
    );
    assert_eq!((e.status(), e.code()), (429, Some("RESOURCE_EXHAUSTED")));
    assert!(e.is_retryable());
    assert_eq!(e.error_type(), "rate_limit_error");
    let e = c.decode_error(
        StatusCode::BAD_REQUEST,
        br#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::ContextLength);
    assert_eq!(
        (e.status(), e.code()),
        (400, Some("context_length_exceeded"))
    );
    let e = c.decode_error(
        StatusCode::SERVICE_UNAVAILABLE,
        br#"[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]"#,
    );
    assert_eq!((e.status(), e.message()), (503, "The model is overloaded."));
    assert!(e.is_retryable());
    let e = c.decode_error(StatusCode::BAD_GATEWAY, b"<html>oops</html>");
    assert_eq!(e.status(), 502);
    assert!(e.message().contains("<html>oops</html>"));
}

#[test]
fn streams_send_role_first_calls_whole_finish_then_usage() {
    let c = codec();
    let chunks = events(
        &c,
        &[
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 4}, "modelVersion": "gemini-2.5-flash", "responseId": "r1"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "S"},
                {"functionCall": {"name": "g", "args": {}}}]}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 4}, "modelVersion": "gemini-2.5-flash", "responseId": "r1"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 6, "totalTokenCount": 10},
                "modelVersion": "gemini-2.5-flash", "responseId": "r1"}),
        ],
    );
    let v: Vec<Value> = chunks
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(v.len(), 4, "{v:#?}");
    assert!(
        v.iter()
            .all(|c| c["id"] == "r1" && c["object"] == "chat.completion.chunk")
    );
    assert_eq!(
        v[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "Hel"})
    );
    assert_eq!(
        v[1]["choices"][0]["delta"],
        json!({"tool_calls": [
            {"index": 0, "id": "call_0", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
            {"index": 1, "id": "call_1", "type": "function", "function": {"name": "g", "arguments": "{}"}}],
            "thinking_blocks": [{"type": "thinking", "signature": "S"}]})
    );
    assert_eq!(v[2]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v[3]["choices"], json!([]));
    assert_eq!(v[3]["usage"]["total_tokens"], 10);
}

#[test]
fn stream_errors_surface() {
    let c = codec();
    let mut st = Default::default();
    let ev = |d: &str| SseEvent {
        event: None,
        data: d.into(),
    };
    let e = c
        .decode_event(
            &mut st,
            ev(r#"{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}"#),
        )
        .unwrap_err();
    assert_eq!((e.status(), e.message()), (503, "overloaded"));
    let e = c.decode_event(&mut st, ev("not json")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UpstreamProtocol);
}

#[test]
fn logprobs_map_both_ways() {
    let (_, body) = encode(
        json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
        "logprobs": true, "top_logprobs": 2}),
    );
    assert_eq!(
        body["generationConfig"],
        json!({"responseLogprobs": true, "logprobs": 2})
    );
    let e = encode_err(
        json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
        "top_logprobs": 2}),
    );
    assert_eq!(e.param(), Some("top_logprobs"));
    let resp = decode(
        json!({"candidates": [{"content": {"parts": [{"text": "Hi!"}]}, "finishReason": "STOP",
        "logprobsResult": {
            "chosenCandidates": [{"token": "Hi", "tokenId": 1, "logProbability": -0.1},
                                 {"token": "!", "tokenId": 2, "logProbability": -0.5}],
            "topCandidates": [{"candidates": [{"token": "Hi", "tokenId": 1, "logProbability": -0.1},
                                              {"token": "Hey", "tokenId": 3, "logProbability": -2.5}]}]}}]}),
    );
    let v = serde_json::to_value(&resp).unwrap();
    assert_eq!(
        v["choices"][0]["logprobs"],
        json!({"content": [
            {"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": [
                {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                {"token": "Hey", "logprob": -2.5, "bytes": [72, 101, 121]}]},
            {"token": "!", "logprob": -0.5, "bytes": [33], "top_logprobs": []}],
            "refusal": null})
    );
}
