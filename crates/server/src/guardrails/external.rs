//! The checks the server runs itself: LLM judges, asked through the gateway's own routing,
//! and policy webhooks, POSTed to the operator's URL.
//!
//! A check yields a [`Decision`] from what it found and its configured action: a judge's
//! unsafe verdict or a webhook's deny blocks (`block`) or is only recorded (`flag`); a
//! webhook's modified body replaces the request or answer (`block`, the enforcing mode) or
//! is only recorded (`flag`). A check that fails (timeout, error status, an answer that does
//! not parse) is decided by its `on_error`: `allow` lets the request through and records the
//! error, `block` refuses it. Every run adds one entry to the request log's `guardrails`
//! field and one count to `sluice_guardrail_actions_total` (action `error` on a failure).

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use sluice_guard::{
    Action, Block, Check, CheckKind, JudgeEndpoint, JudgeSpec, OnError, Verdict, WebhookAnswer,
    WebhookSpec, judge,
};
use sluice_types::{ChatRequest, ChatResponse, Content, GatewayError};

use super::ACTIONS;
use crate::Gateway;
use crate::own_call::{self, PostJson, bad_response};
use crate::reqlog::LogSlot;

/// The largest webhook answer read.
const MAX_WEBHOOK_ANSWER: usize = 4 << 20;

/// Which side of the call a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// The request, before the provider sees it.
    Input,
    /// The answer, before the client sees it; a streamed one cannot be replaced any more.
    Output {
        /// A webhook's modified answer can still take its place.
        can_modify: bool,
    },
}

impl Side {
    fn stage(self) -> &'static str {
        match self {
            Side::Input => "input",
            Side::Output { .. } => "output",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Side::Input => "request",
            Side::Output { .. } => "answer",
        }
    }
}

/// Whose request it is, as a webhook is told.
#[derive(Debug, Clone)]
pub(super) struct Meta {
    pub(super) request_id: Arc<str>,
    /// The resolved model group.
    pub(super) model: String,
    pub(super) key_id: Option<String>,
    pub(super) team_id: Option<String>,
}

/// A body a webhook sent back in place of the one it was given.
#[derive(Debug)]
pub(super) enum Modified {
    Request(Box<ChatRequest>),
    Answer(Box<ChatResponse>),
}

/// What one external check decided.
#[derive(Debug)]
pub(super) enum Decision {
    /// Go on unchanged.
    Pass,
    /// Refuse.
    Block(Block),
    /// Go on with this body instead.
    Modify(Modified),
}

/// What a check found, before its action applies.
enum Found {
    Clean,
    Fired { hits: Vec<String>, reason: String },
    Modify(Modified),
}

/// Runs the judge or webhook `check` on `req` (input) or on `answer` to `req` (output) and
/// records what it did.
pub(super) async fn run(
    gw: &Gateway,
    log: &LogSlot,
    meta: &Meta,
    check: &Check,
    side: Side,
    req: &ChatRequest,
    answer: Option<&ChatResponse>,
) -> Decision {
    let (found, on_error) = match &check.kind {
        CheckKind::Judge(spec) => {
            let found = ask_judge(gw, meta, spec, req, answer)
                .await
                .map(|v| verdict_found(&v, side))
                .map_err(|e| e.to_string());
            (found, spec.on_error)
        }
        CheckKind::Webhook(spec) => (
            call_webhook(meta, spec, &check.name, side, req, answer).await,
            spec.on_error,
        ),
        _ => return Decision::Pass,
    };
    let name = &check.name;
    let (taken, hits, error, decision) = match found {
        Ok(Found::Clean) => ("pass", Vec::new(), None, Decision::Pass),
        Ok(Found::Fired { hits, reason }) => match check.action {
            Action::Block => {
                let block = Block {
                    check: name.clone(),
                    reason,
                };
                ("block", hits, None, Decision::Block(block))
            }
            _ => ("flag", hits, None, Decision::Pass),
        },
        Ok(Found::Modify(body)) => match check.action {
            Action::Block => (
                "modify",
                vec!["modify".into()],
                None,
                Decision::Modify(body),
            ),
            _ => ("flag", vec!["modify".into()], None, Decision::Pass),
        },
        Err(e) => {
            tracing::warn!(check = %name, error = %e, "guardrail check failed");
            match on_error {
                OnError::Block => {
                    let block = Block {
                        check: name.clone(),
                        reason: format!("the check could not run ({e}) and on_error is block"),
                    };
                    ("block", Vec::new(), Some(e), Decision::Block(block))
                }
                OnError::Allow => ("pass", Vec::new(), Some(e), Decision::Pass),
            }
        }
    };
    let counted = if error.is_some() { "error" } else { taken };
    metrics::counter!(ACTIONS, "check" => name.clone(), "action" => counted).increment(1);
    let hits: Vec<Value> = hits
        .iter()
        .map(|kind| json!({"kind": kind, "count": 1}))
        .collect();
    let mut entry = json!({
        "check": name,
        "stage": side.stage(),
        "action": taken,
        "hits": hits,
        "score": null,
    });
    if let Some(e) = error {
        entry["error"] = Value::String(e);
    }
    log.update(|f| f.guardrails.push(entry));
    decision
}

