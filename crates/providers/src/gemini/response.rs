//! Decoding a complete Gemini `GenerateContentResponse`, and the part, finish-reason and
//! usage mappings the stream decoder shares.

use serde_json::{Value, json};
use sluice_types::{
    ChatResponse, Choice, CompletionTokensDetails, Content as MessageContent, ErrorKind,
    FunctionCall, GatewayError, Message, Origin, PromptTokensDetails, ThinkingBlock, ToolCall,
    Usage,
};

use super::wire::{
    GenerateContentResponse, LogprobsCandidate, LogprobsResult, Part, UsageMetadata,
};
use super::{GeminiCodec, response_id};

/// One candidate's parts in OpenAI terms.
#[derive(Debug, Default)]
pub(super) struct Decoded {
    /// The answer text, when the parts had any (possibly empty).
    pub(super) content: Option<String>,
    /// The thought text, when the parts had any.
    pub(super) reasoning: Option<String>,
    /// The calls, with ids `call_<k>` counted from the `first_call` given.
    pub(super) tool_calls: Vec<ToolCall>,
    /// One block per part that carried a `thoughtSignature`, in part order.
    pub(super) blocks: Vec<ThinkingBlock>,
}

/// Sorts `parts` into text, thoughts, calls and signatures. The k-th call gets the id
/// `call_<first_call + k>` unless the model gave it one.
pub(super) fn decode_parts(parts: Vec<Part<'static>>, first_call: usize) -> Decoded {
    let mut out = Decoded::default();
    for part in parts {
        let thought = part.is_thought();
        let mut block_text = None;
        if let Some(text) = part.text {
            if thought {
                out.reasoning
                    .get_or_insert_with(String::new)
                    .push_str(&text);
                block_text = Some(text.into_owned());
            } else {
                out.content.get_or_insert_with(String::new).push_str(&text);
            }
        }
        if let Some(call) = part.function_call {
            let k = first_call + out.tool_calls.len();
            let arguments = match &call.args {
                Some(args @ Value::Object(_)) => args.to_string(),
                _ => "{}".to_owned(),
            };
            out.tool_calls.push(ToolCall {
                id: call
                    .id
                    .filter(|id| !id.is_empty())
                    .unwrap_or_else(|| format!("call_{k}")),
                kind: "function".into(),
                function: FunctionCall {
                    name: call.name,
                    arguments,
                },
                extra: Default::default(),
            });
        }
        if let Some(signature) = part.thought_signature {
            out.blocks.push(ThinkingBlock {
                kind: "thinking".into(),
                thinking: block_text,
                signature: Some(signature),
                data: None,
            });
        }
    }
    out
}

/// Gemini's `finishReason` as an OpenAI `finish_reason`; a stop with calls is `tool_calls`.
pub(super) fn finish_reason(reason: &str, has_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "MODEL_ARMOR" => "content_filter",
        _ if has_calls => "tool_calls",
        _ => "stop",
    }
}

/// `usageMetadata` as OpenAI usage: thoughts count as completion (and reasoning) tokens,
/// tool-use prompt tokens as prompt tokens, cached content as cached prompt tokens.
pub(super) fn usage(u: &UsageMetadata) -> Usage {
    let prompt = u.prompt_token_count.unwrap_or(0) + u.tool_use_prompt_token_count.unwrap_or(0);
    let completion = u.candidates_token_count.unwrap_or(0) + u.thoughts_token_count.unwrap_or(0);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: u.total_token_count.unwrap_or(prompt + completion),
        prompt_tokens_details: u
            .cached_content_token_count
            .map(|cached| PromptTokensDetails {
                cached_tokens: Some(cached),
                ..PromptTokensDetails::default()
            }),
        completion_tokens_details: u
            .thoughts_token_count
            .map(|thoughts| CompletionTokensDetails {
                reasoning_tokens: Some(thoughts),
                ..CompletionTokensDetails::default()
            }),
        extra: Default::default(),
    }
}

