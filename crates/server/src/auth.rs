//! Client authentication for `/v1`, `/admin` and native pass-through: `Authorization: Bearer`,
//! `x-api-key` or `api-key` (native routes also take Gemini's `x-goog-api-key`). Virtual keys
//! are checked against the tenancy snapshot; the admin key guards `/admin`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use secrecy::ExposeSecret;
use sluice_types::{ErrorKind, GatewayError, Origin};

use crate::{ApiError, Gateway, Principal, RequestCx};

/// Authenticates `/v1`: a virtual key (`sk-sluice-…`) must be known, live and unrevoked;
/// with an admin key configured, anything else must be the admin key; without one, `/v1` is
/// open (the CLI refuses to listen beyond loopback in that case unless told otherwise). The
/// caller's [`Principal`] goes into the request's extensions, and its key, team and org onto
/// its record.
pub async fn require_key(State(gw): State<Arc<Gateway>>, mut req: Request, next: Next) -> Response {
    match authenticate(&gw, presented_key(req.headers())) {
        Ok(principal) => {
            if let Some(cx) = req.extensions().get::<RequestCx>() {
                cx.log.update(|f| f.note_principal(&principal));
            }
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Authenticates `/admin` and `/metrics`: only the admin key (when one is configured).
pub async fn require_admin(State(gw): State<Arc<Gateway>>, req: Request, next: Next) -> Response {
    match check_admin(&gw, presented_key(req.headers())) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The principal behind `key` (what the client presented, if anything).
pub(crate) fn authenticate(gw: &Gateway, key: Option<&str>) -> Result<Principal, ApiError> {
    if let Some(found) = key.and_then(|k| gw.tenancy.authenticate(k, sluice_store::unix_ms())) {
        return found.map_err(ApiError);
    }
    check_admin(gw, key)?;
    Ok(Principal::default())
}

/// Whether `key` is the admin key; always true with no admin key configured.
fn check_admin(gw: &Gateway, key: Option<&str>) -> Result<(), ApiError> {
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
