//! Pass-through of the other OpenAI endpoints (completions, embeddings, moderations, images,
//! audio, files, batches, uploads) to OpenAI-family providers.
//!
//! A JSON body that names a `model` is routed like chat: the name is resolved, rewritten to
//! the target's model, and retried or failed over as configured. Anything else (multipart
//! uploads, downloads, listings) is streamed both ways, unchanged, to the provider named by
//! `x-sluice-provider`, or else to the first OpenAI-family provider (`openai` when present).

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderName, Method};
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use sluice_providers::{CallCx, ForwardRequest, Provider, Target, UpstreamBody, box_body};
use sluice_router::{Attempt, Outcome};
use sluice_types::{ErrorKind, GatewayError, Origin};

use crate::auth::presented_key;
use crate::body::{parse_json, read_limited};
use crate::chat::{stamp, stamp_variant};
use crate::tenancy::{self, Demand};
use crate::{ApiError, Gateway, Principal, RequestCx};

/// Client headers forwarded upstream. Credentials and hop-by-hop headers never are.
const FORWARDED_REQUEST_HEADERS: &[&str] =
    &["content-type", "accept", "openai-beta", "idempotency-key"];
/// Upstream response headers relayed to the client.
const RELAYED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "content-disposition",
    "openai-processing-ms",
    "openai-version",
    "openai-model",
];

/// One routed JSON call: the body with `model` set to the target's model.
struct JsonForward {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Map<String, Value>,
}

impl Attempt for JsonForward {
    type Output = http::Response<UpstreamBody>;
    fn call<'a>(
        &'a self,
        p: &'a dyn Provider,
        t: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<Self::Output, GatewayError>> {
        let mut body = self.body.clone();
        body.insert("model".into(), Value::String(t.model.to_string()));
        let req = ForwardRequest {
            method: self.method.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            model: Some(t.model.to_string()),
            headers: self.headers.clone(),
            body: box_body(Bytes::from(Value::Object(body).to_string())),
            timeouts: t.timeouts,
        };
        p.forward(req, cx)
    }
}

