//! A model group: the targets of one alias, their live statistics, and target ordering.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use sluice_config::{CircuitConfig, HedgeAfter, RetryConfig, Strategy};

use crate::circuit::{Admission, Circuit, CircuitState};
use crate::latency::LatencyWindow;
use crate::quota::Quota;
use sluice_providers::{Provider, Target};

/// Latency assumed for a target that has not answered yet (1 ms).
const UNKNOWN_LATENCY_NS: u64 = 1_000_000;

/// One target of a group, with the provider that serves it and its live statistics.
pub struct TargetSlot {
    /// The target.
    pub target: Target,
    /// The provider behind it.
    pub provider: Arc<dyn Provider>,
    weight: u32,
    in_flight: AtomicU64,
    /// Moving average of time to response head, in nanoseconds; 0 until the first answer.
    ewma_ns: AtomicU64,
    pub(crate) circuit: Circuit,
    pub(crate) quota: Quota,
}

/// A target's live health, for the admin API.
#[derive(Debug, Clone, Copy)]
pub struct TargetHealth {
    /// Circuit breaker state.
    pub circuit: CircuitState,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Requests in flight now.
    pub in_flight: u64,
    /// Whether the target is at its own rate limit or paused by its upstream.
    pub rate_limited: bool,
    /// Moving average of time to response head; `None` before the first answer.
    pub latency: Option<Duration>,
    /// Relative weight.
    pub weight: u32,
}

impl TargetSlot {
    /// A slot for `target` served by `provider`.
    pub fn new(
        target: Target,
        provider: Arc<dyn Provider>,
        weight: u32,
        circuit: CircuitConfig,
    ) -> Self {
        Self {
            target,
            provider,
            weight: weight.max(1),
            in_flight: AtomicU64::new(0),
            ewma_ns: AtomicU64::new(0),
            circuit: Circuit::new(circuit),
            quota: Quota::new(None, None),
        }
    }

    /// Sets the target's own per-minute limits.
    pub fn with_limits(mut self, rpm: Option<u32>, tpm: Option<u32>) -> Self {
        self.quota = Quota::new(rpm, tpm);
        self
    }

    /// Whether a request of about `tokens` may go to this target now: it has room in its
    /// limits and its circuit lets it through. Counts the request when it may.
    pub(crate) fn admit(&self, tokens: u64) -> Option<Admission> {
        if !self.quota.has_room(tokens) {
            return None;
        }
        let admission = self.circuit.admit()?;
        self.quota.take(tokens);
        Some(admission)
    }

    /// Live health of this target.
    pub fn health(&self) -> TargetHealth {
        TargetHealth {
            circuit: self.circuit.state(),
            consecutive_failures: self.circuit.consecutive_failures(),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            rate_limited: self.quota.is_limited(),
            latency: match self.ewma_ns.load(Ordering::Relaxed) {
                0 => None,
                n => Some(Duration::from_nanos(n)),
            },
            weight: self.weight,
        }
    }

    /// Records an answer that took `latency`.
    pub(crate) fn observe(&self, latency: Duration) {
        let sample = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        // A lost update under a race only skews one sample of an average: acceptable.
        let old = self.ewma_ns.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.ewma_ns.store(new, Ordering::Relaxed);
    }

    /// Marks one request in flight until the guard drops.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    fn load_cost(&self) -> u128 {
        let latency = match self.ewma_ns.load(Ordering::Relaxed) {
            0 => UNKNOWN_LATENCY_NS,
            n => n,
        };
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        u128::from(latency) * u128::from(in_flight + 1) / u128::from(self.weight)
    }
}

/// A stable score of `key` for `target`; the highest score wins.
fn rendezvous(key: &str, target: &Target) -> u64 {
    use std::hash::{Hash, Hasher};
    // DefaultHasher::new() has fixed keys: the same on every replica and every run.
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    target.provider.hash(&mut h);
    target.model.hash(&mut h);
    h.finish()
}

/// Decrements a slot's in-flight count on drop.
pub(crate) struct InFlight<'a>(&'a TargetSlot);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The targets of one model name and how to choose among them.
pub struct ModelGroup {
    /// The model name clients send.
    pub name: String,
    /// How the first target is picked.
    pub strategy: Strategy,
    /// The targets, in config order.
    pub slots: Vec<TargetSlot>,
    /// Other groups to try when this one failed.
    pub fallbacks: Vec<String>,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Start a second attempt on another target when the first has not answered by then.
    pub hedge: Option<HedgeAfter>,
    /// Recent answer times, for percentile hedging.
    pub(crate) latencies: LatencyWindow,
    next: AtomicUsize,
}

impl ModelGroup {
    /// A group named `name`.
    pub fn new(
        name: String,
        strategy: Strategy,
        slots: Vec<TargetSlot>,
        fallbacks: Vec<String>,
        retry: RetryConfig,
    ) -> Self {
        Self {
            name,
            strategy,
            slots,
            fallbacks,
            retry,
            hedge: None,
            latencies: LatencyWindow::default(),
            next: AtomicUsize::new(0),
        }
    }

