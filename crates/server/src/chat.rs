//! `POST /v1/chat/completions`: the chat pipeline, stream and non-stream.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, header};
use sluice_providers::{CallCx, ChunkStream, Provider, Target};
use sluice_router::Attempt;
use std::time::Duration;

use futures_util::StreamExt;
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, GatewayError};

use crate::auth::presented_key;
use crate::body::{parse_json, read_limited};
use crate::reqlog::PromptCount;
use crate::tenancy::{self, Demand};
use crate::{ApiError, Gateway, Principal, RequestCx, facts, sse};

/// Output tokens assumed for a target's `tpm` when the request sets no limit.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// One non-streaming chat call.
pub(crate) struct Complete<'r>(pub(crate) &'r ChatRequest);

impl Attempt for Complete<'_> {
    type Output = ChatResponse;
    fn call<'a>(
        &'a self,
        p: &'a dyn Provider,
        t: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        p.chat(self.0, t, cx)
    }
}

/// One streaming chat call; succeeds once the upstream's stream has produced content (or the
/// hold time passed), so a failure before any content can still be retried elsewhere.
struct Stream<'r> {
    req: &'r ChatRequest,
    hold: Duration,
}

impl Attempt for Stream<'_> {
    type Output = ChunkStream;
    fn call<'a>(
        &'a self,
        p: &'a dyn Provider,
        t: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        Box::pin(async move {
            let stream = p.chat_stream(self.req, t, cx).await?;
            hold_until_content(stream, self.hold).await
        })
    }
}

/// Reads `stream` until its first content (text, tool call, reasoning, refusal, finish or
/// usage), for at most `hold`. A failure before that is the attempt's error; the chunks read
/// are replayed in front of the rest.
async fn hold_until_content(
    mut stream: ChunkStream,
    hold: Duration,
) -> Result<ChunkStream, GatewayError> {
    if hold.is_zero() {
        return Ok(stream);
    }
    let until = tokio::time::Instant::now() + hold;
    let mut held = Vec::new();
    while let Ok(next) = tokio::time::timeout_at(until, stream.next()).await {
        match next {
            None => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(chunk)) => {
                let content = has_content(&chunk);
                held.push(chunk);
                if content {
                    break;
                }
            }
        }
    }
    Ok(Box::pin(
        futures_util::stream::iter(held.into_iter().map(Ok)).chain(stream),
    ))
}

fn has_content(chunk: &ChatChunk) -> bool {
    chunk.usage.is_some()
        || chunk.choices.iter().any(|c| {
            let d = &c.delta;
            c.finish_reason.is_some()
                || d.content.as_deref().is_some_and(|t| !t.is_empty())
                || d.tool_calls.is_some()
                || d.reasoning_content.is_some()
                || d.refusal.is_some()
                || d.thinking_blocks.is_some()
        })
}

/// One inbound API's answers: how the answer is written back in its client's format. The
/// pipeline before it is the same for all.
pub(crate) trait ClientFormat: Sized {
    /// The JSON body of a complete answer from `target`.
    fn json(&self, resp: ChatResponse, target: &Target) -> Result<Bytes, serde_json::Error>;
    /// The server-sent events body of a streamed answer from `target`.
    fn sse(&self, chunks: ChunkStream, target: &Target) -> Body;
}

/// An inbound API whose request body alone makes the internal request.
pub(crate) trait Inbound: ClientFormat {
    /// Parses a request body into the internal request and this format's per-request state.
    fn decode(bytes: Bytes, cx: &RequestCx) -> Result<(ChatRequest, Self), GatewayError>;
}

/// OpenAI chat: the upstream's bytes where they are OpenAI JSON, else the serialized fields.
pub(crate) struct OpenAiChat {
    include_usage: bool,
}

impl Inbound for OpenAiChat {
    fn decode(bytes: Bytes, _cx: &RequestCx) -> Result<(ChatRequest, Self), GatewayError> {
        let mut req: ChatRequest = parse_json(&bytes)?;
        req.raw = Some(bytes);
        let include_usage = req.wants_stream_usage();
        Ok((req, Self { include_usage }))
    }
}

impl ClientFormat for OpenAiChat {
    fn json(&self, resp: ChatResponse, _target: &Target) -> Result<Bytes, serde_json::Error> {
        resp.openai_json()
    }

    fn sse(&self, chunks: ChunkStream, _target: &Target) -> Body {
        sse::body(chunks, self.include_usage)
    }
}

