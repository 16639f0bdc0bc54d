//! Streams and complete answers: [`Accumulator`] assembles the complete response from a
//! stream's chunks as they pass, and [`replay`] turns a complete response back into chunks.
//!
//! The accumulator concatenates, per choice, the text, refusal and reasoning fragments,
//! builds each tool call from its fragments by index (id, type and name from the first that
//! has them, arguments concatenated), turns reasoning plus a signature fragment into one
//! thinking block (redacted blocks are kept whole), appends streamed `logprobs` arrays, and
//! keeps the last usage. Choice-level fields it does not know keep their last non-null
//! value. It yields a response only when the stream was clean: no error, at least one
//! choice, every choice with a finish reason, and no delta field it cannot assemble (an
//! unknown non-null delta field makes the stream uncacheable rather than half-cached).

use std::collections::BTreeMap;

use serde_json::Value;
use sluice_types::{
    ChatChunk, ChatResponse, Choice, ChunkChoice, Content, Delta, FunctionCall, FunctionCallDelta,
    JsonMap, Message, ThinkingBlock, ToolCall, ToolCallDelta,
};

/// Chunk-level fields that belong to one chunk only and are not kept.
const PER_CHUNK_FIELDS: &[&str] = &["obfuscation", "usage", "choices"];

/// Builds the complete response of a stream from its chunks.
#[derive(Debug, Default)]
pub struct Accumulator {
    id: String,
    created: u64,
    model: String,
    extra: JsonMap,
    choices: BTreeMap<u32, ChoiceParts>,
    usage: Option<sluice_types::Usage>,
    /// The stream failed, or carried something that cannot be assembled.
    spoiled: bool,
}

#[derive(Debug, Default)]
struct ChoiceParts {
    role: Option<String>,
    content: Option<String>,
    refusal: Option<String>,
    reasoning: Option<String>,
    /// Reasoning text of the thinking block in progress.
    block_text: String,
    thinking: Vec<ThinkingBlock>,
    tools: BTreeMap<u32, ToolCall>,
    finish: Option<String>,
    extra: JsonMap,
}

