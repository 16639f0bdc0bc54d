//! OpenAI clients talking to Claude: the real binary translating to the Anthropic mock, which
//! validates every request the way the Messages API does.

use serde_json::{Value, json};
use sluice_testkit::{MockUpstream, anthropic};

use crate::harness::{Sluice, error_of, post_json, stream_chunks};

const CHAT: &str = "/v1/chat/completions";

/// A gateway with provider `claude` (the mock) and alias `smart` → `claude-sonnet-4-5`.
fn gateway(mock: &MockUpstream, extra: &str) -> Sluice {
    Sluice::start(&format!(
        r#"
providers:
  claude: {{ kind: anthropic, base_url: "{}", api_key: k }}
models:
  - name: smart
    targets: [ {{ provider: claude, model: claude-sonnet-4-5 }} ]
{extra}
"#,
        mock.root_url()
    ))
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}})
}

fn time_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_time",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}}})
}

#[tokio::test]
async fn a_chat_completion_is_translated_both_ways() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "temperature": 0.3, "user": "u-7", "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "hello there"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["object"], "chat.completion");
    assert!(out["id"].as_str().unwrap().starts_with("msg_mock_"));
    assert!(out["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(out["model"], "claude-sonnet-4-5");
    assert_eq!(out["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert_eq!(out["usage"]["prompt_tokens"], 4);
    assert_eq!(out["usage"]["completion_tokens"], 3);
    assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 0);

    let seen = mock.last().unwrap();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some("k"));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(
        seen.json(),
        json!({"model": "claude-sonnet-4-5", "max_tokens": 64000, "system": "Be terse.",
            "temperature": 0.3, "metadata": {"user_id": "u-7"},
            "messages": [{"role": "user", "content": "hello there"}]})
    );
    assert_eq!(r.header("x-sluice-provider"), Some("claude"));
}

#[tokio::test]
async fn a_stream_has_a_role_chunk_first_and_the_usage_chunk_last() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let body = json!({"model": "smart", "stream": true, "stream_options": {"include_usage": true},
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
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["created"].as_u64() > Some(0))
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 4);
    assert_eq!(last["usage"]["total_tokens"], 7);
    assert_eq!(mock.last_json()["stream"], true);

    // Without include_usage the usage chunk is not relayed.
    let body = json!({"model": "smart", "stream": true,
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
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "tools": [weather_tool(), time_tool()], "messages": [question]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let choice = &r.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let calls = choice["message"]["tool_calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 2, "parallel calls: {calls:?}");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"location": "Paris"}));

    // The results go back as tool messages; the mock checks each answers a tool_use.
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "tools": [weather_tool(), time_tool()], "messages": [
            question,
            choice["message"].clone(),
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "14C rain"},
            {"role": "tool", "tool_call_id": calls[1]["id"], "content": "16:05"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "echo: 14C rain 16:05"
    );
    let sent = mock.last_json();
    assert_eq!(sent["messages"][1]["content"][0]["type"], "tool_use");
    assert_eq!(sent["messages"][2]["content"][1]["type"], "tool_result");

    // parallel_tool_calls: false reaches Anthropic as disable_parallel_tool_use.
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "parallel_tool_calls": false,
            "tools": [weather_tool(), time_tool()], "messages": [question]}),
    )
    .await;
    let calls = &r.json()["choices"][0]["message"]["tool_calls"];
    assert_eq!(calls.as_array().map(Vec::len), Some(1), "{calls}");
    assert_eq!(
        mock.last_json()["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );

    // A result that answers no call is refused by the upstream, and the client sees why.
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "tools": [weather_tool()], "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "toolu_nope", "content": "x"}]}),
    )
    .await;
    let e = error_of(&r, 400);
    assert!(
        e["message"].as_str().unwrap().contains("tool_use_id"),
        "{e}"
    );
}

#[tokio::test]
async fn streamed_tool_call_fragments_reassemble_into_valid_json() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "stream": true, "tools": [weather_tool(), time_tool()],
            "tool_choice": "required", "messages": [{"role": "user", "content": "go"}]}),
    )
    .await;
    let chunks = stream_chunks(&r);
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for c in &chunks {
        for tc in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = usize::try_from(tc["index"].as_u64().unwrap()).unwrap();
            if let Some(id) = tc["id"].as_str() {
                assert_eq!(i, calls.len(), "indices count up from 0");
                let name = tc["function"]["name"].as_str().unwrap().to_owned();
                calls.push((id.to_owned(), name, String::new()));
            }
            calls[i].2 += tc["function"]["arguments"].as_str().unwrap_or("");
        }
    }
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].1, "get_time");
    let args: Value = serde_json::from_str(&calls[0].2).unwrap();
    assert_eq!(args, json!({"location": "Paris"}));
    let args: Value = serde_json::from_str(&calls[1].2).unwrap();
    assert_eq!(args, json!({"timezone": "Paris"}));
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(mock.last_json()["tool_choice"], json!({"type": "any"}));
}

