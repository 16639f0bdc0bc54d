//! Deterministic answers of the Gemini mock.
//!
//! - After a `functionResponse`: `tool said: <the responses as JSON>`.
//! - With tools and a mode that allows calls (and the last user turn not being a tool
//!   result, unless the mode is `ANY`): a call of the first allowed function, or of every
//!   allowed function when the prompt contains "parallel", with the first required (else
//!   first) property set to `"Paris"`.
//! - JSON mode: an object satisfying the schema's required properties, else
//!   `{"answer":"echo"}`.
//! - Otherwise `echo: <last user text>`, cut to `maxOutputTokens` words (`MAX_TOKENS`).
//!
//! With `thinkingConfig.includeThoughts`, a thought part `Thinking about: <prompt>` comes
//! first and a `thoughtSignature` (base64 of `mock-sig:<n>`) sits on the first call, or on
//! the last text part. With `generationConfig.responseLogprobs`, each candidate carries a
//! `logprobsResult` for its text (one token per word piece). Token counts are word counts. A stream sends the thought, then the
//! text word by word (or all calls in one event), the last event carrying `finishReason`
//! and the full usage.

use serde_json::{Map, Value, json};

use super::validate::field;
use crate::wire::{count_words, truncate_words, word_pieces};

/// Base64 of `mock-sig:`, the start of every signature the mock issues.
pub(super) const SIGNATURE_PREFIX: &str = "bW9jay1zaWc6";

/// What the model says, before it is split into events.
struct Reply {
    thought: Option<String>,
    text: Option<String>,
    calls: Vec<Value>,
    finish: &'static str,
    signature: Option<String>,
}

/// The answer events: one for `generateContent`, several for a stream.
pub(super) fn answer(req: &Value, model: &str, n: u64, stream: bool) -> Vec<Value> {
    let contents = field(req, "contents")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let last_user = contents
        .iter()
        .rev()
        .find(|c| field(c, "role").and_then(Value::as_str) != Some("model"));
    let parts = last_user
        .and_then(|c| field(c, "parts"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let prompt: Vec<&str> = parts
        .iter()
        .filter_map(|p| field(p, "text").and_then(Value::as_str))
        .collect();
    let prompt = prompt.join(" ");
    let results: Vec<&Value> = parts
        .iter()
        .filter_map(|p| field(p, "functionResponse"))
        .collect();
    let config = field(req, "generationConfig")
        .cloned()
        .unwrap_or(Value::Null);
    let thinking = field(&config, "thinkingConfig")
        .and_then(|t| field(t, "includeThoughts"))
        .and_then(Value::as_bool)
        == Some(true);

    let mut reply = Reply {
        thought: thinking.then(|| format!("Thinking about: {prompt}")),
        text: None,
        calls: calls(req, &prompt, !results.is_empty()),
        finish: "STOP",
        signature: thinking.then(|| signature(&format!("{model}:{n}"))),
    };
    if reply.calls.is_empty() {
        let text = if !results.is_empty() {
            let shown: Vec<String> = results
                .iter()
                .map(|r| field(r, "response").unwrap_or(&Value::Null).to_string())
                .collect();
            format!("tool said: {}", shown.join(" "))
        } else if field(&config, "responseMimeType").and_then(Value::as_str)
            == Some("application/json")
        {
            let schema =
                field(&config, "responseJsonSchema").or_else(|| field(&config, "responseSchema"));
            schema
                .map_or_else(|| json!({"answer": "echo"}), json_for_schema)
                .to_string()
        } else {
            format!("echo: {prompt}")
        };
        let max = field(&config, "maxOutputTokens").and_then(Value::as_u64);
        let max = max.map(|m| usize::try_from(m).unwrap_or(usize::MAX));
        reply.text = Some(match max {
            Some(max) if word_pieces(&text).len() > max => {
                reply.finish = "MAX_TOKENS";
                truncate_words(&text, max).to_owned()
            }
            _ => text,
        });
    }

    let prompt_tokens: u64 = contents
        .iter()
        .chain(field(req, "systemInstruction"))
        .filter_map(|c| field(c, "parts").and_then(Value::as_array))
        .flatten()
        .filter_map(|p| field(p, "text").and_then(Value::as_str))
        .map(count_words)
        .sum();
    let candidates = field(&config, "candidateCount")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let out_tokens = reply.text.as_deref().map_or(0, count_words)
        + reply
            .calls
            .iter()
            .map(|c| count_words(&c.to_string()))
            .sum::<u64>();
    let thought_tokens = reply.thought.as_deref().map_or(0, count_words);
    let mut usage = json!({
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": out_tokens * candidates,
        "totalTokenCount": prompt_tokens + (out_tokens + thought_tokens) * candidates,
    });
    if thought_tokens > 0 {
        usage["thoughtsTokenCount"] = json!(thought_tokens * candidates);
    }
    let logprobs = (field(&config, "responseLogprobs").and_then(Value::as_bool) == Some(true))
        .then(|| {
            field(&config, "logprobs")
                .and_then(Value::as_u64)
                .unwrap_or(0)
        });
    let cx = Event {
        model,
        id: format!("mock-resp-{n}"),
        candidates,
        prompt_tokens,
        logprobs,
    };
    if stream {
        stream_events(&cx, &reply, &usage)
    } else {
        vec![cx.event(&whole_parts(&reply), Some(reply.finish), &usage)]
    }
}

/// Fields repeated on every event of one answer.
struct Event<'a> {
    model: &'a str,
    id: String,
    candidates: u64,
    prompt_tokens: u64,
    /// With `responseLogprobs`: how many top candidates per token.
    logprobs: Option<u64>,
}

impl Event<'_> {
    fn event(&self, parts: &[Value], finish: Option<&str>, usage: &Value) -> Value {
        let candidates: Vec<Value> = (0..self.candidates)
            .map(|i| {
                let mut c = json!({"content": {"role": "model", "parts": parts}, "index": i});
                if let Some(f) = finish {
                    c["finishReason"] = json!(f);
                }
                if let Some(top) = self.logprobs {
                    c["logprobsResult"] = logprobs_result(parts, top);
                }
                c
            })
            .collect();
        json!({
            "candidates": candidates,
            "usageMetadata": usage,
            "modelVersion": self.model,
            "responseId": self.id,
        })
    }
}

