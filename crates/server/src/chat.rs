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
use sluice_types::{ChatRequest, ChatResponse, GatewayError};

use crate::body::{parse_json, read_limited};
use crate::{ApiError, Gateway, RequestCx, sse};

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

/// One streaming chat call; succeeds once the upstream accepted it.
struct Stream<'r>(&'r ChatRequest);

impl Attempt for Stream<'_> {
    type Output = ChunkStream;
    fn call<'a>(
        &'a self,
        p: &'a dyn Provider,
        t: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        p.chat_stream(self.0, t, cx)
    }
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
    let group = gw.router.resolve(&req.model)?;
    if req.is_stream() {
        let Outcome {
            value,
            target,
            attempts,
        } = gw.router.run(group, &Stream(&req), &cx.call).await?;
        let mut resp = Response::new(sse::body(value, req.wants_stream_usage()));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        stamp(h, &target, attempts);
        Ok(resp)
    } else {
        let out = gw.router.run(group, &Complete(&req), &cx.call).await?;
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
        Ok(resp)
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
