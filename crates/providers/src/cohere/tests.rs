#![allow(clippy::unwrap_used)]

use http::StatusCode;
use serde_json::{Value, json};
use sluice_config::{ProviderConfig, ProviderKind, Timeouts};
use sluice_types::{ChatChunk, ChatRequest, ErrorKind, GatewayError};

use super::CohereCodec;
use crate::{Codec, DecodeCx, SseEvent, Target};

fn codec() -> CohereCodec {
    CohereCodec::for_config(&ProviderConfig::new(
        "co",
        ProviderKind::Cohere,
        "https://api.cohere.com/",
    ))
}

fn target() -> Target {
    Target {
        provider: "co".into(),
        model: "command-a-03-2025".into(),
        timeouts: Timeouts::default(),
    }
}

fn encode(req: Value) -> Result<Value, GatewayError> {
    let req: ChatRequest = serde_json::from_value(req).unwrap();
    let up = codec().encode(&req, &target())?;
    assert_eq!(up.url, "https://api.cohere.com/v2/chat");
    Ok(serde_json::from_slice(&up.body).unwrap())
}

fn with(field: &str, value: Value) -> Value {
    let mut req = json!({"model":"x","messages":[{"role":"user","content":"hi"}]});
    req[field] = value;
    req
}

fn decode(body: Value) -> Result<Value, GatewayError> {
    let headers = http::HeaderMap::new();
    let resp = codec().decode(
        StatusCode::OK,
        body.to_string().into(),
        &DecodeCx { headers: &headers },
    )?;
    Ok(serde_json::to_value(resp).unwrap())
}

