//! Encoding a chat request as an Anthropic Messages request.
//!
//! Parameters are mapped as follows (the fidelity matrix in `docs/providers.md` says the same):
//! - `max_completion_tokens`, else `max_tokens`, else [`default_max_tokens`] of the model
//!   (Anthropic requires the field);
//! - `temperature`, `top_p`, `top_k` (an extra field), `stop` → `stop_sequences`,
//!   `user` → `metadata.user_id`, `stream`;
//! - `tools`, `tool_choice`, `parallel_tool_calls: false` → `disable_parallel_tool_use`;
//! - `response_format` `json_schema` / `json_object` → a forced tool whose input is the answer;
//! - `reasoning_effort` → `thinking.budget_tokens` (or an Anthropic `thinking` object as an
//!   extra field, sent as given);
//! - `n` other than 1, `logprobs`, `top_logprobs`, non-zero `presence_penalty` /
//!   `frequency_penalty`, `seed`, `logit_bias`, audio output and predicted outputs are refused
//!   with a 400 that names the parameter and the provider. Other OpenAI-only fields
//!   (`store`, `metadata`, `service_tier`, …) have no Anthropic meaning and are not sent.
//!
//! The conversation itself is translated in `messages.rs`.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde_json::{Value, json};
use sluice_types::{ChatRequest, GatewayError};

use super::messages::{Conversation, cache_control};
use super::wire::{
    ANTHROPIC_VERSION, MessagesRequest, Metadata, ThinkingConfig, ToolChoice, ToolDef,
};
use super::{AnthropicCodec, JSON_TOOL_PREFIX};
use crate::{Target, UpstreamRequest};

/// The smallest thinking budget Anthropic accepts.
pub(crate) const MIN_THINKING_BUDGET: u64 = 1024;
/// Tokens left for the answer on top of the thinking budget when the client set no limit.
pub(crate) const ANSWER_TOKENS: u64 = 4096;
/// Longest tool name Anthropic accepts.
const MAX_TOOL_NAME: usize = 64;

/// The `max_tokens` sent when the client set no limit: the model's maximum output, from a
/// small table matched on the model name (so dated and aliased names match too):
///
/// | model | default |
/// |---|---|
/// | `claude-3-7-sonnet…`, `claude-sonnet-4…`, `claude-haiku-4…`, `claude-opus-4-5…` | 64000 |
/// | `claude-opus-4…` (4, 4.1) | 32000 |
/// | `claude-3-5-haiku…`, `claude-3-5-sonnet…` | 8192 |
/// | anything else (Claude 3, unknown names) | 4096 |
pub fn default_max_tokens(model: &str) -> u64 {
    let m = model.to_ascii_lowercase();
    let has = |s: &str| m.contains(s);
    if has("3-7-sonnet") || has("sonnet-4") || has("haiku-4") || has("opus-4-5") {
        64_000
    } else if has("opus-4") {
        32_000
    } else if has("3-5-haiku") || has("3-5-sonnet") {
        8_192
    } else {
        4_096
    }
}

/// Thinking budget for an OpenAI `reasoning_effort`; `None` turns thinking off. Shared with
/// Anthropic models on Bedrock.
pub(crate) fn effort_budget(effort: &str) -> Option<Option<u64>> {
    Some(match effort {
        "none" | "minimal" => None,
        "low" => Some(1024),
        "medium" => Some(4096),
        "high" => Some(16384),
        _ => return None,
    })
}

/// Per-request helpers: the provider name and API for messages.
pub(crate) struct Cx<'a> {
    pub(crate) provider: &'a str,
    /// The API named in refusals, e.g. `Anthropic Messages API`.
    pub(crate) api: &'static str,
}

impl Cx<'_> {
    /// A 400 for a parameter this provider cannot honour.
    pub(crate) fn unsupported(&self, param: &str, why: &str) -> GatewayError {
        crate::codec::unsupported_parameter(
            param,
            format!(
                "parameter `{param}` is not supported by provider {} ({}): {why}",
                self.provider, self.api
            ),
        )
    }
}

