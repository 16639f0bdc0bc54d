//! Encoding a chat request in the OpenAI wire format: every field the client sent, with the
//! target's model name. A request that arrived as OpenAI JSON and is unchanged is forwarded
//! as those bytes with only `model` replaced; otherwise the typed fields are serialized.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use sluice_types::{ChatRequest, GatewayError, JsonMap, Message, StreamOptions, Tool};

use super::OpenAiCodec;
use super::splice::with_string_field;
use crate::{Target, UpstreamRequest};

/// A borrowed view of a [`ChatRequest`] with the model replaced, so nothing is cloned.
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<&'a StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [Tool]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a JsonMap,
}

impl OpenAiCodec {
    pub(super) fn encode_chat(
        &self,
        req: &ChatRequest,
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        let url = self.url("/chat/completions", None, Some(&target.model))?;
        let spliced = req
            .raw
            .as_deref()
            .and_then(|raw| with_string_field(raw, "model", &target.model));
        if let Some(body) = spliced {
            return Ok(UpstreamRequest {
                url,
                headers: Vec::new(),
                body: Bytes::from(body),
            });
        }
        let body = Body {
            model: &target.model,
            messages: &req.messages,
            stream: req.stream,
            stream_options: req.stream_options.as_ref(),
            tools: req.tools.as_deref(),
            tool_choice: req.tool_choice.as_ref(),
            parallel_tool_calls: req.parallel_tool_calls,
            response_format: req.response_format.as_ref(),
            temperature: req.temperature,
            top_p: req.top_p,
            max_tokens: req.max_tokens,
            max_completion_tokens: req.max_completion_tokens,
            n: req.n,
            stop: req.stop.as_ref(),
            seed: req.seed,
            user: req.user.as_deref(),
            extra: &req.extra,
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| GatewayError::internal(format!("could not encode the request: {e}")))?;
        Ok(UpstreamRequest {
            url,
            headers: Vec::new(),
            body: Bytes::from(body),
        })
    }
}
