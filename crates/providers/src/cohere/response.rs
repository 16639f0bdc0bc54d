//! Decoding a complete Chat v2 response into an OpenAI-shaped chat completion.
//!
//! Text blocks are joined into `content`; `thinking` blocks become `reasoning_content` and
//! `thinking_blocks` (`{type: thinking, thinking}`, sent back as thinking blocks next turn);
//! the `tool_plan` becomes `reasoning_content` too (after any thinking); `tool_calls` pass
//! with their arguments string; `citations` are kept on the message as `citations`; the
//! `logprobs` chunks become OpenAI `logprobs.content` entries. A `finish_reason` of `ERROR`
//! or `TIMEOUT` is an error, not an answer. Cohere sends no model name and no timestamp:
//! both are left empty for the transport to fill in.

use serde_json::{Value, json};
use sluice_types::{
    ChatResponse, Choice, Content, ErrorKind, FunctionCall, GatewayError, Message, Origin,
    PromptTokensDetails, ThinkingBlock, ToolCall, Usage,
};

use super::CohereCodec;
use super::wire::{self, Block, LogprobItem};

impl CohereCodec {
    pub(super) fn decode_chat(&self, body: &[u8]) -> Result<ChatResponse, GatewayError> {
        let resp: wire::ChatResponse =
            serde_json::from_slice(body).map_err(|e| not_our_protocol("response", body, &e))?;
        let finish = finish_reason(&self.name, resp.finish_reason.as_deref(), None)?;
        let msg = resp.message;
        let mut text = String::new();
        let mut has_text = false;
        let mut reasoning = Vec::new();
        let mut thinking_blocks = Vec::new();
        for block in msg.content.into_iter().flatten() {
            match block {
                Block::Text { text: t } => {
                    text.push_str(&t);
                    has_text = true;
                }
                Block::Thinking { thinking } => {
                    reasoning.push(thinking.clone());
                    thinking_blocks.push(ThinkingBlock {
                        kind: "thinking".into(),
                        thinking: Some(thinking),
                        ..Default::default()
                    });
                }
                Block::ImageUrl { .. } | Block::Document { .. } | Block::Unknown => {}
            }
        }
        if let Some(plan) = msg.tool_plan.filter(|p| !p.is_empty()) {
            reasoning.push(plan);
        }
        let tool_calls: Vec<ToolCall> = msg
            .tool_calls
            .into_iter()
            .flatten()
            .map(|c| ToolCall {
                id: c.id,
                kind: "function".into(),
                function: FunctionCall {
                    name: c.function.name,
                    arguments: if c.function.arguments.is_empty() {
                        "{}".into()
                    } else {
                        c.function.arguments
                    },
                },
                extra: Default::default(),
            })
            .collect();
        let mut message = Message {
            role: "assistant".into(),
            content: (has_text || tool_calls.is_empty()).then_some(Content::Text(text)),
            tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
            reasoning_content: (!reasoning.is_empty()).then(|| reasoning.join("\n\n")),
            thinking_blocks: (!thinking_blocks.is_empty()).then_some(thinking_blocks),
            ..Default::default()
        };
        if let Some(citations) = msg
            .citations
            .filter(|c| c.as_array().is_some_and(|a| !a.is_empty()))
        {
            message.extra.insert("citations".into(), citations);
        }
        let mut choice = Choice {
            index: 0,
            message,
            finish_reason: Some(finish.to_owned()),
            extra: Default::default(),
        };
        if let Some(items) = resp.logprobs.filter(|l| !l.is_empty()) {
            choice.extra.insert("logprobs".into(), logprobs(&items));
        }
        Ok(ChatResponse {
            id: resp.id,
            object: "chat.completion".into(),
            created: 0,
            model: String::new(),
            choices: vec![choice],
            usage: Some(to_usage(resp.usage.as_ref())),
            raw: None,
            extra: Default::default(),
        })
    }
}

/// The error for an upstream body that is not what the protocol promises.
pub(super) fn not_our_protocol(what: &str, body: &[u8], e: &serde_json::Error) -> GatewayError {
    let head = String::from_utf8_lossy(&body[..body.len().min(200)]);
    GatewayError::new(
        ErrorKind::UpstreamProtocol,
        Origin::Upstream,
        format!(
            "upstream returned a body that is not a Cohere chat {what} ({e}); it starts with: {head:?}"
        ),
    )
}

/// Cohere's `finish_reason` as an OpenAI `finish_reason`; `ERROR` and `TIMEOUT` are errors.
pub(super) fn finish_reason(
    provider: &str,
    reason: Option<&str>,
    error: Option<&str>,
) -> Result<&'static str, GatewayError> {
    let detail = |what: &str| match error.filter(|e| !e.is_empty()) {
        Some(e) => format!("provider {provider} (cohere) {what}: {e}"),
        None => format!("provider {provider} (cohere) {what}"),
    };
    match reason {
        Some("MAX_TOKENS") => Ok("length"),
        Some("TOOL_CALL") => Ok("tool_calls"),
        Some("ERROR") => Err(GatewayError::upstream_status(
            500,
            detail("failed to generate the answer"),
            None,
            Some("generation_error".into()),
        )),
        Some("TIMEOUT") => Err(GatewayError::new(
            ErrorKind::UpstreamTimeout,
            Origin::Upstream,
            detail("stopped generating: the generation exceeded its time limit"),
        )),
        // COMPLETE, STOP_SEQUENCE and anything newer.
        _ if error.is_some_and(|e| !e.is_empty()) => Err(GatewayError::upstream_status(
            500,
            detail("failed to generate the answer"),
            None,
            Some("generation_error".into()),
        )),
        _ => Ok("stop"),
    }
}

/// Cohere usage as OpenAI usage: the tokens the model processed, else the billed ones.
pub(super) fn to_usage(u: Option<&wire::Usage>) -> Usage {
    let pick = |f: fn(&wire::Units) -> Option<f64>| {
        let u = u?;
        u.tokens
            .as_ref()
            .and_then(f)
            .or_else(|| u.billed_units.as_ref().and_then(f))
    };
    let count = |v: Option<f64>| {
        v.filter(|v| v.is_finite() && *v > 0.0)
            .map_or(0, |v| v.round() as u64)
    };
    let prompt = count(pick(|u| u.input_tokens));
    let completion = count(pick(|u| u.output_tokens));
    let cached = u.and_then(|u| u.cached_tokens).map(|c| count(Some(c)));
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt + completion,
        prompt_tokens_details: cached.map(|c| PromptTokensDetails {
            cached_tokens: Some(c),
            ..Default::default()
        }),
        completion_tokens_details: None,
        extra: Default::default(),
    }
}

/// Cohere log probability chunks as OpenAI `logprobs`: one entry per chunk, whose log
/// probability is the sum over the chunk's tokens.
pub(super) fn logprobs(items: &[LogprobItem]) -> Value {
    let content: Vec<Value> = items
        .iter()
        .map(|item| {
            let token = item.text.clone().unwrap_or_default();
            let bytes: Vec<u8> = token.as_bytes().to_vec();
            json!({
                "token": token,
                "logprob": item.logprobs.iter().sum::<f64>(),
                "bytes": bytes,
                "top_logprobs": [],
            })
        })
        .collect();
    json!({"content": content, "refusal": null})
}
