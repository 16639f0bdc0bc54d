//! Request validation as the Gemini API does it: proto-JSON field names (camelCase, or the
//! snake_case proto names), required fields, enum values and the rules of the `Schema`
//! subset. Messages follow the API's `* GenerateContentRequest.<path>: <problem>` style.

use serde_json::{Map, Value};

use super::answer::SIGNATURE_PREFIX;

const REQUEST: &[&str] = &[
    "contents",
    "tools",
    "toolConfig",
    "safetySettings",
    "systemInstruction",
    "generationConfig",
    "cachedContent",
];
const CONTENT: &[&str] = &["role", "parts"];
const PART_DATA: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
];
const PART_META: &[&str] = &[
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "partMetadata",
];
const TOOL: &[&str] = &[
    "functionDeclarations",
    "codeExecution",
    "googleSearch",
    "googleSearchRetrieval",
    "urlContext",
];
const DECLARATION: &[&str] = &[
    "name",
    "description",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
    "behavior",
];
const SCHEMA: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];
const TYPES: &[&str] = &[
    "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL",
];
const GENERATION: &[&str] = &[
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "mediaResolution",
];
const THINKING: &[&str] = &["thinkingBudget", "includeThoughts", "thinkingLevel"];

/// `fooBar` → `foo_bar`: the proto field name, which the API accepts too.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of field `name` under either spelling.
pub(super) fn field<'a>(obj: &'a Value, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.get(snake(name)))
}

/// An object whose every key is one of `known` (either spelling).
fn object<'a>(v: &'a Value, at: &str, known: &[&str]) -> Result<&'a Map<String, Value>, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| format!("Invalid value at '{at}': expected an object"))?;
    for k in obj.keys() {
        if !known.iter().any(|n| n == k || snake(n) == *k) {
            return Err(format!(
                "Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field."
            ));
        }
    }
    Ok(obj)
}

/// Validates a whole `GenerateContentRequest`.
pub(super) fn request(req: &Value) -> Result<(), String> {
    object(req, "", REQUEST)?;
    let contents = field(req, "contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    for (i, c) in contents.iter().enumerate() {
        content(c, &format!("contents[{i}]"))?;
    }
    if let Some(sys) = field(req, "systemInstruction") {
        object(sys, "system_instruction", CONTENT)?;
        let parts = field(sys, "parts").and_then(Value::as_array);
        if parts.is_none_or(|p| p.iter().any(|p| field(p, "text").is_none())) {
            return Err(
                "* GenerateContentRequest.system_instruction.parts: only text parts are \
                        supported in a system instruction"
                    .into(),
            );
        }
    }
    let declared = tools(req)?;
    tool_config(req, &declared)?;
    let thoughts = generation(req)?;
    if thoughts {
        signatures(contents)?;
    }
    Ok(())
}

