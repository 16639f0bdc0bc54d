//! One admission spelled out as counter operations, shared by both backends.
//!
//! A [`Plan`] lists every rate counter (one per RPM or TPM limit) and budget counter an
//! admission touches, with its limit and cost. A backend checks them all and, only if all
//! fit, charges them all, then answers with a [`Verdict`]. The plan turns the verdict into
//! what the caller sees (a [`Denied`] or the [`Hold`] and [`RateStatus`] of a permit), so
//! the backends agree on every rule but the storage.

use std::time::Duration;

use crate::window::{Usage, Window};
use crate::{
    Admission, BudgetCheck, BudgetTotal, Denied, Level, Period, RateCheck, RateKind, RateStatus,
    Remaining,
};

/// How long a budget counter outlives its period, so late settlements still land.
const BUDGET_GRACE_MS: i64 = 3_600_000;
/// How long an idle total-budget counter is kept; it is re-seeded when next used.
const TOTAL_IDLE_MS: i64 = 86_400_000;

/// One rate counter to check and charge.
pub(crate) struct RateItem<'a> {
    pub(crate) check: &'a RateCheck,
    pub(crate) kind: RateKind,
    pub(crate) limit: u64,
    pub(crate) cost: u64,
}

/// One budget counter to check and charge.
pub(crate) struct BudgetItem<'a> {
    pub(crate) check: &'a BudgetCheck,
    /// The period's id, part of the counter's key.
    pub(crate) period_id: String,
    /// When the period ends (unix ms); `None` for a total budget.
    pub(crate) end: Option<i64>,
    /// When the counter may be forgotten (unix ms).
    pub(crate) expires_at: i64,
    /// The reservation, never negative.
    pub(crate) reserve: i64,
}

/// An admission as counter operations at one instant.
pub(crate) struct Plan<'a> {
    pub(crate) now_ms: i64,
    pub(crate) window: Window,
    pub(crate) rates: Vec<RateItem<'a>>,
    pub(crate) budgets: Vec<BudgetItem<'a>>,
}

/// A backend's answer to a plan.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Everything fitted and was charged; the usage of each rate item afterwards.
    Admitted(Vec<Usage>),
    /// Rate item `item` did not fit; its usage before.
    RateFull { item: usize, usage: Usage },
    /// Budget item `item` did not fit; what its counter held.
    BudgetFull { item: usize, committed: i64 },
}

/// What a permit holds until it is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hold {
    /// The window the tokens were charged in.
    pub(crate) window: i64,
    /// TPM counters charged: scope and estimated tokens.
    pub(crate) tokens: Vec<(String, u64)>,
    /// Budget counters charged.
    pub(crate) budgets: Vec<HeldBudget>,
}

/// One budget counter a permit charged, with what settlement reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeldBudget {
    pub(crate) scope: String,
    pub(crate) level: Level,
    pub(crate) period: Period,
    /// The period's id, part of the counter's key.
    pub(crate) period_id: String,
    /// When the period ends (unix ms); `None` for a total budget.
    pub(crate) resets_at: Option<i64>,
    pub(crate) limit_nano: i64,
    /// The reservation.
    pub(crate) reserved: i64,
}

impl HeldBudget {
    /// The report of this budget once its counter holds `committed_nano`.
    pub(crate) fn total(&self, committed_nano: i64) -> BudgetTotal {
        BudgetTotal {
            scope: self.scope.clone(),
            level: self.level,
            period: self.period,
            period_id: self.period_id.clone(),
            resets_at: self.resets_at,
            limit_nano: self.limit_nano,
            committed_nano,
        }
    }
}

impl Hold {
    /// Whether nothing needs settling.
    pub(crate) fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.budgets.is_empty()
    }

    /// The change each TPM counter needs once `actual` tokens are known.
    pub(crate) fn token_deltas(&self, actual: u64) -> impl Iterator<Item = (&str, i64)> {
        self.tokens
            .iter()
            .map(move |(scope, estimated)| (scope.as_str(), signed(actual) - signed(*estimated)))
    }

    /// The change each budget counter needs once the cost is known: an unknown cost
    /// counts as zero, which gives the whole reservation back.
    pub(crate) fn budget_deltas(
        &self,
        actual_nano: Option<i64>,
    ) -> impl Iterator<Item = (&HeldBudget, i64)> {
        let actual = actual_nano.unwrap_or(0);
        self.budgets
            .iter()
            .map(move |b| (b, actual.saturating_sub(b.reserved)))
    }
}