pub(crate) use crate::translate::invalid;

impl AnthropicCodec {
    pub(super) fn encode_messages(
        &self,
        req: &ChatRequest,
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        let body = self.messages_request(req, target, "Anthropic Messages API")?;
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| GatewayError::internal(format!("could not encode the request: {e}")))?;
        Ok(UpstreamRequest {
            url: self.messages_url(),
            headers: vec![
                (
                    HeaderName::from_static("anthropic-version"),
                    HeaderValue::from_static(ANTHROPIC_VERSION),
                ),
                (
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
            ],
            body: Bytes::from(bytes),
        })
    }

    /// The Messages request body for `req` on `target`; `api` names the API in refusals
    /// (Claude on Vertex AI sends the same body with its own URL and version field).
    pub(crate) fn messages_request(
        &self,
        req: &ChatRequest,
        target: &Target,
        api: &'static str,
    ) -> Result<MessagesRequest, GatewayError> {
        let cx = Cx {
            provider: &self.name,
            api,
        };
        refuse_unsupported(
            &cx,
            req,
            "use Anthropic's web search tool through native pass-through",
        )?;
        let conversation = Conversation::from_messages(&cx, &req.messages)?;
        let json_tool = json_tool(&cx, req)?;
        let (tools, tool_choice) = tools(&cx, req, json_tool)?;
        let top_k = match req.extra.get("top_k") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .ok_or_else(|| invalid("top_k", "must be a positive integer"))?,
            ),
        };
        let mut body = MessagesRequest {
            model: target.model.to_string(),
            messages: conversation.messages,
            max_tokens: 0,
            system: conversation.system,
            metadata: req.user.as_ref().map(|u| Metadata {
                user_id: Some(u.clone()),
            }),
            stop_sequences: stop_sequences(req.stop.as_ref())?,
            stream: req.is_stream().then_some(true),
            temperature: req.temperature,
            top_p: req.top_p,
            top_k,
            tools,
            tool_choice,
            thinking: None,
            extra: Default::default(),
        };
        limits_and_thinking(&cx, req, &mut body)?;
        Ok(body)
    }
}

