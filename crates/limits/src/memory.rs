//! The in-process backend: sharded maps of counters.
//!
//! Each counter lives in one of the shards of a [`Shards`] map, picked by the hash of its
//! key. An admission locks just the shards its counters live in (in ascending order, so
//! admissions never deadlock), checks every counter, and only if all fit charges them all:
//! the same all-or-nothing step the Redis script takes, with no lock over the whole map.
//! A rate counter keeps its current and previous window and rolls forward when used; a
//! budget counter keeps its committed amount until a while after its period. A shard
//! forgets stale counters at most once a window, when an admission touches it, so the map
//! holds only what the last two minutes and the current periods used.

use std::collections::HashMap;

use crate::plan::{Hold, Plan, Verdict, budget_fits};
use crate::shards::Shards;
use crate::window::{Usage, WINDOW_MS};
use crate::{BudgetTotal, RateKind};

/// The in-memory counters.
pub(crate) struct Memory {
    shards: Shards<Shard>,
}

#[derive(Default)]
struct Shard {
    windows: HashMap<String, WindowCell>,
    budgets: HashMap<String, BudgetCell>,
    /// When this shard next drops stale counters (unix ms).
    next_sweep: i64,
}

/// A rate counter: the counts of window `window` and of the one before.
#[derive(Debug, Clone, Copy)]
struct WindowCell {
    window: i64,
    prev: u64,
    cur: u64,
}

impl WindowCell {
    /// What the counter holds as seen from window `index` (a cell already in a later
    /// window, from a caller with a faster clock, is taken as it is).
    fn usage_at(&self, index: i64) -> Usage {
        match index - self.window {
            i64::MIN..=0 => Usage {
                prev: self.prev,
                cur: self.cur,
            },
            1 => Usage {
                prev: self.cur,
                cur: 0,
            },
            _ => Usage::default(),
        }
    }

    /// Moves the cell forward to window `index`.
    fn roll(&mut self, index: i64) {
        let Usage { prev, cur } = self.usage_at(index);
        *self = Self {
            window: self.window.max(index),
            prev,
            cur,
        };
    }
}

#[derive(Debug, Clone, Copy)]
struct BudgetCell {
    committed: i64,
    expires_at: i64,
}

impl Memory {
    pub(crate) fn new() -> Self {
        Self {
            shards: Shards::new(),
        }
    }

    /// Checks every counter of `plan` and charges them all if all fit.
    pub(crate) fn admit(&self, plan: &Plan<'_>) -> Verdict {
        let rate_keys: Vec<(String, usize)> = plan
            .rates
            .iter()
            .map(|r| self.keyed(rate_key(r.kind, &r.check.scope)))
            .collect();
        let budget_keys: Vec<(String, usize)> = plan
            .budgets
            .iter()
            .map(|b| self.keyed(budget_key(&b.check.scope, &b.period_id)))
            .collect();
        let indices = rate_keys.iter().chain(&budget_keys).map(|(_, i)| *i);
        let mut locked = self.shards.lock_all(indices.collect());
        for shard in locked.all() {
            shard.sweep(plan.now_ms, plan.window.index);
        }

        let index = plan.window.index;
        let elapsed = plan.window.elapsed;
        for (item, (r, (key, s))) in plan.rates.iter().zip(&rate_keys).enumerate() {
            let usage = locked
                .get(*s)
                .windows
                .get(key)
                .map_or_else(Usage::default, |c| c.usage_at(index));
            if !usage.fits(elapsed, r.cost, r.limit) {
                return Verdict::RateFull { item, usage };
            }
        }
        for (item, (b, (key, s))) in plan.budgets.iter().zip(&budget_keys).enumerate() {
            let committed = locked
                .get(*s)
                .budgets
                .get(key)
                .map_or(b.check.seed_nano, |c| c.committed);
            if !budget_fits(committed, b.reserve, b.check.limit_nano) {
                return Verdict::BudgetFull { item, committed };
            }
        }

        for (r, (key, s)) in plan.rates.iter().zip(&rate_keys) {
            let cell = locked
                .get(*s)
                .windows
                .entry(key.clone())
                .or_insert(WindowCell {
                    window: index,
                    prev: 0,
                    cur: 0,
                });
            cell.roll(index);
            cell.cur = cell.cur.saturating_add(r.cost);
        }
        for (b, (key, s)) in plan.budgets.iter().zip(&budget_keys) {
            let cell = locked
                .get(*s)
                .budgets
                .entry(key.clone())
                .or_insert(BudgetCell {
                    committed: b.check.seed_nano,
                    expires_at: b.expires_at,
                });
            cell.committed = cell.committed.saturating_add(b.reserve);
            cell.expires_at = cell.expires_at.max(b.expires_at);
        }
        let usages = rate_keys
            .iter()
            .map(|(key, s)| {
                locked
                    .get(*s)
                    .windows
                    .get(key)
                    .map_or_else(Usage::default, |c| c.usage_at(index))
            })
            .collect();
        Verdict::Admitted(usages)
    }

