#![allow(clippy::unwrap_used)]

use std::time::Duration;

use http::StatusCode;
use sluice_config::{Preset, ProviderConfig, ProviderKind, Timeouts};
use sluice_types::{ChatRequest, ErrorKind};

use super::OpenAiCodec;
use crate::{Codec, SseEvent, Target};

fn provider(kind: ProviderKind, base_url: &str) -> ProviderConfig {
    ProviderConfig {
        name: "p".into(),
        kind,
        base_url: base_url.into(),
        api_key: None,
        api_version: Some("2024-10-21".into()),
        headers: Vec::new(),
        direct: true,
        drop_unsupported: false,
        native: true,
        timeouts: Timeouts {
            connect: Duration::from_secs(1),
            first_byte: Duration::from_secs(1),
            total: Duration::from_secs(1),
            idle: Duration::from_secs(1),
        },
        aws: None,
    }
}

fn target(model: &str) -> Target {
    Target {
        provider: "p".into(),
        model: model.into(),
        timeouts: provider(ProviderKind::Demo, "").timeouts,
    }
}

#[test]
fn encode_swaps_the_model_and_keeps_every_other_field() {
    let codec = OpenAiCodec::for_config(&provider(
        ProviderKind::OpenAiCompatible(Preset::OpenAi),
        "https://api.openai.com/v1/",
    ));
    let input = serde_json::json!({
        "model": "fast", "messages": [{"role": "user", "content": "hi", "x": 1}],
        "temperature": 0.2, "logit_bias": {"1": 2}, "stream": true, "stream_options": {"include_usage": true},
        "reasoning_effort": "low", "tool_choice": "auto"
    });
    let req: ChatRequest = serde_json::from_value(input.clone()).unwrap();
    let up = codec.encode(&req, &target("gpt-4o-mini")).unwrap();
    assert_eq!(up.url, "https://api.openai.com/v1/chat/completions");
    let mut expected = input;
    expected["model"] = "gpt-4o-mini".into();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&up.body).unwrap(),
        expected
    );
}

#[test]
fn azure_urls_name_the_deployment_and_api_version() {
    let codec = OpenAiCodec::for_config(&provider(
        ProviderKind::AzureOpenAi,
        "https://res.openai.azure.com",
    ));
    let req: ChatRequest = serde_json::from_str(r#"{"model":"a","messages":[]}"#).unwrap();
    let up = codec.encode(&req, &target("my-deploy")).unwrap();
    assert_eq!(
        up.url,
        "https://res.openai.azure.com/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(
        codec
            .forward_url("/files", Some("purpose=batch"), None)
            .unwrap(),
        "https://res.openai.azure.com/openai/files?api-version=2024-10-21&purpose=batch"
    );
    assert!(codec.forward_url("/embeddings", None, None).is_err());
}

#[test]
fn stream_events_decode_and_done_ends() {
    let codec = OpenAiCodec::for_config(&provider(
        ProviderKind::OpenAiCompatible(Preset::Generic),
        "http://x/v1",
    ));
    let mut st = Default::default();
    let ev = |d: &str| SseEvent {
        event: None,
        data: d.into(),
    };
    let chunks = codec
        .decode_event(&mut st, ev(r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"obfuscation":"x"}"#))
        .unwrap();
    assert_eq!(chunks[0].choices[0].delta.content.as_deref(), Some("Hi"));
    assert_eq!(chunks[0].extra["obfuscation"], "x");
    assert!(
        codec
            .decode_event(&mut st, ev("[DONE]"))
            .unwrap()
            .is_empty()
    );
    let err = codec.decode_event(&mut st, ev("not json")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UpstreamProtocol);
    let err = codec
        .decode_event(
            &mut st,
            ev(r#"{"error":{"message":"overloaded","type":"server_error"}}"#),
        )
        .unwrap_err();
    assert_eq!(err.message(), "overloaded");
}

#[test]
fn error_bodies_keep_status_and_message() {
    let codec = OpenAiCodec::for_config(&provider(
        ProviderKind::OpenAiCompatible(Preset::Generic),
        "http://x/v1",
    ));
    let e = codec.decode_error(
        StatusCode::TOO_MANY_REQUESTS,
        br#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
    );
    assert_eq!(
        (e.status(), e.message(), e.code()),
        (429, "slow down", Some("rate_limit_exceeded"))
    );
    let e = codec.decode_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
    assert_eq!(e.status(), 502);
    assert!(e.message().contains("<html>bad gateway</html>"));
}

#[test]
fn context_length_and_content_filter_are_recognised() {
    let codec = OpenAiCodec::for_config(&provider(
        ProviderKind::OpenAiCompatible(Preset::Generic),
        "http://x/v1",
    ));
    let e = codec.decode_error(
        StatusCode::BAD_REQUEST,
        br#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#,
    );
    assert_eq!(
        (e.kind(), e.status(), e.code()),
        (
            ErrorKind::ContextLength,
            400,
            Some("context_length_exceeded")
        )
    );
    let e = codec.decode_error(
        StatusCode::BAD_REQUEST,
        br#"{"error":{"message":"Input exceeds the context window"}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::ContextLength);
    let e = codec.decode_error(
        StatusCode::BAD_REQUEST,
        br#"{"error":{"message":"flagged","code":"content_filter"}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::ContentFilter);
    let e = codec.decode_error(
        StatusCode::BAD_REQUEST,
        br#"{"error":{"message":"bad temperature"}}"#,
    );
    assert_eq!(e.kind(), ErrorKind::UpstreamStatus);
}
