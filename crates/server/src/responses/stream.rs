//! A stream of internal [`ChatChunk`]s → the Responses API's server-sent events.
//!
//! The sequence is OpenAI's: `response.created` and `response.in_progress` (the response
//! with no output yet), then for each output item `response.output_item.added`, its deltas
//! and `response.output_item.done`, and finally `response.completed` (or
//! `response.incomplete` after a `length` / `content_filter` finish) with the whole response.
//! Reasoning streams as `response.reasoning_text.delta`; text as a message item whose
//! `output_text` part opens with `response.content_part.added`, grows with
//! `response.output_text.delta` and ends with `response.output_text.done` and
//! `response.content_part.done`; a refusal likewise with `response.refusal.*`; each tool call
//! as a `function_call` item with `response.function_call_arguments.delta` / `.done`.
//! Output indices count items from 0; every event carries its `type` and a
//! `sequence_number` from 0. A failure after the stream began ends it with
//! `response.failed`, whose response carries the error and the items finished so far. There
//! is no `[DONE]`.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value, json};
use sluice_cache::Accumulator;
use sluice_types::{ChatChunk, ChatResponse, GatewayError, ToolCallDelta};

use crate::sse::EventWriter;

use super::encode::{
    call_item, call_item_id, item_id, message_item, reasoning_item, refusal_part, response, shell,
    text_part,
};

/// What to do with the complete answer once the stream finished cleanly.
pub(super) type OnComplete = Box<dyn FnOnce(&ChatResponse) + Send>;

/// The item being streamed.
enum Open {
    Reasoning {
        text: String,
    },
    Message {
        text: String,
    },
    Refusal {
        text: String,
    },
    /// A tool call, with its chat `tool_calls` index.
    Call {
        index: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// Per-stream state.
pub(super) struct Encoder {
    id: String,
    created: u64,
    model: String,
    echo: Map<String, Value>,
    seq: u64,
    started: bool,
    open: Option<(Open, u32)>,
    /// Finished items, in output order.
    items: Vec<Value>,
    finish: Option<String>,
    answer: Accumulator,
    on_complete: Option<OnComplete>,
    out: BytesMut,
}

impl EventWriter for Encoder {
    /// The events of one chunk.
    fn chunk(&mut self, chunk: &ChatChunk) -> Bytes {
        self.answer.push(chunk);
        if !chunk.model.is_empty() && !self.started {
            self.model.clone_from(&chunk.model);
        }
        self.start();
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            let d = &choice.delta;
            if let Some(t) = d.reasoning_content.as_deref().filter(|t| !t.is_empty()) {
                self.reasoning(t);
            }
            if let Some(t) = d.content.as_deref().filter(|t| !t.is_empty()) {
                self.text(t, false);
            }
            if let Some(t) = d.refusal.as_deref().filter(|t| !t.is_empty()) {
                self.text(t, true);
            }
            for tc in d.tool_calls.iter().flatten() {
                self.tool_call(tc);
            }
            if let Some(f) = &choice.finish_reason {
                self.finish = Some(f.clone());
            }
        }
        self.out.split().freeze()
    }

    /// The last events: the open item closes and the whole response follows.
    fn finish(&mut self) -> Bytes {
        self.start();
        self.close();
        let answer = std::mem::take(&mut self.answer).finish();
        let final_response = match &answer {
            Some(resp) => response(resp, &self.id, self.created, &self.model, &self.echo),
            None => {
                let (status, incomplete) = super::encode::status(self.finish.as_deref());
                let mut r = shell(&self.id, self.created, &self.model, &self.echo, status);
                r.insert("incomplete_details".into(), incomplete);
                r.insert("output".into(), Value::Array(self.items.clone()));
                Value::Object(r)
            }
        };
        let kind = match final_response["status"].as_str() {
            Some("incomplete") => "response.incomplete",
            _ => "response.completed",
        };
        self.emit(kind, json!({"response": final_response}));
        if let (Some(resp), Some(on_complete)) = (&answer, self.on_complete.take()) {
            on_complete(resp);
        }
        self.out.split().freeze()
    }

    /// The event that ends a stream which failed after it began.
    fn fail(&mut self, e: &GatewayError) -> Bytes {
        self.start();
        let mut r = shell(&self.id, self.created, &self.model, &self.echo, "failed");
        r.insert(
            "error".into(),
            json!({"code": e.code().unwrap_or(e.error_type()), "message": e.message()}),
        );
        r.insert("output".into(), Value::Array(self.items.clone()));
        self.emit("response.failed", json!({"response": r}));
        self.out.split().freeze()
    }
}

impl Encoder {
    /// An encoder for response `id`; `model` stands in where the chunks name none.
    pub(super) fn new(
        id: String,
        created: u64,
        model: String,
        echo: Map<String, Value>,
        on_complete: Option<OnComplete>,
    ) -> Self {
        Self {
            id,
            created,
            model,
            echo,
            seq: 0,
            started: false,
            open: None,
            items: Vec::new(),
            finish: None,
            answer: Accumulator::new(),
            on_complete,
            out: BytesMut::new(),
        }
    }

