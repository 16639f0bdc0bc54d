//! What changes a cache key and what does not.

use bytes::Bytes;
use serde_json::{Value, json};
use sluice_types::ChatRequest;

use super::*;

/// A request as the OpenAI chat route parses it: typed fields plus the client's bytes.
fn raw(body: &str) -> ChatRequest {
    let mut req: ChatRequest = serde_json::from_str(body).unwrap();
    req.raw = Some(Bytes::copy_from_slice(body.as_bytes()));
    req
}

/// A request the gateway built or changed: typed fields only.
fn typed(body: &str) -> ChatRequest {
    serde_json::from_str(body).unwrap()
}

fn key(req: &ChatRequest) -> CacheKey {
    CacheKey::new(req, "fast", Scope::global()).unwrap()
}

fn form(req: &ChatRequest) -> String {
    String::from_utf8(canonical_form(req, "fast", &Scope::global()).unwrap()).unwrap()
}

/// `base` with `field` set to `value`, as client bytes.
fn with(field: &str, value: Value) -> ChatRequest {
    let mut v = base();
    v[field] = value;
    raw(&v.to_string())
}

fn base() -> Value {
    json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]})
}

#[test]
fn the_canonical_form_is_documented_json() {
    let req = raw(
        r#"{ "model": "m", "stream": true, "messages": [ {"role": "user", "content": [{"type": "text", "text": "a  b"}]} ], "temperature": 0.5 }"#,
    );
    assert_eq!(
        form(&req),
        r#"{"sluice_cache":1,"scope":"global","model":"fast","request":{"messages":[{"role":"user","content":"a  b"}],"temperature":0.5}}"#
    );
    let parsed: Value = serde_json::from_str(&form(&req)).unwrap();
    assert_eq!(parsed["request"]["temperature"], 0.5);
}

#[test]
fn a_plain_string_and_a_single_text_part_are_the_same() {
    let plain = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let part =
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#;
    let reordered =
        r#"{"model":"m","messages":[{"role":"user","content":[{"text":"hi","type":"text"}]}]}"#;
    assert_eq!(key(&raw(plain)), key(&raw(part)));
    assert_eq!(key(&raw(plain)), key(&raw(reordered)));
    assert_eq!(key(&typed(plain)), key(&typed(part)));
}

#[test]
fn other_content_parts_are_not_normalised() {
    let plain = key(&raw(
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
    ));
    for content in [
        json!([{"type": "text", "text": "h"}, {"type": "text", "text": "i"}]),
        json!([{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]),
        json!([{"type": "input_text", "text": "hi"}]),
        json!([]),
    ] {
        let req = json!({"model": "m", "messages": [{"role": "user", "content": content}]});
        assert_ne!(key(&raw(&req.to_string())), plain, "{content}");
    }
}

#[test]
fn stream_user_metadata_store_and_the_model_name_are_ignored() {
    let plain = key(&raw(&base().to_string()));
    for (field, value) in [
        ("stream", json!(true)),
        ("stream_options", json!({"include_usage": true})),
        ("user", json!("u-1")),
        ("metadata", json!({"a": "b"})),
        ("store", json!(true)),
        ("model", json!("another-name")),
    ] {
        assert_eq!(key(&with(field, value.clone())), plain, "{field}");
        let mut t = base();
        t[field] = value;
        assert_eq!(
            form(&typed(&t.to_string())),
            form(&typed(&base().to_string())),
            "{field} (typed)"
        );
    }
}

#[test]
fn every_output_changing_field_changes_the_key() {
    let plain = key(&raw(&base().to_string()));
    let cases = [
        ("temperature", json!(0.2)),
        ("top_p", json!(0.9)),
        ("max_tokens", json!(10)),
        ("max_completion_tokens", json!(10)),
        ("stop", json!(["\n"])),
        ("n", json!(2)),
        ("presence_penalty", json!(0.5)),
        ("frequency_penalty", json!(0.5)),
        ("seed", json!(7)),
        ("reasoning_effort", json!("low")),
        ("logprobs", json!(true)),
        ("top_logprobs", json!(3)),
        ("logit_bias", json!({"50256": -100})),
        ("response_format", json!({"type": "json_object"})),
        ("tool_choice", json!("required")),
        ("parallel_tool_calls", json!(false)),
        (
            "tools",
            json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        ),
        ("service_tier", json!("flex")),
    ];
    let mut seen = vec![plain.clone()];
    for (field, value) in cases {
        let k = key(&with(field, value));
        assert!(!seen.contains(&k), "{field} must change the key");
        seen.push(k);
    }
    assert_ne!(
        key(&with("temperature", json!(0.2))),
        key(&with("temperature", json!(0.3)))
    );
}

#[test]
fn messages_roles_and_order_matter() {
    let a = json!({"model": "m", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]});
    let b = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}, {"role": "system", "content": "be brief"}]});
    let c = json!({"model": "m", "messages": [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}]});
    let ka = key(&raw(&a.to_string()));
    assert_ne!(ka, key(&raw(&b.to_string())));
    assert_ne!(ka, key(&raw(&c.to_string())));
    assert_ne!(ka, key(&raw(&base().to_string())));
}

