//! Client authentication for `/v1`, `/admin` and native pass-through: `Authorization: Bearer`,
//! `x-api-key` or `api-key` (native routes also take Gemini's `x-goog-api-key`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use secrecy::ExposeSecret;
use sluice_types::{ErrorKind, GatewayError, Origin};

use crate::{ApiError, Gateway};

/// With an admin key configured, `/v1` needs it; without one, `/v1` is open (the CLI refuses
/// to listen beyond loopback in that case unless told otherwise).
pub async fn require_key(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    match check_key(&gw, presented_key(req.headers())) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Whether `key` (what the client presented, if anything) admits the request: always with no
/// admin key configured, otherwise only when it is the admin key.
pub(crate) fn check_key(gw: &Gateway, key: Option<&str>) -> Result<(), ApiError> {
    let Some(admin) = &gw.admin_key else {
        return Ok(());
    };
    match key {
        None => Err(ApiError(GatewayError::new(
            ErrorKind::Unauthorized,
            Origin::Client,
            "missing API key: send it as `Authorization: Bearer <key>`",
        ))),
        Some(k) if constant_time_eq(k.as_bytes(), admin.expose_secret().as_bytes()) => Ok(()),
        Some(_) => Err(ApiError(GatewayError::new(
            ErrorKind::Unauthorized,
            Origin::Client,
            "invalid API key",
        ))),
    }
}

/// The key a client presented, in any of the accepted headers.
pub(crate) fn presented_key(h: &HeaderMap) -> Option<&str> {
    if let Some(v) = h
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        return Some(
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v)
                .trim(),
        );
    }
    h.get("x-api-key")
        .or_else(|| h.get("api-key"))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_every_accepted_header() {
        let mut h = HeaderMap::new();
        h.insert(
            "api-key",
            "k1".parse().unwrap_or(http::HeaderValue::from_static("")),
        );
        assert_eq!(presented_key(&h), Some("k1"));
        h.insert("authorization", http::HeaderValue::from_static("Bearer k2"));
        assert_eq!(presented_key(&h), Some("k2"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
