//! The one place a [`GatewayError`] becomes an HTTP response.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use sluice_types::GatewayError;

/// A gateway error on its way to the client as an OpenAI-shaped body.
#[derive(Debug)]
pub struct ApiError(pub GatewayError);

impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
        let body = Bytes::from(e.to_openai_body().to_string());
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(n) = e.attempts() {
            h.insert("x-sluice-attempts", HeaderValue::from(n));
        }
        if let Some(after) = e.retry_after() {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            h.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        resp.extensions_mut().insert(e);
        resp
    }
}

/// The SSE event that ends a stream which failed after it began.
pub(crate) fn sse_error_event(e: &GatewayError) -> Bytes {
    Bytes::from(format!("data: {}\n\n", e.to_openai_body()))
}
