//! OpenAI clients talking to AWS Bedrock: the real binary translating to the Converse mock,
//! which verifies every request's SigV4 signature and validates it the way Converse does,
//! and answers streams in the AWS binary event-stream framing.

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{MockUpstream, bedrock};

use crate::harness::{Sluice, Start, error_of, post_json, send, stream_chunks};

const CHAT: &str = "/v1/chat/completions";
const MODEL: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const CONVERSE: &str = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse";

/// The `aws` provider entry for `mock`, with `keys` (YAML fields) as its credentials.
fn provider(mock: &MockUpstream, keys: &str) -> String {
    format!(
        "{{ kind: bedrock, base_url: \"{}\", region: {}{keys} }}",
        mock.root_url(),
        bedrock::REGION
    )
}

fn test_keys() -> String {
    format!(
        ", access_key_id: {}, secret_access_key: \"{}\"",
        bedrock::ACCESS_KEY_ID,
        bedrock::SECRET_ACCESS_KEY
    )
}

/// The config: provider `aws` and alias `smart` → the Claude model on Bedrock.
fn config(mock: &MockUpstream, keys: &str, extra: &str) -> String {
    format!(
        "providers:\n  aws: {}\nmodels:\n  - name: smart\n    targets: [ {{ provider: aws, model: \"{MODEL}\" }} ]\n{extra}",
        provider(mock, keys)
    )
}

fn gateway(mock: &MockUpstream, extra: &str) -> Sluice {
    Sluice::start(&config(mock, &test_keys(), extra))
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}})
}

#[tokio::test]
async fn a_chat_completion_is_signed_translated_and_answered() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "temperature": 0.3, "max_tokens": 200, "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "hello there"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["object"], "chat.completion");
    assert_eq!(out["id"], bedrock::request_id(1));
    assert_eq!(out["model"], MODEL);
    assert!(out["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(out["choices"][0]["message"]["content"], "echo: hello there");
    assert_eq!(out["choices"][0]["finish_reason"], "stop");
    assert_eq!(out["usage"]["prompt_tokens"], 4);
    assert_eq!(out["usage"]["completion_tokens"], 3);

    let seen = mock.last().unwrap();
    assert_eq!(seen.path, CONVERSE);
    let authz = seen.header("authorization").unwrap();
    assert!(
        authz.starts_with(&format!(
            "AWS4-HMAC-SHA256 Credential={}/",
            bedrock::ACCESS_KEY_ID
        )) && authz.contains("/us-east-1/bedrock/aws4_request"),
        "{authz}"
    );
    assert!(seen.header("x-amz-date").is_some());
    assert_eq!(
        seen.json(),
        json!({"system": [{"text": "Be terse."}],
            "messages": [{"role": "user", "content": [{"text": "hello there"}]}],
            "inferenceConfig": {"maxTokens": 200, "temperature": 0.3}})
    );
    let logs = gw.logs();
    assert!(
        !logs.contains(bedrock::SECRET_ACCESS_KEY),
        "the secret never reaches a log"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_refused_by_the_signature_check() {
    let mock = MockUpstream::start().await;
    let keys = format!(
        ", access_key_id: {}, secret_access_key: not-the-secret",
        bedrock::ACCESS_KEY_ID
    );
    let gw = Sluice::start(&config(&mock, &keys, ""));
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "messages": user("hi")}),
    )
    .await;
    let e = error_of(&r, 403);
    assert_eq!(e["type"], "InvalidSignatureException");
    assert!(e["message"].as_str().unwrap().contains("signature"), "{e}");
    assert_eq!(mock.request_count(), 1, "a 403 is not retried");
}

#[tokio::test]
async fn temporary_credentials_come_from_the_standard_environment() {
    let mock = MockUpstream::start().await;
    let gw = Start::default()
        .config(&config(&mock, "", ""))
        .env("AWS_ACCESS_KEY_ID", bedrock::SESSION_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", bedrock::SESSION_SECRET_ACCESS_KEY)
        .env("AWS_SESSION_TOKEN", bedrock::SESSION_TOKEN)
        .spawn();
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "messages": user("hi")}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        mock.last().unwrap().header("x-amz-security-token"),
        Some(bedrock::SESSION_TOKEN)
    );
}

#[tokio::test]
async fn streams_are_decoded_from_the_aws_event_stream() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let body = json!({"model": "smart", "stream": true, "stream_options": {"include_usage": true},
        "messages": user("stream me please")});
    let r = post_json(&gw.url(CHAT), &body).await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let chunks = stream_chunks(&r);
    assert_eq!(
        mock.last().unwrap().path,
        CONVERSE.replace("/converse", "/converse-stream")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: stream me please");
    let id = bedrock::request_id(1);
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id.as_str() && c["model"] == MODEL)
    );
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["total_tokens"], 7);
}

