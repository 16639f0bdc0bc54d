//! `POST /v1/responses`: OpenAI's Responses API, inbound, to any model.
//!
//! A model whose every target is an OpenAI-family provider (OpenAI, Azure OpenAI, an
//! OpenAI-compatible server) gets the request as it is, through the pass-through, so the
//! provider's own features (built-in tools, its stored responses, background runs) work
//! unchanged. Any other model is translated: the request is decoded into the internal chat
//! request by [`decode`] (after the stored conversation of `previous_response_id`, if any)
//! and runs through the same pipeline as chat ([`chat::respond`]: rules, routing, limits,
//! guardrails, cache, retries and fallbacks); the answer is written back as a `response`
//! object by [`encode`] or as the Responses event sequence by [`stream`]. Unless the request
//! says `store: false`, the conversation up to the answer is kept ([`conversations`]) under
//! the response's id for a later `previous_response_id`.

mod conversations;
mod decode;
mod encode;
mod stream;

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value};
use sluice_providers::{ChunkStream, Target};
use sluice_types::{ChatResponse, Message};

pub(crate) use self::conversations::Conversations;
use crate::body::{parse_json, read_limited};
use crate::chat::{self, ClientFormat};
use crate::{ApiError, Gateway, Principal, RequestCx};

/// The Responses API as a [`ClientFormat`] of the shared pipeline.
struct ResponsesApi {
    /// The response's id, `resp_` and the request id.
    id: String,
    /// Unix seconds.
    created: u64,
    /// The request fields the response echoes.
    echo: Map<String, Value>,
    /// Where the conversation goes once answered; `None` with `store: false`.
    keep: Option<Arc<Keep>>,
}

/// A conversation to keep under a response id once its answer is known.
struct Keep {
    gw: Arc<Gateway>,
    id: String,
    /// The messages before the answer, without the request's `instructions`.
    messages: Vec<Message>,
}

impl Keep {
    /// Stores the conversation with `answer`'s first choice, off the request path.
    fn save(self: Arc<Self>, answer: &ChatResponse) {
        let Some(reply) = answer.choices.first().map(|c| c.message.clone()) else {
            return;
        };
        tokio::spawn(async move {
            let mut messages = self.messages.clone();
            messages.push(reply);
            let created = sluice_store::unix_ms();
            self.gw
                .conversations()
                .save(&self.id, created, &messages)
                .await;
        });
    }
}

impl ClientFormat for ResponsesApi {
    fn json(&self, resp: ChatResponse, target: &Target) -> Result<Bytes, serde_json::Error> {
        if let Some(keep) = &self.keep {
            keep.clone().save(&resp);
        }
        let body = encode::response(&resp, &self.id, self.created, &target.model, &self.echo);
        serde_json::to_vec(&body).map(Bytes::from)
    }

    fn sse(&self, chunks: ChunkStream, target: &Target) -> Body {
        let on_complete = self
            .keep
            .clone()
            .map(|keep| Box::new(move |resp: &ChatResponse| keep.save(resp)) as stream::OnComplete);
        let enc = stream::Encoder::new(
            self.id.clone(),
            self.created,
            target.model.to_string(),
            self.echo.clone(),
            on_complete,
        );
        crate::sse::written(chunks, enc)
    }
}

/// Handles `POST /v1/responses`: passed through to OpenAI-family models, translated for
/// every other.
pub async fn handle(
    State(gw): State<Arc<Gateway>>,
    Extension(cx): Extension<RequestCx>,
    principal: Option<Extension<Principal>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = read_limited(&parts.headers, body, gw.max_body).await?;
    let fields: Map<String, Value> = parse_json(&bytes)?;
    let translated = fields
        .get("model")
        .and_then(Value::as_str)
        .is_some_and(|m| gw.router.openai_family(m) == Some(false));
    if !translated {
        let req = Request::from_parts(parts, Body::from(bytes));
        return crate::passthrough::handle(State(gw), Extension(cx), principal, req).await;
    }
    let principal = principal.map(|Extension(p)| p).unwrap_or_default();
    let history = match fields.get("previous_response_id").and_then(Value::as_str) {
        Some(id) => gw.conversations().load(id).await?,
        None => Vec::new(),
    };
    let echo = encode::echo(&fields);
    let store = fields.get("store") != Some(&Value::Bool(false));
    let decoded = decode::chat_request(fields, history)?;
    let id = format!("resp_{}", id_safe(&cx.id));
    let keep = store.then(|| {
        let skip = usize::from(decoded.from_instructions);
        Arc::new(Keep {
            gw: gw.clone(),
            id: id.clone(),
            messages: decoded.request.messages[skip..].to_vec(),
        })
    });
    let format = ResponsesApi {
        id,
        created: sluice_store::unix_ms().unsigned_abs() / 1000,
        echo,
        keep,
    };
    let request = Arc::new(decoded.request);
    Ok(chat::respond(&gw, &cx, &principal, &parts.headers, &request, &format).await?)
}

/// The request id with anything but ASCII letters, digits, `-` and `_` replaced, for ids
/// clients put in URLs.
fn id_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
