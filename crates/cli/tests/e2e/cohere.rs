//! OpenAI clients talking to Cohere: the real binary translating to the Cohere Chat v2 mock,
//! which validates every request the way the API does (Bearer key, unknown fields, tool
//! results that answer earlier calls, ranges) and answers deterministically.

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{MockUpstream, cohere};

use crate::harness::{Sluice, error_of, ok_json, post_json, send, stream_chunks};

const CHAT: &str = "/v1/chat/completions";

/// A gateway with provider `co` (the mock), alias `command` → `command-a-03-2025` (with
/// `extra` appended to the model) and alias `embed` → `embed-v4.0`.
fn gateway(mock: &MockUpstream, extra: &str) -> Sluice {
    Sluice::start(&format!(
        r#"
providers:
  co: {{ kind: cohere, base_url: "{}", api_key: co-key }}
models:
  - name: command
    targets: [ {{ provider: co, model: command-a-03-2025 }} ]
{extra}
  - name: embed
    targets: [ {{ provider: co, model: embed-v4.0 }} ]
"#,
        mock.root_url()
    ))
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

fn time_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}})
}

#[tokio::test]
async fn a_chat_completion_is_translated_both_ways() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "command", "temperature": 0.3, "top_p": 0.8, "top_k": 20, "user": "u-7",
            "messages": [{"role": "developer", "content": "Be terse."},
                {"role": "user", "content": "hello there"}]}),
    )
    .await;
    let out = ok_json(&r);
    assert_eq!(out["object"], "chat.completion");
    assert!(
        out["id"]
            .as_str()
            .unwrap()
            .starts_with("00000000-0000-4000-8000-")
    );
    assert!(out["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(out["model"], "command-a-03-2025", "the target's model");
    assert_eq!(out["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    // usage.tokens (prompt template included), not billed_units.
    assert_eq!(out["usage"]["prompt_tokens"], 9);
    assert_eq!(out["usage"]["completion_tokens"], 3);
    assert_eq!(r.header("x-sluice-provider"), Some("co"));

    let seen = mock.last().unwrap();
    assert_eq!(seen.path, "/v2/chat");
    assert_eq!(seen.header("authorization"), Some("Bearer co-key"));
    assert_eq!(
        seen.json(),
        json!({"model": "command-a-03-2025", "temperature": 0.3, "p": 0.8, "k": 20,
            "messages": [{"role": "system", "content": "Be terse."},
                {"role": "user", "content": "hello there"}]})
    );
}

#[tokio::test]
async fn a_stream_has_a_role_chunk_first_and_the_usage_chunk_last() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let body = json!({"model": "command", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "stream me please"}]});
    let r = post_json(&gw.url(CHAT), &body).await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let chunks = stream_chunks(&r);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: stream me please");
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(chunks.iter().all(|c| c["id"] == id
        && c["model"] == "command-a-03-2025"
        && c["created"].as_u64() > Some(0)));
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 4);
    assert_eq!(last["usage"]["total_tokens"], 12);
    assert_eq!(mock.last_json()["stream"], true);
    assert_eq!(mock.last_json().get("stream_options"), None);

    // Without include_usage the usage chunk is not relayed.
    let body = json!({"model": "command", "stream": true,
        "messages": [{"role": "user", "content": "again"}]});
    let chunks = stream_chunks(&post_json(&gw.url(CHAT), &body).await);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn tool_calls_and_their_results_round_trip() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let question = json!({"role": "user", "content": "weather and time in Paris?"});
    let tools = json!([weather_tool(), time_tool()]);
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "command", "tools": tools, "messages": [question]}),
    )
    .await;
    let choice = ok_json(&r)["choices"][0].clone();
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(
        choice["message"]["reasoning_content"],
        "I will call get_weather and get_time."
    );
    let calls = choice["message"]["tool_calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 2, "parallel calls: {calls:?}");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));

    // The results go back as tool messages; the mock checks each answers an earlier call,
    // and the plan goes back as the turn's tool_plan.
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "command", "tools": tools, "messages": [
            question,
            choice["message"].clone(),
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "14C rain"},
            {"role": "tool", "tool_call_id": calls[1]["id"], "content": "16:05"}]}),
    )
    .await;
    assert_eq!(
        ok_json(&r)["choices"][0]["message"]["content"],
        "echo: 14C rain 16:05"
    );
    let sent = mock.last_json();
    assert_eq!(
        sent["messages"][1]["tool_plan"],
        "I will call get_weather and get_time."
    );
    assert_eq!(sent["messages"][2]["tool_call_id"], calls[0]["id"]);

    // A named function: REQUIRED, with only that tool offered.
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "command", "tools": tools, "messages": [question],
            "tool_choice": {"type": "function", "function": {"name": "get_time"}}}),
    )
    .await;
    let calls = &ok_json(&r)["choices"][0]["message"]["tool_calls"];
    assert_eq!(calls.as_array().map(Vec::len), Some(1), "{calls}");
    assert_eq!(calls[0]["function"]["name"], "get_time");
    assert_eq!(mock.last_json()["tool_choice"], "REQUIRED");

    // A result that answers no call is refused by the upstream, and the client sees why.
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "command", "tools": [weather_tool()], "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "nope", "content": "x"}]}),
    )
    .await;
    let e = error_of(&r, 400);
    assert!(
        e["message"].as_str().unwrap().contains("tool_call_id"),
        "{e}"
    );
}

