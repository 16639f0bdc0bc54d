//! Encoding a chat request as a Cohere Chat v2 request.
//!
//! Parameters are mapped as follows (the fidelity matrix in `docs/providers.md` says the same):
//! - `max_completion_tokens`, else `max_tokens` → `max_tokens`; `temperature`, `seed`,
//!   `frequency_penalty`, `presence_penalty` as they are; `top_p` → `p`; `top_k` (an extra
//!   field) → `k`; `stop` → `stop_sequences`; `stream`; `logprobs`;
//! - `tools` (functions) → `tools`, a `strict` function → `strict_tools: true`;
//!   `tool_choice` `auto` → left out, `none` → `NONE`, `required` → `REQUIRED`, a named
//!   function → `REQUIRED` with `tools` narrowed to that function (Cohere cannot name one);
//! - `response_format` `json_object` → `{type: json_object}`, `json_schema` →
//!   `{type: json_object, json_schema: <schema>}` (refused together with `tools`, which Cohere
//!   does not combine with a response format);
//! - `reasoning_effort` → `thinking` (`none` / `minimal` → disabled; `low` / `medium` →
//!   enabled with a 1024 / 4096 token budget; `high` → enabled without a budget), or Cohere's
//!   own `thinking` object as an extra field, checked and sent as given;
//! - Cohere's own `documents`, `citation_options`, `safety_mode` and `priority` (extra fields)
//!   are sent as given;
//! - `n` other than 1, `logit_bias`, `top_logprobs`, `parallel_tool_calls: false`, audio
//!   output, non-text `modalities`, `prediction` and `web_search_options` are refused with a
//!   400 naming the parameter and the provider. `user`, `store`, `metadata`, `service_tier`
//!   and other OpenAI-only fields have no Cohere meaning and are not sent.

use bytes::Bytes;
use serde_json::{Value, json};
use sluice_types::{ChatRequest, GatewayError};

use super::CohereCodec;
use super::messages::messages;
use super::wire::{self, FunctionDef, ResponseFormat, Thinking, ToolDef};
use crate::{Target, UpstreamRequest};

/// Cohere's own request fields a client may send as extra fields; they pass unchanged.
const NATIVE_FIELDS: &[&str] = &["documents", "citation_options", "safety_mode", "priority"];

/// Per-request helpers: the provider name for messages.
pub(super) struct Cx<'a> {
    pub(super) provider: &'a str,
}

impl Cx<'_> {
    /// A 400 for a parameter this provider cannot honour.
    pub(super) fn unsupported(&self, param: &str, why: &str) -> GatewayError {
        crate::codec::unsupported_parameter(
            param,
            format!(
                "parameter `{param}` is not supported by provider {} (Cohere Chat API v2): {why}",
                self.provider
            ),
        )
    }
}

pub(super) use crate::translate::invalid;

impl CohereCodec {
    pub(super) fn encode_chat(
        &self,
        req: &ChatRequest,
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        let cx = Cx {
            provider: &self.name,
        };
        refuse_unsupported(&cx, req)?;
        let (tools, tool_choice, strict_tools) = tools(&cx, req)?;
        let mut extra = sluice_types::JsonMap::new();
        for field in NATIVE_FIELDS {
            if let Some(v) = req.extra.get(*field).filter(|v| !v.is_null()) {
                extra.insert((*field).to_owned(), v.clone());
            }
        }
        let body = wire::ChatRequest {
            model: target.model.to_string(),
            messages: messages(&cx, &req.messages)?,
            stream: req.is_stream().then_some(true),
            response_format: response_format(&cx, req, tools.is_some())?,
            tools,
            strict_tools,
            tool_choice,
            max_tokens: req.max_completion_tokens.or(req.max_tokens),
            stop_sequences: stop_sequences(req.stop.as_ref())?,
            temperature: req.temperature,
            seed: match req.seed {
                None => None,
                Some(s) => Some(
                    u64::try_from(s)
                        .map_err(|_| invalid("seed", "must not be negative for Cohere"))?,
                ),
            },
            frequency_penalty: req.frequency_penalty,
            presence_penalty: req.presence_penalty,
            k: match req.extra.get("top_k") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .ok_or_else(|| invalid("top_k", "must be a non-negative integer"))?,
                ),
            },
            p: req.top_p,
            logprobs: req.logprobs.filter(|l| *l),
            thinking: thinking(req)?,
            extra,
        };
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| GatewayError::internal(format!("could not encode the request: {e}")))?;
        Ok(UpstreamRequest {
            url: self.chat_url(),
            headers: Vec::new(),
            body: Bytes::from(bytes),
        })
    }
}