#[tokio::test]
async fn tool_calls_round_trip_and_stream_in_fragments() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let question = json!({"role": "user", "content": "weather in Paris?"});
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "tools": [weather_tool()], "messages": [question]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let choice = &r.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = &choice["message"]["tool_calls"][0];
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "tools": [weather_tool()], "messages": [
            question, choice["message"].clone(),
            {"role": "tool", "tool_call_id": call["id"], "content": "14C rain"}]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["choices"][0]["message"]["content"],
        "echo: 14C rain"
    );
    assert!(mock.last_json()["messages"][2]["content"][0]["toolResult"].is_object());

    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "stream": true, "tools": [weather_tool()],
            "tool_choice": "required", "messages": user("go")}),
    )
    .await;
    let chunks = stream_chunks(&r);
    let mut args = String::new();
    for c in &chunks {
        for tc in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(tc["index"], 0);
            args.push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"location": "Paris"})
    );
    assert_eq!(
        mock.last_json()["toolConfig"]["toolChoice"],
        json!({"any": {}})
    );
}

#[tokio::test]
async fn reasoning_signatures_survive_a_round_trip() {
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
    assert_eq!(
        mock.last_json()["additionalModelRequestFields"]["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    let message = r.json()["choices"][0]["message"].clone();
    let thought = "The user said: weather in Paris?";
    assert_eq!(message["reasoning_content"], thought);
    assert_eq!(
        message["thinking_blocks"][0]["signature"],
        bedrock::signature(thought)
    );
    let call_id = message["tool_calls"][0]["id"].clone();
    let follow_up = |message: Value| {
        json!({"model": "smart", "reasoning_effort": "low", "tools": [weather_tool()], "messages": [
            question, message, {"role": "tool", "tool_call_id": call_id, "content": "sunny"}]})
    };
    let r = post_json(&gw.url(CHAT), &follow_up(message.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: sunny");

    let mut tampered = message;
    tampered["thinking_blocks"][0]["thinking"] = json!("something else");
    let r = post_json(&gw.url(CHAT), &follow_up(tampered)).await;
    let e = error_of(&r, 400);
    assert!(e["message"].as_str().unwrap().contains("signature"), "{e}");
}

#[tokio::test]
async fn guardrails_pass_through_and_intervene_as_content_filter() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let guardrail =
        json!({"guardrailIdentifier": bedrock::BLOCKING_GUARDRAIL, "guardrailVersion": "1"});
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "guardrail_config": guardrail, "messages": user("hi")}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(mock.last_json()["guardrailConfig"], guardrail);
}

#[tokio::test]
async fn refusals_and_upstream_errors_keep_their_meaning() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "    retry: { max: 1, backoff: 10ms }");
    // An image the gateway may not fetch for Bedrock: refused before any upstream call,
    // naming the part.
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "http://169.254.169.254/cat.png"}}]}]}),
    )
    .await;
    let e = error_of(&r, 400);
    assert_eq!(e["param"], "messages[0].content[0].image_url");
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "seed": 1, "messages": user("x")}),
    )
    .await;
    assert_eq!(error_of(&r, 400)["param"], "seed");
    assert_eq!(mock.request_count(), 0);

    mock.push(bedrock::error(
        400,
        "ValidationException",
        "Input is too long for requested model.",
    ));
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "messages": user("x")}),
    )
    .await;
    assert_eq!(error_of(&r, 400)["code"], "context_length_exceeded");

    // Throttling is retried (retry.max: 1) and the second attempt answers.
    mock.push(bedrock::rate_limited());
    let r = post_json(
        &gw.url(CHAT),
        &json!({"model": "smart", "messages": user("x")}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-sluice-attempts"), Some("2"));
}

#[tokio::test]
async fn native_pass_through_is_signed_by_the_gateway() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let body = r#"{"messages":[{"role":"user","content":[{"text":"native hi"}]}]}"#;
    let r = send(
        Method::POST,
        &gw.url(&format!("/aws{CONVERSE}")),
        &[
            ("content-type", "application/json"),
            ("authorization", "AWS4-HMAC-SHA256 Credential=client/forged"),
        ],
        body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["output"]["message"]["content"][0]["text"],
        "echo: native hi"
    );
    let seen = mock.last().unwrap();
    assert_eq!(seen.path, CONVERSE);
    assert_eq!(&seen.body[..], body.as_bytes(), "forwarded byte for byte");
    assert!(
        seen.header("authorization")
            .unwrap()
            .contains(bedrock::ACCESS_KEY_ID)
    );
}

