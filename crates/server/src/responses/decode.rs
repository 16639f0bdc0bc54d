//! A Responses API request → the internal chat request.
//!
//! `instructions` becomes a system message; `input` (a string, or a list of items) becomes
//! the conversation: messages with their `input_text` / `output_text` / `input_image` /
//! `input_file` / `refusal` parts, `function_call` items as the assistant's tool calls and
//! `function_call_output` items as tool messages, and `reasoning` items this gateway wrote
//! (their `encrypted_content` holds the provider's signed thinking blocks) put back on the
//! assistant turn that follows. Function tools, `tool_choice`, `text.format`,
//! `max_output_tokens`, `reasoning.effort`, sampling and `user` map to their chat fields.
//! What a translated model cannot honour (built-in tools, stored prompts, background runs,
//! file ids) is refused with a 400 naming the field.

use serde_json::{Map, Value, json};
use sluice_types::{
    ChatRequest, Content, ContentPart, FunctionCall, FunctionDef, GatewayError, JsonMap, Message,
    StreamOptions, ThinkingBlock, Tool, ToolCall,
};

use crate::body::invalid_at as invalid;

/// The chat request of a Responses request, and whether its first message came from
/// `instructions` (which `previous_response_id` does not carry over).
pub(super) struct Decoded {
    pub(super) request: ChatRequest,
    pub(super) from_instructions: bool,
}

/// Fields that change nothing on a translated model (bookkeeping, or options about output
/// this gateway does not produce), dropped without a word.
const IGNORED: &[&str] = &[
    "metadata",
    "store",
    "previous_response_id",
    "include",
    "truncation",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
    "stream_options",
];

/// Fields a translated model cannot honour.
const REFUSED: &[&str] = &["prompt", "conversation", "max_tool_calls"];