    /// Adjusts the counters of `hold` by the settlement's differences, and reports the
    /// budget counters' new totals. Counters that were forgotten meanwhile are left alone
    /// (and not reported), and no counter goes below zero.
    pub(crate) fn settle(
        &self,
        hold: &Hold,
        actual_tokens: u64,
        actual_cost: Option<i64>,
    ) -> Vec<BudgetTotal> {
        for (scope, delta) in hold.token_deltas(actual_tokens) {
            let key = rate_key(RateKind::Tokens, scope);
            let mut shard = self.shards.lock(self.shards.index(&key));
            let Some(cell) = shard.windows.get_mut(&key) else {
                continue;
            };
            if cell.window == hold.window {
                cell.cur = add(cell.cur, delta);
            } else if cell.window == hold.window + 1 {
                cell.prev = add(cell.prev, delta);
            }
        }
        let mut totals = Vec::with_capacity(hold.budgets.len());
        for (budget, delta) in hold.budget_deltas(actual_cost) {
            let key = budget_key(&budget.scope, &budget.period_id);
            let mut shard = self.shards.lock(self.shards.index(&key));
            if let Some(cell) = shard.budgets.get_mut(&key) {
                cell.committed = cell.committed.saturating_add(delta).max(0);
                totals.push(budget.total(cell.committed));
            }
        }
        totals
    }

    fn keyed(&self, key: String) -> (String, usize) {
        let shard = self.shards.index(&key);
        (key, shard)
    }

    /// How many counters are held, for tests of eviction.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .each()
            .map(|s| s.windows.len() + s.budgets.len())
            .sum()
    }
}

impl Shard {
    /// Drops the counters that can no longer matter, at most once a window.
    fn sweep(&mut self, now_ms: i64, window: i64) {
        if now_ms < self.next_sweep {
            return;
        }
        self.windows.retain(|_, c| c.window + 1 >= window);
        self.budgets.retain(|_, c| c.expires_at > now_ms);
        self.next_sweep = now_ms + WINDOW_MS;
    }
}

fn rate_key(kind: RateKind, scope: &str) -> String {
    format!("{}:{scope}", kind.as_str())
}

fn budget_key(scope: &str, period_id: &str) -> String {
    format!("budget:{period_id}:{scope}")
}

/// `n + delta`, floored at zero.
fn add(n: u64, delta: i64) -> u64 {
    if delta >= 0 {
        n.saturating_add(delta.unsigned_abs())
    } else {
        n.saturating_sub(delta.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Admission, BudgetCheck, Level, Period, RateCheck};

    fn rate(scope: String) -> RateCheck {
        RateCheck {
            scope,
            level: Level::Key,
            rpm: Some(10),
            tpm: Some(1000),
            tokens: 5,
        }
    }

    fn budget(scope: String) -> BudgetCheck {
        BudgetCheck {
            scope,
            level: Level::Key,
            limit_nano: 100,
            period: Period::Daily,
            seed_nano: 0,
            reserve_nano: 1,
        }
    }

    fn admit(m: &Memory, a: &Admission, now_ms: i64) -> Verdict {
        m.admit(&Plan::new(a, now_ms))
    }

    #[test]
    fn stale_windows_and_past_periods_are_forgotten() {
        let m = Memory::new();
        let day = 86_400_000;
        let t0 = 1_000 * day + 5_000;
        for i in 0..2_000 {
            let a = Admission {
                rates: vec![rate(format!("key:old{i}"))],
                budgets: vec![budget(format!("key:old{i}"))],
                parallel: vec![],
            };
            assert!(matches!(admit(&m, &a, t0), Verdict::Admitted(_)));
        }
        assert_eq!(m.len(), 6_000);

        // Two days later, other scopes touch every shard: the old windows are two minutes
        // stale and the old days are past their grace.
        let t1 = t0 + 2 * day;
        for i in 0..2_000 {
            let a = Admission {
                rates: vec![rate(format!("key:new{i}"))],
                budgets: vec![],
                parallel: vec![],
            };
            assert!(matches!(admit(&m, &a, t1), Verdict::Admitted(_)));
        }
        assert_eq!(m.len(), 4_000);
    }

    #[test]
    fn the_previous_window_survives_a_sweep() {
        let m = Memory::new();
        let a = Admission {
            rates: vec![RateCheck {
                rpm: Some(2),
                tpm: None,
                ..rate("key:k".into())
            }],
            ..Admission::default()
        };
        assert!(matches!(admit(&m, &a, 0), Verdict::Admitted(_)));
        assert!(matches!(admit(&m, &a, 500), Verdict::Admitted(_)));
        // The next window's first admission sweeps the shard; the previous window still
        // counts almost fully.
        assert!(matches!(admit(&m, &a, 60_001), Verdict::RateFull { .. }));
    }

    #[test]
    fn cells_roll_forward_only() {
        let mut c = WindowCell {
            window: 5,
            prev: 3,
            cur: 7,
        };
        c.roll(4);
        assert_eq!((c.window, c.prev, c.cur), (5, 3, 7));
        c.roll(6);
        assert_eq!((c.window, c.prev, c.cur), (6, 7, 0));
        c.roll(9);
        assert_eq!((c.window, c.prev, c.cur), (9, 0, 0));
    }
}
