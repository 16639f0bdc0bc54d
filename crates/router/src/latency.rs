//! A model's recent answer times, for hedging at a percentile (`hedge: { after: p95 }`):
//! a fixed ring of samples in atomics, read by copying and sorting only when a hedged
//! request needs the threshold.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Samples kept.
const SIZE: usize = 128;
/// Samples needed before a percentile is trusted.
const MIN_SAMPLES: usize = 20;

/// The last [`SIZE`] answer times of one model.
pub(crate) struct LatencyWindow {
    samples: [AtomicU64; SIZE],
    next: AtomicUsize,
}

impl Default for LatencyWindow {
    fn default() -> Self {
        Self {
            samples: std::array::from_fn(|_| AtomicU64::new(0)),
            next: AtomicUsize::new(0),
        }
    }
}

impl LatencyWindow {
    /// Records one answer time.
    pub(crate) fn record(&self, d: Duration) {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % SIZE;
        self.samples[i].store(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1),
            Ordering::Relaxed,
        );
    }

    /// The `p`-th percentile of the recent answer times, once enough were seen.
    pub(crate) fn percentile(&self, p: u8) -> Option<Duration> {
        let mut values: Vec<u64> = self
            .samples
            .iter()
            .map(|s| s.load(Ordering::Relaxed))
            .filter(|&v| v > 0)
            .collect();
        if values.len() < MIN_SAMPLES {
            return None;
        }
        values.sort_unstable();
        let rank = (values.len() * usize::from(p))
            .div_ceil(100)
            .clamp(1, values.len());
        Some(Duration::from_nanos(values[rank - 1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_needs_enough_samples_then_ranks() {
        let w = LatencyWindow::default();
        for ms in 1..=10 {
            w.record(Duration::from_millis(ms));
        }
        assert_eq!(w.percentile(95), None);
        for ms in 11..=100 {
            w.record(Duration::from_millis(ms));
        }
        assert_eq!(w.percentile(95), Some(Duration::from_millis(95)));
        assert_eq!(w.percentile(50), Some(Duration::from_millis(50)));
    }
}
