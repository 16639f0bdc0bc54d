//! Sluice's response cache: exact-match keys, entries, storage and streams, and the
//! semantic cache on top of them.
//!
//! A request is cacheable once it has been routed: its [`CacheKey`] is the blake3 hash of a
//! documented canonical form ([`key`]) of everything that changes the answer (the resolved
//! model group, messages with content parts normalised, tools, response format, sampling
//! parameters and any other field except `stream`, `stream_options`, `user`, `metadata` and
//! `store`), prefixed by the [`Scope`] that may see the entry, so one tenant's answers can
//! never be served to another. An [`Entry`] is the complete answer as OpenAI chat JSON
//! (the upstream's own bytes when it spoke OpenAI), with who answered and when. Entries live
//! behind the small [`Backend`] trait, in process ([`MemoryBackend`], moka bounded by bytes
//! and entries) or in Redis ([`RedisBackend`], shared by replicas); [`Cache`] wraps a
//! backend with the metrics and the rule that the cache never fails a request: a backend
//! error is logged and counts as a miss. Streams are stored only when they finished cleanly,
//! assembled chunk by chunk by the [`Accumulator`]; a hit for a streaming client is replayed
//! as chunks by [`replay`]. The [`semantic`] cache serves a question that means the same as
//! an answered one in the same conversation: its rows point at exact-cache entries, live in
//! an in-process index, and are kept by the backend too when it is shared. This crate does
//! no HTTP and calls no embedder: the server decides when to look up and store, embeds the
//! questions, and writes the answers.

pub mod key;
pub mod semantic;

mod entry;
mod memory;
mod redis_backend;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use entry::Entry;
pub use key::{CacheKey, IGNORED_FIELDS, KEY_VERSION, Scope, canonical_form};
pub use memory::MemoryBackend;
pub use redis_backend::{DEFAULT_PREFIX, PAUSE_AFTER_FAILURE, RedisBackend};
pub use stream::{Accumulator, replay};

use semantic::{Batch, Record, SemanticKey};

/// Lookups that found an entry, by model.
pub const HITS: &str = "sluice_cache_hits_total";
/// Lookups that found none (or failed), by model.
pub const MISSES: &str = "sluice_cache_misses_total";
/// Bytes held by the in-memory backend.
pub const BYTES: &str = "sluice_cache_bytes";
/// Entries the in-memory backend removed for space (`size`) or age (`expired`).
pub const EVICTIONS: &str = "sluice_cache_evictions_total";

/// Why a cache operation failed. The request path never sees one: lookups that fail are
/// misses, and writes that fail are logged.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(String),
    /// A command took longer than the configured timeout.
    #[error("the cache did not answer within {0:?}")]
    Timeout(Duration),
    /// The backend is not usable now.
    #[error("the cache is unavailable: {0}")]
    Unavailable(String),
    /// An entry could not be written or read back.
    #[error("cache entry: {0}")]
    Encoding(String),
}

impl From<serde_json::Error> for CacheError {
    fn from(e: serde_json::Error) -> Self {
        Self::Encoding(e.to_string())
    }
}

/// Which entries a purge removes: those of `model` and of `scope`; a `None` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purge {
    /// Only entries of this model group.
    pub model: Option<String>,
    /// Only entries of this scope.
    pub scope: Option<Scope>,
}

impl Purge {
    /// Whether an entry of `model` in `scope` is selected.
    pub fn matches(&self, model: &str, scope: &str) -> bool {
        self.model.as_deref().is_none_or(|m| m == model)
            && self.scope.as_ref().is_none_or(|s| s.as_str() == scope)
    }
}

/// Where entries are kept.
pub trait Backend: Send + Sync {
    /// `memory` or `redis`.
    fn name(&self) -> &'static str;
    /// The live entry under `key`, if any.
    fn get<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<Arc<Entry>>, CacheError>>;
    /// Stores `entry` under `key` for the entry's TTL, replacing any other.
    fn put<'a>(
        &'a self,
        key: &'a CacheKey,
        entry: Arc<Entry>,
    ) -> BoxFuture<'a, Result<(), CacheError>>;
    /// Removes the entries `filter` selects (semantic rows it keeps included); returns how
    /// many keys it removed.
    fn purge<'a>(&'a self, filter: &'a Purge) -> BoxFuture<'a, Result<u64, CacheError>>;

    /// Keeps a semantic row for other processes, for `ttl`. A backend that is not shared
    /// keeps none: the in-process index is all there is.
    fn append_semantic<'a>(
        &'a self,
        _key: &'a SemanticKey,
        _record: &'a Record,
        _ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async { Ok(()) })
    }

    /// The semantic rows of a partition kept after the position `after` (the newest
    /// [`semantic::STORED_PER_PARTITION`] when `None`); `None` when the backend keeps none.
    fn read_semantic<'a>(
        &'a self,
        _key: &'a SemanticKey,
        _after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Batch>, CacheError>> {
        Box::pin(async { Ok(None) })
    }
}

/// A backend with metrics and the semantic index, used by the request path: it never
/// fails.
pub struct Cache {
    backend: Box<dyn Backend>,
    index: semantic::Index,
}

/// Default bounds of the semantic index: entries, and bytes.
const INDEX_LIMITS: (u64, u64) = (100_000, 256 * 1024 * 1024);

impl Cache {
    /// A cache over `backend`, its semantic index bounded by the default 100,000 rows and
    /// 256 MiB.
    pub fn new(backend: impl Backend + 'static) -> Self {
        Self {
            backend: Box::new(backend),
            index: semantic::Index::new(INDEX_LIMITS.0, INDEX_LIMITS.1),
        }
    }

    /// The same cache with its semantic index bounded by `max_entries` rows and
    /// `max_bytes` bytes.
    pub fn with_semantic_limits(mut self, max_entries: u64, max_bytes: u64) -> Self {
        self.index = semantic::Index::new(max_entries, max_bytes);
        self
    }

    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        self.backend.name()
    }

    /// The entry for `key`, counting a hit or a miss for its model. A backend failure is
    /// logged and is a miss.
    pub async fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        let found = match self.backend.get(key).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(error = %e, backend = self.backend(), "cache lookup failed; treated as a miss");
                None
            }
        };
        let name = if found.is_some() { HITS } else { MISSES };
        metrics::counter!(name, "model" => key.model().to_owned()).increment(1);
        found
    }

    /// Stores `entry` under `key`; a failure is logged.
    pub async fn put(&self, key: &CacheKey, entry: Entry) {
        if let Err(e) = self.backend.put(key, Arc::new(entry)).await {
            tracing::warn!(error = %e, backend = self.backend(), "cache write failed");
        }
    }

    /// Removes the entries and semantic rows `filter` selects; returns how many entries
    /// (and, for Redis, stored semantic partitions) the backend removed.
    pub async fn purge(&self, filter: &Purge) -> Result<u64, CacheError> {
        self.index.purge(filter);
        self.backend.purge(filter).await
    }
}