fn whole_parts(r: &Reply) -> Vec<Value> {
    let mut parts = Vec::new();
    if let Some(t) = &r.thought {
        parts.push(json!({"text": t, "thought": true}));
    }
    if let Some(t) = &r.text {
        parts.push(json!({"text": t}));
    }
    parts.extend(r.calls.iter().map(|c| json!({"functionCall": c})));
    sign(&mut parts, r);
    parts
}

/// Puts the signature on the first call, else on the last part.
fn sign(parts: &mut [Value], r: &Reply) {
    let Some(sig) = &r.signature else { return };
    let at = parts
        .iter()
        .position(|p| p.get("functionCall").is_some())
        .or(parts.len().checked_sub(1));
    if let Some(p) = at.and_then(|i| parts.get_mut(i)) {
        p["thoughtSignature"] = json!(sig);
    }
}

fn stream_events(cx: &Event<'_>, r: &Reply, usage: &Value) -> Vec<Value> {
    let early = json!({"promptTokenCount": cx.prompt_tokens, "totalTokenCount": cx.prompt_tokens});
    let mut groups: Vec<Vec<Value>> = Vec::new();
    if let Some(t) = &r.thought {
        groups.push(vec![json!({"text": t, "thought": true})]);
    }
    if let Some(t) = &r.text {
        groups.extend(word_pieces(t).into_iter().map(|p| vec![json!({"text": p})]));
    }
    if !r.calls.is_empty() {
        let mut calls: Vec<Value> = r.calls.iter().map(|c| json!({"functionCall": c})).collect();
        sign(&mut calls, r);
        groups.push(calls);
    } else if let Some(last) = groups.last_mut() {
        sign(last, r);
    }
    if groups.is_empty() {
        groups.push(vec![json!({"text": ""})]);
    }
    let last = groups.len() - 1;
    groups
        .iter()
        .enumerate()
        .map(|(i, parts)| {
            if i == last {
                cx.event(parts, Some(r.finish), usage)
            } else {
                cx.event(parts, None, &early)
            }
        })
        .collect()
}

