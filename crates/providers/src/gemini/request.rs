//! Encoding a chat request as a Gemini `GenerateContentRequest`: the turns and their parts
//! here, tools and generation settings in `options`. Anything Gemini cannot honour is
//! refused with a 400 that names the parameter and the provider.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::{Map, Value};
use sluice_types::{ChatRequest, Content as MessageContent, ContentPart, GatewayError, Message};

use super::GeminiCodec;
use super::options::{generation_config, tool_config, tools};
use super::wire::{
    Blob, Content, FileData, FunctionCall, FunctionResponse, GenerateContentRequest, Part,
};
use crate::{Target, UpstreamRequest};

/// OpenAI request fields (kept in `extra`) that Gemini has no equivalent for; `null` and
/// empty values count as absent.
const UNSUPPORTED_EXTRA: &[&str] = &[
    "logit_bias",
    "audio",
    "prediction",
    "web_search_options",
    "functions",
    "function_call",
];

/// A 400 about request field `param`.
pub(super) fn invalid(param: impl Into<String>, message: impl Into<String>) -> GatewayError {
    GatewayError::invalid_request(message).with_param(param)
}

impl GeminiCodec {
    pub(super) fn encode_chat(
        &self,
        req: &ChatRequest,
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        self.check_supported(req)?;
        let (system_instruction, contents) = turns(&req.messages)?;
        let tools = tools(req)?;
        let tool_config = if tools.is_empty() {
            None
        } else {
            tool_config(req)?
        };
        let body = GenerateContentRequest {
            contents,
            system_instruction,
            tools,
            tool_config,
            safety_settings: extra(req, "safety_settings", "safetySettings"),
            cached_content: extra(req, "cached_content", "cachedContent").and_then(Value::as_str),
            generation_config: generation_config(req)?,
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| GatewayError::internal(format!("could not encode the request: {e}")))?;
        Ok(UpstreamRequest {
            url: self.chat_url(&target.model, req.is_stream()),
            headers: Vec::new(),
            body: Bytes::from(body),
        })
    }

    /// Refuses the OpenAI parameters Gemini cannot honour.
    fn check_supported(&self, req: &ChatRequest) -> Result<(), GatewayError> {
        let refuse = |param: &str, why: &str| {
            crate::codec::unsupported_parameter(
                param,
                format!(
                    "`{param}` is not supported by provider {} (gemini){why}",
                    self.provider
                ),
            )
        };
        if req.parallel_tool_calls == Some(false) {
            return Err(refuse(
                "parallel_tool_calls",
                ": Gemini cannot be kept from making several calls in one turn",
            ));
        }
        for key in UNSUPPORTED_EXTRA {
            let set = match req.extra.get(*key) {
                None | Some(Value::Null) => false,
                Some(Value::Object(o)) => !o.is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(_) => true,
            };
            if set {
                return Err(refuse(key, ""));
            }
        }
        if let Some(Value::Array(m)) = req.extra.get("modalities") {
            if m.iter().any(|v| v.as_str() != Some("text")) {
                return Err(refuse("modalities", ": only text output is available"));
            }
        }
        Ok(())
    }
}

/// A Gemini-native field passed through from the request's extras, under either spelling.
fn extra<'a>(req: &'a ChatRequest, snake: &str, camel: &str) -> Option<&'a Value> {
    req.extra
        .get(snake)
        .or_else(|| req.extra.get(camel))
        .filter(|v| !v.is_null())
}

/// The conversation as `systemInstruction` plus alternating `contents`.
fn turns(messages: &[Message]) -> Result<(Option<Content<'_>>, Vec<Content<'_>>), GatewayError> {
    let mut system: Vec<Part<'_>> = Vec::new();
    let mut contents: Vec<Content<'_>> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let (role, parts) = match m.role.as_str() {
            "system" | "developer" => {
                system.extend(system_parts(m, i)?);
                continue;
            }
            "user" => ("user", user_parts(m, i)?),
            "assistant" => ("model", model_parts(m, i)?),
            "tool" => ("user", vec![tool_result(messages, m, i)?]),
            "function" => {
                let name = m.name.clone().ok_or_else(|| {
                    invalid(
                        format!("messages[{i}].name"),
                        "a `function` message needs the `name` of the function",
                    )
                })?;
                let response = result_object(m.content.as_ref());
                (
                    "user",
                    vec![Part {
                        function_response: Some(FunctionResponse { name, response }),
                        ..Part::default()
                    }],
                )
            }
            other => {
                return Err(invalid(
                    format!("messages[{i}].role"),
                    format!("unknown message role {other:?}"),
                ));
            }
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
            _ => contents.push(Content {
                role: Some(Cow::Borrowed(role)),
                parts,
            }),
        }
    }
    let system = (!system.is_empty()).then_some(Content {
        role: None,
        parts: system,
    });
    Ok((system, contents))
}

