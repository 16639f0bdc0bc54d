//! `POST /v1/chat/completions`: echo answers, tool calls, JSON mode, and the
//! matching `chat.completion.chunk` stream.

use bytes::Bytes;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value, json};

use crate::wire::{
    self, Reply, count_words, include_usage, max_tokens, model_of, split_even, sse_done, sse_event,
    word_pieces,
};

/// What the assistant says.
enum Answer {
    Text {
        content: String,
        finish: &'static str,
    },
    Tool {
        name: String,
        arguments: String,
    },
}

/// Answers one chat completion request. `deployment` is the Azure deployment
/// name, which replaces the model in the answer.
pub(crate) fn reply(body: &[u8], n: u64, deployment: Option<&str>) -> Reply {
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return Reply::invalid("We could not parse the JSON body of your request.", None);
    };
    let Some(model) = model_of(&req, deployment) else {
        return Reply::invalid("you must provide a model parameter", None);
    };
    let Some(messages) = req.get("messages").and_then(Value::as_array) else {
        return Reply::invalid("Missing required parameter: 'messages'.", Some("messages"));
    };
    let prompt_tokens: u64 = messages
        .iter()
        .filter_map(|m| m.get("content"))
        .map(|c| count_words(&wire::content_text(c)))
        .sum();
    let answer = answer(&req, body, messages);
    let completion_tokens = match &answer {
        Answer::Text { content, .. } => count_words(content),
        Answer::Tool { name, arguments } => count_words(name) + count_words(arguments),
    };
    let usage = usage(prompt_tokens, completion_tokens);
    let cx = Cx {
        id: format!("chatcmpl-mock-{n}"),
        created: wire::now(),
        model,
    };
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        Reply::Sse(stream(&cx, &answer, usage, include_usage(&req)))
    } else {
        Reply::ok(&complete(&cx, &answer, usage))
    }
}

/// Fields repeated on every object of one answer.
struct Cx {
    id: String,
    created: u64,
    model: String,
}

fn answer(req: &Value, body: &[u8], messages: &[Value]) -> Answer {
    if let Some((name, arguments)) = tool_call(req, body) {
        return Answer::Tool { name, arguments };
    }
    let format = req.pointer("/response_format/type").and_then(Value::as_str);
    if let Some(kind @ ("json_object" | "json_schema")) = format {
        let schema = req.pointer("/response_format/json_schema/schema");
        let content = match (kind, schema) {
            ("json_schema", Some(s)) => json_for_schema(s),
            _ => json!({"answer": "echo"}),
        };
        return Answer::Text {
            content: content.to_string(),
            finish: "stop",
        };
    }
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(wire::content_text)
        .unwrap_or_default();
    let content = format!("echo: {last_user}");
    match max_tokens(req) {
        Some(max) if word_pieces(&content).len() > max => Answer::Text {
            content: wire::truncate_words(&content, max).to_owned(),
            finish: "length",
        },
        _ => Answer::Text {
            content,
            finish: "stop",
        },
    }
}

/// `usage` with OpenAI's detail objects.
pub(crate) fn usage(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

fn complete(cx: &Cx, answer: &Answer, usage: Value) -> Value {
    let (message, finish) = match answer {
        Answer::Text { content, finish } => (
            json!({
                "role": "assistant",
                "content": content,
                "refusal": null,
                "annotations": []
            }),
            *finish,
        ),
        Answer::Tool { name, arguments } => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": "call_mock_1",
                    "type": "function",
                    "function": { "name": name, "arguments": arguments }
                }],
                "refusal": null,
                "annotations": []
            }),
            "tool_calls",
        ),
    };
    json!({
        "id": cx.id,
        "object": "chat.completion",
        "created": cx.created,
        "model": cx.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish
        }],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_mock"
    })
}