#[tokio::test]
async fn streamed_tool_calls_keep_their_indices() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let body = json!({"model": "command", "stream": true, "tool_choice": "required",
        "tools": [weather_tool(), time_tool()],
        "messages": [{"role": "user", "content": "weather and time?"}]});
    let chunks = stream_chunks(&post_json(&gw.url(CHAT), &body).await);
    let mut args = [String::new(), String::new()];
    let mut names = [String::new(), String::new()];
    for c in &chunks {
        for tc in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = usize::try_from(tc["index"].as_u64().unwrap()).unwrap();
            names[i].push_str(tc["function"]["name"].as_str().unwrap_or_default());
            args[i].push_str(tc["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    assert_eq!(names, ["get_weather", "get_time"]);
    assert_eq!(args[0], r#"{"city":"Paris"}"#);
    assert_eq!(args[1], r#"{"tz":"Paris"}"#);
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );
    assert_eq!(mock.last_json()["tool_choice"], "REQUIRED");
}

#[tokio::test]
async fn json_schema_vision_and_reasoning() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let schema =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "command", "messages": [{"role": "user", "content": "a city as JSON"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}}}),
    )
    .await;
    let content = ok_json(&r)["choices"][0]["message"]["content"].clone();
    assert_eq!(content, r#"{"city":"Paris"}"#);
    assert_eq!(
        mock.last_json()["response_format"],
        json!({"type": "json_object", "json_schema": schema})
    );

    let url = "https://example.com/cat.png";
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "command", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]}]}),
    )
    .await;
    assert_eq!(
        ok_json(&r)["choices"][0]["message"]["content"],
        "echo: what is this"
    );
    assert_eq!(
        mock.last_json()["messages"][0]["content"][1],
        json!({"type": "image_url", "image_url": {"url": url, "detail": "low"}})
    );

    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "command", "reasoning_effort": "low",
            "messages": [{"role": "user", "content": "think"}]}),
    )
    .await;
    let message = ok_json(&r)["choices"][0]["message"].clone();
    assert_eq!(message["reasoning_content"], "The user said: think");
    assert_eq!(message["content"], "echo: think");
    assert_eq!(
        mock.last_json()["thinking"],
        json!({"type": "enabled", "token_budget": 1024})
    );
    // The thinking goes back with the next turn, as a thinking block.
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "command", "messages": [
            {"role": "user", "content": "think"}, message,
            {"role": "user", "content": "more"}]}),
    )
    .await;
    ok_json(&r);
    assert_eq!(
        mock.last_json()["messages"][1]["content"],
        json!([{"type": "thinking", "thinking": "The user said: think"},
            {"type": "text", "text": "echo: think"}])
    );
}

#[tokio::test]
async fn rate_limits_are_retryable_and_context_length_is_recognised() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "    retry: { max: 1, backoff: 10ms }");
    mock.push(cohere::rate_limited());
    let hi = json!({"model": "command", "messages": [{"role": "user", "content": "hi"}]});
    let r = post_json(&gw.url(CHAT), &hi).await;
    assert_eq!(ok_json(&r)["choices"][0]["message"]["content"], "echo: hi");
    assert_eq!(r.header("x-sluice-attempts"), Some("2"));

    let gw = gateway(&mock, "");
    mock.push(cohere::rate_limited());
    let e = error_of(&post_json(&gw.url(CHAT), &hi).await, 429);
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert!(e["message"].as_str().unwrap().contains("Trial key"), "{e}");

    mock.push(cohere::error(
        400,
        "too many tokens: size limit exceeded by 1200 tokens. Try using shorter or fewer inputs.",
    ));
    let e = error_of(&post_json(&gw.url(CHAT), &hi).await, 400);
    assert_eq!(e["code"], "context_length_exceeded");
    assert_eq!(e["type"], "invalid_request_error");
}

#[tokio::test]
async fn parameters_cohere_cannot_honour_are_refused_by_name() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    for (field, value) in [
        ("n", json!(2)),
        ("logit_bias", json!({"50256": -100})),
        ("parallel_tool_calls", json!(false)),
        ("top_logprobs", json!(2)),
    ] {
        let mut body = json!({"model": "command", "messages": [{"role": "user", "content": "hi"}]});
        body[field] = value;
        let e = error_of(&post_json(&gw.url(CHAT), &body).await, 400);
        assert_eq!(e["param"], field);
        assert_eq!(e["code"], "unsupported_parameter");
        assert!(e["message"].as_str().unwrap().contains("co (Cohere"), "{e}");
    }
    assert_eq!(mock.request_count(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn embeddings_use_the_compatibility_api_and_native_calls_pass_through() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": "embed", "input": ["a b", "c"], "encoding_format": "float"}),
    )
    .await;
    assert_eq!(ok_json(&r)["data"].as_array().unwrap().len(), 2);
    let seen = mock.last().unwrap();
    assert_eq!(seen.path, "/compatibility/v1/embeddings");
    assert_eq!(seen.header("authorization"), Some("Bearer co-key"));
    assert_eq!(seen.json()["model"], "embed-v4.0");

    // Cohere's own API at /co/…, with the provider's key in place of the client's.
    let body =
        r#"{"model": "command-a-03-2025", "messages": [{"role": "user", "content": "native"}]}"#;
    let r = send(
        Method::POST,
        &gw.url("/co/v2/chat"),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer client-key"),
        ],
        body,
    )
    .await;
    let out = ok_json(&r);
    assert_eq!(out["message"]["content"][0]["text"], "echo: native");
    let seen = mock.last().unwrap();
    assert_eq!(seen.path, "/v2/chat");
    assert_eq!(seen.header("authorization"), Some("Bearer co-key"));
    assert_eq!(&seen.body[..], body.as_bytes());
}
