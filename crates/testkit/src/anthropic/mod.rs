//! `POST /v1/messages`: a mock of Anthropic's Messages API.
//!
//! It validates requests the way the real API does (headers, `max_tokens`, alternating
//! roles starting with `user`, `tool_result` blocks that answer the previous turn's
//! `tool_use`, thinking rules and signatures; see `validate.rs`) and answers
//! deterministically: a `tool_use` block per tool when tools are given and `tool_choice`
//! allows it (one when parallel use is disabled, the named one when forced), else an echo of
//! the last user text (or of the tool results it answers); a signed thinking block first when
//! `thinking` is enabled; usage with the cache fields (words under a `cache_control`
//! breakpoint count as cache reads). With `stream: true` it sends Anthropic's exact event
//! sequence, `event:` lines included. Errors use Anthropic's shape,
//! `{"type":"error","error":{"type","message"},"request_id"}`. The same validation and
//! answers serve Claude on Vertex AI (see [`crate::vertex`]), whose body names no `model`
//! and carries `anthropic_version` instead of the header.

mod validate;

use bytes::{BufMut, Bytes, BytesMut};
use http::request::Parts;
use serde_json::{Map, Value, json};

use crate::Behavior;
use crate::wire::{Reply, count_words, split_even, truncate_words, word_pieces};

/// The signature the mock gives a thinking block with this text, and requires when the block
/// is sent back.
pub fn signature(thinking: &str) -> String {
    // FNV-1a: stable across runs and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in thinking.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("EqMock{h:016x}")
}

/// An Anthropic error body: `{"type":"error","error":{"type":kind,"message":message}}`.
pub fn error_body(kind: &str, message: &str) -> String {
    json!({"type": "error", "error": {"type": kind, "message": message}}).to_string()
}

/// A [`Behavior::Status`] that answers with an Anthropic error, e.g.
/// `error(529, "overloaded_error", "Overloaded")`.
pub fn error(status: u16, kind: &str, message: &str) -> Behavior {
    Behavior::Status {
        status,
        body: error_body(kind, message),
    }
}

pub(crate) fn error_reply(status: u16, kind: &str, message: &str) -> Reply {
    let v = json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_mock",
    });
    Reply::Json {
        status,
        body: Bytes::from(v.to_string()),
    }
}

/// One content block of the answer.
enum Block {
    Thinking(String),
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

/// The `anthropic_version` Claude on Vertex AI requires in the body.
pub(crate) const VERTEX_VERSION: &str = "vertex-2023-10-16";

/// Answers one Messages request.
pub(crate) fn reply(parts: &Parts, body: &[u8], n: u64) -> Reply {
    match validate::check(parts, body) {
        Ok(checked) => answer(&checked, n),
        Err(reply) => reply,
    }
}

/// Answers one request for Claude `model` on Vertex AI (`rawPredict`), whose caller is
/// already authenticated.
pub(crate) fn reply_vertex(model: &str, body: &[u8], n: u64) -> Reply {
    match validate::check_body(body, Some(model)) {
        Ok(checked) => answer(&checked, n),
        Err(reply) => reply,
    }
}

/// The answer to a valid request.
fn answer(checked: &validate::Checked, n: u64) -> Reply {
    let req = &checked.req;
    let last_user = checked
        .messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let answers_tools = last_user.is_some_and(|m| {
        validate::blocks(m)
            .iter()
            .any(|b| validate::kind(b) == "tool_result")
    });
    let user_text = last_user.map(user_text).unwrap_or_default();

    let mut blocks = Vec::new();
    if checked.thinking {
        let thinking = format!("The user said: {user_text}");
        blocks.push(Block::Thinking(thinking));
    }
    let calls = tool_calls(req, answers_tools, n);
    let mut stop = if calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    if calls.is_empty() {
        let text = format!("echo: {user_text}");
        let max = usize::try_from(checked.max_tokens).unwrap_or(usize::MAX);
        if word_pieces(&text).len() > max {
            blocks.push(Block::Text(truncate_words(&text, max).to_owned()));
            stop = "max_tokens";
        } else {
            blocks.push(Block::Text(text));
        }
    } else {
        blocks.extend(calls);
    }
    let usage = usage(req, &checked.messages, &blocks);
    let id = format!("msg_mock_{n}");
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        Reply::Sse(stream(&id, &checked.model, &blocks, stop, &usage))
    } else {
        let content: Vec<Value> = blocks.iter().map(|b| block_json(b, true)).collect();
        Reply::ok(&json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": checked.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": null,
            "usage": usage,
        }))
    }
}

/// The text of a user turn: its text, or the text of the tool results it carries.
fn user_text(m: &Value) -> String {
    match m.get("content") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            let mut parts = Vec::new();
            for b in validate::blocks(m) {
                match b.get("content") {
                    Some(Value::String(s)) if validate::kind(b) == "tool_result" => {
                        parts.push(s.clone());
                    }
                    Some(Value::Array(inner)) => parts.extend(
                        inner
                            .iter()
                            .filter_map(|i| i.get("text").and_then(Value::as_str))
                            .map(str::to_owned),
                    ),
                    _ => {}
                }
                if let Some(t) = b.get("text").and_then(Value::as_str) {
                    parts.push(t.to_owned());
                }
            }
            parts.join(" ")
        }
    }
}