fn stream(cx: &Cx, answer: &Answer, usage: Value, with_usage: bool) -> Vec<Bytes> {
    let chunk = |choices: Value| {
        let mut c = json!({
            "id": cx.id,
            "object": "chat.completion.chunk",
            "created": cx.created,
            "model": cx.model,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
            "choices": choices,
        });
        if with_usage {
            if let Some(obj) = c.as_object_mut() {
                obj.insert("usage".to_owned(), Value::Null);
            }
        }
        sse_event(&c)
    };
    let choice = |delta: Value, finish: Option<&str>| json!([{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]);
    let mut out = Vec::new();
    let finish = match answer {
        Answer::Text { content, finish } => {
            out.push(chunk(choice(
                json!({"role": "assistant", "content": "", "refusal": null}),
                None,
            )));
            for piece in word_pieces(content) {
                out.push(chunk(choice(json!({ "content": piece }), None)));
            }
            *finish
        }
        Answer::Tool { name, arguments } => {
            out.push(chunk(choice(
                json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "index": 0,
                        "id": "call_mock_1",
                        "type": "function",
                        "function": { "name": name, "arguments": "" }
                    }],
                    "refusal": null
                }),
                None,
            )));
            for piece in split_even(arguments, 3) {
                out.push(chunk(choice(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                    None,
                )));
            }
            "tool_calls"
        }
    };
    out.push(chunk(choice(json!({}), Some(finish))));
    if with_usage {
        let mut last = json!({
            "id": cx.id,
            "object": "chat.completion.chunk",
            "created": cx.created,
            "model": cx.model,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
            "choices": [],
        });
        if let Some(obj) = last.as_object_mut() {
            obj.insert("usage".to_owned(), usage);
        }
        out.push(sse_event(&last));
    }
    out.push(sse_done());
    out
}

/// The tool to call, if the request has tools and `tool_choice` allows it:
/// `(name, arguments)`.
fn tool_call(req: &Value, body: &[u8]) -> Option<(String, String)> {
    let tools = req.get("tools")?.as_array()?;
    if tools.is_empty() {
        return None;
    }
    let forced = match req.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => return None,
        Some(c) => c.pointer("/function/name").and_then(Value::as_str),
        None => None,
    };
    // Parse the tools again with a typed pass that keeps the order of
    // `properties` (a `Value` map is sorted).
    let defs = serde_json::from_slice::<ToolsOnly>(body).ok()?.tools;
    let def = defs
        .into_iter()
        .filter_map(|t| t.function)
        .find(|f| forced.is_none_or(|n| n == f.name))?;
    let arguments = match def.parameters.and_then(|p| p.properties).and_then(|k| k.0) {
        Some(first) => {
            let mut m = Map::new();
            m.insert(first, Value::String("Paris".to_owned()));
            Value::Object(m).to_string()
        }
        None => "{}".to_owned(),
    };
    Some((def.name, arguments))
}

#[derive(Deserialize)]
struct ToolsOnly {
    #[serde(default)]
    tools: Vec<ToolDef>,
}

#[derive(Deserialize)]
struct ToolDef {
    #[serde(default)]
    function: Option<FnDef>,
}

#[derive(Deserialize)]
struct FnDef {
    name: String,
    #[serde(default)]
    parameters: Option<Params>,
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    properties: Option<FirstKey>,
}

/// The first key of a JSON object, in document order.
struct FirstKey(Option<String>);

impl<'de> Deserialize<'de> for FirstKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FirstKey;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FirstKey, A::Error> {
                let first = map.next_key::<String>()?;
                if first.is_some() {
                    map.next_value::<IgnoredAny>()?;
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                }
                Ok(FirstKey(first))
            }
        }
        d.deserialize_map(V)
    }
}

