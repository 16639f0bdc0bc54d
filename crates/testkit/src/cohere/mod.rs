//! `POST /v2/chat`: a mock of Cohere's Chat API v2.
//!
//! It validates requests the way the real API does (see `validate.rs`): a missing or empty
//! `Authorization: Bearer` key is a 401, and an unknown field (top level, in a message or in
//! a tool), an empty `messages`, an unknown role, a tool message whose `tool_call_id` answers
//! no tool call of an earlier assistant message, `tool_choice` other than `REQUIRED` / `NONE`
//! or without tools, `response_format` together with tools, a parameter out of its range or
//! an image that is neither a web URL nor a base64 JPEG / PNG / GIF / WebP data URI are 400s
//! with Cohere's error shape, `{"id", "message"}`.
//!
//! Answers are deterministic: one tool call per tool (with a `tool_plan`) when tools are
//! given and `tool_choice` allows it (not `NONE`, and not when the conversation ends with tool
//! results unless `REQUIRED`); else JSON for `response_format: json_object` (an object
//! matching `json_schema`, or `{"echo": …}`); else `echo: <last user text>` (the tool results'
//! text when the conversation ends with them), cut at a stop sequence or at `max_tokens`
//! words. A `thinking` block comes first when `thinking.type` is `enabled`. Usage counts
//! words: `billed_units` the messages' words, `tokens` five more for the prompt template.
//! With `stream: true` the answer is Cohere's exact event sequence (`event:` lines included),
//! ended by `data: [DONE]`. [`error`] and [`rate_limited`] script Cohere-shaped errors.

mod validate;

use bytes::{BufMut, Bytes, BytesMut};
use http::request::Parts;
use serde_json::{Map, Value, json};

use crate::Behavior;
use crate::wire::{Reply, count_words, split_even, truncate_words, word_pieces};

/// Extra input tokens `usage.tokens` counts for Cohere's prompt template.
const TEMPLATE_TOKENS: u64 = 5;

/// A Cohere error body: `{"id": …, "message": …}`.
pub fn error_body(message: &str) -> String {
    json!({"id": "00000000-0000-4000-8000-00000000e000", "message": message}).to_string()
}

/// A behaviour answering with a Cohere-shaped error, e.g.
/// `error(400, "too many tokens: size limit exceeded by 1200 tokens")`.
pub fn error(status: u16, message: &str) -> Behavior {
    Behavior::Status {
        status,
        body: error_body(message),
    }
}

/// A 429 as Cohere answers when a key's rate limit is used up.
pub fn rate_limited() -> Behavior {
    error(
        429,
        "You are using a Trial key, which is limited to 20 API calls / minute. You can continue \
         to use the Trial key for free or upgrade to a Production key with higher rate limits.",
    )
}

fn error_reply(status: u16, message: &str) -> Reply {
    Reply::Json {
        status,
        body: Bytes::from(error_body(message)),
    }
}

/// Answers one Chat v2 request.
pub(crate) fn reply(parts: &Parts, body: &[u8], n: u64) -> Reply {
    let auth = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match auth
        .as_deref()
        .map(|a| a.strip_prefix("Bearer ").or(a.strip_prefix("bearer ")))
    {
        None => return error_reply(401, "no api key supplied"),
        Some(None) => return error_reply(401, "invalid api token"),
        Some(Some(key)) if key.trim().is_empty() => return error_reply(401, "invalid api token"),
        Some(Some(_)) => {}
    }
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return error_reply(400, "invalid request: the body must be a JSON object");
    };
    if let Err(message) = validate::request(&req) {
        return error_reply(400, &message);
    }
    let answer = Answer::new(&req, n);
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        Reply::Sse(answer.events())
    } else {
        Reply::ok(&answer.json())
    }
}

/// One tool call of the answer.
struct Call {
    id: String,
    name: String,
    arguments: String,
}

/// The answer to one request, before it is rendered as JSON or as events.
struct Answer {
    id: String,
    thinking: Option<String>,
    text: Option<String>,
    plan: Option<String>,
    calls: Vec<Call>,
    finish: &'static str,
    usage: Value,
    logprobs: bool,
}

