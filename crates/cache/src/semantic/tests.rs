//! Questions, skips, and semantic lookups through a [`Cache`] over the memory backend.

use serde_json::{Value, json};
use sluice_types::ChatResponse;

use super::*;
use crate::MemoryBackend;

const POLICY: Policy = Policy {
    threshold: 0.9,
    max_temperature: 1.0,
    skip_tools: true,
};

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn ask(text: &str) -> ChatRequest {
    req(json!({"model": "fast", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": text}
    ]}))
}

fn question(r: &ChatRequest) -> Question {
    Question::new(r, "fast", Scope::global(), &POLICY).unwrap()
}

#[test]
fn the_partition_is_everything_but_the_last_message() {
    let a = question(&ask("How do I reset my password?"));
    let b = question(&ask("how can I reset my password"));
    assert_eq!(a.key(), b.key(), "same conversation, other words");
    assert_eq!(b.text(), "how can I reset my password");
    let other_system = req(json!({"model": "fast", "messages": [
        {"role": "system", "content": "Be thorough."},
        {"role": "user", "content": "How do I reset my password?"}
    ]}));
    assert_ne!(question(&other_system).key(), a.key());
    let mut hot = ask("How do I reset my password?");
    hot.temperature = Some(0.2);
    assert_ne!(
        question(&hot).key(),
        a.key(),
        "parameters are in the prefix"
    );
    let other_scope = Question::new(&ask("x"), "fast", Scope::for_key(Some("k")), &POLICY);
    assert_ne!(other_scope.unwrap().key(), a.key());
    let other_model = Question::new(&ask("x"), "smart", Scope::global(), &POLICY);
    assert_ne!(other_model.unwrap().key(), a.key());
    let exact = CacheKey::new(&ask("x"), "fast", Scope::global()).unwrap();
    assert_ne!(exact.hash(), a.key().prefix(), "never an exact key");
}

#[test]
fn the_policy_skips_tools_hot_sampling_and_non_text() {
    let tools = req(
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}]}),
    );
    let q = |r: &ChatRequest, p: &Policy| Question::new(r, "m", Scope::global(), p).map(|_| ());
    assert_eq!(q(&tools, &POLICY), Err(Skip::Tools));
    let allow = Policy {
        skip_tools: false,
        ..POLICY
    };
    assert_eq!(q(&tools, &allow), Ok(()));
    let mut hot = ask("hi");
    hot.temperature = Some(1.2);
    assert_eq!(q(&hot, &POLICY), Err(Skip::Temperature));
    hot.temperature = Some(1.0);
    assert_eq!(q(&hot, &POLICY), Ok(()), "the maximum itself is allowed");
    let image = req(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:,"}}
        ]}]}),
    );
    assert_eq!(q(&image, &POLICY), Err(Skip::Content));
    let tool_result = req(
        json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "1", "content": "42"}]}),
    );
    assert_eq!(q(&tool_result, &POLICY), Err(Skip::Content));
    let parts = req(
        json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}),
    );
    let parts = Question::new(&parts, "m", Scope::global(), &POLICY).unwrap();
    assert_eq!(parts.text(), "a\nb");
    assert_eq!(Skip::Embedder.reason(), "embedder");
}

/// A cache holding the answer to `text`, embedded as `vector`.
async fn answered(text: &str, vector: Vec<f32>) -> (Cache, CacheKey) {
    let cache = Cache::new(MemoryBackend::new(1 << 20, 100));
    let r = ask(text);
    let exact = CacheKey::new(&r, "fast", Scope::global()).unwrap();
    let resp = ChatResponse {
        id: format!("answer to {text}"),
        ..Default::default()
    };
    let ttl = Duration::from_secs(60);
    let entry = Entry::new("fast", "global", ("p", "u"), resp, ttl).unwrap();
    cache.put(&exact, entry).await;
    cache.semantic_put(&question(&r), vector, &exact, ttl).await;
    (cache, exact)
}

#[tokio::test]
async fn a_close_paraphrase_is_served_the_answer() {
    let (cache, _) = answered("How do I reset my password?", vec![1.0, 0.0]).await;
    let q = question(&ask("how can I reset my password"));
    match cache.semantic_get(&q, vec![3.0, 0.3], 0.9).await {
        Outcome::Hit { entry, score } => {
            assert_eq!(entry.response.id, "answer to How do I reset my password?");
            assert!(score > 0.99 && score < 1.0, "{score}");
        }
        other => panic!("expected a hit, got {other:?}"),
    }
    assert!(matches!(
        cache.semantic_get(&q, vec![0.0, 1.0], 0.9).await,
        Outcome::Miss
    ));
    assert_eq!(cache.semantic_usage().0, 1);
}

#[tokio::test]
async fn a_near_miss_is_vetoed_and_another_conversation_never_matches() {
    let (cache, _) = answered("Set an alarm for 7 am", vec![1.0, 0.0]).await;
    let near = question(&ask("Set an alarm for 7 pm"));
    match cache.semantic_get(&near, vec![1.0, 0.0], 0.9).await {
        Outcome::Vetoed { score, veto } => {
            assert_eq!(veto, Veto::Contrast);
            assert!(score > 0.99);
        }
        other => panic!("expected a veto, got {other:?}"),
    }
    let elsewhere = req(json!({"model": "fast", "messages": [
        {"role": "user", "content": "Set an alarm for 7 am"}
    ]}));
    assert!(matches!(
        cache
            .semantic_get(&question(&elsewhere), vec![1.0, 0.0], 0.9)
            .await,
        Outcome::Miss
    ));
}

#[tokio::test]
async fn a_purged_or_missing_answer_is_a_miss() {
    let (cache, exact) = answered("What is rust?", vec![1.0, 0.0]).await;
    let q = question(&ask("what is Rust"));
    cache
        .purge(&crate::Purge {
            model: Some("fast".into()),
            scope: None,
        })
        .await
        .unwrap();
    assert!(matches!(
        cache.semantic_get(&q, vec![1.0, 0.0], 0.9).await,
        Outcome::Miss
    ));
    assert_eq!(
        cache.semantic_usage().0,
        0,
        "the rows went with the answers"
    );
    // A row whose answer was evicted is dropped at the first lookup.
    let (cache, _) = answered("What is rust?", vec![1.0, 0.0]).await;
    let other = Cache::new(MemoryBackend::new(1 << 20, 100));
    other
        .semantic_put(&q, vec![1.0, 0.0], &exact, Duration::from_secs(60))
        .await;
    assert!(matches!(
        other.semantic_get(&q, vec![1.0, 0.0], 0.9).await,
        Outcome::Miss
    ));
    assert_eq!(other.semantic_usage().0, 0);
    assert!(matches!(
        cache.semantic_get(&q, vec![1.0, 0.0], 0.9).await,
        Outcome::Hit { .. }
    ));
}

#[test]
fn vectors_are_normalised_and_empty_ones_refused() {
    assert_eq!(normalize(vec![3.0, 4.0]), Some(vec![0.6, 0.8]));
    assert_eq!(normalize(vec![0.0, 0.0]), None);
    assert_eq!(normalize(vec![]), None);
    assert_eq!(normalize(vec![f32::NAN]), None);
    assert!(later("1700000000001-0", "1700000000000-5"));
    assert!(later("5-2", "5-1"));
    assert!(!later("5-1", "5-1"));
}
