//! Decoding a ConverseStream into OpenAI chat chunks.
//!
//! The transport undoes the AWS event-stream framing, so each event arrives named after its
//! `:event-type`: `messageStart`, then per content block `contentBlockStart` (tool calls
//! only), `contentBlockDelta`… and `contentBlockStop`, then `messageStop` (the stop reason)
//! and `metadata` (usage, metrics). An exception (`throttlingException`,
//! `modelStreamErrorException`, …) ends the stream with an error. The chunks are: a role
//! chunk first (`role: assistant`, `content: ""`), text as `content`, reasoning as
//! `reasoning_content`, a reasoning block's signature (or redacted content) as
//! `thinking_blocks`, tool calls as `tool_calls` fragments (the first with id, name and empty
//! arguments, then argument pieces, indexed from 0 in call order), a chunk with the
//! `finish_reason`, and a usage chunk (`choices: []`) last, always. The forced tool of
//! `response_format` streams its input as `content`.

use sluice_types::{
    ChatChunk, ChunkChoice, Delta, FunctionCallDelta, GatewayError, ThinkingBlock, ToolCallDelta,
};

use super::error::stream_exception;
use super::response::{finish_reason, is_json_tool, not_our_protocol, to_usage};
use super::wire::{ContentBlockDelta, ContentBlockStart, MessageStop, Metadata};
use crate::SseEvent;

/// What one content block of the stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// A tool call, with its OpenAI `tool_calls` index.
    Tool(u32),
    /// The forced tool of `response_format`: its input is the answer.
    JsonAnswer,
}

/// Per-stream state: the id, the block → tool-call index map, the stop reason.
#[derive(Debug, Default)]
pub struct StreamState {
    /// The response id: the request id, set before the first event.
    pub(super) id: String,
    /// Tool blocks by content block index, in arrival order (a message has few blocks).
    blocks: Vec<(u32, Block)>,
    /// Tool calls seen so far: the next OpenAI tool-call index.
    tool_calls: u32,
    /// Whether the answer is the forced JSON tool's input.
    json_answer: bool,
    /// The usage chunk was sent.
    done: bool,
}

impl StreamState {
    fn chunk(&self, delta: Delta, finish_reason: Option<&str>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".into(),
            created: 0,
            model: String::new(),
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

    fn block(&self, index: u32) -> Option<Block> {
        self.blocks
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, b)| *b)
    }

    /// Decodes one event into zero or more chunks.
    pub(super) fn decode(&mut self, ev: &SseEvent) -> Result<Vec<ChatChunk>, GatewayError> {
        let name = ev.event.as_deref().unwrap_or_default();
        let data = ev.data.trim();
        if self.id.is_empty() {
            self.id = crate::translate::body_id("bedrock", data.as_bytes());
        }
        let delta = match name {
            "messageStart" => Delta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Default::default()
            },
            "contentBlockStart" => {
                let start: ContentBlockStart = from_json(name, data)?;
                match self.start_block(start) {
                    Some(delta) => delta,
                    None => return Ok(Vec::new()),
                }
            }
            "contentBlockDelta" => {
                let d: ContentBlockDelta = from_json(name, data)?;
                match self.block_delta(d) {
                    Some(delta) => delta,
                    None => return Ok(Vec::new()),
                }
            }
            "messageStop" => {
                let stop: MessageStop = from_json(name, data)?;
                let finish = finish_reason(stop.stop_reason.as_deref(), self.json_answer);
                return Ok(vec![self.chunk(Delta::default(), Some(finish))]);
            }
            "metadata" => {
                let meta: Metadata = from_json(name, data)?;
                if self.done {
                    return Ok(Vec::new());
                }
                self.done = true;
                let mut last = self.chunk(Delta::default(), None);
                last.choices.clear();
                last.usage = Some(to_usage(&meta.usage.unwrap_or_default()));
                return Ok(vec![last]);
            }
            n if is_exception(n) => return Err(stream_exception(n, data)),
            // contentBlockStop and event types this build does not know.
            _ => return Ok(Vec::new()),
        };
        Ok(vec![self.chunk(delta, None)])
    }

    /// Records a tool block; the delta to send for its start, if any.
    fn start_block(&mut self, start: ContentBlockStart) -> Option<Delta> {
        let call = start.start.tool_use?;
        if is_json_tool(&call.name) {
            self.json_answer = true;
            self.blocks
                .push((start.content_block_index, Block::JsonAnswer));
            return None;
        }
        let tool_index = self.tool_calls;
        self.tool_calls += 1;
        self.blocks
            .push((start.content_block_index, Block::Tool(tool_index)));
        Some(Delta {
            tool_calls: Some(vec![ToolCallDelta {
                index: tool_index,
                id: Some(call.tool_use_id),
                kind: Some("function".into()),
                function: Some(FunctionCallDelta {
                    name: Some(call.name),
                    arguments: Some(String::new()),
                }),
                extra: Default::default(),
            }]),
            ..Default::default()
        })
    }

    /// The delta for a piece of a block, if it carries anything.
    fn block_delta(&self, d: ContentBlockDelta) -> Option<Delta> {
        let member = d.delta;
        if let Some(text) = member.text {
            return Some(Delta {
                content: Some(text),
                ..Default::default()
            });
        }
        if let Some(r) = member.reasoning_content {
            if let Some(text) = r.text {
                return Some(Delta {
                    reasoning_content: Some(text),
                    ..Default::default()
                });
            }
            let block = match (r.signature, r.redacted_content) {
                (Some(signature), _) => ThinkingBlock {
                    kind: "thinking".into(),
                    signature: Some(signature),
                    ..Default::default()
                },
                (None, Some(data)) => ThinkingBlock {
                    kind: "redacted_thinking".into(),
                    data: Some(data),
                    ..Default::default()
                },
                (None, None) => return None,
            };
            return Some(Delta {
                thinking_blocks: Some(vec![block]),
                ..Default::default()
            });
        }
        let input = member.tool_use?.input;
        if input.is_empty() {
            return None;
        }
        match self.block(d.content_block_index)? {
            Block::JsonAnswer => Some(Delta {
                content: Some(input),
                ..Default::default()
            }),
            Block::Tool(tool_index) => Some(Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: tool_index,
                    function: Some(FunctionCallDelta {
                        name: None,
                        arguments: Some(input),
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }
}

/// Whether an event name is an exception (`throttlingException`, …) or an error message.
fn is_exception(name: &str) -> bool {
    name == "error" || name.ends_with("Exception")
}

fn from_json<T: serde::de::DeserializeOwned>(event: &str, data: &str) -> Result<T, GatewayError> {
    serde_json::from_str(data)
        .map_err(|e| not_our_protocol(&format!("{event} event"), data.as_bytes(), &e))
}
