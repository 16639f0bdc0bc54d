//! Gemini's own embeddings API: `models/{model}:embedContent` for one input and
//! `:batchEmbedContents` for several (at most [`BATCH_LIMIT`] a call), each input one text
//! part, `outputDimensionality` from `dimensions`, `taskType` left to the model's default.
//! Gemini reports no token counts for embeddings, so usage is the gateway's estimate.

use serde::{Deserialize, Serialize};
use sluice_types::GatewayError;

use super::GeminiCodec;
use super::wire::{Content, Part};
use crate::embeddings::{Embedded, Embedder, EmbeddingsRequest, json_body, parse_answer};
use crate::{Target, UpstreamRequest};

/// The most requests `batchEmbedContents` takes in one call.
pub(crate) const BATCH_LIMIT: usize = 100;

/// `EmbedContentRequest`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmbedContent<'a> {
    /// `models/{model}`; only inside a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    content: Content<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_dimensionality: Option<u32>,
}

/// `BatchEmbedContentsRequest`.
#[derive(Serialize)]
struct BatchEmbedContents<'a> {
    requests: Vec<EmbedContent<'a>>,
}

/// `ContentEmbedding`.
#[derive(Deserialize)]
struct Values {
    values: Vec<f32>,
}

/// `EmbedContentResponse` or `BatchEmbedContentsResponse`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Answer {
    One { embedding: Values },
    Many { embeddings: Vec<Values> },
}

/// The body embedding one text.
fn embed_content<'a>(
    model: Option<&'a str>,
    text: &'a str,
    dimensions: Option<u32>,
) -> EmbedContent<'a> {
    EmbedContent {
        model,
        content: Content {
            role: None,
            parts: vec![Part::text(text)],
        },
        output_dimensionality: dimensions,
    }
}

impl Embedder for GeminiCodec {
    fn batch_size(&self, _model: &str) -> usize {
        BATCH_LIMIT
    }

    fn encode_batch(
        &self,
        req: &EmbeddingsRequest,
        inputs: &[String],
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        let body = match inputs {
            [one] => json_body(&embed_content(None, one, req.dimensions))?,
            many => {
                let name = format!("models/{}", bare_model(&target.model));
                let requests = many
                    .iter()
                    .map(|text| embed_content(Some(&name), text, req.dimensions))
                    .collect();
                json_body(&BatchEmbedContents { requests })?
            }
        };
        let method = match inputs.len() {
            1 => "embedContent",
            _ => "batchEmbedContents",
        };
        Ok(UpstreamRequest {
            url: self.model_url(&target.model, method),
            headers: Vec::new(),
            body,
        })
    }

    fn decode_batch(&self, _model: &str, body: &[u8]) -> Result<Embedded, GatewayError> {
        let vectors = match parse_answer("Gemini embeddings response", body)? {
            Answer::One { embedding } => vec![embedding.values],
            Answer::Many { embeddings } => embeddings.into_iter().map(|e| e.values).collect(),
        };
        Ok(Embedded {
            vectors,
            tokens: None,
        })
    }
}

/// A model name without Gemini's `models/` prefix.
pub(super) fn bare_model(model: &str) -> &str {
    model.strip_prefix("models/").unwrap_or(model)
}
