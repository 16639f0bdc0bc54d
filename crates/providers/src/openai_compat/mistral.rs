//! Mistral's API on top of the OpenAI wire format: what its chat and embeddings requests name
//! differently from OpenAI's, mapped; OpenAI fields it has no place for, refused; its own
//! fields (`safe_prompt`, `random_seed`, `prompt_mode`, `guardrails`, `prediction`,
//! `document_url` and `reference` parts, assistant `prefix`, …), passed through as sent.
//!
//! Chat (`/v1/chat/completions`):
//!
//! - `seed` → `random_seed` (an explicit `random_seed` wins); `max_completion_tokens` →
//!   `max_tokens` (an explicit `max_tokens` wins);
//! - `stream_options` is left out: Mistral refuses the field and ends every stream with
//!   usage anyway;
//! - `developer` messages → `system`;
//! - `input_audio` parts `{data, format}` → `input_audio: data`; `file` parts → `{"type":
//!   "file", "file_id"}`, or with `file_data` → `{"type": "document_url", "document_url",
//!   "document_name"}`;
//! - [`REFUSED`] OpenAI fields → 400 `unsupported_parameter` (dropped with
//!   `drop_unsupported`).
//!
//! A request that needs none of this is forwarded as the client's bytes, as for every
//! OpenAI-compatible provider. Embeddings (`/v1/embeddings`) are answered through
//! [`Embedder`]: `dimensions` → `output_dimension`, Mistral's own fields kept.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_types::{ChatRequest, Content, ContentPart, GatewayError};

use super::OpenAiCodec;
use crate::codec::unsupported_parameter;
use crate::embeddings::{Embedded, Embedder, EmbeddingsRequest, json_body, parse_answer};
use crate::{Target, UpstreamRequest};

/// OpenAI chat fields Mistral's API has no place for.
pub(super) const REFUSED: &[&str] = &[
    "user",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "store",
    "service_tier",
    "modalities",
    "audio",
    "web_search_options",
    "verbosity",
    "safety_identifier",
    "functions",
    "function_call",
];

/// `req` as Mistral takes it, or `None` when it already is.
pub(super) fn adapt(
    req: &ChatRequest,
    target: &Target,
) -> Result<Option<ChatRequest>, GatewayError> {
    let refused = REFUSED.iter().find(|name| match **name {
        "user" => req.user.is_some(),
        "logprobs" => req.logprobs.is_some(),
        "top_logprobs" => req.top_logprobs.is_some(),
        other => req.extra.contains_key(other),
    });
    if let Some(name) = refused {
        return Err(unsupported_parameter(
            name,
            format!(
                "provider {} (Mistral) has no `{name}` parameter",
                target.provider
            ),
        ));
    }
    if !needs_changes(req) {
        return Ok(None);
    }
    let mut out = req.clone();
    out.raw = None;
    if let Some(seed) = out.seed.take() {
        out.extra
            .entry("random_seed".to_owned())
            .or_insert_with(|| Value::from(seed));
    }
    if let Some(limit) = out.max_completion_tokens.take() {
        out.max_tokens.get_or_insert(limit);
    }
    out.stream_options = None;
    for (i, m) in out.messages.iter_mut().enumerate() {
        if m.role == "developer" {
            m.role = "system".to_owned();
        }
        if let Some(Content::Parts(parts)) = &mut m.content {
            for (k, p) in parts.iter_mut().enumerate() {
                adapt_part(p, &format!("messages[{i}].content[{k}]"))?;
            }
        }
    }
    Ok(Some(out))
}

/// Whether anything of `req` must change for Mistral.
fn needs_changes(req: &ChatRequest) -> bool {
    req.seed.is_some()
        || req.max_completion_tokens.is_some()
        || req.stream_options.is_some()
        || req.messages.iter().any(|m| {
            m.role == "developer"
                || matches!(&m.content, Some(Content::Parts(parts))
                    if parts.iter().any(|p| matches!(p.kind.as_str(), "input_audio" | "file")))
        })
}

