//! The sliding-window counter behind every rate limit.
//!
//! Time is cut into one-minute windows aligned to the Unix epoch. A limit counts what its
//! current window holds plus the previous window's total weighted by the share of the
//! previous window still inside the last minute:
//! `count = previous × (1 − elapsed / window) + current`. A request of cost `c` fits when
//! `count + c ≤ limit`. The comparison is done in integers scaled by the window length, so
//! it is exact: from a cold start a limit of `L` admits exactly `L` requests. The Redis
//! script evaluates the same inequality.

use std::time::Duration;

/// The window length in milliseconds.
pub(crate) const WINDOW_MS: i64 = 60_000;
const W: u128 = WINDOW_MS as u128;

/// Where an instant falls among the windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// The window's number since the epoch.
    pub(crate) index: i64,
    /// Milliseconds since the window began, `0..WINDOW_MS`.
    pub(crate) elapsed: i64,
}

impl Window {
    /// The window containing `now_ms`.
    pub(crate) fn at(now_ms: i64) -> Self {
        Self {
            index: now_ms.div_euclid(WINDOW_MS),
            elapsed: now_ms.rem_euclid(WINDOW_MS),
        }
    }
}

/// What a counter holds in the previous and the current window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) prev: u64,
    pub(crate) cur: u64,
}

impl Usage {
    /// The sliding count multiplied by the window length.
    fn scaled(self, elapsed: i64) -> u128 {
        let left = W - u128::from(elapsed.clamp(0, WINDOW_MS - 1).unsigned_abs());
        u128::from(self.prev) * left + u128::from(self.cur) * W
    }

    /// Whether `cost` more fits under `limit`.
    pub(crate) fn fits(self, elapsed: i64, cost: u64, limit: u64) -> bool {
        self.scaled(elapsed) + u128::from(cost) * W <= u128::from(limit) * W
    }

    /// How much of `limit` is left, rounding the sliding count up.
    pub(crate) fn remaining(self, elapsed: i64, limit: u64) -> u64 {
        let used = self.scaled(elapsed).div_ceil(W);
        u128::from(limit)
            .saturating_sub(used)
            .try_into()
            .unwrap_or(u64::MAX)
    }

    /// How long until the counted usage has slid out entirely, if nothing else comes in.
    pub(crate) fn reset(self, elapsed: i64) -> Duration {
        let left = (WINDOW_MS - elapsed).unsigned_abs();
        let ms = if self.cur > 0 {
            left + WINDOW_MS.unsigned_abs()
        } else if self.prev > 0 {
            left
        } else {
            0
        };
        Duration::from_millis(ms)
    }

    /// How long until `cost` more fits under `limit` if nothing else comes in, rounded up to
    /// whole seconds (at least one). A cost above the limit never fits; it gets one window.
    pub(crate) fn retry_after(self, elapsed: i64, cost: u64, limit: u64) -> Duration {
        let e = u128::from(elapsed.clamp(0, WINDOW_MS - 1).unsigned_abs());
        let (prev, cur, cost, limit) = (
            u128::from(self.prev),
            u128::from(self.cur),
            u128::from(cost),
            u128::from(limit),
        );
        let wait_ms = if cost > limit {
            W
        } else if let Some(x) =
            later_in_window(prev, limit.checked_sub(cur + cost)).filter(|x| *x < W)
        {
            // Later in this window, once enough of the previous one has slid out.
            x.saturating_sub(e)
        } else if let Some(x) = later_in_window(cur, Some(limit - cost)).filter(|x| *x < W) {
            // In the next window, where the current count becomes the previous one.
            W - e + x
        } else {
            // Two windows on, nothing is counted any more.
            2 * W - e
        };
        Duration::from_secs(
            u64::try_from(wait_ms.div_ceil(1000))
                .unwrap_or(u64::MAX)
                .max(1),
        )
    }
}

