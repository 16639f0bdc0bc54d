//! Translating an OpenAI conversation into Cohere's `messages`.
//!
//! Cohere v2 has the same four roles as OpenAI, so each message maps to one message, in
//! order: `system` and `developer` → `system` (text only); `user` → `user` with text and
//! `image_url` blocks (data URLs and web URLs alike, `detail` kept); `assistant` → `assistant`
//! with its text, its `tool_calls` unchanged (Cohere's shape is OpenAI's) and, for a turn that
//! calls tools, its `reasoning_content` as `tool_plan`; `thinking_blocks` that carry text go
//! back as `thinking` blocks; `tool` → `tool` with its `tool_call_id`. Empty assistant turns
//! are left out. Message `name`s have no Cohere meaning and are not sent.

use serde_json::Value;
use sluice_types::{Content as OpenAiContent, ContentPart, GatewayError, Message as OpenAiMessage};

use super::request::{Cx, invalid};
use super::wire::{Block, Content, FunctionCall, ImageUrl, Message, ToolCall};
use crate::translate::{assistant_part_text, part_text};

/// Translates the conversation.
pub(super) fn messages(
    cx: &Cx<'_>,
    messages: &[OpenAiMessage],
) -> Result<Vec<Message>, GatewayError> {
    let mut out = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let at = format!("messages[{i}]");
        let message = match m.role.as_str() {
            "system" | "developer" => Message::System {
                content: text_content(m.content.as_ref(), &at)?,
            },
            "user" => Message::User {
                content: user_content(m.content.as_ref(), &at)?,
            },
            "assistant" => match assistant(m, &at)? {
                Some(message) => message,
                None => continue,
            },
            "tool" => Message::Tool {
                tool_call_id: m
                    .tool_call_id
                    .clone()
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| invalid(&format!("{at}.tool_call_id"), "is required"))?,
                content: tool_content(m.content.as_ref(), &at)?,
            },
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
        out.push(message);
    }
    Ok(out)
}

/// Content that may only be text (system prompts): a string, or text blocks.
fn text_content(content: Option<&OpenAiContent>, at: &str) -> Result<Content, GatewayError> {
    match content {
        None => Err(invalid(&format!("{at}.content"), "is required")),
        Some(OpenAiContent::Text(t)) => Ok(Content::Text(t.clone())),
        Some(OpenAiContent::Parts(parts)) => parts
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
                Ok(Block::Text {
                    text: part_text(p, &at)?,
                })
            })
            .collect::<Result<_, _>>()
            .map(Content::Blocks),
    }
}

/// User content: a string, or text and image blocks.
fn user_content(content: Option<&OpenAiContent>, at: &str) -> Result<Content, GatewayError> {
    match content {
        None => Err(invalid(&format!("{at}.content"), "is required")),
        Some(OpenAiContent::Text(t)) => Ok(Content::Text(t.clone())),
        Some(OpenAiContent::Parts(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| user_part(p, &format!("{at}.content[{j}]")))
            .collect::<Result<_, _>>()
            .map(Content::Blocks),
    }
}

fn user_part(p: &ContentPart, at: &str) -> Result<Block, GatewayError> {
    match p.kind.as_str() {
        "text" => Ok(Block::Text {
            text: part_text(p, at)?,
        }),
        "image_url" => {
            let (url, detail) = match p.extra.get("image_url") {
                Some(Value::String(u)) => (u.as_str(), None),
                Some(v) => (
                    v.get("url")
                        .and_then(Value::as_str)
                        .ok_or_else(|| invalid(&format!("{at}.image_url.url"), "is required"))?,
                    v.get("detail").and_then(Value::as_str),
                ),
                None => return Err(invalid(&format!("{at}.image_url"), "is required")),
            };
            let ok = url.starts_with("data:")
                || url.starts_with("https://")
                || url.starts_with("http://");
            if !ok {
                return Err(invalid(
                    &format!("{at}.image_url.url"),
                    "must be an http(s) URL or a base64 data URL",
                ));
            }
            Ok(Block::ImageUrl {
                image_url: ImageUrl {
                    url: url.to_owned(),
                    detail: detail.map(str::to_owned),
                },
            })
        }
        other => Err(invalid(
            &format!("{at}.type"),
            &format!("content parts of type {other:?} cannot be sent to Cohere"),
        )),
    }
}

/// Tool output: a string as it is, text parts as text blocks.
fn tool_content(content: Option<&OpenAiContent>, at: &str) -> Result<Content, GatewayError> {
    match content {
        None => Ok(Content::Text(String::new())),
        Some(_) => text_content(content, at),
    }
}

/// An assistant turn, or `None` when it says nothing.
fn assistant(m: &OpenAiMessage, at: &str) -> Result<Option<Message>, GatewayError> {
    let mut blocks = Vec::new();
    for tb in m.thinking_blocks.iter().flatten() {
        // Blocks with text go back as thinking (another provider's signature is not sent);
        // signature-only and redacted blocks hold nothing Cohere can read.
        let text = tb.thinking.as_ref().filter(|t| !t.is_empty());
        if let (Some(thinking), "thinking") = (text, tb.kind.as_str()) {
            blocks.push(Block::Thinking {
                thinking: thinking.clone(),
            });
        }
    }
    let thought = !blocks.is_empty();
    let mut plain = None;
    match &m.content {
        None => {}
        Some(OpenAiContent::Text(t)) if t.is_empty() => {}
        Some(OpenAiContent::Text(t)) => plain = Some(t.clone()),
        Some(OpenAiContent::Parts(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                let text = assistant_part_text(p, &at)?;
                if !text.is_empty() {
                    blocks.push(Block::Text { text });
                }
            }
        }
    }
    let content = match (plain, thought) {
        (Some(text), false) => Some(Content::Text(text)),
        (Some(text), true) => {
            blocks.push(Block::Text { text });
            Some(Content::Blocks(blocks))
        }
        (None, _) if blocks.is_empty() => None,
        (None, _) => Some(Content::Blocks(blocks)),
    };
    let tool_calls: Vec<ToolCall> = m
        .tool_calls
        .iter()
        .flatten()
        .map(|call| ToolCall {
            id: call.id.clone(),
            kind: "function".into(),
            function: FunctionCall {
                name: call.function.name.clone(),
                arguments: if call.function.arguments.trim().is_empty() {
                    "{}".into()
                } else {
                    call.function.arguments.clone()
                },
            },
        })
        .collect();
    if content.is_none() && tool_calls.is_empty() {
        return Ok(None);
    }
    // The plan Cohere wrote before its calls comes back as reasoning_content; send it back so
    // the turn is what the model produced. Thinking, when present, travels in its blocks.
    let tool_plan = m
        .reasoning_content
        .as_ref()
        .filter(|p| !p.is_empty() && !tool_calls.is_empty() && !thought)
        .cloned();
    Ok(Some(Message::Assistant {
        content,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        tool_plan,
    }))
}
