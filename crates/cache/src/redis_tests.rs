//! The Redis backend against the real Redis at 127.0.0.1:6379, each test under its own key
//! prefix. Without a Redis these tests are skipped with a printed reason, except in CI
//! (`CI=true`), where a missing Redis is a failure.

use std::time::Duration;

use sluice_types::{ChatRequest, ChatResponse};

use super::*;
use crate::Scope;
use crate::semantic::Record;

const URL: &str = "redis://127.0.0.1:6379";

/// A backend under a prefix of its own, or `None` (after saying why) when Redis is not
/// running outside CI.
async fn backend(test: &str) -> Option<RedisBackend> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let prefix = format!("sluice:test:{test}:{}:{nanos}:", std::process::id());
    let b = RedisBackend::new(URL, &prefix, Duration::from_secs(2)).unwrap();
    match b.ping().await {
        Ok(()) => Some(b),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and Redis at {URL} is not reachable: {e}")
        }
        Err(e) => {
            eprintln!("skipping {test}: no Redis at {URL} ({e}); CI=true makes this a failure");
            None
        }
    }
}

fn key(text: &str, model: &str, scope: Scope) -> CacheKey {
    let req: ChatRequest = serde_json::from_value(serde_json::json!({
        "model": model, "messages": [{"role": "user", "content": text}]
    }))
    .unwrap();
    CacheKey::new(&req, model, scope).unwrap()
}

fn entry(k: &CacheKey, ttl: Duration) -> Arc<Entry> {
    let resp: ChatResponse = serde_json::from_value(serde_json::json!({
        "id": "c1", "object": "chat.completion", "created": 1, "model": "gpt",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}]
    }))
    .unwrap();
    Arc::new(Entry::new(k.model(), k.scope().as_str(), ("openai", "gpt"), resp, ttl).unwrap())
}

#[tokio::test]
async fn stores_and_finds_entries() {
    let Some(r) = backend("stores_and_finds_entries").await else {
        return;
    };
    let k = key("a", "fast", Scope::global());
    assert!(r.get(&k).await.unwrap().is_none());
    let e = entry(&k, Duration::from_secs(60));
    r.put(&k, e.clone()).await.unwrap();
    assert_eq!(r.get(&k).await.unwrap().as_deref(), Some(&*e));
    assert!(
        r.get(&key("b", "fast", Scope::global()))
            .await
            .unwrap()
            .is_none()
    );
    r.purge(&Purge::default()).await.unwrap();
}

#[tokio::test]
async fn entries_are_written_with_their_ttl() {
    let Some(r) = backend("entries_are_written_with_their_ttl").await else {
        return;
    };
    let k = key("a", "fast", Scope::global());
    r.put(&k, entry(&k, Duration::from_millis(1500)))
        .await
        .unwrap();
    let mut conn = r.conn.clone();
    let mut cmd = redis::cmd("PTTL");
    cmd.arg(r.redis_key(&k));
    let pttl: i64 = cmd.query_async(&mut conn).await.unwrap();
    assert!((1..=1500).contains(&pttl), "PTTL {pttl}");
    assert!(r.redis_key(&k).starts_with(&r.prefix));
    r.purge(&Purge::default()).await.unwrap();
}

#[tokio::test]
async fn purges_by_model_scope_or_everything() {
    let Some(r) = backend("purges_by_model_scope_or_everything").await else {
        return;
    };
    let a = Scope::for_key(Some("sk-a"));
    let b = Scope::for_key(Some("sk-b"));
    let keys = [
        key("1", "fast", a.clone()),
        key("2", "fast", b.clone()),
        key("3", "smart", a.clone()),
        key("4", "smart", b.clone()),
    ];
    for k in &keys {
        r.put(k, entry(k, Duration::from_secs(60))).await.unwrap();
    }
    let by_model = Purge {
        model: Some("fast".into()),
        scope: None,
    };
    assert_eq!(r.purge(&by_model).await.unwrap(), 2);
    assert!(r.get(&keys[0]).await.unwrap().is_none());
    assert!(r.get(&keys[2]).await.unwrap().is_some());
    let by_scope = Purge {
        model: None,
        scope: Some(a),
    };
    assert_eq!(r.purge(&by_scope).await.unwrap(), 1);
    assert!(r.get(&keys[3]).await.unwrap().is_some());
    assert_eq!(r.purge(&Purge::default()).await.unwrap(), 1);
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_then_is_skipped() {
    // Nothing listens on port 1; this needs no Redis.
    let r = RedisBackend::new(
        "redis://127.0.0.1:1",
        DEFAULT_PREFIX,
        Duration::from_millis(500),
    )
    .unwrap();
    let k = key("a", "fast", Scope::global());
    assert!(r.get(&k).await.is_err());
    let again = r.get(&k).await.unwrap_err();
    assert!(
        matches!(again, CacheError::Unavailable(_)),
        "skipped while paused: {again}"
    );
}

#[test]
fn patterns_select_by_tag_and_escape_the_prefix() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let r = RedisBackend::new(URL, "app[1]*:", Duration::from_secs(1)).unwrap();
    let all = r.pattern(&Purge::default());
    assert_eq!(all, "app\\[1\\]\\*:*");
    let model = r.pattern(&Purge {
        model: Some("fast".into()),
        scope: None,
    });
    assert_eq!(model, format!("app\\[1\\]\\*:{}:*", tag("fast")));
    assert_eq!(tag("fast").len(), 32);
    assert!(RedisBackend::new(URL, "x", Duration::from_secs(1)).is_ok());
    drop(_guard);
    assert!(
        RedisBackend::new(URL, "x", Duration::from_secs(1)).is_err(),
        "outside a runtime"
    );
}

