//! Translating an OpenAI conversation into Anthropic's: `system` / `developer` messages
//! become the top-level `system`; `tool` messages become `tool_result` blocks of a `user`
//! turn; assistant `tool_calls` become `tool_use` blocks after the turn's thinking blocks
//! (sent back unchanged, signatures included) and text; consecutive turns of one role are
//! merged, since Anthropic requires them to alternate. Content parts map to text, image and
//! document blocks, and a part's `cache_control` passes through.

use serde_json::{Value, json};
use sluice_types::{Content, ContentPart, GatewayError, JsonMap, Message, ThinkingBlock};

use super::request::{Cx, invalid};
use super::wire::{
    ContentBlock, ImageSource, InputMessage, MessageContent, System, ToolResultContent,
};
use crate::translate::{assistant_part_text, part_text};

/// The part of a Messages request that holds the conversation.
pub(super) struct Conversation {
    pub(super) system: Option<System>,
    pub(super) messages: Vec<InputMessage>,
}

/// One Anthropic turn being built.
struct Turn {
    role: &'static str,
    blocks: Vec<ContentBlock>,
    /// Built from exactly one plain-string message: sent as a string.
    plain: bool,
}

/// A part's `cache_control`, passed through as sent.
pub(super) fn cache_control(extra: &JsonMap) -> Option<Value> {
    extra.get("cache_control").filter(|v| !v.is_null()).cloned()
}

impl Conversation {
    pub(super) fn from_messages(cx: &Cx<'_>, messages: &[Message]) -> Result<Self, GatewayError> {
        let mut system = Vec::new();
        let mut turns: Vec<Turn> = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let at = format!("messages[{i}]");
            let (role, blocks, plain) = match m.role.as_str() {
                "system" | "developer" => {
                    system.extend(text_blocks(m.content.as_ref(), &at)?);
                    continue;
                }
                "user" => (
                    "user",
                    user_blocks(m.content.as_ref(), &at)?,
                    matches!(m.content, Some(Content::Text(_))),
                ),
                "assistant" => {
                    let blocks = assistant_blocks(m, &at)?;
                    let plain = matches!(m.content, Some(Content::Text(_)))
                        && m.tool_calls.as_ref().is_none_or(Vec::is_empty)
                        && blocks.len() == 1;
                    ("assistant", blocks, plain)
                }
                "tool" => ("user", vec![tool_result(m, &at)?], false),
                "function" => {
                    return Err(cx.unsupported(
                        &format!("{at}.role"),
                        "legacy function messages are not translated; use tool messages",
                    ));
                }
                other => {
                    return Err(invalid(
                        &format!("{at}.role"),
                        &format!("unknown role {other:?}"),
                    ));
                }
            };
            if blocks.is_empty() {
                // An empty assistant turn says nothing; Anthropic rejects empty content.
                if role == "assistant" {
                    continue;
                }
            }
            match turns.last_mut() {
                Some(last) if last.role == role => {
                    last.blocks.extend(blocks);
                    last.plain = false;
                }
                _ => turns.push(Turn {
                    role,
                    blocks,
                    plain,
                }),
            }
        }
        Ok(Conversation {
            system: system_prompt(system),
            messages: turns.into_iter().map(Turn::finish).collect(),
        })
    }
}

impl Turn {
    fn finish(mut self) -> InputMessage {
        // Anthropic wants a user turn's tool results before anything else in it.
        if self.role == "user" {
            let (mut results, rest): (Vec<_>, Vec<_>) = self
                .blocks
                .into_iter()
                .partition(|b| matches!(b, ContentBlock::ToolResult { .. }));
            results.extend(rest);
            self.blocks = results;
        }
        let content = match self.blocks.as_slice() {
            [
                ContentBlock::Text {
                    text,
                    citations: None,
                    cache_control: None,
                },
            ] if self.plain => MessageContent::Text(text.clone()),
            _ => MessageContent::Blocks(self.blocks),
        };
        InputMessage {
            role: self.role.to_owned(),
            content,
        }
    }
}

