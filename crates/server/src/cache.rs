//! The response cache in the chat pipeline: the request's cache directives, the lookup after
//! routing, the answer to a hit (JSON or replayed SSE, in the client's format), storing a
//! miss's answer off the response path, and `DELETE /admin/v1/cache`.
//!
//! A model caches when it has `cache:` in the config. The lookup happens after the model was
//! resolved, so the key holds the group that serves the request. A hit is answered without
//! any upstream call, stamped `x-sluice-cache: HIT` and `age`; a miss says `MISS`, and a
//! request that skipped the lookup (`no-cache`, `refresh`) says `BYPASS`. A non-stream answer
//! is stored as it is; a stream is assembled as its chunks pass to the client and stored only
//! if it ended cleanly. Writes run on their own task, never before the client's answer.
//!
//! A model with `cache.semantic` also looks, after an exact miss, for the answer to a
//! question that means the same in the same conversation ([`semantic`]); such a hit says
//! `SEMANTIC-HIT`, and the question's embedding is stored with every answer.

mod semantic;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use http::{HeaderMap, HeaderValue, header};
use serde_json::{Value, json};
use sluice_cache::{
    Accumulator, Cache, CacheKey, Entry, MemoryBackend, Purge, RedisBackend, Scope,
};
use sluice_config::{CacheBackend, CacheScope, Config};
use sluice_providers::{ChunkStream, Target};
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, ErrorKind, GatewayError, Origin};
use tokio::sync::oneshot;

use crate::auth::presented_key;
use crate::chat::{ClientFormat, stamp};
use crate::reqlog::LogSlot;
use crate::{ApiError, Gateway, Principal, RequestCx};
use semantic::{Semantic, Settings};

/// The response header that tells the cache outcome.
const OUTCOME: &str = "x-sluice-cache";

/// The cache and which models use it, built once from the config.
pub(crate) struct ResponseCache {
    cache: Arc<Cache>,
    models: HashMap<String, ModelCache>,
}

/// One model's cache settings.
struct ModelCache {
    ttl: Duration,
    scope: CacheScope,
    semantic: Option<Arc<Settings>>,
}

impl ResponseCache {
    /// The cache for `config`, or `None` when no model caches. A Redis backend connects on
    /// first use, so this must run inside the async runtime.
    pub(crate) fn from_config(config: &Config) -> Result<Option<Self>, GatewayError> {
        let models: HashMap<_, _> = config
            .models
            .iter()
            .filter_map(|m| {
                let c = m.cache.as_ref()?;
                let semantic = c.semantic.as_ref().map(|s| Arc::new(Settings::new(s)));
                let settings = ModelCache {
                    ttl: c.ttl,
                    scope: c.scope,
                    semantic,
                };
                Some((m.name.clone(), settings))
            })
            .collect();
        if models.is_empty() {
            return Ok(None);
        }
        let store = &config.cache;
        let cache = match (store.backend, config.redis.as_deref()) {
            (CacheBackend::Redis, Some(url)) => {
                let redis = RedisBackend::new(url, sluice_cache::DEFAULT_PREFIX, store.timeout)
                    .map_err(|e| GatewayError::internal(format!("cache: {e}")))?;
                Cache::new(redis)
            }
            _ => Cache::new(MemoryBackend::new(store.max_bytes, store.max_entries)),
        }
        .with_semantic_limits(store.max_entries, store.max_bytes);
        tracing::info!(
            backend = cache.backend(),
            models = models.len(),
            "response cache on"
        );
        Ok(Some(Self {
            cache: Arc::new(cache),
            models,
        }))
    }
}

/// What a request asked of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Directives {
    lookup: bool,
    store: bool,
    ttl: Option<Duration>,
}