impl<'a> Plan<'a> {
    pub(crate) fn new(a: &'a Admission, now_ms: i64) -> Self {
        let mut rates = Vec::new();
        for check in &a.rates {
            if let Some(limit) = check.rpm {
                rates.push(RateItem {
                    check,
                    kind: RateKind::Requests,
                    limit,
                    cost: 1,
                });
            }
            if let Some(limit) = check.tpm {
                rates.push(RateItem {
                    check,
                    kind: RateKind::Tokens,
                    limit,
                    cost: check.tokens,
                });
            }
        }
        let budgets = a
            .budgets
            .iter()
            .map(|check| {
                let end = check.period.end(now_ms);
                BudgetItem {
                    check,
                    period_id: check.period.id(now_ms),
                    end,
                    expires_at: end.map_or(now_ms + TOTAL_IDLE_MS, |e| e + BUDGET_GRACE_MS),
                    reserve: check.reserve_nano.max(0),
                }
            })
            .collect();
        Self {
            now_ms,
            window: Window::at(now_ms),
            rates,
            budgets,
        }
    }

    /// Whether there is nothing to count.
    pub(crate) fn is_empty(&self) -> bool {
        self.rates.is_empty() && self.budgets.is_empty()
    }

    /// The caller's view of a backend's verdict.
    pub(crate) fn conclude(&self, verdict: Verdict) -> Result<(Hold, RateStatus), Denied> {
        let usages = match verdict {
            Verdict::Admitted(usages) => usages,
            Verdict::RateFull { item, usage } => return Err(self.rate_denied(item, usage)),
            Verdict::BudgetFull { item, committed } => {
                return Err(self.budget_denied(item, committed));
            }
        };
        let mut status = RateStatus::default();
        for (item, usage) in self.rates.iter().zip(usages) {
            let now = Remaining {
                limit: item.limit,
                remaining: usage.remaining(self.window.elapsed, item.limit),
                reset: usage.reset(self.window.elapsed),
            };
            let slot = match item.kind {
                RateKind::Requests => &mut status.requests,
                RateKind::Tokens => &mut status.tokens,
            };
            if slot.is_none_or(|s| (now.remaining, now.limit) < (s.remaining, s.limit)) {
                *slot = Some(now);
            }
        }
        let hold = Hold {
            window: self.window.index,
            tokens: self
                .rates
                .iter()
                .filter(|r| r.kind == RateKind::Tokens)
                .map(|r| (r.check.scope.clone(), r.cost))
                .collect(),
            budgets: self
                .budgets
                .iter()
                .map(|b| HeldBudget {
                    scope: b.check.scope.clone(),
                    level: b.check.level,
                    period: b.check.period,
                    period_id: b.period_id.clone(),
                    resets_at: b.end,
                    limit_nano: b.check.limit_nano,
                    reserved: b.reserve,
                })
                .collect(),
        };
        Ok((hold, status))
    }

    fn rate_denied(&self, item: usize, usage: Usage) -> Denied {
        let Some(r) = self.rates.get(item) else {
            return unexpected(format!("rate item {item}"));
        };
        Denied::Rate {
            level: r.check.level,
            scope: r.check.scope.clone(),
            kind: r.kind,
            limit: r.limit,
            retry_after: usage.retry_after(self.window.elapsed, r.cost, r.limit),
        }
    }

    fn budget_denied(&self, item: usize, committed: i64) -> Denied {
        let Some(b) = self.budgets.get(item) else {
            return unexpected(format!("budget item {item}"));
        };
        Denied::Budget {
            level: b.check.level,
            scope: b.check.scope.clone(),
            limit_nano: b.check.limit_nano,
            spent_nano: committed,
            period: b.check.period,
            resets_at: b.end,
        }
    }
}

/// Whether a budget counter holding `committed` can take `reserve` more under `limit`.
/// A spent budget admits nothing, not even a request that reserves nothing.
pub(crate) fn budget_fits(committed: i64, reserve: i64, limit: i64) -> bool {
    committed < limit && committed.saturating_add(reserve) <= limit
}

/// The time-to-live of a counter that may be forgotten at `expires_at`, seen at `now_ms`.
pub(crate) fn ttl_ms(expires_at: i64, now_ms: i64) -> i64 {
    expires_at.saturating_sub(now_ms).max(1)
}

/// How long a window counter is kept: its own window and the next, where it is the
/// previous one.
pub(crate) const WINDOW_TTL: Duration = Duration::from_secs(120);

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A verdict naming an item the plan does not have: a backend bug, reported as such.
fn unexpected(what: String) -> Denied {
    Denied::Unavailable {
        message: format!("the limits backend answered about an unknown {what}"),
    }
}
