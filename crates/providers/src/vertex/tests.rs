#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use sluice_config::{ProviderConfig, ProviderKind, Timeouts, VertexConfig};
use sluice_types::ChatRequest;

use super::*;
use crate::{Codec, DecodeCx, SseEvent};

const REGIONAL: &str =
    "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/europe-west4";

fn config() -> ProviderConfig {
    ProviderConfig {
        api_key: Some("ya29.static".into()),
        vertex: Some(VertexConfig {
            project: "my-proj".into(),
            location: "europe-west4".into(),
            service_account: None,
        }),
        ..ProviderConfig::new(
            "gcp",
            ProviderKind::Vertex,
            "https://europe-west4-aiplatform.googleapis.com",
        )
    }
}

fn target(model: &str) -> Target {
    Target {
        provider: "gcp".into(),
        model: model.into(),
        timeouts: Timeouts::default(),
    }
}

fn request(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn hello(stream: bool) -> ChatRequest {
    request(json!({"model": "m", "stream": stream, "max_tokens": 20,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]}))
}

#[test]
fn gemini_models_send_the_gemini_body_to_vertex_urls() {
    let codec = VertexGeminiCodec::for_config(&config()).unwrap();
    let gemini = crate::gemini::GeminiCodec::for_config(&config());
    for (stream, method) in [
        (false, "generateContent"),
        (true, "streamGenerateContent?alt=sse"),
    ] {
        let up = codec
            .encode(&hello(stream), &target("gemini-2.5-flash"))
            .unwrap();
        assert_eq!(
            up.url,
            format!("{REGIONAL}/publishers/google/models/gemini-2.5-flash:{method}")
        );
        let same = gemini
            .encode(&hello(stream), &target("gemini-2.5-flash"))
            .unwrap();
        assert_eq!(up.body, same.body, "the translation is the Gemini codec's");
    }
    let answer = json!({"responseId": "r-1", "modelVersion": "gemini-2.5-flash",
        "candidates": [{"content": {"role": "model", "parts": [{"text": "hello"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}});
    let headers = HeaderMap::new();
    let out = codec
        .decode(
            StatusCode::OK,
            Bytes::from(answer.to_string()),
            &DecodeCx { headers: &headers },
        )
        .unwrap();
    assert_eq!(out.id, "r-1");
    assert_eq!(out.usage.unwrap().total_tokens, 4);
}

#[test]
fn claude_models_send_the_messages_body_without_model_and_with_the_vertex_version() {
    let codec = VertexAnthropicCodec::for_config(&config()).unwrap();
    let model = "claude-sonnet-4-5@20250929";
    let up = codec.encode(&hello(false), &target(model)).unwrap();
    assert_eq!(
        up.url,
        format!("{REGIONAL}/publishers/anthropic/models/{model}:rawPredict")
    );
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(
        body,
        json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 20, "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}]})
    );
    let names: Vec<&str> = up.headers.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["content-type"], "no anthropic-version header");
    assert!(
        codec.fetches_image_urls(),
        "Vertex AI refuses URL image sources for Claude"
    );
    assert!(
        !VertexGeminiCodec::for_config(&config())
            .unwrap()
            .fetches_image_urls()
    );

    let up = codec.encode(&hello(true), &target(model)).unwrap();
    assert_eq!(
        up.url,
        format!("{REGIONAL}/publishers/anthropic/models/{model}:streamRawPredict")
    );
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(body["stream"], true);

    // Without a limit, max_tokens comes from the model table, dated Vertex names included.
    let up = codec
        .encode(
            &request(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})),
            &target(model),
        )
        .unwrap();
    let body: Value = serde_json::from_slice(&up.body).unwrap();
    assert_eq!(body["max_tokens"], 64_000);

    let e = codec
        .encode(
            &request(
                json!({"model": "m", "seed": 1, "messages": [{"role": "user", "content": "hi"}]}),
            ),
            &target(model),
        )
        .unwrap_err();
    assert_eq!(e.param(), Some("seed"));
    assert!(
        e.message().contains("provider gcp (Claude on Vertex AI)"),
        "{}",
        e.message()
    );
}

#[test]
fn claude_answers_and_streams_are_anthropic_s() {
    let codec = VertexAnthropicCodec::for_config(&config()).unwrap();
    let answer = json!({"id": "msg_vrtx_1", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": "hello"}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 3, "output_tokens": 1}});
    let headers = HeaderMap::new();
    let out = codec
        .decode(
            StatusCode::OK,
            Bytes::from(answer.to_string()),
            &DecodeCx { headers: &headers },
        )
        .unwrap();
    assert_eq!(out.id, "msg_vrtx_1");
    assert_eq!(out.choices[0].finish_reason.as_deref(), Some("stop"));

    let mut st = Default::default();
    let start = json!({"type": "message_start", "message": {"id": "msg_vrtx_2", "type": "message",
        "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [],
        "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}}});
    let chunks = codec
        .decode_event(
            &mut st,
            SseEvent {
                event: Some("message_start".into()),
                data: start.to_string(),
            },
        )
        .unwrap();
    assert_eq!(chunks[0].id, "msg_vrtx_2");
}

#[test]
fn vertex_s_own_errors_are_google_shaped_and_the_model_s_are_anthropic_s() {
    let codec = VertexAnthropicCodec::for_config(&config()).unwrap();
    let quota = json!({"error": {"code": 429, "message": "Quota exceeded for aiplatform.googleapis.com",
        "status": "RESOURCE_EXHAUSTED"}});
    let e = codec.decode_error(StatusCode::TOO_MANY_REQUESTS, quota.to_string().as_bytes());
    assert_eq!((e.status(), e.code()), (429, Some("RESOURCE_EXHAUSTED")));
    assert!(e.is_retryable());
    assert_eq!(e.message(), "Quota exceeded for aiplatform.googleapis.com");

    let overloaded =
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
    let e = codec.decode_error(
        StatusCode::from_u16(529).unwrap(),
        overloaded.to_string().as_bytes(),
    );
    assert_eq!(
        (e.status(), e.error_type(), e.message()),
        (529, "overloaded_error", "Overloaded")
    );
    assert!(e.is_retryable());

    let e = codec.decode_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
    assert_eq!(e.status(), 502);
    assert!(e.message().contains("<html>bad gateway</html>"));
}

#[test]
fn embeddings_are_translated_and_other_openai_endpoints_are_not_served() {
    let codec = VertexGeminiCodec::for_config(&config()).unwrap();
    assert!(codec.embedder().is_some());
    let e = codec
        .forward_url("/images/generations", None, None)
        .unwrap_err();
    assert_eq!(e.status(), 501);
    assert!(
        e.message()
            .contains("provider gcp speaks the Vertex AI API"),
        "{}",
        e.message()
    );
}

#[test]
fn a_provider_entry_without_vertex_settings_is_refused() {
    let mut cfg = config();
    cfg.vertex = None;
    let e = VertexProvider::new(&cfg).err().unwrap();
    assert!(
        e.message()
            .contains("provider gcp has no Vertex AI project and location"),
        "{}",
        e.message()
    );
    assert!(VertexProvider::new(&config()).is_ok());
}
