//! The internal [`ChatResponse`] → an Anthropic Messages response.
//!
//! The first choice becomes the message: its thinking blocks first (as received, signatures
//! included; `reasoning_content` without blocks becomes one `thinking` block with an empty
//! signature), then the text (a refusal is sent as text), then one `tool_use` block per tool
//! call with the arguments parsed back into the `input` object. Finish reasons map to stop
//! reasons ([`stop_reason`]) and OpenAI usage to Anthropic usage ([`usage`]), where
//! `input_tokens` excludes the tokens read from or written to the prompt cache.

use serde_json::Value;
use sluice_providers::anthropic::wire::{ContentBlock, MessagesResponse, Usage as WireUsage};
use sluice_types::{ChatResponse, Content, Message, ThinkingBlock, ToolCall, Usage};

use super::same_shape;

/// The Messages response for `resp`; `id` and `model` stand in where the upstream sent none.
pub fn messages_response(resp: ChatResponse, id: &str, model: &str) -> MessagesResponse {
    let choice = resp.choices.into_iter().next();
    let finish = choice.as_ref().and_then(|c| c.finish_reason.clone());
    let content = choice
        .map(|c| content_blocks(c.message))
        .unwrap_or_default();
    MessagesResponse {
        id: or(resp.id, id),
        kind: "message".into(),
        role: "assistant".into(),
        content,
        model: or(resp.model, model),
        stop_reason: Some(stop_reason(finish.as_deref()).into()),
        stop_sequence: None,
        usage: usage(resp.usage.as_ref()),
    }
}

/// `value`, or `fallback` when it is empty.
pub(super) fn or(value: String, fallback: &str) -> String {
    if value.is_empty() {
        fallback.to_owned()
    } else {
        value
    }
}

/// An OpenAI `finish_reason` as an Anthropic `stop_reason`.
pub(super) fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        // stop, absent, and anything newer.
        _ => "end_turn",
    }
}

/// OpenAI usage as Anthropic usage: cache reads and writes are counted apart from
/// `input_tokens`. Absent usage is all zeros.
pub(super) fn usage(u: Option<&Usage>) -> WireUsage {
    let details = u.and_then(|u| u.prompt_tokens_details.as_ref());
    let read = details.and_then(|d| d.cached_tokens).unwrap_or(0);
    let write = details.and_then(|d| d.cache_creation_tokens).unwrap_or(0);
    let prompt = u.map_or(0, |u| u.prompt_tokens);
    WireUsage {
        input_tokens: Some(prompt.saturating_sub(read).saturating_sub(write)),
        output_tokens: Some(u.map_or(0, |u| u.completion_tokens)),
        cache_creation_input_tokens: Some(write),
        cache_read_input_tokens: Some(read),
        extra: Default::default(),
    }
}

/// The content blocks of an assistant message.
fn content_blocks(m: Message) -> Vec<ContentBlock> {
    let mut blocks = Vec::new();
    match m.thinking_blocks {
        Some(tbs) if !tbs.is_empty() => blocks.extend(tbs.iter().filter_map(thinking_block)),
        _ => {
            if let Some(r) = m.reasoning_content.filter(|r| !r.is_empty()) {
                blocks.push(ContentBlock::Thinking {
                    thinking: r,
                    signature: String::new(),
                });
            }
        }
    }
    let text = match m.content {
        None => String::new(),
        Some(Content::Text(t)) => t,
        Some(Content::Parts(parts)) => parts.into_iter().filter_map(|p| p.text).collect(),
    };
    for t in [Some(text), m.refusal].into_iter().flatten() {
        if !t.is_empty() {
            blocks.push(text_block(t));
        }
    }
    blocks.extend(m.tool_calls.into_iter().flatten().map(tool_use));
    blocks
}

/// A text block.
pub(super) fn text_block(text: String) -> ContentBlock {
    ContentBlock::Text {
        text,
        citations: None,
        cache_control: None,
    }
}

/// A thinking block as the Anthropic block it came from (the two share one JSON shape, so a
/// serde round trip keeps every field); blocks of other kinds are left out.
pub(super) fn thinking_block(tb: &ThinkingBlock) -> Option<ContentBlock> {
    match same_shape(tb) {
        Ok(b @ (ContentBlock::Thinking { .. } | ContentBlock::RedactedThinking { .. })) => Some(b),
        _ => {
            tracing::warn!(
                kind = tb.kind,
                "a thinking block of an unknown type was left out"
            );
            None
        }
    }
}

