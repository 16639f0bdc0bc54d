//! State shared between a [`crate::MockUpstream`] handle and its server task:
//! the request log, the behaviour queue, settings and cancellation signals.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::Behavior;

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path and query, e.g. `/openai/deployments/d/chat/completions?api-version=2024-10-21`.
    pub path: String,
    /// Headers in arrival order, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The full request body.
    pub body: Bytes,
}

impl Recorded {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The value of a query parameter, if present (not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        let (_, query) = self.path.split_once('?')?;
        query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Everything the server task and the handle share.
pub(crate) struct State {
    record: bool,
    recorded: Mutex<Vec<Recorded>>,
    count: AtomicU64,
    queue: Mutex<VecDeque<Behavior>>,
    queued: AtomicUsize,
    latency_us: AtomicU64,
    chunk_interval_us: AtomicU64,
    /// Share of requests (per million) answered with a 500 when no behaviour is queued.
    fail_per_million: AtomicU32,
    closed: Mutex<Vec<Instant>>,
    closed_tx: watch::Sender<usize>,
    /// The access tokens the Vertex AI token endpoint issued.
    pub(crate) tokens: crate::vertex::Tokens,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl State {
    pub(crate) fn new(record: bool, latency: Duration, chunk_interval: Duration) -> Self {
        let (closed_tx, _) = watch::channel(0);
        State {
            record,
            recorded: Mutex::new(Vec::new()),
            count: AtomicU64::new(0),
            queue: Mutex::new(VecDeque::new()),
            queued: AtomicUsize::new(0),
            latency_us: AtomicU64::new(to_us(latency)),
            chunk_interval_us: AtomicU64::new(to_us(chunk_interval)),
            fail_per_million: AtomicU32::new(0),
            closed: Mutex::new(Vec::new()),
            closed_tx,
            tokens: crate::vertex::Tokens::default(),
        }
    }

    /// Counts (and, when recording, stores) one request; returns its 1-based number.
    pub(crate) fn record(&self, parts: &http::request::Parts, body: &Bytes) -> u64 {
        if self.record {
            let path = parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
            let headers = parts
                .headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let rec = Recorded {
                method: parts.method.as_str().to_owned(),
                path,
                headers,
                body: body.clone(),
            };
            // Number and store under one lock so numbers follow arrival order.
            let mut log = lock(&self.recorded);
            log.push(rec);
            return self.count.fetch_add(1, Ordering::Relaxed) + 1;
        }
        self.count.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn received(&self) -> Vec<Recorded> {
        lock(&self.recorded).clone()
    }

    pub(crate) fn last(&self) -> Option<Recorded> {
        lock(&self.recorded).last().cloned()
    }

    pub(crate) fn clear_received(&self) {
        lock(&self.recorded).clear();
    }

    pub(crate) fn request_count(&self) -> usize {
        usize::try_from(self.count.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    pub(crate) fn push(&self, b: Behavior) {
        let mut q = lock(&self.queue);
        q.push_back(b);
        self.queued.store(q.len(), Ordering::Release);
    }

    pub(crate) fn clear_behaviors(&self) {
        let mut q = lock(&self.queue);
        q.clear();
        self.queued.store(0, Ordering::Release);
    }

    /// Pops the next scripted behaviour; lock-free when the queue is empty.
    pub(crate) fn next_behavior(&self) -> Option<Behavior> {
        if self.queued.load(Ordering::Acquire) == 0 {
            let rate = self.fail_per_million.load(Ordering::Relaxed);
            if rate > 0 && fastrand::u32(0..1_000_000) < rate {
                return Some(Behavior::openai_error(
                    500,
                    "random failure (mock)",
                    "server_error",
                    None,
                ));
            }
            return None;
        }
        let mut q = lock(&self.queue);
        let b = q.pop_front();
        self.queued.store(q.len(), Ordering::Release);
        b
    }

    pub(crate) fn set_fail_rate(&self, rate: f64) {
        let per_million = (rate.clamp(0.0, 1.0) * 1_000_000.0) as u32;
        self.fail_per_million.store(per_million, Ordering::Relaxed);
    }

    pub(crate) fn set_latency(&self, d: Duration) {
        self.latency_us.store(to_us(d), Ordering::Relaxed);
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::Relaxed))
    }

    pub(crate) fn set_chunk_interval(&self, d: Duration) {
        self.chunk_interval_us.store(to_us(d), Ordering::Relaxed);
    }

    pub(crate) fn chunk_interval(&self) -> Duration {
        Duration::from_micros(self.chunk_interval_us.load(Ordering::Relaxed))
    }

    /// Called when a stream body is dropped before it finished.
    pub(crate) fn stream_closed_early(&self, at: Instant) {
        let n = {
            let mut c = lock(&self.closed);
            c.push(at);
            c.len()
        };
        self.closed_tx.send_replace(n);
    }

    pub(crate) fn streams_closed(&self) -> Vec<Instant> {
        lock(&self.closed).clone()
    }

    /// Waits until at least `n` streams were closed early; returns all instants.
    pub(crate) async fn wait_streams_closed(&self, n: usize) -> Vec<Instant> {
        let mut rx = self.closed_tx.subscribe();
        // The sender lives in `self`, so this only ends when the count is reached.
        let _ = rx.wait_for(|count| *count >= n).await;
        self.streams_closed()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn query_param() {
        let r = Recorded {
            method: "POST".into(),
            path: "/x?api-version=2024-10-21&flag".into(),
            headers: vec![("api-key".into(), "k".into())],
            body: Bytes::new(),
        };
        assert_eq!(r.query_param("api-version"), Some("2024-10-21"));
        assert_eq!(r.query_param("flag"), Some(""));
        assert_eq!(r.query_param("nope"), None);
        assert_eq!(r.header("API-Key"), Some("k"));
    }

    #[test]
    fn queue_is_fifo() {
        let s = State::new(true, Duration::ZERO, Duration::ZERO);
        assert_eq!(s.next_behavior(), None);
        s.push(Behavior::Reset);
        s.push(Behavior::Garbage);
        assert_eq!(s.next_behavior(), Some(Behavior::Reset));
        assert_eq!(s.next_behavior(), Some(Behavior::Garbage));
        assert_eq!(s.next_behavior(), None);
    }
}
