//! Decoding a Chat v2 stream into OpenAI chat chunks.
//!
//! Cohere's sequence is `message-start` (with the reply's id), then per content block
//! `content-start`, `content-delta`… and `content-end` (text or thinking), or for tool use
//! `tool-plan-delta`… then per call `tool-call-start` (id and name), `tool-call-delta`…
//! (argument pieces) and `tool-call-end`, `citation-start` / `citation-end` pairs anywhere
//! in text, and finally `message-end` with the finish reason and usage (or an error), and
//! `data: [DONE]`. The chunks are: a role chunk first (`role: assistant`, `content: ""`),
//! text as `content`, thinking and the tool plan as `reasoning_content`, tool calls as
//! `tool_calls` fragments (the first with id, name and empty arguments, indices counting the
//! calls from 0 in the order they start), a chunk with the `finish_reason`, and a usage chunk
//! (`choices: []`) last. Citations are not relayed in streams.

use sluice_types::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, GatewayError, ToolCallDelta};

use super::response::{finish_reason, logprobs, not_our_protocol, to_usage};
use super::wire::{ContentPiece, StreamEvent};
use crate::SseEvent;

/// Per-stream state: the reply's id and the Cohere → OpenAI tool-call index map.
#[derive(Debug, Default)]
pub struct StreamState {
    id: String,
    /// The role chunk was sent.
    started: bool,
    /// Cohere tool-call index → OpenAI tool-call index, in the order calls started.
    tools: Vec<(u32, u32)>,
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

    /// The OpenAI index of Cohere's tool call `index` (the latest call when unknown).
    fn tool_index(&self, index: u32) -> u32 {
        self.tools
            .iter()
            .find(|(cohere, _)| *cohere == index)
            .or(self.tools.last())
            .map_or(0, |(_, openai)| *openai)
    }

    /// Decodes one SSE event into zero or more chunks.
    pub(super) fn decode(
        &mut self,
        provider: &str,
        ev: &SseEvent,
    ) -> Result<Vec<ChatChunk>, GatewayError> {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let event: StreamEvent = serde_json::from_str(data)
            .map_err(|e| not_our_protocol("stream event", data.as_bytes(), &e))?;
        let mut out = Vec::new();
        if !self.started {
            // The id comes with message-start; a stream without one gets an id derived
            // from its first event, never a placeholder.
            self.id = match &event {
                StreamEvent::MessageStart { id: Some(id) } if !id.is_empty() => id.clone(),
                _ => crate::translate::body_id("cohere", data.as_bytes()),
            };
            self.started = true;
            out.push(self.chunk(
                Delta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    ..Default::default()
                },
                None,
            ));
        }
        let delta = match event {
            StreamEvent::MessageStart { .. } | StreamEvent::Unknown => None,
            StreamEvent::ContentStart { delta, .. } => piece(delta.message.content),
            StreamEvent::ContentDelta {
                delta,
                logprobs: lp,
                ..
            } => {
                let mut chunk = piece(delta.message.content).map(|d| self.chunk(d, None));
                if let (Some(chunk), Some(item)) = (chunk.as_mut(), lp) {
                    if let Some(choice) = chunk.choices.first_mut() {
                        choice
                            .extra
                            .insert("logprobs".into(), logprobs(std::slice::from_ref(&item)));
                    }
                }
                out.extend(chunk);
                None
            }
            StreamEvent::ToolPlanDelta { delta } => {
                let plan = delta.message.tool_plan;
                (!plan.is_empty()).then(|| Delta {
                    reasoning_content: Some(plan),
                    ..Default::default()
                })
            }
            StreamEvent::ToolCallStart { index, delta } => {
                let call = delta.message.tool_calls;
                let openai = u32::try_from(self.tools.len()).unwrap_or(u32::MAX);
                self.tools.push((index, openai));
                Some(Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: openai,
                        id: Some(call.id),
                        kind: Some("function".into()),
                        function: Some(FunctionCallDelta {
                            name: Some(call.function.name),
                            arguments: Some(call.function.arguments),
                        }),
                        extra: Default::default(),
                    }]),
                    ..Default::default()
                })
            }
            StreamEvent::ToolCallDelta { index, delta } => {
                let args = delta.message.tool_calls.function.arguments;
                (!args.is_empty()).then(|| Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: self.tool_index(index),
                        function: Some(FunctionCallDelta {
                            name: None,
                            arguments: Some(args),
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                })
            }
            StreamEvent::MessageEnd { delta } => {
                let finish = finish_reason(
                    provider,
                    delta.finish_reason.as_deref(),
                    delta.error.as_deref(),
                )?;
                out.push(self.chunk(Delta::default(), Some(finish)));
                if !self.done {
                    self.done = true;
                    let mut last = self.chunk(Delta::default(), None);
                    last.choices.clear();
                    last.usage = Some(to_usage(delta.usage.as_ref()));
                    out.push(last);
                }
                None
            }
        };
        if let Some(delta) = delta {
            out.push(self.chunk(delta, None));
        }
        Ok(out)
    }
}

/// The delta for a piece of a text or thinking block, if it carries anything.
fn piece(content: ContentPiece) -> Option<Delta> {
    let text = content.text.filter(|t| !t.is_empty());
    let thinking = content.thinking.filter(|t| !t.is_empty());
    (text.is_some() || thinking.is_some()).then(|| Delta {
        content: text,
        reasoning_content: thinking,
        ..Default::default()
    })
}
