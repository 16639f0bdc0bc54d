//! `POST /v1/messages` and `POST /v1/messages/count_tokens`: the Anthropic Messages API,
//! inbound, routed to any provider.
//!
//! A request is parsed once into the Anthropic wire types, translated into the internal
//! `ChatRequest` by [`decode`], and run through the same pipeline as OpenAI chat
//! ([`chat::handle`]: routing rules, model resolution, the attempt loop with retries,
//! fallbacks and the stream hold). Only the last step differs: the answer is written back
//! as an Anthropic message by [`encode`], or as Anthropic's event sequence by [`stream`].
//! Every error on these routes, including those raised before the handler runs (auth, a
//! bad `x-sluice-timeout`, an unknown method), leaves in Anthropic's error shape through
//! [`anthropic_errors`].

mod decode;
mod encode;
mod stream;

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sluice_providers::anthropic::wire::MessagesRequest;
use sluice_providers::{ChunkStream, Target};
use sluice_types::{ChatRequest, ChatResponse, GatewayError, JsonMap};

use crate::body::{parse_json, read_limited};
use crate::chat::{self, ClientFormat, Inbound};
use crate::{ApiError, Gateway, RequestCx};

/// Path of the Messages API; `count_tokens` is below it.
const MESSAGES_PATH: &str = "/v1/messages";

/// The Anthropic Messages API as a [`ClientFormat`] of the shared pipeline.
pub(crate) struct AnthropicMessages {
    /// The message id used when the upstream's answer has none.
    id: String,
}

impl Inbound for AnthropicMessages {
    fn decode(bytes: Bytes, cx: &RequestCx) -> Result<(ChatRequest, Self), GatewayError> {
        let req = decode::chat_request(parse_json(&bytes)?)?;
        let id = format!("msg_{}", cx.id);
        Ok((req, Self { id }))
    }
}

impl ClientFormat for AnthropicMessages {
    fn json(&self, resp: ChatResponse, target: &Target) -> Result<Bytes, serde_json::Error> {
        let msg = encode::messages_response(resp, &self.id, &target.model);
        serde_json::to_vec(&msg).map(Bytes::from)
    }

    fn sse(&self, chunks: ChunkStream, target: &Target) -> Body {
        crate::sse::written(
            chunks,
            stream::Encoder::new(self.id.clone(), target.model.to_string()),
        )
    }
}

/// `from` as a `T` with the same JSON shape (Anthropic's thinking blocks and the internal
/// [`sluice_types::ThinkingBlock`] are one such pair).
fn same_shape<T: DeserializeOwned>(from: &impl Serialize) -> Result<T, serde_json::Error> {
    serde_json::from_value(serde_json::to_value(from)?)
}

/// Handles a token count: `{"input_tokens": N}`, where N is the gateway's estimate of the
/// prompt of the translated request (`ChatRequest::estimated_prompt_tokens`), not a
/// provider's tokenizer count. The model must be one this gateway serves.
pub async fn count_tokens(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_limited(&headers, body, gw.max_body).await?;
    // The body is a Messages request without `max_tokens`, which the wire type requires.
    let mut fields: JsonMap = parse_json(&bytes)?;
    fields.entry("max_tokens").or_insert(json!(1));
    let bytes = serde_json::to_vec(&fields)
        .map_err(|e| GatewayError::internal(format!("could not re-read the request: {e}")))?;
    let req = decode::chat_request(parse_json::<MessagesRequest>(&bytes)?)?;
    chat::require_model(&req)?;
    gw.router.route(&req.model, None)?;
    Ok(Json(
        json!({ "input_tokens": req.estimated_prompt_tokens() }),
    ))
}

/// Rewrites every error response on the Messages paths (those carrying a [`GatewayError`],
/// as [`ApiError`] responses do) into Anthropic's shape,
/// `{"type":"error","error":{"type","message"}}`, keeping the status and headers. It wraps
/// the whole application, so errors raised before routing reach the client in that shape too.
pub async fn anthropic_errors(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let ours = path
        .strip_prefix(MESSAGES_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    let resp = next.run(req).await;
    if !ours {
        return resp;
    }
    let Some(e) = resp.extensions().get::<GatewayError>().cloned() else {
        return resp;
    };
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(e.to_anthropic_body().to_string()))
}