/// The tool calls to make: none when there are no tools, `tool_choice` is `none`, or the
/// turn answers earlier calls and no tool is forced.
fn tool_calls(req: &Map<String, Value>, answers_tools: bool, n: u64) -> Vec<Block> {
    let Some(tools) = req.get("tools").and_then(Value::as_array) else {
        return Vec::new();
    };
    let choice = req.get("tool_choice");
    let choice_type = choice
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("auto");
    let forced = matches!(choice_type, "any" | "tool");
    if tools.is_empty() || choice_type == "none" || (answers_tools && !forced) {
        return Vec::new();
    }
    let single = choice
        .and_then(|c| c.get("disable_parallel_tool_use"))
        .and_then(Value::as_bool)
        == Some(true);
    let named = choice
        .filter(|_| choice_type == "tool")
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str);
    tools
        .iter()
        .filter(|t| named.is_none_or(|name| t.get("name").and_then(Value::as_str) == Some(name)))
        .take(if single { 1 } else { usize::MAX })
        .enumerate()
        .map(|(k, t)| Block::ToolUse {
            id: format!("toolu_mock_{n}_{k}"),
            name: t
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            input: crate::wire::schema_example(t.get("input_schema").unwrap_or(&Value::Null)),
        })
        .collect()
}

fn block_json(b: &Block, complete: bool) -> Value {
    match b {
        Block::Thinking(t) if complete => {
            json!({"type": "thinking", "thinking": t, "signature": signature(t)})
        }
        Block::Thinking(_) => json!({"type": "thinking", "thinking": ""}),
        Block::Text(t) => json!({"type": "text", "text": if complete { t.as_str() } else { "" }}),
        Block::ToolUse { id, name, input } => json!({
            "type": "tool_use", "id": id, "name": name,
            "input": if complete { input.clone() } else { json!({}) },
        }),
    }
}

/// Usage: words of the prompt, those under a `cache_control` breakpoint as cache reads.
fn usage(req: &Map<String, Value>, messages: &[Value], blocks: &[Block]) -> Value {
    let mut total = 0;
    let mut cached = 0;
    let mut count = |b: &Value| {
        let words = count_words(b.get("text").and_then(Value::as_str).unwrap_or(""))
            + match b.get("content") {
                Some(Value::String(s)) => count_words(s),
                _ => 0,
            };
        total += words;
        if b.get("cache_control").is_some() {
            cached += words;
        }
    };
    match req.get("system") {
        Some(Value::String(s)) => count(&json!({ "text": s })),
        Some(Value::Array(bs)) => bs.iter().for_each(&mut count),
        _ => {}
    }
    for m in messages {
        match m.get("content") {
            Some(Value::String(s)) => count(&json!({ "text": s })),
            Some(Value::Array(bs)) => bs.iter().for_each(&mut count),
            _ => {}
        }
    }
    let output: u64 = blocks
        .iter()
        .map(|b| match b {
            Block::Thinking(t) | Block::Text(t) => count_words(t),
            Block::ToolUse { name, input, .. } => {
                count_words(name) + count_words(&input.to_string())
            }
        })
        .sum();
    json!({
        "input_tokens": total - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": output,
    })
}

/// One SSE event as Anthropic frames it: `event: <type>\ndata: <json>\n\n`.
fn event(v: &Value) -> Bytes {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("unknown");
    let mut buf = BytesMut::with_capacity(128);
    buf.put_slice(b"event: ");
    buf.put_slice(kind.as_bytes());
    buf.put_slice(b"\ndata: ");
    buf.put_slice(v.to_string().as_bytes());
    buf.put_slice(b"\n\n");
    buf.freeze()
}

fn stream(id: &str, model: &str, blocks: &[Block], stop: &str, usage: &Value) -> Vec<Bytes> {
    let mut start_usage = usage.clone();
    start_usage["output_tokens"] = json!(1);
    let mut out = vec![event(&json!({
        "type": "message_start",
        "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": start_usage,
        },
    }))];
    for (index, b) in blocks.iter().enumerate() {
        out.push(event(&json!({
            "type": "content_block_start", "index": index, "content_block": block_json(b, false),
        })));
        if index == 0 {
            out.push(event(&json!({"type": "ping"})));
        }
        let delta =
            |d: Value| event(&json!({"type": "content_block_delta", "index": index, "delta": d}));
        match b {
            Block::Thinking(t) => {
                for piece in word_pieces(t) {
                    out.push(delta(json!({"type": "thinking_delta", "thinking": piece})));
                }
                out.push(delta(
                    json!({"type": "signature_delta", "signature": signature(t)}),
                ));
            }
            Block::Text(t) => {
                for piece in word_pieces(t) {
                    out.push(delta(json!({"type": "text_delta", "text": piece})));
                }
            }
            Block::ToolUse { input, .. } => {
                out.push(delta(
                    json!({"type": "input_json_delta", "partial_json": ""}),
                ));
                let json = input.to_string();
                for piece in split_even(&json, 3) {
                    out.push(delta(
                        json!({"type": "input_json_delta", "partial_json": piece}),
                    ));
                }
            }
        }
        out.push(event(
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    out.push(event(&json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop, "stop_sequence": null},
        "usage": {"output_tokens": usage["output_tokens"]},
    })));
    out.push(event(&json!({"type": "message_stop"})));
    out
}

#[cfg(test)]
mod tests;
