//! Sluice's limits: requests and tokens per minute, spend budgets, and caps on requests in
//! flight, enforced in one process or across replicas sharing a Redis.
//!
//! A request is described by an [`Admission`]: the rate limits, budgets and parallel caps
//! of every level it falls under (org, team, key, user, model). [`Limiter::admit`] is all
//! or nothing: either every check passes and the request is counted everywhere, or it gets
//! a [`Denied`] naming the first check that failed (parallel caps, then rate limits in
//! order with requests before tokens, then budgets) and nothing is counted. Rate limits
//! are sliding-window counters over one-minute windows; a request costs 1 against RPM and
//! its estimated tokens against TPM. A budget counter holds what its scope has spent plus
//! what requests in flight have reserved (their maximum cost), so concurrent requests
//! overshoot a budget only by how far actual usage exceeds estimates, never because they
//! ran at once. The returned [`Permit`] is settled with the actual tokens and cost once the
//! upstream answers, and reports each budget's new total ([`Settled`]) so the caller can
//! raise soft alerts without another round trip; dropped unsettled, it gives its
//! reservations back.
//!
//! Counters live in memory (sharded maps, no global lock) or in Redis, where one Lua
//! script per admission checks and increments every counter atomically, so any number of
//! replicas share exact limits. When Redis fails, [`OnRedisError`] decides whether
//! requests pass uncounted or are refused, and [`REDIS_ERRORS`] counts the failures.
//! Parallel caps are always counted in the process, so they apply per replica. Time is
//! passed in by the caller as unix milliseconds, which keeps every rule testable without a
//! clock. This crate knows nothing of HTTP or configuration files.

mod check;
mod denied;
mod memory;
mod parallel;
mod period;
mod permit;
mod plan;
mod redis_backend;
mod shards;
mod window;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use check::{Admission, BudgetCheck, Level, ParallelCheck, RateCheck};
pub use denied::{Denied, RateKind};
pub use period::Period;
pub use permit::{BudgetTotal, Permit, RateStatus, Remaining, Settled};
pub use redis_backend::{DEFAULT_TIMEOUT, PAUSE_AFTER_FAILURE};

use memory::Memory;
use parallel::Parallel;
use plan::{Hold, Plan};
use redis_backend::RedisCounters;

/// Admissions and settlements that could not use Redis (it failed, timed out, or was
/// skipped during the pause after a failure), by `op` (`admit` or `settle`).
pub const REDIS_ERRORS: &str = "sluice_limits_redis_errors_total";

/// What to do with a request when Redis cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRedisError {
    /// Admit it without counting it anywhere: limits and budgets are not enforced while
    /// Redis is down (parallel caps still are). Favours availability.
    FailOpen,
    /// Refuse it with [`Denied::Unavailable`]: no request passes uncounted. Favours
    /// strict enforcement.
    FailClosed,
}

/// Why the limiter could not be built or Redis could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The URL is invalid, or Redis answered with an error or the connection failed.
    #[error("redis: {0}")]
    Redis(String),
    /// Redis did not answer in time.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis failed moments ago and is left alone until [`PAUSE_AFTER_FAILURE`] passes.
    #[error("Redis failed recently and is not asked until the pause ends")]
    Paused,
    /// The admission or settlement script answered something it never sends.
    #[error("unexpected reply from a limits script: {0}")]
    Reply(String),
    /// [`Limiter::redis`] was called outside a tokio runtime.
    #[error("the Redis limiter must be created inside the tokio runtime")]
    NoRuntime,
}

/// Checks and counts requests against their limits. Cheap to clone: clones share the
/// counters.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    parallel: Arc<Parallel>,
}

enum Backend {
    Memory(Memory),
    Redis {
        counters: RedisCounters,
        on_error: OnRedisError,
    },
}

impl Limiter {
    /// A limiter counting in this process only.
    pub fn memory() -> Limiter {
        Self::with(Backend::Memory(Memory::new()))
    }

