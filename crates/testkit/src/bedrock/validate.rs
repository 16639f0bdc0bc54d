//! Request validation for the Bedrock mock, with the rules (and close to the messages) of
//! the real Converse API, so that a translation bug fails a test instead of passing silently.

use serde_json::{Map, Value};

use super::{error_reply, signature};
use crate::wire::Reply;

/// A request that passed validation.
pub(super) struct Checked {
    pub(super) req: Map<String, Value>,
    pub(super) messages: Vec<Value>,
    pub(super) max_tokens: Option<u64>,
    /// Anthropic thinking is enabled (`additionalModelRequestFields.thinking`).
    pub(super) thinking: bool,
}

fn invalid(message: impl Into<String>) -> Reply {
    error_reply(400, "ValidationException", &message.into())
}

/// The one member set in a union object, if exactly one is.
pub(super) fn member(v: &Value) -> Option<(&str, &Value)> {
    let map = v.as_object()?;
    let mut it = map.iter();
    let (k, v) = it.next()?;
    it.next().is_none().then_some((k.as_str(), v))
}

/// The value at a JSON pointer (`/a/b`) of the request object.
fn at<'a>(req: &'a Map<String, Value>, pointer: &str) -> Option<&'a Value> {
    let mut parts = pointer.trim_start_matches('/').splitn(2, '/');
    let first = req.get(parts.next()?)?;
    match parts.next() {
        Some(rest) => first.pointer(&format!("/{rest}")),
        None => Some(first),
    }
}

/// The blocks of a message.
pub(super) fn blocks(m: &Value) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Checks the body; the error reply the API would give, if any.
pub(super) fn check(body: &[u8]) -> Result<Checked, Reply> {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid("Unable to parse the request body as JSON."));
    };
    let max_tokens = check_inference(&req)?;
    let tools = check_tools(&req)?;
    let thinking = check_thinking(&req, max_tokens)?;
    if let Some(system) = req.get("system") {
        let Some(system) = system.as_array() else {
            return Err(invalid(
                "1 validation error detected: Value at 'system' failed to satisfy constraint: Member must be a list",
            ));
        };
        for (i, b) in system.iter().enumerate() {
            match member(b) {
                Some(("text", Value::String(t))) if !t.trim().is_empty() => {}
                Some(("cachePoint" | "guardContent", _)) => {}
                _ => {
                    return Err(invalid(format!(
                        "The system block at system.{i} is invalid: it must hold exactly one of text, cachePoint or guardContent, and text must not be blank."
                    )));
                }
            }
        }
    }
    if let Some(g) = req.get("guardrailConfig") {
        let ok = g.get("guardrailIdentifier").is_some_and(Value::is_string)
            && g.get("guardrailVersion").is_some_and(Value::is_string);
        if !ok {
            return Err(invalid(
                "The guardrailConfig needs guardrailIdentifier and guardrailVersion.",
            ));
        }
    }
    let messages = match req.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m.clone(),
        _ => {
            return Err(invalid(
                "1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null",
            ));
        }
    };
    check_messages(&messages, thinking)?;
    let uses_tools = messages.iter().any(|m| {
        blocks(m)
            .iter()
            .any(|b| matches!(member(b), Some(("toolUse" | "toolResult", _))))
    });
    if uses_tools && tools.is_empty() {
        return Err(invalid(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
        ));
    }
    Ok(Checked {
        req,
        messages,
        max_tokens,
        thinking,
    })
}

/// Checks `inferenceConfig`; returns `maxTokens`.
fn check_inference(req: &Map<String, Value>) -> Result<Option<u64>, Reply> {
    let Some(cfg) = req.get("inferenceConfig") else {
        return Ok(None);
    };
    let Some(cfg) = cfg.as_object() else {
        return Err(invalid("inferenceConfig must be an object"));
    };
    for key in cfg.keys() {
        if !matches!(
            key.as_str(),
            "maxTokens" | "temperature" | "topP" | "stopSequences"
        ) {
            return Err(invalid(format!(
                "1 validation error detected: Unknown field '{key}' in 'inferenceConfig'"
            )));
        }
    }
    let max_tokens = match cfg.get("maxTokens") {
        None => None,
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Some(n),
            _ => {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{v}' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"
                )));
            }
        },
    };
    for field in ["temperature", "topP"] {
        if let Some(v) = cfg.get(field) {
            if !v.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)) {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{v}' at 'inferenceConfig.{field}' failed to satisfy constraint: Member must have value less than or equal to 1"
                )));
            }
        }
    }
    if let Some(stop) = cfg.get("stopSequences") {
        if !stop
            .as_array()
            .is_some_and(|s| s.iter().all(|x| x.as_str().is_some_and(|x| !x.is_empty())))
        {
            return Err(invalid(
                "inferenceConfig.stopSequences must be a list of non-empty strings",
            ));
        }
    }
    Ok(max_tokens)
}