fn system_parts(m: &Message, i: usize) -> Result<Vec<Part<'_>>, GatewayError> {
    match &m.content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(s)) => Ok(vec![Part::text(s.as_str())]),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| match (p.kind.as_str(), &p.text) {
                ("text", Some(t)) => Ok(Part::text(t.as_str())),
                _ => Err(invalid(
                    format!("messages[{i}].content[{j}]"),
                    "a system message for gemini may only hold text parts",
                )),
            })
            .collect(),
    }
}

fn user_parts(m: &Message, i: usize) -> Result<Vec<Part<'_>>, GatewayError> {
    match &m.content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(s)) => Ok(vec![Part::text(s.as_str())]),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .enumerate()
            .map(|(j, p)| content_part(p, &format!("messages[{i}].content[{j}]")))
            .collect(),
    }
}

/// One user content part: text, image, audio or file.
fn content_part<'a>(p: &'a ContentPart, at: &str) -> Result<Part<'a>, GatewayError> {
    match p.kind.as_str() {
        "text" => Ok(Part::text(p.text.as_deref().unwrap_or_default())),
        "image_url" => {
            let url = match p.extra.get("image_url") {
                Some(Value::Object(o)) => o.get("url").and_then(Value::as_str),
                Some(Value::String(s)) => Some(s.as_str()),
                _ => None,
            }
            .ok_or_else(|| invalid(format!("{at}.image_url.url"), "missing image URL"))?;
            media(url, None, &format!("{at}.image_url.url"))
        }
        "input_audio" => {
            let audio = p.extra.get("input_audio");
            let data = audio.and_then(|a| a.get("data")).and_then(Value::as_str);
            let format = audio.and_then(|a| a.get("format")).and_then(Value::as_str);
            match (data, format) {
                (Some(data), Some(format)) => Ok(Part {
                    inline_data: Some(Blob {
                        mime_type: Cow::Owned(format!("audio/{format}")),
                        data: Cow::Borrowed(data),
                    }),
                    ..Part::default()
                }),
                _ => Err(invalid(
                    format!("{at}.input_audio"),
                    "`input_audio` needs `data` and `format`",
                )),
            }
        }
        "file" => {
            let file = p.extra.get("file");
            if file.and_then(|f| f.get("file_id")).is_some() {
                return Err(invalid(
                    format!("{at}.file.file_id"),
                    "gemini cannot read OpenAI file ids; send the file as `file_data`",
                ));
            }
            let data = file
                .and_then(|f| f.get("file_data"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("{at}.file.file_data"), "missing `file_data`"))?;
            let filename = file.and_then(|f| f.get("filename")).and_then(Value::as_str);
            media(data, filename, &format!("{at}.file.file_data"))
        }
        other => Err(invalid(
            format!("{at}.type"),
            format!("content parts of type {other:?} cannot be sent to gemini"),
        )),
    }
}

/// A data URL → `inlineData`; an http(s) URL → `fileData` (fetched by Google, with the MIME
/// type guessed from the extension); raw base64 with a known file name → `inlineData`.
fn media<'a>(url: &'a str, filename: Option<&str>, at: &str) -> Result<Part<'a>, GatewayError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| invalid(at, "malformed data URL"))?;
        let mime = meta
            .strip_suffix(";base64")
            .ok_or_else(|| invalid(at, "only base64 data URLs can be sent to gemini"))?;
        let mime = mime.split(';').next().unwrap_or_default();
        if mime.is_empty() {
            return Err(invalid(at, "the data URL names no MIME type"));
        }
        return Ok(Part {
            inline_data: Some(Blob {
                mime_type: Cow::Borrowed(mime),
                data: Cow::Borrowed(data),
            }),
            ..Part::default()
        });
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Ok(Part {
            file_data: Some(FileData {
                mime_type: mime_from_name(url).map(Cow::Borrowed),
                file_uri: Cow::Borrowed(url),
            }),
            ..Part::default()
        });
    }
    match filename.and_then(mime_from_name) {
        Some(mime) => Ok(Part {
            inline_data: Some(Blob {
                mime_type: Cow::Borrowed(mime),
                data: Cow::Borrowed(url),
            }),
            ..Part::default()
        }),
        None => Err(invalid(at, "expected a base64 data URL or an http(s) URL")),
    }
}

/// The MIME type of a URL path or file name, from its extension.
fn mime_from_name(name: &str) -> Option<&'static str> {
    let path = name.split(['?', '#']).next().unwrap_or(name);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        "flac" => "audio/flac",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "txt" => "text/plain",
        _ => return None,
    })
}

