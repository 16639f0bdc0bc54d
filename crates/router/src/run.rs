//! The attempt loop: targets in strategy order, retries with backoff, then fallbacks.
//!
//! Each upstream call, retry, fallback and hedge is counted through the `metrics` facade
//! where it happens (`sluice_upstream_attempts_total`, `sluice_upstream_latency_seconds`,
//! `sluice_retries_total`, `sluice_fallbacks_total`, `sluice_hedges_total`). Labels come from
//! the config only: a direct `provider/model` call is labelled `provider/*` and `*`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use sluice_providers::{CallCx, Provider, Target};
use sluice_types::{ClassSet, ErrorKind, GatewayError, Origin};

use crate::circuit::Admission;
use crate::{ModelGroup, Router, TargetSlot};

/// Most groups one request may visit (itself plus fallbacks, fallbacks of fallbacks, …).
const MAX_GROUPS: usize = 8;
/// Longest backoff between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One kind of upstream call (chat, stream, pass-through) that the loop can retry.
pub trait Attempt: Send + Sync {
    /// What a successful attempt yields.
    type Output: Send;

    /// Calls `provider` for `target`.
    fn call<'a>(
        &'a self,
        provider: &'a dyn Provider,
        target: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<Self::Output, GatewayError>>;

    /// Whether the call may be made more than once (a streamed upload may not).
    fn repeatable(&self) -> bool {
        true
    }
}

/// A successful result and how it was reached.
#[derive(Debug)]
pub struct Outcome<T> {
    /// The attempt's output.
    pub value: T,
    /// The target that answered.
    pub target: Target,
    /// Attempts made, this one included.
    pub attempts: u32,
}

impl Router {
    /// Runs `attempt` against `group`, retrying and falling back as configured.
    ///
    /// Within a group, try `n` goes to the `n`-th target of the strategy's order (wrapping),
    /// skipping targets whose circuit is open. A failure whose class is in `retry.on` moves to
    /// the next try; one in `retry.fallback_on` (or a retryable one when the tries run out)
    /// moves to the group's fallbacks; anything else ends the request.
    pub async fn run<A: Attempt>(
        &self,
        group: Arc<ModelGroup>,
        attempt: &A,
        cx: &CallCx,
    ) -> Result<Outcome<A::Output>, GatewayError> {
        let mut failures: Vec<(Target, GatewayError)> = Vec::new();
        // Each group to try, with the group whose failure led to it.
        let mut queue: VecDeque<(Option<Arc<ModelGroup>>, Arc<ModelGroup>)> =
            VecDeque::from([(None, group)]);
        let mut visited: Vec<String> = Vec::new();
        while let Some((from, group)) = queue.pop_front() {
            if visited.contains(&group.name) || visited.len() >= MAX_GROUPS {
                continue;
            }
            visited.push(group.name.clone());
            if let Some(from) = from {
                metrics::counter!(
                    "sluice_fallbacks_total",
                    "from" => self.group_label(&from),
                    "to" => self.group_label(&group),
                )
                .increment(1);
            }
            match self.run_group(&group, attempt, cx, &mut failures).await {
                Ok(outcome) => return Ok(outcome),
                Err(GroupEnd::Stop) => break,
                Err(GroupEnd::FallBack) => {
                    queue.extend(
                        group
                            .fallbacks
                            .iter()
                            .filter_map(|name| self.group(name).cloned())
                            .map(|next| (Some(group.clone()), next)),
                    );
                }
            }
        }
        Err(final_error(failures))
    }