/// An unsafe verdict fires with its categories as hits (`unsafe` when it named none).
fn verdict_found(v: &Verdict, side: Side) -> Found {
    if !v.flagged {
        return Found::Clean;
    }
    let hits = if v.categories.is_empty() {
        vec!["unsafe".to_owned()]
    } else {
        v.categories.clone()
    };
    Found::Fired {
        hits,
        reason: v.describe(side.what()),
    }
}

/// Asks the judge model for its verdict on the request, or on the answer.
async fn ask_judge(
    gw: &Gateway,
    meta: &Meta,
    spec: &JudgeSpec,
    req: &ChatRequest,
    answer: Option<&ChatResponse>,
) -> Result<Verdict, GatewayError> {
    let clean = Verdict {
        flagged: false,
        categories: Vec::new(),
        reason: None,
    };
    match spec.endpoint {
        JudgeEndpoint::Chat => {
            let messages = judge::transcript(req, answer, spec.instructions.as_deref());
            if messages.iter().all(|m| m["role"] == "system") {
                return Ok(clean);
            }
            let asked = json!({"model": spec.model, "messages": messages});
            let asked: ChatRequest = serde_json::from_value(asked)
                .map_err(|e| GatewayError::internal(format!("the judge's request: {e}")))?;
            let attempt = crate::chat::Complete(&asked);
            let resp =
                own_call::run(gw, &spec.model, &meta.request_id, spec.timeout, &attempt).await?;
            let text = match resp
                .choices
                .first()
                .and_then(|c| c.message.content.as_ref())
            {
                Some(Content::Text(t)) => t.clone(),
                Some(Content::Parts(parts)) => {
                    parts.iter().filter_map(|p| p.text.as_deref()).collect()
                }
                None => String::new(),
            };
            Verdict::parse(&text).map_err(|e| bad_response(&e))
        }
        JudgeEndpoint::Moderations => {
            let input = judge::moderation_input(req, answer);
            if input.is_empty() {
                return Ok(clean);
            }
            let mut body = serde_json::Map::new();
            body.insert("input".into(), json!(input));
            let attempt = PostJson {
                path: "/moderations",
                body: &body,
            };
            let answer =
                own_call::run(gw, &spec.model, &meta.request_id, spec.timeout, &attempt).await?;
            Verdict::from_moderation(&answer).map_err(|e| bad_response(&e))
        }
    }
}

/// POSTs the request (and the answer, on output) to the webhook and reads its decision.
async fn call_webhook(
    meta: &Meta,
    spec: &WebhookSpec,
    check: &str,
    side: Side,
    req: &ChatRequest,
    answer: Option<&ChatResponse>,
) -> Result<Found, String> {
    let mut body = json!({
        "check": check,
        "stage": side.stage(),
        "request_id": &*meta.request_id,
        "model": meta.model,
        "key_id": meta.key_id,
        "team_id": meta.team_id,
        "request": req,
    });
    if let Some(answer) = answer {
        body["response"] = serde_json::to_value(answer).map_err(|e| e.to_string())?;
    }
    let body = Bytes::from(body.to_string());
    let (status, answer_body) = crate::hook::post(
        &spec.url,
        &spec.headers,
        body,
        spec.timeout,
        MAX_WEBHOOK_ANSWER,
    )
    .await?;
    if !status.is_success() {
        return Err(format!("the webhook answered {status}"));
    }
    let field = match side {
        Side::Input => "request",
        Side::Output { .. } => "response",
    };
    match WebhookAnswer::parse(&answer_body, field)? {
        WebhookAnswer::Allow => Ok(Found::Clean),
        WebhookAnswer::Deny(reason) => Ok(Found::Fired {
            hits: vec!["deny".into()],
            reason,
        }),
        WebhookAnswer::Modify(body) => modified(body, side, req).map(Found::Modify),
    }
}

/// Reads a webhook's modified body: a chat request on input (keeping the routed model,
/// sent as its fields from now on), a chat completion on output.
fn modified(mut body: Value, side: Side, req: &ChatRequest) -> Result<Modified, String> {
    match side {
        Side::Input => {
            if let Value::Object(fields) = &mut body {
                fields
                    .entry("model")
                    .or_insert_with(|| Value::String(req.model.clone()));
            }
            let mut new: ChatRequest = serde_json::from_value(body).map_err(|e| {
                format!("the webhook's modified request is not a chat request: {e}")
            })?;
            new.model.clone_from(&req.model);
            new.raw = None;
            Ok(Modified::Request(Box::new(new)))
        }
        Side::Output { .. } => {
            let new: ChatResponse = serde_json::from_value(body).map_err(|e| {
                format!("the webhook's modified response is not a chat completion: {e}")
            })?;
            Ok(Modified::Answer(Box::new(new)))
        }
    }
}
