//! The internal chat answer → a Responses API `response` object.
//!
//! The first choice's message becomes the output items, in the order a Responses model
//! writes them: a `reasoning` item (its text as `reasoning_text` content, and the
//! provider's signed thinking blocks as `encrypted_content`, so a client that sends the item
//! back keeps multi-turn tool use with extended thinking working), a `message` item with
//! `output_text` (or `refusal`) content, and one `function_call` item per tool call. Item
//! ids derive from the response id and the call ids, so a stream and its final object
//! agree. A `length` or `content_filter` finish makes the response `incomplete`.

use serde_json::{Map, Value, json};
use sluice_types::{ChatResponse, Content, Message, Usage};

/// The request fields a response echoes, with the API's defaults.
pub(super) fn echo(body: &Map<String, Value>) -> Map<String, Value> {
    let defaults = [
        ("instructions", Value::Null),
        ("max_output_tokens", Value::Null),
        ("metadata", json!({})),
        ("parallel_tool_calls", json!(true)),
        ("previous_response_id", Value::Null),
        ("reasoning", json!({"effort": null, "summary": null})),
        ("store", json!(true)),
        ("temperature", json!(1.0)),
        ("text", json!({"format": {"type": "text"}})),
        ("tool_choice", json!("auto")),
        ("tools", json!([])),
        ("top_p", json!(1.0)),
        ("truncation", json!("disabled")),
        ("user", Value::Null),
    ];
    defaults
        .into_iter()
        .map(|(name, default)| {
            let value = body.get(name).filter(|v| !v.is_null()).cloned();
            (name.to_owned(), value.unwrap_or(default))
        })
        .collect()
}

/// The id of a response item: `msg_…` / `rs_…` after the response id's own suffix.
pub(super) fn item_id(prefix: &str, response_id: &str) -> String {
    let suffix = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{suffix}")
}

/// The id of a function call item.
pub(super) fn call_item_id(call_id: &str) -> String {
    format!("fc_{call_id}")
}

/// `completed`, or `incomplete` with its reason.
pub(super) fn status(finish: Option<&str>) -> (&'static str, Value) {
    match finish {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// A response object: the shell every event and the final answer share.
pub(super) fn shell(
    id: &str,
    created: u64,
    model: &str,
    echo: &Map<String, Value>,
    status: &str,
) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("id".into(), json!(id));
    r.insert("object".into(), json!("response"));
    r.insert("created_at".into(), json!(created));
    r.insert("status".into(), json!(status));
    r.insert("error".into(), Value::Null);
    r.insert("incomplete_details".into(), Value::Null);
    r.insert("model".into(), json!(model));
    r.insert("output".into(), json!([]));
    r.extend(echo.clone());
    r.insert("usage".into(), Value::Null);
    r
}

/// The complete response object of `resp`.
pub(super) fn response(
    resp: &ChatResponse,
    id: &str,
    created: u64,
    model: &str,
    echo: &Map<String, Value>,
) -> Value {
    let choice = resp.choices.first();
    let (status, incomplete) = status(choice.and_then(|c| c.finish_reason.as_deref()));
    let model = if resp.model.is_empty() {
        model
    } else {
        &resp.model
    };
    let mut r = shell(id, created, model, echo, status);
    r.insert("incomplete_details".into(), incomplete);
    let output = choice.map(|c| output(&c.message, id)).unwrap_or_default();
    r.insert("output".into(), Value::Array(output));
    r.insert(
        "usage".into(),
        resp.usage.as_ref().map_or(Value::Null, usage),
    );
    Value::Object(r)
}

/// The output items of an answer message.
pub(super) fn output(m: &Message, response_id: &str) -> Vec<Value> {
    let mut items = Vec::new();
    if m.reasoning_content.is_some() || m.thinking_blocks.is_some() {
        items.push(reasoning_item(
            &item_id("rs", response_id),
            m.reasoning_content.as_deref().unwrap_or_default(),
            m.thinking_blocks
                .as_ref()
                .and_then(|b| serde_json::to_string(b).ok()),
            "completed",
        ));
    }
    let text = match &m.content {
        Some(Content::Text(t)) => Some(t.clone()),
        Some(Content::Parts(parts)) => {
            Some(parts.iter().filter_map(|p| p.text.as_deref()).collect())
        }
        None => None,
    }
    .filter(|t| !t.is_empty());
    let mut content = Vec::new();
    if let Some(text) = text {
        content.push(text_part(&text));
    }
    if let Some(refusal) = &m.refusal {
        content.push(refusal_part(refusal));
    }
    if !content.is_empty() {
        items.push(message_item(
            &item_id("msg", response_id),
            content,
            "completed",
        ));
    }
    for call in m.tool_calls.iter().flatten() {
        items.push(call_item(
            &call.id,
            &call.function.name,
            &call.function.arguments,
            "completed",
        ));
    }
    items
}

pub(super) fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

pub(super) fn refusal_part(refusal: &str) -> Value {
    json!({"type": "refusal", "refusal": refusal})
}

pub(super) fn message_item(id: &str, content: Vec<Value>, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
}

pub(super) fn reasoning_item(id: &str, text: &str, signed: Option<String>, status: &str) -> Value {
    let mut item = json!({"type": "reasoning", "id": id, "summary": [], "status": status});
    if !text.is_empty() {
        item["content"] = json!([{"type": "reasoning_text", "text": text}]);
    }
    if let Some(signed) = signed {
        item["encrypted_content"] = Value::String(signed);
    }
    item
}

pub(super) fn call_item(call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": call_item_id(call_id), "call_id": call_id,
        "name": name, "arguments": arguments, "status": status})
}