/// Translates `body` (a parsed Responses request) with `history` (the conversation of
/// `previous_response_id`, if any) before its input.
pub(super) fn chat_request(
    mut body: Map<String, Value>,
    history: Vec<Message>,
) -> Result<Decoded, GatewayError> {
    let model = match body.remove("model") {
        Some(Value::String(m)) => m,
        Some(_) => return Err(invalid("model", "expected a string")),
        None => return Err(invalid("model", "required")),
    };
    if body.get("background") == Some(&Value::Bool(true)) {
        return Err(invalid(
            "background",
            "background responses are not supported for this model",
        ));
    }
    body.remove("background");
    for name in REFUSED {
        if body.get(*name).is_some_and(|v| !v.is_null()) {
            return Err(invalid(name, "not supported for this model"));
        }
        body.remove(*name);
    }
    for name in IGNORED {
        body.remove(*name);
    }
    let mut messages = Vec::new();
    let from_instructions = match body.remove("instructions") {
        Some(Value::String(text)) => {
            messages.push(text_message("system", text));
            true
        }
        None | Some(Value::Null) => false,
        Some(_) => return Err(invalid("instructions", "expected a string")),
    };
    messages.extend(history);
    match body.remove("input") {
        Some(Value::String(text)) => messages.push(text_message("user", text)),
        Some(Value::Array(items)) => {
            let mut pending = None;
            for (i, item) in items.into_iter().enumerate() {
                input_item(item, &format!("input[{i}]"), &mut messages, &mut pending)?;
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(invalid("input", "expected a string or a list of items")),
    }
    if messages.iter().all(|m| m.role == "system") {
        return Err(invalid("input", "the request has no input"));
    }
    let mut req = ChatRequest {
        model,
        messages,
        ..ChatRequest::default()
    };
    if let Some(tools) = body.remove("tools") {
        req.tools = tools_of(tools)?;
    }
    if let Some(choice) = body.remove("tool_choice") {
        req.tool_choice = tool_choice(choice)?;
    }
    if let Some(text) = body.remove("text") {
        req.response_format = response_format(text)?;
    }
    if let Some(reasoning) = body.remove("reasoning") {
        req.reasoning_effort = match reasoning.get("effort") {
            Some(Value::String(e)) => Some(e.clone()),
            None | Some(Value::Null) => None,
            Some(_) => return Err(invalid("reasoning.effort", "expected a string")),
        };
    }
    req.max_completion_tokens = number(&mut body, "max_output_tokens", Value::as_u64)?;
    req.temperature = number(&mut body, "temperature", Value::as_f64)?;
    req.top_p = number(&mut body, "top_p", Value::as_f64)?;
    req.parallel_tool_calls = number(&mut body, "parallel_tool_calls", Value::as_bool)?;
    if let Some(n) = number(&mut body, "top_logprobs", Value::as_u64)? {
        req.logprobs = Some(true);
        req.top_logprobs = u32::try_from(n).ok();
    }
    req.user = number(&mut body, "user", |v| v.as_str().map(str::to_owned))?;
    if number(&mut body, "stream", Value::as_bool)? == Some(true) {
        req.stream = Some(true);
        req.stream_options = Some(StreamOptions {
            include_usage: Some(true),
            extra: JsonMap::new(),
        });
    }
    if !body.is_empty() {
        let names: Vec<&str> = body.keys().map(String::as_str).collect();
        tracing::debug!(fields = ?names, "Responses request fields without a chat equivalent were dropped");
    }
    Ok(Decoded {
        request: req,
        from_instructions,
    })
}

/// Removes `name` and reads it with `read`; null counts as absent.
fn number<T>(
    body: &mut Map<String, Value>,
    name: &str,
    read: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, GatewayError> {
    match body.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read(&v)
            .map(Some)
            .ok_or_else(|| invalid(name, "has the wrong type")),
    }
}

fn text_message(role: &str, text: String) -> Message {
    Message {
        role: role.to_owned(),
        content: Some(Content::Text(text)),
        ..Message::default()
    }
}

/// Reads one input item into `out`. Thinking blocks of a `reasoning` item wait in
/// `pending` for the assistant turn that follows.
fn input_item(
    item: Value,
    at: &str,
    out: &mut Vec<Message>,
    pending: &mut Option<Vec<ThinkingBlock>>,
) -> Result<(), GatewayError> {
    let Value::Object(mut item) = item else {
        return Err(invalid(at, "expected an object"));
    };
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message")
        .to_owned();
    match kind.as_str() {
        "message" => {
            let role = match item.remove("role") {
                Some(Value::String(r))
                    if matches!(r.as_str(), "user" | "assistant" | "system" | "developer") =>
                {
                    r
                }
                _ => {
                    return Err(invalid(
                        &format!("{at}.role"),
                        "expected user, assistant, system or developer",
                    ));
                }
            };
            let mut message = Message {
                role,
                ..Message::default()
            };
            match item.remove("content") {
                Some(Value::String(text)) => message.content = Some(Content::Text(text)),
                Some(Value::Array(parts)) => {
                    let mut out_parts = Vec::with_capacity(parts.len());
                    for (k, part) in parts.into_iter().enumerate() {
                        let at = format!("{at}.content[{k}]");
                        match content_part(part, &at)? {
                            Part::Content(p) => out_parts.push(p),
                            Part::Refusal(r) => message.refusal = Some(r),
                        }
                    }
                    if !out_parts.is_empty() {
                        message.content = Some(Content::Parts(out_parts));
                    }
                }
                _ => {
                    return Err(invalid(
                        &format!("{at}.content"),
                        "expected a string or a list of parts",
                    ));
                }
            }
            if message.role == "assistant" {
                message.thinking_blocks = pending.take();
            }
            out.push(message);
        }
        "function_call" => {
            let field = |item: &Map<String, Value>, name: &str| {
                item.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(&format!("{at}.{name}"), "expected a string"))
            };
            let call = ToolCall {
                id: field(&item, "call_id")?,
                kind: "function".into(),
                function: FunctionCall {
                    name: field(&item, "name")?,
                    arguments: field(&item, "arguments")?,
                },
                extra: JsonMap::new(),
            };
            // Calls of one turn join the assistant message right before them.
            match out.last_mut() {
                Some(last) if last.role == "assistant" && pending.is_none() => {
                    last.tool_calls.get_or_insert_with(Vec::new).push(call);
                }
                _ => out.push(Message {
                    role: "assistant".into(),
                    tool_calls: Some(vec![call]),
                    thinking_blocks: pending.take(),
                    ..Message::default()
                }),
            }
        }
        "function_call_output" => {
            let call_id = item
                .get("call_id")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(&format!("{at}.call_id"), "expected a string"))?
                .to_owned();
            let content = match item.remove("output") {
                Some(Value::String(text)) => Content::Text(text),
                Some(Value::Array(parts)) => {
                    let mut out_parts = Vec::with_capacity(parts.len());
                    for (k, part) in parts.into_iter().enumerate() {
                        if let Part::Content(p) = content_part(part, &format!("{at}.output[{k}]"))?
                        {
                            out_parts.push(p);
                        }
                    }
                    Content::Parts(out_parts)
                }
                _ => {
                    return Err(invalid(
                        &format!("{at}.output"),
                        "expected a string or a list of parts",
                    ));
                }
            };
            out.push(Message {
                role: "tool".into(),
                content: Some(content),
                tool_call_id: Some(call_id),
                ..Message::default()
            });
        }
        "reasoning" => {
            // Only this gateway's own reasoning items carry thinking blocks; others (an
            // OpenAI model's encrypted reasoning) mean nothing to another provider.
            let blocks = item
                .get("encrypted_content")
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Vec<ThinkingBlock>>(s).ok());
            if let Some(blocks) = blocks {
                *pending = Some(blocks);
            }
        }
        other => {
            return Err(invalid(
                &format!("{at}.type"),
                &format!("input items of type {other:?} are not supported for this model"),
            ));
        }
    }
    Ok(())
}

