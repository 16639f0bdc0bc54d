//! The built-in `demo` provider: answers offline so the quick start works with no keys and no
//! network. It says what it is and echoes the last user message, word by word when streaming.

use futures_util::future::BoxFuture;
use sluice_types::{
    ChatChunk, ChatRequest, ChatResponse, Choice, ChunkChoice, Content, Delta, ErrorKind,
    GatewayError, Message, Origin, Usage,
};

use crate::call::unix_now;
use crate::{CallCx, ChunkStream, ForwardRequest, NativeRequest, Provider, Target, UpstreamBody};

/// The offline demo provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemoProvider;

impl DemoProvider {
    fn answer(req: &ChatRequest) -> String {
        let last = req
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .and_then(|m| m.content.as_ref())
            .map(text_of)
            .unwrap_or_default();
        format!("This is Sluice's offline demo model. You said: {last}")
    }

    fn usage(req: &ChatRequest, answer: &str) -> Usage {
        let prompt: u64 = req
            .messages
            .iter()
            .filter_map(|m| m.content.as_ref())
            .map(|c| words(&text_of(c)))
            .sum();
        let completion = words(answer);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Default::default()
        }
    }
}

fn text_of(c: &Content) -> String {
    match c {
        Content::Text(t) => t.clone(),
        Content::Parts(parts) => parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn response_id(cx: &CallCx) -> String {
    format!("chatcmpl-demo-{}", cx.request_id)
}

impl Provider for DemoProvider {
    fn chat<'a>(
        &'a self,
        req: &'a ChatRequest,
        target: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        let answer = Self::answer(req);
        let usage = Self::usage(req, &answer);
        let resp = ChatResponse {
            id: response_id(cx),
            object: "chat.completion".into(),
            created: unix_now(),
            model: target.model.to_string(),
            choices: vec![Choice {
                index: 0,
                message: Message {
                    role: "assistant".into(),
                    content: Some(Content::Text(answer)),
                    ..Default::default()
                },
                finish_reason: Some("stop".into()),
                ..Default::default()
            }],
            usage: Some(usage),
            ..Default::default()
        };
        Box::pin(async move { Ok(resp) })
    }

    fn chat_stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        target: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        let answer = Self::answer(req);
        let usage = req.wants_stream_usage().then(|| Self::usage(req, &answer));
        let base = ChatChunk {
            id: response_id(cx),
            object: "chat.completion.chunk".into(),
            created: unix_now(),
            model: target.model.to_string(),
            ..Default::default()
        };
        let delta_chunk = |delta: Delta, finish: Option<&str>| ChatChunk {
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish.map(Into::into),
                ..Default::default()
            }],
            ..base.clone()
        };
        let mut chunks = vec![delta_chunk(
            Delta {
                role: Some("assistant".into()),
                content: Some(String::new()),
                ..Default::default()
            },
            None,
        )];
        for (i, word) in answer.split(' ').enumerate() {
            let piece = if i == 0 {
                word.to_owned()
            } else {
                format!(" {word}")
            };
            chunks.push(delta_chunk(
                Delta {
                    content: Some(piece),
                    ..Default::default()
                },
                None,
            ));
        }
        chunks.push(delta_chunk(Delta::default(), Some("stop")));
        if let Some(usage) = usage {
            chunks.push(ChatChunk {
                usage: Some(usage),
                ..base.clone()
            });
        }
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok));
        Box::pin(async move { Ok(Box::pin(stream) as ChunkStream) })
    }

    fn forward<'a>(
        &'a self,
        _req: ForwardRequest,
        _cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<http::Response<UpstreamBody>, GatewayError>> {
        Box::pin(async {
            Err(GatewayError::new(
                ErrorKind::Unsupported,
                Origin::Client,
                "the demo provider serves chat completions only",
            ))
        })
    }

    fn forward_native<'a>(
        &'a self,
        _req: NativeRequest,
        _cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<http::Response<UpstreamBody>, GatewayError>> {
        Box::pin(async {
            Err(GatewayError::new(
                ErrorKind::Unsupported,
                Origin::Client,
                "the demo provider answers offline and has no native API to pass requests \
                 through to",
            ))
        })
    }
}
