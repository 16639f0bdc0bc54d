//! The semantic cache: a new question is served the answer to an earlier one that means
//! the same, in the same conversation.
//!
//! Only the last user message is compared by meaning. Everything else in the request (the
//! system prompt, earlier turns, tools, parameters, model and scope) must match exactly: it
//! is hashed into the question's [`SemanticKey`] ([`crate::key::prefix_form`]), and only
//! questions with the same key are ever compared, so the same words in another
//! conversation, or for another tenant, never match. The server embeds the last message's
//! text (with any embedding model it routes to) and asks [`Cache::semantic_get`]: the
//! partition's rows are scanned for the nearest vectors at or above the threshold, and a
//! candidate is served only if the [`verify`] check finds nothing that changes the
//! meaning (numbers, names, negation, units, opposites, order). The row points at the
//! answer's exact-cache entry, so an answer is stored once, expires once and is purged
//! once. Requests the policy excludes ([`Skip`]) are not compared at all.
//!
//! Rows live in the in-process [`index`] (bounded by entries and bytes). A backend that is
//! shared (Redis) also keeps each partition's newest rows, so a restarted gateway or
//! another replica reads them back: the first lookup of a partition reads its newest
//! [`STORED_PER_PARTITION`] rows, later lookups only the rows added since.

mod index;
mod record;
mod verify;
mod words;

use std::sync::Arc;
use std::time::Duration;

use sluice_types::{ChatRequest, Content};

pub use record::Record;
pub use verify::{Veto, verify};

use crate::entry::now_ms;
use crate::{Cache, CacheKey, Entry, Scope};
pub(crate) use index::Index;

/// Lookups answered by a semantic match, by model.
pub const HITS: &str = "sluice_cache_semantic_hits_total";
/// Requests the semantic lookup skipped, by model and reason.
pub const SKIPS: &str = "sluice_cache_semantic_skips_total";
/// Semantic matches above the threshold that the verifier refused, by model.
pub const VETOES: &str = "sluice_cache_semantic_vetoes_total";
/// The most rows a shared backend keeps per partition (the newest).
pub const STORED_PER_PARTITION: usize = 1000;

/// Which requests are compared, and how close a match must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Least cosine similarity of a match.
    pub threshold: f32,
    /// Requests with a higher `temperature` are skipped.
    pub max_temperature: f64,
    /// Requests with tools are skipped.
    pub skip_tools: bool,
}

/// Why a request was not compared by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its `temperature` is above the policy's maximum.
    Temperature,
    /// It offers tools.
    Tools,
    /// Its last message is not a user's text.
    Content,
    /// The embedder failed or was too slow.
    Embedder,
}

impl Skip {
    /// The `reason` label.
    pub fn reason(self) -> &'static str {
        match self {
            Skip::Temperature => "temperature",
            Skip::Tools => "tools",
            Skip::Content => "content",
            Skip::Embedder => "embedder",
        }
    }
}

/// The partition of a question: model, scope and the hash of the request without the last
/// message's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemanticKey {
    prefix: [u8; 32],
    model: Arc<str>,
    scope: Scope,
}

impl SemanticKey {
    /// The blake3 hash of the prefix form.
    pub fn prefix(&self) -> &[u8; 32] {
        &self.prefix
    }

    /// The hash as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        crate::key::hex(&self.prefix)
    }

    /// The resolved model group.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

/// A request as the semantic cache compares it: its partition and its last user message.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    key: SemanticKey,
    text: String,
}

impl Question {
    /// The question of `req`, routed to the group `model` and seen by `scope`, unless
    /// `policy` skips it.
    pub fn new(
        req: &ChatRequest,
        model: &str,
        scope: Scope,
        policy: &Policy,
    ) -> Result<Question, Skip> {
        let functions = req.extra.contains_key("functions");
        if policy.skip_tools && (req.tools.as_ref().is_some_and(|t| !t.is_empty()) || functions) {
            return Err(Skip::Tools);
        }
        if req.temperature.is_some_and(|t| t > policy.max_temperature) {
            return Err(Skip::Temperature);
        }
        let text = last_user_text(req).ok_or(Skip::Content)?;
        let form = crate::key::prefix_form(req, model, &scope).map_err(|_| Skip::Content)?;
        Ok(Question {
            key: SemanticKey {
                prefix: *blake3::hash(&form).as_bytes(),
                model: model.into(),
                scope,
            },
            text,
        })
    }

    /// The partition.
    pub fn key(&self) -> &SemanticKey {
        &self.key
    }

