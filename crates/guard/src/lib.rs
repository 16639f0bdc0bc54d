//! Sluice's guardrails: PII detection with reversible masking, a prompt-injection
//! heuristic, request limits and output JSON schema checks, as a pure library.
//!
//! A guardrail is a named [`Check`]: a [`CheckKind`], a [`Stage`] (input, output or both),
//! an [`Action`] (block, mask or flag) and a sample rate. [`Guard::new`] validates and
//! compiles every configured check once (PII detectors into a [`Scanner`]: one `RegexSet`
//! plus per-pattern regexes and validators, word lists in one Aho-Corasick automaton).
//! A request runs the union of the checks its model, key and team name, in a fixed order
//! (limits, injection, PII that blocks or flags, PII that masks, then the judge and webhook,
//! which the server runs); the first block stops it. Masking replaces each detected value
//! with a per-request placeholder (`[EMAIL_1]`) in every message text, content part,
//! tool-call argument and tool result, and keeps the originals in a [`Vault`], which puts
//! them back into the answer: whole ([`Vault::restore_response`]) or streamed
//! ([`Restorer`], which holds back at most the longest placeholder's length minus one
//! byte). On output, [`Guard::check_output`] checks a complete answer and an
//! [`OutputStream`] checks a streamed one over a sliding window. Nothing here does I/O:
//! the LLM judge and the webhook are specs ([`JudgeSpec`], [`WebhookSpec`]) that the
//! server acts on, with their pure parts here: the judge's transcript and [`Verdict`], and
//! the [`WebhookAnswer`].
//!
//! # How the server calls it
//!
//! 1. **Config load:** map each `guardrails:` entry to a [`Check`], build one
//!    `Arc<Guard>` with [`Guard::new`] (its errors name the check), keep it in the runtime
//!    state, and report model references to unknown checks with [`Guard::check`].
//! 2. **Input (pipeline step 5):** collect the names the model, key and team attach
//!    (duplicates are fine) and call [`Guard::check_input`] on the parsed request (or
//!    [`Guard::scan_input`], which copies nothing and hands back a [`PendingMask`] to apply
//!    to a copy only when a check masks). A
//!    [`Block`] becomes a 400 whose message is the block's `Display`; a
//!    [`GuardError::UnknownCheck`] (a key naming a removed check) should fail closed. When
//!    a check masked, the request's `raw` bytes are already cleared, so codecs encode the
//!    masked fields. Then run [`InputOutcome::external`] (judge, webhook) in order on the
//!    masked request, and keep `InputOutcome::vault` in an `Arc` for the answer. Log
//!    [`InputOutcome::outcomes`] and count them in metrics. The cache lookup comes after
//!    this step, so cache keys and cached answers hold placeholders, never the values.
//! 3. **Output, JSON:** [`Guard::check_output`] on the answer as the provider sent it
//!    (placeholders and all), then the judges and webhooks among [`Guard::select_output`]
//!    (picked when the request came, so a stream knows before its answer whether any will
//!    read it), then [`Vault::restore_response`].
//!    A `json_schema` block may be retried by the attempt loop instead of refused.
//! 4. **Output, stream:** one [`Guard::output_stream`] per choice, given the vault: pass
//!    each content delta through [`OutputStream::push`] and send what it returns (clearing
//!    the chunk's `raw`); on a [`Block`], end the stream with an error event naming the
//!    check. Reasoning and refusal deltas go through a [`Restorer::text`], tool-call
//!    argument deltas through a [`Restorer::json`] per tool call. When the choice finishes,
//!    send what [`OutputStream::finish`] returns before the finishing chunk, and log
//!    [`OutputStream::outcomes`].

mod decode;
mod engine;
mod fields;
pub mod injection;
pub mod judge;
mod limits;
mod mask;
pub mod pii;
mod policy;
mod response_format;
mod restore;
pub mod schema;
mod stream;
mod vault;
mod webhook;

pub use engine::{Block, Guard, InputOutcome, Outcome, OutputOutcome, PendingMask};
pub use injection::{DEFAULT_THRESHOLD, Feature, InjectionDetector, Score};
pub use judge::Verdict;
pub use limits::{Exceeded, LimitSpec};
pub use mask::{Masked, Masker};
pub use pii::{CustomPattern, Entity, Finding, PiiSpec, Scanner};
pub use policy::{Action, Check, CheckKind, JudgeEndpoint, JudgeSpec, OnError, Stage, WebhookSpec};
pub use restore::Restorer;
pub use schema::{Schema, SchemaError, Violation};
pub use stream::{OutputStream, STREAM_WINDOW};
pub use vault::Vault;
pub use webhook::WebhookAnswer;

/// Why a guard could not be built or a check could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// A regex (built-in or custom) does not compile.
    #[error("invalid regex {0}")]
    Regex(String),
    /// An entity name that is not a built-in detector.
    #[error("unknown PII entity \"{0}\"; known: email, phone, card, iban, ssn, ip, secret")]
    UnknownEntity(String),
    /// A detector definition that cannot be used (an empty word, a nameless pattern).
    #[error("{0}")]
    Invalid(String),
    /// A check whose kind, stage, action or settings do not go together.
    #[error("guardrail \"{check}\": {problem}")]
    InvalidCheck {
        /// The check's name.
        check: String,
        /// What is wrong.
        problem: String,
    },
    /// Two checks with one name.
    #[error("guardrail \"{0}\" is defined twice")]
    DuplicateCheck(String),
    /// A name that no configured check has.
    #[error("unknown guardrail \"{0}\"")]
    UnknownCheck(String),
}

/// How many detections of one kind a check made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// `email`, a custom pattern's name, an injection feature, `max_messages`, …
    pub kind: String,
    /// How many.
    pub count: usize,
}

pub(crate) fn add_hit(hits: &mut Vec<Hit>, kind: &str) {
    match hits.iter_mut().find(|h| h.kind == kind) {
        Some(h) => h.count += 1,
        None => hits.push(Hit {
            kind: kind.to_owned(),
            count: 1,
        }),
    }
}
