//! `POST /v1/completions`: the legacy `text_completion` API, plain and streamed.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::wire::{
    self, Reply, count_words, include_usage, max_tokens, model_of, sse_done, sse_event, word_pieces,
};

/// Answers one legacy completion request: one choice per prompt, each
/// `"echo: <prompt>"`.
pub(crate) fn reply(body: &[u8], n: u64, deployment: Option<&str>) -> Reply {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return Reply::invalid("We could not parse the JSON body of your request.", None);
    };
    let Some(model) = model_of(&req, deployment) else {
        return Reply::invalid("you must provide a model parameter", None);
    };
    let Some(prompts) = req.get("prompt").and_then(wire::inputs) else {
        return Reply::invalid("Missing required parameter: 'prompt'.", Some("prompt"));
    };
    let max = max_tokens(&req);
    let mut prompt_tokens = 0;
    let mut completion_tokens = 0;
    let texts: Vec<(String, &'static str)> = prompts
        .into_iter()
        .map(|(text, tokens)| {
            prompt_tokens += tokens;
            let full = format!("echo: {text}");
            let out = match max {
                Some(m) if word_pieces(&full).len() > m => {
                    (wire::truncate_words(&full, m).to_owned(), "length")
                }
                _ => (full, "stop"),
            };
            completion_tokens += count_words(&out.0);
            out
        })
        .collect();
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    let id = format!("cmpl-mock-{n}");
    let created = wire::now();
    if req.get("stream").and_then(Value::as_bool) != Some(true) {
        let choices: Vec<Value> = texts
            .iter()
            .enumerate()
            .map(|(i, (text, finish))| {
                json!({"text": text, "index": i, "logprobs": null, "finish_reason": finish})
            })
            .collect();
        return Reply::ok(&json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": usage,
        }));
    }
    let with_usage = include_usage(&req);
    let chunk = |choices: Value, usage: Option<&Value>| {
        let mut c = json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": choices,
        });
        if with_usage {
            if let Some(obj) = c.as_object_mut() {
                obj.insert("usage".to_owned(), usage.cloned().unwrap_or(Value::Null));
            }
        }
        sse_event(&c)
    };
    let mut out: Vec<Bytes> = Vec::new();
    for (i, (text, finish)) in texts.iter().enumerate() {
        for piece in word_pieces(text) {
            out.push(chunk(
                json!([{"text": piece, "index": i, "logprobs": null, "finish_reason": null}]),
                None,
            ));
        }
        out.push(chunk(
            json!([{"text": "", "index": i, "logprobs": null, "finish_reason": finish}]),
            None,
        ));
    }
    if with_usage {
        out.push(chunk(json!([]), Some(&usage)));
    }
    out.push(sse_done());
    Reply::Sse(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn one_choice_per_prompt() {
        let Reply::Json { status, body } = reply(br#"{"model":"i","prompt":["a b","c"]}"#, 7, None)
        else {
            panic!("expected JSON");
        };
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["id"], "cmpl-mock-7");
        assert_eq!(v["choices"][1]["text"], "echo: c");
        assert_eq!(v["choices"][1]["index"], 1);
        assert_eq!(v["usage"]["prompt_tokens"], 3);
        assert_eq!(v["usage"]["completion_tokens"], 5);
        assert_eq!(v["usage"]["total_tokens"], 8);
    }

    #[test]
    fn stream_with_usage() {
        let body = br#"{"model":"i","prompt":"hi there","stream":true,"stream_options":{"include_usage":true}}"#;
        let Reply::Sse(frames) = reply(body, 1, None) else {
            panic!("expected SSE");
        };
        assert_eq!(&frames.last().unwrap()[..], b"data: [DONE]\n\n");
        let chunks: Vec<Value> = frames[..frames.len() - 1]
            .iter()
            .map(|f| serde_json::from_slice(&f[6..]).unwrap())
            .collect();
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["text"].as_str())
            .collect();
        assert_eq!(text, "echo: hi there");
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"]["prompt_tokens"], 2);
        assert!(
            chunks[..chunks.len() - 1]
                .iter()
                .all(|c| c["usage"].is_null())
        );
    }
}
