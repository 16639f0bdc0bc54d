//! The shared backend: counters in Redis, so every replica counts against the same limits.
//!
//! An admission is one Lua script (`admit.lua`), which Redis runs atomically: it reads every
//! rate window and budget counter of the plan, and only if all fit increments them all, so
//! concurrent requests on any number of replicas can never overshoot a limit (the
//! non-atomic "GET, then SET from the client" pattern can). Keys, all under the
//! configured prefix:
//!
//! - `{prefix}requests:{window}:{scope}` and `{prefix}tokens:{window}:{scope}`: a rate
//!   counter's count in one window (`unix ms / 60 000`), expiring after two windows;
//! - `{prefix}budget:{period id}:{scope}`: a budget's committed nano-dollars, created with
//!   the caller's seed (`SET NX` inside the script) and expiring an hour after the period
//!   ends (a total budget's counter after a day unused; it is re-seeded when next used).
//!
//! Settlement is a second small script (`settle.lua`) adding the differences and answering
//! with the budget counters' new values, so alerts need no second round trip. Windows are
//! numbered from the caller's clock, so replicas need synchronised clocks (NTP). Budget
//! amounts are compared as Lua numbers, exact up to 2⁵³ nano-dollars (about $9 million).
//! The keys of one script are not hashed to one slot, so Redis Cluster is not supported.
//!
//! The connection is a lazily connected `ConnectionManager`; every command is bounded by
//! [`DEFAULT_TIMEOUT`] (or the configured timeout) and after a failure Redis is left alone for [`PAUSE_AFTER_FAILURE`], so an
//! unreachable Redis costs at most one timeout per pause instead of one per request. A
//! script that times out may still have run; its reservation then stays until its key
//! expires.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::plan::{Hold, Plan, Verdict, WINDOW_TTL, ttl_ms};
use crate::window::{Usage, WINDOW_MS};
use crate::{BudgetTotal, LimitError, RateKind};

/// The default bound on connecting and on every command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is skipped after a command failed or timed out.
pub const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// Counters in Redis.
pub(crate) struct RedisCounters {
    conn: ConnectionManager,
    prefix: String,
    admit: Script,
    settle: Script,
    /// Unix milliseconds until which Redis is not asked (after a failure).
    paused_until: AtomicI64,
    /// The bound on every command.
    timeout: Duration,
}

