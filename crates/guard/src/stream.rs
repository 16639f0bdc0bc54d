//! Output checks over a stream, on a sliding window, with restore.

use std::sync::Arc;

use serde_json::Value;

use crate::engine::{Block, Compiled, Guard, Outcome, pii_reason};
use crate::policy::{Action, CheckKind};
use crate::response_format::Expectation;
use crate::restore::Restorer;
use crate::vault::Vault;
use crate::{GuardError, add_hit};

/// How far back before each delta the checks read: longer than any detectable value (an
/// RSA-4096 private key block is about 3.3 KB).
pub const STREAM_WINDOW: usize = 4 << 10;

/// The injection heuristic reads this many bytes before the end of each delta.
const INJECTION_TAIL: usize = 2 << 10;

/// The largest char boundary of `s` at or below `at`.
fn floor_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[derive(Debug)]
struct Running {
    at: usize,
    outcome: Outcome,
    /// Absolute offset up to which PII detections were counted.
    counted: usize,
}

/// The output stage of one streamed text channel (a choice's content).
///
/// Each [`OutputStream::push`] runs the PII checks on the delta and the
/// [`STREAM_WINDOW`] bytes before it (the injection heuristic on the last 2 KiB) before the
/// delta is released, so a violation is caught in the delta that completes it (earlier
/// fragments of it have been sent already). A blocking check makes `push` answer the
/// [`Block`], and every later call too: the server ends the stream with an error event.
/// A flagging check counts each detection once. `json_schema` runs on the whole content in
/// [`OutputStream::finish`]. The text to emit comes out restored when a vault is given.
#[derive(Debug)]
pub struct OutputStream {
    guard: Arc<Guard>,
    running: Vec<Running>,
    schema: Option<(usize, Expectation)>,
    window: String,
    window_start: usize,
    full: String,
    restorer: Option<Restorer>,
    blocked: Option<Block>,
    done: Vec<Outcome>,
}

impl Guard {
    /// The output stage of `names` for one streamed channel; `vault` restores placeholders
    /// in what it emits. Judge and webhook checks are the server's, as in
    /// [`Guard::check_output`]. Fails only on an unknown name.
    pub fn output_stream(
        self: &Arc<Self>,
        names: &[&str],
        response_format: Option<&Value>,
        vault: Option<Arc<Vault>>,
    ) -> Result<OutputStream, GuardError> {
        let mut running = Vec::new();
        let mut schema = None;
        for at in self.select(names, true)? {
            let check = &self.checks[at].check;
            let outcome = Outcome {
                check: check.name.clone(),
                action: check.action,
                hits: Vec::new(),
                score: None,
            };
            match check.kind {
                CheckKind::JsonSchema { .. } => {
                    schema = Some((at, Expectation::of(response_format)))
                }
                CheckKind::Pii { .. } | CheckKind::Injection { .. } => running.push(Running {
                    at,
                    outcome,
                    counted: 0,
                }),
                _ => {}
            }
        }
        Ok(OutputStream {
            guard: Arc::clone(self),
            running,
            schema,
            window: String::new(),
            window_start: 0,
            full: String::new(),
            restorer: vault.map(Restorer::text),
            blocked: None,
            done: Vec::new(),
        })
    }
}

impl OutputStream {
    /// Checks the next delta; the (restored) text to emit now, or the block.
    pub fn push(&mut self, delta: &str) -> Result<String, Block> {
        if let Some(b) = &self.blocked {
            return Err(b.clone());
        }
        let before = self.window.len();
        self.window.push_str(delta);
        if self.schema.is_some() {
            self.full.push_str(delta);
        }
        self.scan(before.saturating_sub(STREAM_WINDOW), false)?;
        if self.window.len() > 2 * STREAM_WINDOW {
            let cut = floor_boundary(&self.window, self.window.len() - STREAM_WINDOW);
            self.window.drain(..cut);
            self.window_start += cut;
        }
        Ok(match &mut self.restorer {
            Some(r) => r.push(delta),
            None => delta.to_owned(),
        })
    }

    /// Ends the stream: counts what was still open, checks the whole content against the
    /// `response_format`, and answers the text held back for restoring, or the block.
    pub fn finish(&mut self) -> Result<String, Block> {
        if let Some(b) = &self.blocked {
            return Err(b.clone());
        }
        self.scan(self.window.len().saturating_sub(STREAM_WINDOW), true)?;
        if let Some((at, expectation)) = &self.schema {
            let check = &self.guard.checks[*at].check;
            let mut outcome = Outcome {
                check: check.name.clone(),
                action: check.action,
                hits: Vec::new(),
                score: None,
            };
            let problem = expectation.problem(&self.full, &mut outcome.hits);
            self.done.push(outcome);
            if let (Action::Block, Some(reason)) = (check.action, problem) {
                return Err(self.block(*at, reason));
            }
        }
        Ok(self
            .restorer
            .as_mut()
            .map(Restorer::finish)
            .unwrap_or_default())
    }

    /// One per check that ran so far, for the request log.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.running
            .iter()
            .map(|r| r.outcome.clone())
            .chain(self.done.iter().cloned())
            .collect()
    }

    fn block(&mut self, at: usize, reason: String) -> Block {
        let b = Block {
            check: self.guard.checks[at].check.name.clone(),
            reason,
        };
        self.blocked = Some(b.clone());
        b
    }

    /// Runs the checks on the window from byte `from`; a detection starting right there may
    /// be the cut-off end of one seen before, so it is skipped.
    fn scan(&mut self, from: usize, at_end: bool) -> Result<(), Block> {
        let guard = Arc::clone(&self.guard);
        let from = floor_boundary(&self.window, from);
        let text = &self.window[from..];
        let tail = &self.window[floor_boundary(
            &self.window,
            self.window.len().saturating_sub(INJECTION_TAIL),
        )..];
        let mut fired = None;
        for r in &mut self.running {
            let Compiled { check, scanner } = &guard.checks[r.at];
            let reason = match (&check.kind, scanner) {
                (CheckKind::Pii { .. }, Some(scanner)) => {
                    for f in scanner.find(text) {
                        if from > 0 && f.span.start == 0 {
                            continue;
                        }
                        let end = self.window_start + from + f.span.end;
                        let open = f.span.end == text.len() && !at_end;
                        if end > r.counted && !open {
                            add_hit(&mut r.outcome.hits, f.label);
                            r.counted = end;
                        } else if check.action == Action::Block {
                            add_hit(&mut r.outcome.hits, f.label);
                        }
                    }
                    pii_reason("answer", &r.outcome.hits)
                }
                (CheckKind::Injection { threshold }, _) if r.outcome.hits.is_empty() => {
                    guard.injection_verdict(&[tail], *threshold, "answer", &mut r.outcome)
                }
                _ => None,
            };
            if let (Action::Block, Some(reason)) = (check.action, reason) {
                fired = Some((r.at, reason));
                break;
            }
        }
        match fired {
            Some((at, reason)) => Err(self.block(at, reason)),
            None => Ok(()),
        }
    }
}