impl Accumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one chunk.
    pub fn push(&mut self, chunk: &ChatChunk) {
        if self.id.is_empty() {
            self.id.clone_from(&chunk.id);
        }
        if self.model.is_empty() {
            self.model.clone_from(&chunk.model);
        }
        if self.created == 0 {
            self.created = chunk.created;
        }
        for (k, v) in &chunk.extra {
            if !v.is_null() && !PER_CHUNK_FIELDS.contains(&k.as_str()) {
                self.extra.insert(k.clone(), v.clone());
            }
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        for c in &chunk.choices {
            self.choice(c);
        }
    }

    /// Notes that the stream failed: nothing will be yielded.
    pub fn fail(&mut self) {
        self.spoiled = true;
    }

    /// The complete response, when the stream finished cleanly.
    pub fn finish(self) -> Option<ChatResponse> {
        if self.spoiled
            || self.choices.is_empty()
            || self.choices.values().any(|c| c.finish.is_none())
        {
            return None;
        }
        let choices = self
            .choices
            .into_iter()
            .map(|(index, c)| c.into_choice(index))
            .collect();
        Some(ChatResponse {
            id: self.id,
            object: "chat.completion".into(),
            created: self.created,
            model: self.model,
            choices,
            usage: self.usage,
            raw: None,
            extra: self.extra,
        })
    }

    fn choice(&mut self, c: &ChunkChoice) {
        let parts = self.choices.entry(c.index).or_default();
        if c.delta.extra.values().any(|v| !v.is_null()) {
            self.spoiled = true;
        }
        let d = &c.delta;
        if parts.role.is_none() {
            parts.role.clone_from(&d.role);
        }
        append(&mut parts.content, d.content.as_deref());
        append(&mut parts.refusal, d.refusal.as_deref());
        append(&mut parts.reasoning, d.reasoning_content.as_deref());
        if let Some(r) = &d.reasoning_content {
            parts.block_text.push_str(r);
        }
        for tb in d.thinking_blocks.iter().flatten() {
            parts.thinking_fragment(tb, d.reasoning_content.is_some());
        }
        for tc in d.tool_calls.iter().flatten() {
            parts.tool_fragment(tc);
        }
        if let Some(f) = &c.finish_reason {
            parts.finish = Some(f.clone());
        }
        for (k, v) in &c.extra {
            match (k.as_str(), v) {
                (_, Value::Null) => {}
                ("logprobs", Value::Object(lp)) => merge_logprobs(&mut parts.extra, lp),
                _ => {
                    parts.extra.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

impl ChoiceParts {
    fn thinking_fragment(&mut self, tb: &ThinkingBlock, has_reasoning: bool) {
        if tb.kind != "thinking" {
            self.thinking.push(tb.clone());
            return;
        }
        if !has_reasoning {
            if let Some(t) = &tb.thinking {
                self.block_text.push_str(t);
                append(&mut self.reasoning, Some(t));
            }
        }
        if tb.signature.is_some() {
            self.thinking.push(ThinkingBlock {
                kind: tb.kind.clone(),
                thinking: Some(std::mem::take(&mut self.block_text)),
                signature: tb.signature.clone(),
                data: None,
            });
        }
    }

    fn tool_fragment(&mut self, tc: &ToolCallDelta) {
        let call = self.tools.entry(tc.index).or_insert_with(|| ToolCall {
            id: String::new(),
            kind: String::new(),
            function: FunctionCall {
                name: String::new(),
                arguments: String::new(),
            },
            extra: JsonMap::new(),
        });
        if let Some(id) = tc.id.as_ref().filter(|_| call.id.is_empty()) {
            call.id.clone_from(id);
        }
        if let Some(kind) = tc.kind.as_ref().filter(|_| call.kind.is_empty()) {
            call.kind.clone_from(kind);
        }
        if let Some(f) = &tc.function {
            if let Some(name) = f.name.as_ref().filter(|_| call.function.name.is_empty()) {
                call.function.name.clone_from(name);
            }
            if let Some(args) = &f.arguments {
                call.function.arguments.push_str(args);
            }
        }
        for (k, v) in tc.extra.iter().filter(|(_, v)| !v.is_null()) {
            call.extra.insert(k.clone(), v.clone());
        }
    }

    fn into_choice(self, index: u32) -> Choice {
        let tool_calls: Vec<ToolCall> = self
            .tools
            .into_values()
            .map(|mut t| {
                if t.kind.is_empty() {
                    t.kind = "function".into();
                }
                t
            })
            .collect();
        // As in a complete answer: text, else `""`, but nothing beside tool calls or a refusal.
        let content = match (
            self.content,
            tool_calls.is_empty() && self.refusal.is_none(),
        ) {
            (Some(text), _) if !text.is_empty() => Some(Content::Text(text)),
            (_, true) => Some(Content::Text(String::new())),
            (_, false) => None,
        };
        Choice {
            index,
            message: Message {
                role: self.role.unwrap_or_else(|| "assistant".into()),
                content,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                refusal: self.refusal,
                reasoning_content: self.reasoning,
                thinking_blocks: (!self.thinking.is_empty()).then_some(self.thinking),
                ..Message::default()
            },
            finish_reason: self.finish,
            extra: self.extra,
        }
    }
}

fn append(into: &mut Option<String>, piece: Option<&str>) {
    if let Some(p) = piece {
        into.get_or_insert_with(String::new).push_str(p);
    }
}

/// Appends the arrays of a streamed `logprobs` object (`content`, `refusal`) to the kept one.
fn merge_logprobs(extra: &mut JsonMap, piece: &JsonMap) {
    let kept = extra
        .entry("logprobs")
        .or_insert_with(|| Value::Object(JsonMap::new()));
    let Value::Object(kept) = kept else {
        return;
    };
    for (k, v) in piece {
        match (kept.get_mut(k), v) {
            (Some(Value::Array(have)), Value::Array(more)) => have.extend(more.iter().cloned()),
            (_, Value::Null) => {}
            _ => {
                kept.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The chunks that stream `resp`, in order: per choice a role chunk, its reasoning (thinking
/// blocks with their signatures), its text, each tool call whole, its refusal and a chunk
/// with the finish reason (and the choice's other fields, such as `logprobs`); then a usage
/// chunk with no choices when the response has usage. Every chunk carries the response's id,
/// model, creation time and top-level extra fields.
pub fn replay(resp: &ChatResponse) -> Vec<ChatChunk> {
    let chunk = |choices: Vec<ChunkChoice>| ChatChunk {
        id: resp.id.clone(),
        object: "chat.completion.chunk".into(),
        created: resp.created,
        model: resp.model.clone(),
        choices,
        usage: None,
        raw: None,
        extra: resp.extra.clone(),
    };
    let mut out = Vec::new();
    for choice in &resp.choices {
        let one = |delta: Delta| {
            chunk(vec![ChunkChoice {
                index: choice.index,
                delta,
                finish_reason: None,
                extra: JsonMap::new(),
            }])
        };
        let m = &choice.message;
        out.push(one(Delta {
            role: Some(m.role.clone()),
            ..Delta::default()
        }));
        match &m.thinking_blocks {
            Some(blocks) => {
                for tb in blocks {
                    out.extend(thinking_chunks(tb).into_iter().map(&one));
                }
            }
            None => {
                if let Some(r) = m.reasoning_content.clone() {
                    out.push(one(Delta {
                        reasoning_content: Some(r),
                        ..Delta::default()
                    }));
                }
            }
        }
        let text = match &m.content {
            Some(Content::Text(t)) => t.clone(),
            Some(Content::Parts(parts)) => parts.iter().filter_map(|p| p.text.as_deref()).collect(),
            None => String::new(),
        };
        if !text.is_empty() {
            out.push(one(Delta {
                content: Some(text),
                ..Delta::default()
            }));
        }
        for (i, tc) in m.tool_calls.iter().flatten().enumerate() {
            out.push(one(Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    id: Some(tc.id.clone()),
                    kind: Some(tc.kind.clone()),
                    function: Some(FunctionCallDelta {
                        name: Some(tc.function.name.clone()),
                        arguments: Some(tc.function.arguments.clone()),
                    }),
                    extra: tc.extra.clone(),
                }]),
                ..Delta::default()
            }));
        }
        if let Some(r) = &m.refusal {
            out.push(one(Delta {
                refusal: Some(r.clone()),
                ..Delta::default()
            }));
        }
        out.push(chunk(vec![ChunkChoice {
            index: choice.index,
            delta: Delta::default(),
            finish_reason: choice.finish_reason.clone(),
            extra: choice.extra.clone(),
        }]));
    }
    if let Some(u) = &resp.usage {
        let mut last = chunk(Vec::new());
        last.usage = Some(u.clone());
        out.push(last);
    }
    out
}

/// A thinking block as a stream sends it: its text as reasoning, then its signature (which
/// ends the block); a redacted block whole.
fn thinking_chunks(tb: &ThinkingBlock) -> Vec<Delta> {
    if tb.kind != "thinking" {
        return vec![Delta {
            thinking_blocks: Some(vec![tb.clone()]),
            ..Delta::default()
        }];
    }
    let mut out = Vec::new();
    if let Some(text) = tb.thinking.clone().filter(|t| !t.is_empty()) {
        out.push(Delta {
            reasoning_content: Some(text),
            ..Delta::default()
        });
    }
    if tb.signature.is_some() {
        out.push(Delta {
            thinking_blocks: Some(vec![ThinkingBlock {
                kind: tb.kind.clone(),
                signature: tb.signature.clone(),
                ..ThinkingBlock::default()
            }]),
            ..Delta::default()
        });
    }
    out
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