    async fn run_group<A: Attempt>(
        &self,
        group: &ModelGroup,
        attempt: &A,
        cx: &CallCx,
        failures: &mut Vec<(Target, GatewayError)>,
    ) -> Result<Outcome<A::Output>, GroupEnd> {
        let order = group.order(cx.affinity.as_deref());
        // A direct `provider/model` group is not configured: its names came from the client.
        let direct = self.group(&group.name).is_none();
        let tries = if attempt.repeatable() {
            1 + group.retry.max as usize
        } else {
            1
        };
        for n in 0..tries {
            // The n-th target in order, or the next one whose circuit lets a request through.
            let admitted = (0..order.len()).find_map(|k| {
                let slot = &group.slots[order[(n + k) % order.len()]];
                slot.admit(cx.estimated_tokens)
                    .map(|admission| (slot, admission))
            });
            let Some((slot, admission)) = admitted else {
                if let Some(first) = order.first() {
                    let target = group.slots[*first].target.clone();
                    let limited = group.slots.iter().any(|s| s.quota.is_limited());
                    let e = if limited {
                        GatewayError::upstream_status(
                            429,
                            format!(
                                "every target of model {} is at its rate limit or unavailable",
                                group.name
                            ),
                            Some("rate_limit_error".into()),
                            Some("targets_rate_limited".into()),
                        )
                    } else {
                        GatewayError::new(
                            ErrorKind::UpstreamConnect,
                            Origin::Gateway,
                            format!(
                                "every target of model {} is unavailable (circuit open)",
                                group.name
                            ),
                        )
                    };
                    failures.push((target, e));
                }
                return Err(GroupEnd::FallBack);
            };
            if n > 0 {
                let wait = backoff(
                    group.retry.backoff,
                    n as u32,
                    failures.last().and_then(|f| f.1.retry_after()),
                );
                if cx.deadline.is_some_and(|d| Instant::now() + wait >= d) {
                    return Err(GroupEnd::Stop);
                }
                tokio::time::sleep(wait).await;
                metrics::counter!("sluice_retries_total", "model" => self.group_label(group))
                    .increment(1);
            }
            let (settled, cancelled) =
                call_hedged(group, &order, slot, admission, n, attempt, cx).await;
            let mut last_err = None;
            for Settled {
                slot,
                admission,
                started,
                result,
            } in settled
            {
                match result {
                    Ok(value) => {
                        let took = started.elapsed();
                        slot.observe(took);
                        group.latencies.record(took);
                        record_attempt(slot, direct, "ok");
                        metrics::histogram!(
                            "sluice_upstream_latency_seconds",
                            "provider" => slot.target.provider.clone(),
                            "model" => upstream_model_label(slot, direct),
                        )
                        .record(took.as_secs_f64());
                        slot.circuit.success(admission);
                        let attempts =
                            u32::try_from(failures.len() + 1 + cancelled).unwrap_or(u32::MAX);
                        return Ok(Outcome {
                            value,
                            target: slot.target.clone(),
                            attempts,
                        });
                    }
                    Err(e) => {
                        record_failure(slot, admission, &e);
                        record_attempt(slot, direct, e.class().name());
                        failures.push((slot.target.clone(), e.clone()));
                        last_err = Some(e);
                    }
                }
            }
            if let Some(e) = last_err {
                let class = e.class();
                if attempt.repeatable() && group.retry.on.contains(class) {
                    continue;
                }
                return Err(if group.retry.fallback_on.contains(class) {
                    GroupEnd::FallBack
                } else {
                    GroupEnd::Stop
                });
            }
        }
        let last = failures.last().map(|f| f.1.class());
        Err(match last {
            Some(class) if group.retry.fallback_on.contains(class) => GroupEnd::FallBack,
            _ => GroupEnd::Stop,
        })
    }
}

/// One finished call on one target.
struct Settled<'g, T> {
    slot: &'g TargetSlot,
    admission: Admission,
    started: Instant,
    result: Result<T, GatewayError>,
}

async fn call_one<'g, A: Attempt>(
    slot: &'g TargetSlot,
    admission: Admission,
    attempt: &A,
    cx: &CallCx,
) -> Settled<'g, A::Output> {
    let started = Instant::now();
    let _guard = slot.enter();
    // A traced request gives each attempt a span of its own, named in its `traceparent`.
    let traced = cx.for_attempt();
    let mut note = AttemptLog {
        cx,
        target: &slot.target,
        started,
        span: traced.as_ref().map(|(_, span)| *span),
        outcome: None,
    };
    let call_cx = traced.as_ref().map_or(cx, |(scoped, _)| scoped);
    let result = attempt
        .call(slot.provider.as_ref(), &slot.target, call_cx)
        .await;
    note.outcome = Some(match &result {
        Ok(_) => ("ok", None),
        Err(e) => (e.class().name(), e.upstream_status_code()),
    });
    drop(note);
    if let Some(wait) = cx.take_exhausted() {
        slot.quota.pause_for(wait);
    }
    Settled {
        slot,
        admission,
        started,
        result,
    }
}

/// Notes one attempt in the request's `CallCx` when it finishes, or as `cancelled` when its
/// future is dropped first (a hedge that lost, a client that went away).
struct AttemptLog<'a> {
    cx: &'a CallCx,
    target: &'a Target,
    started: Instant,
    span: Option<sluice_providers::SpanId>,
    outcome: Option<(&'static str, Option<u16>)>,
}

impl Drop for AttemptLog<'_> {
    fn drop(&mut self) {
        let (outcome, status) = self.outcome.unwrap_or(("cancelled", None));
        self.cx.record_attempt(sluice_providers::AttemptNote {
            provider: self.target.provider.clone(),
            model: self.target.model.clone(),
            outcome,
            status,
            started: self.started,
            duration: self.started.elapsed(),
            span: self.span,
            dropped: self.cx.take_dropped(),
        });
    }
}

