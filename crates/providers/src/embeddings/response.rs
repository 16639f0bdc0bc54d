//! OpenAI's embeddings answer, written from the vectors a provider returned.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde::Serialize;
use sluice_types::GatewayError;

use super::EncodingFormat;

/// `{"object": "list", "data": […], "model", "usage"}`.
#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Item>,
    model: &'a str,
    usage: Usage,
}

/// One `data[i]`.
#[derive(Serialize)]
struct Item {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

/// A vector as numbers, or as base64 of its little-endian `f32`s.
#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// The answer for `vectors` (one per input, in order) of `model`, with `prompt_tokens`.
pub(super) fn render(
    vectors: Vec<Vec<f32>>,
    format: EncodingFormat,
    model: &str,
    prompt_tokens: u64,
) -> Result<Bytes, GatewayError> {
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| Item {
            object: "embedding",
            index,
            embedding: match format {
                EncodingFormat::Float => Vector::Float(v),
                EncodingFormat::Base64 => {
                    let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                    Vector::Base64(STANDARD.encode(bytes))
                }
            },
        })
        .collect();
    let list = List {
        object: "list",
        data,
        model,
        usage: Usage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    };
    serde_json::to_vec(&list)
        .map(Bytes::from)
        .map_err(|e| GatewayError::internal(format!("could not encode the embeddings: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn floats_and_little_endian_base64() {
        let out = render(vec![vec![0.5, -1.0]], EncodingFormat::Float, "m", 3).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            json!({"object": "list", "model": "m",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}],
                "usage": {"prompt_tokens": 3, "total_tokens": 3}})
        );
        let out = render(
            vec![vec![1.0], vec![0.5, -1.0]],
            EncodingFormat::Base64,
            "m",
            0,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        // 1.0f32 = 00 00 80 3f; 0.5f32 = 00 00 00 3f; -1.0f32 = 00 00 80 bf.
        assert_eq!(v["data"][0]["embedding"], "AACAPw==");
        assert_eq!(v["data"][1]["embedding"], "AAAAPwAAgL8=");
        assert_eq!(v["data"][1]["index"], 1);
    }
}