#[test]
fn the_resolved_model_and_the_scope_are_part_of_the_key() {
    let req = raw(&base().to_string());
    let k = |model: &str, scope: Scope| CacheKey::new(&req, model, scope).unwrap();
    assert_ne!(k("fast", Scope::global()), k("smart", Scope::global()));
    assert_ne!(
        k("fast", Scope::for_key(Some("sk-a"))),
        k("fast", Scope::for_key(Some("sk-b")))
    );
    assert_ne!(k("fast", Scope::for_key(None)), k("fast", Scope::global()));
    assert_eq!(
        k("fast", Scope::for_key(Some("sk-a"))),
        k("fast", Scope::for_key(Some("sk-a")))
    );
}

#[test]
fn scopes_name_the_key_by_its_sha256() {
    assert_eq!(Scope::for_key(None).as_str(), "anonymous");
    assert_eq!(Scope::for_key(Some("")).as_str(), "anonymous");
    assert_eq!(Scope::global().as_str(), "global");
    // SHA-256("abc"), the FIPS 180-2 test vector.
    assert_eq!(
        Scope::for_key(Some("abc")).as_str(),
        "key:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn key_order_is_kept_as_written() {
    let a = r#"{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}}}}}}"#;
    let b = r#"{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"string"}}}}}}"#;
    assert_ne!(key(&raw(a)), key(&raw(b)));
    let top = r#"{"model":"m","temperature":1,"messages":[]}"#;
    let top_swapped = r#"{"model":"m","messages":[],"temperature":1}"#;
    assert_ne!(key(&raw(top)), key(&raw(top_swapped)));
}

#[test]
fn defaults_numbers_and_escapes_are_not_normalised() {
    let plain = key(&raw(&base().to_string()));
    assert_ne!(
        key(&with("n", json!(1))),
        plain,
        "n: 1 is the default, still differs"
    );
    assert_ne!(key(&with("temperature", json!(1))), plain);
    assert_ne!(
        key(&raw(r#"{"model":"m","messages":[],"temperature":1}"#)),
        key(&raw(r#"{"model":"m","messages":[],"temperature":1.0}"#))
    );
    assert_ne!(
        key(&raw(
            r#"{"model":"m","messages":[{"role":"user","content":"A"}]}"#
        )),
        key(&raw(
            r#"{"model":"m","messages":[{"role":"user","content":"\u0041"}]}"#
        ))
    );
}

#[test]
fn whitespace_counts_inside_strings_only() {
    let compact =
        r#"{"model":"m","messages":[{"role":"user","content":"hi there"}],"stop":["a","b"]}"#;
    let pretty = "{\n  \"model\": \"m\",\n  \"messages\": [ { \"role\": \"user\", \"content\": \"hi there\" } ],\n\t\"stop\": [ \"a\", \"b\" ]\n}";
    let inner =
        r#"{"model":"m","messages":[{"role":"user","content":"hi  there"}],"stop":["a","b"]}"#;
    let quoted =
        r#"{"model":"m","messages":[{"role":"user","content":"hi \" there"}],"stop":["a","b"]}"#;
    assert_eq!(key(&raw(compact)), key(&raw(pretty)));
    assert_ne!(key(&raw(compact)), key(&raw(inner)));
    assert!(form(&raw(quoted)).contains(r#""hi \" there""#));
}

#[test]
fn keys_are_full_blake3_hashes() {
    let req = raw(&base().to_string());
    let k = key(&req);
    assert_eq!(k.hex().len(), 64);
    assert_eq!(k.hash(), blake3::hash(form(&req).as_bytes()).as_bytes());
    assert_eq!((k.model(), k.scope().as_str()), ("fast", "global"));
}

#[test]
fn translated_requests_use_their_parsed_form() {
    // No client bytes (an Anthropic Messages request): serialized typed fields stand in, and
    // the ignored fields and content normalisation apply the same way.
    let a = typed(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5}"#);
    let b = typed(
        r#"{"max_tokens":5,"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"model":"m"}"#,
    );
    assert_eq!(key(&a), key(&b));
    let c = typed(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":6}"#);
    assert_ne!(key(&a), key(&c));
}
