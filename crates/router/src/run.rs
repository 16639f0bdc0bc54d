//! The attempt loop: targets in strategy order, retries with backoff, then fallbacks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use sluice_providers::{CallCx, Provider, Target};
use sluice_types::GatewayError;

use crate::{ModelGroup, Router};

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
    pub async fn run<A: Attempt>(
        &self,
        group: Arc<ModelGroup>,
        attempt: &A,
        cx: &CallCx,
    ) -> Result<Outcome<A::Output>, GatewayError> {
        let mut failures: Vec<(Target, GatewayError)> = Vec::new();
        let mut queue = vec![group];
        let mut visited: Vec<String> = Vec::new();
        while let Some(group) = queue.first().cloned() {
            queue.remove(0);
            if visited.contains(&group.name) || visited.len() >= MAX_GROUPS {
                continue;
            }
            visited.push(group.name.clone());
            let order = group.order();
            if order.is_empty() {
                continue;
            }
            let tries = if attempt.repeatable() {
                1 + group.retry.max as usize
            } else {
                1
            };
            for n in 0..tries {
                let slot = &group.slots[order[n % order.len()]];
                if n > 0 {
                    let wait = backoff(
                        group.retry.backoff,
                        n as u32,
                        failures.last().and_then(|f| f.1.retry_after()),
                    );
                    if cx.deadline.is_some_and(|d| Instant::now() + wait >= d) {
                        break;
                    }
                    tokio::time::sleep(wait).await;
                }
                let started = Instant::now();
                let result = {
                    let _guard = slot.enter();
                    attempt.call(slot.provider.as_ref(), &slot.target, cx).await
                };
                match result {
                    Ok(value) => {
                        slot.observe(started.elapsed());
                        let attempts = u32::try_from(failures.len() + 1).unwrap_or(u32::MAX);
                        return Ok(Outcome {
                            value,
                            target: slot.target.clone(),
                            attempts,
                        });
                    }
                    Err(e) => {
                        tracing::debug!(provider = %slot.target.provider, model = %slot.target.model, error = %e, "attempt failed");
                        let retryable = e.is_retryable();
                        failures.push((slot.target.clone(), e));
                        if !retryable || !attempt.repeatable() {
                            return Err(final_error(failures));
                        }
                    }
                }
            }
            for name in &group.fallbacks {
                if let Some(g) = self.group(name) {
                    queue.push(g.clone());
                }
            }
        }
        Err(final_error(failures))
    }
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
    if n == 1 {
        return last.clone();
    }
    let tried: Vec<String> = failures
        .iter()
        .map(|(t, e)| format!("{}/{}: {}", t.provider, t.model, e.message()))
        .collect();
    let msg = format!("all {n} attempts failed; {}", tried.join("; "));
    last.clone().with_message(msg)
}

#[cfg(test)]
mod tests;