/// Refuses the OpenAI parameters Cohere has no equivalent for.
fn refuse_unsupported(cx: &Cx<'_>, req: &ChatRequest) -> Result<(), GatewayError> {
    if let Some(n) = req.n.filter(|n| *n != 1) {
        return Err(cx.unsupported(
            "n",
            &format!("it returns one choice per request (asked for {n})"),
        ));
    }
    if req.top_logprobs.is_some_and(|n| n > 0) {
        return Err(cx.unsupported(
            "top_logprobs",
            "it returns the chosen tokens' log probabilities only",
        ));
    }
    if req.parallel_tool_calls == Some(false) {
        return Err(cx.unsupported(
            "parallel_tool_calls",
            "the model cannot be kept from calling several tools at once",
        ));
    }
    if req
        .extra
        .get("logit_bias")
        .is_some_and(|v| v.as_object().is_some_and(|m| !m.is_empty()))
    {
        return Err(cx.unsupported("logit_bias", "it has no token biases"));
    }
    let present = |k: &str| req.extra.get(k).is_some_and(|v| !v.is_null());
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
        return Err(cx.unsupported("web_search_options", "it has no built-in web search"));
    }
    Ok(())
}

use crate::translate::stop_sequences;

type Tools = (Option<Vec<ToolDef>>, Option<String>, Option<bool>);

/// `tools`, `tool_choice` and `strict_tools`.
fn tools(cx: &Cx<'_>, req: &ChatRequest) -> Result<Tools, GatewayError> {
    let list = req.tools.as_deref().unwrap_or_default();
    let mut defs = Vec::with_capacity(list.len());
    let mut strict = false;
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
        strict |= f.strict == Some(true);
        defs.push(ToolDef {
            kind: "function".into(),
            function: FunctionDef {
                name: f.name.clone(),
                description: f.description.clone(),
                parameters: f
                    .parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            },
        });
    }
    let choice = match req.tool_choice.as_ref() {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => None,
            "none" => Some("NONE"),
            "required" => Some("REQUIRED"),
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
                    invalid(
                        "tool_choice",
                        "must be auto, none, required or {\"type\":\"function\",\"function\":{\"name\":…}}",
                    )
                })?;
            // Cohere cannot name the tool to call: force a call and offer only that tool.
            defs.retain(|d| d.function.name == name);
            if defs.is_empty() {
                return Err(invalid(
                    "tool_choice.function.name",
                    &format!("names no tool in `tools`: {name:?}"),
                ));
            }
            Some("REQUIRED")
        }
    };
    if defs.is_empty() {
        if choice == Some("REQUIRED") {
            return Err(invalid("tool_choice", "required needs `tools`"));
        }
        return Ok((None, None, None));
    }
    Ok((
        Some(defs),
        choice.map(str::to_owned),
        strict.then_some(true),
    ))
}

/// `response_format` as Cohere's.
fn response_format(
    cx: &Cx<'_>,
    req: &ChatRequest,
    has_tools: bool,
) -> Result<Option<ResponseFormat>, GatewayError> {
    let Some(format) = req.response_format.as_ref().filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let json_schema = match format.get("type").and_then(Value::as_str) {
        Some("text") => return Ok(None),
        Some("json_object") => None,
        Some("json_schema") => Some(format.pointer("/json_schema/schema").cloned().ok_or_else(
            || {
                invalid(
                    "response_format.json_schema.schema",
                    "is required for type json_schema",
                )
            },
        )?),
        _ => {
            return Err(invalid(
                "response_format.type",
                "must be text, json_object or json_schema",
            ));
        }
    };
    if has_tools {
        return Err(cx.unsupported(
            "response_format",
            "Cohere does not combine a response format with `tools`",
        ));
    }
    Ok(Some(ResponseFormat {
        kind: "json_object".into(),
        json_schema,
    }))
}

/// `thinking`: Cohere's own object when sent, else from `reasoning_effort`.
fn thinking(req: &ChatRequest) -> Result<Option<Thinking>, GatewayError> {
    if let Some(v) = req.extra.get("thinking").filter(|v| !v.is_null()) {
        let t: Thinking = serde_json::from_value(v.clone()).map_err(|e| {
            invalid(
                "thinking",
                &format!("is not a Cohere thinking object ({{type, token_budget}}): {e}"),
            )
        })?;
        if !matches!(t.kind.as_str(), "enabled" | "disabled") {
            return Err(invalid("thinking.type", "must be enabled or disabled"));
        }
        if t.token_budget == Some(0) {
            return Err(invalid(
                "thinking.token_budget",
                "must be a positive integer",
            ));
        }
        return Ok(Some(t));
    }
    let Some(effort) = req.reasoning_effort.as_deref() else {
        return Ok(None);
    };
    let (kind, token_budget) = match effort {
        "none" | "minimal" => ("disabled", None),
        "low" => ("enabled", Some(1024)),
        "medium" => ("enabled", Some(4096)),
        "high" => ("enabled", None),
        _ => {
            return Err(invalid(
                "reasoning_effort",
                "must be none, minimal, low, medium or high",
            ));
        }
    };
    Ok(Some(Thinking {
        kind: kind.into(),
        token_budget,
    }))
}
