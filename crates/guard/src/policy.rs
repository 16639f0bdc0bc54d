//! The policy model: named checks with a kind, a stage, an action and a sample rate.

use std::fmt;
use std::time::Duration;

use crate::limits::LimitSpec;
use crate::pii::PiiSpec;

/// When a check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// On the request, before the provider sees it.
    Input,
    /// On the answer, before the client sees it (JSON, or each streamed delta).
    Output,
    /// On both.
    Both,
}

impl Stage {
    /// True for `input` and `both`.
    pub fn input(self) -> bool {
        matches!(self, Stage::Input | Stage::Both)
    }

    /// True for `output` and `both`.
    pub fn output(self) -> bool {
        matches!(self, Stage::Output | Stage::Both)
    }
}

/// What a check does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Refuse: a 400 naming the check and the reason (or an error event in a stream).
    Block,
    /// Replace what was detected with placeholders (PII checks on input only).
    Mask,
    /// Let it through and record the outcome.
    Flag,
}

impl Action {
    /// `block`, `mask` or `flag`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Mask => "mask",
            Action::Flag => "flag",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an external check's failure (timeout, error, unparseable answer) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Let the request through (and record the failure).
    Allow,
    /// Refuse it.
    Block,
}

/// How a judge is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JudgeEndpoint {
    /// A chat completion over the conversation's [`crate::judge::transcript`]; the answer is
    /// a Llama Guard verdict or a JSON one ([`crate::Verdict::parse`]).
    Chat,
    /// An OpenAI-style `POST /moderations` over the conversation's texts
    /// ([`crate::Verdict::from_moderation`]).
    Moderations,
}

/// An LLM judge: a model configured in Sluice that reads the conversation and answers a
/// verdict with categories (Llama Guard, OpenAI moderation, …). The server calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeSpec {
    /// The Sluice model name to ask.
    pub model: String,
    /// How the model is asked.
    pub endpoint: JudgeEndpoint,
    /// A system message put before the transcript (for general models that need to be told
    /// how to answer); `None` sends the transcript alone, as Llama Guard expects.
    pub instructions: Option<String>,
    /// How long to wait for its verdict.
    pub timeout: Duration,
    /// What a failure means.
    pub on_error: OnError,
    /// Run alongside the upstream call; a late block cancels the answer.
    pub parallel: bool,
}

/// A webhook: the server POSTs the request (or answer) to `url`, which answers allow, deny
/// with a reason, or a modified body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSpec {
    /// Where to POST.
    pub url: String,
    /// Headers sent with every call (an `authorization` header, say).
    pub headers: Vec<(String, String)>,
    /// How long to wait for the answer.
    pub timeout: Duration,
    /// What a failure means.
    pub on_error: OnError,
}

/// What a check looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// Personal data and secrets; with `restore`, masked values are put back in the answer.
    Pii {
        /// The detectors.
        spec: PiiSpec,
        /// Put masked values back in the answer.
        restore: bool,
    },
    /// The prompt-injection heuristic; fires at `threshold` (see
    /// [`crate::DEFAULT_THRESHOLD`]).
    Injection {
        /// Score from which the check fires, in `(0, 1]`.
        threshold: f64,
    },
    /// Request size limits (input only).
    Limits(LimitSpec),
    /// The answer must match the request's `response_format` schema (output only).
    JsonSchema {
        /// How many times a complete answer that fails is asked for again before the
        /// action applies.
        retries: u32,
    },
    /// An LLM judge, run by the server.
    Judge(JudgeSpec),
    /// A policy webhook, run by the server.
    Webhook(WebhookSpec),
}

impl CheckKind {
    /// `pii`, `injection`, `limits`, `json_schema`, `judge` or `webhook`.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Pii { .. } => "pii",
            CheckKind::Injection { .. } => "injection",
            CheckKind::Limits(_) => "limits",
            CheckKind::JsonSchema { .. } => "json_schema",
            CheckKind::Judge(_) => "judge",
            CheckKind::Webhook(_) => "webhook",
        }
    }

    /// True for checks the server runs itself (judge and webhook).
    pub fn is_external(&self) -> bool {
        matches!(self, CheckKind::Judge(_) | CheckKind::Webhook(_))
    }
}

