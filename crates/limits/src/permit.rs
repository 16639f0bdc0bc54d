//! An admitted request's hold on its limits, until it is settled or dropped.

use std::fmt;
use std::time::Duration;

use crate::parallel::Slots;
use crate::plan::Hold;
use crate::{Level, Limiter, Period};

/// The tightest requests and tokens limits a permit was admitted under, for OpenAI's
/// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers. Both are `None`
/// without such limits, and when Redis failed and the request was let through uncounted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateStatus {
    /// The requests-per-minute limit with the least left.
    pub requests: Option<Remaining>,
    /// The tokens-per-minute limit with the least left (counting this request's estimate).
    pub tokens: Option<Remaining>,
}

/// One limit's state right after an admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    /// The limit per minute.
    pub limit: u64,
    /// What is left of it now.
    pub remaining: u64,
    /// How long until everything counted has slid out of the window, if nothing else
    /// comes in.
    pub reset: Duration,
}

/// What a settlement left in the budget counters of its permit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Every budget the permit held whose counter was still there, after the settlement.
    /// Empty when the permit held no budget, and when Redis could not be asked.
    pub budgets: Vec<BudgetTotal>,
}

/// One budget counter right after a settlement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetTotal {
    /// Whose budget it is, as in [`crate::BudgetCheck::scope`].
    pub scope: String,
    /// The kind of entity.
    pub level: Level,
    /// How often the budget starts again.
    pub period: Period,
    /// The id of the period the request was counted in ([`Period::id`]).
    pub period_id: String,
    /// When that period ends (unix ms); `None` for a total budget.
    pub resets_at: Option<i64>,
    /// The budget's amount, as admitted.
    pub limit_nano: i64,
    /// What the counter holds now: spend plus the reservations of requests still in flight.
    pub committed_nano: i64,
}

/// An admitted request. It holds its parallel slots and its token and budget
/// reservations until [`Permit::settle`] replaces the estimates with actual usage.
///
/// A permit dropped without being settled (the request was cancelled before the upstream
/// answered) gives everything back, as a settlement with zero tokens and no cost would: at
/// once with the in-memory backend; with Redis on a task spawned on the current tokio
/// runtime, and if there is none, the reservation stays until its counters expire (a
/// warning is logged). Its parallel slots are freed at once either way.
pub struct Permit {
    limiter: Limiter,
    hold: Option<Hold>,
    status: RateStatus,
    _slots: Slots,
}

impl Permit {
    pub(crate) fn new(
        limiter: Limiter,
        hold: Option<Hold>,
        status: RateStatus,
        slots: Slots,
    ) -> Self {
        Self {
            limiter,
            hold: hold.filter(|h| !h.is_empty()),
            status,
            _slots: slots,
        }
    }

    /// The tightest requests limit and the tightest tokens limit among the rate checks,
    /// with what was left right after this request was counted.
    pub fn status(&self) -> RateStatus {
        self.status
    }

    /// Replaces the estimates with actual usage: every TPM counter changes by
    /// `actual_tokens − estimated` and every budget counter by `actual_cost − reserved`.
    /// An unknown cost (`None`, e.g. a model without a price) counts as zero: the
    /// reservation is given back and nothing is recorded against the budget. Counters
    /// never go below zero. Consumes the permit, freeing its parallel slots; the future is
    /// `Send`, so it can run on a spawned task. Reports every budget counter's new total
    /// (read in the same step as the change, so it costs nothing extra); failures are
    /// logged, never returned, and report nothing.
    pub async fn settle(mut self, actual_tokens: u64, actual_cost_nano: Option<i64>) -> Settled {
        match self.hold.take() {
            Some(hold) => Settled {
                budgets: self
                    .limiter
                    .settle_hold(&hold, actual_tokens, actual_cost_nano)
                    .await,
            },
            None => Settled::default(),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(hold) = self.hold.take() {
            self.limiter.release(hold);
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("status", &self.status)
            .field("hold", &self.hold)
            .finish_non_exhaustive()
    }
}
