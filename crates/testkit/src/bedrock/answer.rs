//! The Bedrock mock's deterministic answers, whole or as an AWS event stream.

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::signature;
use super::validate::{Checked, blocks, member};
use crate::wire::{Reply, count_words, split_even, truncate_words, word_pieces};

/// The guardrail identifier that always intervenes.
pub const BLOCKING_GUARDRAIL: &str = "mock-block";

/// What the guardrail says when it intervenes.
const BLOCKED: &str = "Sorry, the model cannot answer this question.";

/// One content block of the answer.
enum Block {
    Reasoning(String),
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

/// Answers a valid request.
pub(super) fn answer(checked: &Checked, n: u64, stream: bool) -> Reply {
    let req = &checked.req;
    let last_user = checked
        .messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let answers_tools = last_user.is_some_and(|m| {
        blocks(m)
            .iter()
            .any(|b| matches!(member(b), Some(("toolResult", _))))
    });
    let user_text = last_user.map(user_text).unwrap_or_default();
    let guardrail = req
        .get("guardrailConfig")
        .and_then(|g| g.get("guardrailIdentifier"))
        .and_then(Value::as_str);

    let mut out = Vec::new();
    let mut stop = "end_turn";
    if guardrail == Some(BLOCKING_GUARDRAIL) {
        out.push(Block::Text(BLOCKED.to_owned()));
        stop = "guardrail_intervened";
    } else {
        if checked.thinking {
            out.push(Block::Reasoning(format!("The user said: {user_text}")));
        }
        let calls = tool_calls(req, answers_tools, n);
        if calls.is_empty() {
            let text = format!("echo: {user_text}");
            let max = checked
                .max_tokens
                .and_then(|m| usize::try_from(m).ok())
                .unwrap_or(usize::MAX);
            if word_pieces(&text).len() > max {
                out.push(Block::Text(truncate_words(&text, max).to_owned()));
                stop = "max_tokens";
            } else {
                out.push(Block::Text(text));
            }
        } else {
            out.extend(calls);
            stop = "tool_use";
        }
    }
    let usage = usage(req, &checked.messages, &out);
    if stream {
        Reply::Sse(events(&out, stop, &usage))
    } else {
        let content: Vec<Value> = out.iter().map(block_json).collect();
        Reply::ok(&json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": usage,
            "metrics": {"latencyMs": 1},
        }))
    }
}

/// The text of a user turn: its text blocks and the text of its tool results.
fn user_text(m: &Value) -> String {
    let mut parts = Vec::new();
    for b in blocks(m) {
        match member(b) {
            Some(("text", Value::String(t))) => parts.push(t.clone()),
            Some(("toolResult", r)) => parts.extend(
                r.get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.get("text").and_then(Value::as_str))
                    .map(str::to_owned),
            ),
            _ => {}
        }
    }
    parts.join(" ")
}

/// The tool calls to make: none without tools, or when the turn answers earlier calls and
/// no tool is forced; the named tool when one is; else one per tool.
fn tool_calls(req: &Map<String, Value>, answers_tools: bool, n: u64) -> Vec<Block> {
    let Some(cfg) = req.get("toolConfig") else {
        return Vec::new();
    };
    let choice = cfg.get("toolChoice").and_then(member);
    let forced = matches!(choice, Some(("any" | "tool", _)));
    if answers_tools && !forced {
        return Vec::new();
    }
    let named = match choice {
        Some(("tool", v)) => v.get("name").and_then(Value::as_str),
        _ => None,
    };
    cfg.get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("toolSpec"))
        .filter(|s| named.is_none_or(|name| s.get("name").and_then(Value::as_str) == Some(name)))
        .enumerate()
        .map(|(k, s)| Block::ToolUse {
            id: format!("tooluse_mock_{n}_{k}"),
            name: s
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            input: crate::wire::schema_example(
                s.pointer("/inputSchema/json").unwrap_or(&Value::Null),
            ),
        })
        .collect()
}