#[tokio::test]
async fn json_schema_answers_come_back_as_content() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"},
        "temp": {"type": "number"}}, "required": ["city", "temp"]});
    let body = json!({"model": "smart", "messages": [{"role": "user", "content": "Paris 14C"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "report", "schema": schema}}});
    let r = post_json(&gw.url(CHAT), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let choice = &r.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["message"].get("tool_calls").is_none());
    let content: Value =
        serde_json::from_str(choice["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"city": "Paris", "temp": 1}));
    assert_eq!(
        mock.last_json()["tool_choice"],
        json!({"type": "tool", "name": "sluice_json_report"})
    );

    // Streamed, the answer arrives as content fragments too.
    let mut body = body;
    body["stream"] = json!(true);
    let chunks = stream_chunks(&post_json(&gw.url(CHAT), &body).await);
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), content);
}

#[tokio::test]
async fn thinking_blocks_and_their_signatures_survive_a_round_trip() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let question = json!({"role": "user", "content": "weather in Paris?"});
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "reasoning_effort": "low", "tools": [weather_tool()],
            "messages": [question]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_json();
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    let message = r.json()["choices"][0]["message"].clone();
    assert_eq!(
        message["reasoning_content"],
        "The user said: weather in Paris?"
    );
    let blocks = message["thinking_blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0]["signature"],
        anthropic::signature("The user said: weather in Paris?")
    );
    let call_id = message["tool_calls"][0]["id"].clone();

    // The assistant turn goes back as received; the mock verifies the signature and that
    // the turn opens with its thinking, as Anthropic requires during tool use.
    let follow_up = |message: Value| {
        json!({"model": "smart", "reasoning_effort": "low", "tools": [weather_tool()], "messages": [
            question, message, {"role": "tool", "tool_call_id": call_id, "content": "sunny"}]})
    };
    let r = post_json(&gw.url(CHAT), &follow_up(message.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: sunny");
    let sent = mock.last_json();
    assert_eq!(sent["messages"][1]["content"][0]["type"], "thinking");
    assert_eq!(
        sent["messages"][1]["content"][0]["signature"],
        blocks[0]["signature"]
    );

    // A tampered block is refused upstream, so the client learns of it.
    let mut tampered = message;
    tampered["thinking_blocks"][0]["thinking"] = json!("something else");
    let r = post_json(&gw.url(CHAT), &follow_up(tampered)).await;
    let e = error_of(&r, 400);
    assert!(e["message"].as_str().unwrap().contains("signature"), "{e}");
}

#[tokio::test]
async fn an_overloaded_upstream_is_retried() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "    retry: { max: 1, backoff: 10ms }");
    mock.push(anthropic::error(529, "overloaded_error", "Overloaded"));
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-attempts"), Some("2"));
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: hi");
    assert_eq!(mock.request_count(), 2);

    // Without retries the client sees Anthropic's status and error type.
    let gw = gateway(&mock, "");
    mock.push(anthropic::error(529, "overloaded_error", "Overloaded"));
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let e = error_of(&r, 529);
    assert_eq!(e["type"], "overloaded_error");
    assert_eq!(e["message"], "Overloaded");
}

#[tokio::test]
async fn a_prompt_that_is_too_long_is_a_context_length_error() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    mock.push(anthropic::error(
        400,
        "invalid_request_error",
        "prompt is too long: 208310 tokens > 200000 maximum",
    ));
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let e = error_of(&r, 400);
    assert_eq!(e["code"], "context_length_exceeded");
    assert_eq!(
        e["message"],
        "prompt is too long: 208310 tokens > 200000 maximum"
    );
}

#[tokio::test]
async fn a_parameter_claude_cannot_honour_is_refused_before_any_upstream_call() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "n": 2, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let e = error_of(&r, 400);
    assert_eq!(e["param"], "n");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("`n`") && message.contains("claude"),
        "{message}"
    );
    assert_eq!(mock.request_count(), 0);
}

/// With `drop_unsupported: true`, parameters Anthropic cannot honour are dropped (and
/// logged) instead of refused.
#[tokio::test]
async fn drop_unsupported_drops_instead_of_refusing() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        "providers:\n  claude: {{ kind: anthropic, base_url: \"{}\", api_key: k, drop_unsupported: true }}\nmodels:\n  - name: smart\n    targets: [ {{ provider: claude, model: claude-sonnet-4-5 }} ]\n",
        mock.root_url()
    ));
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "seed": 7, "logit_bias": {"1": 2}, "temperature": 0.5,
                "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_json();
    assert!(
        sent.get("seed").is_none() && sent.get("logit_bias").is_none(),
        "{sent}"
    );
    assert_eq!(sent["temperature"], 0.5, "supported parameters stay");
    let logs = gw.logs();
    assert!(
        logs.contains("dropped a parameter") && logs.contains("seed"),
        "{logs}"
    );
    // The request log's attempt names what was dropped.
    let id = r.header("x-request-id").unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let record = loop {
        let r = crate::harness::get(&gw.url(&format!("/admin/v1/logs/{id}"))).await;
        if r.status == 200 {
            break r.json();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no record: {}",
            r.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        record["attempts"][0]["dropped"],
        json!(["seed", "logit_bias"]),
        "{record}"
    );
}
