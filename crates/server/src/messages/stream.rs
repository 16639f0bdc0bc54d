//! A stream of internal [`ChatChunk`]s → Anthropic's server-sent events.
//!
//! The sequence is Anthropic's: `message_start` (the message with empty `content`), then for
//! each content block `content_block_start`, its `content_block_delta`s and
//! `content_block_stop`, with indices counting up from 0, then `message_delta` (stop reason
//! and usage) and `message_stop`. Every event is written as `event: <type>` plus
//! `data: <json>`. A small state machine ([`Encoder`]) knows which block is open: text
//! arrives as `text_delta`, reasoning as `thinking_delta`, a thinking block's signature as
//! `signature_delta` (which ends that block), redacted thinking as a whole block, and each
//! OpenAI tool call as a `tool_use` block (`input: {}`) followed by `input_json_delta`s of its
//! argument fragments; a fragment of a new tool-call index closes the previous block. The
//! finish reason and the last usage seen are kept for `message_delta`. A failure after the
//! stream began ends it with an `error` event in Anthropic's error shape.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;
use sluice_providers::anthropic::wire::{
    BlockDelta, ContentBlock, MessageDeltaBody, MessagesResponse, StreamEvent,
};
use sluice_types::{ChatChunk, Delta, GatewayError, ToolCallDelta, Usage};

use crate::sse::EventWriter;

use super::encode::{or, stop_reason, text_block, thinking_block, usage};

/// The `error` event that ends a stream which failed after it began.
pub fn error_event(e: &GatewayError) -> Bytes {
    Bytes::from(format!("event: error\ndata: {}\n\n", e.to_anthropic_body()))
}

/// The content block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    /// A tool call, with its OpenAI `tool_calls` index.
    Tool(u32),
}

/// Per-stream state: what has been sent, the open block, the finish reason and usage.
#[derive(Debug)]
pub struct Encoder {
    /// Stand-ins for a stream whose chunks carry no id or model.
    id: String,
    model: String,
    started: bool,
    /// The open block and its index.
    open: Option<(Open, u32)>,
    /// The index of the next block.
    next_index: u32,
    /// OpenAI tool-call indices whose blocks were closed.
    closed_tools: Vec<u32>,
    finish: Option<String>,
    usage: Option<Usage>,
    out: BytesMut,
}

impl EventWriter for Encoder {
    /// The events for one chunk (possibly none).
    fn chunk(&mut self, chunk: &ChatChunk) -> Bytes {
        if !self.started {
            self.start(&chunk.id, &chunk.model, chunk.usage.as_ref());
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            self.delta(&choice.delta);
            if let Some(f) = &choice.finish_reason {
                self.finish = Some(f.clone());
            }
        }
        self.out.split().freeze()
    }

    /// The closing events: the open block's stop, `message_delta` and `message_stop`.
    fn finish(&mut self) -> Bytes {
        if !self.started {
            self.start("", "", None);
        }
        self.close();
        // Usage is final here: OpenAI-family streams report it in their last chunk.
        self.emit(&StreamEvent::MessageDelta {
            delta: MessageDeltaBody {
                stop_reason: Some(stop_reason(self.finish.as_deref()).into()),
                stop_sequence: None,
            },
            usage: Some(usage(self.usage.as_ref())),
        });
        self.emit(&StreamEvent::MessageStop);
        self.out.split().freeze()
    }

    fn fail(&mut self, e: &GatewayError) -> Bytes {
        error_event(e)
    }
}

impl Encoder {
    /// A fresh encoder.
    pub fn new(id: String, model: String) -> Self {
        Self {
            id,
            model,
            started: false,
            open: None,
            next_index: 0,
            closed_tools: Vec::new(),
            finish: None,
            usage: None,
            out: BytesMut::new(),
        }
    }

    fn start(&mut self, id: &str, model: &str, u: Option<&Usage>) {
        self.started = true;
        let mut u = usage(u);
        u.cache_creation_input_tokens = None;
        u.cache_read_input_tokens = None;
        let message = MessagesResponse {
            id: or(id.to_owned(), &self.id),
            kind: "message".into(),
            role: "assistant".into(),
            content: Vec::new(),
            model: or(model.to_owned(), &self.model),
            stop_reason: None,
            stop_sequence: None,
            usage: u,
        };
        self.emit(&StreamEvent::MessageStart { message });
    }