/// Reads `x-sluice-cache` (`no-cache`, `no-store`, `refresh`, comma-separated),
/// `Cache-Control` (`no-cache`, `no-store`; other directives are ignored) and
/// `x-sluice-cache-ttl`.
fn directives(headers: &HeaderMap) -> Result<Directives, GatewayError> {
    let mut d = Directives {
        lookup: true,
        store: true,
        ttl: None,
    };
    let bad = |name: &'static str, why: String| {
        GatewayError::invalid_request(format!("invalid {name}: {why}")).with_param(name)
    };
    for v in headers.get_all(OUTCOME) {
        let text = v.to_str().map_err(|_| bad(OUTCOME, "not text".into()))?;
        for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token.to_ascii_lowercase().as_str() {
                "no-cache" | "refresh" => d.lookup = false,
                "no-store" => d.store = false,
                other => {
                    return Err(bad(
                        OUTCOME,
                        format!(
                            "unknown directive \"{other}\"; expected no-cache, no-store or refresh"
                        ),
                    ));
                }
            }
        }
    }
    for v in headers.get_all(header::CACHE_CONTROL) {
        for token in v.to_str().unwrap_or_default().split(',') {
            match token.trim().to_ascii_lowercase().as_str() {
                "no-cache" => d.lookup = false,
                "no-store" => d.store = false,
                _ => {}
            }
        }
    }
    if let Some(v) = headers.get("x-sluice-cache-ttl") {
        let name = "x-sluice-cache-ttl";
        let text = v.to_str().map_err(|_| bad(name, "not text".into()))?;
        let ttl = sluice_config::units::parse_duration(text.trim())
            .map_err(|e| bad(name, e.to_string()))?;
        if ttl.is_zero() {
            return Err(bad(name, "must be longer than zero; use no-store".into()));
        }
        d.ttl = Some(ttl);
    }
    Ok(d)
}

/// The cache's part in one request to a caching model.
pub(crate) struct Plan {
    cache: Arc<Cache>,
    key: CacheKey,
    lookup: bool,
    store: bool,
    ttl: Duration,
    /// For a model with a semantic cache.
    semantic: Option<Semantic>,
}

/// A cached answer for the request, and its similarity when it answered another question.
pub(crate) struct Hit {
    pub(crate) entry: Arc<Entry>,
    semantic: Option<f32>,
}

/// The plan for `req`, sent to `routed` (the name after routing rules) and resolved to the
/// group `model`: `None` when neither caches. The group's settings win; a split's apply to
/// variants without their own. Bad cache headers are the client's error.
pub(crate) fn plan(
    gw: &Arc<Gateway>,
    cx: &RequestCx,
    headers: &HeaderMap,
    principal: &Principal,
    req: &ChatRequest,
    routed: &str,
    model: &str,
) -> Result<Option<Plan>, GatewayError> {
    let d = directives(headers)?;
    let Some(rc) = &gw.cache else {
        return Ok(None);
    };
    let Some(settings) = rc.models.get(model).or_else(|| rc.models.get(routed)) else {
        return Ok(None);
    };
    let key_scope = || match &principal.key {
        Some(k) => Scope::tenant("vkey", &k.doc.id),
        None => Scope::for_key(presented_key(headers)),
    };
    let scope = match settings.scope {
        CacheScope::Global => Scope::global(),
        CacheScope::Key => key_scope(),
        // A key without a team keeps its entries to itself.
        CacheScope::Team => match &principal.team {
            Some(t) => Scope::tenant("team", &t.doc.id),
            None => key_scope(),
        },
    };
    let semantic = settings.semantic.as_ref().map(|s| Semantic {
        gw: gw.clone(),
        model: model.to_owned(),
        settings: s.clone(),
        request_id: cx.id.clone(),
        question: sluice_cache::semantic::Question::new(req, model, scope.clone(), &s.policy),
        vector: None,
        embedded: false,
    });
    let key = match CacheKey::new(req, model, scope) {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!(error = %e, "no cache key for this request; not cached");
            return Ok(None);
        }
    };
    Ok(Some(Plan {
        cache: rc.cache.clone(),
        key,
        lookup: d.lookup,
        store: d.store,
        ttl: d.ttl.unwrap_or(settings.ttl),
        semantic,
    }))
}

/// The cached answer for the request, when it may be looked up and there is one: the exact
/// entry, else (with a semantic cache) the answer to a question that means the same.
pub(crate) async fn lookup(plan: Option<&mut Plan>, log: &LogSlot) -> Option<Hit> {
    let plan = plan.filter(|p| p.lookup)?;
    if let Some(entry) = plan.cache.get(&plan.key).await {
        return Some(Hit {
            entry,
            semantic: None,
        });
    }
    let (entry, score) = plan.semantic.as_mut()?.lookup(&plan.cache, log).await?;
    Some(Hit {
        entry,
        semantic: Some(score),
    })
}