fn stream(events: &[Value]) -> (Vec<ChatChunk>, Option<GatewayError>) {
    let c = codec();
    let mut st = super::StreamState::default();
    let mut out = Vec::new();
    for ev in events {
        let ev = SseEvent {
            event: ev.get("type").and_then(Value::as_str).map(str::to_owned),
            data: ev.to_string(),
        };
        match c.decode_event(&mut st, ev) {
            Ok(chunks) => out.extend(chunks),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

#[test]
fn parameters_are_mapped() {
    let body = encode(
        json!({"model":"x","stream":true,"max_completion_tokens":50,"max_tokens":9,
        "temperature":0.2,"top_p":0.9,"top_k":40,"stop":"END","seed":7,"frequency_penalty":0.1,
        "presence_penalty":0.3,"logprobs":true,"user":"u-1","store":true,"safety_mode":"STRICT",
        "messages":[{"role":"developer","content":"Be terse."},{"role":"user","content":"hi"}]}),
    )
    .unwrap();
    assert_eq!(
        body,
        json!({"model":"command-a-03-2025","stream":true,"max_tokens":50,"temperature":0.2,
            "p":0.9,"k":40,"stop_sequences":["END"],"seed":7,"frequency_penalty":0.1,
            "presence_penalty":0.3,"logprobs":true,"safety_mode":"STRICT",
            "messages":[{"role":"system","content":"Be terse."},{"role":"user","content":"hi"}]})
    );
}

#[test]
fn unsupported_parameters_are_named_with_the_provider() {
    for (field, value) in [
        ("n", json!(2)),
        ("logit_bias", json!({"1": 2})),
        ("top_logprobs", json!(3)),
        ("parallel_tool_calls", json!(false)),
        ("audio", json!({"voice": "x"})),
        ("prediction", json!({"type": "content", "content": "x"})),
    ] {
        let e = encode(with(field, value)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{field}");
        assert_eq!(e.param(), Some(field));
        assert_eq!(e.code(), Some(crate::UNSUPPORTED_PARAMETER));
        assert!(e.message().contains("provider co"), "{}", e.message());
    }
    // Values that ask for nothing are fine.
    encode(
        json!({"model":"x","n":1,"logit_bias":{},"parallel_tool_calls":true,
        "messages":[{"role":"user","content":"hi"}]}),
    )
    .unwrap();
    let e = encode(with("seed", json!(-1))).unwrap_err();
    assert_eq!(e.param(), Some("seed"));
}

#[test]
fn tool_choice_forms() {
    let tools = json!([
        {"type":"function","function":{"name":"a","parameters":{"type":"object"}}},
        {"type":"function","function":{"name":"b","description":"B","strict":true}}
    ]);
    let mut req = with("tools", tools.clone());
    let body = encode(req.clone()).unwrap();
    assert_eq!(body.get("tool_choice"), None);
    assert_eq!(body["strict_tools"], true);
    assert_eq!(
        body["tools"][1],
        json!({"type":"function","function":{"name":"b","description":"B","parameters":{"type":"object","properties":{}}}})
    );
    for (choice, expected) in [
        ("auto", Value::Null),
        ("none", json!("NONE")),
        ("required", json!("REQUIRED")),
    ] {
        req["tool_choice"] = json!(choice);
        let body = encode(req.clone()).unwrap();
        assert_eq!(
            body.get("tool_choice").cloned().unwrap_or(Value::Null),
            expected
        );
    }
    req["tool_choice"] = json!({"type":"function","function":{"name":"a"}});
    let body = encode(req.clone()).unwrap();
    assert_eq!(body["tool_choice"], "REQUIRED");
    assert_eq!(body["tools"].as_array().unwrap().len(), 1);
    assert_eq!(body["tools"][0]["function"]["name"], "a");
    req["tool_choice"] = json!({"type":"function","function":{"name":"zzz"}});
    assert_eq!(
        encode(req).unwrap_err().param(),
        Some("tool_choice.function.name")
    );
    // Without tools, auto and none say nothing; required cannot be honoured.
    assert_eq!(
        encode(with("tool_choice", json!("none")))
            .unwrap()
            .get("tool_choice"),
        None
    );
    assert_eq!(
        encode(with("tool_choice", json!("required")))
            .unwrap_err()
            .param(),
        Some("tool_choice")
    );
}

#[test]
fn response_formats() {
    let body = encode(with("response_format", json!({"type":"json_object"}))).unwrap();
    assert_eq!(body["response_format"], json!({"type":"json_object"}));
    let schema = json!({"type":"object","properties":{"a":{"type":"string"}}});
    let body = encode(with(
        "response_format",
        json!({"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":schema}}),
    ))
    .unwrap();
    assert_eq!(
        body["response_format"],
        json!({"type":"json_object","json_schema":schema})
    );
    let body = encode(with("response_format", json!({"type":"text"}))).unwrap();
    assert_eq!(body.get("response_format"), None);
    let mut req = with("response_format", json!({"type":"json_object"}));
    req["tools"] = json!([{"type":"function","function":{"name":"a"}}]);
    let e = encode(req).unwrap_err();
    assert_eq!(e.param(), Some("response_format"));
    assert_eq!(e.code(), Some(crate::UNSUPPORTED_PARAMETER));
}

#[test]
fn reasoning_effort_becomes_thinking() {
    for (effort, thinking) in [
        ("none", json!({"type":"disabled"})),
        ("minimal", json!({"type":"disabled"})),
        ("low", json!({"type":"enabled","token_budget":1024})),
        ("medium", json!({"type":"enabled","token_budget":4096})),
        ("high", json!({"type":"enabled"})),
    ] {
        let body = encode(with("reasoning_effort", json!(effort))).unwrap();
        assert_eq!(body["thinking"], thinking, "{effort}");
    }
    assert_eq!(
        encode(with("reasoning_effort", json!("max")))
            .unwrap_err()
            .param(),
        Some("reasoning_effort")
    );
    let own = json!({"type":"enabled","token_budget":500});
    assert_eq!(
        encode(with("thinking", own.clone())).unwrap()["thinking"],
        own
    );
    let anthropic = json!({"type":"enabled","budget_tokens":500});
    assert_eq!(
        encode(with("thinking", anthropic)).unwrap_err().param(),
        Some("thinking")
    );
}

#[test]
fn conversation_is_mapped_message_by_message() {
    let body = encode(json!({"model":"x","tools":[{"type":"function","function":{"name":"f"}}],"messages":[
        {"role":"system","content":[{"type":"text","text":"S"}]},
        {"role":"user","name":"ann","content":[{"type":"text","text":"look"},
            {"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]},
        {"role":"assistant","content":null,"reasoning_content":"I will call f.",
            "tool_calls":[{"id":"f_1","type":"function","function":{"name":"f","arguments":""}}]},
        {"role":"tool","tool_call_id":"f_1","content":"{\"ok\":true}"},
        {"role":"assistant","content":"","thinking_blocks":[{"type":"thinking","thinking":"hm"},{"type":"thinking","signature":"s"}]},
        {"role":"assistant","content":"done"},
        {"role":"assistant","content":""}
    ]}))
    .unwrap();
    assert_eq!(
        body["messages"],
        json!([
            {"role":"system","content":[{"type":"text","text":"S"}]},
            {"role":"user","content":[{"type":"text","text":"look"},
                {"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]},
            {"role":"assistant","tool_plan":"I will call f.",
                "tool_calls":[{"id":"f_1","type":"function","function":{"name":"f","arguments":"{}"}}]},
            {"role":"tool","tool_call_id":"f_1","content":"{\"ok\":true}"},
            {"role":"assistant","content":[{"type":"thinking","thinking":"hm"}]},
            {"role":"assistant","content":"done"}
        ])
    );
    for (msg, param) in [
        (
            json!({"role":"tool","content":"x"}),
            "messages[0].tool_call_id",
        ),
        (
            json!({"role":"user","content":[{"type":"input_audio","input_audio":{}}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}),
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}),
            "messages[0].content[0].type",
        ),
        (json!({"role":"robot","content":"x"}), "messages[0].role"),
    ] {
        let e = encode(json!({"model":"x","messages":[msg]})).unwrap_err();
        assert_eq!(e.param(), Some(param));
    }
}

#[test]
fn responses_are_decoded() {
    let out = decode(json!({"id":"r1","finish_reason":"COMPLETE","message":{"role":"assistant",
        "content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Hello"},{"type":"text","text":" there"}],
        "citations":[{"start":0,"end":5,"text":"Hello"}]},
        "usage":{"billed_units":{"input_tokens":3,"output_tokens":2},"tokens":{"input_tokens":70,"output_tokens":2},"cached_tokens":64}}))
    .unwrap();
    let m = &out["choices"][0]["message"];
    assert_eq!(m["content"], "Hello there");
    assert_eq!(m["reasoning_content"], "hmm");
    assert_eq!(
        m["thinking_blocks"],
        json!([{"type":"thinking","thinking":"hmm"}])
    );
    assert_eq!(m["citations"][0]["text"], "Hello");
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        out["usage"],
        json!({"prompt_tokens":70,"completion_tokens":2,"total_tokens":72,"prompt_tokens_details":{"cached_tokens":64}})
    );
    assert_eq!(
        (out["id"].as_str(), out["created"].as_u64()),
        (Some("r1"), Some(0))
    );

    let out = decode(json!({"id":"r2","finish_reason":"TOOL_CALL","message":{"role":"assistant",
        "tool_plan":"I will look.","tool_calls":[{"id":"w_1","type":"function","function":{"name":"w","arguments":"{\"c\":1}"}}]},
        "usage":{"billed_units":{"input_tokens":3,"output_tokens":2}}}))
    .unwrap();
    let m = &out["choices"][0]["message"];
    assert_eq!(m.get("content"), None);
    assert_eq!(m["reasoning_content"], "I will look.");
    assert_eq!(m["tool_calls"][0]["function"]["arguments"], "{\"c\":1}");
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(out["usage"]["total_tokens"], 5);

    for (reason, finish) in [("MAX_TOKENS", "length"), ("STOP_SEQUENCE", "stop")] {
        let out =
            decode(json!({"id":"r","finish_reason":reason,"message":{"content":[]}})).unwrap();
        assert_eq!(out["choices"][0]["finish_reason"], finish);
        assert_eq!(out["choices"][0]["message"]["content"], "");
    }
    let e = decode(json!({"id":"r","finish_reason":"ERROR","message":{}})).unwrap_err();
    assert!(e.is_retryable());
    let e = decode(json!({"id":"r","finish_reason":"TIMEOUT","message":{}})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UpstreamTimeout);
    let e = decode(json!({"nope": 1})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UpstreamProtocol);
}

#[test]
fn logprobs_become_openai_entries() {
    let out = decode(json!({"id":"r","finish_reason":"COMPLETE","message":{"content":[{"type":"text","text":"Hi"}]},
        "logprobs":[{"text":"Hi","token_ids":[5,6],"logprobs":[-0.5,-0.25]}]}))
    .unwrap();
    assert_eq!(
        out["choices"][0]["logprobs"],
        json!({"content":[{"token":"Hi","logprob":-0.75,"bytes":[72,105],"top_logprobs":[]}],"refusal":null})
    );
}

#[test]
fn streams_have_a_role_chunk_tool_indices_and_a_usage_chunk() {
    let (chunks, err) = stream(&[
        json!({"id":"s1","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}),
        json!({"type":"tool-plan-delta","delta":{"message":{"tool_plan":"Plan"}}}),
        json!({"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"a_1","type":"function","function":{"name":"a","arguments":""}}}}}),
        json!({"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\"x\":"}}}}}),
        json!({"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"1}"}}}}}),
        json!({"type":"tool-call-end","index":0}),
        json!({"type":"tool-call-start","index":1,"delta":{"message":{"tool_calls":{"id":"b_1","type":"function","function":{"name":"b","arguments":""}}}}}),
        json!({"type":"tool-call-delta","index":1,"delta":{"message":{"tool_calls":{"function":{"arguments":"{}"}}}}}),
        json!({"type":"tool-call-end","index":1}),
        json!({"type":"message-end","delta":{"finish_reason":"TOOL_CALL","usage":{"tokens":{"input_tokens":9,"output_tokens":4}}}}),
    ]);
    assert!(err.is_none());
    let v: Vec<Value> = chunks
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert!(v.iter().all(|c| c["id"] == "s1"));
    assert_eq!(
        v[0]["choices"][0]["delta"],
        json!({"role":"assistant","content":""})
    );
    assert_eq!(v[1]["choices"][0]["delta"]["reasoning_content"], "Plan");
    assert_eq!(
        v[2]["choices"][0]["delta"]["tool_calls"],
        json!([{"index":0,"id":"a_1","type":"function","function":{"name":"a","arguments":""}}])
    );
    assert_eq!(
        v[4]["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"],
        "1}"
    );
    assert_eq!(v[5]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
    assert_eq!(v[6]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
    assert_eq!(v[7]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v[8]["choices"], json!([]));
    assert_eq!(v[8]["usage"]["total_tokens"], 13);
    assert_eq!(v.len(), 9);
}

#[test]
fn stream_errors_and_missing_ids() {
    let (chunks, err) = stream(&[
        json!({"type":"content-start","index":0,"delta":{"message":{"content":{"type":"thinking","thinking":""}}}}),
        json!({"type":"content-delta","index":0,"delta":{"message":{"content":{"thinking":"hm"}}}}),
        json!({"type":"message-end","delta":{"finish_reason":"ERROR","error":"model crashed"}}),
    ]);
    let id = chunks[0].id.clone();
    assert!(id.starts_with("cohere-") && id.len() == 23, "{id}");
    assert_eq!(
        chunks[1].choices[0].delta.reasoning_content.as_deref(),
        Some("hm")
    );
    let e = err.unwrap();
    assert!(e.message().contains("model crashed"), "{}", e.message());
    assert!(e.is_retryable());
}

#[test]
fn errors_follow_the_status() {
    let c = codec();
    let e = c.decode_error(
        StatusCode::TOO_MANY_REQUESTS,
        br#"{"id":"x","message":"trial key limit"}"#,
    );
    assert_eq!((e.status(), e.is_retryable()), (429, true));
    assert_eq!(e.code(), Some("rate_limit_exceeded"));
    assert_eq!(e.message(), "trial key limit");
    let e = c.decode_error(
        StatusCode::BAD_REQUEST,
        br#"{"message":"too many tokens: size limit exceeded by 1200 tokens"}"#,
    );
    assert_eq!(e.kind(), ErrorKind::ContextLength);
    assert_eq!(e.code(), Some("context_length_exceeded"));
    let e = c.decode_error(
        StatusCode::BAD_REQUEST,
        br#"{"message":"invalid request: p must be < 1"}"#,
    );
    assert_eq!((e.status(), e.is_retryable()), (400, false));
    assert_eq!(e.error_type(), "invalid_request_error");
    let e = c.decode_error(StatusCode::SERVICE_UNAVAILABLE, b"<html>down</html>");
    assert!(e.is_retryable());
    assert!(e.message().contains("HTTP 503: <html>down</html>"));
}

#[test]
fn embeddings_go_to_the_compatibility_api() {
    let c = codec();
    assert_eq!(
        c.forward_url("/embeddings", None, Some("embed-v4.0"))
            .unwrap(),
        "https://api.cohere.com/compatibility/v1/embeddings"
    );
    let e = c
        .forward_url("/images/generations", None, None)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}