fn block_json(b: &Block) -> Value {
    match b {
        Block::Reasoning(t) => {
            json!({"reasoningContent": {"reasoningText": {"text": t, "signature": signature(t)}}})
        }
        Block::Text(t) => json!({ "text": t }),
        Block::ToolUse { id, name, input } => {
            json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})
        }
    }
}

/// Usage: words of the prompt, those before a `cachePoint` as cache reads.
fn usage(req: &Map<String, Value>, messages: &[Value], out: &[Block]) -> Value {
    let mut total = 0;
    let mut cached = 0;
    let mut pending = 0;
    let mut count = |b: &Value| {
        if b.get("cachePoint").is_some() {
            cached += pending;
            pending = 0;
            return;
        }
        let mut words = b.get("text").and_then(Value::as_str).map_or(0, count_words);
        if let Some(r) = b.get("toolResult") {
            words += user_text(&json!({"content": [{"toolResult": r}]}))
                .split_whitespace()
                .count() as u64;
        }
        total += words;
        pending += words;
    };
    for b in req
        .get("system")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        count(b);
    }
    for m in messages {
        for b in blocks(m) {
            count(b);
        }
    }
    let output: u64 = out
        .iter()
        .map(|b| match b {
            Block::Reasoning(t) | Block::Text(t) => count_words(t),
            Block::ToolUse { name, input, .. } => {
                count_words(name) + count_words(&input.to_string())
            }
        })
        .sum();
    let input = total - cached;
    let mut usage = json!({
        "inputTokens": input,
        "outputTokens": output,
        "totalTokens": total + output,
    });
    if cached > 0 {
        usage["cacheReadInputTokens"] = json!(cached);
        usage["cacheWriteInputTokens"] = json!(0);
    }
    usage
}

/// One event-stream message, with Bedrock's random-looking `p` padding in the payload.
fn event(kind: &str, mut payload: Value) -> Bytes {
    if let Some(obj) = payload.as_object_mut() {
        let pad = "abcdefghijklmnopqrstuvwxyzABCDEF";
        obj.insert("p".into(), json!(&pad[..(kind.len() % pad.len()) + 1]));
    }
    let headers = vec![
        Header::new(":event-type", HeaderValue::String(kind.to_owned().into())),
        Header::new(
            ":content-type",
            HeaderValue::String("application/json".to_owned().into()),
        ),
        Header::new(
            ":message-type",
            HeaderValue::String("event".to_owned().into()),
        ),
    ];
    let message = Message::new_from_parts(headers, Bytes::from(payload.to_string()));
    let mut buf = Vec::new();
    // Writing string headers and a payload into a Vec cannot fail.
    let _ = aws_smithy_eventstream::frame::write_message_to(&message, &mut buf);
    Bytes::from(buf)
}

/// A ConverseStream answer, one frame per event.
fn events(out: &[Block], stop: &str, usage: &Value) -> Vec<Bytes> {
    let mut frames = vec![event("messageStart", json!({"role": "assistant"}))];
    for (index, b) in out.iter().enumerate() {
        let delta = |d: Value| {
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": d}),
            )
        };
        match b {
            Block::Reasoning(t) => {
                for piece in word_pieces(t) {
                    frames.push(delta(json!({"reasoningContent": {"text": piece}})));
                }
                frames.push(delta(
                    json!({"reasoningContent": {"signature": signature(t)}}),
                ));
            }
            Block::Text(t) => {
                for piece in word_pieces(t) {
                    frames.push(delta(json!({ "text": piece })));
                }
            }
            Block::ToolUse { id, name, input } => {
                frames.push(event(
                    "contentBlockStart",
                    json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
                ));
                let json = input.to_string();
                for piece in split_even(&json, 3) {
                    frames.push(delta(json!({"toolUse": {"input": piece}})));
                }
            }
        }
        frames.push(event(
            "contentBlockStop",
            json!({ "contentBlockIndex": index }),
        ));
    }
    frames.push(event("messageStop", json!({ "stopReason": stop })));
    frames.push(event(
        "metadata",
        json!({"usage": usage, "metrics": {"latencyMs": 1}}),
    ));
    frames
}
