//! Guardrails in the chat pipeline: the engine of `sluice-guard`, called at the two points
//! the design names.
//!
//! After the model resolves, [`input`] runs the union of the checks the model, the key, its
//! team and its org name (each once, in the engine's order; names a key or team keeps but
//! the config no longer defines are skipped with a warning). A block is a 400
//! `guardrail_blocked` naming the check and the reason; a mask gives the rest of the
//! pipeline a masked copy of the request (the only time the request is copied), so the
//! cache and the upstream see placeholders, never the values. The answer goes through the
//! same checks' output stage: a complete answer with [`Guarded::check_answer`] (a block
//! replaces it with the same 400) and then [`Guarded::restore`], a stream through
//! [`Guarded::stream`], which checks and restores each delta and ends the stream with an
//! error event on a block. Every check that ran is counted in
//! `sluice_guardrail_actions_total{check, action}` and added to the request log's
//! `guardrails` field.

mod external;
mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};
use sluice_config::Config;
use sluice_guard::{Block, Check, CheckKind, Guard, Outcome, Vault};
use sluice_types::{ChatRequest, ChatResponse, GatewayError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use self::external::{Decision, Meta, Modified, Side};
use crate::reqlog::LogSlot;
use crate::{Gateway, Principal, RequestCx};

/// Checks that ran, by check and by what they did: `block`, `mask`, `flag`, or `pass` when
/// they found nothing.
pub(crate) const ACTIONS: &str = "sluice_guardrail_actions_total";
/// The error code of a request or answer a guardrail refused.
const BLOCKED: &str = "guardrail_blocked";

/// The configured checks and which models attach which.
pub(crate) struct Guardrails {
    guard: Arc<Guard>,
    by_model: HashMap<String, Vec<String>>,
}

impl Guardrails {
    /// The checks of `config`; `None` when it defines none.
    pub(crate) fn from_config(config: &Config) -> Option<Self> {
        let guard = config.guardrails.clone()?;
        let by_model = config
            .models
            .iter()
            .filter(|m| !m.guardrails.is_empty())
            .map(|m| (m.name.clone(), m.guardrails.clone()))
            .collect();
        Some(Self { guard, by_model })
    }

    /// The names `model` and the caller attach, each once; names the guard does not know
    /// are skipped with a warning.
    fn names(&self, principal: &Principal, model: &str) -> Vec<String> {
        let mut names: Vec<String> = self.by_model.get(model).cloned().unwrap_or_default();
        for tenant in principal.chain() {
            for name in &tenant.doc.guardrails {
                if self.guard.check(name).is_none() {
                    tracing::warn!(
                        check = %name,
                        tenant = %tenant.doc.id,
                        "skipping a guardrail the config does not define"
                    );
                } else if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        names
    }
}

/// What the input stage decided, carried to the answer.
#[derive(Default)]
pub(crate) struct Guarded {
    /// The guard and the checks that apply; `None` when none does.
    checks: Option<(Arc<Guard>, Vec<String>)>,
    /// The masked (or webhook-modified) copy of the request, when a check changed it.
    masked: Option<ChatRequest>,
    /// The values to put back in the answer.
    vault: Option<Arc<Vault>>,
    /// The request's `response_format`, for `json_schema` checks.
    response_format: Option<Value>,
    /// Judges running alongside the upstream call, until the answer waits for them.
    pending: Mutex<Option<Pending>>,
    /// What the output stage's judges and webhooks need, when any applies.
    external: Option<Arc<External>>,
}

/// The output stage's judges and webhooks, and what they read.
struct External {
    gw: Arc<Gateway>,
    meta: Meta,
    /// The checks, in run order.
    checks: Vec<Check>,
    /// The request as the provider got it.
    request: Arc<ChatRequest>,
}

/// Parallel judges in flight; dropping them (the request failed or the client left) stops
/// them.
pub(crate) struct Pending(Vec<JoinHandle<Result<(), GatewayError>>>);

impl Pending {
    /// Waits for every judge; the first block is the error.
    pub(crate) async fn wait(mut self) -> Result<(), GatewayError> {
        for handle in &mut self.0 {
            match handle.await {
                Ok(verdict) => verdict?,
                Err(e) => tracing::warn!("a parallel guardrail judge stopped: {e}"),
            }
        }
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

/// A refused answer, and how many more times the check that refused it lets the answer be
/// asked for again (a `json_schema` check's `retries`; 0 for every other check).
pub(crate) struct Refused {
    /// The client's error.
    pub(crate) error: GatewayError,
    /// Further tries the refusing check allows.
    pub(crate) retries: u32,
}

/// Runs the input stage for a request to the model group `model`; refuses the request when
/// a check blocks. Local checks run first; then the judges and webhooks, on the masked
/// request: parallel judges start and run alongside what follows, the others are waited
/// for in turn.
pub(crate) async fn input(
    gw: &Arc<Gateway>,
    cx: &RequestCx,
    principal: &Principal,
    model: &str,
    req: &ChatRequest,
) -> Result<Guarded, GatewayError> {
    let Some(g) = &gw.guardrails else {
        if principal.chain().any(|t| !t.doc.guardrails.is_empty()) {
            tracing::warn!("skipping guardrails a key or team names: the config defines none");
        }
        return Ok(Guarded::default());
    };
    let names = g.names(principal, model);
    if names.is_empty() {
        return Ok(Guarded::default());
    }
    let log = &cx.log;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (mut out, pending) = g.guard.scan_input(req, &refs).map_err(engine_error)?;
    let mut masked = pending.map(|pending| {
        let mut copy = req.clone();
        pending.apply(&mut copy, &mut out);
        copy
    });
    record(log, "input", &out.outcomes);
    if let Some(block) = out.blocked {
        return Err(blocked(&block));
    }
    let outputs = g.external_outputs(&refs)?;
    let mut meta = None;
    let mut parallel = Vec::new();
    for name in &out.external {
        let Some(check) = g.guard.check(name) else {
            continue;
        };
        let meta = meta.get_or_insert_with(|| Meta::of(cx, principal, model));
        let current = masked.as_ref().unwrap_or(req);
        if matches!(&check.kind, CheckKind::Judge(j) if j.parallel) {
            let (gw, log, meta, check) = (gw.clone(), log.clone(), meta.clone(), check.clone());
            let request = current.clone();
            parallel.push(tokio::spawn(async move {
                let decision =
                    external::run(&gw, &log, &meta, &check, Side::Input, &request, None).await;
                match decision {
                    Decision::Block(block) => Err(blocked(&block)),
                    _ => Ok(()),
                }
            }));
            continue;
        }
        match external::run(gw, log, meta, check, Side::Input, current, None).await {
            Decision::Pass => {}
            Decision::Block(block) => return Err(blocked(&block)),
            Decision::Modify(Modified::Request(new)) => masked = Some(*new),
            Decision::Modify(Modified::Answer(_)) => {}
        }
    }
    let external = (!outputs.is_empty()).then(|| {
        Arc::new(External {
            gw: gw.clone(),
            meta: meta.unwrap_or_else(|| Meta::of(cx, principal, model)),
            checks: outputs,
            request: Arc::new(masked.clone().unwrap_or_else(|| req.clone())),
        })
    });
    Ok(Guarded {
        checks: Some((g.guard.clone(), names)),
        masked,
        vault: out.vault.map(Arc::new),
        response_format: req.response_format.clone(),
        pending: Mutex::new((!parallel.is_empty()).then_some(Pending(parallel))),
        external,
    })
}

impl Guardrails {
    /// The judge and webhook checks among `names` whose stage includes output, in run
    /// order (sampled per request, as local checks are).
    fn external_outputs(&self, names: &[&str]) -> Result<Vec<Check>, GatewayError> {
        let out = self
            .guard
            .select_output(names)
            .map_err(engine_error)?
            .into_iter()
            .filter(|c| c.kind.is_external())
            .cloned()
            .collect();
        Ok(out)
    }
}

impl Meta {
    fn of(cx: &RequestCx, principal: &Principal, model: &str) -> Meta {
        Meta {
            request_id: cx.id.clone(),
            model: model.to_owned(),
            key_id: principal.key.as_ref().map(|t| t.doc.id.clone()),
            team_id: principal.team.as_ref().map(|t| t.doc.id.clone()),
        }
    }
}

impl Guarded {
    /// The request the rest of the pipeline sends: the masked copy, or `original`.
    pub(crate) fn request<'r>(&'r self, original: &'r ChatRequest) -> &'r ChatRequest {
        self.masked.as_ref().unwrap_or(original)
    }

    /// For a stream whose verdict comes after its end (parallel judges, output judges and
    /// webhooks): the sender this guard uses to approve the answer once they passed, and the
    /// receiver the cache waits on before storing it. `None` when nothing decides late.
    pub(crate) fn approval(&self) -> Option<(oneshot::Sender<()>, oneshot::Receiver<()>)> {
        (self.judging() || self.external.is_some()).then(oneshot::channel)
    }

    /// The parallel judges still running, for the one answer that waits for them.
    pub(crate) fn take_pending(&self) -> Option<Pending> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// True while parallel judges run that no answer has taken yet.
    fn judging(&self) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Waits for the parallel judges, if any: a late block refuses the answer.
    pub(crate) async fn settle_judges(&self) -> Result<(), GatewayError> {
        match self.take_pending() {
            Some(pending) => pending.wait().await,
            None => Ok(()),
        }
    }

    /// The output stage of a complete answer, as the provider sent it: the parallel judges'
    /// verdicts, the local checks, then the judges and webhooks (a webhook may replace the
    /// answer). A block becomes the client's error.
    pub(crate) async fn check_answer(
        &self,
        log: &LogSlot,
        resp: &mut ChatResponse,
    ) -> Result<(), Refused> {
        let refused = |error| Refused { error, retries: 0 };
        self.settle_judges().await.map_err(refused)?;
        let Some((guard, names)) = &self.checks else {
            return Ok(());
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let out = guard
            .check_output(resp, &refs, self.response_format.as_ref())
            .map_err(|e| refused(engine_error(e)))?;
        record(log, "output", &out.outcomes);
        if let Some(block) = out.blocked {
            let retries = match guard.check(&block.check).map(|c| &c.kind) {
                Some(CheckKind::JsonSchema { retries }) => *retries,
                _ => 0,
            };
            return Err(Refused {
                error: blocked(&block),
                retries,
            });
        }
        if let Some(ext) = &self.external {
            match ext.run(log, resp, true).await {
                Decision::Block(block) => return Err(refused(blocked(&block))),
                Decision::Modify(Modified::Answer(new)) => *resp = *new,
                _ => {}
            }
        }
        Ok(())
    }

    /// Puts masked values back into a complete answer (`restore: true` checks only).
    pub(crate) fn restore(&self, resp: &mut ChatResponse) {
        if let Some(vault) = &self.vault {
            vault.restore_response(resp);
        }
    }

    /// Puts masked values back into a cached answer, copying the entry only when there are
    /// values to restore.
    pub(crate) fn restore_cached(&self, entry: &mut Arc<sluice_cache::Entry>) {
        if self.vault.is_some() {
            self.restore(&mut Arc::make_mut(entry).response);
        }
    }

    /// True when the answer needs no output work: no output check applies, no judge is
    /// pending and nothing is restored.
    fn passes_answers(&self) -> bool {
        let output = self.checks.as_ref().is_some_and(|(guard, names)| {
            names
                .iter()
                .any(|n| guard.check(n).is_some_and(|c| c.stage.output()))
        });
        !output && !self.judging() && self.vault.is_none()
    }
}

impl External {
    /// Runs the output judges and webhooks on `answer` in order, until one blocks or
    /// replaces the answer (only when it `can_modify`: a streamed answer is already sent).
    async fn run(&self, log: &LogSlot, answer: &ChatResponse, can_modify: bool) -> Decision {
        for check in &self.checks {
            let d = external::run(
                &self.gw,
                log,
                &self.meta,
                check,
                Side::Output { can_modify },
                &self.request,
                Some(answer),
            )
            .await;
            if !matches!(d, Decision::Pass) {
                return d;
            }
        }
        Decision::Pass
    }
}

/// The client's error for a block: a 400 with code `guardrail_blocked`.
pub(crate) fn blocked(block: &Block) -> GatewayError {
    GatewayError::invalid_request(block.to_string()).with_code(BLOCKED)
}

/// The engine fails only on a name it does not know, which the names were filtered for.
fn engine_error(e: sluice_guard::GuardError) -> GatewayError {
    GatewayError::internal(format!("guardrails: {e}"))
}

/// What a check did: its action when it found something, else `pass`.
fn taken(o: &Outcome) -> &'static str {
    if o.hits.is_empty() {
        "pass"
    } else {
        o.action.name()
    }
}

/// Counts `outcomes` and adds them to the request's log record.
fn record(log: &LogSlot, stage: &'static str, outcomes: &[Outcome]) {
    if outcomes.is_empty() {
        return;
    }
    for o in outcomes {
        metrics::counter!(ACTIONS, "check" => o.check.clone(), "action" => taken(o)).increment(1);
    }
    log.update(|f| {
        f.guardrails
            .extend(outcomes.iter().map(|o| entry(stage, o)))
    });
}

/// One outcome as the log stores it.
fn entry(stage: &str, o: &Outcome) -> Value {
    let hits: Vec<Value> = o
        .hits
        .iter()
        .map(|h| json!({"kind": h.kind, "count": h.count}))
        .collect();
    json!({
        "check": o.check,
        "stage": stage,
        "action": taken(o),
        "hits": hits,
        "score": o.score,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sluice_guard::{Action, Hit};

    use super::*;

    #[test]
    fn outcomes_log_what_the_check_did() {
        let passed = Outcome {
            check: "inj".into(),
            action: Action::Block,
            hits: Vec::new(),
            score: Some(0.1),
        };
        assert_eq!(
            entry("input", &passed),
            json!({"check": "inj", "stage": "input", "action": "pass", "hits": [], "score": 0.1})
        );
        let masked = Outcome {
            check: "pii".into(),
            action: Action::Mask,
            hits: vec![Hit {
                kind: "email".into(),
                count: 2,
            }],
            score: None,
        };
        assert_eq!(
            entry("input", &masked),
            json!({"check": "pii", "stage": "input", "action": "mask",
                   "hits": [{"kind": "email", "count": 2}], "score": null})
        );
    }

    #[test]
    fn blocks_are_400s_naming_the_check() {
        let e = blocked(&Block {
            check: "pii".into(),
            reason: "the request contains: card (1)".into(),
        });
        assert_eq!(e.kind(), sluice_types::ErrorKind::InvalidRequest);
        assert_eq!(e.code(), Some(BLOCKED));
        assert_eq!(
            e.message(),
            "blocked by guardrail \"pii\": the request contains: card (1)"
        );
    }
}