/// The response to a hit, in the client's format: JSON, or the answer replayed as a stream.
pub(crate) fn answer(
    hit: &Hit,
    req: &ChatRequest,
    format: &impl ClientFormat,
) -> Result<Response, GatewayError> {
    let entry = &hit.entry;
    let target = Target {
        provider: entry.provider.as_str().into(),
        model: entry.upstream_model.as_str().into(),
        timeouts: Default::default(),
    };
    let mut resp = if req.is_stream() {
        let chunks = sluice_cache::replay(&entry.response);
        let chunks: ChunkStream = Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
        let mut resp = Response::new(format.sse(chunks, &target));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        resp
    } else {
        let json = format
            .json(entry.response.clone(), &target)
            .map_err(|e| GatewayError::internal(format!("could not encode the response: {e}")))?;
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            Body::from(json),
        )
            .into_response()
    };
    let h = resp.headers_mut();
    stamp(h, &target, 0);
    let outcome = if hit.semantic.is_some() {
        "SEMANTIC-HIT"
    } else {
        "HIT"
    };
    h.insert(OUTCOME, HeaderValue::from_static(outcome));
    h.insert(header::AGE, HeaderValue::from(entry.age().as_secs()));
    Ok(resp)
}

/// Says whether the request missed or bypassed the cache (nothing when the model does not
/// cache).
pub(crate) fn stamp_outcome(h: &mut HeaderMap, plan: Option<&Plan>) {
    if let Some(p) = plan {
        let outcome = if p.lookup { "MISS" } else { "BYPASS" };
        h.insert(OUTCOME, HeaderValue::from_static(outcome));
    }
}

/// Stores a complete answer from `target`, on its own task.
pub(crate) fn store(plan: Option<&Plan>, resp: &ChatResponse, target: &Target) {
    if let Some(p) = plan.filter(|p| p.store) {
        p.spawn_put(resp.clone(), target);
    }
}

/// `chunks`, assembled as they pass; a stream that ends cleanly is stored on its own task.
pub(crate) fn record(
    plan: Option<&Plan>,
    chunks: ChunkStream,
    target: &Target,
    approval: Option<oneshot::Receiver<()>>,
) -> ChunkStream {
    match plan.filter(|p| p.store) {
        None => chunks,
        Some(p) => Box::pin(Recording {
            inner: chunks,
            acc: Some(Accumulator::new()),
            put: Some(p.deferred(target)),
            approval,
        }),
    }
}

/// A store to make later: the plan's parts and the target that answered.
struct DeferredPut {
    cache: Arc<Cache>,
    key: CacheKey,
    ttl: Duration,
    target: (Arc<str>, Arc<str>),
    semantic: Option<Semantic>,
}

impl Plan {
    fn deferred(&self, target: &Target) -> DeferredPut {
        DeferredPut {
            cache: self.cache.clone(),
            key: self.key.clone(),
            ttl: self.ttl,
            target: (target.provider.clone(), target.model.clone()),
            semantic: self.semantic.clone(),
        }
    }

    fn spawn_put(&self, resp: ChatResponse, target: &Target) {
        self.deferred(target).spawn(resp, None);
    }
}

impl DeferredPut {
    /// Stores `resp` off the request path; with an `approval`, only once it comes (a
    /// guardrail that reads the whole answer, or a parallel judge, approves it after the
    /// stream ended, and withholds it by dropping the sender).
    fn spawn(self, resp: ChatResponse, approval: Option<oneshot::Receiver<()>>) {
        tokio::spawn(async move {
            if let Some(approval) = approval
                && approval.await.is_err()
            {
                tracing::debug!("the answer was withheld by a guardrail; not cached");
                return;
            }
            let key = &self.key;
            let target = (&*self.target.0, &*self.target.1);
            match Entry::new(key.model(), key.scope().as_str(), target, resp, self.ttl) {
                Ok(entry) => self.cache.put(key, entry).await,
                Err(e) => {
                    tracing::warn!(error = %e, "could not cache the answer");
                    return;
                }
            }
            let Some(semantic) = self.semantic else {
                return;
            };
            if let Some((question, vector)) = semantic.vector_to_store().await {
                self.cache
                    .semantic_put(&question, vector, key, self.ttl)
                    .await;
            }
        });
    }
}

/// A chunk stream that assembles the complete answer as it passes.
struct Recording {
    inner: ChunkStream,
    /// `None` once the stream failed.
    acc: Option<Accumulator>,
    put: Option<DeferredPut>,
    /// What the store waits for, when a guardrail decides after the stream's end.
    approval: Option<oneshot::Receiver<()>>,
}

