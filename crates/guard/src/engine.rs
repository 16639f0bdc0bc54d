//! The guard: compiled checks, selected by name and run in the documented order.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;
use sluice_types::{ChatRequest, ChatResponse};

use crate::fields::{request_texts, response_texts};
use crate::injection::InjectionDetector;
use crate::mask::Masker;
use crate::pii::Scanner;
use crate::policy::{Action, Check, CheckKind};
use crate::response_format::Expectation;
use crate::vault::Vault;
use crate::{GuardError, Hit, add_hit};

/// A refusal: which check, and why, in words for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The check's name.
    pub check: String,
    /// Why, for example `the request contains: email (2)`.
    pub reason: String,
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "blocked by guardrail \"{}\": {}",
            self.check, self.reason
        )
    }
}

/// What one check found, for the request log and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The check's name.
    pub check: String,
    /// Its configured action (what it did if `hits` is not empty).
    pub action: Action,
    /// What it found, by kind; empty when the check passed.
    pub hits: Vec<Hit>,
    /// The injection score, for injection checks.
    pub score: Option<f64>,
}

/// The result of [`Guard::check_input`].
#[derive(Debug, Default)]
pub struct InputOutcome {
    /// Set when a check blocked; the request must be refused, and later checks did not run.
    pub blocked: Option<Block>,
    /// The masked values to restore in the answer, when a `restore: true` check masked any.
    pub vault: Option<Vault>,
    /// One per local check that ran (not sampled out); judge and webhook outcomes are the
    /// server's to add.
    pub outcomes: Vec<Outcome>,
    /// Judge and webhook checks the server must now run, in order, on the (masked) request.
    pub external: Vec<String>,
}

/// The result of [`Guard::check_output`].
#[derive(Debug, Default)]
pub struct OutputOutcome {
    /// Set when a check blocked; the answer must not be sent.
    pub blocked: Option<Block>,
    /// One per local check that ran (judges and webhooks are the server's: it picks them
    /// with [`Guard::select_output`] before the answer comes).
    pub outcomes: Vec<Outcome>,
}

pub(crate) struct Compiled {
    pub check: Check,
    pub scanner: Option<Scanner>,
}

