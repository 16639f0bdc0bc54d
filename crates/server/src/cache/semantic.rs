//! The semantic cache in the chat pipeline: the model's settings, embedding the last user
//! message through the gateway's own routing, and the lookup after an exact miss.
//!
//! The embedder is any configured model: the call is an OpenAI `POST /embeddings` run by the
//! router's attempt loop on that model's group, exactly as the `/v1/embeddings`
//! pass-through runs it, so every provider that route reaches works (OpenAI, Azure, Gemini,
//! Cohere, any OpenAI-compatible server). It is the gateway's own call: it has its own
//! deadline (`embed_timeout`), is not a request of the client's (no log record, no limits),
//! and its failure or slowness only makes the request a miss. A lookup embeds while it reads
//! the partition's rows other replicas stored, so Redis costs no time beyond the embedding.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sluice_cache::semantic::{Outcome, Policy, Question, Skip};
use sluice_cache::{Cache, Entry};
use sluice_config::SemanticCacheConfig;
use sluice_providers::{CallCx, ForwardRequest, Provider, Target, box_body};
use sluice_router::Attempt;
use sluice_types::{ErrorKind, GatewayError, Origin};

use crate::Gateway;
use crate::reqlog::LogSlot;

/// The largest embeddings response read.
const MAX_EMBEDDING_BODY: usize = 8 << 20;

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
    let route = match gw.router.route(&settings.embedder, None) {
        Ok(route) => route,
        Err(e) => {
            tracing::warn!(embedder = settings.embedder, error = %e, "no route to the embedder");
            return None;
        }
    };
    let call = CallCx::new(request_id.clone(), Some(Instant::now() + settings.timeout));
    let attempt = Embed { text };
    let run = gw.router.run(route.group, &attempt, &call);
    match tokio::time::timeout(settings.timeout, run).await {
        Ok(Ok(out)) => Some(out.value),
        Ok(Err(e)) => {
            tracing::warn!(embedder = settings.embedder, error = %e, "embedding failed; the semantic cache is skipped");
            None
        }
        Err(_) => {
            tracing::warn!(
                embedder = settings.embedder,
                budget_ms = settings.timeout.as_millis(),
                "the embedder did not answer in time; the semantic cache is skipped"
            );
            None
        }
    }
}

/// One embeddings call: `{"model": <target's model>, "input": <text>}` to `/embeddings`.
struct Embed<'a> {
    text: &'a str,
}

impl Attempt for Embed<'_> {
    type Output = Vec<f32>;
    fn call<'a>(
        &'a self,
        p: &'a dyn Provider,
        t: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<Vec<f32>, GatewayError>> {
        Box::pin(async move {
            let model: &str = &t.model;
            let body = json!({"model": model, "input": self.text}).to_string();
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let req = ForwardRequest {
                method: Method::POST,
                path: "/embeddings".into(),
                query: None,
                model: Some(t.model.to_string()),
                headers,
                body: box_body(Bytes::from(body)),
                timeouts: t.timeouts,
            };
            let mut body = p.forward(req, cx).await?.into_body();
            let mut bytes = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame =
                    frame.map_err(|e| bad_response(&format!("the embeddings body failed: {e}")))?;
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
                if bytes.len() > MAX_EMBEDDING_BODY {
                    return Err(bad_response("the embeddings response is too large"));
                }
            }
            parse_embedding(&bytes)
        })
    }
}

/// The first embedding of an OpenAI embeddings response (`data[0].embedding`, numbers).
fn parse_embedding(body: &[u8]) -> Result<Vec<f32>, GatewayError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad_response(&format!("the embeddings response is not JSON: {e}")))?;
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

fn bad_response(message: &str) -> GatewayError {
    GatewayError::new(ErrorKind::UpstreamProtocol, Origin::Upstream, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_read_from_openai_responses() {
        let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1,2e-3]}],"model":"m"}"#;
        assert_eq!(parse_embedding(body).ok(), Some(vec![0.5, -1.0, 0.002]));
        for bad in [
            &b"not json"[..],
            br#"{"data":[]}"#,
            br#"{"data":[{"embedding":"AAAA"}]}"#,
            br#"{"data":[{"embedding":[]}]}"#,
            br#"{"data":[{"embedding":[1,"x"]}]}"#,
        ] {
            let e = parse_embedding(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UpstreamProtocol, "{e}");
        }
    }
}
