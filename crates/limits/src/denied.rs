//! Why a request was not admitted, with a stable code and a human message.

use std::fmt;
use std::time::Duration;

use crate::period::format_utc;
use crate::{Level, Period};

/// Which per-minute counter was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKind {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
}

impl RateKind {
    /// `requests` or `tokens`.
    pub fn as_str(self) -> &'static str {
        match self {
            RateKind::Requests => "requests",
            RateKind::Tokens => "tokens",
        }
    }
}

/// A request that was not admitted. Nothing was consumed or reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// A per-minute limit is reached.
    Rate {
        /// The limit's level.
        level: Level,
        /// The limit's scope.
        scope: String,
        /// Requests or tokens.
        kind: RateKind,
        /// The limit per minute.
        limit: u64,
        /// How long until the request would fit if nothing else came in, in whole seconds.
        /// A request whose estimated tokens alone exceed the limit never fits; it gets one
        /// minute.
        retry_after: Duration,
    },
    /// A budget cannot hold the request's maximum cost.
    Budget {
        /// The budget's level.
        level: Level,
        /// The budget's scope.
        scope: String,
        /// The budget for the period, in nano-dollars.
        limit_nano: i64,
        /// Spent plus held by requests in flight, in nano-dollars.
        spent_nano: i64,
        /// The budget's period.
        period: Period,
        /// When the next period starts (unix ms); `None` for a total budget.
        resets_at: Option<i64>,
    },
    /// The scope has its maximum of requests in flight on this replica.
    Parallel {
        /// The cap's level.
        level: Level,
        /// The cap's scope.
        scope: String,
        /// The cap.
        max: u64,
    },
    /// The limits could not be checked (Redis unreachable with
    /// [`OnRedisError::FailClosed`](crate::OnRedisError::FailClosed)).
    Unavailable {
        /// What failed.
        message: String,
    },
}

impl Denied {
    /// A stable machine-readable code:
    /// `rate_limit_exceeded_{requests|tokens}_{org|team|key|user|model}` for
    /// [`Denied::Rate`], `budget_exceeded`, `max_parallel_exceeded` and
    /// `limits_unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            Denied::Rate { kind, level, .. } => rate_code(*kind, *level),
            Denied::Budget { .. } => "budget_exceeded",
            Denied::Parallel { .. } => "max_parallel_exceeded",
            Denied::Unavailable { .. } => "limits_unavailable",
        }
    }

    /// A sentence for the client naming the level and scope that refused the request.
    pub fn message(&self) -> String {
        match self {
            Denied::Rate {
                level,
                scope,
                kind,
                limit,
                retry_after,
            } => format!(
                "Rate limit reached for {scope} ({level} limit): {limit} {} per minute. \
                 Retry after {}s.",
                kind.as_str(),
                retry_after.as_secs()
            ),
            Denied::Budget {
                level,
                scope,
                limit_nano,
                spent_nano,
                period,
                resets_at,
            } => {
                let when = match period {
                    Period::Daily => "today",
                    Period::Weekly => "this week",
                    Period::Monthly => "this month",
                    Period::Total => "in total",
                };
                let reset = match resets_at {
                    Some(ms) => format!("It resets at {}.", format_utc(*ms)),
                    None => "It does not reset.".to_owned(),
                };
                format!(
                    "Budget exceeded for {scope} ({level} budget): {} of {} spent or reserved \
                     {when}. {reset}",
                    usd(*spent_nano),
                    usd(*limit_nano)
                )
            }
            Denied::Parallel { level, scope, max } => format!(
                "Too many requests in flight for {scope} ({level} limit): at most {max} at once."
            ),
            Denied::Unavailable { message } => {
                format!("Limits could not be checked, so the request was refused: {message}")
            }
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Denied {}

fn rate_code(kind: RateKind, level: Level) -> &'static str {
    match (kind, level) {
        (RateKind::Requests, Level::Org) => "rate_limit_exceeded_requests_org",
        (RateKind::Requests, Level::Team) => "rate_limit_exceeded_requests_team",
        (RateKind::Requests, Level::Key) => "rate_limit_exceeded_requests_key",
        (RateKind::Requests, Level::User) => "rate_limit_exceeded_requests_user",
        (RateKind::Requests, Level::Model) => "rate_limit_exceeded_requests_model",
        (RateKind::Tokens, Level::Org) => "rate_limit_exceeded_tokens_org",
        (RateKind::Tokens, Level::Team) => "rate_limit_exceeded_tokens_team",
        (RateKind::Tokens, Level::Key) => "rate_limit_exceeded_tokens_key",
        (RateKind::Tokens, Level::User) => "rate_limit_exceeded_tokens_user",
        (RateKind::Tokens, Level::Model) => "rate_limit_exceeded_tokens_model",
    }
}

/// Nano-dollars as dollars with at least two decimals and no trailing zeros beyond them.
fn usd(nano: i64) -> String {
    let sign = if nano < 0 { "-" } else { "" };
    let abs = nano.unsigned_abs();
    let frac = format!("{:09}", abs % 1_000_000_000);
    let frac = frac.trim_end_matches('0');
    let frac = format!("{frac:0<2}");
    format!("{sign}${}.{frac}", abs / 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_name_the_kind_and_level() {
        let rate = |kind, level| Denied::Rate {
            level,
            scope: "s".into(),
            kind,
            limit: 1,
            retry_after: Duration::from_secs(1),
        };
        assert_eq!(
            rate(RateKind::Requests, Level::Key).code(),
            "rate_limit_exceeded_requests_key"
        );
        assert_eq!(
            rate(RateKind::Tokens, Level::Team).code(),
            "rate_limit_exceeded_tokens_team"
        );
        for kind in [RateKind::Requests, RateKind::Tokens] {
            for level in [
                Level::Org,
                Level::Team,
                Level::Key,
                Level::User,
                Level::Model,
            ] {
                assert_eq!(
                    rate(kind, level).code(),
                    format!("rate_limit_exceeded_{}_{}", kind.as_str(), level.as_str())
                );
            }
        }
        let parallel = Denied::Parallel {
            level: Level::Key,
            scope: "k".into(),
            max: 2,
        };
        assert_eq!(parallel.code(), "max_parallel_exceeded");
        let down = Denied::Unavailable {
            message: "x".into(),
        };
        assert_eq!(down.code(), "limits_unavailable");
    }

    #[test]
    fn messages_say_who_refused_and_when_it_clears() {
        let rate = Denied::Rate {
            level: Level::Key,
            scope: "key:k_123".into(),
            kind: RateKind::Requests,
            limit: 60,
            retry_after: Duration::from_secs(12),
        };
        assert_eq!(
            rate.message(),
            "Rate limit reached for key:k_123 (key limit): 60 requests per minute. Retry after 12s."
        );
        let budget = Denied::Budget {
            level: Level::Team,
            scope: "team:t_1".into(),
            limit_nano: 10_000_000_000,
            spent_nano: 10_500_000_000,
            period: Period::Monthly,
            resets_at: Some(1_796_083_200_000),
        };
        assert_eq!(budget.code(), "budget_exceeded");
        assert_eq!(
            budget.to_string(),
            "Budget exceeded for team:t_1 (team budget): $10.50 of $10.00 spent or reserved \
             this month. It resets at 2026-12-01T00:00:00Z."
        );
    }

    #[test]
    fn dollars_keep_small_amounts_visible() {
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(1_234_567), "$0.001234567");
        assert_eq!(usd(20_000_000_000), "$20.00");
        assert_eq!(usd(-1_500_000_000), "-$1.50");
    }
}