    fn delta(&mut self, d: &Delta) {
        for tb in d.thinking_blocks.iter().flatten() {
            match tb.kind.as_str() {
                "thinking" => {
                    // Thinking text normally comes as `reasoning_content`; take it from the
                    // block only when that is absent.
                    let text = tb
                        .thinking
                        .as_deref()
                        .filter(|_| d.reasoning_content.is_none());
                    if let Some(text) = text.filter(|t| !t.is_empty()) {
                        self.thinking(text);
                    }
                    if let Some(signature) = &tb.signature {
                        let index = self.ensure(Open::Thinking, || ContentBlock::Thinking {
                            thinking: String::new(),
                            signature: String::new(),
                        });
                        self.block_delta(
                            index,
                            BlockDelta::SignatureDelta {
                                signature: signature.clone(),
                            },
                        );
                        self.close();
                    }
                }
                _ => {
                    if let Some(block) = thinking_block(tb) {
                        self.close();
                        let index = self.open_block(None, block);
                        self.close_index(index);
                    }
                }
            }
        }
        if let Some(r) = d.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
            self.thinking(r);
        }
        for text in [&d.content, &d.refusal].into_iter().flatten() {
            if !text.is_empty() {
                let index = self.ensure(Open::Text, || text_block(String::new()));
                self.block_delta(index, BlockDelta::TextDelta { text: text.clone() });
            }
        }
        for tc in d.tool_calls.iter().flatten() {
            self.tool_call(tc);
        }
    }

    fn thinking(&mut self, text: &str) {
        let index = self.ensure(Open::Thinking, || ContentBlock::Thinking {
            thinking: String::new(),
            signature: String::new(),
        });
        self.block_delta(
            index,
            BlockDelta::ThinkingDelta {
                thinking: text.to_owned(),
            },
        );
    }

    fn tool_call(&mut self, tc: &ToolCallDelta) {
        let args = tc.function.as_ref().and_then(|f| f.arguments.as_deref());
        let index = match self.open {
            Some((Open::Tool(i), index)) if i == tc.index => index,
            _ if self.closed_tools.contains(&tc.index) => {
                tracing::warn!(
                    tool_call = tc.index,
                    "a fragment of a tool call whose block was closed was left out"
                );
                return;
            }
            _ => {
                self.close();
                let name = tc.function.as_ref().and_then(|f| f.name.clone());
                let id = tc
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("toolu_{}_{}", self.id, tc.index));
                let block = ContentBlock::ToolUse {
                    id,
                    name: name.unwrap_or_default(),
                    input: Value::Object(Default::default()),
                    cache_control: None,
                };
                self.open_block(Some(Open::Tool(tc.index)), block)
            }
        };
        if let Some(partial_json) = args.filter(|a| !a.is_empty()) {
            self.block_delta(
                index,
                BlockDelta::InputJsonDelta {
                    partial_json: partial_json.to_owned(),
                },
            );
        }
    }

    /// The index of the open block of `kind`, opening one (closing any other) if needed.
    fn ensure(&mut self, kind: Open, block: impl FnOnce() -> ContentBlock) -> u32 {
        match self.open {
            Some((open, index)) if open == kind => index,
            _ => {
                self.close();
                self.open_block(Some(kind), block())
            }
        }
    }

    /// Sends `content_block_start` for the next index; `kind` is what stays open.
    fn open_block(&mut self, kind: Option<Open>, content_block: ContentBlock) -> u32 {
        let index = self.next_index;
        self.next_index += 1;
        self.emit(&StreamEvent::ContentBlockStart {
            index,
            content_block,
        });
        self.open = kind.map(|k| (k, index));
        index
    }

    fn block_delta(&mut self, index: u32, delta: BlockDelta) {
        self.emit(&StreamEvent::ContentBlockDelta { index, delta });
    }

    /// Closes the open block, if any.
    fn close(&mut self) {
        if let Some((kind, index)) = self.open.take() {
            if let Open::Tool(i) = kind {
                self.closed_tools.push(i);
            }
            self.close_index(index);
        }
    }

    fn close_index(&mut self, index: u32) {
        self.emit(&StreamEvent::ContentBlockStop { index });
    }

    /// Appends one `event:` / `data:` pair.
    fn emit(&mut self, ev: &StreamEvent) {
        // Serializing plain data into memory cannot fail; an empty object is the fallback.
        let json = serde_json::to_vec(ev).unwrap_or_else(|_| b"{}".to_vec());
        self.out.put_slice(b"event: ");
        self.out.put_slice(event_name(ev).as_bytes());
        self.out.put_slice(b"\ndata: ");
        self.out.put_slice(&json);
        self.out.put_slice(b"\n\n");
    }
}

