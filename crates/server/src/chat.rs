//! `POST /v1/chat/completions`: the chat pipeline, stream and non-stream.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, header};
use sluice_providers::{CallCx, ChunkStream, Provider, Target};
use sluice_router::{Attempt, Outcome};
use std::time::Duration;

use futures_util::StreamExt;
use sluice_types::{ChatChunk, ChatRequest, ChatResponse, GatewayError};

use crate::auth::presented_key;
use crate::body::{parse_json, read_limited};
use crate::{ApiError, Gateway, RequestCx, facts, sse};

/// Output tokens assumed for a target's `tpm` when the request sets no limit.
const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// One non-streaming chat call.
struct Complete<'r>(&'r ChatRequest);

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

/// Handles a chat completion request.
pub async fn handle(
    State(gw): State<Arc<Gateway>>,
    Extension(cx): Extension<RequestCx>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_limited(&headers, body, gw.max_body).await?;
    let mut req: ChatRequest = parse_json(&bytes)?;
    req.raw = Some(bytes);
    if req.model.is_empty() {
        return Err(GatewayError::invalid_request("`model` must not be empty")
            .with_param("model")
            .into());
    }
    let user = headers
        .get("x-sluice-user")
        .and_then(|v| v.to_str().ok())
        .or(req.user.as_deref());
    let tags = facts::tags(&headers)?;
    let (model, rule) = facts::apply_rules(&gw.router, &req, &headers, &tags);
    let route = gw
        .router
        .route(&model, user.or_else(|| presented_key(&headers)))?;
    let group = route.group;
    let mut call = cx.call.clone();
    call.affinity = headers
        .get("x-sluice-session")
        .and_then(|v| v.to_str().ok())
        .map(Into::into)
        .or_else(|| req.user.as_deref().map(Into::into));
    let output_limit = req
        .max_completion_tokens
        .or(req.max_tokens)
        .unwrap_or(DEFAULT_OUTPUT_ESTIMATE);
    call.estimated_tokens = req.estimated_prompt_tokens() + output_limit;
    if req.is_stream() {
        let Outcome {
            value,
            target,
            attempts,
        } = gw
            .router
            .run(
                group.clone(),
                &Stream {
                    req: &req,
                    hold: group.retry.stream_hold,
                },
                &call,
            )
            .await?;
        let mut resp = Response::new(sse::body(value, req.wants_stream_usage()));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        stamp(h, &target, attempts);
        stamp_variant(h, route.variant.as_deref());
        stamp_rule(h, rule.as_deref());
        Ok(resp)
    } else {
        let out = gw.router.run(group, &Complete(&req), &call).await?;
        let json = out
            .value
            .openai_json()
            .map_err(|e| GatewayError::internal(format!("could not encode the response: {e}")))?;
        let mut resp = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            Body::from(json),
        )
            .into_response();
        stamp(resp.headers_mut(), &out.target, out.attempts);
        stamp_variant(resp.headers_mut(), route.variant.as_deref());
        stamp_rule(resp.headers_mut(), rule.as_deref());
        Ok(resp)
    }
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
