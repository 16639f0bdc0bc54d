//! `models/{model}:embedContent` and `:batchEmbedContents`, validated like the Gemini API:
//! a `content` with at least one text part, only the fields of `EmbedContentRequest`
//! (`model`, `content`, `taskType`, `title`, `outputDimensionality`), a positive
//! `outputDimensionality`, a known `taskType`, and for a batch between 1 and
//! [`BATCH_LIMIT`] requests, each naming the batch's model as `models/{model}`. Vectors are
//! [`crate::embed`] of the parts' text, [`DEFAULT_DIMENSIONS`] long unless asked otherwise;
//! like the real API, answers carry no token counts.

use serde_json::{Map, Value, json};

use super::invalid;
use crate::wire::Reply;

/// The most requests one `batchEmbedContents` call may carry.
const BATCH_LIMIT: usize = 100;
/// The vector length when `outputDimensionality` is absent.
pub(crate) const DEFAULT_DIMENSIONS: usize = 768;
/// The fields of `EmbedContentRequest`.
const FIELDS: &[&str] = &[
    "model",
    "content",
    "taskType",
    "title",
    "outputDimensionality",
];
/// `TaskType` values.
const TASK_TYPES: &[&str] = &[
    "TASK_TYPE_UNSPECIFIED",
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
];

/// Answers `method` (`embedContent` or `batchEmbedContents`) of `model`.
pub(super) fn reply(model: &str, method: &str, body: &[u8]) -> Reply {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return invalid("Invalid JSON payload received. Expected an object.");
    };
    let embeddings = match method {
        "embedContent" => match embedding(&req, None, "") {
            Ok(v) => json!({"embedding": {"values": v}}),
            Err(reply) => return reply,
        },
        _ => match batch(model, &req) {
            Ok(all) => json!({"embeddings": all}),
            Err(reply) => return reply,
        },
    };
    Reply::ok(&embeddings)
}

/// The embeddings of a `BatchEmbedContentsRequest`.
fn batch(model: &str, req: &Map<String, Value>) -> Result<Vec<Value>, Reply> {
    if let Some(unknown) = req.keys().find(|k| *k != "requests") {
        return Err(unknown_name(unknown));
    }
    let requests = req.get("requests").and_then(Value::as_array);
    let requests = match requests {
        Some(r) if !r.is_empty() => r,
        _ => {
            return Err(invalid(
                "* BatchEmbedContentsRequest.requests: contents is not specified",
            ));
        }
    };
    if requests.len() > BATCH_LIMIT {
        return Err(invalid(&format!(
            "* BatchEmbedContentsRequest.requests: at most {BATCH_LIMIT} requests can be in one batch"
        )));
    }
    let name = format!("models/{model}");
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let Some(r) = r.as_object() else {
                return Err(invalid(&format!("requests[{i}] must be an object")));
            };
            let at = format!("BatchEmbedContentsRequest.requests[{i}].");
            embedding(r, Some(&name), &at).map(|v| json!({"values": v}))
        })
        .collect()
}

/// The vector of one `EmbedContentRequest`; in a batch, its `model` must be `batch_model`.
fn embedding(
    req: &Map<String, Value>,
    batch_model: Option<&str>,
    at: &str,
) -> Result<Vec<f32>, Reply> {
    if let Some(unknown) = req.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(unknown_name(unknown));
    }
    if let Some(batch_model) = batch_model {
        match req.get("model").and_then(Value::as_str) {
            Some(m) if m == batch_model => {}
            Some(m) => {
                return Err(invalid(&format!(
                    "* {at}model: {m} does not match the model of the batch, {batch_model}"
                )));
            }
            None => return Err(invalid(&format!("* {at}model: model is required"))),
        }
    }
    let parts = req
        .get("content")
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| invalid(&format!("* {at}content: contents is not specified")))?;
    let mut text = String::new();
    for p in parts {
        match p.get("text").and_then(Value::as_str) {
            Some(t) => text.push_str(t),
            None => {
                return Err(invalid(&format!(
                    "* {at}content.parts: only text parts can be embedded"
                )));
            }
        }
    }
    if let Some(task) = req.get("taskType") {
        if !task.as_str().is_some_and(|t| TASK_TYPES.contains(&t)) {
            return Err(invalid(&format!(
                "Invalid value at '{at}task_type' (type.googleapis.com/google.ai.generativelanguage.v1beta.TaskType), {task}"
            )));
        }
    }
    let dims = match req.get("outputDimensionality") {
        None => DEFAULT_DIMENSIONS,
        Some(d) => d
            .as_u64()
            .filter(|d| (1..=3072).contains(d))
            .and_then(|d| usize::try_from(d).ok())
            .ok_or_else(|| {
                invalid(&format!(
                    "* {at}output_dimensionality: must be between 1 and 3072"
                ))
            })?,
    };
    Ok(crate::embed(&text, dims))
}

/// Gemini's refusal of a field its message type lacks.
fn unknown_name(name: &str) -> Reply {
    invalid(&format!(
        "Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn call(method: &str, body: Value) -> (u16, Value) {
        match reply("gemini-embedding-001", method, body.to_string().as_bytes()) {
            Reply::Json { status, body } => (status, serde_json::from_slice(&body).unwrap()),
            Reply::Sse(_) => panic!("no stream"),
        }
    }

    fn text(t: &str) -> Value {
        json!({"parts": [{"text": t}]})
    }

    #[test]
    fn one_and_many_texts_are_embedded() {
        let (status, v) = call(
            "embedContent",
            json!({"content": text("hello world"), "outputDimensionality": 8}),
        );
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["embedding"]["values"].as_array().unwrap().len(), 8);
        let m = "models/gemini-embedding-001";
        let (status, v) = call(
            "batchEmbedContents",
            json!({"requests": [{"model": m, "content": text("a")}, {"model": m, "content": text("b")}]}),
        );
        assert_eq!(status, 200, "{v}");
        let all = v["embeddings"].as_array().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0]["values"].as_array().unwrap().len(),
            DEFAULT_DIMENSIONS
        );
        assert!(v.get("usageMetadata").is_none());
    }

    #[test]
    fn malformed_requests_are_refused() {
        for (method, body) in [
            (
                "embedContent",
                json!({"content": text("a"), "dimensions": 8}),
            ),
            ("embedContent", json!({"content": {"parts": []}})),
            (
                "embedContent",
                json!({"content": text("a"), "outputDimensionality": 0}),
            ),
            (
                "embedContent",
                json!({"content": text("a"), "taskType": "QUERY"}),
            ),
            ("batchEmbedContents", json!({"requests": []})),
            (
                "batchEmbedContents",
                json!({"requests": [{"content": text("a")}]}),
            ),
            (
                "batchEmbedContents",
                json!({"requests": [{"model": "models/other", "content": text("a")}]}),
            ),
            ("batchEmbedContents", json!({"content": text("a")})),
        ] {
            let (status, v) = call(method, body.clone());
            assert_eq!(status, 400, "{method} {body}: {v}");
            assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
        }
        let many: Vec<Value> = (0..101)
            .map(|_| json!({"model": "models/gemini-embedding-001", "content": text("a")}))
            .collect();
        let (status, v) = call("batchEmbedContents", json!({"requests": many}));
        assert_eq!(status, 400);
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("at most 100")
        );
    }
}