/// Handles any pass-through route.
pub async fn handle(
    State(gw): State<Arc<Gateway>>,
    Extension(cx): Extension<RequestCx>,
    principal: Option<Extension<Principal>>,
    req: Request,
) -> Result<Response, ApiError> {
    let principal = principal.map(|Extension(p)| p).unwrap_or_default();
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path()
        .strip_prefix("/v1")
        .unwrap_or(parts.uri.path())
        .to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let is_json = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if parts.method == Method::POST && is_json {
        let bytes = read_limited(&parts.headers, body, gw.max_body).await?;
        let obj: Map<String, Value> = parse_json(&bytes)?;
        let headers = forwarded_headers(&parts.headers, false);
        match obj.get("model") {
            Some(Value::String(model)) => {
                cx.note_model(&gw.router, model);
                let user = parts
                    .headers
                    .get("x-sluice-user")
                    .and_then(|v| v.to_str().ok());
                let sticky = user
                    .or_else(|| obj.get("user").and_then(Value::as_str))
                    .or(principal.default_user());
                cx.log.update(|f| {
                    f.requested_model = Some(model.clone());
                    if let Some(user) = sticky {
                        f.user = Some(user.to_owned());
                    }
                    f.stream = obj.get("stream") == Some(&Value::Bool(true));
                });
                principal.check_model(model)?;
                let route = gw
                    .router
                    .route(model, sticky.or_else(|| presented_key(&parts.headers)))?;
                cx.log
                    .update(|f| f.resolved_model = Some(route.group.name.clone()));
                let output = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
                    .iter()
                    .find_map(|k| obj.get(*k).and_then(Value::as_u64));
                let produces_text =
                    !path.starts_with("/embeddings") && !path.starts_with("/moderations");
                // The body's own tokens stand for the prompt (an over-estimate by its JSON).
                let count =
                    || sluice_tokens::count(std::str::from_utf8(&bytes).unwrap_or_default());
                let demand = Demand {
                    model: &route.group.name,
                    group: Some(&route.group),
                    user: sticky,
                    output: output.unwrap_or(if produces_text {
                        gw.default_max_tokens
                    } else {
                        0
                    }),
                    prompt: &count,
                };
                let permit = tenancy::admit(&gw, &principal, &demand).await?;
                let limits = permit.as_ref().map(sluice_limits::Permit::status);
                cx.log.update(|f| f.permit = permit);
                let attempt = JsonForward {
                    method: parts.method,
                    path,
                    query,
                    headers,
                    body: obj,
                };
                let out = gw.router.run(route.group, &attempt, &cx.call).await?;
                let mut resp = relay(out);
                stamp_variant(resp.headers_mut(), route.variant.as_deref());
                if let Some(status) = &limits {
                    tenancy::stamp_rate_headers(resp.headers_mut(), status);
                }
                return Ok(resp);
            }
            Some(_) => {
                return Err(GatewayError::invalid_request("`model` must be a string")
                    .with_param("model")
                    .into());
            }
            None => {
                let (target, provider) = pick_provider(&gw, &parts.headers)?;
                let req = ForwardRequest {
                    method: parts.method,
                    path,
                    query,
                    model: None,
                    headers,
                    body: box_body(bytes),
                    timeouts: target.timeouts,
                };
                let value = provider.forward(req, &cx.call).await?;
                return Ok(relay(Outcome {
                    value,
                    target,
                    attempts: 1,
                }));
            }
        }
    }
    if let Some(n) = content_length(&parts.headers).filter(|&n| n > gw.max_body) {
        return Err(GatewayError::new(
            ErrorKind::PayloadTooLarge,
            Origin::Client,
            format!(
                "the request body ({n} bytes) is larger than the {} bytes this gateway accepts",
                gw.max_body
            ),
        )
        .into());
    }
    let (target, provider) = pick_provider(&gw, &parts.headers)?;
    let limit = usize::try_from(gw.max_body).unwrap_or(usize::MAX);
    let body = http_body_util::Limited::new(body, limit).boxed_unsync();
    let req = ForwardRequest {
        method: parts.method,
        path,
        query,
        model: None,
        headers: forwarded_headers(&parts.headers, true),
        body,
        timeouts: target.timeouts,
    };
    let value = provider.forward(req, &cx.call).await?;
    Ok(relay(Outcome {
        value,
        target,
        attempts: 1,
    }))
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The provider for a request that names no model.
fn pick_provider(gw: &Gateway, h: &HeaderMap) -> Result<(Target, Arc<dyn Provider>), GatewayError> {
    if let Some(name) = h.get("x-sluice-provider").and_then(|v| v.to_str().ok()) {
        return gw.router.provider(name).ok_or_else(|| {
            GatewayError::invalid_request(format!(
                "x-sluice-provider names unknown provider {name:?}"
            ))
            .with_param("x-sluice-provider")
        });
    }
    gw.router.default_passthrough().ok_or_else(|| {
        GatewayError::new(
            ErrorKind::RouteNotFound,
            Origin::Client,
            "no OpenAI-family provider is configured for this endpoint",
        )
    })
}

fn forwarded_headers(h: &HeaderMap, keep_length: bool) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in FORWARDED_REQUEST_HEADERS {
        if let Some(v) = h.get(*name) {
            out.insert(HeaderName::from_static(name), v.clone());
        }
    }
    if keep_length {
        if let Some(v) = h.get(http::header::CONTENT_LENGTH) {
            out.insert(http::header::CONTENT_LENGTH, v.clone());
        }
    }
    out
}

fn relay(out: Outcome<http::Response<UpstreamBody>>) -> Response {
    let (parts, body) = out.value.into_parts();
    let mut resp = Response::new(Body::new(body));
    *resp.status_mut() = parts.status;
    let h = resp.headers_mut();
    for name in RELAYED_RESPONSE_HEADERS {
        if let Some(v) = parts.headers.get(*name) {
            h.insert(HeaderName::from_static(name), v.clone());
        }
    }
    if let Some(v) = parts.headers.get("x-request-id") {
        h.insert("x-sluice-upstream-request-id", v.clone());
    }
    stamp(h, &out.target, out.attempts);
    resp
}
