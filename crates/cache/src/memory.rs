//! The in-process backend: a `moka` cache bounded by bytes and by entries at once.
//!
//! moka bounds one total weight. Each entry weighs its size, but at least
//! `max_bytes / max_entries`, so the total weight staying under `max_bytes` keeps both the
//! bytes (sizes never exceed weights) and the count (each weighs at least its share) within
//! their limits; the least useful entries go first (moka's TinyLFU). Every entry expires
//! after its own TTL: moka removes it then, and a lookup treats it as gone from that moment
//! by the tokio clock (so tests can pause time). The bytes of live entries are counted
//! exactly for `sluice_cache_bytes`: added on insert, subtracted in the removal listener.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use moka::notification::RemovalCause;
use moka::policy::Expiry;

use crate::{BYTES, Backend, CacheError, CacheKey, EVICTIONS, Entry, Purge};

/// One stored entry with its expiry by the tokio clock.
#[derive(Clone)]
struct Slot {
    entry: Arc<Entry>,
    expires: tokio::time::Instant,
    size: u64,
}

/// Each entry lives for its own TTL.
struct PerEntryTtl;

impl Expiry<[u8; 32], Slot> for PerEntryTtl {
    fn expire_after_create(&self, _: &[u8; 32], slot: &Slot, _: Instant) -> Option<Duration> {
        Some(slot.entry.ttl())
    }

    fn expire_after_update(
        &self,
        _: &[u8; 32],
        slot: &Slot,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(slot.entry.ttl())
    }
}

/// The in-memory backend.
pub struct MemoryBackend {
    cache: moka::sync::Cache<[u8; 32], Slot>,
    bytes: Arc<AtomicU64>,
}

