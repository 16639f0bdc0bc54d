//! OpenAI clients talking to Gemini: the real binary translating to the Gemini mock, which
//! validates every request the way the Gemini API does (field names, roles, schemas, thought
//! signatures) and answers deterministically.

use serde_json::{Value, json};
use sluice_testkit::{MockUpstream, gemini};

use crate::harness::{Sluice, error_of, ok_json, post_json, stream_chunks};

const CHAT: &str = "/v1/chat/completions";
const GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse";

/// A gateway with provider `gem` (the mock), alias `flash` → `gemini-2.5-flash` and alias
/// `embed` → `gemini-embedding-001`.
fn gateway(mock: &MockUpstream) -> Sluice {
    Sluice::start(&format!(
        r#"
providers:
  gem: {{ kind: gemini, base_url: "{}", api_key: k }}
models:
  - name: flash
    targets: [ {{ provider: gem, model: gemini-2.5-flash }} ]
  - name: embed
    targets: [ {{ provider: gem, model: gemini-embedding-001 }} ]
"#,
        mock.root_url()
    ))
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "strict": true,
        "parameters": {"type": "object", "additionalProperties": false,
            "properties": {"city": {"type": "string"}, "unit": {"type": ["string", "null"]}},
            "required": ["city", "unit"]}}})
}

fn time_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}})
}

#[tokio::test]
async fn a_chat_completion_is_translated_both_ways() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "temperature": 0.2, "max_tokens": 50, "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello there"}]}),
    )
    .await;
    let out = ok_json(&r);
    assert_eq!(out["object"], "chat.completion");
    assert!(out["id"].as_str().unwrap().starts_with("mock-resp-"));
    assert!(out["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(out["model"], "gemini-2.5-flash");
    assert_eq!(out["choices"][0]["message"]["role"], "assistant");
    assert_eq!(out["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert_eq!(out["usage"]["prompt_tokens"], 4);
    assert_eq!(out["usage"]["completion_tokens"], 3);
    assert_eq!(r.header("x-sluice-provider"), Some("gem"));

    let seen = mock.last().unwrap();
    assert_eq!(seen.path, GENERATE);
    assert_eq!(seen.header("x-goog-api-key"), Some("k"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(
        seen.json(),
        json!({
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
            "generationConfig": {"temperature": 0.2, "maxOutputTokens": 50}
        })
    );
}

#[tokio::test]
async fn a_stream_starts_with_the_role_and_ends_with_usage_when_asked() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let body = json!({"model": "flash", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "one two three"}]});
    let chunks = stream_chunks(&post_json(&gw.url(CHAT), &body).await);
    assert_eq!(mock.last().unwrap().path, STREAM);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["created"].as_u64() > Some(0))
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: one two three");
    let n = chunks.len();
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[n - 1]["choices"], json!([]));
    assert_eq!(chunks[n - 1]["usage"]["prompt_tokens"], 3);
    assert_eq!(chunks[n - 1]["usage"]["completion_tokens"], 4);

    // Without `include_usage` the usage chunk is not relayed.
    let mut body = body;
    body.as_object_mut().unwrap().remove("stream_options");
    let chunks = stream_chunks(&post_json(&gw.url(CHAT), &body).await);
    assert!(
        chunks
            .iter()
            .all(|c| c.get("usage").is_none_or(Value::is_null))
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn tools_become_function_declarations_and_calls_come_back() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "tools": [weather_tool(), time_tool()], "tool_choice": "auto",
            "messages": [{"role": "user", "content": "weather in Paris?"}]}),
    )
    .await;
    let out = ok_json(&r);
    let choice = &out["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "call_0", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    // The mock, like the API, rejects keywords the `Schema` subset lacks (such as
    // `additionalProperties`): what it received is the cleaned declaration.
    let sent = mock.last_json();
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["parameters"],
        json!({"type": "OBJECT", "properties": {"city": {"type": "STRING"},
            "unit": {"type": "STRING", "nullable": true}}, "required": ["city", "unit"]})
    );
    assert_eq!(
        sent["toolConfig"],
        json!({"functionCallingConfig": {"mode": "AUTO"}})
    );

    // A named tool choice forces that function; "parallel" makes the mock call every tool.
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "tools": [weather_tool(), time_tool()],
            "tool_choice": {"type": "function", "function": {"name": "get_time"}},
            "messages": [{"role": "user", "content": "what time is it?"}]}),
    )
    .await;
    let calls = ok_json(&r)["choices"][0]["message"]["tool_calls"].clone();
    assert_eq!(calls[0]["function"]["name"], "get_time");
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "tools": [weather_tool(), time_tool()], "tool_choice": "required",
            "messages": [{"role": "user", "content": "parallel: weather and time"}]}),
    )
    .await;
    let calls = ok_json(&r)["choices"][0]["message"]["tool_calls"].clone();
    assert_eq!(calls.as_array().unwrap().len(), 2);
    assert_eq!(calls[1]["id"], "call_1");
}