impl Answer {
    fn new(req: &Map<String, Value>, n: u64) -> Self {
        let messages = req
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let prompt = prompt_text(messages);
        let mut answer = Answer {
            id: format!("00000000-0000-4000-8000-{n:012x}"),
            thinking: (req
                .get("thinking")
                .and_then(|t| t.get("type"))
                .and_then(Value::as_str)
                == Some("enabled"))
            .then(|| format!("The user said: {prompt}")),
            text: None,
            plan: None,
            calls: calls(req, messages, &prompt, n),
            finish: "COMPLETE",
            usage: Value::Null,
            logprobs: req.get("logprobs").and_then(Value::as_bool) == Some(true),
        };
        if !answer.calls.is_empty() {
            let names: Vec<&str> = answer.calls.iter().map(|c| c.name.as_str()).collect();
            answer.plan = Some(format!("I will call {}.", names.join(" and ")));
            answer.finish = "TOOL_CALL";
        } else if req
            .get("response_format")
            .and_then(|f| f.get("type"))
            .and_then(Value::as_str)
            == Some("json_object")
        {
            let value = match req
                .get("response_format")
                .and_then(|f| f.get("json_schema"))
            {
                Some(schema) => json_for(schema, &prompt),
                None => json!({"echo": prompt}),
            };
            answer.text = Some(value.to_string());
        } else {
            let (text, finish) = limited(req, format!("echo: {prompt}"));
            answer.text = Some(text);
            answer.finish = finish;
        }
        let input: u64 = messages.iter().map(message_words).sum();
        let output = [&answer.thinking, &answer.text, &answer.plan]
            .into_iter()
            .flatten()
            .map(|t| count_words(t))
            .sum::<u64>()
            + answer
                .calls
                .iter()
                .map(|c| count_words(&c.name) + count_words(&c.arguments))
                .sum::<u64>();
        answer.usage = json!({
            "billed_units": {"input_tokens": input, "output_tokens": output},
            "tokens": {"input_tokens": input + TEMPLATE_TOKENS, "output_tokens": output},
        });
        answer
    }

    /// The content blocks: thinking first, then text.
    fn blocks(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        if let Some(t) = &self.thinking {
            out.push(("thinking", t.as_str()));
        }
        if let Some(t) = &self.text {
            out.push(("text", t.as_str()));
        }
        out
    }

    /// The non-stream response body.
    fn json(&self) -> Value {
        let mut message = json!({"role": "assistant"});
        let content: Vec<Value> = self
            .blocks()
            .into_iter()
            .map(|(kind, text)| json!({"type": kind, (kind): text}))
            .collect();
        if !content.is_empty() {
            message["content"] = Value::Array(content);
        }
        if let Some(plan) = &self.plan {
            message["tool_plan"] = json!(plan);
            message["tool_calls"] = self
                .calls
                .iter()
                .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                .collect();
        }
        let mut out = json!({
            "id": self.id,
            "message": message,
            "finish_reason": self.finish,
            "usage": self.usage,
        });
        if self.logprobs {
            if let Some(text) = &self.text {
                out["logprobs"] = word_pieces(text)
                    .into_iter()
                    .enumerate()
                    .map(logprob)
                    .collect();
            }
        }
        out
    }

    /// The stream: Cohere's event sequence, then `data: [DONE]`.
    fn events(&self) -> Vec<Bytes> {
        let mut out = vec![event(&json!({
            "id": self.id,
            "type": "message-start",
            "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "",
                "tool_calls": [], "citations": []}},
        }))];
        for (index, (kind, text)) in self.blocks().into_iter().enumerate() {
            out.push(event(&json!({
                "type": "content-start", "index": index,
                "delta": {"message": {"content": {"type": kind, (kind): ""}}},
            })));
            for (k, piece) in word_pieces(text).into_iter().enumerate() {
                let mut ev = json!({
                    "type": "content-delta", "index": index,
                    "delta": {"message": {"content": {(kind): piece}}},
                });
                if self.logprobs && kind == "text" {
                    ev["logprobs"] = logprob((k, piece));
                }
                out.push(event(&ev));
            }
            out.push(event(&json!({"type": "content-end", "index": index})));
        }
        if let Some(plan) = &self.plan {
            for piece in word_pieces(plan) {
                out.push(event(&json!({
                    "type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}},
                })));
            }
        }
        for (index, c) in self.calls.iter().enumerate() {
            out.push(event(&json!({
                "type": "tool-call-start", "index": index,
                "delta": {"message": {"tool_calls": {"id": c.id, "type": "function",
                    "function": {"name": c.name, "arguments": ""}}}},
            })));
            for piece in split_even(&c.arguments, 3) {
                out.push(event(&json!({
                    "type": "tool-call-delta", "index": index,
                    "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}},
                })));
            }
            out.push(event(&json!({"type": "tool-call-end", "index": index})));
        }
        out.push(event(&json!({
            "type": "message-end",
            "delta": {"finish_reason": self.finish, "usage": self.usage},
        })));
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        out
    }
}