/// Checks `toolConfig`; returns the tool names.
fn check_tools(req: &Map<String, Value>) -> Result<Vec<String>, Reply> {
    let Some(cfg) = req.get("toolConfig") else {
        return Ok(Vec::new());
    };
    let tools = match cfg.get("tools").and_then(Value::as_array) {
        Some(t) if !t.is_empty() => t,
        _ => {
            return Err(invalid(
                "1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
    };
    let mut names: Vec<String> = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let spec = match member(t) {
            Some(("toolSpec", spec)) => spec,
            Some(("cachePoint", _)) => continue,
            _ => {
                return Err(invalid(format!(
                    "toolConfig.tools.{i} must hold exactly one toolSpec or cachePoint"
                )));
            }
        };
        let name = spec.get("name").and_then(Value::as_str).unwrap_or("");
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(invalid(format!(
                "1 validation error detected: Value '{name}' at 'toolConfig.tools.{}.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
                i + 1
            )));
        }
        if !spec
            .pointer("/inputSchema/json")
            .is_some_and(Value::is_object)
        {
            return Err(invalid(format!(
                "The inputSchema of tool {name} must hold a JSON object under json."
            )));
        }
        if names.iter().any(|n| n == name) {
            return Err(invalid(format!(
                "The tool name {name} is used more than once."
            )));
        }
        names.push(name.to_owned());
    }
    if let Some(choice) = cfg.get("toolChoice") {
        match member(choice) {
            Some(("auto" | "any", v)) if v.is_object() => {}
            Some(("tool", v)) => {
                let name = v.get("name").and_then(Value::as_str).unwrap_or("");
                if !names.iter().any(|n| n == name) {
                    return Err(invalid(format!(
                        "The tool {name} in toolChoice is not one of the tools in toolConfig."
                    )));
                }
            }
            _ => {
                return Err(invalid(
                    "toolChoice must hold exactly one of auto, any or tool.",
                ));
            }
        }
    }
    Ok(names)
}

/// Checks Anthropic `thinking`; whether it is enabled.
fn check_thinking(req: &Map<String, Value>, max_tokens: Option<u64>) -> Result<bool, Reply> {
    let Some(thinking) = at(req, "/additionalModelRequestFields/thinking") else {
        return Ok(false);
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => return Ok(false),
        Some("enabled") => {}
        _ => {
            return Err(invalid(
                "thinking.type: Input tag does not match any of the expected tags: 'disabled', 'enabled'",
            ));
        }
    }
    let budget = thinking.get("budget_tokens").and_then(Value::as_u64);
    let Some(budget) = budget.filter(|b| *b >= 1024) else {
        return Err(invalid(
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ));
    };
    if max_tokens.is_none_or(|m| budget >= m) {
        return Err(invalid(
            "`max_tokens` must be greater than `thinking.budget_tokens`.",
        ));
    }
    if at(req, "/inferenceConfig/temperature").is_some_and(|t| t.as_f64() != Some(1.0)) {
        return Err(invalid(
            "`temperature` may only be set to 1 when thinking is enabled.",
        ));
    }
    if at(req, "/additionalModelRequestFields/top_k").is_some() {
        return Err(invalid("`top_k` must be unset when thinking is enabled."));
    }
    let forced = at(req, "/toolConfig/toolChoice")
        .and_then(member)
        .is_some_and(|(k, _)| k == "any" || k == "tool");
    if forced {
        return Err(invalid(
            "Thinking may not be enabled when tool_choice forces tool use.",
        ));
    }
    Ok(true)
}

/// Checks roles, blocks, tool pairing and reasoning signatures.
fn check_messages(messages: &[Value], thinking: bool) -> Result<(), Reply> {
    let mut prev_role = "";
    let mut open_calls: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if !matches!(role, "user" | "assistant") {
            return Err(invalid(format!(
                "1 validation error detected: Value '{role}' at 'messages.{}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                i + 1
            )));
        }
        if i == 0 && role != "user" {
            return Err(invalid(
                "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
            ));
        }
        if role == prev_role {
            return Err(invalid(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
            ));
        }
        prev_role = role;
        let bs = blocks(m);
        if bs.is_empty() {
            return Err(invalid(format!(
                "The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again."
            )));
        }
        let mut results = Vec::new();
        let mut calls = Vec::new();
        for (j, b) in bs.iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            let Some((kind, v)) = member(b) else {
                return Err(invalid(format!(
                    "The ContentBlock at {at} must hold exactly one member."
                )));
            };
            match (kind, role) {
                ("text", _) => {
                    if v.as_str().is_none_or(|t| t.trim().is_empty()) {
                        return Err(invalid(format!(
                            "The text field in the ContentBlock object at {at} is blank. Add text to the text field, and try again."
                        )));
                    }
                }
                ("image", "user") => check_image(v, &at)?,
                ("cachePoint", _) => {}
                ("toolUse", "assistant") => {
                    let id = v.get("toolUseId").and_then(Value::as_str).unwrap_or("");
                    if id.is_empty() || !v.get("input").is_some_and(Value::is_object) {
                        return Err(invalid(format!(
                            "The toolUse at {at} needs a toolUseId and an object input."
                        )));
                    }
                    calls.push(id.to_owned());
                }
                ("toolResult", "user") => {
                    results.push(
                        v.get("toolUseId")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    );
                }
                ("reasoningContent", "assistant") => check_reasoning(v, &at)?,
                _ => {
                    return Err(invalid(format!(
                        "The {kind} block at {at} is not allowed in a {role} message."
                    )));
                }
            }
        }
        if role == "user" {
            for id in &results {
                if !open_calls.contains(id) {
                    return Err(invalid(format!(
                        "The toolResult at messages.{i} has toolUseId {id}, which does not match any toolUse of the previous turn."
                    )));
                }
            }
            if !open_calls.is_empty() && results.len() != open_calls.len() {
                return Err(invalid(format!(
                    "Expected toolResult blocks at messages.{i}.content for the following Ids: {}",
                    open_calls.join(", ")
                )));
            }
        } else if thinking && !calls.is_empty() {
            // With thinking on, a turn that calls tools must open with its reasoning.
            let first = bs.first().and_then(member).map(|(k, _)| k);
            if first != Some("reasoningContent") {
                return Err(invalid(format!(
                    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block.",
                    first.unwrap_or("none")
                )));
            }
        }
        open_calls = calls;
    }
    Ok(())
}