/// A `logprobsResult` for the answer text in `parts`: each word piece is a token with log
/// probability -0.25, followed among the top candidates by `alt<j>` tokens.
fn logprobs_result(parts: &[Value], top: u64) -> Value {
    let text: String = parts
        .iter()
        .filter(|p| p.get("thought").is_none())
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    let pieces = word_pieces(&text);
    let chosen: Vec<Value> = pieces
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"token": t, "tokenId": i, "logProbability": -0.25}))
        .collect();
    let tops: Vec<Value> = chosen
        .iter()
        .map(|c| {
            let mut all = vec![c.clone()];
            for j in 1..top {
                all.push(json!({"token": format!("alt{j}"), "tokenId": 1000 + j,
                    "logProbability": -3.0 - j as f64}));
            }
            json!({"candidates": all})
        })
        .collect();
    json!({"chosenCandidates": chosen, "topCandidates": tops})
}

/// The calls to make, as `functionCall` objects.
fn calls(req: &Value, prompt: &str, after_result: bool) -> Vec<Value> {
    let decls: Vec<&Value> = field(req, "tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| field(t, "functionDeclarations").and_then(Value::as_array))
        .flatten()
        .collect();
    if decls.is_empty() {
        return Vec::new();
    }
    let fcc = field(req, "toolConfig").and_then(|t| field(t, "functionCallingConfig"));
    let mode = fcc
        .and_then(|c| field(c, "mode"))
        .and_then(Value::as_str)
        .unwrap_or("AUTO");
    if mode == "NONE" || (after_result && mode != "ANY") {
        return Vec::new();
    }
    let allowed: Option<Vec<&str>> = fcc
        .and_then(|c| field(c, "allowedFunctionNames"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let chosen = decls.into_iter().filter(|d| {
        let name = d.get("name").and_then(Value::as_str).unwrap_or_default();
        allowed.as_ref().is_none_or(|a| a.contains(&name))
    });
    let take = if prompt.contains("parallel") {
        usize::MAX
    } else {
        1
    };
    chosen
        .take(take)
        .map(|d| {
            let params = field(d, "parameters").or_else(|| field(d, "parametersJsonSchema"));
            let first = params.and_then(|p| {
                p.get("required")
                    .and_then(Value::as_array)
                    .and_then(|r| r.first())
                    .and_then(Value::as_str)
                    .or_else(|| {
                        p.get("properties")?
                            .as_object()?
                            .keys()
                            .next()
                            .map(String::as_str)
                    })
            });
            let mut args = Map::new();
            if let Some(first) = first {
                args.insert(first.to_owned(), json!("Paris"));
            }
            json!({"name": d.get("name").cloned().unwrap_or(Value::Null), "args": args})
        })
        .collect()
}

/// An object that satisfies a JSON schema's required properties.
fn json_for_schema(schema: &Value) -> Value {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return json!({"answer": "echo"});
    };
    let names: Vec<&str> = match schema.get("required").and_then(Value::as_array) {
        Some(req) => req.iter().filter_map(Value::as_str).collect(),
        None => props.keys().map(String::as_str).collect(),
    };
    let mut out = Map::new();
    for name in names {
        let ty = props
            .get(name)
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("string");
        let v = match ty.to_ascii_lowercase().as_str() {
            "number" | "integer" => json!(1),
            "boolean" => json!(true),
            "array" => json!([]),
            "object" => json!({}),
            _ => json!("x"),
        };
        out.insert(name.to_owned(), v);
    }
    Value::Object(out)
}

/// Standard base64 (with padding) of `mock-sig:<suffix>`.
fn signature(suffix: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("mock-sig:{suffix}").into_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_base64_with_a_fixed_prefix() {
        assert_eq!(signature("m:1"), "bW9jay1zaWc6bTox");
        assert!(signature("gemini-2.5-flash:12").starts_with(SIGNATURE_PREFIX));
        assert!(signature("ab").ends_with('='));
    }

    #[test]
    fn calls_respect_mode_and_parallel_prompts() {
        let req = json!({"tools": [{"functionDeclarations": [
            {"name": "a", "parameters": {"type": "OBJECT", "properties": {"x": {"type": "STRING"}}, "required": ["x"]}},
            {"name": "b"}]}]});
        assert_eq!(
            calls(&req, "hi", false),
            vec![json!({"name": "a", "args": {"x": "Paris"}})]
        );
        assert_eq!(calls(&req, "parallel please", false).len(), 2);
        assert!(calls(&req, "hi", true).is_empty());
        let mut forced = req.clone();
        forced["toolConfig"] =
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["b"]}});
        assert_eq!(
            calls(&forced, "hi", true),
            vec![json!({"name": "b", "args": {}})]
        );
    }
}
