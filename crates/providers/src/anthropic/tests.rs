#![allow(clippy::unwrap_used)]

use http::StatusCode;
use serde_json::{Value, json};
use sluice_config::{ProviderConfig, ProviderKind, Timeouts};
use sluice_types::{ChatChunk, ChatRequest, ErrorKind};

use super::{AnthropicCodec, default_max_tokens};
use crate::{Codec, DecodeCx, SseEvent, Target};

fn codec() -> AnthropicCodec {
    AnthropicCodec::for_config(&ProviderConfig::new(
        "claude",
        ProviderKind::Anthropic,
        "https://api.anthropic.com/",
    ))
}

fn target(model: &str) -> Target {
    Target {
        provider: "claude".into(),
        model: model.into(),
        timeouts: Timeouts::default(),
    }
}

fn encode(req: Value) -> Result<Value, sluice_types::GatewayError> {
    let req: ChatRequest = serde_json::from_value(req).unwrap();
    let up = codec().encode(&req, &target("claude-sonnet-4-5"))?;
    Ok(serde_json::from_slice(&up.body).unwrap())
}

fn encode_err(req: Value) -> sluice_types::GatewayError {
    encode(req).unwrap_err()
}

#[test]
fn url_headers_and_defaults() {
    let req: ChatRequest =
        serde_json::from_value(json!({"model":"x","messages":[{"role":"user","content":"hi"}]}))
            .unwrap();
    let up = codec()
        .encode(&req, &target("claude-3-5-haiku-latest"))
        .unwrap();
    assert_eq!(up.url, "https://api.anthropic.com/v1/messages");
    assert!(
        up.headers
            .iter()
            .any(|(k, v)| k == "anthropic-version" && v == "2023-06-01")
    );
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(
        body,
        json!({"model":"claude-3-5-haiku-latest","max_tokens":8192,"messages":[{"role":"user","content":"hi"}]})
    );
}

#[test]
fn default_max_tokens_table() {
    assert_eq!(default_max_tokens("claude-3-5-haiku-20241022"), 8192);
    assert_eq!(default_max_tokens("claude-3-7-sonnet-latest"), 64000);
    assert_eq!(default_max_tokens("claude-sonnet-4-5"), 64000);
    assert_eq!(default_max_tokens("claude-opus-4-1-20250805"), 32000);
    assert_eq!(default_max_tokens("claude-3-opus-20240229"), 4096);
    assert_eq!(default_max_tokens("something-else"), 4096);
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
    ] {
        let mut req = json!({"model":"x","messages":[{"role":"user","content":"hi"}]});
        req[field] = value;
        let e = encode_err(req);
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{field}");
        assert_eq!(e.param(), Some(field));
        assert!(e.message().contains("claude"), "{}", e.message());
        assert_eq!(e.status(), 400);
    }
    // Values that ask for nothing are fine.
    encode(
        json!({"model":"x","n":1,"logprobs":false,"presence_penalty":0,
        "messages":[{"role":"user","content":"hi"}]}),
    )
    .unwrap();
}

#[test]
fn invalid_tool_arguments_name_the_field() {
    let e = encode_err(json!({"model":"x","messages":[
        {"role":"user","content":"hi"},
        {"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{oops"}}]}
    ]}));
    assert_eq!(
        e.param(),
        Some("messages[1].tool_calls[0].function.arguments")
    );
}

#[test]
fn tool_results_lead_the_user_turn_and_consecutive_turns_merge() {
    let body = encode(json!({"model":"x","messages":[
        {"role":"user","content":"a"},
        {"role":"assistant","content":"","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":""}}]},
        {"role":"tool","tool_call_id":"t1","content":"r1"},
        {"role":"user","content":"b"},
        {"role":"user","content":"c"}
    ]}))
    .unwrap();
    assert_eq!(
        body["messages"],
        json!([
            {"role":"user","content":"a"},
            {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},
            {"role":"user","content":[
                {"type":"tool_result","tool_use_id":"t1","content":"r1"},
                {"type":"text","text":"b"},
                {"type":"text","text":"c"}
            ]}
        ])
    );
}

