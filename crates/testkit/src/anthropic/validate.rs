//! Request validation for the Anthropic mock, with the rules (and close to the messages) of
//! the real Messages API, so that a translation bug fails a test instead of passing silently.

use std::collections::HashSet;

use http::request::Parts;
use serde_json::{Map, Value};

use super::{error_reply, signature};
use crate::wire::Reply;

/// Image media types the API accepts.
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// A request that passed validation.
pub(super) struct Checked {
    pub(super) req: Map<String, Value>,
    pub(super) model: String,
    pub(super) max_tokens: u64,
    pub(super) messages: Vec<Value>,
    pub(super) thinking: bool,
}

fn invalid(message: impl Into<String>) -> Reply {
    error_reply(400, "invalid_request_error", &message.into())
}

/// Checks the headers and body of a Messages API request; the error reply the API would
/// give, if any.
pub(super) fn check(parts: &Parts, body: &[u8]) -> Result<Checked, Reply> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.trim().is_empty())
    };
    if header("x-api-key").is_none() {
        return Err(error_reply(
            401,
            "authentication_error",
            "x-api-key header is required",
        ));
    }
    if header("anthropic-version").is_none() {
        return Err(invalid("anthropic-version: header is required"));
    }
    check_body(body, None)
}

/// Checks the body of a request; `vertex_model` is the model a Vertex AI URL names (such a
/// body carries `anthropic_version` and no `model`).
pub(super) fn check_body(body: &[u8], vertex_model: Option<&str>) -> Result<Checked, Reply> {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid(
            "There was an issue with the format or content of your request. We were unable to parse the JSON body.",
        ));
    };
    let model = match (vertex_model, req.get("model")) {
        (None, Some(Value::String(m))) if !m.is_empty() => m.clone(),
        (None, _) => return Err(invalid("model: Field required")),
        (Some(_), Some(_)) => {
            return Err(invalid(
                "model: Extra inputs are not permitted (Vertex AI takes the model from the URL)",
            ));
        }
        (Some(m), None) => {
            match req.get("anthropic_version").and_then(Value::as_str) {
                Some(super::VERTEX_VERSION) => {}
                Some(other) => {
                    return Err(invalid(format!(
                        "anthropic_version: {other:?} is not supported; use \"{}\"",
                        super::VERTEX_VERSION
                    )));
                }
                None => return Err(invalid("anthropic_version: Field required")),
            }
            m.to_owned()
        }
    };
    let max_tokens = match req.get("max_tokens") {
        None => return Err(invalid("max_tokens: Field required")),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n,
            _ => {
                return Err(invalid(
                    "max_tokens: Input should be a valid integer greater than or equal to 1",
                ));
            }
        },
    };
    if req.get("stream").is_some_and(|s| !s.is_boolean()) {
        return Err(invalid("stream: Input should be a valid boolean"));
    }
    for (field, max) in [("temperature", 1.0), ("top_p", 1.0)] {
        if let Some(v) = req.get(field) {
            if !v.as_f64().is_some_and(|x| (0.0..=max).contains(&x)) {
                return Err(invalid(format!(
                    "{field}: Input should be a number between 0 and {max}"
                )));
            }
        }
    }
    check_system(req.get("system"))?;
    let tool_names = check_tools(&req)?;
    let thinking = check_thinking(&req, max_tokens)?;
    let messages = match req.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m.clone(),
        Some(Value::Array(_)) => return Err(invalid("messages: at least one message is required")),
        _ => return Err(invalid("messages: Field required")),
    };
    check_messages(&messages, thinking)?;
    let uses_tools = messages.iter().any(|m| {
        blocks(m)
            .iter()
            .any(|b| matches!(kind(b), "tool_use" | "tool_result"))
    });
    if uses_tools && tool_names.is_empty() {
        return Err(invalid(
            "Requests which include `tool_use` or `tool_result` blocks must define tools.",
        ));
    }
    Ok(Checked {
        req,
        model,
        max_tokens,
        messages,
        thinking,
    })
}

/// The blocks of a message (`[]` for string content).
pub(super) fn blocks(m: &Value) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A block's `type`.
pub(super) fn kind(b: &Value) -> &str {
    b.get("type").and_then(Value::as_str).unwrap_or("")
}