/// One named check, as configured under `guardrails:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The name models, keys and teams refer to.
    pub name: String,
    /// What it looks at.
    pub kind: CheckKind,
    /// When it runs.
    pub stage: Stage,
    /// What it does when it fires.
    pub action: Action,
    /// The share of requests it runs on, in `[0, 1]`.
    pub sample: f64,
}

impl Check {
    /// A check that runs on every request.
    pub fn new(name: impl Into<String>, kind: CheckKind, stage: Stage, action: Action) -> Self {
        Self {
            name: name.into(),
            kind,
            stage,
            action,
            sample: 1.0,
        }
    }

    /// Where the check runs in the documented order: limits, JSON schema, injection, PII
    /// that blocks or flags, PII that masks, then the server's judge and webhook.
    pub(crate) fn rank(&self) -> u8 {
        match (&self.kind, self.action) {
            (CheckKind::Limits(_), _) => 0,
            (CheckKind::JsonSchema { .. }, _) => 1,
            (CheckKind::Injection { .. }, _) => 2,
            (CheckKind::Pii { .. }, Action::Mask) => 4,
            (CheckKind::Pii { .. }, _) => 3,
            (CheckKind::Judge(_), _) => 5,
            (CheckKind::Webhook(_), _) => 6,
        }
    }

    /// Why this check cannot be used as written, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.name.is_empty() {
            return Some("a check needs a name".into());
        }
        if !(0.0..=1.0).contains(&self.sample) {
            return Some(format!(
                "sample must be between 0 and 1, not {}",
                self.sample
            ));
        }
        let kind = self.kind.name();
        match (&self.kind, self.action, self.stage) {
            (CheckKind::Pii { .. }, Action::Mask, Stage::Output | Stage::Both) => {
                Some("mask applies to input only; use block or flag on output".into())
            }
            (CheckKind::Pii { restore: true, .. }, action, _) if action != Action::Mask => {
                Some("restore needs action mask".into())
            }
            (CheckKind::Pii { .. }, ..) => None,
            (_, Action::Mask, _) => Some(format!("{kind} checks cannot mask; use block or flag")),
            (CheckKind::Injection { threshold }, ..)
                if !(*threshold > 0.0 && *threshold <= 1.0) =>
            {
                Some(format!("threshold must be in (0, 1], not {threshold}"))
            }
            (CheckKind::Limits(_), _, Stage::Output | Stage::Both) => {
                Some("limits apply to input only".into())
            }
            (CheckKind::Limits(l), ..)
                if l.max_messages.is_none() && l.max_prompt_tokens.is_none() =>
            {
                Some("limits needs max_prompt_tokens or max_messages".into())
            }
            (CheckKind::JsonSchema { .. }, _, Stage::Input | Stage::Both) => {
                Some("json_schema applies to output only".into())
            }
            (CheckKind::Judge(j), ..) if j.timeout.is_zero() => {
                Some("timeout must be more than 0".into())
            }
            (CheckKind::Judge(j), ..) if j.model.is_empty() => Some("a judge needs a model".into()),
            (CheckKind::Judge(j), _, Stage::Output | Stage::Both) if j.parallel => {
                Some("parallel applies to input only (an output judge reads the answer)".into())
            }
            (CheckKind::Webhook(w), ..) if w.timeout.is_zero() => {
                Some("timeout must be more than 0".into())
            }
            (CheckKind::Webhook(w), ..)
                if !(w.url.starts_with("http://") || w.url.starts_with("https://")) =>
            {
                Some(format!("url must be an http or https URL, not {:?}", w.url))
            }
            _ => None,
        }
    }
}