#[tokio::test]
async fn streamed_tool_calls_arrive_whole_with_indices() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let chunks = stream_chunks(
        &post_json(
            &gw.url(CHAT),
            &json!({"model": "flash", "stream": true, "tools": [weather_tool(), time_tool()],
                "messages": [{"role": "user", "content": "parallel please"}]}),
        )
        .await,
    );
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    assert_eq!(calls.len(), 2, "{chunks:#?}");
    for (i, call) in calls.iter().enumerate() {
        assert_eq!(call["index"], i);
        assert_eq!(call["id"], format!("call_{i}"));
        assert_eq!(call["type"], "function");
    }
    assert_eq!(calls[0]["function"]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn tool_results_go_back_as_function_responses() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "tools": [weather_tool(), time_tool()], "messages": [
            {"role": "user", "content": "weather and time?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"CET\"}"}}]},
            {"role": "tool", "tool_call_id": "call_0", "content": "{\"temp\":21}"},
            {"role": "tool", "tool_call_id": "call_1", "content": "noon"}]}),
    )
    .await;
    let out = ok_json(&r);
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "tool said: {\"temp\":21} {\"content\":\"noon\"}"
    );
    let sent = mock.last_json();
    assert_eq!(
        sent["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}}]})
    );
}

#[tokio::test]
async fn json_schema_uses_native_structured_output() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let schema = json!({"type": "object", "additionalProperties": false,
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]});
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "messages": [{"role": "user", "content": "Ada is 36"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "p", "strict": true, "schema": schema}}}),
    )
    .await;
    let out = ok_json(&r);
    let content: Value =
        serde_json::from_str(out["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"name": "x", "age": 1}));
    let sent = mock.last_json();
    assert_eq!(
        sent["generationConfig"],
        json!({"responseMimeType": "application/json", "responseJsonSchema": schema})
    );
}

#[tokio::test]
async fn reasoning_comes_back_and_signatures_survive_the_next_turn() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let question = json!({"role": "user", "content": "weather in Paris?"});
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "reasoning_effort": "low", "tools": [weather_tool()],
            "messages": [question]}),
    )
    .await;
    let out = ok_json(&r);
    assert_eq!(
        mock.last_json()["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
    let message = out["choices"][0]["message"].clone();
    assert_eq!(
        message["reasoning_content"],
        "Thinking about: weather in Paris?"
    );
    let blocks = message["thinking_blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0]["type"], "thinking");
    let signature = blocks[0]["signature"].as_str().unwrap().to_owned();
    assert!(out["usage"]["completion_tokens_details"]["reasoning_tokens"].as_u64() > Some(0));

    // The assistant message sent back as received: the signature rides on the call again.
    let result = json!({"role": "tool", "tool_call_id": "call_0", "content": "{\"temp\":21}"});
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "reasoning_effort": "low", "tools": [weather_tool()],
            "messages": [question, message, result]}),
    )
    .await;
    let out = ok_json(&r);
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "tool said: {\"temp\":21}"
    );
    let model_turn = &mock.last_json()["contents"][1];
    assert_eq!(model_turn["role"], "model");
    assert_eq!(model_turn["parts"][0]["thoughtSignature"], signature);

    // Dropping the thinking blocks loses the signature, which the API refuses.
    let mut bare = message.clone();
    bare.as_object_mut().unwrap().remove("thinking_blocks");
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "reasoning_effort": "low", "tools": [weather_tool()],
            "messages": [question, bare, result]}),
    )
    .await;
    let e = error_of(&r, 400);
    assert!(
        e["message"].as_str().unwrap().contains("thought_signature"),
        "{e}"
    );
}

