//! Translating an OpenAI conversation into Converse's: `system` / `developer` messages become
//! `system` blocks; `tool` messages become `toolResult` blocks of a `user` turn (before its
//! other blocks); assistant turns carry their reasoning first (signed text and redacted
//! content, sent back as received), then text, then `toolUse` blocks; consecutive turns of
//! one role are merged, since Converse requires them to alternate. A part's `cache_control`
//! becomes a `cachePoint` block after it.
//!
//! Images must be base64 data URLs: Converse takes image bytes (or S3 locations) and cannot
//! fetch an `http(s)` URL. The transport fetches such URLs before encoding (the codec says
//! so with `fetches_image_urls`, see `crate::images`), so one that still reaches the codec
//! is refused with a 400 naming the field. The image format
//! comes from the data URL's media type (`image/png`, `image/jpeg`, `image/gif`,
//! `image/webp`); the base64 text is sent as it is (JSON carries Converse's bytes as base64).

use serde_json::{Value, json};
use sluice_types::{Content, ContentPart, GatewayError, Message, ThinkingBlock};

use super::wire::{
    ContentBlock, ImageBlock, ImageSource, Message as Turn, ReasoningBlock, ReasoningText,
    SystemBlock, ToolResultBlock, ToolResultContent, ToolUseBlock,
};
use crate::anthropic::request::{Cx, invalid};
use crate::translate::{assistant_part_text, part_text};

/// The conversation part of a Converse request.
pub(super) struct Conversation {
    pub(super) system: Option<Vec<SystemBlock>>,
    pub(super) messages: Vec<Turn>,
    /// Whether any turn holds `toolUse` or `toolResult` blocks (Converse then needs
    /// `toolConfig`).
    pub(super) uses_tools: bool,
}

/// The `cachePoint` member Converse takes.
fn cache_point() -> Value {
    json!({"type": "default"})
}

/// Whether a part (or call) asks for a prompt-cache breakpoint.
fn wants_cache(extra: &sluice_types::JsonMap) -> bool {
    extra.get("cache_control").is_some_and(|v| !v.is_null())
}

fn text_block(text: String) -> ContentBlock {
    ContentBlock {
        text: Some(text),
        ..Default::default()
    }
}

fn cache_block() -> ContentBlock {
    ContentBlock {
        cache_point: Some(cache_point()),
        ..Default::default()
    }
}

impl Conversation {
    pub(super) fn from_messages(cx: &Cx<'_>, messages: &[Message]) -> Result<Self, GatewayError> {
        let mut system = Vec::new();
        let mut turns: Vec<Turn> = Vec::new();
        let mut uses_tools = false;
        for (i, m) in messages.iter().enumerate() {
            let at = format!("messages[{i}]");
            let (role, blocks) = match m.role.as_str() {
                "system" | "developer" => {
                    system_blocks(m.content.as_ref(), &at, &mut system)?;
                    continue;
                }
                "user" => ("user", user_blocks(m.content.as_ref(), &at)?),
                "assistant" => ("assistant", assistant_blocks(m, &at)?),
                "tool" => ("user", vec![tool_result(m, &at)?]),
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
            // An empty assistant turn says nothing; Converse rejects empty content.
            if blocks.is_empty() && role == "assistant" {
                continue;
            }
            uses_tools |= blocks
                .iter()
                .any(|b| b.tool_use.is_some() || b.tool_result.is_some());
            match turns.last_mut() {
                Some(last) if last.role == role => last.content.extend(blocks),
                _ => turns.push(Turn {
                    role: role.to_owned(),
                    content: blocks,
                }),
            }
        }
        for turn in &mut turns {
            // Tool results lead their user turn, as Anthropic's models on Bedrock require.
            if turn.role == "user" {
                let (mut results, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut turn.content)
                    .into_iter()
                    .partition(|b| b.tool_result.is_some());
                results.extend(rest);
                turn.content = results;
            }
        }
        Ok(Conversation {
            system: (!system.is_empty()).then_some(system),
            messages: turns,
            uses_tools,
        })
    }
}

/// System content: text parts only, each `cache_control` followed by a `cachePoint`.
fn system_blocks(
    content: Option<&Content>,
    at: &str,
    out: &mut Vec<SystemBlock>,
) -> Result<(), GatewayError> {
    let text = |t: String| SystemBlock {
        text: Some(t),
        cache_point: None,
    };
    match content {
        None => {}
        Some(Content::Text(t)) => out.push(text(t.clone())),
        Some(Content::Parts(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                if p.kind != "text" {
                    return Err(invalid(
                        &format!("{at}.type"),
                        "only text parts are allowed here",
                    ));
                }
                out.push(text(part_text(p, &at)?));
                if wants_cache(&p.extra) {
                    out.push(SystemBlock {
                        text: None,
                        cache_point: Some(cache_point()),
                    });
                }
            }
        }
    }
    Ok(())
}

/// User content: text and images.
fn user_blocks(content: Option<&Content>, at: &str) -> Result<Vec<ContentBlock>, GatewayError> {
    match content {
        None => Err(invalid(&format!("{at}.content"), "is required")),
        Some(Content::Text(t)) => Ok(vec![text_block(t.clone())]),
        Some(Content::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                out.push(user_part(p, &at)?);
                if wants_cache(&p.extra) {
                    out.push(cache_block());
                }
            }
            Ok(out)
        }
    }
}

