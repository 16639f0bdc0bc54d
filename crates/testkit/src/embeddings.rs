//! `POST /v1/embeddings` and `GET /v1/models`.
//!
//! Embeddings are deterministic hashed bags of features ([`embed`]): each word, lower-cased,
//! and each character trigram of its content words is hashed to two signed positions of
//! the vector, content words weighing most, a short list of function words least; the sum
//! is scaled to unit length. The same text always gets the same embedding, texts that share
//! most words (or most of their spelling) are close, and word order is ignored, which is
//! what a semantic-cache test needs: paraphrases that keep the words match, and near-misses
//! that keep the words (Paris→Berlin, 7 am and 7 pm) match too, so the verifier has work.

use serde_json::{Value, json};

use crate::wire::{self, Reply};

/// Default embedding length when the request has no `dimensions`.
pub(crate) const DEFAULT_DIMENSIONS: usize = 512;
/// Words that weigh little in an embedding.
const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "and", "are", "can", "could", "do", "does", "for", "how", "i", "in", "is", "it",
    "me", "my", "of", "on", "please", "the", "to", "what", "which", "with", "you", "your",
];
/// Weights of a content word, a function word and a character trigram.
const WEIGHTS: (f32, f32, f32) = (1.0, 0.1, 0.25);

/// Models listed by `GET /v1/models`.
const MODELS: &[&str] = &[
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
];

/// Answers one embeddings request.
pub(crate) fn reply(body: &[u8], deployment: Option<&str>) -> Reply {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return Reply::invalid("We could not parse the JSON body of your request.", None);
    };
    let Some(model) = wire::model_of(&req, deployment) else {
        return Reply::invalid("you must provide a model parameter", None);
    };
    let Some(inputs) = req.get("input").and_then(wire::inputs) else {
        return Reply::invalid("'input' is a required property", Some("input"));
    };
    let dims = req
        .get("dimensions")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_DIMENSIONS, |d| {
            usize::try_from(d)
                .unwrap_or(DEFAULT_DIMENSIONS)
                .clamp(1, 4096)
        });
    let base64 = req.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let mut tokens = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, (text, t))| {
            tokens += t;
            let v = embed(text, dims);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                Value::String(base64_encode(&bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Reply::ok(&json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
}

/// `GET /v1/models`.
pub(crate) fn list_models() -> Reply {
    let data: Vec<Value> = MODELS.iter().map(|m| model(m)).collect();
    Reply::ok(&json!({"object": "list", "data": data}))
}

/// `GET /v1/models/{id}`: any id exists.
pub(crate) fn get_model(id: &str) -> Reply {
    Reply::ok(&model(id))
}

fn model(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 1_700_000_000u64, "owned_by": "mock"})
}

/// The deterministic unit-length embedding of a text (see the module docs).
pub fn embed(text: &str, dims: usize) -> Vec<f32> {
    let mut v = vec![0f32; dims.max(1)];
    let (content, function, trigram) = WEIGHTS;
    for word in text.split(|c: char| !c.is_alphanumeric() && c != '\'') {
        let word: String = word
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        if word.is_empty() {
            continue;
        }
        if FUNCTION_WORDS.contains(&word.as_str()) {
            add(&mut v, &format!("w:{word}"), function);
            continue;
        }
        add(&mut v, &format!("w:{word}"), content);
        let padded: Vec<char> = format!("<{word}>").chars().collect();
        for gram in padded.windows(3) {
            add(
                &mut v,
                &format!("t:{}", gram.iter().collect::<String>()),
                trigram,
            );
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v[0] = 1.0;
    }
    v
}

/// Adds `weight` for `feature` at two hashed positions with hashed signs.
fn add(v: &mut [f32], feature: &str, weight: f32) {
    let mut seed = fnv1a(feature.as_bytes());
    for _ in 0..2 {
        seed = splitmix64(seed);
        let at = usize::try_from(seed % v.len() as u64).unwrap_or(0);
        let sign = if seed >> 63 == 0 { 1.0 } else { -1.0 };
        v[at] += sign * weight;
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Standard base64 with padding.
fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    fn cos(a: &str, b: &str) -> f32 {
        let (a, b) = (embed(a, 512), embed(b, 512));
        a.iter().zip(&b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn embeddings_are_deterministic_and_unit() {
        let a = embed("What is the capital of France?", 8);
        assert_eq!(a, embed("what is the capital of france", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_ne!(a, embed("something else entirely", 8));
        assert_eq!(embed("", 4), [1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn shared_words_are_close_and_other_words_are_not() {
        let same = cos("How do I reset my password?", "how can I reset my password");
        assert!(same > 0.95, "{same}");
        let order = cos(
            "Flights from Paris to Berlin",
            "Flights from Berlin to Paris",
        );
        assert!(order > 0.99, "word order is ignored: {order}");
        let typo = cos("reset my password", "reset my pasword");
        assert!(typo > 0.6 && typo < 0.95, "{typo}");
        let other = cos("How do I reset my password?", "Best pizza in Naples");
        assert!(other < 0.3, "{other}");
    }

    #[test]
    fn reply_shapes() {
        let Reply::Json { body, .. } = reply(
            br#"{"model":"e","input":["a","b"],"encoding_format":"base64","dimensions":4}"#,
            None,
        ) else {
            panic!("expected JSON");
        };
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(v["data"][0]["embedding"].as_str().unwrap().len(), 24);
        assert_eq!(v["usage"]["prompt_tokens"], 2);
        let Reply::Json { body, .. } = reply(br#"{"model":"e","input":"a"}"#, Some("dep")) else {
            panic!("expected JSON");
        };
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["model"], "dep");
        assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 512);
    }
}
