//! Assembling streams and replaying complete answers.

use serde_json::json;
use sluice_types::{ChatChunk, ChatResponse};

use super::*;

fn chunk(v: serde_json::Value) -> ChatChunk {
    let mut base =
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "gpt"});
    for (k, val) in v.as_object().unwrap() {
        base[k] = val.clone();
    }
    if base.get("choices").is_none() {
        base["choices"] = json!([]);
    }
    serde_json::from_value(base).unwrap()
}

fn delta(d: serde_json::Value) -> ChatChunk {
    chunk(json!({"choices": [{"index": 0, "delta": d, "finish_reason": null, "logprobs": null}]}))
}

fn finish(reason: &str) -> ChatChunk {
    chunk(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}))
}

fn assemble(chunks: &[ChatChunk]) -> Option<ChatResponse> {
    let mut acc = Accumulator::new();
    for c in chunks {
        acc.push(c);
    }
    acc.finish()
}

#[test]
fn text_streams_assemble_into_one_message_with_usage() {
    let resp = assemble(&[
        delta(json!({"role": "assistant", "content": "", "refusal": null})),
        delta(json!({"content": "Hel"})),
        delta(json!({"content": "lo"})),
        finish("stop"),
        chunk(json!({"system_fingerprint": "fp", "obfuscation": "x",
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})),
    ])
    .unwrap();
    let v = serde_json::to_value(&resp).unwrap();
    assert_eq!(
        v,
        json!({"id": "c1", "object": "chat.completion", "created": 7, "model": "gpt",
            "system_fingerprint": "fp",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
    );
}

#[test]
fn tool_calls_assemble_by_index() {
    let resp = assemble(&[
        delta(json!({"role": "assistant", "content": null})),
        delta(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get", "arguments": ""}}]}),
        ),
        delta(
            json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "put", "arguments": "{\"k\""}}]}),
        ),
        delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]})),
        delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]})),
        delta(json!({"tool_calls": [{"index": 1, "function": {"arguments": ":1}"}}]})),
        finish("tool_calls"),
    ])
    .unwrap();
    let m = &resp.choices[0].message;
    assert_eq!(m.content, None, "no text beside tool calls");
    let calls = m.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].kind.as_str()),
        ("call_a", "function")
    );
    assert_eq!(
        (
            calls[0].function.name.as_str(),
            calls[0].function.arguments.as_str()
        ),
        ("get", "{\"city\":\"Paris\"}")
    );
    assert_eq!(
        (
            calls[1].function.name.as_str(),
            calls[1].function.arguments.as_str()
        ),
        ("put", "{\"k\":1}")
    );
    assert_eq!(resp.choices[0].finish_reason.as_deref(), Some("tool_calls"));
}

#[test]
fn unclean_streams_yield_nothing() {
    let text = delta(json!({"content": "hi"}));
    assert!(assemble(&[]).is_none(), "no choices");
    assert!(
        assemble(std::slice::from_ref(&text)).is_none(),
        "no finish reason: truncated"
    );
    let mut acc = Accumulator::new();
    acc.push(&text);
    acc.push(&finish("stop"));
    acc.fail();
    assert!(acc.finish().is_none(), "an error after the finish");
    let two = chunk(json!({"choices": [
        {"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"},
        {"index": 1, "delta": {"content": "b"}, "finish_reason": null}]}));
    assert!(assemble(&[two]).is_none(), "one choice unfinished");
    let odd = delta(json!({"content": "a", "audio": {"data": "UklG"}}));
    assert!(
        assemble(&[odd, finish("stop")]).is_none(),
        "a delta field that cannot be assembled"
    );
    let null = delta(json!({"content": "a", "audio": null, "function_call": null}));
    assert!(assemble(&[null, finish("stop")]).is_some());
}

