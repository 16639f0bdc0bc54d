//! A target's own limits: requests and tokens per minute from config, and a pause the
//! upstream asked for through its rate-limit headers. A target without room is skipped, so
//! traffic moves to the others before the upstream starts answering 429.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Per-minute budget of one target.
pub(crate) struct Quota {
    rpm: Option<u32>,
    tpm: Option<u32>,
    base: Instant,
    minute: AtomicU64,
    requests: AtomicU32,
    tokens: AtomicU64,
    paused_until_ms: AtomicU64,
}

impl Quota {
    pub(crate) fn new(rpm: Option<u32>, tpm: Option<u32>) -> Self {
        Self {
            rpm,
            tpm,
            base: Instant::now(),
            minute: AtomicU64::new(0),
            requests: AtomicU32::new(0),
            tokens: AtomicU64::new(0),
            paused_until_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Starts a new minute's counts when the minute changed.
    fn roll(&self, now_ms: u64) {
        let minute = now_ms / 60_000;
        if self.minute.swap(minute, Ordering::AcqRel) != minute {
            self.requests.store(0, Ordering::Relaxed);
            self.tokens.store(0, Ordering::Relaxed);
        }
    }

    /// Whether a request of about `tokens` fits now (nothing is counted).
    pub(crate) fn has_room(&self, tokens: u64) -> bool {
        let now = self.now_ms();
        if now < self.paused_until_ms.load(Ordering::Acquire) {
            return false;
        }
        self.roll(now);
        let requests_ok = self
            .rpm
            .is_none_or(|rpm| self.requests.load(Ordering::Relaxed) < rpm);
        let used = self.tokens.load(Ordering::Relaxed);
        // A request larger than the whole budget still goes through on an idle minute.
        let tokens_ok = self
            .tpm
            .is_none_or(|tpm| used == 0 || used + tokens <= u64::from(tpm));
        requests_ok && tokens_ok
    }

    /// Counts a request of about `tokens`.
    pub(crate) fn take(&self, tokens: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
    }

    /// Leaves the target alone for `d` (the upstream said its limit is exhausted).
    pub(crate) fn pause_for(&self, d: Duration) {
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.paused_until_ms.fetch_max(until, Ordering::AcqRel);
    }

    /// Whether the target is paused or at a configured limit right now.
    pub(crate) fn is_limited(&self) -> bool {
        !self.has_room(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rpm_and_tpm_refuse_until_the_next_minute() {
        let q = Quota::new(Some(2), Some(1000));
        assert!(q.has_room(400));
        q.take(400);
        assert!(q.has_room(400));
        q.take(400);
        assert!(!q.has_room(1), "two requests is the rpm");
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(q.has_room(900));
        q.take(900);
        assert!(!q.has_room(200), "900 + 200 is over the tpm");
    }

    #[tokio::test(start_paused = true)]
    async fn an_upstream_pause_refuses_until_it_ends() {
        let q = Quota::new(None, None);
        q.pause_for(Duration::from_secs(2));
        assert!(q.is_limited());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!q.is_limited());
    }
}