#[tokio::test]
async fn logprobs_are_asked_for_and_mapped_back() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "logprobs": true, "top_logprobs": 2,
            "messages": [{"role": "user", "content": "hi you"}]}),
    )
    .await;
    let out = ok_json(&r);
    assert_eq!(
        mock.last_json()["generationConfig"],
        json!({"responseLogprobs": true, "logprobs": 2})
    );
    let content = out["choices"][0]["logprobs"]["content"].as_array().unwrap();
    let tokens: String = content
        .iter()
        .map(|t| t["token"].as_str().unwrap())
        .collect();
    assert_eq!(
        tokens,
        out["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(content[0]["logprob"], -0.25);
    assert_eq!(content[0]["top_logprobs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn upstream_resource_exhausted_is_a_429() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    mock.push(gemini::rate_limited());
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let e = error_of(&r, 429);
    assert!(e["message"].as_str().unwrap().contains("quota"), "{e}");
    assert_eq!(e["code"], "RESOURCE_EXHAUSTED");
}

#[tokio::test]
async fn context_length_errors_are_recognised() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    mock.push(gemini::error(
        400,
        "INVALID_ARGUMENT",
        "The input token count (1250000) exceeds the maximum number of tokens allowed (1048576).",
    ));
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "flash", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let e = error_of(&r, 400);
    assert_eq!(e["code"], "context_length_exceeded");
    assert_eq!(e["type"], "invalid_request_error");
}

#[tokio::test]
async fn parameters_gemini_cannot_honour_are_refused_by_name() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    for (field, value) in [
        ("logit_bias", json!({"50256": -100})),
        ("parallel_tool_calls", json!(false)),
        ("audio", json!({"voice": "alloy", "format": "wav"})),
    ] {
        let mut body = json!({"model": "flash", "messages": [{"role": "user", "content": "hi"}]});
        body[field] = value;
        let e = error_of(&post_json(&gw.url(CHAT), &body).await, 400);
        assert_eq!(e["param"], field);
        assert!(
            e["message"].as_str().unwrap().contains("gem (gemini)"),
            "{e}"
        );
    }
    assert_eq!(mock.request_count(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn embeddings_are_translated_to_embed_content_and_batches() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock);
    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": "embed", "input": "one text", "dimensions": 16}),
    )
    .await;
    let out = ok_json(&r);
    assert_eq!(out["object"], "list");
    assert_eq!(out["model"], "gemini-embedding-001");
    assert_eq!(out["data"][0]["object"], "embedding");
    let vector: Vec<f32> = out["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(
        vector,
        sluice_testkit::embed("one text", 16),
        "Gemini's vector"
    );
    assert!(
        out["usage"]["prompt_tokens"].as_u64() > Some(0),
        "estimated: Gemini reports no counts"
    );
    assert_eq!(r.header("x-sluice-provider"), Some("gem"));
    let seen = mock.last().unwrap();
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-embedding-001:embedContent"
    );
    assert_eq!(seen.header("x-goog-api-key"), Some("k"));
    assert_eq!(
        seen.json(),
        json!({"content": {"parts": [{"text": "one text"}]}, "outputDimensionality": 16})
    );

    // A list is one batch call; base64 carries the little-endian f32s.
    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": "embed", "input": ["a b", "c", "d e f"], "encoding_format": "base64"}),
    )
    .await;
    let out = ok_json(&r);
    let data = out["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    // 768 four-byte floats in base64.
    assert_eq!(data[2]["embedding"].as_str().unwrap().len(), 4096);
    assert_eq!(data[2]["index"], 2);
    let seen = mock.last().unwrap();
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(seen.json()["requests"].as_array().unwrap().len(), 3);
    assert_eq!(mock.request_count(), 2);

    // Token arrays cannot be translated.
    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": "embed", "input": [[1, 2, 3]]}),
    )
    .await;
    let e = error_of(&r, 400);
    assert_eq!(e["param"], "input");
    assert_eq!(mock.request_count(), 2, "refused before any call");
}
