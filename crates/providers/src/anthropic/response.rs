//! Decoding a complete Messages response into an OpenAI-shaped chat completion.
//!
//! Text blocks become `content`, thinking becomes `reasoning_content` plus `thinking_blocks`
//! (signatures kept for the next turn), `tool_use` becomes `tool_calls` with the input as a
//! JSON string, and the forced JSON tool of `response_format` is unwrapped back into
//! `content` with finish reason `stop`. `created` is left 0: the transport stamps it.

use bytes::Bytes;
use sluice_types::{
    ChatResponse, Choice, Content, ErrorKind, FunctionCall, GatewayError, Message, Origin,
    PromptTokensDetails, ThinkingBlock, ToolCall, Usage,
};

use super::wire::{ContentBlock, MessagesResponse, Usage as WireUsage};
use super::{AnthropicCodec, JSON_TOOL_PREFIX};

impl AnthropicCodec {
    pub(super) fn decode_message(&self, body: &Bytes) -> Result<ChatResponse, GatewayError> {
        let msg: MessagesResponse =
            serde_json::from_slice(body).map_err(|e| not_our_protocol("message", body, &e))?;
        Ok(to_chat_response(msg))
    }
}

/// The error for an upstream body that is not what the protocol promises.
pub(super) fn not_our_protocol(what: &str, body: &[u8], e: &serde_json::Error) -> GatewayError {
    let head = String::from_utf8_lossy(&body[..body.len().min(200)]);
    GatewayError::new(
        ErrorKind::UpstreamProtocol,
        Origin::Upstream,
        format!(
            "upstream returned a body that is not an Anthropic {what} ({e}); it starts with: {head:?}"
        ),
    )
}

/// Whether a tool name is the forced tool carrying a `response_format` answer.
pub(super) fn is_json_tool(name: &str) -> bool {
    name.starts_with(JSON_TOOL_PREFIX)
}

/// Anthropic's `stop_reason` as an OpenAI `finish_reason`.
pub(super) fn finish_reason(stop_reason: Option<&str>, json_answer: bool) -> &'static str {
    match stop_reason {
        Some("tool_use") if json_answer => "stop",
        Some("tool_use") => "tool_calls",
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("refusal") => "content_filter",
        // end_turn, stop_sequence, pause_turn and anything newer.
        _ => "stop",
    }
}

/// Anthropic usage as OpenAI usage: cache reads and writes are part of the prompt.
pub(super) fn to_usage(u: &WireUsage) -> Usage {
    let input = u.input_tokens.unwrap_or(0);
    let read = u.cache_read_input_tokens;
    let write = u.cache_creation_input_tokens;
    let prompt = input + read.unwrap_or(0) + write.unwrap_or(0);
    let completion = u.output_tokens.unwrap_or(0);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: (read.is_some() || write.is_some()).then(|| PromptTokensDetails {
            cached_tokens: Some(read.unwrap_or(0)),
            cache_creation_tokens: Some(write.unwrap_or(0)),
            extra: Default::default(),
        }),
        completion_tokens_details: None,
        extra: Default::default(),
    }
}

fn to_chat_response(msg: MessagesResponse) -> ChatResponse {
    let mut text = String::new();
    let mut has_text = false;
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    let mut json_answer = None;
    for block in msg.content {
        match block {
            ContentBlock::Text { text: t, .. } => {
                text.push_str(&t);
                has_text = true;
            }
            ContentBlock::Thinking {
                thinking,
                signature,
            } => {
                reasoning.push_str(&thinking);
                thinking_blocks.push(ThinkingBlock {
                    kind: "thinking".into(),
                    thinking: Some(thinking),
                    signature: Some(signature),
                    data: None,
                });
            }
            ContentBlock::RedactedThinking { data } => thinking_blocks.push(ThinkingBlock {
                kind: "redacted_thinking".into(),
                data: Some(data),
                ..Default::default()
            }),
            ContentBlock::ToolUse {
                name, input, id, ..
            } => {
                if is_json_tool(&name) {
                    json_answer = Some(input.to_string());
                } else {
                    tool_calls.push(ToolCall {
                        id,
                        kind: "function".into(),
                        function: FunctionCall {
                            name,
                            arguments: input.to_string(),
                        },
                        extra: Default::default(),
                    });
                }
            }
            ContentBlock::Image { .. }
            | ContentBlock::Document { .. }
            | ContentBlock::ToolResult { .. }
            | ContentBlock::Unknown => {}
        }
    }
    let finish = finish_reason(msg.stop_reason.as_deref(), json_answer.is_some());
    let content = match json_answer {
        // The structured answer is the content; any preamble text is not part of it.
        Some(json) => Some(json),
        None if has_text || tool_calls.is_empty() => Some(text),
        None => None,
    };
    let message = Message {
        role: "assistant".into(),
        content: content.map(Content::Text),
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        thinking_blocks: (!thinking_blocks.is_empty()).then_some(thinking_blocks),
        ..Default::default()
    };
    ChatResponse {
        id: msg.id,
        object: "chat.completion".into(),
        created: 0,
        model: msg.model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish.to_owned()),
            extra: Default::default(),
        }],
        usage: Some(to_usage(&msg.usage)),
        raw: None,
        extra: Default::default(),
    }
}
