//! Encoding a chat request as a Converse request.
//!
//! Parameters are mapped as follows (the fidelity matrix in `docs/providers.md` says the same):
//! - `max_completion_tokens`, else `max_tokens` → `inferenceConfig.maxTokens` (left out
//!   when neither is set: the model's default applies); `temperature`, `top_p`, `stop` →
//!   `inferenceConfig`; `top_k` (an extra field) → `additionalModelRequestFields.top_k`;
//! - `tools` → `toolConfig.tools[].toolSpec`; `tool_choice` `auto` → `{auto: {}}`, `required`
//!   → `{any: {}}`, a named function → `{tool: {name}}`, `none` → no `toolConfig` at all
//!   (Converse has no "none"); a conversation that already holds tool calls must declare its
//!   tools, so `none` is refused there;
//! - `response_format` `json_schema` / `json_object` → a forced tool whose input is the
//!   answer (the Anthropic codec's, shared);
//! - `reasoning_effort` → `additionalModelRequestFields.thinking` (`budget_tokens`, as for
//!   Anthropic) for Anthropic models (a model id naming `anthropic` or `claude`), with
//!   `maxTokens` raised above the budget; an Anthropic `thinking` object (extra field) is
//!   sent as given; other models refuse an effort that asks for reasoning;
//! - `guardrailConfig` / `guardrail_config`, `additionalModelRequestFields` /
//!   `additional_model_request_fields`, `performanceConfig`, `requestMetadata` and
//!   `additionalModelResponseFieldPaths` (extra fields, either spelling) pass through;
//! - `n` other than 1, `logprobs`, `top_logprobs`, non-zero `presence_penalty` /
//!   `frequency_penalty`, `seed`, `logit_bias`, `parallel_tool_calls: false`, audio output and
//!   predicted outputs are refused with a 400 that names the parameter and the provider.
//!   Other OpenAI-only fields (`user`, `store`, `metadata`, `service_tier`, …) have no
//!   Converse meaning and are not sent.
//!
//! The conversation itself is translated in `messages.rs`.

use bytes::Bytes;
use http::HeaderValue;
use serde_json::{Value, json};
use sluice_types::{ChatRequest, GatewayError, JsonMap};

use super::BedrockCodec;
use super::messages::Conversation;
use super::wire::{
    ConverseRequest, InferenceConfig, InputSchema, SpecificTool, Tool, ToolChoice, ToolConfig,
    ToolSpec,
};
use crate::anthropic::JSON_TOOL_PREFIX;
use crate::anthropic::default_max_tokens;
use crate::anthropic::request::{
    ANSWER_TOKENS, Cx, MIN_THINKING_BUDGET, effort_budget, invalid, json_tool, stop_sequences,
};
use crate::{Target, UpstreamRequest};

/// The API named in refusals.
const API: &str = "AWS Bedrock Converse";

/// Top-level Converse fields a client may send as extra fields, with their snake_case twins.
const PASS_THROUGH: &[(&str, &str)] = &[
    ("guardrailConfig", "guardrail_config"),
    ("performanceConfig", "performance_config"),
    ("requestMetadata", "request_metadata"),
    (
        "additionalModelResponseFieldPaths",
        "additional_model_response_field_paths",
    ),
];

/// Whether a Bedrock model id names an Anthropic model (`anthropic.claude-…`,
/// `us.anthropic.claude-…`, or an ARN that contains either).
pub(super) fn is_anthropic(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    m.contains("anthropic") || m.contains("claude")
}