/// An OpenAI content part as Mistral's chunk of the same meaning.
fn adapt_part(p: &mut ContentPart, at: &str) -> Result<(), GatewayError> {
    let invalid = |what: &str, why: &str| {
        GatewayError::invalid_request(format!("{at}.{what}: {why}"))
            .with_param(format!("{at}.{what}"))
    };
    match p.kind.as_str() {
        "input_audio" => {
            let data = p
                .extra
                .get("input_audio")
                .and_then(|a| a.get("data"))
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("input_audio.data", "is required"))?
                .to_owned();
            p.extra
                .insert("input_audio".to_owned(), Value::String(data));
        }
        "file" => {
            let file = p
                .extra
                .remove("file")
                .and_then(|f| f.as_object().cloned())
                .ok_or_else(|| invalid("file", "must be an object"))?;
            let text = |key: &str| file.get(key).and_then(Value::as_str).map(str::to_owned);
            if let Some(id) = text("file_id") {
                p.extra.insert("file_id".to_owned(), Value::String(id));
            } else if let Some(data) = text("file_data") {
                p.kind = "document_url".to_owned();
                p.extra
                    .insert("document_url".to_owned(), Value::String(data));
                if let Some(name) = text("filename") {
                    p.extra
                        .insert("document_name".to_owned(), Value::String(name));
                }
            } else {
                return Err(invalid("file", "needs `file_id` or `file_data`"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Mistral's embeddings request.
#[derive(Serialize)]
struct EmbeddingRequest<'a> {
    model: &'a str,
    input: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    output_dimension: Option<u32>,
    /// Mistral's own fields (`output_dtype`, `metadata`, …), as sent.
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

/// Mistral's embeddings answer (OpenAI's shape).
#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<Datum>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Datum {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: u64,
}

impl Embedder for OpenAiCodec {
    /// One call carries every input: Mistral bounds a call by tokens, and refuses one that
    /// is too large with its own error.
    fn batch_size(&self, _model: &str) -> usize {
        usize::MAX
    }

    /// Mistral's own fields pass; OpenAI's have their translation.
    fn check_extra(&self, _req: &EmbeddingsRequest, _provider: &str) -> Result<(), GatewayError> {
        Ok(())
    }

    fn encode_batch(
        &self,
        req: &EmbeddingsRequest,
        inputs: &[String],
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        Ok(UpstreamRequest {
            url: self.url("/embeddings", None, Some(&target.model))?,
            headers: Vec::new(),
            body: json_body(&EmbeddingRequest {
                model: &target.model,
                input: inputs,
                output_dimension: req.dimensions,
                extra: &req.extra,
            })?,
        })
    }

    fn decode_batch(&self, _model: &str, body: &[u8]) -> Result<Embedded, GatewayError> {
        let mut answer: EmbeddingResponse = parse_answer("Mistral embeddings response", body)?;
        answer.data.sort_by_key(|d| d.index);
        Ok(Embedded {
            vectors: answer.data.into_iter().map(|d| d.embedding).collect(),
            tokens: answer.usage.map(|u| u.prompt_tokens),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use sluice_config::Timeouts;

    use super::*;

    fn target() -> Target {
        Target {
            provider: "mis".into(),
            model: "mistral-small-latest".into(),
            timeouts: Timeouts::default(),
        }
    }

    #[test]
    fn openai_fields_mistral_lacks_are_refused_by_name() {
        for name in REFUSED {
            let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
            body[*name] = match *name {
                "logprobs" | "store" => json!(true),
                "top_logprobs" => json!(2),
                _ => json!("x"),
            };
            let req: ChatRequest = serde_json::from_value(body).unwrap();
            let e = adapt(&req, &target()).unwrap_err();
            assert_eq!(
                (e.status(), e.param(), e.code()),
                (400, Some(*name), Some(crate::UNSUPPORTED_PARAMETER)),
                "{name}"
            );
            assert!(
                e.message().contains("provider mis (Mistral)"),
                "{}",
                e.message()
            );
        }
    }

    #[test]
    fn requests_mistral_takes_as_they_are_are_left_alone() {
        let req: ChatRequest = serde_json::from_value(json!({"model": "m", "stream": true,
            "safe_prompt": true, "random_seed": 1, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "hi"}, {"type": "image_url", "image_url": "https://x/y.png"}]}]}))
        .unwrap();
        assert!(adapt(&req, &target()).unwrap().is_none());
    }

    #[test]
    fn explicit_mistral_fields_win_over_their_openai_names() {
        let req: ChatRequest = serde_json::from_value(json!({"model": "m", "seed": 1,
            "random_seed": 2, "max_tokens": 10, "max_completion_tokens": 20,
            "messages": [{"role": "user", "content": "hi"}]}))
        .unwrap();
        let out = adapt(&req, &target()).unwrap().unwrap();
        assert_eq!(
            (out.seed, out.extra["random_seed"].clone()),
            (None, json!(2))
        );
        assert_eq!(
            (out.max_tokens, out.max_completion_tokens),
            (Some(10), None)
        );
        assert!(out.raw.is_none());
    }

    #[test]
    fn a_file_part_without_an_id_or_data_is_a_400_naming_it() {
        let req: ChatRequest = serde_json::from_value(json!({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "file", "file": {"filename": "a.pdf"}}]}]}))
        .unwrap();
        let e = adapt(&req, &target()).unwrap_err();
        assert_eq!(e.param(), Some("messages[0].content[0].file"));
    }
}
