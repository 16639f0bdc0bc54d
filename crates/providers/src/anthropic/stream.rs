//! Decoding a Messages stream into OpenAI chat chunks.
//!
//! Anthropic's sequence is `message_start`, then per content block `content_block_start`,
//! `content_block_delta`… and `content_block_stop`, then `message_delta` (stop reason and
//! cumulative usage) and `message_stop`, with `ping`s anywhere and an `error` event when the
//! stream fails after it began. The chunks are: a role chunk first (`role: assistant`,
//! `content: ""`), then text as `content`, thinking as `reasoning_content`, each thinking
//! block's signature as `thinking_blocks: [{type: thinking, signature}]`, tool calls as
//! `tool_calls` fragments (the first with id, name and empty arguments, then argument pieces),
//! a chunk with the `finish_reason`, and a usage chunk (`choices: []`) last. The forced tool
//! of `response_format` streams its input as `content`.

use sluice_types::{
    ChatChunk, ChunkChoice, Delta, FunctionCallDelta, GatewayError, ThinkingBlock, ToolCallDelta,
};

use super::error::stream_error;
use super::response::{finish_reason, is_json_tool, not_our_protocol, to_usage};
use super::wire::{BlockDelta, ContentBlock, StreamEvent, Usage};
use crate::SseEvent;

/// What one Anthropic content block of the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool call, with its OpenAI `tool_calls` index.
    Tool(u32),
    /// The forced tool of `response_format`: its input is the answer.
    JsonAnswer,
    /// Blocks with nothing to relay (redacted thinking, server tools, …).
    Other,
}

/// Per-stream state: ids, the block → tool-call index map, usage so far.
#[derive(Debug, Default)]
pub struct StreamState {
    id: String,
    model: String,
    /// Anthropic block index → kind, in arrival order (a message has few blocks).
    blocks: Vec<(u32, Block)>,
    /// Tool calls seen so far: the next OpenAI tool-call index.
    tool_calls: u32,
    /// Whether the answer is the forced JSON tool's input.
    json_answer: bool,
    usage: Usage,
    /// The usage chunk was sent.
    done: bool,
}

