//! Decoding a complete Converse response into an OpenAI-shaped chat completion.
//!
//! Text blocks become `content`; reasoning becomes `reasoning_content` plus `thinking_blocks`
//! (`{type: thinking, thinking, signature}`, or `{type: redacted_thinking, data}` for
//! redacted content) to be sent back on the next turn; `toolUse` blocks become `tool_calls`
//! with the input as a JSON string, and the forced JSON tool of `response_format` is unwrapped
//! back into `content` with finish reason `stop`. Converse answers carry no id, model or
//! timestamp: the id is the `x-amzn-requestid` response header (else `bedrock-` and a hash of
//! the body), and the transport fills in the target's model and the time.

use bytes::Bytes;
use http::HeaderMap;
use sluice_types::{
    ChatResponse, Choice, Content, ErrorKind, FunctionCall, GatewayError, Message, Origin,
    PromptTokensDetails, ThinkingBlock, ToolCall, Usage,
};

use super::wire::{ContentBlock, ConverseResponse, TokenUsage};
use crate::anthropic::JSON_TOOL_PREFIX;

/// The response header holding Bedrock's request id.
pub(super) const REQUEST_ID: &str = "x-amzn-requestid";

/// The error for an upstream body that is not what the protocol promises.
pub(super) fn not_our_protocol(what: &str, body: &[u8], e: &serde_json::Error) -> GatewayError {
    let head = String::from_utf8_lossy(&body[..body.len().min(200)]);
    GatewayError::new(
        ErrorKind::UpstreamProtocol,
        Origin::Upstream,
        format!(
            "upstream returned a body that is not a Bedrock {what} ({e}); it starts with: {head:?}"
        ),
    )
}

/// The request id of a response head, if it has one.
pub(super) fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Whether a tool name is the forced tool carrying a `response_format` answer.
pub(super) fn is_json_tool(name: &str) -> bool {
    name.starts_with(JSON_TOOL_PREFIX)
}

/// Converse's `stopReason` as an OpenAI `finish_reason`.
pub(super) fn finish_reason(stop_reason: Option<&str>, json_answer: bool) -> &'static str {
    match stop_reason {
        Some("tool_use") if json_answer => "stop",
        Some("tool_use") => "tool_calls",
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("guardrail_intervened" | "content_filtered") => "content_filter",
        // end_turn, stop_sequence, malformed_* and anything newer.
        _ => "stop",
    }
}

/// Converse usage as OpenAI usage: cache reads and writes are part of the prompt.
pub(super) fn to_usage(u: &TokenUsage) -> Usage {
    let read = u.cache_read_input_tokens;
    let write = u.cache_write_input_tokens;
    let prompt = u.input_tokens + read.unwrap_or(0) + write.unwrap_or(0);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt + u.output_tokens,
        prompt_tokens_details: (read.is_some() || write.is_some()).then(|| PromptTokensDetails {
            cached_tokens: Some(read.unwrap_or(0)),
            cache_creation_tokens: Some(write.unwrap_or(0)),
            extra: Default::default(),
        }),
        completion_tokens_details: None,
        extra: Default::default(),
    }
}

/// Decodes a Converse response; `headers` are the response's (for the request id).
pub(super) fn decode(body: &Bytes, headers: &HeaderMap) -> Result<ChatResponse, GatewayError> {
    let resp: ConverseResponse = serde_json::from_slice(body)
        .map_err(|e| not_our_protocol("Converse response", body, &e))?;
    let id = request_id(headers).unwrap_or_else(|| crate::translate::body_id("bedrock", body));
    Ok(to_chat_response(resp, id))
}

fn to_chat_response(resp: ConverseResponse, id: String) -> ChatResponse {
    let mut text = String::new();
    let mut has_text = false;
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    let mut json_answer = None;
    let blocks = resp
        .output
        .and_then(|o| o.message)
        .map(|m| m.content)
        .unwrap_or_default();
    for block in blocks {
        let ContentBlock {
            text: t,
            tool_use,
            reasoning_content,
            ..
        } = block;
        if let Some(t) = t {
            text.push_str(&t);
            has_text = true;
        }
        if let Some(r) = reasoning_content {
            if let Some(rt) = r.reasoning_text {
                reasoning.push_str(&rt.text);
                thinking_blocks.push(ThinkingBlock {
                    kind: "thinking".into(),
                    thinking: Some(rt.text),
                    signature: rt.signature,
                    data: None,
                });
            }
            if let Some(data) = r.redacted_content {
                thinking_blocks.push(ThinkingBlock {
                    kind: "redacted_thinking".into(),
                    data: Some(data),
                    ..Default::default()
                });
            }
        }
        if let Some(call) = tool_use {
            if is_json_tool(&call.name) {
                json_answer = Some(call.input.to_string());
            } else {
                tool_calls.push(ToolCall {
                    id: call.tool_use_id,
                    kind: "function".into(),
                    function: FunctionCall {
                        name: call.name,
                        arguments: call.input.to_string(),
                    },
                    extra: Default::default(),
                });
            }
        }
    }
    let finish = finish_reason(resp.stop_reason.as_deref(), json_answer.is_some());
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
        id,
        object: "chat.completion".into(),
        created: 0,
        model: String::new(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish.to_owned()),
            extra: Default::default(),
        }],
        usage: Some(to_usage(&resp.usage.unwrap_or_default())),
        raw: None,
        extra: Default::default(),
    }
}