/// The SSE event name of `ev`: its `type`.
fn event_name(ev: &StreamEvent) -> &'static str {
    match ev {
        StreamEvent::MessageStart { .. } => "message_start",
        StreamEvent::ContentBlockStart { .. } => "content_block_start",
        StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
        StreamEvent::ContentBlockStop { .. } => "content_block_stop",
        StreamEvent::MessageDelta { .. } => "message_delta",
        StreamEvent::MessageStop => "message_stop",
        StreamEvent::Ping => "ping",
        StreamEvent::Error { .. } => "error",
        StreamEvent::Unknown => "unknown",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `(event name, data)` of every event in `bytes`, checking that the two agree.
    fn events(bytes: &[u8]) -> Vec<(String, Value)> {
        String::from_utf8_lossy(bytes)
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (name, data) = e.split_once('\n').unwrap();
                let name = name.strip_prefix("event: ").unwrap().to_owned();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], name.as_str());
                (name, data)
            })
            .collect()
    }

    fn chunk(v: Value) -> ChatChunk {
        let mut c = json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"});
        for (k, val) in v.as_object().unwrap() {
            c[k] = val.clone();
        }
        serde_json::from_value(c).unwrap()
    }

    fn delta(d: Value) -> ChatChunk {
        chunk(json!({"choices": [{"index": 0, "delta": d, "finish_reason": null}]}))
    }

    /// The events for a stream of the role chunk every OpenAI stream opens with, then
    /// `chunks`.
    fn run(chunks: &[ChatChunk]) -> Vec<(String, Value)> {
        let mut enc = Encoder::new("msg_fallback".into(), "fallback".into());
        let mut all = BytesMut::new();
        all.put_slice(&enc.chunk(&delta(json!({"role": "assistant", "content": ""}))));
        for c in chunks {
            all.put_slice(&enc.chunk(c));
        }
        all.put_slice(&enc.finish());
        events(&all)
    }

    fn names(evs: &[(String, Value)]) -> Vec<&str> {
        evs.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn text_stream_has_anthropics_sequence() {
        let evs = run(&[
            delta(json!({"content": "Hel"})),
            delta(json!({"content": "lo"})),
            chunk(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
            chunk(
                json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9,
                "prompt_tokens_details": {"cached_tokens": 3}}}),
            ),
        ]);
        assert_eq!(
            names(&evs),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            evs[0].1,
            json!({"type": "message_start", "message": {"id": "chatcmpl-9", "type": "message",
                "role": "assistant", "content": [], "model": "gpt-4o", "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}})
        );
        assert_eq!(
            evs[1].1,
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        );
        assert_eq!(
            evs[2].1,
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}})
        );
        assert_eq!(evs[4].1, json!({"type": "content_block_stop", "index": 0}));
        assert_eq!(
            evs[5].1,
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"input_tokens": 4, "output_tokens": 2, "cache_read_input_tokens": 3,
                          "cache_creation_input_tokens": 0}})
        );
        assert_eq!(evs[6].1, json!({"type": "message_stop"}));
    }

    #[test]
    fn thinking_then_text_then_tools() {
        let evs = run(&[
            delta(json!({"reasoning_content": "Let me"})),
            delta(json!({"reasoning_content": " think"})),
            delta(json!({"thinking_blocks": [{"type": "thinking", "signature": "sig=="}]})),
            delta(json!({"thinking_blocks": [{"type": "redacted_thinking", "data": "opaque"}]})),
            delta(json!({"content": "Checking."})),
            delta(
                json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "w", "arguments": ""}}]}),
            ),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]})),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]})),
            delta(
                json!({"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
                "function": {"name": "t", "arguments": "{}"}}]}),
            ),
            chunk(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})),
        ]);
        let summary: Vec<Value> = evs
            .iter()
            .map(|(_, d)| {
                let mut d = d.clone();
                if let Some(o) = d.as_object_mut() {
                    o.remove("message");
                    o.remove("usage");
                }
                d
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                json!({"type": "message_start"}),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me"}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": " think"}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig=="}}),
                json!({"type": "content_block_stop", "index": 0}),
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "opaque"}}),
                json!({"type": "content_block_stop", "index": 1}),
                json!({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}),
                json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "Checking."}}),
                json!({"type": "content_block_stop", "index": 2}),
                json!({"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "call_1", "name": "w", "input": {}}}),
                json!({"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
                json!({"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
                json!({"type": "content_block_stop", "index": 3}),
                json!({"type": "content_block_start", "index": 4, "content_block": {"type": "tool_use", "id": "call_2", "name": "t", "input": {}}}),
                json!({"type": "content_block_delta", "index": 4, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
                json!({"type": "content_block_stop", "index": 4}),
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}}),
                json!({"type": "message_stop"}),
            ]
        );
        // A late fragment of a closed tool call is dropped, not sent as a new block.
        let evs = run(&[
            delta(
                json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "x", "arguments": ""}}]}),
            ),
            delta(json!({"content": "text"})),
            delta(json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})),
        ]);
        assert_eq!(
            evs.iter()
                .filter(|(n, _)| n == "content_block_start")
                .count(),
            2
        );
    }

    #[test]
    fn an_empty_stream_still_starts_and_stops() {
        let evs = events(&Encoder::new("msg_fallback".into(), "fallback".into()).finish());
        assert_eq!(
            names(&evs),
            ["message_start", "message_delta", "message_stop"]
        );
        assert_eq!(evs[0].1["message"]["id"], "msg_fallback");
        assert_eq!(evs[0].1["message"]["model"], "fallback");
    }

    #[test]
    fn errors_are_anthropic_events() {
        let e = GatewayError::upstream_status(529, "Overloaded", None, None);
        assert_eq!(
            events(&error_event(&e)),
            vec![(
                "error".to_owned(),
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            )]
        );
    }
}