fn content(c: &Value, at: &str) -> Result<(), String> {
    object(c, at, CONTENT)?;
    let role = field(c, "role").and_then(Value::as_str);
    if let Some(role) = role.filter(|r| !matches!(*r, "user" | "model")) {
        return Err(format!(
            "Please use a valid role: user, model. (got {role:?} at {at}.role)"
        ));
    }
    let parts = field(c, "parts")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            format!("* GenerateContentRequest.{at}.parts: contents.parts must not be empty.")
        })?;
    for (j, p) in parts.iter().enumerate() {
        let at = format!("{at}.parts[{j}]");
        let all: Vec<&str> = PART_DATA.iter().chain(PART_META).copied().collect();
        object(p, &at, &all)?;
        let data: Vec<&str> = PART_DATA
            .iter()
            .copied()
            .filter(|k| field(p, k).is_some())
            .collect();
        if data.len() != 1 {
            return Err(format!(
                "* GenerateContentRequest.{at}.data: required oneof field 'data' must have one \
                 initialized field"
            ));
        }
        match data[0] {
            "inlineData" => {
                let d = field(p, "inlineData").unwrap_or(&Value::Null);
                if field(d, "mimeType").and_then(Value::as_str).is_none()
                    || field(d, "data").and_then(Value::as_str).is_none()
                {
                    return Err(format!(
                        "* GenerateContentRequest.{at}.inline_data: mime_type and data are required"
                    ));
                }
            }
            "fileData" => {
                let d = field(p, "fileData").unwrap_or(&Value::Null);
                if field(d, "fileUri").and_then(Value::as_str).is_none() {
                    return Err(format!(
                        "* GenerateContentRequest.{at}.file_data.file_uri: a file URI is required"
                    ));
                }
            }
            "functionCall" => {
                if role != Some("model") {
                    return Err(format!("* {at}: a function call must be in a model turn"));
                }
                let call = field(p, "functionCall").unwrap_or(&Value::Null);
                if field(call, "name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(format!(
                        "* GenerateContentRequest.{at}.function_call.name: Name cannot be empty."
                    ));
                }
                if field(call, "args").is_some_and(|a| !a.is_object()) {
                    return Err(format!(
                        "Invalid value at '{at}.function_call.args' \
                         (type.googleapis.com/google.protobuf.Struct)"
                    ));
                }
            }
            "functionResponse" => {
                if role == Some("model") {
                    return Err(format!(
                        "* {at}: a function response must be in a user turn"
                    ));
                }
                let resp = field(p, "functionResponse").unwrap_or(&Value::Null);
                if field(resp, "name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    return Err(format!(
                        "* GenerateContentRequest.{at}.function_response.name: Name cannot be \
                         empty."
                    ));
                }
                if !field(resp, "response").is_some_and(Value::is_object) {
                    return Err(format!(
                        "Invalid value at '{at}.function_response.response' \
                         (type.googleapis.com/google.protobuf.Struct)"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Validates `tools`; returns the declared function names.
fn tools(req: &Value) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let Some(tools) = field(req, "tools") else {
        return Ok(names);
    };
    let tools = tools
        .as_array()
        .ok_or("Invalid value at 'tools': expected a list")?;
    for (i, t) in tools.iter().enumerate() {
        object(t, &format!("tools[{i}]"), TOOL)?;
        for (j, d) in field(t, "functionDeclarations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = format!("tools[{i}].function_declarations[{j}]");
            object(d, &at, DECLARATION)?;
            let name = field(d, "name").and_then(Value::as_str).unwrap_or_default();
            let valid = name.len() <= 64
                && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
            if !valid {
                return Err(format!(
                    "* GenerateContentRequest.{at}.name: Invalid function name."
                ));
            }
            match (field(d, "parameters"), field(d, "parametersJsonSchema")) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "* GenerateContentRequest.{at}: parameters and parameters_json_schema \
                         cannot both be set"
                    ));
                }
                (Some(p), None) => schema(p, &format!("{at}.parameters"), true)?,
                _ => {}
            }
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// A `Schema` node: only the subset's keywords, known types, non-empty OBJECT properties.
fn schema(s: &Value, at: &str, root: bool) -> Result<(), String> {
    let obj = object(s, at, SCHEMA)?;
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase);
    if let Some(t) = &ty {
        if !TYPES.contains(&t.as_str()) {
            return Err(format!("Invalid value at '{at}.type' ({t:?})"));
        }
    }
    let props = obj.get("properties").and_then(Value::as_object);
    let empty = props.is_none_or(Map::is_empty);
    if ty.as_deref() == Some("OBJECT") && empty && (root || obj.contains_key("properties")) {
        return Err(format!(
            "* GenerateContentRequest.{at}.properties: should be non-empty for OBJECT type"
        ));
    }
    for (k, p) in props.into_iter().flatten() {
        schema(p, &format!("{at}.properties[{k}]"), false)?;
    }
    if let Some(items) = obj.get("items") {
        schema(items, &format!("{at}.items"), false)?;
    }
    for (i, alt) in obj
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        schema(alt, &format!("{at}.any_of[{i}]"), false)?;
    }
    Ok(())
}