fn user_part(p: &ContentPart, at: &str) -> Result<ContentBlock, GatewayError> {
    match p.kind.as_str() {
        "text" => Ok(text_block(part_text(p, at)?)),
        "image_url" => {
            let url = match p.extra.get("image_url") {
                Some(Value::String(u)) => u.as_str(),
                Some(v) => v
                    .get("url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(&format!("{at}.image_url.url"), "is required"))?,
                None => return Err(invalid(&format!("{at}.image_url"), "is required")),
            };
            Ok(ContentBlock {
                image: Some(image(url, &format!("{at}.image_url.url"))?),
                ..Default::default()
            })
        }
        other => Err(invalid(
            &format!("{at}.type"),
            &format!("content parts of type {other:?} cannot be sent to Bedrock"),
        )),
    }
}

/// A data URL as a Converse image; an `http(s)` URL is refused (Converse cannot fetch it).
fn image(url: &str, at: &str) -> Result<ImageBlock, GatewayError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Err(invalid(
            at,
            "Bedrock cannot fetch image URLs; send the image as a base64 data URL \
             (data:image/png;base64,…)",
        ));
    }
    let parts = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
        .and_then(|(meta, data)| Some((meta.strip_suffix(";base64")?, data)));
    let Some((media_type, data)) = parts else {
        return Err(invalid(at, "must be a base64 data URL"));
    };
    let format = match media_type.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(invalid(
                at,
                &format!("image type {other:?} is not one Bedrock takes (png, jpeg, gif, webp)"),
            ));
        }
    };
    Ok(ImageBlock {
        format: format.to_owned(),
        source: ImageSource {
            bytes: Some(data.to_owned()),
            extra: Default::default(),
        },
    })
}

/// An assistant turn: reasoning first (as received), then text, then tool calls.
fn assistant_blocks(m: &Message, at: &str) -> Result<Vec<ContentBlock>, GatewayError> {
    let mut blocks = Vec::new();
    for (k, tb) in m.thinking_blocks.iter().flatten().enumerate() {
        if let Some(b) = reasoning_block(tb, &format!("{at}.thinking_blocks[{k}]"))? {
            blocks.push(b);
        }
    }
    match &m.content {
        None => {}
        Some(Content::Text(t)) if t.is_empty() => {}
        Some(Content::Text(t)) => blocks.push(text_block(t.clone())),
        Some(Content::Parts(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                let text = assistant_part_text(p, &at)?;
                if !text.is_empty() {
                    blocks.push(text_block(text));
                }
            }
        }
    }
    for (k, call) in m.tool_calls.iter().flatten().enumerate() {
        let at = format!("{at}.tool_calls[{k}]");
        let input = crate::translate::tool_input(&call.function.arguments, &at)?;
        blocks.push(ContentBlock {
            tool_use: Some(ToolUseBlock {
                tool_use_id: call.id.clone(),
                name: call.function.name.clone(),
                input,
            }),
            ..Default::default()
        });
    }
    Ok(blocks)
}

/// A thinking block as Converse reasoning, sent back unchanged. Unsigned thinking cannot be
/// verified and is left out (earlier turns' reasoning may be omitted).
fn reasoning_block(tb: &ThinkingBlock, at: &str) -> Result<Option<ContentBlock>, GatewayError> {
    let reasoning = match tb.kind.as_str() {
        "thinking" => match &tb.signature {
            None => return Ok(None),
            Some(signature) => ReasoningBlock {
                reasoning_text: Some(ReasoningText {
                    text: tb.thinking.clone().unwrap_or_default(),
                    signature: Some(signature.clone()),
                }),
                redacted_content: None,
            },
        },
        "redacted_thinking" => ReasoningBlock {
            reasoning_text: None,
            redacted_content: Some(
                tb.data
                    .clone()
                    .ok_or_else(|| invalid(&format!("{at}.data"), "is required"))?,
            ),
        },
        other => {
            return Err(invalid(
                &format!("{at}.type"),
                &format!("must be thinking or redacted_thinking, not {other:?}"),
            ));
        }
    };
    Ok(Some(ContentBlock {
        reasoning_content: Some(reasoning),
        ..Default::default()
    }))
}

/// A `tool` message as a `toolResult` block.
fn tool_result(m: &Message, at: &str) -> Result<ContentBlock, GatewayError> {
    let id = m
        .tool_call_id
        .clone()
        .ok_or_else(|| invalid(&format!("{at}.tool_call_id"), "is required"))?;
    let content = match &m.content {
        None => Vec::new(),
        Some(Content::Text(t)) => vec![ToolResultContent {
            text: Some(t.clone()),
            ..Default::default()
        }],
        Some(Content::Parts(_)) => user_blocks(m.content.as_ref(), at)?
            .into_iter()
            .filter(|b| b.cache_point.is_none())
            .map(|b| ToolResultContent {
                text: b.text,
                image: b.image,
                ..Default::default()
            })
            .collect(),
    };
    Ok(ContentBlock {
        tool_result: Some(ToolResultBlock {
            tool_use_id: id,
            content,
            status: None,
        }),
        ..Default::default()
    })
}
