//! What a request asks to be admitted against.

use std::fmt;

use crate::Period;

/// The kind of entity a limit belongs to; it names the limit in errors and codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// The whole organisation (gateway).
    Org,
    /// A team.
    Team,
    /// A virtual key.
    Key,
    /// An end user.
    User,
    /// A model group.
    Model,
}

impl Level {
    /// `org`, `team`, `key`, `user` or `model`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Org => "org",
            Level::Team => "team",
            Level::Key => "key",
            Level::User => "user",
            Level::Model => "model",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything one request is checked against. A scope should appear at most once in each
/// list: two checks on one scope count the request twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// Requests-per-minute and tokens-per-minute limits.
    pub rates: Vec<RateCheck>,
    /// Spend budgets to reserve the request's maximum cost against.
    pub budgets: Vec<BudgetCheck>,
    /// Caps on requests in flight at once (per replica).
    pub parallel: Vec<ParallelCheck>,
}

/// A per-minute limit on one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCheck {
    /// Whose counter this is, e.g. `key:k_123`, `team:t_1`, `user:bob`, `model:fast`.
    pub scope: String,
    /// The kind of entity, for errors.
    pub level: Level,
    /// Requests per minute; `None` for no limit. Each request costs 1.
    pub rpm: Option<u64>,
    /// Tokens per minute; `None` for no limit.
    pub tpm: Option<u64>,
    /// The request's estimated tokens, charged to the TPM counter until settlement.
    pub tokens: u64,
}

/// A spend budget on one scope, in nano-dollars (10⁻⁹ USD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetCheck {
    /// Whose budget this is.
    pub scope: String,
    /// The kind of entity, for errors.
    pub level: Level,
    /// The most the scope may spend in a period.
    pub limit_nano: i64,
    /// When the budget starts again.
    pub period: Period,
    /// Spend already persisted for the current period; used only when the counter does not
    /// exist yet (first request of the period, or after a restart).
    pub seed_nano: i64,
    /// The most this request can cost, held until settlement (a negative value counts as
    /// zero).
    pub reserve_nano: i64,
}

/// A cap on one scope's requests in flight at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParallelCheck {
    /// Whose requests are counted.
    pub scope: String,
    /// The kind of entity, for errors.
    pub level: Level,
    /// The most requests in flight at once on this replica.
    pub max: u64,
}