fn tool_config(req: &Value, declared: &[String]) -> Result<(), String> {
    let Some(tc) = field(req, "toolConfig") else {
        return Ok(());
    };
    object(
        tc,
        "tool_config",
        &["functionCallingConfig", "retrievalConfig"],
    )?;
    let Some(fcc) = field(tc, "functionCallingConfig") else {
        return Ok(());
    };
    let at = "tool_config.function_calling_config";
    object(fcc, at, &["mode", "allowedFunctionNames"])?;
    let mode = field(fcc, "mode").and_then(Value::as_str).unwrap_or("AUTO");
    if !matches!(mode, "AUTO" | "ANY" | "NONE" | "VALIDATED") {
        return Err(format!("Invalid value at '{at}.mode' ({mode:?})"));
    }
    if let Some(names) = field(fcc, "allowedFunctionNames") {
        if !matches!(mode, "ANY" | "VALIDATED") {
            return Err(format!(
                "* GenerateContentRequest.{at}.allowed_function_names: should only be set when \
                 the Mode is ANY"
            ));
        }
        for n in names.as_array().into_iter().flatten() {
            if !n.as_str().is_some_and(|n| declared.iter().any(|d| d == n)) {
                return Err(format!(
                    "* GenerateContentRequest.{at}.allowed_function_names: {n} is not a declared \
                     function"
                ));
            }
        }
    }
    Ok(())
}

/// Validates `generationConfig`; returns whether thoughts were asked for.
fn generation(req: &Value) -> Result<bool, String> {
    let Some(g) = field(req, "generationConfig") else {
        return Ok(false);
    };
    object(g, "generation_config", GENERATION)?;
    let mime = field(g, "responseMimeType").and_then(Value::as_str);
    let json_schema = field(g, "responseJsonSchema").is_some();
    if json_schema && field(g, "responseSchema").is_some() {
        return Err(
            "* GenerateContentRequest.generation_config: response_schema and \
                    response_json_schema cannot both be set"
                .into(),
        );
    }
    if (json_schema || field(g, "responseSchema").is_some()) && mime != Some("application/json") {
        return Err(
            "* GenerateContentRequest.generation_config.response_mime_type: must be \
                    application/json when a response schema is set"
                .into(),
        );
    }
    if field(g, "candidateCount")
        .and_then(Value::as_u64)
        .is_some_and(|n| !(1..=8).contains(&n))
    {
        return Err(
            "* GenerateContentRequest.generation_config.candidate_count: must be \
                    between 1 and 8"
                .into(),
        );
    }
    if field(g, "stopSequences")
        .and_then(Value::as_array)
        .is_some_and(|s| s.len() > 5)
    {
        return Err(
            "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop \
                    sequences"
                .into(),
        );
    }
    if field(g, "temperature")
        .and_then(Value::as_f64)
        .is_some_and(|t| !(0.0..=2.0).contains(&t))
    {
        return Err(
            "* GenerateContentRequest.generation_config.temperature: must be in [0, 2]".into(),
        );
    }
    let Some(t) = field(g, "thinkingConfig") else {
        return Ok(false);
    };
    object(t, "generation_config.thinking_config", THINKING)?;
    if field(t, "thinkingBudget").is_some_and(|b| b.as_i64().is_none()) {
        return Err("Invalid value at 'generation_config.thinking_config.thinking_budget'".into());
    }
    Ok(field(t, "includeThoughts").and_then(Value::as_bool) == Some(true))
}

/// With thoughts on, the first call of every model turn since the last user prompt (the
/// current turn's steps) must carry the signature the mock issued for it.
fn signatures(contents: &[Value]) -> Result<(), String> {
    let is_prompt = |c: &Value| {
        field(c, "role").and_then(Value::as_str) != Some("model")
            && field(c, "parts")
                .and_then(Value::as_array)
                .is_some_and(|p| p.iter().all(|p| field(p, "functionResponse").is_none()))
    };
    let start = contents.iter().rposition(is_prompt).map_or(0, |i| i + 1);
    for (i, c) in contents.iter().enumerate().skip(start) {
        let first_call = field(c, "parts")
            .and_then(Value::as_array)
            .and_then(|p| p.iter().position(|p| field(p, "functionCall").is_some()));
        let Some(j) = first_call else { continue };
        let part = &c["parts"][j];
        match field(part, "thoughtSignature").and_then(Value::as_str) {
            Some(s) if s.starts_with(SIGNATURE_PREFIX) => {}
            Some(_) => {
                return Err(format!(
                    "* GenerateContentRequest.contents[{i}].parts[{j}].thought_signature: \
                     Thought signature is not valid."
                ));
            }
            None => {
                return Err(format!(
                    "Function call is missing a thought_signature in functionCall parts. This is \
                     required for tools to work correctly. (contents[{i}].parts[{j}])"
                ));
            }
        }
    }
    Ok(())
}