/// Handles a request of the inbound API `F` (OpenAI chat, Anthropic Messages).
pub async fn handle<F: Inbound>(
    State(gw): State<Arc<Gateway>>,
    Extension(cx): Extension<RequestCx>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_limited(&headers, body, gw.max_body).await?;
    let (req, format) = F::decode(bytes, &cx)?;
    let principal = principal.map(|Extension(p)| p).unwrap_or_default();
    Ok(respond(&gw, &cx, &principal, &headers, &Arc::new(req), &format).await?)
}

/// The pipeline after parsing, shared by every inbound API: routing rules, model resolution
/// (an A/B split sticks to the user or key), the router's attempt loop with session
/// affinity, then the answer as JSON or SSE in the client's `format`, with the headers that
/// name the target, the attempts, the variant and the rule.
pub(crate) async fn respond(
    gw: &Arc<Gateway>,
    cx: &RequestCx,
    principal: &Principal,
    headers: &HeaderMap,
    request: &Arc<ChatRequest>,
    format: &impl ClientFormat,
) -> Result<Response, GatewayError> {
    let req: &ChatRequest = request;
    cx.note_model(&gw.router, &req.model);
    cx.log.update(|f| {
        f.requested_model = Some(req.model.clone());
        if req.user.is_some() {
            f.user.clone_from(&req.user);
        }
        f.stream = req.is_stream();
    });
    require_model(req)?;
    principal.check_model(&req.model)?;
    let user = headers
        .get("x-sluice-user")
        .and_then(|v| v.to_str().ok())
        .or(req.user.as_deref())
        .or(principal.default_user());
    let tags = facts::tags(headers)?;
    let prompt_tokens = req.estimated_prompt_tokens();
    let (model, rule) = facts::apply_rules(
        &gw.router,
        req,
        prompt_tokens,
        headers,
        &tags,
        (principal, user),
    );
    let route = gw
        .router
        .route(&model, user.or_else(|| presented_key(headers)))?;
    let group = route.group;
    cx.log
        .update(|f| f.resolved_model = Some(group.name.clone()));
    let guarded = crate::guardrails::input(gw, cx, principal, &group.name, req).await?;
    let req = guarded.request(req);
    let prompt = std::sync::OnceLock::new();
    let count = || *prompt.get_or_init(|| sluice_tokens::prompt_tokens(req));
    let output_limit = req.max_completion_tokens.or(req.max_tokens);
    let demand = Demand {
        model: &group.name,
        user,
        group: Some(&group),
        output: output_limit.unwrap_or(gw.default_max_tokens),
        prompt: &count,
    };
    let permit = tenancy::admit(gw, principal, &demand).await?;
    let limits = permit.as_ref().map(sluice_limits::Permit::status);
    // A stream cut before its usage is counted at the end; the prompt only then, unless
    // admission counted it already.
    let prompt_estimate = match prompt.get() {
        Some(&n) => Some(PromptCount::Counted(n)),
        None => req
            .is_stream()
            .then(|| PromptCount::Later(Arc::clone(request))),
    };
    cx.log.update(|f| {
        f.permit = permit;
        f.prompt_estimate = prompt_estimate;
    });
    let mut cached = crate::cache::plan(gw, cx, headers, principal, req, &model, &group.name)?;
    if let Some(mut hit) = crate::cache::lookup(cached.as_mut(), &cx.log).await {
        guarded.settle_judges().await?;
        guarded.restore_cached(&mut hit.entry);
        cx.log
            .update(|f| f.usage.clone_from(&hit.entry.response.usage));
        let mut resp = crate::cache::answer(&hit, req, format)?;
        let h = resp.headers_mut();
        stamp_variant(h, route.variant.as_deref());
        stamp_rule(h, rule.as_deref());
        if let Some(status) = &limits {
            tenancy::stamp_rate_headers(h, status);
        }
        return Ok(resp);
    }
    let mut call = cx.call.clone();
    call.affinity = headers
        .get("x-sluice-session")
        .and_then(|v| v.to_str().ok())
        .map(Into::into)
        .or_else(|| req.user.as_deref().map(Into::into));
    call.estimated_tokens = prompt_tokens + output_limit.unwrap_or(DEFAULT_OUTPUT_ESTIMATE);
    let (mut resp, target, attempts) = if req.is_stream() {
        let hold = group.retry.stream_hold;
        let out = gw.router.run(group, &Stream { req, hold }, &call).await?;
        let chunks = crate::metrics::watch_stream(out.value, &out.target);
        let chunks = crate::reqlog::observe(chunks, &cx.log);
        // A verdict after the stream's end (a parallel judge, an output judge or webhook)
        // must approve the answer before the cache stores it.
        let (approve, approval) = guarded.approval().unzip();
        let chunks = crate::cache::record(cached.as_ref(), chunks, &out.target, approval);
        let chunks = guarded.stream(&cx.log, chunks, approve);
        let mut resp = Response::new(format.sse(chunks, &out.target));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        (resp, out.target, out.attempts)
    } else {
        let (mut out, cost) = complete(gw, cx, &group, req, &call, &guarded).await?;
        crate::cache::store(cached.as_ref(), &out.value, &out.target);
        guarded.restore(&mut out.value);
        let json = format
            .json(out.value, &out.target)
            .map_err(|e| GatewayError::internal(format!("could not encode the response: {e}")))?;
        let mut resp = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            Body::from(json),
        )
            .into_response();
        if let Some(v) = cost.and_then(|c| HeaderValue::from_str(&c.to_string()).ok()) {
            resp.headers_mut().insert("x-sluice-cost-usd", v);
        }
        (resp, out.target, out.attempts)
    };
    let h = resp.headers_mut();
    stamp(h, &target, attempts);
    if let Some(status) = &limits {
        tenancy::stamp_rate_headers(h, status);
    }
    crate::cache::stamp_outcome(h, cached.as_ref());
    stamp_variant(h, route.variant.as_deref());
    stamp_rule(h, rule.as_deref());
    Ok(resp)
}

