//! The Anthropic Messages API inbound (`/v1/messages`, `/v1/messages/count_tokens`), routed
//! to an OpenAI upstream: answers, Anthropic's exact stream sequence, tool use across turns,
//! the system prompt, Anthropic-shaped errors and token counts.

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::MockUpstream;

use crate::harness::{Resp, Sluice, mock_config, post_json, send};

const MESSAGES: &str = "/v1/messages";
const COUNT_TOKENS: &str = "/v1/messages/count_tokens";

const WEATHER_TOOL: &str = r#"{"name": "get_weather", "description": "Current weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}"#;

fn weather_tool() -> Value {
    serde_json::from_str(WEATHER_TOOL).unwrap()
}

/// POSTs an Anthropic-style request (with `anthropic-version`, as the SDKs send it), plus
/// the `extra` headers.
async fn post_messages_with(gw: &Sluice, path: &str, extra: &[(&str, &str)], body: &Value) -> Resp {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
    ];
    headers.extend_from_slice(extra);
    send(Method::POST, &gw.url(path), &headers, body.to_string()).await
}

/// POSTs an Anthropic-style request to `path`.
async fn post_messages(gw: &Sluice, path: &str, body: &Value) -> Resp {
    post_messages_with(gw, path, &[], body).await
}

/// A gateway in front of a fresh OpenAI mock, with the alias `fast` → `gpt-4o-mini`.
async fn gateway() -> (MockUpstream, Sluice) {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    (mock, gw)
}

/// POSTs `body` to `/v1/messages`.
async fn ask(gw: &Sluice, body: Value) -> Resp {
    post_messages(gw, MESSAGES, &body).await
}

/// `(event name, data)` of every event of an Anthropic SSE body.
fn anthropic_events(body: &[u8]) -> Vec<(String, Value)> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("no event line in {e:?}"));
            let data = e
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or_else(|| panic!("no data line in {e:?}"));
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"], name, "event name and type agree");
            (name.to_owned(), data)
        })
        .collect()
}

#[tokio::test]
async fn a_text_answer_is_an_anthropic_message() {
    let (mock, gw) = gateway().await;
    let r = ask(&gw, json!({"model": "fast", "max_tokens": 100, "messages": [{"role": "user", "content": "hello there"}]})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-sluice-provider"), Some("mock"));
    assert_eq!(r.header("x-sluice-model"), Some("gpt-4o-mini"));
    assert_eq!(r.header("x-sluice-attempts"), Some("1"));
    assert!(r.header("x-request-id").is_some());
    let m = r.json();
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["model"], "gpt-4o-mini");
    assert!(m["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": "echo: hello there"}])
    );
    assert_eq!(m["stop_reason"], "end_turn");
    assert!(m["stop_sequence"].is_null());
    assert_eq!(
        m["usage"],
        json!({"input_tokens": 2, "output_tokens": 3, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0})
    );
    // The upstream got an OpenAI chat request.
    let seen = mock.last().unwrap();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(
        seen.json(),
        json!({"model": "gpt-4o-mini", "max_tokens": 100, "messages": [{"role": "user", "content": "hello there"}]})
    );
}

