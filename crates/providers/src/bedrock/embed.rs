//! Embeddings on Bedrock through InvokeModel (`POST {base_url}/model/{modelId}/invoke`, signed
//! like Converse), in the body format of the model's family, found from its id (the part
//! after an ARN's last `/`, with or without an inference profile's region prefix):
//!
//! - **Amazon Titan** (`amazon.titan-embed…`): one text a call, `{"inputText"}` answered
//!   with `{"embedding", "inputTextTokenCount"}`. Text Embeddings V2
//!   (`amazon.titan-embed-text-v2…`) also takes `dimensions` and is asked for unit-length
//!   vectors (`normalize: true`); the older models take the text alone.
//! - **Cohere Embed** (`cohere.embed…`): up to [`COHERE_BATCH_LIMIT`] texts a call,
//!   `{"texts", "input_type": "search_document"}` answered with `{"embeddings": [[…]]}` (or,
//!   by type, `{"embeddings": {"float": [[…]]}}`); Embed v4 (`cohere.embed-v4…`) also takes
//!   `output_dimension`. Cohere reports no token counts here, so usage is estimated.

use http::HeaderValue;
use http::header::ACCEPT;
use serde::{Deserialize, Serialize};
use sluice_types::GatewayError;

use super::{BedrockCodec, encode_label};
use crate::codec::unsupported_parameter;
use crate::embeddings::{Embedded, Embedder, EmbeddingsRequest, json_body, parse_answer};
use crate::{Target, UpstreamRequest};

/// The most texts a Cohere Embed call on Bedrock takes.
const COHERE_BATCH_LIMIT: usize = 96;

/// The embedding model families InvokeModel is spoken to in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// Titan Text Embeddings V2: `dimensions` and `normalize`.
    TitanV2,
    /// Older Titan embedding models: the text alone.
    Titan,
    /// Cohere Embed v4: `output_dimension`.
    CohereV4,
    /// Older Cohere Embed models.
    Cohere,
}

impl Family {
    /// The family of a Bedrock model id, ARN or inference profile id.
    fn of(model: &str) -> Option<Self> {
        let id = model.rsplit('/').next().unwrap_or(model);
        let without_region = id.split_once('.').map(|(_, rest)| rest);
        [Some(id), without_region]
            .into_iter()
            .flatten()
            .find_map(|id| {
                if id.starts_with("amazon.titan-embed-text-v2") {
                    Some(Family::TitanV2)
                } else if id.starts_with("amazon.titan-embed") {
                    Some(Family::Titan)
                } else if id.starts_with("cohere.embed-v4") {
                    Some(Family::CohereV4)
                } else if id.starts_with("cohere.embed") {
                    Some(Family::Cohere)
                } else {
                    None
                }
            })
    }
}

/// A Titan request.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TitanRequest<'a> {
    input_text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    normalize: Option<bool>,
}

/// A Titan answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanResponse {
    embedding: Vec<f32>,
    #[serde(default)]
    input_text_token_count: Option<u64>,
}

/// A Cohere Embed request.
#[derive(Serialize)]
struct CohereRequest<'a> {
    texts: &'a [String],
    input_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_dimension: Option<u32>,
}

/// A Cohere Embed answer.
#[derive(Deserialize)]
struct CohereResponse {
    embeddings: CohereEmbeddings,
}

/// Float embeddings as a list, or by type.
#[derive(Deserialize)]
#[serde(untagged)]
enum CohereEmbeddings {
    Floats(Vec<Vec<f32>>),
    ByType { float: Vec<Vec<f32>> },
}

impl BedrockCodec {
    /// The family of `model`, or a 400 naming the families Sluice translates.
    fn embedding_family(&self, model: &str) -> Result<Family, GatewayError> {
        Family::of(model).ok_or_else(|| {
            GatewayError::invalid_request(format!(
                "provider {}: {model:?} is not a Bedrock embedding model Sluice translates \
                 (amazon.titan-embed…, cohere.embed…)",
                self.name
            ))
            .with_param("model")
        })
    }
}

impl Embedder for BedrockCodec {
    fn batch_size(&self, model: &str) -> usize {
        match Family::of(model) {
            Some(Family::Cohere | Family::CohereV4) => COHERE_BATCH_LIMIT,
            _ => 1,
        }
    }

    fn encode_batch(
        &self,
        req: &EmbeddingsRequest,
        inputs: &[String],
        target: &Target,
    ) -> Result<UpstreamRequest, GatewayError> {
        let family = self.embedding_family(&target.model)?;
        let no_dimensions = || {
            unsupported_parameter(
                "dimensions",
                format!(
                    "provider {}: {} takes no `dimensions`",
                    self.name, target.model
                ),
            )
        };
        let body = match family {
            Family::TitanV2 | Family::Titan => {
                let [text] = inputs else {
                    return Err(GatewayError::internal("a Titan call embeds one text"));
                };
                let v2 = family == Family::TitanV2;
                if req.dimensions.is_some() && !v2 {
                    return Err(no_dimensions());
                }
                json_body(&TitanRequest {
                    input_text: text,
                    dimensions: req.dimensions,
                    normalize: v2.then_some(true),
                })?
            }
            Family::CohereV4 | Family::Cohere => {
                if req.dimensions.is_some() && family == Family::Cohere {
                    return Err(no_dimensions());
                }
                json_body(&CohereRequest {
                    texts: inputs,
                    input_type: "search_document",
                    output_dimension: req.dimensions,
                })?
            }
        };
        Ok(UpstreamRequest {
            url: format!(
                "{}/model/{}/invoke",
                self.base_url,
                encode_label(&target.model)
            ),
            headers: vec![(ACCEPT, HeaderValue::from_static("application/json"))],
            body,
        })
    }

    fn decode_batch(&self, model: &str, body: &[u8]) -> Result<Embedded, GatewayError> {
        match self.embedding_family(model)? {
            Family::TitanV2 | Family::Titan => {
                let answer: TitanResponse = parse_answer("Titan embeddings response", body)?;
                Ok(Embedded {
                    vectors: vec![answer.embedding],
                    tokens: answer.input_text_token_count,
                })
            }
            Family::CohereV4 | Family::Cohere => {
                let answer: CohereResponse = parse_answer("Cohere Embed response", body)?;
                let vectors = match answer.embeddings {
                    CohereEmbeddings::Floats(v) | CohereEmbeddings::ByType { float: v } => v,
                };
                Ok(Embedded {
                    vectors,
                    tokens: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Family;

    #[test]
    fn families_follow_the_model_id() {
        for (model, family) in [
            ("amazon.titan-embed-text-v2:0", Some(Family::TitanV2)),
            ("amazon.titan-embed-text-v1", Some(Family::Titan)),
            ("amazon.titan-embed-image-v1", Some(Family::Titan)),
            ("cohere.embed-english-v3", Some(Family::Cohere)),
            ("cohere.embed-v4:0", Some(Family::CohereV4)),
            ("us.cohere.embed-v4:0", Some(Family::CohereV4)),
            (
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
                Some(Family::TitanV2),
            ),
            ("anthropic.claude-sonnet-4-5-20250929-v1:0", None),
            ("cohere.command-r-v1:0", None),
        ] {
            assert_eq!(Family::of(model), family, "{model}");
        }
    }
}
