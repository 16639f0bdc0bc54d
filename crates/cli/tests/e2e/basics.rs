//! The quick start, aliases, lossless pass-through, request ids and health.

use serde_json::json;
use sluice_testkit::MockUpstream;

use crate::harness::{Sluice, Start, get, mock_config, post_json, sse_data};

#[tokio::test]
async fn demo_model_answers_offline_with_no_config_stream_and_not() {
    let gw = Start::default().spawn();
    let r = post_json(
        &gw.url("/v1/chat/completions"),
        &json!({"model":"demo","messages":[{"role":"user","content":"hi"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let content = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(content.ends_with("You said: hi"), "{content}");

    let r = post_json(
        &gw.url("/v1/chat/completions"),
        &json!({"model":"demo","stream":true,"messages":[{"role":"user","content":"hi"}]}),
    )
    .await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = sse_data(&r.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let text: String = events[..events.len() - 1]
        .iter()
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(e).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, content);
}

#[tokio::test]
async fn openai_key_in_the_environment_serves_openai_models_directly() {
    let mock = MockUpstream::start().await;
    let gw = Start::default()
        .env("OPENAI_API_KEY", "sk-env-key")
        .env("OPENAI_BASE_URL", &mock.base_url())
        .spawn();
    let r = post_json(
        &gw.url("/v1/chat/completions"),
        &json!({"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"yo"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-provider"), Some("openai"));
    let seen = mock.last().unwrap();
    assert_eq!(seen.header("authorization"), Some("Bearer sk-env-key"));
    assert_eq!(seen.json()["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn alias_is_forwarded_losslessly_both_ways() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    let body = json!({
        "model": "fast",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": [{"type": "text", "text": "hello"}], "x_custom_msg": {"a": 1}}],
        "temperature": 0.25, "logit_bias": {"123": -5}, "metadata": {"k": "v"}, "some_future_field": [1, 2, {"x": null}],
        "reasoning_effort": "low", "seed": 7, "stop": null, "tool_choice": null
    });
    let r = post_json(&gw.url("/v1/chat/completions"), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut expected = body.clone();
    expected["model"] = json!("gpt-4o-mini");
    assert_eq!(
        mock.last_json(),
        expected,
        "the upstream must see every field the client sent"
    );
    let seen = mock.last().unwrap();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer sk-upstream-secret-123")
    );
    let out = r.json();
    assert_eq!(
        out["system_fingerprint"], "fp_mock",
        "upstream-only fields reach the client"
    );
    assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(r.header("x-sluice-provider"), Some("mock"));
    assert_eq!(r.header("x-sluice-model"), Some("gpt-4o-mini"));
    assert_eq!(r.header("x-sluice-attempts"), Some("1"));
    assert!(
        r.header("x-sluice-overhead-us")
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
}

#[tokio::test]
async fn request_ids_are_propagated_or_generated() {
    let gw = Start::default().spawn();
    let r = crate::harness::send(
        http::Method::POST,
        &gw.url("/v1/chat/completions"),
        &[
            ("content-type", "application/json"),
            ("x-request-id", "my-trace-42"),
        ],
        json!({"model":"demo","messages":[{"role":"user","content":"hi"}]}).to_string(),
    )
    .await;
    assert_eq!(r.header("x-request-id"), Some("my-trace-42"));
    let r = post_json(
        &gw.url("/v1/chat/completions"),
        &json!({"model":"demo","messages":[]}),
    )
    .await;
    let id = r.header("x-request-id").unwrap().to_owned();
    assert!(id.starts_with("req_") && id.len() > 20, "{id}");
    let r2 = get(&gw.url("/v1/models")).await;
    assert_ne!(r2.header("x-request-id").unwrap(), id);
}

#[tokio::test]
async fn health_and_model_list() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    assert_eq!(get(&gw.url("/health/live")).await.status, 200);
    assert_eq!(get(&gw.url("/health/ready")).await.status, 200);
    let models = get(&gw.url("/v1/models")).await.json();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "fast");
}

/// A client that gives up before the answer still leaves an access-log record (status 499).
#[tokio::test]
async fn a_client_that_hangs_up_is_still_logged() {
    let mock = MockUpstream::start().await;
    mock.push(sluice_testkit::Behavior::Delay(
        std::time::Duration::from_secs(5),
    ));
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    let url = gw.url("/v1/chat/completions");
    let send = crate::harness::send(
        http::Method::POST,
        &url,
        &[
            ("content-type", "application/json"),
            ("x-request-id", "gave-up-1"),
        ],
        json!({"model":"fast","messages":[{"role":"user","content":"hi"}]}).to_string(),
    );
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(300), send)
            .await
            .is_err()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let logs = gw.logs();
        if logs
            .lines()
            .any(|l| l.contains("gave-up-1") && l.contains("status=499"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no 499 record:\n{logs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
