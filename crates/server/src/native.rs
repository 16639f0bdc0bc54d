//! Native pass-through: `/{provider}/{*path}` forwards a provider's own API unchanged
//! (`/anthropic/v1/messages`, `/gemini/v1beta/models/…:generateContent`,
//! `/openai/v1/chat/completions`).
//!
//! The method, query and body go upstream as they came, the body streamed within
//! `server.max_body`; request headers go too, except hop-by-hop headers, the client's
//! credentials, the gateway's own `x-sluice-*` headers and a few others listed in
//! [`DROPPED_REQUEST_HEADERS`]. The provider adds its own credentials the way its API expects
//! them ([`Provider::forward_native`]). Every upstream answer, error statuses included, is
//! relayed with its status and body as they are, because native clients parse the provider's
//! own error shapes; only transport failures (connect, reset, timeout) become gateway errors,
//! in the OpenAI shape. The first path segment names the provider; the gateway's own routes
//! (`/v1`, `/health`, `/admin`, `/metrics`, `/ui`) are matched first, and those names are
//! never served natively.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt;
use sluice_providers::{NativeRequest, UpstreamBody};
use sluice_types::{ErrorKind, GatewayError, Origin};

use crate::auth::{authenticate, presented_key};
use crate::tenancy::{self, Demand};
use crate::{ApiError, Gateway, RequestCx};

/// First path segments that belong to the gateway itself, never to a provider.
const RESERVED: &[&str] = &["v1", "admin", "health", "metrics", "ui"];

/// Client request headers that are not forwarded upstream. Everything else is.
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    // Hop-by-hop and connection-level headers.
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "host",
    // The client's credentials: the provider's own are injected instead.
    "authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    // Responses are relayed without `content-encoding`, so the upstream must not compress.
    "accept-encoding",
    // The gateway's request id is sent instead.
    "x-request-id",
    // Client addresses stay inside.
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Upstream response headers relayed by exact name (besides the `anthropic-ratelimit-*` and
/// `x-ratelimit-*` families, and `x-request-id`, which is relayed as
/// `x-sluice-upstream-request-id` because `x-request-id` is the gateway's own).
const RELAYED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "content-disposition",
    "request-id",
    "retry-after",
    "retry-after-ms",
];

/// Handles `/{provider}/{*path}`.
pub async fn handle(
    State(gw): State<Arc<Gateway>>,
    Extension(cx): Extension<RequestCx>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let full = parts.uri.path();
    let (name, path) = split_path(full).ok_or_else(|| no_route(full, None))?;
    if RESERVED.contains(&name) {
        return Err(no_route(full, None).into());
    }
    let principal = authenticate(&gw, native_key(&parts.headers))?;
    cx.log.update(|f| f.note_principal(&principal));
    principal.check_model(&format!("{name}/*"))?;
    let (target, provider) = gw
        .router
        .native_provider(name)
        .ok_or_else(|| no_route(full, Some(name)))?;
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
    // The body is relayed unread: its size stands for the prompt (about four bytes a token).
    let size = content_length(&parts.headers).unwrap_or(0);
    let count = move || size.div_ceil(4);
    let user = parts
        .headers
        .get("x-sluice-user")
        .and_then(|v| v.to_str().ok())
        .or(principal.default_user());
    let model = format!("{name}/*");
    let demand = Demand {
        model: &model,
        group: None,
        user,
        output: gw.default_max_tokens,
        prompt: &count,
    };
    let permit = tenancy::admit(&gw, &principal, &demand).await?;
    cx.log.update(|f| f.permit = permit);
    let limit = usize::try_from(gw.max_body).unwrap_or(usize::MAX);
    let req = NativeRequest {
        method: parts.method.clone(),
        path: path.to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: forwarded_headers(&parts.headers),
        body: http_body_util::Limited::new(body, limit).boxed_unsync(),
        timeouts: target.timeouts,
    };
    tracing::debug!(
        request_id = %cx.id,
        provider = %target.provider,
        method = %parts.method,
        path,
        "native pass-through"
    );
    let resp = provider.forward_native(req, &cx.call).await?;
    // The provider's own x-ratelimit-* headers are relayed, so the gateway's are not added.
    Ok(relay(resp, &target.provider, model_in_path(path)))
}

/// Splits `/{provider}/{rest}` into the provider name and `/{rest}`.
fn split_path(full: &str) -> Option<(&str, &str)> {
    let rest = full.strip_prefix('/')?;
    let slash = rest.find('/')?;
    let (name, path) = rest.split_at(slash);
    (!name.is_empty()).then_some((name, path))
}

/// The 404 for a path no route serves, naming the provider when the path named one.
fn no_route(path: &str, provider: Option<&str>) -> GatewayError {
    let msg = match provider {
        None => format!("no route for {path}"),
        Some(name) => {
            format!("no route for {path}: no provider named {name:?} serves native pass-through")
        }
    };
    GatewayError::new(ErrorKind::RouteNotFound, Origin::Client, msg)
}