/// An assistant turn: thought parts, text, then calls, with signatures put back.
fn model_parts(m: &Message, i: usize) -> Result<Vec<Part<'_>>, GatewayError> {
    let blocks: Vec<_> = m
        .thinking_blocks
        .iter()
        .flatten()
        .filter(|b| b.kind == "thinking")
        .collect();
    let mut parts: Vec<Part<'_>> = blocks
        .iter()
        .filter_map(|b| {
            let text = b.thinking.as_deref()?;
            Some(Part {
                text: Some(Cow::Borrowed(text)),
                thought: Some(true),
                thought_signature: b.signature.clone(),
                ..Part::default()
            })
        })
        .collect();
    match &m.content {
        Some(MessageContent::Text(s)) if !s.is_empty() => parts.push(Part::text(s.as_str())),
        None | Some(MessageContent::Text(_)) => {}
        Some(MessageContent::Parts(ps)) => {
            for (j, p) in ps.iter().enumerate() {
                let text = match p.kind.as_str() {
                    "text" => p.text.as_deref(),
                    "refusal" => p.extra.get("refusal").and_then(Value::as_str),
                    _ => None,
                }
                .ok_or_else(|| {
                    invalid(
                        format!("messages[{i}].content[{j}]"),
                        "an assistant message for gemini may only hold text parts",
                    )
                })?;
                parts.push(Part::text(text));
            }
        }
    }
    let mut calls = Vec::new();
    for (j, tc) in m.tool_calls.iter().flatten().enumerate() {
        let args = arguments(&tc.function.arguments).ok_or_else(|| {
            invalid(
                format!("messages[{i}].tool_calls[{j}].function.arguments"),
                "tool call arguments must be a JSON object encoded as a string",
            )
        })?;
        calls.push(parts.len());
        parts.push(Part {
            function_call: Some(FunctionCall {
                id: None,
                name: tc.function.name.clone(),
                args: Some(args),
            }),
            ..Part::default()
        });
    }
    let signatures = blocks
        .iter()
        .filter(|b| b.thinking.is_none())
        .filter_map(|b| b.signature.clone());
    if calls.is_empty() {
        if let Some(sig) = signatures.into_iter().next() {
            if parts.last().is_none_or(Part::is_thought) {
                parts.push(Part::text(""));
            }
            if let Some(last) = parts.last_mut() {
                last.thought_signature = Some(sig);
            }
        }
    } else {
        for (pos, sig) in calls.iter().zip(signatures) {
            parts[*pos].thought_signature = Some(sig);
        }
    }
    Ok(parts)
}

/// Tool-call arguments: a JSON object (the empty string counts as `{}`).
fn arguments(s: &str) -> Option<Value> {
    if s.trim().is_empty() {
        return Some(Value::Object(Map::new()));
    }
    serde_json::from_str::<Value>(s)
        .ok()
        .filter(Value::is_object)
}

/// A `tool` message → a `functionResponse` part named after the call it answers.
fn tool_result<'a>(
    messages: &'a [Message],
    m: &'a Message,
    i: usize,
) -> Result<Part<'a>, GatewayError> {
    let id = m.tool_call_id.as_deref().ok_or_else(|| {
        invalid(
            format!("messages[{i}].tool_call_id"),
            "a tool message needs `tool_call_id`",
        )
    })?;
    let name = messages[..i]
        .iter()
        .rev()
        .filter(|p| p.role == "assistant")
        .flat_map(|p| p.tool_calls.iter().flatten())
        .find(|tc| tc.id == id)
        .map(|tc| tc.function.name.clone())
        .ok_or_else(|| {
            invalid(
                format!("messages[{i}].tool_call_id"),
                format!("no earlier assistant message made a tool call with id {id:?}"),
            )
        })?;
    Ok(Part {
        function_response: Some(FunctionResponse {
            name,
            response: result_object(m.content.as_ref()),
        }),
        ..Part::default()
    })
}

/// A tool result as the JSON object Gemini requires: a JSON object as it is, any other
/// JSON value or plain text wrapped as `{"content": …}`.
fn result_object(content: Option<&MessageContent>) -> Value {
    let text: Cow<'_, str> = match content {
        None => Cow::Borrowed(""),
        Some(MessageContent::Text(s)) => Cow::Borrowed(s.as_str()),
        Some(MessageContent::Parts(parts)) => Cow::Owned(
            parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .collect::<String>(),
        ),
    };
    let value = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => return v,
        Ok(v) => v,
        Err(_) => Value::String(text.into_owned()),
    };
    let mut wrapped = Map::new();
    wrapped.insert("content".into(), value);
    Value::Object(wrapped)
}
