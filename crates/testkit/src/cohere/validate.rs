//! Request validation for the Cohere mock, with the rules (and close to the messages) of the
//! real Chat API v2, so that a translation bug fails a test instead of passing silently.

use std::collections::HashSet;

use serde_json::{Map, Value};

/// Top-level fields of a Chat v2 request.
const FIELDS: &[&str] = &[
    "stream",
    "model",
    "messages",
    "tools",
    "strict_tools",
    "documents",
    "citation_options",
    "response_format",
    "safety_mode",
    "max_tokens",
    "stop_sequences",
    "temperature",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "k",
    "p",
    "logprobs",
    "tool_choice",
    "thinking",
    "priority",
];

/// Image types the API accepts inline.
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

type Checked<T = ()> = Result<T, String>;

fn bad<T>(message: impl Into<String>) -> Checked<T> {
    Err(format!("invalid request: {}", message.into()))
}

/// Checks a request body; the API's error message, if any.
pub(super) fn request(req: &Map<String, Value>) -> Checked {
    if let Some(k) = req.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return bad(format!("unknown field `{k}`"));
    }
    match req.get("model") {
        Some(Value::String(m)) if !m.is_empty() => {}
        _ => return bad("model must be a non-empty string"),
    }
    let tool_names = tools(req.get("tools"))?;
    let messages = match req.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => return bad("messages must not be empty"),
        _ => return bad("messages is required"),
    };
    let mut call_ids = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        message(m, &mut call_ids).map_err(|e| {
            e.replacen(
                "invalid request: ",
                &format!("invalid request: messages[{i}]: "),
                1,
            )
        })?;
    }
    match req.get("tool_choice") {
        None => {}
        Some(Value::String(c)) if (c == "REQUIRED" || c == "NONE") && tool_names.is_empty() => {
            return bad("tool_choice can only be used with tools");
        }
        Some(Value::String(c)) if c == "REQUIRED" || c == "NONE" => {}
        Some(_) => return bad("tool_choice must be one of REQUIRED, NONE"),
    }
    response_format(req, tool_names.is_empty())?;
    numbers(req)?;
    if let Some(t) = req.get("thinking") {
        thinking(t)?;
    }
    for field in ["stream", "logprobs", "strict_tools"] {
        if req.get(field).is_some_and(|v| !v.is_boolean()) {
            return bad(format!("{field} must be a boolean"));
        }
    }
    if let Some(mode) = req.get("safety_mode") {
        if !matches!(mode.as_str(), Some("CONTEXTUAL" | "STRICT" | "OFF")) {
            return bad("safety_mode must be one of CONTEXTUAL, STRICT, OFF");
        }
    }
    match req.get("stop_sequences") {
        None => {}
        Some(Value::Array(s)) if s.len() <= 5 && s.iter().all(Value::is_string) => {}
        Some(_) => return bad("stop_sequences must be a list of at most 5 strings"),
    }
    Ok(())
}

/// Numeric parameters and their ranges.
fn numbers(req: &Map<String, Value>) -> Checked {
    for (field, lo, hi) in [
        ("temperature", 0.0, 1.0),
        ("p", 0.01, 0.99),
        ("frequency_penalty", 0.0, 1.0),
        ("presence_penalty", 0.0, 1.0),
    ] {
        if let Some(v) = req.get(field) {
            if !v.as_f64().is_some_and(|x| (lo..=hi).contains(&x)) {
                return bad(format!("{field} must be between {lo} and {hi}"));
            }
        }
    }
    for (field, lo, hi) in [
        ("k", 0, 500),
        ("max_tokens", 1, u64::MAX),
        ("seed", 0, u64::MAX),
        ("priority", 0, 999),
    ] {
        if let Some(v) = req.get(field) {
            if !v.as_u64().is_some_and(|x| (lo..=hi).contains(&x)) {
                return bad(format!("{field} must be an integer of at least {lo}"));
            }
        }
    }
    Ok(())
}

/// The tool names, after checking each definition.
fn tools(tools: Option<&Value>) -> Checked<Vec<String>> {
    let Some(tools) = tools else {
        return Ok(Vec::new());
    };
    let Some(tools) = tools.as_array() else {
        return bad("tools must be a list");
    };
    let mut names = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        if t.get("type").and_then(Value::as_str) != Some("function") {
            return bad(format!("tools[{i}].type must be function"));
        }
        let Some(f) = t.get("function").and_then(Value::as_object) else {
            return bad(format!("tools[{i}].function is required"));
        };
        if let Some(k) = f
            .keys()
            .find(|k| !matches!(k.as_str(), "name" | "description" | "parameters"))
        {
            return bad(format!("tools[{i}].function: unknown field `{k}`"));
        }
        match f.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => names.push(n.to_owned()),
            _ => return bad(format!("tools[{i}].function.name is required")),
        }
        if !f.get("parameters").is_some_and(Value::is_object) {
            return bad(format!("tools[{i}].function.parameters must be an object"));
        }
    }
    Ok(names)
}