/// Chat usage → Responses usage.
pub(super) fn usage(u: &Usage) -> Value {
    let cached = u
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cached_tokens)
        .unwrap_or(0);
    let reasoning = u
        .completion_tokens_details
        .as_ref()
        .and_then(|d| d.reasoning_tokens)
        .unwrap_or(0);
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chat(v: Value) -> ChatResponse {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_text_answer() {
        let resp = chat(
            json!({"id": "x", "object": "chat.completion", "created": 5, "model": "claude-x",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13,
                      "prompt_tokens_details": {"cached_tokens": 4}}}),
        );
        let echo = echo(
            &json!({"temperature": 0.5, "store": false})
                .as_object()
                .unwrap()
                .clone(),
        );
        let r = response(&resp, "resp_abc", 7, "fallback", &echo);
        assert_eq!(r["id"], "resp_abc");
        assert_eq!(r["object"], "response");
        assert_eq!(
            (r["status"].as_str(), r["created_at"].as_u64()),
            (Some("completed"), Some(7))
        );
        assert_eq!(r["model"], "claude-x");
        assert_eq!(
            r["output"],
            json!([{"type": "message", "id": "msg_abc", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Hello!", "annotations": []}]}])
        );
        assert_eq!(
            r["usage"],
            json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 3,
                   "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 13})
        );
        assert_eq!(
            (r["temperature"].as_f64(), r["store"].as_bool()),
            (Some(0.5), Some(false))
        );
        assert_eq!(r["tool_choice"], "auto");
        assert_eq!(r["text"], json!({"format": {"type": "text"}}));
    }

    #[test]
    fn reasoning_then_calls_and_an_incomplete_finish() {
        let resp = chat(
            json!({"id": "x", "object": "chat.completion", "created": 5, "model": "m",
            "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": null,
                "reasoning_content": "think",
                "thinking_blocks": [{"type": "thinking", "thinking": "think", "signature": "s1"}],
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]}),
        );
        let r = response(&resp, "resp_q", 1, "m", &Map::new());
        assert_eq!(r["status"], "incomplete");
        assert_eq!(
            r["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        let out = r["output"].as_array().unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["type"], "reasoning");
        assert_eq!(out[0]["id"], "rs_q");
        assert_eq!(
            out[0]["content"],
            json!([{"type": "reasoning_text", "text": "think"}])
        );
        let signed: Value =
            serde_json::from_str(out[0]["encrypted_content"].as_str().unwrap()).unwrap();
        assert_eq!(
            signed,
            json!([{"type": "thinking", "thinking": "think", "signature": "s1"}])
        );
        assert_eq!(
            out[1],
            json!({"type": "function_call", "id": "fc_call_9", "call_id": "call_9", "name": "f",
                   "arguments": "{}", "status": "completed"})
        );
        assert_eq!(r["usage"], Value::Null);
    }
}