/// An object that satisfies a JSON schema's required properties.
fn json_for_schema(schema: &Value) -> Value {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return json!({"answer": "echo"});
    };
    if props.is_empty() {
        return json!({"answer": "echo"});
    }
    let names: Vec<&str> = match schema.get("required").and_then(Value::as_array) {
        Some(req) => req.iter().filter_map(Value::as_str).collect(),
        None => props.keys().map(String::as_str).collect(),
    };
    let mut out = Map::new();
    for name in names {
        let ty = props.get(name).and_then(|p| p.get("type"));
        let ty = match ty {
            Some(Value::String(s)) => s.as_str(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ => "string",
        };
        let v = match ty {
            "number" | "integer" => json!(1),
            "boolean" => json!(true),
            "array" => json!([]),
            "object" => json!({}),
            "null" => Value::Null,
            _ => json!("x"),
        };
        out.insert(name.to_owned(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn json_reply(r: Reply) -> Value {
        match r {
            Reply::Json { body, .. } => serde_json::from_slice(&body).unwrap(),
            Reply::Sse(_) => panic!("expected JSON"),
        }
    }

    fn events(r: Reply) -> Vec<String> {
        match r {
            Reply::Sse(f) => f
                .iter()
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .collect(),
            Reply::Json { .. } => panic!("expected SSE"),
        }
    }

    #[test]
    fn tool_call_uses_first_property_in_document_order() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"get_weather",
              "parameters":{"type":"object","properties":{"zcity":{"type":"string"},"a":{"type":"string"}}}}}]}"#;
        let v = json_reply(reply(body, 1, None));
        let msg = &v["choices"][0]["message"];
        assert!(msg["content"].is_null());
        assert_eq!(msg["tool_calls"][0]["function"]["name"], "get_weather");
        assert_eq!(
            msg["tool_calls"][0]["function"]["arguments"],
            r#"{"zcity":"Paris"}"#
        );
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn tool_choice_none_and_forced() {
        let tools = r#"[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b","parameters":{"properties":{"q":{}}}}}]"#;
        let none = format!(
            r#"{{"model":"m","messages":[{{"role":"user","content":"hi"}}],"tools":{tools},"tool_choice":"none"}}"#
        );
        let v = json_reply(reply(none.as_bytes(), 1, None));
        assert_eq!(v["choices"][0]["message"]["content"], "echo: hi");
        let forced = format!(
            r#"{{"model":"m","messages":[],"tools":{tools},"tool_choice":{{"type":"function","function":{{"name":"b"}}}}}}"#
        );
        let v = json_reply(reply(forced.as_bytes(), 1, None));
        let call = &v["choices"][0]["message"]["tool_calls"][0]["function"];
        assert_eq!(call["name"], "b");
        assert_eq!(call["arguments"], r#"{"q":"Paris"}"#);
    }

    #[test]
    fn json_schema_fills_required() {
        let body = br#"{"model":"m","messages":[],"response_format":{"type":"json_schema",
            "json_schema":{"name":"x","schema":{"type":"object","properties":{
              "s":{"type":"string"},"n":{"type":"integer"},"b":{"type":"boolean"},"o":{"type":"string"}},
              "required":["s","n","b"]}}}}"#;
        let v = json_reply(reply(body, 1, None));
        let content: Value =
            serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
        assert_eq!(content, json!({"s": "x", "n": 1, "b": true}));
        let body = br#"{"model":"m","messages":[],"response_format":{"type":"json_object"}}"#;
        let v = json_reply(reply(body, 1, None));
        assert_eq!(
            v["choices"][0]["message"]["content"],
            r#"{"answer":"echo"}"#
        );
    }

    #[test]
    fn max_tokens_truncates_with_length() {
        let body =
            br#"{"model":"m","max_tokens":2,"messages":[{"role":"user","content":"a b c"}]}"#;
        let v = json_reply(reply(body, 1, None));
        assert_eq!(v["choices"][0]["message"]["content"], "echo: a");
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        assert_eq!(v["usage"]["completion_tokens"], 2);
    }

    #[test]
    fn tool_stream_pieces() {
        let body = br#"{"model":"m","stream":true,"messages":[],
            "tools":[{"type":"function","function":{"name":"w","parameters":{"properties":{"city":{}}}}}]}"#;
        let ev = events(reply(body, 3, None));
        assert_eq!(ev.last().unwrap(), "data: [DONE]\n\n");
        let chunks: Vec<Value> = ev[..ev.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap().trim()).unwrap())
            .collect();
        let first = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(first["id"], "call_mock_1");
        assert_eq!(first["function"]["arguments"], "");
        let args: String = chunks[1..chunks.len() - 1]
            .iter()
            .map(|c| {
                let tc = &c["choices"][0]["delta"]["tool_calls"][0];
                assert_eq!(tc["index"], 0);
                assert!(tc.get("id").is_none());
                tc["function"]["arguments"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(args, r#"{"city":"Paris"}"#);
        assert!((2..=3).contains(&(chunks.len() - 2)));
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
        assert!(chunks.iter().all(|c| c["id"] == "chatcmpl-mock-3"));
        assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    }

    #[test]
    fn errors_are_openai_shaped() {
        for body in [&b"nope"[..], br#"{"messages":[]}"#, br#"{"model":"m"}"#] {
            let Reply::Json { status, body } = reply(body, 1, None) else {
                panic!("expected JSON");
            };
            assert_eq!(status, 400);
            let v: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["type"], "invalid_request_error");
        }
    }

    #[test]
    fn azure_deployment_is_the_model() {
        let body = br#"{"messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"x"}}]}]}"#;
        let v = json_reply(reply(body, 1, Some("dep1")));
        assert_eq!(v["model"], "dep1");
        assert_eq!(v["choices"][0]["message"]["content"], "echo: hi");
    }
}
