//! The shared backend: Redis, so every replica sees the same entries.
//!
//! An entry is one string key, `{prefix}{model tag}:{scope tag}:{key hash}`, where the tags
//! are the first 128 bits of the blake3 hash of the model name and of the scope id (fixed
//! width, no characters that SCAN patterns treat specially), and its value is the entry's
//! stored form ([`Entry::encode`]), written with `SET … PX ttl` so Redis expires it. A purge
//! by model or scope is a `SCAN MATCH` over the matching prefix with `UNLINK` of each batch.
//!
//! The semantic rows of one partition are a stream, `{prefix}{model tag}:{scope tag}:sem:
//! {prefix hash}` (so purges by model or scope remove it too): each row is appended with
//! `XADD … MAXLEN ~ 1000`, keeping about the newest [`STORED_PER_PARTITION`], and the stream
//! lives as long as its longest-lived row. Reading a partition the first time is one
//! `XREVRANGE … COUNT 1000`; after that, `XRANGE` from the last position read returns only
//! the rows added since.
//!
//! The connection is a `redis` `ConnectionManager`, created lazily and re-established in
//! the background after a failure. Every command is bounded by the configured timeout, and
//! after a failure Redis is left alone for [`PAUSE_AFTER_FAILURE`], so an unreachable Redis
//! costs each request at most one timeout per pause rather than one per request. TLS
//! (`rediss://`) is not compiled in.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::entry::now_ms;
use crate::semantic::{Batch, Record, STORED_PER_PARTITION, SemanticKey};
use crate::{Backend, CacheError, CacheKey, Entry, Purge};

/// How long Redis is skipped after a command failed or timed out.
pub const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(1);
/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "sluice:cache:";
/// Keys asked for per `SCAN` call while purging.
const SCAN_BATCH: usize = 1000;
/// The least time a purge's commands get, whatever the lookup timeout.
const PURGE_TIMEOUT: Duration = Duration::from_secs(5);

/// The Redis backend.
pub struct RedisBackend {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    /// Unix milliseconds until which Redis is not asked (after a failure).
    paused_until: AtomicU64,
    /// Appends a semantic row and extends its stream's life.
    append: redis::Script,
}

impl RedisBackend {
    /// A backend on the Redis at `url` (`redis://…`), with keys under `prefix` and every
    /// command bounded by `timeout`. Connects on first use; must be called inside a tokio
    /// runtime.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, CacheError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(CacheError::Unavailable(
                "the Redis cache must be created inside the async runtime".into(),
            ));
        }
        let client = redis::Client::open(url).map_err(redis_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.max(Duration::from_millis(500))))
            .set_response_timeout(None)
            .set_number_of_retries(2);
        let conn = client
            .get_connection_manager_lazy(config)
            .map_err(redis_error)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            timeout,
            paused_until: AtomicU64::new(0),
            append: redis::Script::new(include_str!("semantic/append.lua")),
        })
    }

    /// Checks that Redis answers (`PING`).
    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("PING");
        self.bounded(self.timeout, cmd.query_async::<String>(&mut conn))
            .await
            .map(drop)
    }

    /// The Redis key of `key`.
    pub fn redis_key(&self, key: &CacheKey) -> String {
        format!(
            "{}{}:{}:{}",
            self.prefix,
            tag(key.model()),
            tag(key.scope().as_str()),
            key.hex()
        )
    }

    /// The Redis key of the semantic stream of `key`'s partition.
    pub fn semantic_key(&self, key: &SemanticKey) -> String {
        format!(
            "{}{}:{}:sem:{}",
            self.prefix,
            tag(key.model()),
            tag(key.scope().as_str()),
            key.hex()
        )
    }

    async fn read_stream(
        &self,
        key: &SemanticKey,
        after: Option<&str>,
    ) -> Result<Option<Batch>, CacheError> {
        let mut conn = self.conn.clone();
        let stream = self.semantic_key(key);
        let mut cmd = match after {
            None => {
                let mut c = redis::cmd("XREVRANGE");
                c.arg(&stream).arg("+").arg("-");
                c
            }
            Some(id) => {
                let mut c = redis::cmd("XRANGE");
                c.arg(&stream).arg(format!("({id}")).arg("+");
                c
            }
        };
        cmd.arg("COUNT").arg(STORED_PER_PARTITION);
        let mut rows: StreamRows = self
            .bounded(self.timeout, cmd.query_async(&mut conn))
            .await?;
        if after.is_none() {
            rows.reverse();
        }
        let cursor = rows
            .last()
            .map(|(id, _)| id.clone())
            .or(after.map(str::to_owned));
        let now = now_ms();
        let records = rows
            .iter()
            .filter_map(|(_, fields)| fields.get("r"))
            .filter_map(|bytes| match Record::decode(bytes) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::debug!(error = %e, "semantic row skipped");
                    None
                }
            })
            .filter(|r| r.expires_ms > now)
            .collect();
        Ok(Some(Batch { records, cursor }))
    }

    /// Runs one command within `limit`, pausing Redis use after a failure.
    async fn bounded<T>(
        &self,
        limit: Duration,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CacheError> {
        if now_ms() < self.paused_until.load(Ordering::Relaxed) {
            return Err(CacheError::Unavailable(
                "Redis failed recently; skipped".into(),
            ));
        }
        let result = match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => redis_error(e),
            Err(_) => CacheError::Timeout(limit),
        };
        let pause = u64::try_from(PAUSE_AFTER_FAILURE.as_millis()).unwrap_or(1000);
        self.paused_until
            .store(now_ms().saturating_add(pause), Ordering::Relaxed);
        Err(result)
    }

    /// The SCAN pattern of the keys `filter` selects.
    fn pattern(&self, filter: &Purge) -> String {
        let mut p = glob_escape(&self.prefix);
        match (&filter.model, &filter.scope) {
            (None, None) => p.push('*'),
            (Some(m), None) => p.push_str(&format!("{}:*", tag(m))),
            (None, Some(s)) => p.push_str(&format!("*:{}:*", tag(s.as_str()))),
            (Some(m), Some(s)) => p.push_str(&format!("{}:{}:*", tag(m), tag(s.as_str()))),
        }
        p
    }

    async fn purge_matching(&self, filter: &Purge) -> Result<u64, CacheError> {
        let limit = self.timeout.max(PURGE_TIMEOUT);
        let pattern = self.pattern(filter);
        let mut conn = self.conn.clone();
        let mut cursor = 0u64;
        let mut purged = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH);
            let (next, keys): (u64, Vec<String>) =
                self.bounded(limit, scan.query_async(&mut conn)).await?;
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&keys);
                let n: u64 = self.bounded(limit, unlink.query_async(&mut conn)).await?;
                purged += n;
            }
            if next == 0 {
                return Ok(purged);
            }
            cursor = next;
        }
    }
}

