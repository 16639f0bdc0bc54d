//! The semantic cache in the chat pipeline: the model's settings, embedding the last user
//! message through the gateway's own routing, and the lookup after an exact miss.
//!
//! The embedder is any configured model: the call is an OpenAI `POST /embeddings` made as
//! one of the gateway's own calls ([`crate::own_call`]), so every provider that route
//! reaches works (OpenAI, Azure, Gemini, Cohere, any OpenAI-compatible server). It has its
//! own deadline (`embed_timeout`), and its failure or slowness only makes the request a
//! miss. A lookup embeds while it reads
//! the partition's rows other replicas stored, so Redis costs no time beyond the embedding.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sluice_cache::semantic::{Outcome, Policy, Question, Skip};
use sluice_cache::{Cache, Entry};
use sluice_config::SemanticCacheConfig;
use sluice_types::GatewayError;

use crate::Gateway;
use crate::own_call::{self, PostJson, bad_response};
use crate::reqlog::LogSlot;

/// A model's semantic cache settings.
#[derive(Debug)]
pub(crate) struct Settings {
    /// The embedding model's name.
    embedder: String,
    pub(super) policy: Policy,
    timeout: Duration,
}

impl Settings {
    pub(super) fn new(c: &SemanticCacheConfig) -> Self {
        Self {
            embedder: c.embedder.clone(),
            policy: Policy {
                threshold: c.threshold as f32,
                max_temperature: c.max_temperature,
                skip_tools: c.skip_tools,
            },
            timeout: c.embed_timeout,
        }
    }
}

/// The semantic part of one request's cache plan.
#[derive(Clone)]
pub(super) struct Semantic {
    pub(super) gw: Arc<Gateway>,
    /// The resolved model group, for the metrics.
    pub(super) model: String,
    pub(super) settings: Arc<Settings>,
    pub(super) request_id: Arc<str>,
    /// The question, or why the request is not compared.
    pub(super) question: Result<Question, Skip>,
    /// The question's embedding, once the lookup made it.
    pub(super) vector: Option<Vec<f32>>,
    /// Whether the lookup asked the embedder (so a failure is not retried to store).
    pub(super) embedded: bool,
}

impl Semantic {
    /// Looks for an answer to a question that means the same. Skips, vetoes and the score
    /// of a hit are noted on the request log.
    pub(super) async fn lookup(
        &mut self,
        cache: &Cache,
        log: &LogSlot,
    ) -> Option<(Arc<Entry>, f32)> {
        let question = match &self.question {
            Ok(q) => q,
            Err(skip) => {
                skipped(log, &self.model, *skip);
                return None;
            }
        };
        self.embedded = true;
        let (vector, ()) = tokio::join!(
            embed(&self.gw, &self.request_id, &self.settings, question.text()),
            cache.sync_semantic(question.key())
        );
        let Some(vector) = vector else {
            skipped(log, &self.model, Skip::Embedder);
            return None;
        };
        self.vector = Some(vector.clone());
        let threshold = self.settings.policy.threshold;
        match cache.semantic_get(question, vector, threshold).await {
            Outcome::Hit { entry, score } => {
                log.update(|f| f.cache_score = Some(f64::from(score)));
                Some((entry, score))
            }
            Outcome::Vetoed { score, veto } => {
                tracing::debug!(
                    model = self.model,
                    score,
                    veto = veto.name(),
                    "semantic match vetoed"
                );
                log.update(|f| {
                    f.cache_outcome = Some(VETOED);
                    f.cache_score = Some(f64::from(score));
                });
                None
            }
            Outcome::Miss => None,
        }
    }

    /// The embedding to store with the answer: the lookup's, or a new one (off the request
    /// path) when there was no lookup (`no-cache`, `refresh`). None when the lookup's
    /// embedding failed.
    pub(super) async fn vector_to_store(self) -> Option<(Question, Vec<f32>)> {
        let question = self.question.ok()?;
        let vector = match (self.vector, self.embedded) {
            (Some(v), _) => v,
            (None, true) => return None,
            (None, false) => {
                embed(&self.gw, &self.request_id, &self.settings, question.text()).await?
            }
        };
        Some((question, vector))
    }
}

/// The log's `cache` value when the semantic lookup did not run.
const SKIPPED: &str = "SEMANTIC-SKIP";
/// The log's `cache` value when every match above the threshold was vetoed.
const VETOED: &str = "SEMANTIC-VETO";

/// Counts and logs a skipped semantic lookup.
fn skipped(log: &LogSlot, model: &str, skip: Skip) {
    let model = model.to_owned();
    metrics::counter!(sluice_cache::semantic::SKIPS, "model" => model, "reason" => skip.reason())
        .increment(1);
    log.update(|f| f.cache_outcome = Some(SKIPPED));
}

/// The embedding of `text` by the settings' embedder, or `None` (logged) when it failed or
/// took longer than the budget.
async fn embed(
    gw: &Gateway,
    request_id: &Arc<str>,
    settings: &Settings,
    text: &str,
) -> Option<Vec<f32>> {
    let mut body = serde_json::Map::new();
    body.insert("input".into(), Value::String(text.to_owned()));
    let attempt = PostJson {
        path: "/embeddings",
        body: &body,
    };
    let answer = own_call::run(
        gw,
        &settings.embedder,
        request_id,
        settings.timeout,
        &attempt,
    );
    match answer.await.and_then(|v| parse_embedding(&v)) {
        Ok(vector) => Some(vector),
        Err(e) => {
            tracing::warn!(embedder = settings.embedder, error = %e, "embedding failed; the semantic cache is skipped");
            None
        }
    }
}

/// The first embedding of an OpenAI embeddings response (`data[0].embedding`, numbers).
fn parse_embedding(v: &Value) -> Result<Vec<f32>, GatewayError> {
    let numbers = v["data"][0]["embedding"]
        .as_array()
        .ok_or_else(|| bad_response("the embeddings response has no data[0].embedding array"))?;
    numbers
        .iter()
        .map(|n| n.as_f64().map(|x| x as f32))
        .collect::<Option<Vec<f32>>>()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad_response("the embedding is not a list of numbers"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sluice_types::ErrorKind;

    use super::*;

    #[test]
    fn embeddings_are_read_from_openai_responses() {
        let body = json!({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1,2e-3]}],"model":"m"});
        assert_eq!(parse_embedding(&body).ok(), Some(vec![0.5, -1.0, 0.002]));
        for bad in [
            json!({"data":[]}),
            json!({"data":[{"embedding":"AAAA"}]}),
            json!({"data":[{"embedding":[]}]}),
            json!({"data":[{"embedding":[1,"x"]}]}),
        ] {
            let e = parse_embedding(&bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UpstreamProtocol, "{e}");
        }
    }
}