/// `logprobsResult` as an OpenAI choice's `logprobs`: one `content` entry per chosen token,
/// with the step's top candidates as `top_logprobs` and the token's UTF-8 `bytes`.
pub(super) fn logprobs(result: LogprobsResult) -> Value {
    let entry = |c: &LogprobsCandidate| json!({"token": c.token, "logprob": c.log_probability, "bytes": c.token.as_bytes()});
    let content: Vec<Value> = result
        .chosen_candidates
        .iter()
        .enumerate()
        .map(|(i, chosen)| {
            let mut e = entry(chosen);
            let top: Vec<Value> = result
                .top_candidates
                .get(i)
                .map(|t| t.candidates.iter().map(entry).collect())
                .unwrap_or_default();
            e["top_logprobs"] = Value::Array(top);
            e
        })
        .collect();
    json!({"content": content, "refusal": null})
}

/// The error for an answer whose prompt Gemini blocked, if it was blocked.
pub(super) fn prompt_blocked(resp: &GenerateContentResponse) -> Option<GatewayError> {
    let feedback = resp.prompt_feedback.as_ref()?;
    let reason = feedback.block_reason.as_deref()?;
    let detail = feedback
        .block_reason_message
        .as_deref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    Some(
        GatewayError::new(
            ErrorKind::ContentFilter,
            Origin::Upstream,
            format!("gemini blocked the prompt ({reason}){detail}"),
        )
        .with_status(400),
    )
}

/// The error for an upstream body that is not what the protocol promises.
pub(super) fn not_our_protocol(what: &str, body: &[u8], e: &serde_json::Error) -> GatewayError {
    let head = String::from_utf8_lossy(&body[..body.len().min(200)]);
    GatewayError::new(
        ErrorKind::UpstreamProtocol,
        Origin::Upstream,
        format!("gemini returned a body that is not a {what} ({e}); it starts with: {head:?}"),
    )
}

impl GeminiCodec {
    pub(super) fn decode_chat(&self, body: &[u8]) -> Result<ChatResponse, GatewayError> {
        let resp: GenerateContentResponse = serde_json::from_slice(body)
            .map_err(|e| not_our_protocol("GenerateContentResponse", body, &e))?;
        if let Some(err) = &resp.error {
            return Err(self.error_value(200, err));
        }
        if resp.candidates.is_empty() {
            return Err(prompt_blocked(&resp).unwrap_or_else(|| {
                GatewayError::new(
                    ErrorKind::UpstreamProtocol,
                    Origin::Upstream,
                    "gemini answered with no candidates",
                )
            }));
        }
        let choices = resp
            .candidates
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let mut extra = sluice_types::JsonMap::new();
                if let Some(result) = c.logprobs_result {
                    extra.insert("logprobs".into(), logprobs(result));
                }
                let parts = c.content.map(|c| c.parts).unwrap_or_default();
                let d = decode_parts(parts, 0);
                let finish = c
                    .finish_reason
                    .as_deref()
                    .map(|r| finish_reason(r, !d.tool_calls.is_empty()));
                let content = match (d.content, d.tool_calls.is_empty(), finish) {
                    (Some(text), _, _) => Some(MessageContent::Text(text)),
                    (None, true, Some("stop" | "length") | None) => {
                        Some(MessageContent::Text(String::new()))
                    }
                    (None, _, _) => None,
                };
                Choice {
                    index: c.index.unwrap_or(u32::try_from(i).unwrap_or(u32::MAX)),
                    message: Message {
                        role: "assistant".into(),
                        content,
                        reasoning_content: d.reasoning,
                        tool_calls: (!d.tool_calls.is_empty()).then_some(d.tool_calls),
                        thinking_blocks: (!d.blocks.is_empty()).then_some(d.blocks),
                        ..Message::default()
                    },
                    finish_reason: finish.map(str::to_owned),
                    extra,
                }
            })
            .collect();
        Ok(ChatResponse {
            id: response_id(resp.response_id, body),
            object: "chat.completion".into(),
            created: 0,
            model: resp.model_version.unwrap_or_default(),
            choices,
            usage: resp.usage_metadata.as_ref().map(usage),
            raw: None,
            extra: Default::default(),
        })
    }
}