impl BedrockCodec {
    pub(super) fn encode_converse(
        &self,
        req: &ChatRequest,
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        let cx = Cx {
            provider: &self.name,
            api: API,
        };
        refuse_unsupported(&cx, req)?;
        let conversation = Conversation::from_messages(&cx, &req.messages)?;
        let tool_config = tool_config(&cx, req, conversation.uses_tools)?;
        let mut fields = match extra_object(req, "additionalModelRequestFields")? {
            Some(fields) => fields,
            None => JsonMap::new(),
        };
        match req.extra.get("top_k") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let k = v
                    .as_u64()
                    .ok_or_else(|| invalid("top_k", "must be a positive integer"))?;
                fields.entry("top_k").or_insert(json!(k));
            }
        }
        let mut inference = InferenceConfig {
            max_tokens: req.max_completion_tokens.or(req.max_tokens),
            temperature: req.temperature,
            top_p: req.top_p,
            stop_sequences: stop_sequences(req.stop.as_ref())?,
        };
        thinking(
            &cx,
            req,
            &target.model,
            &mut inference,
            &mut fields,
            tool_config.as_ref(),
        )?;
        let mut extra = JsonMap::new();
        for (name, snake) in PASS_THROUGH {
            let value = [*name, *snake]
                .iter()
                .find_map(|k| req.extra.get(*k).filter(|v| !v.is_null()));
            if let Some(v) = value {
                extra.insert((*name).to_owned(), v.clone());
            }
        }
        let guardrail_config = extra.remove("guardrailConfig");
        if guardrail_config.as_ref().is_some_and(|g| !g.is_object()) {
            return Err(invalid("guardrailConfig", "must be an object"));
        }
        let body = ConverseRequest {
            messages: conversation.messages,
            system: conversation.system,
            inference_config: (!inference.is_empty()).then_some(inference),
            tool_config,
            guardrail_config,
            additional_model_request_fields: (!fields.is_empty()).then_some(fields),
            extra,
        };
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| GatewayError::internal(format!("could not encode the request: {e}")))?;
        let stream = req.is_stream();
        let accept = if stream {
            "application/vnd.amazon.eventstream"
        } else {
            "application/json"
        };
        Ok(UpstreamRequest {
            url: self.converse_url(&target.model, stream),
            headers: vec![
                (
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (http::header::ACCEPT, HeaderValue::from_static(accept)),
            ],
            body: Bytes::from(bytes),
        })
    }
}

/// An extra field holding an object, under its camelCase name or its snake_case twin.
fn extra_object(req: &ChatRequest, name: &str) -> Result<Option<JsonMap>, GatewayError> {
    let snake: String = name
        .chars()
        .flat_map(|c| {
            let lower = c.to_ascii_lowercase();
            let sep = c.is_ascii_uppercase().then_some('_');
            sep.into_iter().chain(std::iter::once(lower))
        })
        .collect();
    match [name, snake.as_str()]
        .iter()
        .find_map(|k| req.extra.get(*k).filter(|v| !v.is_null()))
    {
        None => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(_) => Err(invalid(name, "must be an object")),
    }
}

/// Refuses the OpenAI parameters Converse has no equivalent for: those of the Messages API,
/// and a limit to one tool call, which Converse's tool choice cannot express.
fn refuse_unsupported(cx: &Cx<'_>, req: &ChatRequest) -> Result<(), GatewayError> {
    if req.parallel_tool_calls == Some(false) {
        return Err(cx.unsupported(
            "parallel_tool_calls",
            "its tool choice cannot limit the model to one call",
        ));
    }
    crate::anthropic::request::refuse_unsupported(cx, req, "it has no web search")
}

/// `toolConfig`: the client's tools, or the forced JSON tool of `response_format`.
fn tool_config(
    cx: &Cx<'_>,
    req: &ChatRequest,
    uses_tools: bool,
) -> Result<Option<ToolConfig>, GatewayError> {
    if let Some(tool) = json_tool(cx, req)? {
        let choice = ToolChoice {
            tool: Some(SpecificTool {
                name: tool.name.clone(),
            }),
            ..Default::default()
        };
        let spec = ToolSpec {
            name: tool.name,
            description: tool.description,
            input_schema: InputSchema {
                json: tool.input_schema,
            },
        };
        return Ok(Some(ToolConfig {
            tools: vec![Tool {
                tool_spec: Some(spec),
                cache_point: None,
            }],
            tool_choice: Some(choice),
        }));
    }
    let Some(list) = req.tools.as_ref().filter(|t| !t.is_empty()) else {
        if uses_tools {
            return Err(invalid(
                "tools",
                "is required: Bedrock needs the tools declared when the conversation holds \
                 tool calls or tool results",
            ));
        }
        return Ok(None);
    };
    let mut tools = Vec::with_capacity(list.len());
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
        tools.push(Tool {
            tool_spec: Some(ToolSpec {
                name: f.name.clone(),
                description: f.description.clone(),
                input_schema: InputSchema {
                    json: f
                        .parameters
                        .clone()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                },
            }),
            cache_point: None,
        });
        if tool
            .extra
            .get("cache_control")
            .is_some_and(|v| !v.is_null())
        {
            tools.push(Tool {
                tool_spec: None,
                cache_point: Some(json!({"type": "default"})),
            });
        }
    }
    let auto = || ToolChoice {
        auto: Some(JsonMap::new()),
        ..Default::default()
    };
    let choice = match req.tool_choice.as_ref() {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(auto()),
            "required" => Some(ToolChoice {
                any: Some(JsonMap::new()),
                ..Default::default()
            }),
            "none" if uses_tools => {
                return Err(cx.unsupported(
                    "tool_choice",
                    "Converse has no \"none\", and a conversation that holds tool calls \
                     must declare its tools, so the model could still call them",
                ));
            }
            "none" => return Ok(None),
            _ => {
                return Err(invalid(
                    "tool_choice",
                    "must be auto, none, required or a named function",
                ));
            }
        },
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
            Some(ToolChoice {
                tool: Some(SpecificTool {
                    name: name.to_owned(),
                }),
                ..Default::default()
            })
        }
    };
    Ok(Some(ToolConfig {
        tools,
        tool_choice: choice,
    }))
}