/// Every configured check, compiled once. Immutable and thread-safe: build one per config
/// and share it.
pub struct Guard {
    pub(crate) checks: Vec<Compiled>,
    by_name: HashMap<String, usize>,
    pub(crate) injection: Option<InjectionDetector>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field(
                "checks",
                &self
                    .checks
                    .iter()
                    .map(|c| &c.check.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Roles whose text the injection check reads on input: what users and tools wrote, not
/// the operator's system and developer prompts.
fn untrusted(role: &str) -> bool {
    matches!(role, "user" | "tool" | "function")
}

impl Guard {
    /// Validates and compiles `checks`; fails on a duplicate name, a bad regex, or a kind,
    /// stage and action that do not go together (see `docs/guardrails.md`).
    pub fn new(checks: Vec<Check>) -> Result<Guard, GuardError> {
        let mut by_name = HashMap::new();
        let mut compiled = Vec::with_capacity(checks.len());
        let mut injection = None;
        for (i, check) in checks.into_iter().enumerate() {
            if let Some(problem) = check.problem() {
                return Err(GuardError::InvalidCheck {
                    check: check.name,
                    problem,
                });
            }
            if by_name.insert(check.name.clone(), i).is_some() {
                return Err(GuardError::DuplicateCheck(check.name));
            }
            let scanner = match &check.kind {
                CheckKind::Pii { spec, .. } => {
                    Some(Scanner::new(spec).map_err(|e| GuardError::InvalidCheck {
                        check: check.name.clone(),
                        problem: e.to_string(),
                    })?)
                }
                CheckKind::Injection { .. } if injection.is_none() => {
                    injection = Some(InjectionDetector::new()?);
                    None
                }
                _ => None,
            };
            compiled.push(Compiled { check, scanner });
        }
        Ok(Guard {
            checks: compiled,
            by_name,
            injection,
        })
    }

    /// The check called `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.by_name.get(name).map(|&i| &self.checks[i].check)
    }

    /// The output-stage checks among `names` (deduplicated), after sampling, in run order:
    /// what a server needs to know before an answer arrives, such as which judges and
    /// webhooks will read it.
    pub fn select_output(&self, names: &[&str]) -> Result<Vec<&Check>, GuardError> {
        Ok(self
            .select(names, true)?
            .into_iter()
            .map(|i| &self.checks[i].check)
            .collect())
    }

    /// The checks among `names` (deduplicated) for one stage, after sampling, in run order.
    pub(crate) fn select(&self, names: &[&str], output: bool) -> Result<Vec<usize>, GuardError> {
        let mut picked = Vec::with_capacity(names.len());
        for name in names {
            let &i = self
                .by_name
                .get(*name)
                .ok_or_else(|| GuardError::UnknownCheck((*name).to_owned()))?;
            let c = &self.checks[i].check;
            let stage = if output {
                c.stage.output()
            } else {
                c.stage.input()
            };
            if stage && !picked.contains(&i) && (c.sample >= 1.0 || fastrand::f64() < c.sample) {
                picked.push(i);
            }
        }
        picked.sort_by_key(|&i| (self.checks[i].check.rank(), i));
        Ok(picked)
    }

    /// Runs the input stage of the checks `names` (the union a request's model, key and
    /// team attach) on `req`, masking it in place when a check masks. Fails only on an
    /// unknown name.
    pub fn check_input(
        &self,
        req: &mut ChatRequest,
        names: &[&str],
    ) -> Result<InputOutcome, GuardError> {
        let (mut out, pending) = self.scan_input(req, names)?;
        if let Some(pending) = pending {
            pending.apply(req, &mut out);
        }
        Ok(out)
    }

    /// Like [`Guard::check_input`], without changing `req`: when a masking check applies
    /// (and nothing blocked), the masking is returned for the caller to apply to its own
    /// copy, so a request is copied only when it is masked.
    pub fn scan_input<'g>(
        &'g self,
        req: &ChatRequest,
        names: &[&str],
    ) -> Result<(InputOutcome, Option<PendingMask<'g>>), GuardError> {
        let mut out = InputOutcome::default();
        let mut masker = Masker::new();
        let mut masking = Vec::new();
        for i in self.select(names, false)? {
            let Compiled { check, scanner } = &self.checks[i];
            let mut outcome = Outcome {
                check: check.name.clone(),
                action: check.action,
                hits: Vec::new(),
                score: None,
            };
            let mut reason = None;
            match (&check.kind, scanner) {
                (CheckKind::Limits(spec), _) => {
                    if let Some(exceeded) = spec.check(req) {
                        add_hit(&mut outcome.hits, exceeded.kind());
                        reason = Some(exceeded.reason());
                    }
                }
                (CheckKind::Injection { threshold }, _) => {
                    let mut texts = Vec::new();
                    request_texts(req, untrusted, |t, _| texts.push(t));
                    reason = self.injection_verdict(&texts, *threshold, "request", &mut outcome);
                }
                (CheckKind::Pii { restore, .. }, Some(scanner)) if check.action == Action::Mask => {
                    masker.add(scanner, *restore);
                    masking.push(outcome);
                    continue;
                }
                (CheckKind::Pii { .. }, Some(scanner)) => {
                    request_texts(
                        req,
                        |_| true,
                        |t, _| {
                            for f in scanner.find(t) {
                                add_hit(&mut outcome.hits, f.label);
                            }
                        },
                    );
                    reason = pii_reason("request", &outcome.hits);
                }
                (kind, _) if kind.is_external() => {
                    out.external.push(check.name.clone());
                    continue;
                }
                _ => {}
            }
            let block = check.action == Action::Block && reason.is_some();
            out.outcomes.push(outcome);
            if let (true, Some(reason)) = (block, reason) {
                out.blocked = Some(Block {
                    check: check.name.clone(),
                    reason,
                });
                out.external.clear();
                return Ok((out, None));
            }
        }
        let pending = (!masking.is_empty()).then_some(PendingMask {
            masker,
            outcomes: masking,
        });
        Ok((out, pending))
    }

    /// Runs the output stage of the checks `names` on a complete answer, before the vault
    /// restores it. `response_format` is the request's, for `json_schema` checks.
    pub fn check_output(
        &self,
        resp: &ChatResponse,
        names: &[&str],
        response_format: Option<&Value>,
    ) -> Result<OutputOutcome, GuardError> {
        let mut out = OutputOutcome::default();
        for i in self.select(names, true)? {
            let Compiled { check, scanner } = &self.checks[i];
            let mut outcome = Outcome {
                check: check.name.clone(),
                action: check.action,
                hits: Vec::new(),
                score: None,
            };
            let reason = match (&check.kind, scanner) {
                (CheckKind::JsonSchema { .. }, _) => {
                    let expectation = Expectation::of(response_format);
                    let mut reason = None;
                    for choice in &resp.choices {
                        let content = match &choice.message.content {
                            Some(sluice_types::Content::Text(t)) => t.clone(),
                            Some(sluice_types::Content::Parts(p)) => {
                                p.iter().filter_map(|p| p.text.as_deref()).collect()
                            }
                            None => continue,
                        };
                        if let Some(problem) = expectation.problem(&content, &mut outcome.hits) {
                            reason.get_or_insert(problem);
                        }
                    }
                    reason
                }
                (CheckKind::Injection { threshold }, _) => {
                    let mut texts = Vec::new();
                    response_texts(resp, |t, _| texts.push(t));
                    self.injection_verdict(&texts, *threshold, "answer", &mut outcome)
                }
                (CheckKind::Pii { .. }, Some(scanner)) => {
                    response_texts(resp, |t, _| {
                        for f in scanner.find(t) {
                            add_hit(&mut outcome.hits, f.label);
                        }
                    });
                    pii_reason("answer", &outcome.hits)
                }
                (kind, _) if kind.is_external() => continue,
                _ => None,
            };
            out.outcomes.push(outcome);
            if let (Action::Block, Some(reason)) = (check.action, reason) {
                out.blocked = Some(Block {
                    check: check.name.clone(),
                    reason,
                });
                return Ok(out);
            }
        }
        Ok(out)
    }

    /// Scores `texts`, records the highest score and, when it reaches `threshold`, its
    /// features; answers the reason when it fires.
    pub(crate) fn injection_verdict(
        &self,
        texts: &[&str],
        threshold: f64,
        what: &str,
        outcome: &mut Outcome,
    ) -> Option<String> {
        let detector = self.injection.as_ref()?;
        let best = texts
            .iter()
            .map(|t| detector.score(t))
            .max_by(|a, b| a.value.total_cmp(&b.value))?;
        outcome.score = Some(best.value);
        if best.value < threshold {
            return None;
        }
        let features: Vec<&str> = best.features.iter().map(|f| f.name()).collect();
        for f in &features {
            add_hit(&mut outcome.hits, f);
        }
        Some(format!(
            "the {what} looks like a prompt injection (score {:.2}: {})",
            best.value,
            features.join(", ")
        ))
    }
}

/// The masking checks of an input stage, found by [`Guard::scan_input`], not yet applied.
#[derive(Debug)]
pub struct PendingMask<'g> {
    masker: Masker<'g>,
    outcomes: Vec<Outcome>,
}

impl PendingMask<'_> {
    /// Masks `req` in place (clearing its `raw` bytes when anything changed) and adds the
    /// masking checks' outcomes and vault to `out`.
    pub fn apply(self, req: &mut ChatRequest, out: &mut InputOutcome) {
        let masked = self.masker.mask(req);
        for (mut outcome, hits) in self.outcomes.into_iter().zip(masked.hits) {
            outcome.hits = hits;
            out.outcomes.push(outcome);
        }
        out.vault = Some(masked.vault).filter(|v| v.max_placeholder_len() > 0);
    }
}

/// `the request contains: email (2), card (1)`, or `None` when nothing was found.
pub(crate) fn pii_reason(what: &str, hits: &[Hit]) -> Option<String> {
    if hits.is_empty() {
        return None;
    }
    let found: Vec<String> = hits
        .iter()
        .map(|h| format!("{} ({})", h.kind, h.count))
        .collect();
    Some(format!("the {what} contains: {}", found.join(", ")))
}