fn check_system(system: Option<&Value>) -> Result<(), Reply> {
    match system {
        None | Some(Value::String(_)) => Ok(()),
        Some(Value::Array(blocks)) => {
            for (j, b) in blocks.iter().enumerate() {
                if kind(b) != "text" || !b.get("text").is_some_and(Value::is_string) {
                    return Err(invalid(format!(
                        "system.{j}: system blocks must be text blocks"
                    )));
                }
            }
            Ok(())
        }
        Some(_) => Err(invalid("system: Input should be a valid string or list")),
    }
}

/// Checks `tools` and `tool_choice`; returns the tool names.
fn check_tools(req: &Map<String, Value>) -> Result<Vec<String>, Reply> {
    let mut names = Vec::new();
    if let Some(tools) = req.get("tools") {
        let Some(tools) = tools.as_array() else {
            return Err(invalid("tools: Input should be a valid list"));
        };
        for (i, t) in tools.iter().enumerate() {
            let name = t.get("name").and_then(Value::as_str).unwrap_or("");
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return Err(invalid(format!(
                    "tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                )));
            }
            if t.pointer("/input_schema/type").and_then(Value::as_str) != Some("object") {
                return Err(invalid(format!(
                    "tools.{i}.custom.input_schema.type: Input should be 'object'"
                )));
            }
            if names.iter().any(|n| n == name) {
                return Err(invalid("tools: Tool names must be unique."));
            }
            names.push(name.to_owned());
        }
    }
    if let Some(choice) = req.get("tool_choice") {
        match choice.get("type").and_then(Value::as_str) {
            Some("auto" | "any" | "none") => {}
            Some("tool") => {
                let name = choice.get("name").and_then(Value::as_str).unwrap_or("");
                if !names.iter().any(|n| n == name) {
                    return Err(invalid(format!(
                        "tool_choice.tool.name: Tool '{name}' not found in provided tools"
                    )));
                }
            }
            _ => {
                return Err(invalid(
                    "tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'",
                ));
            }
        }
    }
    Ok(names)
}

/// Checks `thinking` and what it forbids; whether thinking is enabled.
fn check_thinking(req: &Map<String, Value>, max_tokens: u64) -> Result<bool, Reply> {
    let Some(thinking) = req.get("thinking") else {
        return Ok(false);
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => return Ok(false),
        Some("enabled") => {}
        _ => {
            return Err(invalid(
                "thinking: Input tag does not match any of the expected tags: 'disabled', 'enabled'",
            ));
        }
    }
    let budget = thinking.get("budget_tokens").and_then(Value::as_u64);
    match budget {
        Some(b) if b >= 1024 => {
            if b >= max_tokens {
                return Err(invalid(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
                ));
            }
        }
        _ => {
            return Err(invalid(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
            ));
        }
    }
    if req
        .get("temperature")
        .is_some_and(|t| t.as_f64() != Some(1.0))
    {
        return Err(invalid(
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility",
        ));
    }
    if req.contains_key("top_k") {
        return Err(invalid(
            "`top_k` must be unset when thinking is enabled. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#feature-compatibility",
        ));
    }
    if matches!(
        req.get("tool_choice")
            .and_then(|c| c.get("type"))
            .and_then(Value::as_str),
        Some("any" | "tool")
    ) {
        return Err(invalid(
            "Thinking may not be enabled when tool_choice forces tool use.",
        ));
    }
    Ok(true)
}

fn check_messages(messages: &[Value], thinking: bool) -> Result<(), Reply> {
    let mut prev_role = "";
    let mut pending_tool_uses: HashSet<String> = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        let role = match m.get("role").and_then(Value::as_str) {
            Some(r @ ("user" | "assistant")) => r,
            _ => {
                return Err(invalid(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                )));
            }
        };
        if i == 0 && role != "user" {
            return Err(invalid(
                "messages: first message must use the \"user\" role",
            ));
        }
        if role == prev_role {
            return Err(invalid(format!(
                "messages: roles must alternate between \"user\" and \"assistant\", but found multiple \"{role}\" roles in a row"
            )));
        }
        match m.get("content") {
            Some(Value::String(s)) => {
                if s.is_empty() && i + 1 < messages.len() {
                    return Err(invalid(format!(
                        "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
                    )));
                }
            }
            Some(Value::Array(b)) if !b.is_empty() => {}
            _ => {
                return Err(invalid(format!(
                    "messages.{i}: all messages must have non-empty content except for the optional final assistant message"
                )));
            }
        }
        let mut seen_other = false;
        let mut answered = HashSet::new();
        let mut uses = HashSet::new();
        for (j, b) in blocks(m).iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            check_block(b, role, &at)?;
            match kind(b) {
                "tool_result" => {
                    if seen_other {
                        return Err(invalid(format!(
                            "messages.{i}: `tool_result` blocks must come first in the user content, before any other blocks"
                        )));
                    }
                    let id = b.get("tool_use_id").and_then(Value::as_str).unwrap_or("");
                    if !pending_tool_uses.contains(id) {
                        return Err(invalid(format!(
                            "{at}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                        )));
                    }
                    answered.insert(id.to_owned());
                }
                "tool_use" => {
                    uses.insert(b.get("id").and_then(Value::as_str).unwrap_or("").to_owned());
                }
                "thinking" => {
                    let text = b.get("thinking").and_then(Value::as_str).unwrap_or("");
                    if b.get("signature").and_then(Value::as_str) != Some(&signature(text)) {
                        return Err(invalid(format!(
                            "{at}: Invalid `signature` in `thinking` block"
                        )));
                    }
                }
                _ => seen_other = true,
            }
        }
        if role == "user" {
            if let Some(missing) = pending_tool_uses.iter().find(|id| !answered.contains(*id)) {
                return Err(invalid(format!(
                    "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {missing}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                    i - 1
                )));
            }
        }
        pending_tool_uses = uses;
        prev_role = role;
    }
    if thinking {
        // With thinking, the assistant turn being continued after tool use must open with
        // its (signed) thinking.
        let last_assistant = messages
            .iter()
            .enumerate()
            .rev()
            .find(|(_, m)| m.get("role").and_then(Value::as_str) == Some("assistant"));
        if let Some((i, m)) = last_assistant {
            let b = blocks(m);
            let has_tool_use = b.iter().any(|b| kind(b) == "tool_use");
            let first = b.first().map_or("text", |b| kind(b));
            if has_tool_use && !matches!(first, "thinking" | "redacted_thinking") {
                return Err(invalid(format!(
                    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns."
                )));
            }
        }
    }
    Ok(())
}

fn check_block(b: &Value, role: &str, at: &str) -> Result<(), Reply> {
    let has_str = |k: &str| b.get(k).is_some_and(Value::is_string);
    let ok = match kind(b) {
        "text" => {
            if b.get("text")
                .and_then(Value::as_str)
                .is_some_and(str::is_empty)
            {
                return Err(invalid(format!(
                    "{at}.text: text content blocks must be non-empty"
                )));
            }
            has_str("text")
        }
        "image" => match b.pointer("/source/type").and_then(Value::as_str) {
            Some("base64") => {
                let media = b
                    .pointer("/source/media_type")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !IMAGE_TYPES.contains(&media) {
                    return Err(invalid(format!(
                        "{at}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
                    )));
                }
                b.pointer("/source/data").is_some_and(Value::is_string)
            }
            Some("url") => b
                .pointer("/source/url")
                .and_then(Value::as_str)
                .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://")),
            _ => false,
        },
        "document" => b.get("source").is_some_and(Value::is_object),
        "tool_use" => {
            role == "assistant"
                && has_str("id")
                && has_str("name")
                && b.get("input").is_some_and(Value::is_object)
        }
        "tool_result" => role == "user" && has_str("tool_use_id"),
        "thinking" => role == "assistant" && has_str("thinking") && has_str("signature"),
        "redacted_thinking" => role == "assistant" && has_str("data"),
        other => {
            return Err(invalid(format!(
                "{at}.type: Input tag '{other}' found using 'type' does not match any of the expected tags"
            )));
        }
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{at}: invalid `{}` block in a {role} message",
            kind(b)
        )))
    }
}
