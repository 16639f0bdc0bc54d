//! `publishers/google/models/{model}:predict` for Google's text-embedding models, validated
//! like Vertex AI: `instances` of `{content, task_type?, title?}` (one for
//! `gemini-embedding-*` models, at most [`BATCH_LIMIT`] for the others), and optional
//! `parameters` `{outputDimensionality, autoTruncate}`. Each prediction is
//! `{embeddings: {values, statistics: {truncated, token_count}}}` with [`crate::embed`] of
//! the content ([`DEFAULT_DIMENSIONS`] long unless asked otherwise) and its word count.

use serde_json::{Value, json};

use crate::gemini::invalid;
use crate::wire::{self, Reply};

/// The most instances one call of a text-embedding model may carry.
const BATCH_LIMIT: usize = 250;
/// The vector length without `outputDimensionality`.
const DEFAULT_DIMENSIONS: usize = 768;

/// Answers `predict` on `model`.
pub(super) fn predict(model: &str, body: &[u8]) -> Reply {
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return invalid("Invalid JSON payload received. Expected an object.");
    };
    if let Some(unknown) = req
        .keys()
        .find(|k| !["instances", "parameters"].contains(&k.as_str()))
    {
        return invalid(&format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        ));
    }
    let instances = match req.get("instances").and_then(Value::as_array) {
        Some(i) if !i.is_empty() => i,
        _ => return invalid("instances must be a non-empty list"),
    };
    let limit = if model.starts_with("gemini-embedding") {
        1
    } else {
        BATCH_LIMIT
    };
    if instances.len() > limit {
        return invalid(&format!(
            "Unable to submit request because {model} supports up to {limit} instance(s) per \
             request, and {} were given.",
            instances.len()
        ));
    }
    let dims = match parameters(req.get("parameters")) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    let mut predictions = Vec::with_capacity(instances.len());
    let mut characters = 0;
    for (i, instance) in instances.iter().enumerate() {
        let fields_ok = instance.as_object().is_some_and(|o| {
            o.keys()
                .all(|k| ["content", "task_type", "title"].contains(&k.as_str()))
        });
        let content = instance.get("content").and_then(Value::as_str);
        let (true, Some(content)) = (fields_ok, content) else {
            return invalid(&format!(
                "instances[{i}] must be an object with a string content (and task_type, title)"
            ));
        };
        characters += content.chars().filter(|c| !c.is_whitespace()).count();
        predictions.push(json!({"embeddings": {
            "values": crate::embed(content, dims),
            "statistics": {"truncated": false, "token_count": wire::count_words(content)},
        }}));
    }
    Reply::ok(&json!({
        "predictions": predictions,
        "metadata": {"billableCharacterCount": characters},
    }))
}

/// The vector length `parameters` asks for.
fn parameters(parameters: Option<&Value>) -> Result<usize, Reply> {
    let Some(parameters) = parameters else {
        return Ok(DEFAULT_DIMENSIONS);
    };
    let Some(map) = parameters.as_object() else {
        return Err(invalid("parameters must be an object"));
    };
    if let Some(unknown) = map
        .keys()
        .find(|k| !["outputDimensionality", "autoTruncate"].contains(&k.as_str()))
    {
        return Err(invalid(&format!("Unknown parameter {unknown:?}")));
    }
    match map.get("outputDimensionality") {
        None => Ok(DEFAULT_DIMENSIONS),
        Some(d) => d
            .as_u64()
            .filter(|d| (1..=3072).contains(d))
            .and_then(|d| usize::try_from(d).ok())
            .ok_or_else(|| invalid("outputDimensionality must be between 1 and 3072")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn call(model: &str, body: Value) -> (u16, Value) {
        match predict(model, body.to_string().as_bytes()) {
            Reply::Json { status, body } => (status, serde_json::from_slice(&body).unwrap()),
            Reply::Sse(_) => panic!("no stream"),
        }
    }

    #[test]
    fn instances_are_embedded_with_statistics() {
        let (status, v) = call(
            "text-embedding-005",
            json!({"instances": [{"content": "one two"}, {"content": "three"}],
                "parameters": {"outputDimensionality": 16}}),
        );
        assert_eq!(status, 200, "{v}");
        let p = v["predictions"].as_array().unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0]["embeddings"]["values"].as_array().unwrap().len(), 16);
        assert_eq!(p[0]["embeddings"]["statistics"]["token_count"], 2);
        assert_eq!(p[1]["embeddings"]["statistics"]["token_count"], 1);
    }

    #[test]
    fn gemini_embedding_takes_one_instance_and_bad_shapes_are_refused() {
        let two = json!({"instances": [{"content": "a"}, {"content": "b"}]});
        let (status, v) = call("gemini-embedding-001", two.clone());
        assert_eq!(status, 400, "{v}");
        assert_eq!(call("text-embedding-005", two).0, 200);
        for bad in [
            json!({"instances": []}),
            json!({"instances": [{"text": "a"}]}),
            json!({"instances": [{"content": "a"}], "parameters": {"dimensions": 8}}),
            json!({"instances": [{"content": "a"}], "parameters": {"outputDimensionality": 0}}),
            json!({"instances": [{"content": "a"}], "input": "a"}),
        ] {
            let (status, v) = call("text-embedding-005", bad.clone());
            assert_eq!(status, 400, "{bad}: {v}");
            assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
        }
    }
}