/// The attempt loop of a complete answer, then its output checks; a `json_schema` check
/// with `retries` asks again for an answer that fails it. Every answer is paid for: the log
/// records the usage and cost of all of them, and the answer's cost is their sum.
async fn complete(
    gw: &Gateway,
    cx: &RequestCx,
    group: &Arc<sluice_router::ModelGroup>,
    req: &ChatRequest,
    call: &CallCx,
    guarded: &crate::guardrails::Guarded,
) -> Result<
    (
        sluice_router::Outcome<ChatResponse>,
        Option<sluice_pricing::Usd>,
    ),
    GatewayError,
> {
    let mut tries = 0;
    let mut spent: Option<(sluice_types::Usage, Option<sluice_pricing::Usd>)> = None;
    loop {
        let mut out = gw.router.run(group.clone(), &Complete(req), call).await?;
        // Priced before the output check: a refused answer was still paid for.
        let cost = out.value.usage.as_ref().and_then(|u| {
            gw.pricing
                .cost(&out.target.provider, &out.target.model, &u.into())
        });
        let (usage, cost) = match (spent.take(), &out.value.usage) {
            (Some((mut usage, before)), Some(u)) => {
                usage.absorb(u);
                let cost = before.zip(cost).map(|(a, b)| a.saturating_add(b));
                (Some(usage), cost)
            }
            (Some((usage, before)), None) => (Some(usage), before),
            (None, u) => (u.clone(), cost),
        };
        cx.log.update(|f| {
            f.usage.clone_from(&usage);
            f.cost = Some(cost);
        });
        match guarded.check_answer(&cx.log, &mut out.value).await {
            Ok(()) => return Ok((out, cost)),
            Err(refused) if tries < refused.retries => {
                tries += 1;
                tracing::debug!(try_ = tries, "the answer failed its schema; asking again");
                spent = usage.map(|u| (u, cost));
            }
            Err(refused) => return Err(refused.error),
        }
    }
}

/// Refuses a request without a model name.
pub(crate) fn require_model(req: &ChatRequest) -> Result<(), GatewayError> {
    if req.model.is_empty() {
        return Err(GatewayError::invalid_request("`model` must not be empty").with_param("model"));
    }
    Ok(())
}

/// Names the routing rule that chose the model, when one fired.
fn stamp_rule(h: &mut HeaderMap, rule: Option<&str>) {
    if let Some(v) = rule.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert("x-sluice-rule", v);
    }
}

/// Names the A/B variant that served the request, when the model was a split.
pub(crate) fn stamp_variant(h: &mut HeaderMap, variant: Option<&str>) {
    if let Some(v) = variant.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert("x-sluice-variant", v);
    }
}

/// Adds the headers that say which target answered and after how many attempts.
pub(crate) fn stamp(h: &mut HeaderMap, target: &Target, attempts: u32) {
    if let Ok(v) = HeaderValue::from_str(&target.provider) {
        h.insert("x-sluice-provider", v);
    }
    if let Ok(v) = HeaderValue::from_str(&target.model) {
        h.insert("x-sluice-model", v);
    }
    h.insert("x-sluice-attempts", HeaderValue::from(attempts));
}
