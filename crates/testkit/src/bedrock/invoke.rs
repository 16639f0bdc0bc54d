//! `POST /model/{modelId}/invoke` for the embedding models InvokeModel serves, in each
//! family's body format and with the API's validation (a `ValidationException` naming what is
//! wrong):
//!
//! - Titan (`amazon.titan-embed…`): `{"inputText"}`, and for Text Embeddings V2 also
//!   `dimensions` (256, 512 or 1024), `normalize` and `embeddingTypes`; answered with
//!   `{"embedding", "inputTextTokenCount", "embeddingsByType"}`.
//! - Cohere Embed (`cohere.embed…`): `{"texts"` (1 to 96), `"input_type"`, `"truncate"`,
//!   `"embedding_types"}`, and for v4 `output_dimension`; answered with
//!   `{"embeddings": [[…]], "id", "response_type": "embeddings_floats", "texts"}`.
//!
//! Vectors are [`crate::embed`] of the text; token counts are word counts.

use serde_json::{Map, Value, json};

use super::error_reply;
use crate::wire::{self, Reply};

/// Titan V2's default vector length.
const TITAN_DIMENSIONS: usize = 1024;
/// Cohere Embed's default vector length.
const COHERE_DIMENSIONS: usize = 1024;

fn invalid(message: &str) -> Reply {
    error_reply(400, "ValidationException", message)
}

/// Answers an InvokeModel call of `model` (the decoded id).
pub(super) fn reply(model: &str, body: &[u8], n: u64) -> Reply {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return invalid("Malformed input request, please reformat your input and try again.");
    };
    if model.starts_with("amazon.titan-embed") {
        titan(model.starts_with("amazon.titan-embed-text-v2"), &req)
    } else if model.starts_with("cohere.embed") {
        cohere(model.starts_with("cohere.embed-v4"), &req, n)
    } else {
        invalid("The provided model identifier is invalid.")
    }
}

/// Refuses keys outside `allowed`, as Bedrock's schema check does.
fn extraneous(req: &Map<String, Value>, allowed: &[&str]) -> Result<(), Reply> {
    match req.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(invalid(&format!(
            "Malformed input request: #: extraneous key [{key}] is not permitted, please \
             reformat your input and try again."
        ))),
        None => Ok(()),
    }
}

fn titan(v2: bool, req: &Map<String, Value>) -> Reply {
    let allowed: &[&str] = if v2 {
        &["inputText", "dimensions", "normalize", "embeddingTypes"]
    } else {
        &["inputText"]
    };
    if let Err(reply) = extraneous(req, allowed) {
        return reply;
    }
    let Some(text) = req
        .get("inputText")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return invalid("Malformed input request: #: required key [inputText] not found");
    };
    let dims = match req.get("dimensions") {
        None => TITAN_DIMENSIONS,
        Some(d) => match d.as_u64() {
            Some(256) => 256,
            Some(512) => 512,
            Some(1024) => 1024,
            _ => {
                return invalid(
                    "Malformed input request: #/dimensions: 256, 512 or 1024 is expected",
                );
            }
        },
    };
    if req.get("normalize").is_some_and(|v| !v.is_boolean()) {
        return invalid("Malformed input request: #/normalize: expected type: Boolean");
    }
    let v = crate::embed(text, dims);
    Reply::ok(&json!({
        "embedding": v,
        "inputTextTokenCount": wire::count_words(text),
        "embeddingsByType": {"float": v},
    }))
}

fn cohere(v4: bool, req: &Map<String, Value>, n: u64) -> Reply {
    let allowed: &[&str] = if v4 {
        &[
            "texts",
            "images",
            "inputs",
            "input_type",
            "truncate",
            "embedding_types",
            "output_dimension",
            "max_tokens",
        ]
    } else {
        &[
            "texts",
            "images",
            "input_type",
            "truncate",
            "embedding_types",
        ]
    };
    if let Err(reply) = extraneous(req, allowed) {
        return reply;
    }
    const INPUT_TYPES: &[&str] = &[
        "search_document",
        "search_query",
        "classification",
        "clustering",
    ];
    if !req
        .get("input_type")
        .and_then(Value::as_str)
        .is_some_and(|t| INPUT_TYPES.contains(&t))
    {
        return invalid("Malformed input request: #: required key [input_type] not found");
    }
    let texts: Option<Vec<&str>> = req
        .get("texts")
        .and_then(Value::as_array)
        .and_then(|t| t.iter().map(Value::as_str).collect());
    let texts = match texts {
        Some(t) if (1..=96).contains(&t.len()) => t,
        _ => {
            return invalid("Malformed input request: #/texts: expected a list of 1 to 96 strings");
        }
    };
    let dims = match req.get("output_dimension") {
        None => COHERE_DIMENSIONS,
        Some(d) => match d.as_u64() {
            Some(d @ (256 | 512 | 1024 | 1536)) => usize::try_from(d).unwrap_or(COHERE_DIMENSIONS),
            _ => {
                return invalid(
                    "Malformed input request: #/output_dimension: 256, 512, 1024 or 1536 is expected",
                );
            }
        },
    };
    let embeddings: Vec<Vec<f32>> = texts.iter().map(|t| crate::embed(t, dims)).collect();
    Reply::ok(&json!({
        "id": format!("emb-mock-{n}"),
        "embeddings": embeddings,
        "response_type": "embeddings_floats",
        "texts": texts,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn call(model: &str, body: Value) -> (u16, Value) {
        match reply(model, body.to_string().as_bytes(), 1) {
            Reply::Json { status, body } => (status, serde_json::from_slice(&body).unwrap()),
            Reply::Sse(_) => panic!("no stream"),
        }
    }

    #[test]
    fn titan_and_cohere_bodies_are_answered() {
        let (status, v) = call(
            "amazon.titan-embed-text-v2:0",
            json!({"inputText": "two words", "dimensions": 256, "normalize": true}),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["embedding"].as_array().unwrap().len(), 256);
        assert_eq!(v["inputTextTokenCount"], 2);
        let (status, v) = call(
            "cohere.embed-english-v3",
            json!({"texts": ["a", "b"], "input_type": "search_document"}),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn bodies_of_the_wrong_shape_are_validation_errors() {
        for (model, body) in [
            (
                "amazon.titan-embed-text-v2:0",
                json!({"inputText": "a", "dimensions": 300}),
            ),
            ("amazon.titan-embed-text-v2:0", json!({"input": "a"})),
            (
                "amazon.titan-embed-text-v1",
                json!({"inputText": "a", "normalize": true}),
            ),
            ("cohere.embed-english-v3", json!({"texts": ["a"]})),
            (
                "cohere.embed-english-v3",
                json!({"texts": [], "input_type": "search_query"}),
            ),
            (
                "cohere.embed-english-v3",
                json!({"texts": ["a"], "input_type": "search_query", "output_dimension": 256}),
            ),
            (
                "anthropic.claude-3-haiku-20240307-v1:0",
                json!({"inputText": "a"}),
            ),
        ] {
            let (status, v) = call(model, body.clone());
            assert_eq!(status, 400, "{model} {body}: {v}");
            assert_eq!(v["__type"], "ValidationException");
        }
    }
}