#[test]
fn reasoning_effort_sets_a_budget_below_max_tokens_and_guards_sampling() {
    let body = encode(json!({"model":"x","reasoning_effort":"high",
        "messages":[{"role":"user","content":"hi"}]}))
    .unwrap();
    assert_eq!(
        body["thinking"],
        json!({"type":"enabled","budget_tokens":16384})
    );
    assert_eq!(body["max_tokens"], 64000);
    let body = encode(
        json!({"model":"x","reasoning_effort":"high","max_completion_tokens":3000,
        "messages":[{"role":"user","content":"hi"}]}),
    )
    .unwrap();
    assert_eq!(body["thinking"]["budget_tokens"], 1500);
    assert_eq!(body["max_tokens"], 3000);
    let e = encode_err(
        json!({"model":"x","reasoning_effort":"low","max_tokens":500,
        "messages":[{"role":"user","content":"hi"}]}),
    );
    assert_eq!(e.param(), Some("max_tokens"));
    let e = encode_err(
        json!({"model":"x","reasoning_effort":"low","temperature":0.2,
        "messages":[{"role":"user","content":"hi"}]}),
    );
    assert_eq!(e.param(), Some("temperature"));
    let e = encode_err(
        json!({"model":"x","reasoning_effort":"low","tool_choice":"required",
        "tools":[{"type":"function","function":{"name":"f"}}],
        "messages":[{"role":"user","content":"hi"}]}),
    );
    assert_eq!(e.param(), Some("tool_choice"));
    let e = encode_err(json!({"model":"x","reasoning_effort":"extreme",
        "messages":[{"role":"user","content":"hi"}]}));
    assert_eq!(e.param(), Some("reasoning_effort"));
}

#[test]
fn json_mode_and_tools_do_not_mix_and_reserved_names_are_refused() {
    let e = encode_err(json!({"model":"x","response_format":{"type":"json_object"},
        "tools":[{"type":"function","function":{"name":"f"}}],
        "messages":[{"role":"user","content":"hi"}]}));
    assert_eq!(e.param(), Some("response_format"));
    let e = encode_err(json!({"model":"x",
        "tools":[{"type":"function","function":{"name":"sluice_json_x"}}],
        "messages":[{"role":"user","content":"hi"}]}));
    assert_eq!(e.param(), Some("tools[0].function.name"));
    let body = encode(json!({"model":"x","response_format":{"type":"json_object"},
        "messages":[{"role":"user","content":"hi"}]}))
    .unwrap();
    assert_eq!(
        body["tool_choice"],
        json!({"type":"tool","name":"sluice_json"})
    );
}

#[test]
fn unsigned_thinking_is_left_out_and_signed_thinking_leads_the_turn() {
    let body = encode(json!({"model":"x","messages":[
        {"role":"user","content":"a"},
        {"role":"assistant","content":"b","thinking_blocks":[
            {"type":"thinking","thinking":"no signature"},
            {"type":"thinking","thinking":"t","signature":"s"},
            {"type":"redacted_thinking","data":"d"}
        ]},
        {"role":"user","content":"c"}
    ]}))
    .unwrap();
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type":"thinking","thinking":"t","signature":"s"},
            {"type":"redacted_thinking","data":"d"},
            {"type":"text","text":"b"}
        ])
    );
}

fn events(
    codec: &AnthropicCodec,
    sse: &str,
) -> Vec<Result<Vec<ChatChunk>, sluice_types::GatewayError>> {
    let mut st = super::StreamState::default();
    let mut parser = crate::SseParser::default();
    let mut evs: Vec<SseEvent> = parser.push(sse.as_bytes());
    evs.extend(parser.finish());
    evs.into_iter()
        .map(|ev| codec.decode_event(&mut st, ev))
        .collect()
}