/// The `system` prompt: a string, or blocks when any part carries `cache_control`.
fn system_prompt(blocks: Vec<ContentBlock>) -> Option<System> {
    if blocks.is_empty() {
        return None;
    }
    let cached = blocks.iter().any(|b| {
        matches!(
            b,
            ContentBlock::Text {
                cache_control: Some(_),
                ..
            }
        )
    });
    if cached {
        return Some(System::Blocks(blocks));
    }
    let texts: Vec<&str> = blocks
        .iter()
        .filter_map(|b| match b {
            ContentBlock::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    Some(System::Text(texts.join("\n\n")))
}

fn text_block(text: String, cache_control: Option<Value>) -> ContentBlock {
    ContentBlock::Text {
        text,
        citations: None,
        cache_control,
    }
}

/// Text-only content (system prompts): every part must be text.
fn text_blocks(content: Option<&Content>, at: &str) -> Result<Vec<ContentBlock>, GatewayError> {
    match content {
        None => Ok(Vec::new()),
        Some(Content::Text(t)) => Ok(vec![text_block(t.clone(), None)]),
        Some(Content::Parts(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| {
                let at = format!("{at}.content[{j}]");
                if p.kind != "text" {
                    return Err(invalid(
                        &format!("{at}.type"),
                        "only text parts are allowed here",
                    ));
                }
                part_text(p, &at).map(|t| text_block(t, cache_control(&p.extra)))
            })
            .collect(),
    }
}

/// User content: text, images and files.
fn user_blocks(content: Option<&Content>, at: &str) -> Result<Vec<ContentBlock>, GatewayError> {
    match content {
        None => Err(invalid(&format!("{at}.content"), "is required")),
        Some(Content::Text(t)) => Ok(vec![text_block(t.clone(), None)]),
        Some(Content::Parts(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| user_part(p, &format!("{at}.content[{j}]")))
            .collect(),
    }
}

fn user_part(p: &ContentPart, at: &str) -> Result<ContentBlock, GatewayError> {
    let cache_control = cache_control(&p.extra);
    match p.kind.as_str() {
        "text" => Ok(text_block(part_text(p, at)?, cache_control)),
        "image_url" => {
            let url = match p.extra.get("image_url") {
                Some(Value::String(u)) => u.as_str(),
                Some(v) => v
                    .get("url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(&format!("{at}.image_url.url"), "is required"))?,
                None => return Err(invalid(&format!("{at}.image_url"), "is required")),
            };
            Ok(ContentBlock::Image {
                source: image_source(url, &format!("{at}.image_url.url"))?,
                cache_control,
            })
        }
        "file" => {
            let file = p
                .extra
                .get("file")
                .ok_or_else(|| invalid(&format!("{at}.file"), "is required"))?;
            let Some(data_url) = file.get("file_data").and_then(Value::as_str) else {
                return Err(invalid(
                    &format!("{at}.file.file_data"),
                    "is required: OpenAI file ids cannot be sent to Anthropic",
                ));
            };
            let (media_type, data) = data_url_parts(data_url).ok_or_else(|| {
                invalid(&format!("{at}.file.file_data"), "must be a base64 data URL")
            })?;
            Ok(ContentBlock::Document {
                source: json!({"type": "base64", "media_type": media_type, "data": data}),
                title: None,
                cache_control,
            })
        }
        other => Err(invalid(
            &format!("{at}.type"),
            &format!("content parts of type {other:?} cannot be sent to Anthropic"),
        )),
    }
}

/// `data:<media type>;base64,<data>` → its media type and data.
fn data_url_parts(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// An image URL as an Anthropic image source: data URLs inline, http(s) URLs by reference
/// (Anthropic fetches them itself).
fn image_source(url: &str, at: &str) -> Result<ImageSource, GatewayError> {
    if url.starts_with("data:") {
        let (media_type, data) =
            data_url_parts(url).ok_or_else(|| invalid(at, "must be a base64 data URL"))?;
        return Ok(ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        });
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(ImageSource::Url {
            url: url.to_owned(),
        });
    }
    Err(invalid(at, "must be an http(s) URL or a base64 data URL"))
}

/// An assistant turn: thinking blocks first (as received), then text, then tool calls.
fn assistant_blocks(m: &Message, at: &str) -> Result<Vec<ContentBlock>, GatewayError> {
    let mut blocks = Vec::new();
    for (k, tb) in m.thinking_blocks.iter().flatten().enumerate() {
        if let Some(b) = thinking_block(tb, &format!("{at}.thinking_blocks[{k}]"))? {
            blocks.push(b);
        }
    }
    match &m.content {
        None => {}
        Some(Content::Text(t)) if t.is_empty() => {}
        Some(Content::Text(t)) => blocks.push(text_block(t.clone(), None)),
        Some(Content::Parts(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                let text = assistant_part_text(p, &at)?;
                if !text.is_empty() {
                    blocks.push(text_block(text, cache_control(&p.extra)));
                }
            }
        }
    }
    for (k, call) in m.tool_calls.iter().flatten().enumerate() {
        let at = format!("{at}.tool_calls[{k}]");
        let input = crate::translate::tool_input(&call.function.arguments, &at)?;
        blocks.push(ContentBlock::ToolUse {
            id: call.id.clone(),
            name: call.function.name.clone(),
            input,
            cache_control: cache_control(&call.extra),
        });
    }
    Ok(blocks)
}

/// A thinking block sent back unchanged. Unsigned thinking cannot be verified by Anthropic
/// and is left out (Anthropic allows omitting earlier turns' thinking).
fn thinking_block(tb: &ThinkingBlock, at: &str) -> Result<Option<ContentBlock>, GatewayError> {
    match tb.kind.as_str() {
        "thinking" => Ok(tb
            .signature
            .as_ref()
            .map(|signature| ContentBlock::Thinking {
                thinking: tb.thinking.clone().unwrap_or_default(),
                signature: signature.clone(),
            })),
        "redacted_thinking" => {
            let data = tb
                .data
                .clone()
                .ok_or_else(|| invalid(&format!("{at}.data"), "is required"))?;
            Ok(Some(ContentBlock::RedactedThinking { data }))
        }
        other => Err(invalid(
            &format!("{at}.type"),
            &format!("must be thinking or redacted_thinking, not {other:?}"),
        )),
    }
}

/// A `tool` message as a `tool_result` block.
fn tool_result(m: &Message, at: &str) -> Result<ContentBlock, GatewayError> {
    let id = m
        .tool_call_id
        .clone()
        .ok_or_else(|| invalid(&format!("{at}.tool_call_id"), "is required"))?;
    let content = match &m.content {
        None => None,
        Some(Content::Text(t)) => Some(ToolResultContent::Text(t.clone())),
        Some(Content::Parts(_)) => Some(ToolResultContent::Blocks(user_blocks(
            m.content.as_ref(),
            at,
        )?)),
    };
    Ok(ContentBlock::ToolResult {
        tool_use_id: id,
        content,
        is_error: None,
        cache_control: None,
    })
}