fn check_image(v: &Value, at: &str) -> Result<(), Reply> {
    let format = v.get("format").and_then(Value::as_str).unwrap_or("");
    if !matches!(format, "png" | "jpeg" | "gif" | "webp") {
        return Err(invalid(format!(
            "1 validation error detected: Value '{format}' at '{at}.image.format' failed to satisfy constraint: Member must satisfy enum value set: [png, jpeg, gif, webp]"
        )));
    }
    let bytes = v
        .pointer("/source/bytes")
        .and_then(Value::as_str)
        .unwrap_or("");
    match aws_smithy_types::base64::decode(bytes) {
        Ok(b) if !b.is_empty() => Ok(()),
        _ => Err(invalid(format!(
            "The image at {at} has no valid base64 bytes."
        ))),
    }
}

fn check_reasoning(v: &Value, at: &str) -> Result<(), Reply> {
    match member(v) {
        Some(("reasoningText", rt)) => {
            let text = rt.get("text").and_then(Value::as_str).unwrap_or("");
            let sig = rt.get("signature").and_then(Value::as_str);
            if sig != Some(signature(text).as_str()) {
                return Err(invalid(format!(
                    "Invalid `signature` in the reasoning block at {at}."
                )));
            }
            Ok(())
        }
        Some(("redactedContent", Value::String(_))) => Ok(()),
        _ => Err(invalid(format!(
            "The reasoningContent at {at} must hold reasoningText or redactedContent."
        ))),
    }
}