#[test]
fn reasoning_and_thinking_blocks_assemble() {
    let resp = assemble(&[
        delta(json!({"role": "assistant", "content": ""})),
        delta(json!({"reasoning_content": "Let me "})),
        delta(json!({"reasoning_content": "think."})),
        delta(json!({"thinking_blocks": [{"type": "thinking", "signature": "sig1"}]})),
        delta(json!({"thinking_blocks": [{"type": "redacted_thinking", "data": "xyz"}]})),
        delta(json!({"content": "Answer"})),
        finish("stop"),
    ])
    .unwrap();
    let m = &resp.choices[0].message;
    assert_eq!(m.reasoning_content.as_deref(), Some("Let me think."));
    let blocks = m.thinking_blocks.as_ref().unwrap();
    assert_eq!(
        serde_json::to_value(blocks).unwrap(),
        json!([{"type": "thinking", "thinking": "Let me think.", "signature": "sig1"},
               {"type": "redacted_thinking", "data": "xyz"}])
    );
}

#[test]
fn streamed_logprobs_are_appended() {
    let lp = |t: &str| json!({"content": [{"token": t, "logprob": -0.1, "bytes": null, "top_logprobs": []}], "refusal": null});
    let resp = assemble(&[
        chunk(json!({"choices": [{"index": 0, "delta": {"content": "a"}, "logprobs": lp("a"), "finish_reason": null}]})),
        chunk(json!({"choices": [{"index": 0, "delta": {"content": "b"}, "logprobs": lp("b"), "finish_reason": null}]})),
        finish("stop"),
    ])
    .unwrap();
    let tokens: Vec<&str> = resp.choices[0].extra["logprobs"]["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(tokens, ["a", "b"]);
}

#[test]
fn replay_streams_the_answer_in_order() {
    let resp: ChatResponse = serde_json::from_value(json!({
        "id": "c9", "object": "chat.completion", "created": 5, "model": "gpt", "system_fingerprint": "fp",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi",
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    }))
    .unwrap();
    let chunks = replay(&resp);
    let kinds: Vec<String> = chunks
        .iter()
        .map(|c| match c.choices.first() {
            None => "usage".into(),
            Some(ch) if ch.finish_reason.is_some() => "finish".into(),
            Some(ch) if ch.delta.role.is_some() => "role".into(),
            Some(ch) if ch.delta.tool_calls.is_some() => "tool".into(),
            Some(_) => "text".into(),
        })
        .collect();
    assert_eq!(kinds, ["role", "text", "tool", "finish", "usage"]);
    assert!(chunks.iter().all(|c| c.id == "c9"
        && c.object == "chat.completion.chunk"
        && c.extra["system_fingerprint"] == "fp"));
}

#[test]
fn replayed_answers_reassemble_exactly() {
    let resp: ChatResponse = serde_json::from_value(json!({
        "id": "c9", "object": "chat.completion", "created": 5, "model": "claude", "service_tier": "standard",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "It is sunny.",
                "reasoning_content": "Check the weather.",
                "thinking_blocks": [{"type": "thinking", "thinking": "Check the weather.", "signature": "s"},
                                    {"type": "redacted_thinking", "data": "d"}],
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "t2", "type": "function", "function": {"name": "time", "arguments": "{}"}}]},
             "finish_reason": "tool_calls",
             "logprobs": {"content": [{"token": "It", "logprob": -0.5, "bytes": [73, 116], "top_logprobs": []}]}},
            {"index": 1, "message": {"role": "assistant", "content": "Rain."}, "finish_reason": "stop"},
            {"index": 2, "message": {"role": "assistant", "content": null, "refusal": "No."}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17,
                  "completion_tokens_details": {"reasoning_tokens": 3}}
    }))
    .unwrap();
    let back = assemble(&replay(&resp)).unwrap();
    assert_eq!(back, resp);
    let plain: ChatResponse = serde_json::from_value(json!({
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "length"}]
    }))
    .unwrap();
    assert_eq!(assemble(&replay(&plain)).unwrap(), plain);
}