/// The gateway key a native client presented: the usual headers, or Gemini's
/// `x-goog-api-key` (what Google's SDKs send).
fn native_key(h: &HeaderMap) -> Option<&str> {
    presented_key(h).or_else(|| {
        h.get("x-goog-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    })
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The client's headers minus [`DROPPED_REQUEST_HEADERS`], `x-sluice-*`, and any header the
/// client's `Connection` header names.
fn forwarded_headers(h: &HeaderMap) -> HeaderMap {
    let named_by_connection: Vec<String> = h
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = HeaderMap::with_capacity(h.len());
    for (name, value) in h {
        let n = name.as_str();
        if DROPPED_REQUEST_HEADERS.contains(&n)
            || n.starts_with("x-sluice-")
            || named_by_connection.iter().any(|c| c == n)
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Whether an upstream response header reaches the client.
fn relayed(name: &str) -> bool {
    RELAYED_RESPONSE_HEADERS.contains(&name)
        || name.starts_with("anthropic-ratelimit-")
        || name.starts_with("x-ratelimit-")
}

/// The model a native path names: Gemini's and Vertex AI's `…/models/{model}:{method}`,
/// Bedrock's `/model/{model}/{operation}`. Other APIs name it in the body, where the request
/// log finds it in the answer.
fn model_in_path(path: &str) -> Option<&str> {
    let model = if let Some(at) = path.rfind("/models/") {
        let rest = &path[at + "/models/".len()..];
        rest.split([':', '/']).next()
    } else {
        let rest = path.strip_prefix("/model/")?;
        rest.split('/').next()
    };
    model.filter(|m| !m.is_empty())
}

/// The upstream's response, status and body as they are, with the relayed headers and the
/// gateway's own `x-sluice-provider` / `x-sluice-attempts` (and `x-sluice-model` when the
/// path names the model).
fn relay(resp: http::Response<UpstreamBody>, provider: &str, model: Option<&str>) -> Response {
    let (parts, body) = resp.into_parts();
    let mut out = Response::new(Body::new(body));
    *out.status_mut() = parts.status;
    let h = out.headers_mut();
    for (name, value) in &parts.headers {
        if relayed(name.as_str()) {
            h.append(name.clone(), value.clone());
        }
    }
    if let Some(v) = parts.headers.get("x-request-id") {
        h.insert(
            HeaderName::from_static("x-sluice-upstream-request-id"),
            v.clone(),
        );
    }
    if let Ok(v) = HeaderValue::from_str(provider) {
        h.insert(HeaderName::from_static("x-sluice-provider"), v);
    }
    if let Some(v) = model.and_then(|m| HeaderValue::from_str(m).ok()) {
        h.insert(HeaderName::from_static("x-sluice-model"), v);
    }
    h.insert(
        HeaderName::from_static("x-sluice-attempts"),
        HeaderValue::from(1u32),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_named_in_paths() {
        assert_eq!(
            model_in_path("/v1beta/models/gemini-2.5-flash:streamGenerateContent"),
            Some("gemini-2.5-flash")
        );
        assert_eq!(
            model_in_path(
                "/v1/projects/p/locations/global/publishers/google/models/gemini-2.5-pro:generateContent"
            ),
            Some("gemini-2.5-pro")
        );
        assert_eq!(
            model_in_path("/model/anthropic.claude-3-haiku-20240307-v1:0/converse"),
            Some("anthropic.claude-3-haiku-20240307-v1:0")
        );
        assert_eq!(model_in_path("/v1/messages"), None);
        assert_eq!(model_in_path("/v1beta/models"), None);
    }

    #[test]
    fn paths_split_into_provider_and_rest() {
        assert_eq!(
            split_path("/anthropic/v1/messages"),
            Some(("anthropic", "/v1/messages"))
        );
        assert_eq!(split_path("/openai/"), Some(("openai", "/")));
        assert_eq!(split_path("/openai"), None);
        assert_eq!(split_path("//x"), None);
    }

    #[test]
    fn credentials_hop_by_hop_and_gateway_headers_are_dropped() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("authorization", "Bearer sk-gw"),
            ("x-api-key", "sk-gw"),
            ("api-key", "sk-gw"),
            ("x-goog-api-key", "sk-gw"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("x-sluice-timeout", "5s"),
            ("accept-encoding", "gzip"),
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "a"),
            ("content-type", "application/json"),
            ("content-length", "12"),
        ] {
            h.append(
                HeaderName::from_static(k),
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h.append("anthropic-beta", HeaderValue::from_static("b"));
        let out = forwarded_headers(&h);
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "anthropic-beta",
                "anthropic-version",
                "content-length",
                "content-type"
            ]
        );
        assert_eq!(out.get_all("anthropic-beta").iter().count(), 2);
    }

    #[test]
    fn gemini_style_keys_authenticate_native_requests() {
        let mut h = HeaderMap::new();
        h.insert("x-goog-api-key", HeaderValue::from_static(" k1 "));
        assert_eq!(native_key(&h), Some("k1"));
        h.insert("x-api-key", HeaderValue::from_static("k2"));
        assert_eq!(native_key(&h), Some("k2"));
    }

    #[test]
    fn provider_headers_are_relayed_by_name_and_family() {
        for name in [
            "content-type",
            "request-id",
            "retry-after",
            "anthropic-ratelimit-requests-remaining",
            "x-ratelimit-remaining-tokens",
        ] {
            assert!(relayed(name), "{name}");
        }
        for name in ["set-cookie", "x-request-id", "server", "content-encoding"] {
            assert!(!relayed(name), "{name}");
        }
    }
}