#[tokio::test]
async fn embeddings_are_signed_invoke_model_calls_per_model_family() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, "");
    let titan = "amazon.titan-embed-text-v2:0";
    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": format!("aws/{titan}"), "input": ["first text here", "second"], "dimensions": 256}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["model"], titan);
    assert_eq!(out["data"].as_array().unwrap().len(), 2);
    assert_eq!(out["data"][0]["embedding"].as_array().unwrap().len(), 256);
    assert_eq!(
        out["usage"]["prompt_tokens"], 4,
        "the sum of Titan's inputTextTokenCount"
    );
    let calls = mock.received();
    assert_eq!(calls.len(), 2, "Titan embeds one text a call");
    let mut texts: Vec<String> = calls
        .iter()
        .map(|c| {
            assert_eq!(c.path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
            assert!(
                c.header("authorization")
                    .unwrap()
                    .contains(bedrock::ACCESS_KEY_ID)
            );
            let body = c.json();
            assert_eq!(
                (body["dimensions"].clone(), body["normalize"].clone()),
                (json!(256), json!(true))
            );
            body["inputText"].as_str().unwrap().to_owned()
        })
        .collect();
    texts.sort();
    assert_eq!(texts, ["first text here", "second"]);

    mock.clear_received();
    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": "aws/cohere.embed-english-v3", "input": ["a b", "c"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let out = r.json();
    assert_eq!(out["data"].as_array().unwrap().len(), 2);
    let calls = mock.received();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].json(),
        json!({"texts": ["a b", "c"], "input_type": "search_document"})
    );

    // A model without an InvokeModel embeddings format, and a parameter Cohere v3 lacks.
    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": format!("aws/{MODEL}"), "input": "x"}),
    )
    .await;
    assert_eq!(error_of(&r, 400)["param"], "model");
    let r = post_json(
        &gw.url("/v1/embeddings"),
        &json!({"model": "aws/cohere.embed-english-v3", "input": "x", "dimensions": 256}),
    )
    .await;
    assert_eq!(error_of(&r, 400)["param"], "dimensions");
    assert_eq!(mock.received().len(), 1, "refusals make no call");
}

/// `sluice_testkit::PIXEL_PNG`, the image host's picture, in base64.
const PIXEL_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// A chat request to `smart` showing the image at `url`.
fn look_at(url: &str) -> Value {
    json!({"model": "smart", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": url, "detail": "low"}}
    ]}]})
}

#[tokio::test]
async fn image_urls_are_fetched_by_the_gateway_and_sent_as_bytes() {
    let (mock, images) = (MockUpstream::start().await, MockUpstream::start().await);
    let gw = gateway(
        &mock,
        "server:\n  image_fetch: { allow_private: [127.0.0.1] }\n",
    );
    // Two redirects, then the image.
    let url = format!("{}/images/redirect/2", images.root_url());
    let r = post_json(&gw.url(CHAT), &look_at(&url)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let block = &mock.last().unwrap().json()["messages"][0]["content"][1];
    assert_eq!(
        block,
        &json!({"image": {"format": "png", "source": {"bytes": PIXEL_BASE64}}})
    );
    let fetched: Vec<String> = images.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        fetched,
        [
            "/images/redirect/2",
            "/images/redirect/1",
            "/images/redirect/0",
            "/images/pixel.png"
        ]
    );
}

#[tokio::test]
async fn image_urls_the_gateway_may_not_fetch_are_400s_naming_the_part() {
    let (mock, images) = (MockUpstream::start().await, MockUpstream::start().await);
    let root = images.root_url();
    let port = images.addr().port();
    // No address is allowed: the image host on 127.0.0.1 is a loopback target.
    let strict = gateway(&mock, "");
    let r = post_json(
        &strict.url(CHAT),
        &look_at(&format!("{root}/images/pixel.png")),
    )
    .await;
    let e = error_of(&r, 400);
    assert_eq!(e["param"], "messages[0].content[1].image_url");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("a loopback address"),
        "{e}"
    );
    assert_eq!(images.request_count(), 0, "never connected");

    let gw = gateway(
        &mock,
        "server:\n  image_fetch: { allow_private: [127.0.0.1], max_bytes: 1KiB }\n",
    );
    for (path, why) in [
        (
            "/images/page.html".to_owned(),
            "its content type is \"text/html\"",
        ),
        ("/images/large/2048".to_owned(), "larger than 1024 bytes"),
        ("/images/missing".to_owned(), "HTTP 404"),
        (
            "/images/redirect/4".to_owned(),
            "redirected more than 3 times",
        ),
        // Every redirect is checked again: metadata, and loopback addresses not allowed.
        (
            "/images/to?http://169.254.169.254/latest/meta-data/".to_owned(),
            "link-local",
        ),
        (
            format!("/images/to?http://127.0.0.2:{port}/images/pixel.png"),
            "127.0.0.2 is a loopback address",
        ),
        (
            "/images/to?file:///etc/passwd".to_owned(),
            "only http and https",
        ),
    ] {
        let r = post_json(&gw.url(CHAT), &look_at(&format!("{root}{path}"))).await;
        let e = error_of(&r, 400);
        assert_eq!(e["param"], "messages[0].content[1].image_url", "{path}");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(why), "{path}: {message}");
    }
    assert_eq!(mock.request_count(), 0, "nothing reached Bedrock");
}
