//! An Anthropic Messages request → the internal (OpenAI-shaped) [`ChatRequest`].
//!
//! - `system` (a string or text blocks) becomes the first message, role `system`; a block's
//!   `cache_control` stays on its content part.
//! - A `user` turn's `tool_result` blocks become `tool` messages placed before the rest of
//!   the turn; a result with `is_error: true` has its text prefixed with [`TOOL_ERROR_PREFIX`].
//!   Text, image (base64 → data URL, url → URL) and document blocks become content parts.
//! - An `assistant` turn's text becomes `content`, `tool_use` blocks become `tool_calls` (the
//!   input serialized as the JSON arguments string), and `thinking` / `redacted_thinking`
//!   blocks become `thinking_blocks`, kept byte for byte, with the thinking text also in
//!   `reasoning_content`.
//! - `max_tokens`, `stop_sequences` → `stop`, `temperature`, `top_p`, `top_k` (an extra
//!   field), `metadata.user_id` → `user`, `stream` (with `include_usage`), `tools`,
//!   `tool_choice` (`any` → `required`), `disable_parallel_tool_use` →
//!   `parallel_tool_calls: false`, `thinking.budget_tokens` → `reasoning_effort`.
//!
//! Fields this API has no internal equivalent for are dropped (logged at debug level).
//! Anything malformed is a 400 whose message starts with the field path.

use serde_json::{Map, Value, json};
use sluice_providers::anthropic::wire::{
    ContentBlock, ImageSource, InputMessage, MessageContent, MessagesRequest, System,
    ThinkingConfig, ToolChoice, ToolDef, ToolResultContent,
};
use sluice_types::{
    ChatRequest, Content, ContentPart, FunctionCall, FunctionDef, GatewayError, JsonMap, Message,
    StreamOptions, ThinkingBlock, Tool, ToolCall,
};

use super::same_shape;
use crate::body::invalid_at as invalid;

/// Prefix of the text of a `tool_result` with `is_error: true`: the internal format has no
/// error flag on tool messages, so the model reads it in the text instead.
pub const TOOL_ERROR_PREFIX: &str = "[tool error] ";

/// Thinking budgets up to this many tokens map to `reasoning_effort: low`.
const LOW_BUDGET: u64 = 2048;
/// Thinking budgets up to this many tokens (above [`LOW_BUDGET`]) map to `medium`; larger
/// ones to `high`.
const MEDIUM_BUDGET: u64 = 8192;

/// Translates a Messages request into the internal chat request.
pub fn chat_request(m: MessagesRequest) -> Result<ChatRequest, GatewayError> {
    if !m.extra.is_empty() {
        let names: Vec<&str> = m.extra.keys().map(String::as_str).collect();
        tracing::debug!(fields = ?names, "Anthropic request fields without an internal equivalent were dropped");
    }
    let mut messages = Vec::with_capacity(m.messages.len() + 1);
    if let Some(system) = m.system {
        messages.push(system_message(system)?);
    }
    for (i, turn) in m.messages.into_iter().enumerate() {
        turn_messages(turn, &format!("messages[{i}]"), &mut messages)?;
    }
    let (tool_choice, parallel_tool_calls) = match m.tool_choice {
        Some(c) => tool_choice(c),
        None => (None, None),
    };
    let mut extra = JsonMap::new();
    if let Some(k) = m.top_k {
        extra.insert("top_k".into(), json!(k));
    }
    let stream = m.stream.unwrap_or(false);
    Ok(ChatRequest {
        model: m.model,
        messages,
        stream: m.stream,
        stream_options: stream.then(|| StreamOptions {
            include_usage: Some(true),
            extra: JsonMap::new(),
        }),
        tools: m.tools.map(|t| t.into_iter().map(tool).collect()),
        tool_choice,
        parallel_tool_calls,
        temperature: m.temperature,
        top_p: m.top_p,
        max_tokens: Some(m.max_tokens),
        stop: m
            .stop_sequences
            .filter(|s| !s.is_empty())
            .map(|s| Value::Array(s.into_iter().map(Value::String).collect())),
        user: m.metadata.and_then(|md| md.user_id),
        reasoning_effort: match m.thinking {
            Some(ThinkingConfig::Enabled { budget_tokens }) => Some(effort(budget_tokens).into()),
            Some(ThinkingConfig::Disabled) | None => None,
        },
        extra,
        ..Default::default()
    })
}

/// The `reasoning_effort` for a thinking budget.
fn effort(budget_tokens: u64) -> &'static str {
    if budget_tokens <= LOW_BUDGET {
        "low"
    } else if budget_tokens <= MEDIUM_BUDGET {
        "medium"
    } else {
        "high"
    }
}