impl StreamState {
    fn chunk(&self, delta: Delta, finish_reason: Option<&str>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: 0,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish_reason.map(str::to_owned),
                extra: Default::default(),
            }],
            usage: None,
            raw: None,
            extra: Default::default(),
        }
    }

    fn block(&self, index: u32) -> Block {
        self.blocks
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(Block::Other, |(_, b)| *b)
    }

    fn merge_usage(&mut self, u: Usage) {
        let Usage {
            input_tokens,
            output_tokens,
            cache_creation_input_tokens,
            cache_read_input_tokens,
            extra,
        } = u;
        let keep = |old: &mut Option<u64>, new: Option<u64>| {
            if new.is_some() {
                *old = new;
            }
        };
        keep(&mut self.usage.input_tokens, input_tokens);
        keep(&mut self.usage.output_tokens, output_tokens);
        keep(
            &mut self.usage.cache_creation_input_tokens,
            cache_creation_input_tokens,
        );
        keep(
            &mut self.usage.cache_read_input_tokens,
            cache_read_input_tokens,
        );
        self.usage.extra.extend(extra);
    }

    /// Decodes one SSE event into zero or more chunks.
    pub(super) fn decode(&mut self, ev: &SseEvent) -> Result<Vec<ChatChunk>, GatewayError> {
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let event: StreamEvent = serde_json::from_str(data)
            .map_err(|e| not_our_protocol("stream event", data.as_bytes(), &e))?;
        let delta = match event {
            StreamEvent::MessageStart { message } => {
                self.id = message.id;
                self.model = message.model;
                self.merge_usage(message.usage);
                Delta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    ..Default::default()
                }
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } => match self.start_block(index, content_block) {
                Some(delta) => delta,
                None => return Ok(Vec::new()),
            },
            StreamEvent::ContentBlockDelta { index, delta } => {
                match self.block_delta(index, delta) {
                    Some(delta) => delta,
                    None => return Ok(Vec::new()),
                }
            }
            StreamEvent::MessageDelta { delta, usage } => {
                if let Some(u) = usage {
                    self.merge_usage(u);
                }
                let finish = finish_reason(delta.stop_reason.as_deref(), self.json_answer);
                return Ok(vec![self.chunk(Delta::default(), Some(finish))]);
            }
            StreamEvent::MessageStop => {
                if self.done {
                    return Ok(Vec::new());
                }
                self.done = true;
                let mut last = self.chunk(Delta::default(), None);
                last.choices.clear();
                last.usage = Some(to_usage(&self.usage));
                return Ok(vec![last]);
            }
            StreamEvent::Error { error } => return Err(stream_error(&error)),
            StreamEvent::ContentBlockStop { .. } | StreamEvent::Ping | StreamEvent::Unknown => {
                return Ok(Vec::new());
            }
        };
        Ok(vec![self.chunk(delta, None)])
    }

    /// Records a new block; the delta to send for its start, if any.
    fn start_block(&mut self, index: u32, block: ContentBlock) -> Option<Delta> {
        let (kind, delta) = match block {
            ContentBlock::Text { text, .. } => (
                Block::Text,
                (!text.is_empty()).then(|| Delta {
                    content: Some(text),
                    ..Default::default()
                }),
            ),
            ContentBlock::Thinking { thinking, .. } => (
                Block::Thinking,
                (!thinking.is_empty()).then(|| Delta {
                    reasoning_content: Some(thinking),
                    ..Default::default()
                }),
            ),
            ContentBlock::RedactedThinking { data } => (
                Block::Other,
                Some(Delta {
                    thinking_blocks: Some(vec![ThinkingBlock {
                        kind: "redacted_thinking".into(),
                        data: Some(data),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            ),
            ContentBlock::ToolUse { name, .. } if is_json_tool(&name) => {
                self.json_answer = true;
                (Block::JsonAnswer, None)
            }
            ContentBlock::ToolUse { id, name, .. } => {
                let tool_index = self.tool_calls;
                self.tool_calls += 1;
                (
                    Block::Tool(tool_index),
                    Some(Delta {
                        tool_calls: Some(vec![ToolCallDelta {
                            index: tool_index,
                            id: Some(id),
                            kind: Some("function".into()),
                            function: Some(FunctionCallDelta {
                                name: Some(name),
                                arguments: Some(String::new()),
                            }),
                            extra: Default::default(),
                        }]),
                        ..Default::default()
                    }),
                )
            }
            ContentBlock::Image { .. }
            | ContentBlock::Document { .. }
            | ContentBlock::ToolResult { .. }
            | ContentBlock::Unknown => (Block::Other, None),
        };
        self.blocks.push((index, kind));
        delta
    }

    /// The delta for a piece of block `index`, if it carries anything.
    fn block_delta(&self, index: u32, delta: BlockDelta) -> Option<Delta> {
        match (self.block(index), delta) {
            (_, BlockDelta::TextDelta { text }) => Some(Delta {
                content: Some(text),
                ..Default::default()
            }),
            (_, BlockDelta::ThinkingDelta { thinking }) => Some(Delta {
                reasoning_content: Some(thinking),
                ..Default::default()
            }),
            (_, BlockDelta::SignatureDelta { signature }) => Some(Delta {
                thinking_blocks: Some(vec![ThinkingBlock {
                    kind: "thinking".into(),
                    signature: Some(signature),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            (_, BlockDelta::InputJsonDelta { partial_json }) if partial_json.is_empty() => None,
            (Block::JsonAnswer, BlockDelta::InputJsonDelta { partial_json }) => Some(Delta {
                content: Some(partial_json),
                ..Default::default()
            }),
            (Block::Tool(tool_index), BlockDelta::InputJsonDelta { partial_json }) => Some(Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: tool_index,
                    function: Some(FunctionCallDelta {
                        name: None,
                        arguments: Some(partial_json),
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            (Block::Text | Block::Thinking | Block::Other, BlockDelta::InputJsonDelta { .. })
            | (_, BlockDelta::Unknown) => None,
        }
    }
}