/// A log probability entry for the `k`-th piece of text.
fn logprob((k, piece): (usize, &str)) -> Value {
    json!({"text": piece, "token_ids": [1000 + k], "logprobs": [-0.125]})
}

/// One SSE event as Cohere frames it: `event: <type>\ndata: <json>\n\n`.
fn event(v: &Value) -> Bytes {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("unknown");
    let mut buf = BytesMut::with_capacity(160);
    buf.put_slice(b"event: ");
    buf.put_slice(kind.as_bytes());
    buf.put_slice(b"\ndata: ");
    buf.put_slice(v.to_string().as_bytes());
    buf.put_slice(b"\n\n");
    buf.freeze()
}

/// The text of message content: a string, or its text blocks joined with spaces.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or_default()
}

/// What the answer echoes: the tool results ending the conversation, else the last user text.
fn prompt_text(messages: &[Value]) -> String {
    let results: Vec<String> = messages
        .iter()
        .rev()
        .take_while(|m| role(m) == "tool")
        .map(|m| text_of(m.get("content")))
        .collect();
    if !results.is_empty() {
        return results.into_iter().rev().collect::<Vec<_>>().join(" ");
    }
    messages
        .iter()
        .rev()
        .find(|m| role(m) == "user")
        .map(|m| text_of(m.get("content")))
        .unwrap_or_default()
}

fn message_words(m: &Value) -> u64 {
    count_words(&text_of(m.get("content")))
}

/// The tool calls to make: one per tool, unless `tool_choice` is `NONE` or the conversation
/// ends with tool results and no call is required.
fn calls(req: &Map<String, Value>, messages: &[Value], prompt: &str, n: u64) -> Vec<Call> {
    let Some(tools) = req.get("tools").and_then(Value::as_array) else {
        return Vec::new();
    };
    let choice = req.get("tool_choice").and_then(Value::as_str);
    let answers_tools = messages.last().is_some_and(|m| role(m) == "tool");
    if choice == Some("NONE") || (answers_tools && choice != Some("REQUIRED")) {
        return Vec::new();
    }
    tools
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let name = t
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let schema = t.pointer("/function/parameters").unwrap_or(&Value::Null);
            Call {
                id: format!("{name}_mock{n}x{k}"),
                arguments: json_for(schema, prompt).to_string(),
                name,
            }
        })
        .collect()
}

/// A value satisfying a schema's required properties (see `schema_example`); a schema with
/// no properties gives `{"echo": prompt}`.
fn json_for(schema: &Value, prompt: &str) -> Value {
    if schema
        .get("properties")
        .and_then(Value::as_object)
        .is_none()
    {
        return json!({"echo": prompt});
    }
    crate::wire::schema_example(schema)
}

/// The text cut at the first stop sequence it contains, else at `max_tokens` words, with the
/// finish reason that says so.
fn limited(req: &Map<String, Value>, text: String) -> (String, &'static str) {
    let stop = req
        .get("stop_sequences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s))
        .min();
    if let Some(at) = stop {
        return (text[..at].to_owned(), "STOP_SEQUENCE");
    }
    let max = req
        .get("max_tokens")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
    if word_pieces(&text).len() > max {
        return (truncate_words(&text, max).to_owned(), "MAX_TOKENS");
    }
    (text, "COMPLETE")
}

#[cfg(test)]
mod tests;
