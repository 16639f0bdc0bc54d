//! A circuit breaker per target: opens after consecutive failures or a high error ratio,
//! refuses requests for a cooldown, then lets a few probes through (half-open) and closes on
//! the first success. All state is atomics; time is tokio's, so tests can pause it.

use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use sluice_config::CircuitConfig;
use tokio::time::Instant;

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// What a circuit says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Closed: go ahead.
    Normal,
    /// Half-open: go ahead as a probe; report the outcome with `probe: true`.
    Probe,
}

/// The state shown in the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Requests flow.
    Closed,
    /// Requests are refused until the cooldown ends.
    Open,
    /// A limited number of probes may pass.
    HalfOpen,
}

impl CircuitState {
    /// `closed`, `open` or `half-open`.
    pub fn name(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
        }
    }
}

/// One target's breaker.
pub(crate) struct Circuit {
    cfg: CircuitConfig,
    base: Instant,
    state: AtomicU8,
    consecutive: AtomicU32,
    opened_at_ms: AtomicU64,
    probes: AtomicU32,
    window_start_ms: AtomicU64,
    window_total: AtomicU32,
    window_failed: AtomicU32,
}

impl Circuit {
    pub(crate) fn new(cfg: CircuitConfig) -> Self {
        Self {
            cfg,
            base: Instant::now(),
            state: AtomicU8::new(CLOSED),
            consecutive: AtomicU32::new(0),
            opened_at_ms: AtomicU64::new(0),
            probes: AtomicU32::new(0),
            window_start_ms: AtomicU64::new(0),
            window_total: AtomicU32::new(0),
            window_failed: AtomicU32::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The current state, for display.
    pub(crate) fn state(&self) -> CircuitState {
        match self.state.load(Ordering::Acquire) {
            OPEN if self.cooled_down() => CircuitState::HalfOpen,
            OPEN => CircuitState::Open,
            HALF_OPEN => CircuitState::HalfOpen,
            _ => CircuitState::Closed,
        }
    }

    /// Consecutive failures so far.
    pub(crate) fn consecutive_failures(&self) -> u32 {
        self.consecutive.load(Ordering::Relaxed)
    }

    fn cooled_down(&self) -> bool {
        let cooldown = u64::try_from(self.cfg.cooldown.as_millis()).unwrap_or(u64::MAX);
        self.now_ms()
            .saturating_sub(self.opened_at_ms.load(Ordering::Acquire))
            >= cooldown
    }

    /// Whether a request may go to this target now.
    pub(crate) fn admit(&self) -> Option<Admission> {
        match self.state.load(Ordering::Acquire) {
            CLOSED => Some(Admission::Normal),
            OPEN => {
                if !self.cooled_down() {
                    return None;
                }
                // The first caller after the cooldown moves the circuit to half-open.
                let _ = self.state.compare_exchange(
                    OPEN,
                    HALF_OPEN,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                self.take_probe()
            }
            _ => self.take_probe(),
        }
    }

    fn take_probe(&self) -> Option<Admission> {
        let taken = self
            .probes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.cfg.probes).then_some(n + 1)
            })
            .is_ok();
        taken.then_some(Admission::Probe)
    }

    /// Records a success.
    pub(crate) fn success(&self, admission: Admission) {
        self.consecutive.store(0, Ordering::Relaxed);
        self.count(false);
        if admission == Admission::Probe {
            self.probes.fetch_sub(1, Ordering::AcqRel);
            self.state.store(CLOSED, Ordering::Release);
            self.reset_window(self.now_ms());
        }
    }

    /// Records a failure that says something about the target's health.
    pub(crate) fn failure(&self, admission: Admission) {
        let consecutive = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        let (total, failed) = self.count(true);
        if admission == Admission::Probe {
            self.probes.fetch_sub(1, Ordering::AcqRel);
            self.open();
            return;
        }
        let ratio_trips = total >= self.cfg.min_requests
            && f64::from(failed) / f64::from(total.max(1)) >= self.cfg.error_ratio;
        if consecutive >= self.cfg.failures || ratio_trips {
            self.open();
        }
    }

    /// Records an outcome that says nothing about health (a client error): ends a probe.
    pub(crate) fn neutral(&self, admission: Admission) {
        if admission == Admission::Probe {
            self.probes.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn open(&self) {
        self.opened_at_ms.store(self.now_ms(), Ordering::Release);
        self.state.store(OPEN, Ordering::Release);
    }

    /// Counts one outcome in the ratio window; returns (total, failed) in the window.
    fn count(&self, failed: bool) -> (u32, u32) {
        let now = self.now_ms();
        let window = u64::try_from(self.cfg.window.as_millis()).unwrap_or(u64::MAX);
        if now.saturating_sub(self.window_start_ms.load(Ordering::Relaxed)) >= window {
            self.reset_window(now);
        }
        let total = self.window_total.fetch_add(1, Ordering::Relaxed) + 1;
        let failed_n = if failed {
            self.window_failed.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.window_failed.load(Ordering::Relaxed)
        };
        (total, failed_n)
    }

    fn reset_window(&self, now: u64) {
        self.window_start_ms.store(now, Ordering::Relaxed);
        self.window_total.store(0, Ordering::Relaxed);
        self.window_failed.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cfg() -> CircuitConfig {
        CircuitConfig {
            failures: 3,
            cooldown: Duration::from_secs(10),
            probes: 1,
            ..CircuitConfig::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_then_probes_and_closes() {
        let c = Circuit::new(cfg());
        for _ in 0..3 {
            let a = c.admit().unwrap();
            c.failure(a);
        }
        assert_eq!(c.state(), CircuitState::Open);
        assert_eq!(c.admit(), None);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(c.state(), CircuitState::HalfOpen);
        let probe = c.admit().unwrap();
        assert_eq!(probe, Admission::Probe);
        assert_eq!(c.admit(), None, "only one probe at a time");
        c.success(probe);
        assert_eq!(c.state(), CircuitState::Closed);
        assert_eq!(c.admit(), Some(Admission::Normal));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_for_another_cooldown() {
        let c = Circuit::new(cfg());
        for _ in 0..3 {
            c.failure(Admission::Normal);
        }
        tokio::time::advance(Duration::from_secs(10)).await;
        let probe = c.admit().unwrap();
        c.failure(probe);
        assert_eq!(c.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(c.admit(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_error_ratio_and_success_resets_the_streak() {
        let c = Circuit::new(CircuitConfig {
            failures: 100,
            min_requests: 10,
            error_ratio: 0.5,
            ..cfg()
        });
        for i in 0..11 {
            if i % 2 == 0 {
                c.failure(Admission::Normal);
            } else {
                c.success(Admission::Normal);
            }
        }
        assert_eq!(c.state(), CircuitState::Open);
        let c = Circuit::new(cfg());
        c.failure(Admission::Normal);
        c.failure(Admission::Normal);
        c.success(Admission::Normal);
        c.failure(Admission::Normal);
        assert_eq!(c.state(), CircuitState::Closed);
    }
}