    /// A limiter counting in the Redis at `url` (`redis://…`), shared with every replica
    /// that uses the same Redis and `prefix` (e.g. `sluice:`; tests use their own). The
    /// connection is made on first use; connecting and every command are bounded by
    /// `timeout` ([`DEFAULT_TIMEOUT`] unless configured). Must be called inside a tokio
    /// runtime.
    pub fn redis(
        url: &str,
        prefix: &str,
        on_error: OnRedisError,
        timeout: Duration,
    ) -> Result<Limiter, LimitError> {
        let counters = RedisCounters::new(url, prefix, timeout)?;
        Ok(Self::with(Backend::Redis { counters, on_error }))
    }

    fn with(backend: Backend) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                parallel: Arc::new(Parallel::new()),
            }),
        }
    }

    /// Checks that the backend answers; for Redis, also loads the scripts. The in-memory
    /// backend always answers.
    pub async fn ping(&self) -> Result<(), LimitError> {
        match &self.inner.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Redis { counters, .. } => counters.ping().await,
        }
    }

    /// Admits a request at `now_ms` (unix milliseconds) if every check of `a` passes,
    /// counting it against all of them; otherwise counts nothing and says why.
    pub async fn admit(&self, a: &Admission, now_ms: i64) -> Result<Permit, Denied> {
        let slots = self.inner.parallel.acquire(&a.parallel)?;
        let plan = Plan::new(a, now_ms);
        if plan.is_empty() {
            return Ok(Permit::new(
                self.clone(),
                None,
                RateStatus::default(),
                slots,
            ));
        }
        let verdict = match &self.inner.backend {
            Backend::Memory(m) => m.admit(&plan),
            Backend::Redis { counters, on_error } => match counters.admit(&plan).await {
                Ok(v) => v,
                Err(e) => {
                    redis_failed("admit", &e);
                    return match on_error {
                        OnRedisError::FailOpen => Ok(Permit::new(
                            self.clone(),
                            None,
                            RateStatus::default(),
                            slots,
                        )),
                        OnRedisError::FailClosed => Err(Denied::Unavailable {
                            message: e.to_string(),
                        }),
                    };
                }
            },
        };
        let (hold, status) = plan.conclude(verdict)?;
        Ok(Permit::new(self.clone(), Some(hold), status, slots))
    }

    /// Settles `hold` with actual usage: the budget counters' new totals. Failures are
    /// logged and report nothing.
    async fn settle_hold(
        &self,
        hold: &Hold,
        actual_tokens: u64,
        actual_cost: Option<i64>,
    ) -> Vec<BudgetTotal> {
        match &self.inner.backend {
            Backend::Memory(m) => m.settle(hold, actual_tokens, actual_cost),
            Backend::Redis { counters, .. } => counters
                .settle(hold, actual_tokens, actual_cost)
                .await
                .unwrap_or_else(|e| {
                    redis_failed("settle", &e);
                    Vec::new()
                }),
        }
    }

    /// Gives back everything `hold` reserved, without waiting.
    fn release(&self, hold: Hold) {
        match &self.inner.backend {
            Backend::Memory(m) => drop(m.settle(&hold, 0, None)),
            Backend::Redis { .. } => match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let limiter = self.clone();
                    runtime.spawn(async move {
                        limiter.settle_hold(&hold, 0, None).await;
                    });
                }
                Err(_) => tracing::warn!(
                    ?hold,
                    "a permit was dropped outside the tokio runtime; its reservations stay \
                     in Redis until the counters expire"
                ),
            },
        }
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.inner.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis { .. } => "redis",
        };
        f.debug_struct("Limiter")
            .field("backend", &backend)
            .finish_non_exhaustive()
    }
}

/// Counts and (unless Redis is merely paused) logs a Redis failure.
fn redis_failed(op: &'static str, e: &LimitError) {
    metrics::counter!(REDIS_ERRORS, "op" => op).increment(1);
    if !matches!(e, LimitError::Paused) {
        tracing::warn!(error = %e, op, "limits: Redis failed");
    }
}