/// Refuses the OpenAI parameters Anthropic models have no equivalent for (on the Messages
/// API and on Bedrock alike); `web_search_why` says what to use instead of
/// `web_search_options`.
pub(crate) fn refuse_unsupported(
    cx: &Cx<'_>,
    req: &ChatRequest,
    web_search_why: &str,
) -> Result<(), GatewayError> {
    if let Some(n) = req.n.filter(|n| *n != 1) {
        return Err(cx.unsupported(
            "n",
            &format!("it returns one choice per request (asked for {n})"),
        ));
    }
    if req.logprobs == Some(true) {
        return Err(cx.unsupported("logprobs", "it does not return log probabilities"));
    }
    if req.top_logprobs.is_some_and(|n| n > 0) {
        return Err(cx.unsupported("top_logprobs", "it does not return log probabilities"));
    }
    for (param, value) in [
        ("presence_penalty", req.presence_penalty),
        ("frequency_penalty", req.frequency_penalty),
    ] {
        if value.is_some_and(|v| v != 0.0) {
            return Err(cx.unsupported(param, "it has no repetition penalties"));
        }
    }
    if req.seed.is_some() {
        return Err(cx.unsupported("seed", "it has no deterministic sampling seed"));
    }
    let present = |k: &str| req.extra.get(k).is_some_and(|v| !v.is_null());
    if req
        .extra
        .get("logit_bias")
        .is_some_and(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    {
        return Err(cx.unsupported("logit_bias", "it has no token biases"));
    }
    if present("audio") {
        return Err(cx.unsupported("audio", "it does not generate audio"));
    }
    if let Some(Value::Array(modalities)) = req.extra.get("modalities") {
        if modalities.iter().any(|m| m.as_str() != Some("text")) {
            return Err(cx.unsupported("modalities", "it generates text only"));
        }
    }
    if present("prediction") {
        return Err(cx.unsupported("prediction", "it has no predicted outputs"));
    }
    if present("web_search_options") {
        return Err(cx.unsupported("web_search_options", web_search_why));
    }
    Ok(())
}

pub(crate) use crate::translate::stop_sequences;

/// The forced tool that carries a `response_format` answer, if the client asked for JSON.
/// Shared with Bedrock, which forces the same tool through Converse's `toolChoice`.
pub(crate) fn json_tool(cx: &Cx<'_>, req: &ChatRequest) -> Result<Option<ToolDef>, GatewayError> {
    let Some(format) = req.response_format.as_ref().filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let kind = format.get("type").and_then(Value::as_str);
    let tool = match kind {
        Some("text") => return Ok(None),
        Some("json_object") => ToolDef {
            name: JSON_TOOL_PREFIX.to_owned(),
            description: Some("Give the answer as this tool's input: a JSON object.".into()),
            input_schema: json!({"type": "object"}),
            cache_control: None,
        },
        Some("json_schema") => {
            let spec = format.get("json_schema").ok_or_else(|| {
                invalid(
                    "response_format.json_schema",
                    "is required for type json_schema",
                )
            })?;
            let schema_name = spec.get("name").and_then(Value::as_str).unwrap_or("answer");
            let mut name = format!("{JSON_TOOL_PREFIX}_");
            name.extend(schema_name.chars().map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            }));
            name.truncate(MAX_TOOL_NAME);
            let description = spec.get("description").and_then(Value::as_str).map_or_else(
                || "Give the answer as this tool's input, matching its schema.".to_owned(),
                str::to_owned,
            );
            ToolDef {
                name,
                description: Some(description),
                input_schema: spec
                    .get("schema")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object"})),
                cache_control: None,
            }
        }
        _ => {
            return Err(invalid(
                "response_format.type",
                "must be text, json_object or json_schema",
            ));
        }
    };
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(cx.unsupported(
            "response_format",
            "structured output is sent as a forced tool call, which cannot be combined with `tools`",
        ));
    }
    Ok(Some(tool))
}

type ToolsAndChoice = (Option<Vec<ToolDef>>, Option<ToolChoice>);

/// `tools` and `tool_choice`, with the JSON tool forced when there is one.
fn tools(
    cx: &Cx<'_>,
    req: &ChatRequest,
    json_tool: Option<ToolDef>,
) -> Result<ToolsAndChoice, GatewayError> {
    if let Some(tool) = json_tool {
        let choice = ToolChoice::Tool {
            name: tool.name.clone(),
            disable_parallel_tool_use: None,
        };
        return Ok((Some(vec![tool]), Some(choice)));
    }
    let Some(list) = req.tools.as_ref().filter(|t| !t.is_empty()) else {
        return Ok((None, None));
    };
    let mut defs = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        if tool.kind != "function" {
            return Err(cx.unsupported(
                &format!("tools[{i}].type"),
                &format!("only function tools are translated, not {:?}", tool.kind),
            ));
        }
        let f = tool
            .function
            .as_ref()
            .ok_or_else(|| invalid(&format!("tools[{i}].function"), "is required"))?;
        if f.name.starts_with(JSON_TOOL_PREFIX) {
            return Err(invalid(
                &format!("tools[{i}].function.name"),
                &format!("names starting with {JSON_TOOL_PREFIX} are reserved by the gateway"),
            ));
        }
        defs.push(ToolDef {
            name: f.name.clone(),
            description: f.description.clone(),
            input_schema: f
                .parameters
                .clone()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            cache_control: cache_control(&tool.extra),
        });
    }
    let single = (req.parallel_tool_calls == Some(false)).then_some(true);
    let choice = match req.tool_choice.as_ref() {
        None | Some(Value::Null) => single.map(|_| ToolChoice::Auto {
            disable_parallel_tool_use: single,
        }),
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto {
                disable_parallel_tool_use: single,
            },
            "required" => ToolChoice::Any {
                disable_parallel_tool_use: single,
            },
            "none" => ToolChoice::None,
            _ => {
                return Err(invalid(
                    "tool_choice",
                    "must be auto, none, required or a named function",
                ));
            }
        }),
        Some(v) => {
            let name = v
                .pointer("/function/name")
                .and_then(Value::as_str)
                .filter(|_| v.get("type").and_then(Value::as_str) == Some("function"))
                .ok_or_else(|| {
                    cx.unsupported(
                        "tool_choice",
                        "only auto, none, required and {\"type\":\"function\",\"function\":{\"name\":…}} are translated",
                    )
                })?;
            Some(ToolChoice::Tool {
                name: name.to_owned(),
                disable_parallel_tool_use: single,
            })
        }
    };
    Ok((Some(defs), choice))
}