/// A part of a message: chat content, or an assistant's refusal.
enum Part {
    Content(ContentPart),
    Refusal(String),
}

fn content_part(part: Value, at: &str) -> Result<Part, GatewayError> {
    let Value::Object(mut part) = part else {
        return Err(invalid(at, "expected an object"));
    };
    let kind = part
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let text_part = |text: String| ContentPart {
        kind: "text".into(),
        text: Some(text),
        extra: JsonMap::new(),
    };
    let payload = |kind: &str, payload: Value| {
        let mut extra = JsonMap::new();
        extra.insert(kind.to_owned(), payload);
        ContentPart {
            kind: kind.to_owned(),
            text: None,
            extra,
        }
    };
    match kind.as_str() {
        "input_text" | "output_text" | "text" => match part.remove("text") {
            Some(Value::String(t)) => Ok(Part::Content(text_part(t))),
            _ => Err(invalid(&format!("{at}.text"), "expected a string")),
        },
        "refusal" => match part.remove("refusal") {
            Some(Value::String(t)) => Ok(Part::Refusal(t)),
            _ => Err(invalid(&format!("{at}.refusal"), "expected a string")),
        },
        "input_image" => {
            if part.get("file_id").is_some_and(|v| !v.is_null()) {
                return Err(invalid(
                    &format!("{at}.file_id"),
                    "file ids are not supported for this model; send image_url",
                ));
            }
            let Some(Value::String(url)) = part.remove("image_url") else {
                return Err(invalid(&format!("{at}.image_url"), "expected a string"));
            };
            let mut image = json!({"url": url});
            if let Some(detail) = part
                .remove("detail")
                .filter(|d| d != "auto" && !d.is_null())
            {
                image["detail"] = detail;
            }
            Ok(Part::Content(payload("image_url", image)))
        }
        "input_file" => {
            if part.get("file_id").is_some_and(|v| !v.is_null()) {
                return Err(invalid(
                    &format!("{at}.file_id"),
                    "file ids are not supported for this model; send file_data",
                ));
            }
            let mut file = Map::new();
            for name in ["file_data", "filename"] {
                if let Some(v) = part.remove(name) {
                    file.insert(name.to_owned(), v);
                }
            }
            Ok(Part::Content(payload("file", Value::Object(file))))
        }
        other => Err(invalid(
            &format!("{at}.type"),
            &format!("content parts of type {other:?} are not supported for this model"),
        )),
    }
}