fn question(text: &str) -> crate::semantic::Question {
    let req: ChatRequest = serde_json::from_value(serde_json::json!({
        "model": "fast", "messages": [{"role": "user", "content": text}]
    }))
    .unwrap();
    let policy = crate::semantic::Policy {
        threshold: 0.9,
        max_temperature: 1.0,
        skip_tools: true,
    };
    crate::semantic::Question::new(&req, "fast", Scope::global(), &policy).unwrap()
}

fn row(answer: u8, text: &str) -> Record {
    Record {
        answer: [answer; 32],
        expires_ms: now_ms() + 60_000,
        text: text.into(),
        vector: vec![1.0, 0.0],
    }
}

#[tokio::test]
async fn semantic_rows_are_read_back_newest_first_then_incrementally() {
    let Some(r) = backend("semantic_rows_are_read_back").await else {
        return;
    };
    let q = question("what is rust");
    let ttl = Duration::from_secs(60);
    assert!(
        r.read_semantic(q.key(), None)
            .await
            .unwrap()
            .unwrap()
            .cursor
            .is_none()
    );
    r.append_semantic(q.key(), &row(1, "a"), ttl).await.unwrap();
    r.append_semantic(q.key(), &row(2, "b"), Duration::from_secs(5))
        .await
        .unwrap();
    let first = r.read_semantic(q.key(), None).await.unwrap().unwrap();
    let texts: Vec<&str> = first.records.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["a", "b"], "oldest first");
    let mut conn = r.conn.clone();
    let mut cmd = redis::cmd("PTTL");
    cmd.arg(r.semantic_key(q.key()));
    let pttl: i64 = cmd.query_async(&mut conn).await.unwrap();
    assert!(
        (5_000..=60_000).contains(&pttl),
        "the longest row's TTL: {pttl}"
    );
    r.append_semantic(q.key(), &row(3, "c"), ttl).await.unwrap();
    let next = r
        .read_semantic(q.key(), first.cursor.as_deref())
        .await
        .unwrap()
        .unwrap();
    let texts: Vec<&str> = next.records.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts, ["c"], "only what was added since");
    let purge = Purge {
        model: Some("fast".into()),
        scope: None,
    };
    assert_eq!(r.purge(&purge).await.unwrap(), 1, "the stream is one key");
    assert!(
        r.read_semantic(q.key(), None)
            .await
            .unwrap()
            .unwrap()
            .records
            .is_empty()
    );
}

#[tokio::test]
async fn a_second_cache_on_the_same_redis_finds_the_first_ones_rows() {
    let Some(a) = backend("a_second_cache_finds_rows").await else {
        return;
    };
    let b = RedisBackend::new(URL, &a.prefix, Duration::from_secs(2)).unwrap();
    let (a, b) = (crate::Cache::new(a), crate::Cache::new(b));
    let req: ChatRequest = serde_json::from_value(serde_json::json!({
        "model": "fast", "messages": [{"role": "user", "content": "What is Rust?"}]
    }))
    .unwrap();
    let exact = CacheKey::new(&req, "fast", Scope::global()).unwrap();
    let answer = Arc::unwrap_or_clone(entry(&exact, Duration::from_secs(60)));
    a.put(&exact, answer).await;
    let ttl = Duration::from_secs(60);
    a.semantic_put(&question("What is Rust?"), vec![1.0, 0.0], &exact, ttl)
        .await;
    let asked = question("what is Rust");
    let before = b.semantic_get(&asked, vec![1.0, 0.1], 0.9).await;
    assert!(
        matches!(before, crate::semantic::Outcome::Miss),
        "not read yet"
    );
    b.sync_semantic(asked.key()).await;
    let after = b.semantic_get(&asked, vec![1.0, 0.1], 0.9).await;
    assert!(
        matches!(after, crate::semantic::Outcome::Hit { .. }),
        "{after:?}"
    );
    a.purge(&Purge::default()).await.unwrap();
}