    /// Turns on hedging after `after`.
    pub fn with_hedge(mut self, after: Option<HedgeAfter>) -> Self {
        self.hedge = after;
        self
    }

    /// How long the first attempt may go unanswered before a hedge starts, if at all now.
    pub(crate) fn hedge_delay(&self) -> Option<Duration> {
        match self.hedge? {
            HedgeAfter::Fixed(d) => Some(d),
            HedgeAfter::Percentile(p) => self.latencies.percentile(p),
        }
    }

    /// The order in which this request tries the targets. With an affinity key, a stable
    /// order for that key (rendezvous hashing), so a session keeps its target while it is
    /// healthy and moves to the same next one when it is not; otherwise the strategy's pick
    /// first, then the others in config order.
    pub(crate) fn order(&self, affinity: Option<&str>) -> Vec<usize> {
        if let Some(key) = affinity {
            let mut order: Vec<usize> = (0..self.slots.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(rendezvous(key, &self.slots[i].target)));
            return order;
        }
        let n = self.slots.len();
        let first = match n {
            0 => return Vec::new(),
            1 => 0,
            _ => self.pick(),
        };
        let mut order = Vec::with_capacity(n);
        order.push(first);
        order.extend((0..n).filter(|&i| i != first));
        order
    }

    fn pick(&self) -> usize {
        let n = self.slots.len();
        match self.strategy {
            // Least-cost slots are sorted by price when the group is built.
            Strategy::Ordered | Strategy::LeastCost => 0,
            Strategy::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
            Strategy::Weighted => {
                let total: u64 = self.slots.iter().map(|s| u64::from(s.weight)).sum();
                let mut roll = fastrand::u64(0..total.max(1));
                for (i, s) in self.slots.iter().enumerate() {
                    let w = u64::from(s.weight);
                    if roll < w {
                        return i;
                    }
                    roll -= w;
                }
                0
            }
            Strategy::LeastLatency => (0..n)
                .min_by_key(|&i| self.slots[i].ewma_ns.load(Ordering::Relaxed))
                .unwrap_or(0),
            Strategy::P2c => {
                let a = fastrand::usize(0..n);
                let b = (a + 1 + fastrand::usize(0..n - 1)) % n;
                if self.slots[b].load_cost() < self.slots[a].load_cost() {
                    b
                } else {
                    a
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::Timeouts;
    use sluice_providers::DemoProvider;

    fn group(strategy: Strategy, weights: &[u32]) -> ModelGroup {
        let t = Duration::from_secs(1);
        let slots = weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let target = Target {
                    provider: "demo".into(),
                    model: format!("m{i}").into(),
                    timeouts: Timeouts {
                        connect: t,
                        first_byte: t,
                        total: t,
                        idle: t,
                    },
                };
                TargetSlot::new(target, Arc::new(DemoProvider), w, CircuitConfig::default())
            })
            .collect();
        ModelGroup::new(
            "g".into(),
            strategy,
            slots,
            Vec::new(),
            RetryConfig {
                max: 0,
                backoff: t,
                ..RetryConfig::default()
            },
        )
    }

    #[test]
    fn round_robin_rotates_and_tries_every_target() {
        let g = group(Strategy::RoundRobin, &[1, 1, 1]);
        let firsts: Vec<usize> = (0..3).map(|_| g.order(None)[0]).collect();
        assert_eq!(firsts, vec![0, 1, 2]);
        let mut all = g.order(None);
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2]);
    }

    #[test]
    fn weighted_follows_weights() {
        fastrand::seed(7);
        let g = group(Strategy::Weighted, &[9, 1]);
        let zeros = (0..1000).filter(|_| g.order(None)[0] == 0).count();
        assert!((850..=950).contains(&zeros), "{zeros}");
    }

    #[test]
    fn p2c_avoids_the_busy_and_slow_target() {
        let g = group(Strategy::P2c, &[1, 1]);
        g.slots[0].observe(Duration::from_millis(50));
        g.slots[1].observe(Duration::from_millis(5));
        let _busy = g.slots[1].enter();
        assert!((0..20).all(|_| g.order(None)[0] == 1));
    }

    #[test]
    fn affinity_keeps_a_session_on_one_target_and_spreads_sessions() {
        let g = group(Strategy::RoundRobin, &[1, 1, 1, 1]);
        let first = g.order(Some("session-1"))[0];
        assert!((0..10).all(|_| g.order(Some("session-1"))[0] == first));
        let spread: std::collections::HashSet<usize> = (0..40)
            .map(|i| g.order(Some(&format!("s{i}")))[0])
            .collect();
        assert!(spread.len() >= 3, "{spread:?}");
    }

    #[test]
    fn least_latency_prefers_untried_then_fastest() {
        let g = group(Strategy::LeastLatency, &[1, 1]);
        g.slots[0].observe(Duration::from_millis(5));
        assert_eq!(g.order(None)[0], 1);
        g.slots[1].observe(Duration::from_millis(50));
        assert_eq!(g.order(None)[0], 0);
    }
}
