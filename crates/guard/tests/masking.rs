//! Masking a request and restoring the answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use serde_json::json;
use sluice_guard::{Entity, Masker, PiiSpec, Scanner};
use sluice_types::{ChatRequest, ChatResponse};

fn scanner(entities: &[Entity]) -> Scanner {
    Scanner::new(&PiiSpec {
        entities: entities.to_vec(),
        ..PiiSpec::default()
    })
    .unwrap()
}

fn request(value: serde_json::Value) -> ChatRequest {
    let mut req: ChatRequest = serde_json::from_value(value.clone()).unwrap();
    req.raw = Some(Bytes::from(value.to_string()));
    req
}

#[test]
fn every_text_of_the_request_is_masked_with_stable_placeholders() {
    let mut req = request(json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": "The user is ann@example.com."},
            {"role": "user", "content": [
                {"type": "text", "text": "Mail ann@example.com and bob@example.org, call +44 20 7946 0958"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "send", "arguments": "{\"to\":\"bob@example.org\",\"cc\":[\"ann@example.com\"]}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sent to bob@example.org"}
        ]
    }));
    let phone_and_email = scanner(&[Entity::Email, Entity::Phone]);
    let masked = Masker::new().add(&phone_and_email, true).mask(&mut req);

    assert!(masked.changed);
    assert_eq!(
        req.raw, None,
        "raw bytes must not be relayed once the request changed"
    );
    let sent = serde_json::to_string(&req).unwrap();
    for original in ["ann@example.com", "bob@example.org", "7946"] {
        assert!(
            !sent.contains(original),
            "{original} reached the provider: {sent}"
        );
    }
    let m = &req.messages;
    assert_eq!(
        serde_json::to_value(&m[0].content).unwrap(),
        json!("The user is [EMAIL_1].")
    );
    assert_eq!(
        m[1].content
            .as_ref()
            .map(|c| serde_json::to_value(c).unwrap()),
        Some(json!([
            {"type": "text", "text": "Mail [EMAIL_1] and [EMAIL_2], call [PHONE_1]"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
        ]))
    );
    let args: serde_json::Value =
        serde_json::from_str(&m[2].tool_calls.as_ref().unwrap()[0].function.arguments).unwrap();
    assert_eq!(args, json!({"to": "[EMAIL_2]", "cc": ["[EMAIL_1]"]}));
    assert_eq!(
        serde_json::to_value(&m[3].content).unwrap(),
        json!("sent to [EMAIL_2]")
    );

    let v = &masked.vault;
    assert_eq!(v.len(), 3);
    assert_eq!(v.original("[EMAIL_1]"), Some("ann@example.com"));
    assert_eq!(v.original("[PHONE_1]"), Some("+44 20 7946 0958"));
    let hits: Vec<(&str, usize)> = masked.hits[0]
        .iter()
        .map(|h| (h.kind.as_str(), h.count))
        .collect();
    assert_eq!(hits, [("email", 6), ("phone", 1)]);
}

#[test]
fn a_request_without_detections_keeps_its_raw_bytes() {
    let mut req =
        request(json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]}));
    let s = scanner(&Entity::ALL);
    let masked = Masker::new().add(&s, true).mask(&mut req);
    assert!(!masked.changed && masked.vault.is_empty());
    assert!(req.raw.is_some());
}

#[test]
fn placeholders_the_client_wrote_are_never_reused() {
    let mut req = request(json!({"model": "m", "messages": [
        {"role": "user", "content": "Write [EMAIL_1] literally, then mail ann@example.com"},
        {"role": "user", "content": "and [EMAIL_2] too"}
    ]}));
    let s = scanner(&[Entity::Email]);
    let masked = Masker::new().add(&s, true).mask(&mut req);
    assert_eq!(
        serde_json::to_value(&req.messages[0].content).unwrap(),
        json!("Write [EMAIL_1] literally, then mail [EMAIL_3]")
    );
    assert_eq!(
        masked.vault.restore("[EMAIL_1] [EMAIL_3]"),
        "[EMAIL_1] ann@example.com"
    );
}

#[test]
fn the_answer_gets_the_values_back_in_content_and_tool_arguments() {
    let mut req = request(json!({"model": "m", "messages": [
        {"role": "user", "content": "Key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\nfor \"ann\"@example.com? no: ann@example.com"}
    ]}));
    let s = scanner(&[Entity::Email, Entity::Secret]);
    let masked = Masker::new().add(&s, true).mask(&mut req);
    let mut resp: ChatResponse = serde_json::from_value(json!({
        "id": "r", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant",
            "content": "Stored [SECRET_1] for [EMAIL_1]; [EMAIL_9] is unknown.",
            "tool_calls": [{"id": "c", "type": "function",
                "function": {"name": "store", "arguments": "{\"key\":\"[SECRET_1]\",\"owner\":\"[EMAIL_1]\"}"}}]
        }}]
    }))
    .unwrap();
    resp.raw = Some(Bytes::from_static(b"{}"));

    assert!(masked.vault.restore_response(&mut resp));
    assert_eq!(resp.raw, None);
    let message = &resp.choices[0].message;
    let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----";
    assert_eq!(
        serde_json::to_value(&message.content).unwrap(),
        json!(format!(
            "Stored {key} for ann@example.com; [EMAIL_9] is unknown."
        ))
    );
    let args: serde_json::Value =
        serde_json::from_str(&message.tool_calls.as_ref().unwrap()[0].function.arguments)
            .expect("restored arguments stay valid JSON");
    assert_eq!(args, json!({"key": key, "owner": "ann@example.com"}));
}

#[test]
fn values_of_checks_without_restore_stay_masked() {
    let mut req = request(json!({"model": "m", "messages": [
        {"role": "user", "content": "card 4111 1111 1111 1111, mail ann@example.com"}
    ]}));
    let (cards, emails) = (scanner(&[Entity::Card]), scanner(&[Entity::Email]));
    let masked = Masker::new()
        .add(&cards, false)
        .add(&emails, true)
        .mask(&mut req);
    assert_eq!(
        masked.vault.restore("[CARD_1] / [EMAIL_1]"),
        "[CARD_1] / ann@example.com"
    );
    assert_eq!(masked.vault.max_placeholder_len(), "[EMAIL_1]".len());
}
