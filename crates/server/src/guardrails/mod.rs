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

mod stream;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use sluice_config::Config;
use sluice_guard::{Block, Guard, Outcome, Vault};
use sluice_types::{ChatRequest, ChatResponse, GatewayError};

use crate::reqlog::LogSlot;
use crate::{Gateway, Principal};

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
    /// The masked copy of the request, when a check masked.
    masked: Option<ChatRequest>,
    /// The values to put back in the answer.
    vault: Option<Arc<Vault>>,
    /// The request's `response_format`, for `json_schema` checks.
    response_format: Option<Value>,
}

/// Runs the input stage for a request to the model group `model`; refuses the request when
/// a check blocks.
pub(crate) fn input(
    gw: &Gateway,
    log: &LogSlot,
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
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (mut out, pending) = g.guard.scan_input(req, &refs).map_err(engine_error)?;
    let masked = pending.map(|pending| {
        let mut copy = req.clone();
        pending.apply(&mut copy, &mut out);
        copy
    });
    record(log, "input", &out.outcomes);
    if let Some(block) = out.blocked {
        return Err(blocked(&block));
    }
    Ok(Guarded {
        checks: Some((g.guard.clone(), names)),
        masked,
        vault: out.vault.map(Arc::new),
        response_format: req.response_format.clone(),
    })
}

impl Guarded {
    /// The request the rest of the pipeline sends: the masked copy, or `original`.
    pub(crate) fn request<'r>(&'r self, original: &'r ChatRequest) -> &'r ChatRequest {
        self.masked.as_ref().unwrap_or(original)
    }

    /// The output stage of a complete answer, as the provider sent it; a block becomes the
    /// client's error.
    pub(crate) fn check_answer(
        &self,
        log: &LogSlot,
        resp: &ChatResponse,
    ) -> Result<(), GatewayError> {
        let Some((guard, names)) = &self.checks else {
            return Ok(());
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let out = guard
            .check_output(resp, &refs, self.response_format.as_ref())
            .map_err(engine_error)?;
        record(log, "output", &out.outcomes);
        match out.blocked {
            Some(block) => Err(blocked(&block)),
            None => Ok(()),
        }
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

    /// True when the answer needs no output work: no output check applies and nothing is
    /// restored.
    fn passes_answers(&self) -> bool {
        let output = self.checks.as_ref().is_some_and(|(guard, names)| {
            names
                .iter()
                .any(|n| guard.check(n).is_some_and(|c| c.stage.output()))
        });
        !output && self.vault.is_none()
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