impl Stream for Recording {
    type Item = Result<ChatChunk, GatewayError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let next = match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(next) => next,
        };
        match &next {
            Some(Ok(chunk)) => {
                if let Some(acc) = &mut this.acc {
                    acc.push(chunk);
                }
            }
            Some(Err(_)) => this.acc = None,
            None => {
                let done = this.acc.take().and_then(Accumulator::finish);
                match (done, this.put.take()) {
                    (Some(resp), Some(put)) => put.spawn(resp, this.approval.take()),
                    (None, Some(_)) => tracing::debug!("stream did not finish cleanly; not cached"),
                    _ => {}
                }
            }
        }
        Poll::Ready(next)
    }
}

/// `DELETE /admin/v1/cache?model=…&key=…|team=…|scope=…`: removes the cached answers of one
/// model, of one scope (`key=<API key>` for that key's entries, `team=<team id>`,
/// `scope=global` or `scope=anonymous`), of both, or all of them. Answers `{"purged": N}`.
pub async fn purge(
    State(gw): State<Arc<Gateway>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let bad =
        |msg: String, param: &str| ApiError(GatewayError::invalid_request(msg).with_param(param));
    if let Some(other) = params
        .keys()
        .find(|k| !["model", "key", "team", "scope"].contains(&k.as_str()))
    {
        return Err(bad(
            format!("unknown parameter \"{other}\"; expected model, key, team or scope"),
            other,
        ));
    }
    let model = params.get("model").cloned();
    if let Some(m) = &model {
        if !gw.router.model_names().contains(m) {
            return Err(ApiError(
                GatewayError::new(
                    ErrorKind::ModelNotFound,
                    Origin::Client,
                    format!("no configured model `{m}`"),
                )
                .with_param("model"),
            ));
        }
    }
    let given = ["key", "team", "scope"]
        .iter()
        .filter(|p| params.contains_key(**p))
        .count();
    if given > 1 {
        return Err(bad("give one of key, team or scope".into(), "scope"));
    }
    let scope = match (
        params.get("key"),
        params.get("team"),
        params.get("scope").map(String::as_str),
    ) {
        (Some(k), _, _) => Some(match gw.tenancy.current().key(k) {
            Some(t) => Scope::tenant("vkey", &t.doc.id),
            None => Scope::for_key(Some(k)),
        }),
        (_, Some(team), _) => Some(Scope::tenant("team", team)),
        (_, _, Some("global")) => Some(Scope::global()),
        (_, _, Some("anonymous")) => Some(Scope::for_key(None)),
        (_, _, Some(other)) => {
            return Err(bad(
                format!(
                    "unknown scope \"{other}\"; expected global or anonymous (or key=<API key>, team=<team id>)"
                ),
                "scope",
            ));
        }
        (None, None, None) => None,
    };
    let Some(rc) = &gw.cache else {
        return Ok(Json(
            json!({"object": "cache.purge", "purged": 0, "backend": null}),
        ));
    };
    let purged = rc
        .cache
        .purge(&Purge { model, scope })
        .await
        .map_err(|e| ApiError(GatewayError::internal(format!("cache purge failed: {e}"))))?;
    Ok(Json(json!({
        "object": "cache.purge",
        "purged": purged,
        "backend": rc.cache.backend(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn directives_come_from_both_headers() {
        let d = |pairs| directives(&headers(pairs)).ok();
        let all = Directives {
            lookup: true,
            store: true,
            ttl: None,
        };
        assert_eq!(d(&[]), Some(all));
        assert_eq!(
            d(&[(OUTCOME, "no-cache")]),
            Some(Directives {
                lookup: false,
                ..all
            })
        );
        assert_eq!(
            d(&[(OUTCOME, "No-Store")]),
            Some(Directives {
                store: false,
                ..all
            })
        );
        assert_eq!(
            d(&[(OUTCOME, "refresh")]),
            Some(Directives {
                lookup: false,
                ..all
            })
        );
        assert_eq!(
            d(&[("cache-control", "max-age=0, no-cache, no-store")]),
            Some(Directives {
                lookup: false,
                store: false,
                ttl: None
            })
        );
        assert_eq!(
            d(&[("x-sluice-cache-ttl", "10m")]),
            Some(Directives {
                ttl: Some(Duration::from_secs(600)),
                ..all
            })
        );
        assert!(d(&[(OUTCOME, "forever")]).is_none());
        assert!(d(&[("x-sluice-cache-ttl", "0s")]).is_none());
        assert!(d(&[("x-sluice-cache-ttl", "soon")]).is_none());
    }
}