/// A tool call as a `tool_use` block; arguments that are not a JSON object become `{}`.
fn tool_use(call: ToolCall) -> ContentBlock {
    let args = call.function.arguments.trim();
    let input = match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => v,
        _ if args.is_empty() => Value::Object(Default::default()),
        _ => {
            tracing::warn!(
                tool = call.function.name,
                "tool call arguments are not a JSON object; sent as {{}}"
            );
            Value::Object(Default::default())
        }
    };
    ContentBlock::ToolUse {
        id: call.id,
        name: call.function.name,
        input,
        cache_control: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use sluice_providers::anthropic::wire::MessagesRequest;

    use super::*;
    use crate::messages::decode::chat_request;

    fn response(message: Value, finish: &str, usage: Value) -> ChatResponse {
        serde_json::from_value(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage
        }))
        .unwrap()
    }

    #[test]
    fn text_answer() {
        let r = response(
            json!({"role": "assistant", "content": "hello"}),
            "stop",
            json!({"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12,
                   "prompt_tokens_details": {"cached_tokens": 4, "cache_creation_tokens": 1}}),
        );
        let m = messages_response(r, "msg_x", "fallback");
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({
                "id": "chatcmpl-1", "type": "message", "role": "assistant", "model": "gpt-4o",
                "content": [{"type": "text", "text": "hello"}],
                "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 4,
                          "cache_creation_input_tokens": 1}
            })
        );
    }

    #[test]
    fn tool_calls_and_fallbacks() {
        let mut r = response(
            json!({"role": "assistant", "content": null, "refusal": "no", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "v", "arguments": "{oops"}}
            ]}),
            "tool_calls",
            json!(null),
        );
        r.id.clear();
        r.model.clear();
        let m = serde_json::to_value(messages_response(r, "msg_x", "fallback")).unwrap();
        assert_eq!(m["id"], "msg_x");
        assert_eq!(m["model"], "fallback");
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(
            m["content"],
            json!([
                {"type": "text", "text": "no"},
                {"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "v", "input": {}}
            ])
        );
        assert_eq!(
            m["usage"],
            json!({"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0})
        );
    }

    #[test]
    fn stop_reasons() {
        for (finish, stop) in [
            (Some("stop"), "end_turn"),
            (Some("length"), "max_tokens"),
            (Some("tool_calls"), "tool_use"),
            (Some("content_filter"), "refusal"),
            (None, "end_turn"),
        ] {
            assert_eq!(stop_reason(finish), stop);
        }
    }

    #[test]
    fn reasoning_without_blocks_is_one_unsigned_thinking_block() {
        let r = response(
            json!({"role": "assistant", "content": "42", "reasoning_content": "hmm"}),
            "stop",
            json!(null),
        );
        let m = serde_json::to_value(messages_response(r, "i", "m")).unwrap();
        assert_eq!(
            m["content"],
            json!([{"type": "thinking", "thinking": "hmm", "signature": ""}, {"type": "text", "text": "42"}])
        );
    }

    /// Thinking blocks an Anthropic client sent come back identical when a later answer
    /// carries them, and the blocks of an answer survive the next request's decoding.
    #[test]
    fn thinking_signatures_round_trip_both_ways() {
        let blocks = json!([
            {"type": "thinking", "thinking": "Step 1…\n\"quoted\"", "signature": "EqQBCgIYAhIM+/sig=="},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}
        ]);
        // Client → internal → client.
        let req: MessagesRequest = serde_json::from_value(json!({
            "model": "m", "max_tokens": 1,
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": blocks}]
        }))
        .unwrap();
        let chat = chat_request(req).unwrap();
        let assistant = chat.messages[1].clone();
        let r = ChatResponse {
            choices: vec![sluice_types::Choice {
                message: assistant,
                finish_reason: Some("stop".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let back = serde_json::to_value(messages_response(r, "i", "m")).unwrap();
        assert_eq!(back["content"], blocks);
        // Internal answer → client → next request → internal.
        let answer = response(
            json!({"role": "assistant", "content": "ok", "reasoning_content": "Step 1…\n\"quoted\"",
                   "thinking_blocks": [
                       {"type": "thinking", "thinking": "Step 1…\n\"quoted\"", "signature": "EqQBCgIYAhIM+/sig=="},
                       {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}]}),
            "stop",
            json!(null),
        );
        let original = answer.choices[0].message.clone();
        let sent = serde_json::to_value(messages_response(answer, "i", "m")).unwrap();
        let next: MessagesRequest = serde_json::from_value(json!({
            "model": "m", "max_tokens": 1,
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": sent["content"]}]
        }))
        .unwrap();
        let again = chat_request(next).unwrap();
        assert_eq!(again.messages[1], original);
    }
}