/// Sets `max_tokens` and `thinking`, keeping the thinking budget below `max_tokens` and
/// refusing the sampling settings Anthropic forbids with thinking.
fn limits_and_thinking(
    cx: &Cx<'_>,
    req: &ChatRequest,
    body: &mut MessagesRequest,
) -> Result<(), GatewayError> {
    let explicit = match (req.max_completion_tokens, req.max_tokens) {
        (Some(m), _) => Some(("max_completion_tokens", m)),
        (None, Some(m)) => Some(("max_tokens", m)),
        (None, None) => None,
    };
    let thinking = match req.extra.get("thinking").filter(|v| !v.is_null()) {
        Some(v) => Some(
            serde_json::from_value::<ThinkingConfig>(v.clone()).map_err(|e| {
                invalid(
                    "thinking",
                    &format!("is not an Anthropic thinking object: {e}"),
                )
            })?,
        ),
        None => match req.reasoning_effort.as_deref() {
            None => None,
            Some(effort) => effort_budget(effort)
                .ok_or_else(|| {
                    invalid(
                        "reasoning_effort",
                        "must be none, minimal, low, medium or high",
                    )
                })?
                .map(|budget_tokens| ThinkingConfig::Enabled { budget_tokens }),
        },
    };
    let default = default_max_tokens(&body.model);
    let Some(ThinkingConfig::Enabled { budget_tokens }) = thinking else {
        body.max_tokens = explicit.map_or(default, |(_, m)| m);
        body.thinking = thinking;
        return Ok(());
    };
    let why = "Anthropic does not allow it with extended thinking (reasoning_effort)";
    if req.temperature.is_some_and(|t| t != 1.0) {
        return Err(cx.unsupported("temperature", &format!("{why} unless it is 1")));
    }
    if body.top_k.is_some() {
        return Err(cx.unsupported("top_k", why));
    }
    if req.top_p.is_some_and(|p| !(0.95..=1.0).contains(&p)) {
        return Err(cx.unsupported("top_p", &format!("{why} outside 0.95 to 1")));
    }
    match &body.tool_choice {
        Some(ToolChoice::Tool { name, .. }) if name.starts_with(JSON_TOOL_PREFIX) => {
            return Err(cx.unsupported(
                "response_format",
                &format!("{why}: structured output is a forced tool call"),
            ));
        }
        Some(ToolChoice::Any { .. } | ToolChoice::Tool { .. }) => {
            return Err(cx.unsupported("tool_choice", &format!("{why} when it forces a tool call")));
        }
        _ => {}
    }
    let (max_tokens, budget) = match explicit {
        None => (default.max(budget_tokens + ANSWER_TOKENS), budget_tokens),
        Some((_, m)) if m > budget_tokens => (m, budget_tokens),
        // The limit includes the reasoning, as in OpenAI: think with half of it.
        Some((_, m)) if m > MIN_THINKING_BUDGET => (m, (m / 2).max(MIN_THINKING_BUDGET)),
        Some((param, m)) => {
            return Err(cx.unsupported(
                param,
                &format!(
                    "extended thinking needs more than {MIN_THINKING_BUDGET} tokens (got {m})"
                ),
            ));
        }
    };
    body.max_tokens = max_tokens;
    body.thinking = Some(ThinkingConfig::Enabled {
        budget_tokens: budget,
    });
    Ok(())
}
