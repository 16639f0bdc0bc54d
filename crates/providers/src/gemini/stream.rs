//! Decoding `streamGenerateContent?alt=sse`: every `data:` event is a whole
//! `GenerateContentResponse` holding the next parts of each candidate. There is no end
//! marker; the stream ends with the body, after the events that carry a `finishReason`.

use sluice_types::{
    ChatChunk, ChunkChoice, Delta, FunctionCallDelta, GatewayError, ToolCallDelta, Usage,
};

use super::response::{
    decode_parts, finish_reason, logprobs, not_our_protocol, prompt_blocked, usage,
};
use super::wire::GenerateContentResponse;
use super::{GeminiCodec, response_id};
use crate::SseEvent;

/// What one stream remembers between events.
#[derive(Debug, Default)]
pub struct StreamState {
    /// The response id, fixed by the first event.
    id: Option<String>,
    /// The latest `modelVersion`.
    model: String,
    /// Per candidate index.
    candidates: Vec<CandidateState>,
    /// The latest `usageMetadata`, mapped.
    usage: Option<Usage>,
    usage_sent: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct CandidateState {
    /// The role chunk was sent.
    started: bool,
    /// Calls sent so far (the next call's index).
    calls: usize,
    /// The finish chunk was sent.
    finished: bool,
}

impl StreamState {
    fn candidate(&mut self, index: u32) -> &mut CandidateState {
        let i = usize::try_from(index).unwrap_or(usize::MAX).min(1024);
        if self.candidates.len() <= i {
            self.candidates.resize(i + 1, CandidateState::default());
        }
        &mut self.candidates[i]
    }

    fn chunk(&self, id: &str, choices: Vec<ChunkChoice>, usage: Option<Usage>) -> ChatChunk {
        ChatChunk {
            id: id.to_owned(),
            object: "chat.completion.chunk".into(),
            created: 0,
            model: self.model.clone(),
            choices,
            usage,
            raw: None,
            extra: Default::default(),
        }
    }
}

impl GeminiCodec {
    pub(super) fn decode_chunk(
        &self,
        st: &mut StreamState,
        ev: &SseEvent,
    ) -> Result<Vec<ChatChunk>, GatewayError> {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let resp: GenerateContentResponse = serde_json::from_str(data)
            .map_err(|e| not_our_protocol("GenerateContentResponse event", data.as_bytes(), &e))?;
        if let Some(err) = &resp.error {
            return Err(self.error_value(200, err));
        }
        if resp.candidates.is_empty() {
            if let Some(blocked) = prompt_blocked(&resp) {
                return Err(blocked);
            }
        }
        let id = st
            .id
            .get_or_insert_with(|| response_id(resp.response_id.clone(), data.as_bytes()))
            .clone();
        if let Some(model) = resp.model_version {
            st.model = model;
        }
        if let Some(u) = &resp.usage_metadata {
            st.usage = Some(usage(u));
        }
        let mut out = Vec::new();
        let mut finished_now = false;
        for (pos, c) in resp.candidates.into_iter().enumerate() {
            let index = c
                .index
                .unwrap_or_else(|| u32::try_from(pos).unwrap_or(u32::MAX));
            let mut cs = *st.candidate(index);
            let parts = c.content.map(|c| c.parts).unwrap_or_default();
            let d = decode_parts(parts, cs.calls);
            let mut delta = Delta::default();
            if !cs.started {
                delta.role = Some("assistant".into());
                cs.started = true;
            }
            delta.content = d.content.filter(|s| !s.is_empty());
            delta.reasoning_content = d.reasoning.filter(|s| !s.is_empty());
            if !d.tool_calls.is_empty() {
                let first = cs.calls;
                cs.calls += d.tool_calls.len();
                delta.tool_calls = Some(
                    d.tool_calls
                        .into_iter()
                        .enumerate()
                        .map(|(k, tc)| ToolCallDelta {
                            index: u32::try_from(first + k).unwrap_or(u32::MAX),
                            id: Some(tc.id),
                            kind: Some(tc.kind),
                            function: Some(FunctionCallDelta {
                                name: Some(tc.function.name),
                                arguments: Some(tc.function.arguments),
                            }),
                            extra: Default::default(),
                        })
                        .collect(),
                );
            }
            if !d.blocks.is_empty() {
                delta.thinking_blocks = Some(d.blocks);
            }
            let mut extra = sluice_types::JsonMap::new();
            if let Some(result) = c.logprobs_result {
                extra.insert("logprobs".into(), logprobs(result));
            }
            if delta != Delta::default() || !extra.is_empty() {
                out.push(st.chunk(
                    &id,
                    vec![ChunkChoice {
                        index,
                        delta,
                        finish_reason: None,
                        extra,
                    }],
                    None,
                ));
            }
            if let Some(reason) = c.finish_reason.filter(|_| !cs.finished) {
                cs.finished = true;
                finished_now = true;
                out.push(st.chunk(
                    &id,
                    vec![ChunkChoice {
                        index,
                        delta: Delta::default(),
                        finish_reason: Some(finish_reason(&reason, cs.calls > 0).to_owned()),
                        extra: Default::default(),
                    }],
                    None,
                ));
            }
            *st.candidate(index) = cs;
        }
        // Usage goes out once, after every candidate that started has finished.
        let all_done = st.candidates.iter().all(|c| c.finished || !c.started);
        if finished_now && all_done && !st.usage_sent {
            if let Some(u) = st.usage.clone() {
                st.usage_sent = true;
                out.push(st.chunk(&id, Vec::new(), Some(u)));
            }
        }
        Ok(out)
    }
}