/// Function tools (`{type, name, description, parameters, strict}`) → chat tools.
fn tools_of(tools: Value) -> Result<Option<Vec<Tool>>, GatewayError> {
    let Value::Array(tools) = tools else {
        return match tools {
            Value::Null => Ok(None),
            _ => Err(invalid("tools", "expected a list")),
        };
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.into_iter().enumerate() {
        let at = format!("tools[{i}]");
        let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind != "function" {
            return Err(invalid(
                &format!("{at}.type"),
                &format!(
                    "{kind:?} tools are built into OpenAI's Responses API and not supported for this model; only function tools are"
                ),
            ));
        }
        let Value::Object(mut t) = tool else {
            return Err(invalid(&at, "expected an object"));
        };
        let Some(Value::String(name)) = t.remove("name") else {
            return Err(invalid(&format!("{at}.name"), "expected a string"));
        };
        out.push(Tool {
            kind: "function".into(),
            function: Some(FunctionDef {
                name,
                description: t
                    .remove("description")
                    .and_then(|v| v.as_str().map(str::to_owned)),
                parameters: t.remove("parameters").filter(|v| !v.is_null()),
                strict: t.remove("strict").and_then(|v| v.as_bool()),
                extra: JsonMap::new(),
            }),
            extra: JsonMap::new(),
        });
    }
    Ok(Some(out))
}

/// `auto` / `none` / `required`, or `{type: function, name}`.
fn tool_choice(choice: Value) -> Result<Option<Value>, GatewayError> {
    match &choice {
        Value::Null => Ok(None),
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => Ok(Some(choice)),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tool_choice.name", "expected a string"))?;
            Ok(Some(
                json!({"type": "function", "function": {"name": name}}),
            ))
        }
        _ => Err(invalid(
            "tool_choice",
            "expected auto, none, required or a function; other choices are not supported for this model",
        )),
    }
}