/// Calls `slot`; on the first try of a hedged group, when no answer came within `hedge.after`,
/// also calls the next target that admits a request, and keeps whichever answers first (the
/// other is cancelled). Returns the finished calls in the order they finished (a success is
/// always last) and how many were cancelled.
async fn call_hedged<'g, A: Attempt>(
    group: &'g ModelGroup,
    order: &[usize],
    slot: &'g TargetSlot,
    admission: Admission,
    n: usize,
    attempt: &A,
    cx: &CallCx,
) -> (Vec<Settled<'g, A::Output>>, usize) {
    let primary = call_one(slot, admission, attempt, cx);
    let after = group
        .hedge_delay()
        .filter(|_| n == 0 && attempt.repeatable());
    let Some(after) = after else {
        return (vec![primary.await], 0);
    };
    tokio::pin!(primary);
    tokio::select! {
        done = &mut primary => return (vec![done], 0),
        () = tokio::time::sleep(after) => {}
    }
    let second = order
        .iter()
        .map(|&i| &group.slots[i])
        .filter(|s| !std::ptr::eq(*s, slot))
        .find_map(|s| s.admit(cx.estimated_tokens).map(|a| (s, a)));
    let Some((slot2, admission2)) = second else {
        return (vec![primary.await], 0);
    };
    tracing::debug!(model = %group.name, after = ?after, "no answer yet: hedging on a second target");
    // Only configured groups hedge (a direct call has one target), so the names are config.
    metrics::counter!("sluice_hedges_total", "model" => group.name.clone()).increment(1);
    let secondary = call_one(slot2, admission2, attempt, cx);
    tokio::pin!(secondary);
    tokio::select! {
        done = &mut primary => {
            if done.result.is_ok() {
                slot2.circuit.neutral(admission2);
                record_attempt(slot2, false, "cancelled");
                return (vec![done], 1);
            }
            (vec![done, secondary.await], 0)
        }
        done = &mut secondary => {
            if done.result.is_ok() {
                slot.circuit.neutral(admission);
                record_attempt(slot, false, "cancelled");
                return (vec![done], 1);
            }
            (vec![done, primary.await], 0)
        }
    }
}

/// Books a failed call against its target's circuit (client errors say nothing about health).
fn record_failure(slot: &TargetSlot, admission: Admission, e: &GatewayError) {
    tracing::debug!(
        provider = %slot.target.provider,
        model = %slot.target.model,
        class = e.class().name(),
        error = %e,
        "attempt failed"
    );
    if ClassSet::DEFAULT_RETRY.contains(e.class()) {
        slot.circuit.failure(admission);
    } else {
        slot.circuit.neutral(admission);
    }
}

impl Router {
    /// The `model` label of `group`: its name when it is configured, `provider/*` for a
    /// direct call, whose name came from the client.
    fn group_label(&self, group: &ModelGroup) -> String {
        if self.group(&group.name).is_some() {
            return group.name.clone();
        }
        match group.name.split_once('/') {
            Some((provider, _)) => format!("{provider}/*"),
            None => "other".to_owned(),
        }
    }
}

/// The upstream `model` label of `slot`: the configured model, or `*` in a direct call.
fn upstream_model_label(slot: &TargetSlot, direct: bool) -> metrics::SharedString {
    if direct {
        metrics::SharedString::const_str("*")
    } else {
        slot.target.model.clone().into()
    }
}

/// Counts one finished upstream call with its `outcome` (`ok`, `cancelled` or an error class).
fn record_attempt(slot: &TargetSlot, direct: bool, outcome: &'static str) {
    metrics::counter!(
        "sluice_upstream_attempts_total",
        "provider" => slot.target.provider.clone(),
        "model" => upstream_model_label(slot, direct),
        "outcome" => outcome,
    )
    .increment(1);
}

/// How a group's tries ended without success.
enum GroupEnd {
    /// Move on to the group's fallbacks.
    FallBack,
    /// End the request with the failures so far.
    Stop,
}

/// Exponential backoff with full jitter, at least what the upstream asked for.
fn backoff(base: Duration, retry: u32, retry_after: Option<Duration>) -> Duration {
    let cap = base.saturating_mul(1u32 << retry.min(16)).min(MAX_BACKOFF);
    let jittered = cap.mul_f64(fastrand::f64());
    match retry_after {
        Some(ra) => jittered.max(ra.min(MAX_BACKOFF)),
        None => jittered,
    }
}

/// The last failure, annotated with every earlier one when there were several.
fn final_error(failures: Vec<(Target, GatewayError)>) -> GatewayError {
    let n = failures.len();
    let Some((_, last)) = failures.last() else {
        return GatewayError::internal("the model has no targets");
    };
    let attempts = u32::try_from(n).unwrap_or(u32::MAX);
    if n == 1 {
        return last.clone().with_attempts(attempts);
    }
    let tried: Vec<String> = failures
        .iter()
        .enumerate()
        .map(|(i, (t, e))| {
            let status = e
                .upstream_status_code()
                .map(|s| format!(" {s}"))
                .unwrap_or_default();
            format!(
                "[{}] {}/{}: {}{status}: {}",
                i + 1,
                t.provider,
                t.model,
                e.class().name(),
                e.message()
            )
        })
        .collect();
    let msg = format!("all {n} attempts failed; {}", tried.join("; "));
    last.clone().with_message(msg).with_attempts(attempts)
}

#[cfg(test)]
mod tests;