impl RedisCounters {
    /// Counters on the Redis at `url`, keys under `prefix`. Connects on first use; must be
    /// called inside a tokio runtime.
    pub(crate) fn new(url: &str, prefix: &str, timeout: Duration) -> Result<Self, LimitError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(LimitError::NoRuntime);
        }
        let client = redis::Client::open(url).map_err(redis_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None)
            .set_number_of_retries(1);
        let conn = client
            .get_connection_manager_lazy(config)
            .map_err(redis_error)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            admit: Script::new(include_str!("admit.lua")),
            settle: Script::new(include_str!("settle.lua")),
            paused_until: AtomicI64::new(0),
            timeout,
        })
    }

    /// Checks that Redis answers, and loads the scripts so the first admissions need no
    /// extra round trip.
    pub(crate) async fn ping(&self) -> Result<(), LimitError> {
        let mut conn = self.conn.clone();
        self.bounded(redis::cmd("PING").query_async::<String>(&mut conn))
            .await?;
        self.bounded(self.admit.prepare_invoke().load_async(&mut conn))
            .await?;
        self.bounded(self.settle.prepare_invoke().load_async(&mut conn))
            .await
            .map(drop)
    }

    /// Runs the admission script for `plan`.
    pub(crate) async fn admit(&self, plan: &Plan<'_>) -> Result<Verdict, LimitError> {
        let w = plan.window;
        let mut call = self.admit.prepare_invoke();
        call.arg(WINDOW_MS)
            .arg(w.elapsed)
            .arg(window_ttl_ms())
            .arg(plan.rates.len());
        for r in &plan.rates {
            call.key(self.rate_key(r.kind, w.index, &r.check.scope))
                .key(self.rate_key(r.kind, w.index - 1, &r.check.scope))
                .arg(r.limit)
                .arg(r.cost);
        }
        for b in &plan.budgets {
            call.key(self.budget_key(&b.period_id, &b.check.scope))
                .arg(b.check.limit_nano)
                .arg(b.check.seed_nano)
                .arg(b.reserve)
                .arg(ttl_ms(b.expires_at, plan.now_ms));
        }
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = self.bounded(call.invoke_async(&mut conn)).await?;
        verdict(&reply, plan.rates.len())
    }

    /// Runs the settlement script for `hold`: the budget counters' new totals, without
    /// those that had expired.
    pub(crate) async fn settle(
        &self,
        hold: &Hold,
        actual_tokens: u64,
        actual_cost: Option<i64>,
    ) -> Result<Vec<BudgetTotal>, LimitError> {
        let mut call = self.settle.prepare_invoke();
        call.arg(hold.tokens.len()).arg(window_ttl_ms());
        for (scope, delta) in hold.token_deltas(actual_tokens) {
            call.key(self.rate_key(RateKind::Tokens, hold.window, scope))
                .arg(delta);
        }
        for (budget, delta) in hold.budget_deltas(actual_cost) {
            call.key(self.budget_key(&budget.period_id, &budget.scope))
                .arg(delta);
        }
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = self.bounded(call.invoke_async(&mut conn)).await?;
        if reply.len() != hold.budgets.len() {
            return Err(LimitError::Reply(format!("{reply:?}")));
        }
        Ok(hold
            .budgets
            .iter()
            .zip(reply)
            .filter(|(_, committed)| *committed >= 0)
            .map(|(budget, committed)| budget.total(committed))
            .collect())
    }

    fn rate_key(&self, kind: RateKind, window: i64, scope: &str) -> String {
        format!("{}{}:{window}:{scope}", self.prefix, kind.as_str())
    }

    fn budget_key(&self, period_id: &str, scope: &str) -> String {
        format!("{}budget:{period_id}:{scope}", self.prefix)
    }

    /// Runs one command within the timeout, pausing Redis use after a failure.
    async fn bounded<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, LimitError> {
        if wall_ms() < self.paused_until.load(Ordering::Relaxed) {
            return Err(LimitError::Paused);
        }
        let err = match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => redis_error(e),
            Err(_) => LimitError::Timeout(self.timeout),
        };
        let pause = i64::try_from(PAUSE_AFTER_FAILURE.as_millis()).unwrap_or(1000);
        self.paused_until
            .store(wall_ms().saturating_add(pause), Ordering::Relaxed);
        Err(err)
    }
}

/// The admission script's reply as a verdict.
fn verdict(reply: &[i64], rates: usize) -> Result<Verdict, LimitError> {
    let bad = || LimitError::Reply(format!("{reply:?}"));
    let count = |v: i64| u64::try_from(v).map_err(|_| bad());
    match reply {
        [1, counts @ ..] if counts.len() == 2 * rates => counts
            .chunks_exact(2)
            .map(|pair| {
                Ok(Usage {
                    prev: count(pair[0])?,
                    cur: count(pair[1])?,
                })
            })
            .collect::<Result<_, _>>()
            .map(Verdict::Admitted),
        [0, item, prev, cur] if (1..=rates).contains(&index(*item)) => Ok(Verdict::RateFull {
            item: index(*item) - 1,
            usage: Usage {
                prev: count(*prev)?,
                cur: count(*cur)?,
            },
        }),
        [0, item, committed] if index(*item) > rates => Ok(Verdict::BudgetFull {
            item: index(*item) - rates - 1,
            committed: *committed,
        }),
        _ => Err(bad()),
    }
}

fn index(v: i64) -> usize {
    usize::try_from(v).unwrap_or(0)
}

fn window_ttl_ms() -> u64 {
    u64::try_from(WINDOW_TTL.as_millis()).unwrap_or(u64::MAX)
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn redis_error(e: redis::RedisError) -> LimitError {
    LimitError::Redis(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_become_verdicts() {
        assert_eq!(
            verdict(&[1, 3, 4, 0, 9], 2).unwrap(),
            Verdict::Admitted(vec![Usage { prev: 3, cur: 4 }, Usage { prev: 0, cur: 9 }])
        );
        assert_eq!(
            verdict(&[0, 2, 5, 6], 2).unwrap(),
            Verdict::RateFull {
                item: 1,
                usage: Usage { prev: 5, cur: 6 }
            }
        );
        assert_eq!(
            verdict(&[0, 3, 77], 2).unwrap(),
            Verdict::BudgetFull {
                item: 0,
                committed: 77
            }
        );
        assert!(verdict(&[1, 3], 2).is_err());
        assert!(verdict(&[0, 3, 1, 1], 2).is_err());
        assert!(verdict(&[0, 1, 7], 2).is_err());
        assert!(verdict(&[], 0).is_err());
    }
}
