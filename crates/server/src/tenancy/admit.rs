//! Admission: every limit and budget that applies to one request, checked and taken at once.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use sluice_limits::{
    Admission, BudgetCheck, Denied, Level, ParallelCheck, Permit, RateCheck, RateStatus,
};
use sluice_types::{ErrorKind, GatewayError, Origin};

use sluice_router::ModelGroup;

use super::doc::Kind;
use super::{Principal, Tenant, seed_key};
use crate::Gateway;

/// What one request asks of the limits.
#[derive(Clone, Copy)]
pub(crate) struct Demand<'a> {
    /// The model group the request resolved to (for per-model limits, and the prices of its
    /// targets).
    pub model: &'a str,
    /// The group itself; `None` for native pass-through, whose model the gateway does not
    /// read (its budget reservation is then zero: only an exhausted budget refuses it).
    pub group: Option<&'a ModelGroup>,
    /// The end user, when the request names one.
    pub user: Option<&'a str>,
    /// The most output tokens the request may produce.
    pub output: u64,
    /// Counts the prompt's tokens; called only when a limit or budget applies.
    pub prompt: &'a (dyn Fn() -> u64 + Sync),
}

/// Checks and takes every limit and budget of the key, its team and org, the end user and
/// the model, all or nothing. `None` when nothing limits this request.
pub(crate) async fn admit(
    gw: &Gateway,
    principal: &Principal,
    d: &Demand<'_>,
) -> Result<Option<Permit>, GatewayError> {
    let snap = gw.tenancy.current();
    let now = sluice_store::unix_ms();
    let user = d.user.and_then(|u| snap.get(Kind::User, u));
    let mut a = Admission::default();
    for t in principal.chain().chain(user) {
        add_tenant(&mut a, t, &snap.seeds, now);
    }
    if let Some(&(rpm, tpm)) = gw.model_limits.get(d.model) {
        a.rates.push(RateCheck {
            scope: format!("model:{}", d.model),
            level: Level::Model,
            rpm,
            tpm,
            tokens: 0,
        });
    }
    if a.rates.is_empty() && a.budgets.is_empty() && a.parallel.is_empty() {
        return Ok(None);
    }
    // Only token limits and budgets need the prompt counted.
    let counts = !a.budgets.is_empty() || a.rates.iter().any(|r| r.tpm.is_some());
    let prompt = if counts { (d.prompt)() } else { 0 };
    let tokens = prompt.saturating_add(d.output);
    for r in &mut a.rates {
        r.tokens = tokens;
    }
    if !a.budgets.is_empty() {
        let reserve = d
            .group
            .map_or(0, |g| gw.pricing.max_cost(g, prompt, d.output));
        for b in &mut a.budgets {
            b.reserve_nano = reserve;
        }
    }
    gw.limiter.admit(&a, now).await.map(Some).map_err(|denied| {
        metrics::counter!(super::REJECTED, "code" => denied.code()).increment(1);
        refused(&denied, now)
    })
}

fn add_tenant(
    a: &mut Admission,
    t: &Tenant,
    seeds: &std::collections::HashMap<String, i64>,
    now: i64,
) {
    let level = level(t.kind);
    let doc = &t.doc;
    if doc.rpm.is_some() || doc.tpm.is_some() {
        a.rates.push(RateCheck {
            scope: t.scope().to_owned(),
            level,
            rpm: doc.rpm,
            tpm: doc.tpm,
            tokens: 0,
        });
    }
    if let Some(b) = &doc.budget {
        let scope = t.scope().to_owned();
        a.budgets.push(BudgetCheck {
            seed_nano: seeds
                .get(&seed_key(&scope, b.period, now))
                .copied()
                .unwrap_or(0),
            scope,
            level,
            limit_nano: b.amount.0,
            period: b.period,
            reserve_nano: 0,
        });
    }
    if let Some(max) = doc.max_parallel {
        a.parallel.push(ParallelCheck {
            scope: t.scope().to_owned(),
            level,
            max,
        });
    }
}

fn level(kind: Kind) -> Level {
    match kind {
        Kind::Org => Level::Org,
        Kind::Team => Level::Team,
        Kind::Key => Level::Key,
        Kind::User => Level::User,
    }
}

/// A refusal as the client sees it: 429 with `Retry-After` and a `code` naming the limit
/// (503 when the limits backend is down and set to fail closed).
fn refused(denied: &Denied, now: i64) -> GatewayError {
    let e = GatewayError::new(ErrorKind::RateLimited, Origin::Gateway, denied.message())
        .with_code(denied.code());
    match denied {
        Denied::Rate { retry_after, .. } => e.with_retry_after(*retry_after),
        Denied::Budget { resets_at, .. } => match resets_at {
            Some(at) => e.with_retry_after(Duration::from_millis(
                u64::try_from(at.saturating_sub(now)).unwrap_or(0),
            )),
            None => e,
        },
        Denied::Parallel { .. } => e.with_retry_after(Duration::from_secs(1)),
        Denied::Unavailable { .. } => e.with_status(503),
    }
}

/// Adds OpenAI's `x-ratelimit-*` headers for the tightest requests and tokens limits.
pub(crate) fn stamp_rate_headers(h: &mut HeaderMap, status: &RateStatus) {
    let kinds = [
        (
            &status.requests,
            [
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
            ],
        ),
        (
            &status.tokens,
            [
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
            ],
        ),
    ];
    for (r, [limit, remaining, reset]) in kinds {
        if let Some(r) = r {
            h.insert(HeaderName::from_static(limit), HeaderValue::from(r.limit));
            h.insert(
                HeaderName::from_static(remaining),
                HeaderValue::from(r.remaining),
            );
            if let Ok(v) = HeaderValue::from_str(&openai_duration(r.reset)) {
                h.insert(HeaderName::from_static(reset), v);
            }
        }
    }
}

/// A duration the way OpenAI's reset headers write it: `20ms`, `1s`, `6m0s`.
fn openai_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs() + u64::from(d.subsec_millis() > 0);
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_durations_read_like_openai_s() {
        assert_eq!(openai_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(openai_duration(Duration::from_millis(1000)), "1s");
        assert_eq!(openai_duration(Duration::from_millis(1500)), "2s");
        assert_eq!(openai_duration(Duration::from_secs(360)), "6m0s");
    }
}