#[test]
fn stream_error_events_map_to_retryable_errors() {
    let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
               event: ping\ndata: {\"type\":\"ping\"}\n\n\
               event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let out = events(&codec(), sse);
    assert_eq!(out.len(), 3);
    let first = out[0].as_ref().unwrap();
    assert_eq!(first[0].id, "msg_1");
    assert_eq!(first[0].choices[0].delta.role.as_deref(), Some("assistant"));
    assert!(out[1].as_ref().unwrap().is_empty());
    let e = out[2].as_ref().unwrap_err();
    assert_eq!((e.status(), e.message()), (529, "Overloaded"));
    assert!(e.is_retryable());
    assert_eq!(e.error_type(), "overloaded_error");
}

#[test]
fn error_bodies_map_types_statuses_and_context_length() {
    let c = codec();
    let e = c.decode_error(
        StatusCode::BAD_REQUEST,
        br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"},"request_id":"req_1"}"#,
    );
    assert_eq!(e.kind(), ErrorKind::ContextLength);
    assert_eq!(e.status(), 400);
    assert_eq!(e.code(), Some("context_length_exceeded"));
    assert!(!e.is_retryable());
    let e = c.decode_error(
        StatusCode::from_u16(529).unwrap(),
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    );
    assert_eq!((e.status(), e.error_type()), (529, "overloaded_error"));
    assert!(e.is_retryable());
    let e = c.decode_error(
        StatusCode::UNAUTHORIZED,
        br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
    );
    assert_eq!((e.status(), e.message()), (401, "invalid x-api-key"));
    assert!(!e.is_retryable());
    let e = c.decode_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
    assert_eq!(e.status(), 502);
    assert!(e.message().contains("bad gateway"));
}

#[test]
fn garbage_bodies_are_protocol_errors_and_forwarding_is_unsupported() {
    let c = codec();
    let headers = http::HeaderMap::new();
    let e = c
        .decode(
            StatusCode::OK,
            bytes::Bytes::from_static(b"<html>"),
            &DecodeCx { headers: &headers },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UpstreamProtocol);
    let out = events(&c, "data: {not json\n\n");
    assert_eq!(
        out[0].as_ref().unwrap_err().kind(),
        ErrorKind::UpstreamProtocol
    );
    let e = c.forward_url("/embeddings", None, Some("m")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

fn decode(body: Value) -> sluice_types::ChatResponse {
    let headers = http::HeaderMap::new();
    codec()
        .decode(
            StatusCode::OK,
            bytes::Bytes::from(body.to_string()),
            &DecodeCx { headers: &headers },
        )
        .unwrap()
}

#[test]
fn stop_reasons_map_to_finish_reasons() {
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("tool_use", "tool_calls"),
    ] {
        let r = decode(
            json!({"id":"msg_1","type":"message","role":"assistant","model":"m",
            "content":[{"type":"text","text":"x"}],"stop_reason":stop,"stop_sequence":null,
            "usage":{"input_tokens":1,"output_tokens":2}}),
        );
        assert_eq!(
            r.choices[0].finish_reason.as_deref(),
            Some(finish),
            "{stop}"
        );
        let usage = r.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.total_tokens), (1, 3));
        assert!(
            usage.prompt_tokens_details.is_none(),
            "no cache fields sent"
        );
        assert_eq!(r.created, 0, "the transport stamps it");
    }
}

#[test]
fn redacted_thinking_and_unknown_blocks_decode() {
    let r = decode(
        json!({"id":"msg_1","type":"message","role":"assistant","model":"m",
        "content":[{"type":"redacted_thinking","data":"abc"},
                   {"type":"server_tool_use","id":"s","name":"web_search","input":{}},
                   {"type":"text","text":"hi"}],
        "stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}),
    );
    let m = &r.choices[0].message;
    assert_eq!(m.reasoning_content, None);
    let blocks = m.thinking_blocks.as_ref().unwrap();
    assert_eq!(
        (blocks[0].kind.as_str(), blocks[0].data.as_deref()),
        ("redacted_thinking", Some("abc"))
    );
    assert_eq!(m.content, Some(sluice_types::Content::Text("hi".into())));
}