/// `text.format` → `response_format`.
fn response_format(text: Value) -> Result<Option<Value>, GatewayError> {
    let Some(format) = text.get("format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            for name in ["name", "schema", "strict", "description"] {
                if let Some(v) = format.get(name).filter(|v| !v.is_null()) {
                    schema.insert(name.to_owned(), v.clone());
                }
            }
            if !schema.contains_key("schema") {
                return Err(invalid("text.format.schema", "required"));
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        _ => Err(invalid(
            "text.format.type",
            "expected text, json_object or json_schema",
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn decode(v: Value) -> Result<Decoded, GatewayError> {
        let Value::Object(body) = v else { panic!() };
        chat_request(body, Vec::new())
    }

    fn messages(d: &Decoded) -> Value {
        serde_json::to_value(&d.request.messages).unwrap()
    }

    #[test]
    fn a_string_input_with_instructions() {
        let d = decode(
            json!({"model": "m", "instructions": "Be brief.", "input": "hi",
            "max_output_tokens": 50, "temperature": 0.2, "user": "u1", "store": false,
            "metadata": {"a": "b"}, "reasoning": {"effort": "low"}}),
        )
        .unwrap();
        assert!(d.from_instructions);
        assert_eq!(
            messages(&d),
            json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
        );
        let r = &d.request;
        assert_eq!(
            (
                r.max_completion_tokens,
                r.temperature,
                r.user.as_deref(),
                r.reasoning_effort.as_deref()
            ),
            (Some(50), Some(0.2), Some("u1"), Some("low"))
        );
        assert!(r.extra.is_empty());
    }

    #[test]
    fn items_become_the_conversation() {
        let d = decode(json!({"model": "m", "input": [
            {"role": "user", "content": [
                {"type": "input_text", "text": "what is in"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "high"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "let me look", "annotations": []}]},
            {"type": "function_call", "call_id": "call_1", "name": "zoom", "arguments": "{\"x\":1}"},
            {"type": "function_call", "call_id": "call_2", "name": "zoom", "arguments": "{\"x\":2}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a cat"},
            {"type": "function_call_output", "call_id": "call_2", "output": "a hat"},
        ]}))
        .unwrap();
        assert!(!d.from_instructions);
        assert_eq!(
            messages(&d),
            json!([
                {"role": "user", "content": [
                    {"type": "text", "text": "what is in"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}}]},
                {"role": "assistant", "content": [{"type": "text", "text": "let me look"}], "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "zoom", "arguments": "{\"x\":1}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "zoom", "arguments": "{\"x\":2}"}}]},
                {"role": "tool", "content": "a cat", "tool_call_id": "call_1"},
                {"role": "tool", "content": "a hat", "tool_call_id": "call_2"},
            ])
        );
    }

    #[test]
    fn our_reasoning_items_bring_back_signed_thinking() {
        let blocks =
            json!([{"type": "thinking", "thinking": "hmm", "signature": "sig=="}]).to_string();
        let d = decode(json!({"model": "m", "input": [
            {"role": "user", "content": "q"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": blocks},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "ok"},
            {"type": "reasoning", "id": "rs_x", "summary": [], "encrypted_content": "gAAAA-openai-opaque"},
        ]}))
        .unwrap();
        let m = messages(&d);
        assert_eq!(
            m[1]["thinking_blocks"],
            json!([{"type": "thinking", "thinking": "hmm", "signature": "sig=="}])
        );
        assert_eq!(m[1]["tool_calls"][0]["id"], "c");
        assert_eq!(m.as_array().unwrap().len(), 3);
    }

    #[test]
    fn tools_choice_and_format() {
        let d = decode(json!({"model": "m", "input": "x",
            "tools": [{"type": "function", "name": "get", "description": "d", "parameters": {"type": "object"}, "strict": true}],
            "tool_choice": {"type": "function", "name": "get"},
            "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}},
            "parallel_tool_calls": false, "stream": true}))
        .unwrap();
        let r = serde_json::to_value(&d.request).unwrap();
        assert_eq!(
            r["tools"],
            json!([{"type": "function", "function": {"name": "get", "description": "d", "parameters": {"type": "object"}, "strict": true}}])
        );
        assert_eq!(
            r["tool_choice"],
            json!({"type": "function", "function": {"name": "get"}})
        );
        assert_eq!(
            r["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}})
        );
        assert_eq!(r["parallel_tool_calls"], false);
        assert_eq!(r["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn what_a_translated_model_cannot_do_is_refused_by_field() {
        let cases = [
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "m", "input": "x", "background": true}),
                "background",
            ),
            (
                json!({"model": "m", "input": "x", "prompt": {"id": "p"}}),
                "prompt",
            ),
            (
                json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
                "input[0].type",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}),
                "input[0].content[0].file_id",
            ),
            (
                json!({"model": "m", "input": [{"role": "robot", "content": "x"}]}),
                "input[0].role",
            ),
            (
                json!({"model": "m", "input": "x", "temperature": "hot"}),
                "temperature",
            ),
            (json!({"model": "m", "instructions": "only this"}), "input"),
            (json!({"input": "x"}), "model"),
            (
                json!({"model": "m", "input": "x", "text": {"format": {"type": "yaml"}}}),
                "text.format.type",
            ),
        ];
        for (body, param) in cases {
            let e = decode(body.clone())
                .err()
                .unwrap_or_else(|| panic!("{body}"));
            assert_eq!(e.param(), Some(param), "{body}: {e}");
            assert_eq!(e.kind(), sluice_types::ErrorKind::InvalidRequest);
        }
    }
}