#[tokio::test]
async fn a_stream_has_anthropics_exact_event_sequence() {
    let (mock, gw) = gateway().await;
    let r = ask(
        &gw,
        json!({"model": "fast", "max_tokens": 100, "stream": true,
                "messages": [{"role": "user", "content": "stream me please"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("x-sluice-provider"), Some("mock"));
    let events = anthropic_events(&r.body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let deltas = names
        .iter()
        .filter(|n| **n == "content_block_delta")
        .count();
    assert!(deltas >= 2, "{names:?}");
    let mut expected = vec!["message_start", "content_block_start"];
    expected.extend(std::iter::repeat_n("content_block_delta", deltas));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    let start = &events[0].1["message"];
    assert_eq!(start["content"], json!([]));
    assert!(start["stop_reason"].is_null());
    assert_eq!(start["model"], "gpt-4o-mini");
    let text: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "echo: stream me please");
    let delta = &events[events.len() - 2].1;
    assert_eq!(
        delta["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert_eq!(delta["usage"]["output_tokens"], 4);
    assert_eq!(delta["usage"]["input_tokens"], 3);
    // The gateway asked the upstream for usage.
    assert_eq!(
        mock.last_json()["stream_options"],
        json!({"include_usage": true})
    );
}

#[tokio::test]
async fn tool_use_round_trip_with_a_tool_result_turn() {
    let (mock, gw) = gateway().await;
    let question = json!({"role": "user", "content": "weather in Paris?"});
    let r = ask(
        &gw,
        json!({"model": "fast", "max_tokens": 100, "tools": [weather_tool()],
                "tool_choice": {"type": "auto"}, "messages": [question]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let m = r.json();
    assert_eq!(m["stop_reason"], "tool_use");
    let call = &m["content"][0];
    assert_eq!(call["type"], "tool_use");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"city": "Paris"}));
    let upstream = mock.last_json();
    assert_eq!(
        upstream["tools"],
        json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
    );
    assert_eq!(upstream["tool_choice"], "auto");

    // The follow-up turn: the assistant's tool_use and the user's tool_result.
    let r = ask(&gw, json!({"model": "fast", "max_tokens": 100, "tools": [weather_tool()],
                "tool_choice": {"type": "none"},
                "messages": [question, {"role": "assistant", "content": m["content"]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "sunny"}]}]})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["stop_reason"], "end_turn");
    let upstream = mock.last_json();
    assert_eq!(
        upstream["messages"],
        json!([
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "tool_calls": [{"id": call["id"], "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}
        ])
    );
    assert_eq!(upstream["tool_choice"], "none");

    // Streamed: one tool_use block whose input arrives as input_json_delta fragments.
    let r = ask(
        &gw,
        json!({"model": "fast", "max_tokens": 100, "stream": true, "tools": [weather_tool()],
                "messages": [{"role": "user", "content": "weather?"}]}),
    )
    .await;
    let events = anthropic_events(&r.body);
    let start = events
        .iter()
        .find(|(n, _)| n == "content_block_start")
        .unwrap();
    assert_eq!(start.1["content_block"]["type"], "tool_use");
    assert_eq!(start.1["content_block"]["input"], json!({}));
    let args: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "Paris"})
    );
    let stop = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(stop.1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn the_system_prompt_reaches_the_upstream_as_a_system_message() {
    let (mock, gw) = gateway().await;
    let r = ask(
        &gw,
        json!({"model": "fast", "max_tokens": 10, "system": "You are terse.",
                "temperature": 0.2, "stop_sequences": ["STOP"], "metadata": {"user_id": "u-7"},
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        mock.last_json(),
        json!({"model": "gpt-4o-mini", "max_tokens": 10, "temperature": 0.2, "stop": ["STOP"], "user": "u-7",
               "messages": [{"role": "system", "content": "You are terse."},
                            {"role": "user", "content": [{"type": "text", "text": "hi"}]}]})
    );
}

#[tokio::test]
async fn errors_use_anthropics_shape() {
    let (mock, gw) = gateway().await;
    let r = ask(&gw, json!({"model": "no-such-model", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]})).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let e = r.json();
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "not_found_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-model")
    );

    // Invalid input: 400 naming the field.
    let r = ask(
        &gw,
        json!({"model": "fast", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let e = r.json();
    assert_eq!(e["error"]["type"], "invalid_request_error");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens"),
        "{e}"
    );
    let r = ask(&gw, json!({"model": "fast", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}]})).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("messages[0].content[0].type")
    );

    // Errors raised before the handler: a bad header and a wrong method.
    let r = post_messages_with(&gw, MESSAGES, &[("x-sluice-timeout", "soon")], &json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    let r = send(Method::GET, &gw.url(MESSAGES), &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["type"], "error");

    // An upstream failure keeps its status.
    mock.push(sluice_testkit::Behavior::openai_error(
        400,
        "bad thing upstream",
        "invalid_request_error",
        None,
    ));
    let r = ask(
        &gw,
        json!({"model": "fast", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad thing upstream"}})
    );

    // The OpenAI routes keep OpenAI's shape.
    let r = post_json(
        &gw.url("/v1/chat/completions"),
        &json!({"model": "no-such-model", "messages": []}),
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "model_not_found");
}

/// POSTs `body` to `/v1/messages` with the admin key in Anthropic's `x-api-key` header.
async fn with_key(gw: &Sluice, body: &Value) -> Resp {
    post_messages_with(gw, MESSAGES, &[("x-api-key", "sk-admin-test")], body).await
}

#[tokio::test]
async fn a_missing_key_and_a_large_body_are_anthropic_errors() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        "server: {{ admin_key: \"sk-admin-test\", max_body: 1KiB }}\n{}",
        mock_config(&mock.base_url())
    ));
    let body =
        json!({"model": "fast", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    for path in [MESSAGES, COUNT_TOKENS] {
        let r = post_messages(&gw, path, &body).await;
        assert_eq!(r.status, 401, "{}", r.text());
        let e = r.json();
        assert_eq!(e["type"], "error");
        assert_eq!(e["error"]["type"], "authentication_error");
        assert!(e["error"]["message"].is_string());
    }
    // Anthropic's own header carries the key.
    let r = with_key(&gw, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(mock.request_count(), 1);
    // A body over `max_body` is a 413 in Anthropic's shape.
    let big = json!({"model": "fast", "max_tokens": 10,
        "messages": [{"role": "user", "content": "x".repeat(2048)}]});
    let r = with_key(&gw, &big).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "request_too_large");
}

#[tokio::test]
async fn count_tokens_estimates_the_prompt() {
    let (mock, gw) = gateway().await;
    let r = post_messages(
        &gw,
        COUNT_TOKENS,
        &json!({"model": "fast", "system": "Be brief.", "messages": [{"role": "user", "content": "hello there, friend"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // 9 + 19 characters → 7 tokens, plus 4 per message.
    assert_eq!(r.json(), json!({"input_tokens": 15}));
    assert_eq!(mock.request_count(), 0, "counting calls no upstream");
    let body = json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]});
    let r = post_messages(&gw, COUNT_TOKENS, &body).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn a_stream_that_fails_after_it_began_ends_with_an_error_event() {
    let (mock, gw) = gateway().await;
    mock.push(sluice_testkit::Behavior::ResetMidStream { after_chunks: 3 });
    let r = ask(
        &gw,
        json!({"model": "fast", "max_tokens": 100, "stream": true,
                "messages": [{"role": "user", "content": "one two three four five"}]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let events = anthropic_events(&r.body);
    assert_eq!(events[0].0, "message_start");
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{events:?}");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(!events.iter().any(|(n, _)| n == "message_stop"));
}