/// The first elapsed time in a window at which `weighted × (1 − x/W) ≤ room` holds, or
/// `None` without room.
fn later_in_window(weighted: u128, room: Option<u128>) -> Option<u128> {
    let room = room?;
    if weighted == 0 {
        return Some(0);
    }
    Some(W.saturating_sub(room * W / weighted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(prev: u64, cur: u64) -> Usage {
        Usage { prev, cur }
    }

    #[test]
    fn windows_are_aligned_to_the_epoch() {
        assert_eq!(
            Window::at(0),
            Window {
                index: 0,
                elapsed: 0
            }
        );
        assert_eq!(
            Window::at(125_000),
            Window {
                index: 2,
                elapsed: 5_000
            }
        );
        assert_eq!(
            Window::at(-1),
            Window {
                index: -1,
                elapsed: 59_999
            }
        );
    }

    #[test]
    fn a_cold_counter_admits_exactly_the_limit() {
        let mut u = Usage::default();
        let mut admitted = 0;
        for _ in 0..100 {
            if u.fits(30_000, 1, 60) {
                u.cur += 1;
                admitted += 1;
            }
        }
        assert_eq!(admitted, 60);
        assert_eq!(u.remaining(30_000, 60), 0);
    }

    #[test]
    fn the_previous_window_weighs_by_its_overlap() {
        // Half-way through the window, 60 last minute count as 30.
        let u = usage(60, 0);
        assert!(u.fits(30_000, 30, 60));
        assert!(!u.fits(30_000, 31, 60));
        assert_eq!(u.remaining(30_000, 60), 30);
        // At the start of the window, all of it counts.
        assert!(!u.fits(0, 1, 60));
        // Near the end almost none of it does.
        assert!(u.fits(59_000, 59, 60));
    }

    #[test]
    fn retry_after_waits_for_the_previous_window_to_slide_out() {
        // 60 last minute, 20 now, limit 60: one more fits once prev × (1 − x) ≤ 39,
        // that is at x = 21 s; we are at 10 s.
        assert_eq!(
            usage(60, 20).retry_after(10_000, 1, 60),
            Duration::from_secs(11)
        );
    }

    #[test]
    fn retry_after_reaches_into_the_next_window() {
        // The current window alone is full: the next one starts 50 s from now, where 60
        // carried over count fully at first and leave room for one after a second.
        assert_eq!(
            usage(0, 60).retry_after(10_000, 1, 60),
            Duration::from_secs(51)
        );
        // An oversized estimate waits two windows.
        assert_eq!(
            usage(0, 1).retry_after(10_000, 60, 60),
            Duration::from_secs(110)
        );
        // A cost above the limit never fits: one window.
        assert_eq!(
            usage(0, 0).retry_after(10_000, 61, 60),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn retry_after_is_when_the_request_fits() {
        for (prev, cur, cost, limit, elapsed) in [
            (60, 20, 1, 60, 10_000),
            (100, 0, 40, 100, 0),
            (5, 5, 3, 10, 0),
            (0, 9, 5, 10, 30_000),
            (1000, 400, 200, 1000, 5_000),
            (7, 0, 7, 7, 59_999),
        ] {
            let u = usage(prev, cur);
            assert!(!u.fits(elapsed, cost, limit));
            let wait = i64::try_from(u.retry_after(elapsed, cost, limit).as_millis()).unwrap();
            let then = Window::at(elapsed + wait);
            let shifted = match then.index {
                0 => u,
                1 => usage(cur, 0),
                _ => usage(0, 0),
            };
            assert!(
                shifted.fits(then.elapsed, cost, limit),
                "{prev} {cur} {cost} {limit} {elapsed}: still full after {wait} ms"
            );
            let early = Window::at(elapsed + wait - 1000);
            let shifted = match early.index {
                0 => u,
                1 => usage(cur, 0),
                _ => usage(0, 0),
            };
            assert!(
                !shifted.fits(early.elapsed, cost, limit),
                "{prev} {cur} {cost} {limit} {elapsed}: fits a second before {wait} ms"
            );
        }
    }

    #[test]
    fn reset_is_when_the_counter_drains() {
        assert_eq!(usage(0, 0).reset(10_000), Duration::ZERO);
        assert_eq!(usage(3, 0).reset(10_000), Duration::from_secs(50));
        assert_eq!(usage(3, 1).reset(10_000), Duration::from_secs(110));
    }
}
