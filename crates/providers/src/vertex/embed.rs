//! Vertex AI's text embeddings: `publishers/google/models/{model}:predict` with
//! `{"instances": [{"content"}], "parameters": {"outputDimensionality"}}`, answered with
//! `predictions[i].embeddings.values` and the input's `statistics.token_count`.
//! `gemini-embedding-*` models take one instance a call; the others up to
//! [`BATCH_LIMIT`].

use serde::{Deserialize, Serialize};
use sluice_types::GatewayError;

use super::codec::VertexGeminiCodec;
use super::endpoint::Publisher;
use crate::embeddings::{Embedded, Embedder, EmbeddingsRequest, json_body, parse_answer};
use crate::{Target, UpstreamRequest};

/// The most instances a `predict` call of a text-embedding model takes.
const BATCH_LIMIT: usize = 250;

/// The request body.
#[derive(Serialize)]
struct Predict<'a> {
    instances: Vec<Instance<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Parameters>,
}

#[derive(Serialize)]
struct Instance<'a> {
    content: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Parameters {
    output_dimensionality: u32,
}

/// The answer.
#[derive(Deserialize)]
struct PredictResponse {
    predictions: Vec<Prediction>,
}

#[derive(Deserialize)]
struct Prediction {
    embeddings: Embeddings,
}

#[derive(Deserialize)]
struct Embeddings {
    values: Vec<f32>,
    #[serde(default)]
    statistics: Option<Statistics>,
}

#[derive(Deserialize)]
struct Statistics {
    /// A protobuf `Value` number: JSON may write it as `6` or `6.0`.
    token_count: f64,
}

impl Embedder for VertexGeminiCodec {
    fn batch_size(&self, model: &str) -> usize {
        if model.starts_with("gemini-embedding") {
            1
        } else {
            BATCH_LIMIT
        }
    }

    fn encode_batch(
        &self,
        req: &EmbeddingsRequest,
        inputs: &[String],
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        let body = Predict {
            instances: inputs.iter().map(|content| Instance { content }).collect(),
            parameters: req.dimensions.map(|d| Parameters {
                output_dimensionality: d,
            }),
        };
        Ok(UpstreamRequest {
            url: self
                .endpoint()
                .model_url(Publisher::Google, &target.model, "predict")?,
            headers: Vec::new(),
            body: json_body(&body)?,
        })
    }

    fn decode_batch(&self, _model: &str, body: &[u8]) -> Result<Embedded, GatewayError> {
        let answer: PredictResponse = parse_answer("Vertex AI predict response", body)?;
        let tokens = answer
            .predictions
            .iter()
            .map(|p| p.embeddings.statistics.as_ref().map(|s| s.token_count))
            .sum::<Option<f64>>()
            .map(|t| t.max(0.0).round() as u64);
        Ok(Embedded {
            vectors: answer
                .predictions
                .into_iter()
                .map(|p| p.embeddings.values)
                .collect(),
            tokens,
        })
    }
}