    fn start(&mut self) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let r = Value::Object(shell(
            &self.id,
            self.created,
            &self.model,
            &self.echo,
            "in_progress",
        ));
        self.emit("response.created", json!({"response": r}));
        self.emit("response.in_progress", json!({"response": r}));
    }

    fn reasoning(&mut self, delta: &str) {
        if !matches!(self.open, Some((Open::Reasoning { .. }, _))) {
            let id = item_id("rs", &self.id);
            self.open_item(
                Open::Reasoning {
                    text: String::new(),
                },
                reasoning_item(&id, "", None, "in_progress"),
            );
        }
        let id = item_id("rs", &self.id);
        if let Some((Open::Reasoning { text }, index)) = &mut self.open {
            text.push_str(delta);
            let index = *index;
            self.emit(
                "response.reasoning_text.delta",
                json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta}),
            );
        }
    }

    fn text(&mut self, delta: &str, refusal: bool) {
        let id = item_id("msg", &self.id);
        let already = match &self.open {
            Some((Open::Message { .. }, _)) => !refusal,
            Some((Open::Refusal { .. }, _)) => refusal,
            _ => false,
        };
        if !already {
            let (open, part) = if refusal {
                (
                    Open::Refusal {
                        text: String::new(),
                    },
                    refusal_part(""),
                )
            } else {
                (
                    Open::Message {
                        text: String::new(),
                    },
                    text_part(""),
                )
            };
            let index = self.open_item(open, message_item(&id, Vec::new(), "in_progress"));
            self.emit(
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
            );
        }
        let Some((Open::Message { text } | Open::Refusal { text }, index)) = &mut self.open else {
            return;
        };
        text.push_str(delta);
        let index = *index;
        if refusal {
            self.emit(
                "response.refusal.delta",
                json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta}),
            );
        } else {
            self.emit(
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta, "logprobs": []}),
            );
        }
    }

    fn tool_call(&mut self, tc: &ToolCallDelta) {
        let same = matches!(&self.open, Some((Open::Call { index, .. }, _)) if *index == tc.index);
        if !same {
            let call_id = tc
                .id
                .clone()
                .unwrap_or_else(|| format!("call_{}_{}", self.id, tc.index));
            let name = tc
                .function
                .as_ref()
                .and_then(|f| f.name.clone())
                .unwrap_or_default();
            let item = call_item(&call_id, &name, "", "in_progress");
            self.open_item(
                Open::Call {
                    index: tc.index,
                    call_id,
                    name,
                    arguments: String::new(),
                },
                item,
            );
        }
        let Some(fragment) = tc
            .function
            .as_ref()
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.is_empty())
        else {
            return;
        };
        if let Some((
            Open::Call {
                call_id, arguments, ..
            },
            index,
        )) = &mut self.open
        {
            arguments.push_str(fragment);
            let item_id = call_item_id(call_id);
            let index = *index;
            self.emit(
                "response.function_call_arguments.delta",
                json!({"item_id": item_id, "output_index": index, "delta": fragment}),
            );
        }
    }

    /// Closes the open item and opens `open`, announcing `item`; answers its output index.
    fn open_item(&mut self, open: Open, item: Value) -> u32 {
        self.close();
        let index = u32::try_from(self.items.len()).unwrap_or(u32::MAX);
        self.emit(
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        self.open = Some((open, index));
        index
    }

    /// Ends the open item with its `.done` events.
    fn close(&mut self) {
        let Some((open, index)) = self.open.take() else {
            return;
        };
        let item = match open {
            Open::Reasoning { text } => {
                let id = item_id("rs", &self.id);
                self.emit(
                    "response.reasoning_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                );
                reasoning_item(&id, &text, None, "completed")
            }
            Open::Message { text } => {
                let id = item_id("msg", &self.id);
                let part = text_part(&text);
                self.emit(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
                );
                self.emit(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                );
                message_item(&id, vec![part], "completed")
            }
            Open::Refusal { text } => {
                let id = item_id("msg", &self.id);
                let part = refusal_part(&text);
                self.emit(
                    "response.refusal.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "refusal": text}),
                );
                self.emit(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                );
                message_item(&id, vec![part], "completed")
            }
            Open::Call {
                call_id,
                name,
                arguments,
                ..
            } => {
                self.emit(
                    "response.function_call_arguments.done",
                    json!({"item_id": call_item_id(&call_id), "output_index": index,
                        "name": name, "arguments": arguments}),
                );
                call_item(&call_id, &name, &arguments, "completed")
            }
        };
        self.emit(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.items.push(item);
    }

    /// Writes one event: `type` and `sequence_number` first, then `fields`.
    fn emit(&mut self, kind: &str, fields: Value) {
        let mut event = Map::new();
        event.insert("type".into(), json!(kind));
        event.insert("sequence_number".into(), json!(self.seq));
        if let Value::Object(fields) = fields {
            event.extend(fields);
        }
        self.seq += 1;
        self.out.put_slice(b"event: ");
        self.out.put_slice(kind.as_bytes());
        self.out.put_slice(b"\ndata: ");
        self.out
            .put_slice(Value::Object(event).to_string().as_bytes());
        self.out.put_slice(b"\n\n");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn chunk(delta: Value, finish: Option<&str>) -> ChatChunk {
        serde_json::from_value(json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
            "model": "claude-x", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
        .unwrap()
    }

    fn events(bytes: &[u8]) -> Vec<(String, Value)> {
        let text = std::str::from_utf8(bytes).unwrap();
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (head, data) = e.split_once("\ndata: ").unwrap();
                let name = head.strip_prefix("event: ").unwrap().to_owned();
                let v: Value = serde_json::from_str(data).unwrap();
                assert_eq!(v["type"], name.as_str());
                (name, v)
            })
            .collect()
    }

    fn run(chunks: &[ChatChunk], on_complete: Option<OnComplete>) -> Vec<(String, Value)> {
        let mut enc = Encoder::new(
            "resp_r1".into(),
            9,
            "fallback".into(),
            Map::new(),
            on_complete,
        );
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&enc.chunk(c));
        }
        out.extend_from_slice(&enc.finish());
        let evs = events(&out);
        for (i, (_, v)) in evs.iter().enumerate() {
            assert_eq!(v["sequence_number"], i as u64);
        }
        evs
    }

    fn names(evs: &[(String, Value)]) -> Vec<&str> {
        evs.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn text_has_openais_sequence() {
        let kept = Arc::new(Mutex::new(None));
        let keep = kept.clone();
        let evs = run(
            &[
                chunk(json!({"role": "assistant", "content": ""}), None),
                chunk(json!({"content": "Hel"}), None),
                chunk(json!({"content": "lo"}), None),
                chunk(json!({}), Some("stop")),
            ],
            Some(Box::new(move |r: &ChatResponse| {
                *keep.lock().unwrap() = Some(r.clone());
            })),
        );
        assert_eq!(
            names(&evs),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(evs[0].1["response"]["status"], "in_progress");
        assert_eq!(evs[0].1["response"]["model"], "claude-x");
        assert_eq!(evs[4].1["delta"], "Hel");
        assert_eq!(evs[4].1["item_id"], "msg_r1");
        assert_eq!(evs[6].1["text"], "Hello");
        let done = &evs[9].1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(done["output"][0]["id"], evs[2].1["item"]["id"]);
        let kept = kept.lock().unwrap().clone().unwrap();
        assert_eq!(
            kept.choices[0].message.content,
            Some(sluice_types::Content::Text("Hello".into()))
        );
    }

    #[test]
    fn reasoning_text_and_two_calls() {
        let evs = run(
            &[
                chunk(json!({"reasoning_content": "let me"}), None),
                chunk(json!({"content": "Checking."}), None),
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
                    None,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"x\":"}}]}),
                    None,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
                    None,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}),
                    None,
                ),
                chunk(json!({}), Some("tool_calls")),
            ],
            None,
        );
        let added: Vec<(u64, &str)> = evs
            .iter()
            .filter(|(n, _)| n == "response.output_item.added")
            .map(|(_, v)| {
                (
                    v["output_index"].as_u64().unwrap(),
                    v["item"]["type"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            added,
            [
                (0, "reasoning"),
                (1, "message"),
                (2, "function_call"),
                (3, "function_call")
            ]
        );
        let args: Vec<&str> = evs
            .iter()
            .filter(|(n, _)| n == "response.function_call_arguments.done")
            .map(|(_, v)| v["arguments"].as_str().unwrap())
            .collect();
        assert_eq!(args, ["{\"x\":1}", "{}"]);
        let done = &evs.last().unwrap().1["response"];
        let kinds: Vec<&str> = done["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["reasoning", "message", "function_call", "function_call"]
        );
        assert_eq!(done["output"][2]["id"], "fc_call_a");
    }

    #[test]
    fn a_failure_ends_with_response_failed() {
        let mut enc = Encoder::new("resp_f".into(), 1, "m".into(), Map::new(), None);
        let mut out = enc
            .chunk(&chunk(json!({"content": "partial"}), None))
            .to_vec();
        let e = GatewayError::new(
            sluice_types::ErrorKind::UpstreamReset,
            sluice_types::Origin::Upstream,
            "the upstream hung up",
        );
        out.extend_from_slice(&enc.fail(&e));
        let evs = events(&out);
        let (name, last) = evs.last().unwrap();
        assert_eq!(name, "response.failed");
        assert_eq!(last["response"]["status"], "failed");
        assert_eq!(last["response"]["error"]["message"], "the upstream hung up");
    }
}
