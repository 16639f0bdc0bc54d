//! The gateway's own calls to configured models: the semantic cache's embeddings and the
//! guardrails' judges.
//!
//! Each runs through the gateway's own routing, exactly as a client's request to that model
//! would: the router's attempt loop on the model's group, so every provider that route
//! reaches works, with retries and fallbacks. It is not a client request: it has its own
//! deadline, no log record of its own and no limits. Its failures are errors the caller
//! decides about (a cache miss, a guardrail's `on_error`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Method, header};
use http_body_util::BodyExt;
use serde_json::Value;
use sluice_providers::{CallCx, ForwardRequest, Provider, Target, box_body};
use sluice_router::Attempt;
use sluice_types::{ErrorKind, GatewayError, Origin};

use crate::Gateway;

/// The largest answer read from an OpenAI-endpoint call.
const MAX_BODY: usize = 8 << 20;

/// Runs `attempt` on the model group `model`, within `timeout`.
pub(crate) async fn run<A: Attempt>(
    gw: &Gateway,
    model: &str,
    request_id: &Arc<str>,
    timeout: Duration,
    attempt: &A,
) -> Result<A::Output, GatewayError> {
    let route = gw.router.route(model, None)?;
    let call = CallCx::new(request_id.clone(), Some(Instant::now() + timeout));
    match tokio::time::timeout(timeout, gw.router.run(route.group, attempt, &call)).await {
        Ok(Ok(out)) => Ok(out.value),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(GatewayError::new(
            ErrorKind::UpstreamTimeout,
            Origin::Upstream,
            format!("{model} did not answer within {} ms", timeout.as_millis()),
        )),
    }
}

/// One OpenAI-endpoint call: `body` with `model` set to the target's model, POSTed to
/// `path` (`/embeddings`, `/moderations`); the answer is its JSON. An error status is the
/// upstream's error, so the router retries and falls back as for any call.
pub(crate) struct PostJson<'a> {
    /// The path after `/v1`.
    pub(crate) path: &'static str,
    /// The request body, without `model`.
    pub(crate) body: &'a serde_json::Map<String, Value>,
}

impl Attempt for PostJson<'_> {
    type Output = Value;
    fn call<'a>(
        &'a self,
        p: &'a dyn Provider,
        t: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<Value, GatewayError>> {
        Box::pin(async move {
            let mut body = self.body.clone();
            body.insert("model".into(), Value::String(t.model.to_string()));
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            let req = ForwardRequest {
                method: Method::POST,
                path: self.path.into(),
                query: None,
                model: Some(t.model.to_string()),
                headers,
                body: box_body(Bytes::from(Value::Object(body).to_string())),
                timeouts: t.timeouts,
            };
            let resp = p.forward(req, cx).await?;
            let status = resp.status();
            let mut body = resp.into_body();
            let mut bytes = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame
                    .map_err(|e| bad_response(&format!("the {} body failed: {e}", self.path)))?;
                if let Ok(data) = frame.into_data() {
                    bytes.extend_from_slice(&data);
                }
                if bytes.len() > MAX_BODY {
                    return Err(bad_response(&format!(
                        "the {} response is too large",
                        self.path
                    )));
                }
            }
            if !status.is_success() {
                let text = String::from_utf8_lossy(&bytes);
                let message: String = text.chars().take(500).collect();
                return Err(GatewayError::upstream_status(
                    status.as_u16(),
                    message,
                    None,
                    None,
                ));
            }
            serde_json::from_slice(&bytes)
                .map_err(|e| bad_response(&format!("the {} response is not JSON: {e}", self.path)))
        })
    }
}

/// An answer that is not what the endpoint's protocol says.
pub(crate) fn bad_response(message: &str) -> GatewayError {
    GatewayError::new(ErrorKind::UpstreamProtocol, Origin::Upstream, message)
}
