#![allow(clippy::unwrap_used)]

use std::time::Duration;

use http::StatusCode;
use sluice_config::{Preset, ProviderConfig, ProviderKind, Timeouts};
use sluice_types::{ChatRequest, ErrorKind};

use super::OpenAiCodec;
use crate::{Codec, SseEvent, Target};

fn provider(kind: ProviderKind, base_url: &str) -> ProviderConfig {
    ProviderConfig {
        api_version: Some("2024-10-21".into()),
        timeouts: Timeouts {
            connect: Duration::from_secs(1),
            first_byte: Duration::from_secs(1),
            total: Duration::from_secs(1),
            idle: Duration::from_secs(1),
        },
        ..ProviderConfig::new("p", kind, base_url)
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

/// The body sent for `raw` (the client's bytes) by a codec for `kind`.
fn sent(kind: ProviderKind, raw: &str) -> String {
    let codec = OpenAiCodec::for_config(&provider(kind, "http://x/v1"));
    let mut req: ChatRequest = serde_json::from_str(raw).unwrap();
    req.raw = Some(bytes::Bytes::from(raw.to_owned()));
    let up = codec.encode(&req, &target("up")).unwrap();
    String::from_utf8(up.body.to_vec()).unwrap()
}

const OPENAI: ProviderKind = ProviderKind::OpenAiCompatible(Preset::OpenAi);

#[test]
fn a_stream_asks_for_usage_and_keeps_every_other_byte() {
    let raw = r#"{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi","x":null}],"temperature":0.50}"#;
    assert_eq!(
        sent(OPENAI, raw),
        r#"{"model":"up","stream":true,"messages":[{"role":"user","content":"hi","x":null}],"temperature":0.50,"stream_options":{"include_usage":true}}"#
    );
}

#[test]
fn include_usage_false_becomes_true_and_other_stream_options_stay() {
    let raw = r#"{"model":"fast","stream_options":{"include_obfuscation":false,"include_usage":false},"stream":true,"messages":[]}"#;
    assert_eq!(
        sent(OPENAI, raw),
        r#"{"model":"up","stream_options":{"include_obfuscation":false,"include_usage":true},"stream":true,"messages":[]}"#
    );
    let asked =
        r#"{"model":"fast","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#;
    assert_eq!(sent(OPENAI, asked), asked.replace("fast", "up"));
}

#[test]
fn requests_that_do_not_stream_are_untouched() {
    for raw in [
        r#"{"model":"fast","messages":[]}"#,
        r#"{"model":"fast","stream":false,"messages":[]}"#,
    ] {
        assert_eq!(sent(OPENAI, raw), raw.replace("fast", "up"));
    }
}

#[test]
fn presets_that_refuse_stream_options_are_untouched() {
    let raw = r#"{"model":"fast","stream":true,"messages":[]}"#;
    for preset in [Preset::Mistral, Preset::Perplexity, Preset::OpenRouter] {
        let kind = ProviderKind::OpenAiCompatible(preset);
        assert_eq!(sent(kind, raw), raw.replace("fast", "up"), "{preset:?}");
    }
    assert!(sent(ProviderKind::OpenAiCompatible(Preset::Generic), raw).contains("include_usage"));
}

#[test]
fn azure_asks_for_usage_from_api_version_2024_09_01() {
    let raw = r#"{"model":"fast","stream":true,"messages":[]}"#;
    for (version, asks) in [
        ("2024-10-21", true),
        ("2024-09-01-preview", true),
        ("2025-04-01-preview", true),
        ("preview", true),
        ("2024-08-01-preview", false),
        ("2024-06-01", false),
    ] {
        let mut cfg = provider(ProviderKind::AzureOpenAi, "https://res.openai.azure.com");
        cfg.api_version = Some(version.into());
        let codec = OpenAiCodec::for_config(&cfg);
        let req: ChatRequest = serde_json::from_str(raw).unwrap();
        let body = codec.encode(&req, &target("d")).unwrap().body;
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.get("stream_options").is_some(), asks, "{version}");
    }
}

#[test]
fn a_changed_stream_request_asks_for_usage_too() {
    let codec = OpenAiCodec::for_config(&provider(OPENAI, "http://x/v1"));
    let mut req: ChatRequest = serde_json::from_str(
        r#"{"model":"fast","stream":true,"stream_options":{"include_obfuscation":false},"messages":[]}"#,
    )
    .unwrap();
    req.raw = None;
    let body = codec.encode(&req, &target("up")).unwrap().body;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["stream_options"],
        serde_json::json!({"include_obfuscation": false, "include_usage": true})
    );
    assert_eq!(body["model"], "up");
}