    /// The last user message's text: what is embedded and verified.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The text of the last message when it is a user's and holds only text.
fn last_user_text(req: &ChatRequest) -> Option<String> {
    let last = req.messages.last().filter(|m| m.role == "user")?;
    let text = match last.content.as_ref()? {
        Content::Text(t) => t.clone(),
        Content::Parts(parts) => {
            let texts: Option<Vec<&str>> = parts
                .iter()
                .map(|p| (p.kind == "text").then_some(p.text.as_deref()).flatten())
                .collect();
            texts?.join("\n")
        }
    };
    (!text.trim().is_empty()).then_some(text)
}

/// What a semantic lookup found.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A verified match: its answer and similarity.
    Hit {
        /// The answer.
        entry: Arc<Entry>,
        /// Cosine similarity of the two questions.
        score: f32,
    },
    /// Matches above the threshold, all refused by the verifier: the best one's similarity
    /// and why it was refused.
    Vetoed {
        /// Cosine similarity of the best match.
        score: f32,
        /// Why it was refused.
        veto: Veto,
    },
    /// Nothing above the threshold (or its answer is gone).
    Miss,
}

/// `v` scaled to unit length; `None` for an empty, zero or non-finite vector.
pub fn normalize(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if v.is_empty() || !norm.is_finite() || norm == 0.0 {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Some(v)
}

impl Cache {
    /// Reads the rows other processes stored for `key`'s partition since this one last
    /// looked (the newest [`STORED_PER_PARTITION`] the first time) into the index. Nothing
    /// to do for a backend that keeps no rows of its own; a failure is logged.
    pub async fn sync_semantic(&self, key: &SemanticKey) {
        let cursor = self
            .index
            .get(key)
            .and_then(|p| p.cursor.lock().ok().and_then(|c| c.clone()));
        let batch = match self.backend.read_semantic(key, cursor.as_deref()).await {
            Ok(Some(batch)) => batch,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, backend = self.backend(), "semantic rows could not be read");
                return;
            }
        };
        let Some(next) = batch.cursor else { return };
        for record in batch.records {
            self.index.insert(key, record);
        }
        if let Some(p) = self.index.get_or_create(key) {
            if let Ok(mut c) = p.cursor.lock() {
                if c.as_deref().is_none_or(|old| later(&next, old)) {
                    *c = Some(next);
                }
            }
        }
    }

    /// The answer to a question that means the same as `q` (whose embedding is `vector`)
    /// with a similarity of at least `threshold`, counting hits and vetoes for its model.
    pub async fn semantic_get(&self, q: &Question, vector: Vec<f32>, threshold: f32) -> Outcome {
        let Some(vector) = normalize(vector) else {
            return Outcome::Miss;
        };
        let model = || q.key.model().to_owned();
        let mut vetoed = None;
        for c in self.index.search(&q.key, &vector, threshold) {
            if let Err(veto) = verify(&c.text, &q.text) {
                vetoed.get_or_insert((c.score, veto));
                continue;
            }
            let answer = CacheKey::from_parts(c.answer, q.key.model.clone(), q.key.scope.clone());
            match self.backend.get(&answer).await {
                Ok(Some(entry)) => {
                    metrics::counter!(HITS, "model" => model()).increment(1);
                    return Outcome::Hit {
                        entry,
                        score: c.score,
                    };
                }
                Ok(None) => self.index.remove(&q.key, &c.answer),
                Err(e) => {
                    tracing::warn!(error = %e, backend = self.backend(), "cache lookup failed; treated as a miss");
                    return Outcome::Miss;
                }
            }
        }
        match vetoed {
            Some((score, veto)) => {
                metrics::counter!(VETOES, "model" => model()).increment(1);
                Outcome::Vetoed { score, veto }
            }
            None => Outcome::Miss,
        }
    }

    /// Remembers that `q` (embedded as `vector`) was answered by the entry stored under
    /// `answer`, for `ttl`; a failure to store it in the backend is logged.
    pub async fn semantic_put(
        &self,
        q: &Question,
        vector: Vec<f32>,
        answer: &CacheKey,
        ttl: Duration,
    ) {
        let Some(vector) = normalize(vector) else {
            return;
        };
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let record = Record {
            answer: *answer.hash(),
            expires_ms: now_ms().saturating_add(ttl_ms),
            text: q.text.clone(),
            vector,
        };
        if let Err(e) = self.backend.append_semantic(&q.key, &record, ttl).await {
            tracing::warn!(error = %e, backend = self.backend(), "semantic row could not be stored");
        }
        self.index.insert(&q.key, record);
    }

    /// Rows in the in-process index and their bytes.
    pub fn semantic_usage(&self) -> (usize, usize) {
        self.index.usage()
    }
}

/// Whether the stream position `a` (`<ms>-<seq>`) comes after `b`.
fn later(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> (u64, u64) {
        let (ms, seq) = s.split_once('-').unwrap_or((s, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    };
    parse(a) > parse(b)
}

/// Rows a backend read back, and where to continue next time.
#[derive(Debug, Default)]
pub struct Batch {
    /// The rows, oldest first.
    pub records: Vec<Record>,
    /// The position after the last row; `None` when the partition holds nothing.
    pub cursor: Option<String>,
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