impl Backend for RedisBackend {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn get<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<Arc<Entry>>, CacheError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let mut cmd = redis::cmd("GET");
            cmd.arg(self.redis_key(key));
            let value: Option<Vec<u8>> = self
                .bounded(self.timeout, cmd.query_async(&mut conn))
                .await?;
            value
                .map(|bytes| Entry::decode(&bytes).map(Arc::new))
                .transpose()
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a CacheKey,
        entry: Arc<Entry>,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            let value = entry.encode()?;
            let mut conn = self.conn.clone();
            let mut cmd = redis::cmd("SET");
            cmd.arg(self.redis_key(key))
                .arg(value)
                .arg("PX")
                .arg(entry.ttl_ms);
            self.bounded(self.timeout, cmd.query_async::<()>(&mut conn))
                .await
        })
    }

    fn purge<'a>(&'a self, filter: &'a Purge) -> BoxFuture<'a, Result<u64, CacheError>> {
        Box::pin(self.purge_matching(filter))
    }

    fn append_semantic<'a>(
        &'a self,
        key: &'a SemanticKey,
        record: &'a Record,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let mut call = self.append.key(self.semantic_key(key));
            call.arg(STORED_PER_PARTITION)
                .arg(record.encode())
                .arg(ttl_ms);
            self.bounded(self.timeout, call.invoke_async::<i64>(&mut conn))
                .await
                .map(drop)
        })
    }

    fn read_semantic<'a>(
        &'a self,
        key: &'a SemanticKey,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Batch>, CacheError>> {
        Box::pin(self.read_stream(key, after))
    }
}

/// Stream entries as Redis returns them: id, then the fields.
type StreamRows = Vec<(String, std::collections::HashMap<String, Vec<u8>>)>;

/// 32 hex digits (128 bits) of the blake3 hash of `s`.
fn tag(s: &str) -> String {
    crate::key::hex(&blake3::hash(s.as_bytes()).as_bytes()[..16])
}

/// `s` with the characters SCAN patterns treat specially escaped.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn redis_error(e: redis::RedisError) -> CacheError {
    CacheError::Redis(e.to_string())
}

#[cfg(test)]
#[path = "redis_tests.rs"]
mod tests;