impl MemoryBackend {
    /// A cache holding at most `max_bytes` of entries and at most `max_entries` of them.
    pub fn new(max_bytes: u64, max_entries: u64) -> Self {
        let floor = (max_bytes / max_entries.max(1)).max(1);
        let bytes = Arc::new(AtomicU64::new(0));
        let counted = bytes.clone();
        let cache = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |_, slot: &Slot| u32::try_from(slot.size.max(floor)).unwrap_or(u32::MAX))
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_, slot: Slot, cause| {
                let left = counted
                    .fetch_sub(slot.size, Ordering::Relaxed)
                    .saturating_sub(slot.size);
                metrics::gauge!(BYTES).set(left as f64);
                let reason = match cause {
                    RemovalCause::Size => "size",
                    RemovalCause::Expired => "expired",
                    RemovalCause::Explicit | RemovalCause::Replaced => return,
                };
                metrics::counter!(EVICTIONS, "reason" => reason).increment(1);
            })
            .build();
        Self { cache, bytes }
    }

    /// Live entries and their bytes, after pending maintenance (evictions, expiry) ran.
    pub fn usage(&self) -> (u64, u64) {
        self.cache.run_pending_tasks();
        (self.cache.entry_count(), self.bytes.load(Ordering::Relaxed))
    }

    fn get_now(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let slot = self.cache.get(key.hash())?;
        if slot.expires <= tokio::time::Instant::now() {
            self.cache.invalidate(key.hash());
            return None;
        }
        Some(slot.entry)
    }

    fn put_now(&self, key: &CacheKey, entry: Arc<Entry>) {
        let size = entry.size();
        let expires = tokio::time::Instant::now() + entry.ttl();
        let now = self.bytes.fetch_add(size, Ordering::Relaxed) + size;
        metrics::gauge!(BYTES).set(now as f64);
        self.cache.insert(
            *key.hash(),
            Slot {
                entry,
                expires,
                size,
            },
        );
    }

    fn purge_now(&self, filter: &Purge) -> u64 {
        let mut purged = 0;
        for (hash, slot) in self.cache.iter() {
            if filter.matches(&slot.entry.model, &slot.entry.scope) {
                self.cache.invalidate(&*hash);
                purged += 1;
            }
        }
        purged
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn get<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<Arc<Entry>>, CacheError>> {
        let found = self.get_now(key);
        Box::pin(async move { Ok(found) })
    }

    fn put<'a>(
        &'a self,
        key: &'a CacheKey,
        entry: Arc<Entry>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        self.put_now(key, entry);
        Box::pin(async { Ok(()) })
    }

    fn purge<'a>(&'a self, filter: &'a Purge) -> BoxFuture<'a, Result<u64, CacheError>> {
        let purged = self.purge_now(filter);
        Box::pin(async move { Ok(purged) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sluice_types::{ChatRequest, ChatResponse};

    use super::*;
    use crate::Scope;

    fn key(text: &str, model: &str, scope: Scope) -> CacheKey {
        let req: ChatRequest = serde_json::from_value(serde_json::json!({
            "model": model, "messages": [{"role": "user", "content": text}]
        }))
        .unwrap();
        CacheKey::new(&req, model, scope).unwrap()
    }

    fn entry(k: &CacheKey, text: &str, ttl: Duration) -> Arc<Entry> {
        let resp = ChatResponse {
            id: text.into(),
            ..Default::default()
        };
        Arc::new(Entry::new(k.model(), k.scope().as_str(), ("p", "u"), resp, ttl).unwrap())
    }

    #[tokio::test]
    async fn stores_and_finds_by_key() {
        let m = MemoryBackend::new(1 << 20, 100);
        let k = key("a", "fast", Scope::global());
        assert!(m.get(&k).await.unwrap().is_none());
        let e = entry(&k, "a", Duration::from_secs(60));
        m.put(&k, e.clone()).await.unwrap();
        assert_eq!(m.get(&k).await.unwrap(), Some(e.clone()));
        assert!(
            m.get(&key("b", "fast", Scope::global()))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(m.usage(), (1, e.size()));
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_their_ttl() {
        let m = MemoryBackend::new(1 << 20, 100);
        let k = key("a", "fast", Scope::global());
        m.put(&k, entry(&k, "a", Duration::from_secs(10)))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(m.get(&k).await.unwrap().is_some());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(m.get(&k).await.unwrap().is_none());
        assert_eq!(m.usage().0, 0, "the expired entry was dropped");
    }

    #[tokio::test]
    async fn the_entry_limit_holds() {
        let m = MemoryBackend::new(1 << 30, 10);
        for i in 0..100 {
            let k = key(&i.to_string(), "fast", Scope::global());
            m.put(&k, entry(&k, "x", Duration::from_secs(60)))
                .await
                .unwrap();
        }
        let (entries, _) = m.usage();
        assert!(entries <= 10, "{entries} entries");
    }

    #[tokio::test]
    async fn the_byte_limit_holds() {
        let one = {
            let k = key("0", "fast", Scope::global());
            entry(&k, "x", Duration::from_secs(60)).size()
        };
        let m = MemoryBackend::new(one * 5, 1_000_000);
        for i in 0..50 {
            let k = key(&i.to_string(), "fast", Scope::global());
            m.put(&k, entry(&k, "x", Duration::from_secs(60)))
                .await
                .unwrap();
        }
        let (entries, bytes) = m.usage();
        assert!(bytes <= one * 5, "{bytes} bytes in {entries} entries");
        assert!(entries >= 1);
    }

    #[tokio::test]
    async fn purges_by_model_scope_or_everything() {
        let m = MemoryBackend::new(1 << 20, 100);
        let a = Scope::for_key(Some("sk-a"));
        let b = Scope::for_key(Some("sk-b"));
        let keys = [
            key("1", "fast", a.clone()),
            key("2", "fast", b.clone()),
            key("3", "smart", a.clone()),
            key("4", "smart", b.clone()),
        ];
        for k in &keys {
            m.put(k, entry(k, "x", Duration::from_secs(60)))
                .await
                .unwrap();
        }
        let by_model = Purge {
            model: Some("fast".into()),
            scope: None,
        };
        assert_eq!(m.purge(&by_model).await.unwrap(), 2);
        assert!(m.get(&keys[0]).await.unwrap().is_none());
        assert!(m.get(&keys[2]).await.unwrap().is_some());
        let by_scope = Purge {
            model: None,
            scope: Some(a),
        };
        assert_eq!(m.purge(&by_scope).await.unwrap(), 1);
        assert!(m.get(&keys[2]).await.unwrap().is_none());
        assert!(m.get(&keys[3]).await.unwrap().is_some());
        assert_eq!(m.purge(&Purge::default()).await.unwrap(), 1);
        assert_eq!(m.usage(), (0, 0));
    }
}