fn response_format(req: &Map<String, Value>, no_tools: bool) -> Checked {
    let Some(format) = req.get("response_format") else {
        return Ok(());
    };
    let Some(format) = format.as_object() else {
        return bad("response_format must be an object");
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") if format.contains_key("json_schema") => {
            return bad("json_schema must not be specified when the type is text");
        }
        Some("text" | "json_object") => {}
        _ => return bad("response_format.type must be one of text, json_object"),
    }
    if format.get("json_schema").is_some_and(|s| !s.is_object()) {
        return bad("response_format.json_schema must be an object");
    }
    if !no_tools || req.contains_key("documents") {
        return bad("response_format is not supported with tools or documents");
    }
    Ok(())
}

fn thinking(t: &Value) -> Checked {
    let Some(t) = t.as_object() else {
        return bad("thinking must be an object");
    };
    if let Some(k) = t
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "token_budget"))
    {
        return bad(format!("thinking: unknown field `{k}`"));
    }
    if !matches!(
        t.get("type").and_then(Value::as_str),
        Some("enabled" | "disabled")
    ) {
        return bad("thinking.type must be one of enabled, disabled");
    }
    if t.get("token_budget")
        .is_some_and(|b| b.as_u64().is_none_or(|b| b < 1))
    {
        return bad("thinking.token_budget must be a positive integer");
    }
    Ok(())
}

/// Checks one message; records the tool-call ids of assistant turns.
fn message(m: &Value, call_ids: &mut HashSet<String>) -> Checked {
    let Some(m) = m.as_object() else {
        return bad("a message must be an object");
    };
    let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
    let allowed: &[&str] = match role {
        "system" | "user" => &["role", "content"],
        "assistant" => &["role", "content", "tool_calls", "tool_plan", "citations"],
        "tool" => &["role", "tool_call_id", "content"],
        _ => return bad("role must be one of system, user, assistant, tool"),
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return bad(format!("unknown field `{k}` in a {role} message"));
    }
    match role {
        "system" => content(m.get("content"), &["text"], true),
        "user" => content(m.get("content"), &["text", "image_url"], true),
        "tool" => {
            let id = m
                .get("tool_call_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !call_ids.contains(id) {
                return bad(format!(
                    "tool_call_id {id:?} does not match a tool call of a previous assistant message"
                ));
            }
            content(m.get("content"), &["text", "document"], true)
        }
        _ => {
            let calls = m.get("tool_calls").and_then(Value::as_array);
            if m.get("content").is_none() && calls.is_none_or(Vec::is_empty) {
                return bad("an assistant message needs content or tool_calls");
            }
            if m.contains_key("content") {
                content(m.get("content"), &["text", "thinking"], false)?;
            }
            for call in calls.into_iter().flatten() {
                let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
                let name = call.pointer("/function/name").and_then(Value::as_str);
                let args = call.pointer("/function/arguments").and_then(Value::as_str);
                if id.is_empty() || name.is_none_or(str::is_empty) {
                    return bad("a tool call needs an id and a function name");
                }
                if args.is_none_or(|a| serde_json::from_str::<Value>(a).is_err()) {
                    return bad("tool call arguments must be a JSON string");
                }
                call_ids.insert(id.to_owned());
            }
            Ok(())
        }
    }
}

/// Checks message content: a string, or blocks of the allowed types.
fn content(c: Option<&Value>, types: &[&str], required: bool) -> Checked {
    let blocks = match c {
        None if required => return bad("content is required"),
        None | Some(Value::String(_)) => return Ok(()),
        Some(Value::Array(b)) => b,
        Some(_) => return bad("content must be a string or a list of content blocks"),
    };
    for b in blocks {
        let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
        if !types.contains(&kind) {
            return bad(format!(
                "content blocks of type {kind:?} are not allowed here"
            ));
        }
        match kind {
            "text" if !b.get("text").is_some_and(Value::is_string) => {
                return bad("a text block needs text");
            }
            "thinking" if !b.get("thinking").is_some_and(Value::is_string) => {
                return bad("a thinking block needs thinking");
            }
            "image_url" => image(b.get("image_url"))?,
            _ => {}
        }
    }
    Ok(())
}

fn image(image: Option<&Value>) -> Checked {
    let url = image
        .and_then(|i| i.get("url"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(detail) = image.and_then(|i| i.get("detail")) {
        if !matches!(detail.as_str(), Some("auto" | "low" | "high")) {
            return bad("image_url.detail must be one of auto, low, high");
        }
    }
    if let Some(rest) = url.strip_prefix("data:") {
        let ok = rest
            .split_once(";base64,")
            .is_some_and(|(media, data)| IMAGE_TYPES.contains(&media) && !data.is_empty());
        return if ok {
            Ok(())
        } else {
            bad("image_url.url must be a base64 data URI of a JPEG, PNG, GIF or WebP image")
        };
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(());
    }
    bad("image_url.url must be a web URL or a base64 data URI")
}
