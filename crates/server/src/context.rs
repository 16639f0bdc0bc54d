//! Per-request context: the request id, the deadline, overhead accounting, panic capture,
//! the access log and the request metrics, applied around every route.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use http::HeaderValue;
use sluice_providers::CallCx;
use sluice_router::Router;
use sluice_types::GatewayError;

use crate::ApiError;
use crate::metrics::{self, ModelSlot};

/// Longest accepted `x-request-id`.
const MAX_REQUEST_ID: usize = 128;

/// What every handler knows about its request.
#[derive(Clone)]
pub struct RequestCx {
    /// The request id (`x-request-id`).
    pub id: Arc<str>,
    /// Deadline and upstream time accounting, shared with providers.
    pub call: CallCx,
    /// The requested model, as the metrics label it becomes.
    pub(crate) model: ModelSlot,
    /// What handlers learn for the request log.
    pub(crate) log: crate::reqlog::LogSlot,
}

impl RequestCx {
    /// Notes the model the client asked for, for the request metrics (the first call wins).
    pub(crate) fn note_model(&self, router: &Router, requested: &str) {
        self.model.set(router, requested);
    }
}

/// Reads or makes the request id, applies `x-sluice-timeout`, catches panics, stamps
/// `x-request-id` and `x-sluice-overhead-us` on the response, and logs and counts the request.
pub async fn around(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id: Arc<str> = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map_or_else(new_request_id, Into::into);
    let mut log = AccessLog {
        id: id.clone(),
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        route: req.extensions().get::<MatchedPath>().cloned(),
        model: ModelSlot::default(),
        started,
        logged: false,
    };
    let deadline = match req.headers().get("x-sluice-timeout").map(parse_timeout) {
        None => Ok(None),
        Some(Ok(d)) => Ok(Some(started + d)),
        Some(Err(e)) => Err(e),
    };
    let call = CallCx::new(id.clone(), deadline.as_ref().ok().copied().flatten());
    req.extensions_mut().insert(RequestCx {
        id: id.clone(),
        call: call.clone(),
        model: log.model.clone(),
        log: crate::reqlog::LogSlot::default(),
    });
    let mut resp = match deadline {
        Err(e) => ApiError(e).into_response(),
        Ok(_) => match std::panic::AssertUnwindSafe(next.run(req))
            .catch_unwind()
            .await
        {
            Ok(resp) => resp,
            Err(_) => {
                tracing::error!(request_id = %id, "handler panicked");
                ApiError(GatewayError::internal("the gateway hit an internal error"))
                    .into_response()
            }
        },
    };
    let overhead = started.elapsed().saturating_sub(call.upstream_wait());
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert("x-request-id", v);
    }
    h.insert(
        "x-sluice-overhead-us",
        HeaderValue::from(u64::try_from(overhead.as_micros()).unwrap_or(u64::MAX)),
    );
    let error = resp
        .extensions()
        .get::<GatewayError>()
        .map(|e| e.message().to_owned());
    log.write(resp.status().as_u16(), Some(overhead), error.as_deref());
    resp
}

/// The access log line and metrics of one request. A request whose client hung up before the
/// response head was ready is still logged and counted, as status 499, when its future is
/// dropped.
struct AccessLog {
    id: Arc<str>,
    method: http::Method,
    path: String,
    /// The route template that matched, for the metrics.
    route: Option<MatchedPath>,
    model: ModelSlot,
    started: Instant,
    logged: bool,
}

impl AccessLog {
    /// Logs and counts the request; `overhead` is `None` when it is unknown (client gone).
    fn write(&mut self, status: u16, overhead: Option<Duration>, error: Option<&str>) {
        self.logged = true;
        let duration = self.started.elapsed();
        metrics::record_request(self.route.as_ref(), &self.model, status, duration, overhead);
        let overhead_us = overhead.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        tracing::info!(
            target: "sluice::access",
            request_id = %self.id,
            method = %self.method,
            path = self.path,
            status,
            duration_ms = duration.as_secs_f64() * 1000.0,
            overhead_us,
            error,
            "request"
        );
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        if !self.logged {
            self.write(
                499,
                None,
                Some("the client closed the connection before the response"),
            );
        }
    }
}

fn new_request_id() -> Arc<str> {
    format!("req_{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)).into()
}

/// Parses `x-sluice-timeout` (`250ms`, `20s`, `2m`) with the config's duration syntax.
fn parse_timeout(v: &HeaderValue) -> Result<Duration, GatewayError> {
    let bad = |why: String| {
        GatewayError::invalid_request(format!("invalid x-sluice-timeout: {why}"))
            .with_param("x-sluice-timeout")
    };
    let text = v.to_str().map_err(|_| bad("not text".into()))?;
    let d = sluice_config::units::parse_duration(text.trim()).map_err(|e| bad(e.to_string()))?;
    if d.is_zero() {
        return Err(bad("must be longer than zero".into()));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse() {
        let p = |s: &str| {
            parse_timeout(&HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static("x")))
        };
        assert_eq!(p("250ms").ok(), Some(Duration::from_millis(250)));
        assert_eq!(p("20s").ok(), Some(Duration::from_secs(20)));
        assert_eq!(p("2m").ok(), Some(Duration::from_secs(120)));
        assert!(p("soon").is_err());
        assert!(p("0s").is_err());
        assert!(p("").is_err());
    }
}
