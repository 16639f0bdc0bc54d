//! Tools, tool choice and `generationConfig` (sampling, limits, structured output, thinking).

use serde_json::Value;
use sluice_types::{ChatRequest, GatewayError};

use super::request::invalid;
use super::schema::{self, Params};
use super::wire::{
    FunctionCallingConfig, FunctionDeclaration, GenerationConfig, ThinkingConfig, Tool, ToolConfig,
};

/// `reasoning_effort` → `thinkingConfig.thinkingBudget`.
const THINKING_BUDGETS: &[(&str, i64)] = &[
    ("none", 0),
    ("minimal", 512),
    ("low", 1024),
    ("medium", 8192),
    ("high", 24576),
];

/// `tools` → one `Tool` holding every function declaration.
pub(super) fn tools(req: &ChatRequest) -> Result<Vec<Tool>, GatewayError> {
    let mut decls = Vec::new();
    for (i, t) in req.tools.iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(invalid(
                format!("tools[{i}].type"),
                format!("tools of type {:?} cannot be sent to gemini", t.kind),
            ));
        }
        let f = t
            .function
            .as_ref()
            .ok_or_else(|| invalid(format!("tools[{i}].function"), "missing `function`"))?;
        let (parameters, parameters_json_schema) =
            match f.parameters.as_ref().map(schema::parameters) {
                Some(Params::Schema(s)) => (Some(s), None),
                Some(Params::JsonSchema(s)) => (None, Some(s)),
                Some(Params::None) | None => (None, None),
            };
        decls.push(FunctionDeclaration {
            name: f.name.clone(),
            description: f.description.clone(),
            parameters,
            parameters_json_schema,
        });
    }
    Ok(if decls.is_empty() {
        Vec::new()
    } else {
        vec![Tool {
            function_declarations: decls,
        }]
    })
}

/// `tool_choice` → `toolConfig.functionCallingConfig`.
pub(super) fn tool_config(req: &ChatRequest) -> Result<Option<ToolConfig>, GatewayError> {
    let config = |mode, names| {
        Ok(Some(ToolConfig {
            function_calling_config: FunctionCallingConfig {
                mode,
                allowed_function_names: names,
            },
        }))
    };
    match &req.tool_choice {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "auto" => config("AUTO", None),
        Some(Value::String(s)) if s == "none" => config("NONE", None),
        Some(Value::String(s)) if s == "required" => config("ANY", None),
        Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) => config("ANY", Some(vec![name.to_owned()])),
            None => Err(invalid(
                "tool_choice",
                "`tool_choice` must be \"auto\", \"none\", \"required\" or a named function",
            )),
        },
    }
}

/// Sampling, limits, structured output and thinking.
pub(super) fn generation_config(req: &ChatRequest) -> Result<GenerationConfig<'_>, GatewayError> {
    let mut g = GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        max_output_tokens: req.max_completion_tokens.or(req.max_tokens),
        candidate_count: req.n,
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        ..GenerationConfig::default()
    };
    if req.logprobs == Some(true) {
        g.response_logprobs = Some(true);
        g.logprobs = req.top_logprobs.filter(|n| *n > 0);
    } else if req.top_logprobs.is_some_and(|n| n > 0) {
        return Err(invalid(
            "top_logprobs",
            "`top_logprobs` needs `logprobs: true`",
        ));
    }
    match req.extra.get("top_k") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let k = v
                .as_u64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .ok_or_else(|| invalid("top_k", "`top_k` must be a non-negative integer"))?;
            g.top_k = Some(k);
        }
    }
    g.stop_sequences = match &req.stop {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(vec![s.as_str()]),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| v.as_str())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid("stop", "`stop` must be a string or strings"))?,
        ),
        Some(_) => return Err(invalid("stop", "`stop` must be a string or strings")),
    };
    if let Some(rf) = req.response_format.as_ref().filter(|v| !v.is_null()) {
        match rf.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => g.response_mime_type = Some("application/json"),
            Some("json_schema") => {
                let schema = rf.pointer("/json_schema/schema").ok_or_else(|| {
                    invalid(
                        "response_format.json_schema.schema",
                        "a `json_schema` response format needs a `schema`",
                    )
                })?;
                g.response_mime_type = Some("application/json");
                g.response_json_schema = Some(schema);
            }
            _ => {
                return Err(invalid(
                    "response_format.type",
                    "`response_format.type` must be text, json_object or json_schema",
                ));
            }
        }
    }
    if let Some(effort) = &req.reasoning_effort {
        let budget = THINKING_BUDGETS
            .iter()
            .find(|(name, _)| name == effort)
            .map(|(_, b)| *b)
            .ok_or_else(|| {
                invalid(
                    "reasoning_effort",
                    "`reasoning_effort` must be none, minimal, low, medium or high",
                )
            })?;
        g.thinking_config = Some(ThinkingConfig {
            thinking_budget: budget,
            include_thoughts: (budget > 0).then_some(true),
        });
    }
    Ok(g)
}