/// `reasoning_effort` (or an Anthropic `thinking` object) as Anthropic's `thinking` in
/// `additionalModelRequestFields`, keeping `maxTokens` above the budget and refusing the
/// settings Anthropic forbids with thinking.
fn thinking(
    cx: &Cx<'_>,
    req: &ChatRequest,
    model: &str,
    inference: &mut InferenceConfig,
    fields: &mut JsonMap,
    tools: Option<&ToolConfig>,
) -> Result<(), GatewayError> {
    let given = fields
        .get("thinking")
        .or_else(|| req.extra.get("thinking").filter(|v| !v.is_null()))
        .cloned();
    let budget = match given {
        Some(given) => {
            // Sent as given; its budget is read to keep maxTokens above it.
            let budget = match given.get("type").and_then(Value::as_str) {
                Some("enabled") => given.get("budget_tokens").and_then(Value::as_u64),
                _ => None,
            };
            fields.insert("thinking".into(), given);
            budget
        }
        None => match req.reasoning_effort.as_deref() {
            None => None,
            Some(effort) => effort_budget(effort).ok_or_else(|| {
                invalid(
                    "reasoning_effort",
                    "must be none, minimal, low, medium or high",
                )
            })?,
        },
    };
    let Some(budget) = budget else {
        return Ok(());
    };
    if !is_anthropic(model) {
        return Err(cx.unsupported(
            "reasoning_effort",
            &format!(
                "it is translated for Anthropic models only (as `thinking`), not for {model}; \
                 send the model's own fields in additionalModelRequestFields"
            ),
        ));
    }
    let why = "Anthropic does not allow it with extended thinking (reasoning_effort)";
    if req.temperature.is_some_and(|t| t != 1.0) {
        return Err(cx.unsupported("temperature", &format!("{why} unless it is 1")));
    }
    if fields.contains_key("top_k") {
        return Err(cx.unsupported("top_k", why));
    }
    if req.top_p.is_some_and(|p| !(0.95..=1.0).contains(&p)) {
        return Err(cx.unsupported("top_p", &format!("{why} outside 0.95 to 1")));
    }
    let forced = tools
        .and_then(|t| t.tool_choice.as_ref())
        .filter(|c| c.any.is_some() || c.tool.is_some());
    if let Some(choice) = forced {
        let json = choice
            .tool
            .as_ref()
            .is_some_and(|t| t.name.starts_with(JSON_TOOL_PREFIX));
        let (param, what) = if json {
            ("response_format", "structured output is a forced tool call")
        } else {
            ("tool_choice", "it forces a tool call")
        };
        return Err(cx.unsupported(param, &format!("{why}: {what}")));
    }
    let param = if req.max_completion_tokens.is_some() {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let (max_tokens, budget) = match inference.max_tokens {
        None => (
            default_max_tokens(model).max(budget + ANSWER_TOKENS),
            budget,
        ),
        Some(m) if m > budget => (m, budget),
        // The limit includes the reasoning, as in OpenAI: think with half of it.
        Some(m) if m > MIN_THINKING_BUDGET => (m, (m / 2).max(MIN_THINKING_BUDGET)),
        Some(m) => {
            return Err(cx.unsupported(
                param,
                &format!(
                    "extended thinking needs more than {MIN_THINKING_BUDGET} tokens (got {m})"
                ),
            ));
        }
    };
    inference.max_tokens = Some(max_tokens);
    if let Some(Value::Object(t)) = fields.get_mut("thinking") {
        t.insert("budget_tokens".into(), json!(budget));
    } else {
        fields.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    Ok(())
}