fn system_message(system: System) -> Result<Message, GatewayError> {
    let content = match system {
        System::Text(t) => Content::Text(t),
        System::Blocks(blocks) => Content::Parts(
            blocks
                .into_iter()
                .enumerate()
                .map(|(i, b)| match b {
                    ContentBlock::Text {
                        text,
                        cache_control,
                        ..
                    } => Ok(text_part(text, cache_control)),
                    _ => Err(invalid(
                        &format!("system[{i}].type"),
                        "only text blocks are allowed in the system prompt",
                    )),
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Message {
        role: "system".into(),
        content: Some(content),
        ..Default::default()
    })
}

/// Appends the internal messages of one turn to `out`.
fn turn_messages(turn: InputMessage, at: &str, out: &mut Vec<Message>) -> Result<(), GatewayError> {
    match turn.role.as_str() {
        "user" => user_turn(turn.content, at, out),
        "assistant" => {
            out.push(assistant_turn(turn.content, at)?);
            Ok(())
        }
        other => Err(invalid(
            &format!("{at}.role"),
            &format!("must be user or assistant, not {other:?}"),
        )),
    }
}

/// A user turn: its tool results as `tool` messages first, then one `user` message with the
/// other blocks (none when the turn held only tool results).
fn user_turn(
    content: MessageContent,
    at: &str,
    out: &mut Vec<Message>,
) -> Result<(), GatewayError> {
    let blocks = match content {
        MessageContent::Text(t) => {
            out.push(message("user", Content::Text(t)));
            return Ok(());
        }
        MessageContent::Blocks(blocks) => blocks,
    };
    let mut parts = Vec::new();
    for (at, block) in each_block(blocks, at) {
        if let ContentBlock::ToolResult {
            tool_use_id,
            content,
            is_error,
            ..
        } = block
        {
            out.push(tool_message(tool_use_id, content, is_error, &at)?);
        } else {
            parts.push(user_part(block, &at)?);
        }
    }
    if !parts.is_empty() {
        out.push(message("user", Content::Parts(parts)));
    }
    Ok(())
}

/// The blocks of the turn at `at`, each with its path (`{at}.content[j]`).
fn each_block(
    blocks: Vec<ContentBlock>,
    at: &str,
) -> impl Iterator<Item = (String, ContentBlock)> + '_ {
    blocks
        .into_iter()
        .enumerate()
        .map(move |(j, b)| (format!("{at}.content[{j}]"), b))
}

fn message(role: &str, content: Content) -> Message {
    Message {
        role: role.into(),
        content: Some(content),
        ..Default::default()
    }
}

fn text_part(text: String, cache_control: Option<Value>) -> ContentPart {
    ContentPart {
        kind: "text".into(),
        text: Some(text),
        extra: with_cache_control(JsonMap::new(), cache_control),
    }
}

fn with_cache_control(mut extra: JsonMap, cache_control: Option<Value>) -> JsonMap {
    if let Some(cc) = cache_control {
        extra.insert("cache_control".into(), cc);
    }
    extra
}

/// A part with one payload field (`image_url`, `file`) and the block's `cache_control`.
fn payload_part(kind: &str, payload: Value, cache_control: Option<Value>) -> ContentPart {
    let mut extra = Map::new();
    extra.insert(kind.into(), payload);
    ContentPart {
        kind: kind.into(),
        text: None,
        extra: with_cache_control(extra, cache_control),
    }
}

/// A block of user content (or of a tool result) as a content part.
fn user_part(block: ContentBlock, at: &str) -> Result<ContentPart, GatewayError> {
    match block {
        ContentBlock::Text {
            text,
            cache_control,
            ..
        } => Ok(text_part(text, cache_control)),
        ContentBlock::Image {
            source,
            cache_control,
        } => {
            let url = match source {
                ImageSource::Base64 { media_type, data } => {
                    format!("data:{media_type};base64,{data}")
                }
                ImageSource::Url { url } => url,
                ImageSource::File { .. } => {
                    return Err(invalid(
                        &format!("{at}.source"),
                        "Files API images cannot be routed to other providers; send base64 or a URL",
                    ));
                }
            };
            Ok(payload_part(
                "image_url",
                json!({ "url": url }),
                cache_control,
            ))
        }
        ContentBlock::Document {
            source,
            title,
            cache_control,
        } => document_part(&source, title, cache_control, at),
        ContentBlock::ToolUse { .. }
        | ContentBlock::Thinking { .. }
        | ContentBlock::RedactedThinking { .. } => Err(invalid(
            &format!("{at}.type"),
            "tool_use and thinking blocks belong in assistant turns",
        )),
        ContentBlock::ToolResult { .. } => Err(invalid(
            &format!("{at}.type"),
            "a tool_result cannot be nested in a tool_result",
        )),
        ContentBlock::Unknown => Err(invalid(
            &format!("{at}.type"),
            "this content block type cannot be routed to other providers",
        )),
    }
}

/// A document block: base64 as an OpenAI `file` part with a data URL, plain text as a text
/// part.
fn document_part(
    source: &Value,
    title: Option<String>,
    cache_control: Option<Value>,
    at: &str,
) -> Result<ContentPart, GatewayError> {
    let field = |name: &str| source.get(name).and_then(Value::as_str);
    match field("type") {
        Some("base64") => {
            let (Some(media_type), Some(data)) = (field("media_type"), field("data")) else {
                return Err(invalid(
                    &format!("{at}.source"),
                    "a base64 document needs media_type and data",
                ));
            };
            let mut file = json!({ "file_data": format!("data:{media_type};base64,{data}") });
            if let (Some(title), Some(obj)) = (title, file.as_object_mut()) {
                obj.insert("filename".into(), Value::String(title));
            }
            Ok(payload_part("file", file, cache_control))
        }
        Some("text") => {
            let data = field("data")
                .ok_or_else(|| invalid(&format!("{at}.source.data"), "is required"))?;
            Ok(text_part(data.to_owned(), cache_control))
        }
        _ => Err(invalid(
            &format!("{at}.source.type"),
            "only base64 and text documents can be routed to other providers",
        )),
    }
}

/// A `tool_result` block as a `tool` message.
fn tool_message(
    tool_use_id: String,
    content: Option<ToolResultContent>,
    is_error: Option<bool>,
    at: &str,
) -> Result<Message, GatewayError> {
    let error = is_error == Some(true);
    let content = match content {
        None => Content::Text(if error {
            TOOL_ERROR_PREFIX.trim_end().to_owned()
        } else {
            String::new()
        }),
        Some(ToolResultContent::Text(t)) if error => {
            Content::Text(format!("{TOOL_ERROR_PREFIX}{t}"))
        }
        Some(ToolResultContent::Text(t)) => Content::Text(t),
        Some(ToolResultContent::Blocks(blocks)) => {
            let mut parts = each_block(blocks, at)
                .map(|(at, b)| user_part(b, &at))
                .collect::<Result<Vec<_>, _>>()?;
            if error {
                parts.insert(0, text_part(TOOL_ERROR_PREFIX.trim_end().to_owned(), None));
            }
            Content::Parts(parts)
        }
    };
    Ok(Message {
        role: "tool".into(),
        content: Some(content),
        tool_call_id: Some(tool_use_id),
        ..Default::default()
    })
}

/// An assistant turn: text as `content`, `tool_use` as `tool_calls`, thinking as
/// `thinking_blocks` plus `reasoning_content`.
fn assistant_turn(content: MessageContent, at: &str) -> Result<Message, GatewayError> {
    let blocks = match content {
        MessageContent::Text(t) => return Ok(message("assistant", Content::Text(t))),
        MessageContent::Blocks(blocks) => blocks,
    };
    let mut texts: Vec<ContentPart> = Vec::new();
    let mut tool_calls = Vec::new();
    let mut thinking_blocks = Vec::new();
    let mut reasoning = String::new();
    for (at, block) in each_block(blocks, at) {
        match block {
            ContentBlock::Text {
                text,
                cache_control,
                ..
            } => texts.push(text_part(text, cache_control)),
            ContentBlock::ToolUse {
                id,
                name,
                input,
                cache_control,
            } => tool_calls.push(ToolCall {
                id,
                kind: "function".into(),
                function: FunctionCall {
                    name,
                    arguments: input.to_string(),
                },
                extra: with_cache_control(JsonMap::new(), cache_control),
            }),
            block @ (ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. }) => {
                // The internal thinking block has Anthropic's JSON shape: a serde round trip
                // keeps every field as sent.
                let tb: ThinkingBlock = same_shape(&block).map_err(|e| {
                    GatewayError::internal(format!("{at}: could not keep a thinking block: {e}"))
                })?;
                reasoning.push_str(tb.thinking.as_deref().unwrap_or_default());
                thinking_blocks.push(tb);
            }
            _ => {
                return Err(invalid(
                    &format!("{at}.type"),
                    "assistant turns may hold text, tool_use, thinking and redacted_thinking blocks",
                ));
            }
        }
    }
    let content = if texts.iter().any(|p| p.extra.contains_key("cache_control")) {
        Some(Content::Parts(texts))
    } else if texts.is_empty() {
        None
    } else {
        Some(Content::Text(
            texts.into_iter().filter_map(|p| p.text).collect(),
        ))
    };
    Ok(Message {
        role: "assistant".into(),
        content,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        thinking_blocks: (!thinking_blocks.is_empty()).then_some(thinking_blocks),
        ..Default::default()
    })
}

/// A tool definition as a function tool; `cache_control` stays on the tool.
fn tool(t: ToolDef) -> Tool {
    Tool {
        kind: "function".into(),
        function: Some(FunctionDef {
            name: t.name,
            description: t.description,
            parameters: Some(t.input_schema),
            strict: None,
            extra: JsonMap::new(),
        }),
        extra: with_cache_control(JsonMap::new(), t.cache_control),
    }
}

/// `tool_choice` and `parallel_tool_calls`.
fn tool_choice(c: ToolChoice) -> (Option<Value>, Option<bool>) {
    let (choice, single) = match c {
        ToolChoice::Auto {
            disable_parallel_tool_use,
        } => (json!("auto"), disable_parallel_tool_use),
        ToolChoice::Any {
            disable_parallel_tool_use,
        } => (json!("required"), disable_parallel_tool_use),
        ToolChoice::Tool {
            name,
            disable_parallel_tool_use,
        } => (
            json!({"type": "function", "function": {"name": name}}),
            disable_parallel_tool_use,
        ),
        ToolChoice::None => (json!("none"), None),
    };
    (Some(choice), (single == Some(true)).then_some(false))
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
