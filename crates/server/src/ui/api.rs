//! The admin API, called in process: the dashboard sends the same requests the CLI sends
//! (`/admin/v1/…`, `/metrics`) to the same handlers, without a socket or the admin key (the
//! session has been checked already), so pages show exactly what the API answers and
//! changes go through the API's own validation.

use std::sync::Arc;

use axum::body::Body;
use http::{Method, Request, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::Gateway;

/// Largest admin answer the dashboard reads (a page of 1,000 log records with bodies).
const MAX_ANSWER: usize = 256 << 20;

/// What the admin API refused, in its own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// The HTTP status.
    pub(crate) status: u16,
    /// The error body's `message`.
    pub(crate) message: String,
}

/// Sends `method path_and_query` with a JSON `body` to the admin API; the JSON answer, or
/// what the API refused.
pub(crate) async fn call(
    gw: &Arc<Gateway>,
    method: Method,
    path_and_query: &str,
    body: Option<&Value>,
) -> Result<Value, Refused> {
    let (status, bytes) = send(gw, method, path_and_query, body).await?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| Refused {
        status: 500,
        message: format!("the admin API answered something that is not JSON: {e}"),
    })?;
    if status >= 400 {
        let message = value["error"]["message"]
            .as_str()
            .unwrap_or("the admin API refused the request")
            .to_owned();
        return Err(Refused { status, message });
    }
    Ok(value)
}

/// `GET path` as text (for `/metrics`).
pub(crate) async fn text(gw: &Arc<Gateway>, path: &str) -> Result<String, Refused> {
    let (_, bytes) = send(gw, Method::GET, path, None).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

async fn send(
    gw: &Arc<Gateway>,
    method: Method,
    path_and_query: &str,
    body: Option<&Value>,
) -> Result<(u16, bytes::Bytes), Refused> {
    let failed = |message: String| Refused {
        status: 500,
        message,
    };
    let body = body.map_or_else(Body::empty, |v| Body::from(v.to_string()));
    let req = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .map_err(|e| failed(format!("bad admin request: {e}")))?;
    let router = crate::admin_api().with_state(gw.clone());
    let resp = match router.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    };
    let status = resp.status().as_u16();
    let bytes = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| failed(format!("could not read the admin API's answer: {e}")))?
        .to_bytes();
    Ok((status, bytes))
}

/// `text` percent-encoded for a URL's path segment or query value.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `pairs` as a query string (`a=1&b=x%20y`), skipping empty values.
pub(crate) fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(encode("fast"), "fast");
        assert_eq!(encode("a b/c=d&é"), "a%20b%2Fc%3Dd%26%C3%A9");
        assert_eq!(
            query([
                ("model", "openai/gpt-4o"),
                ("status", ""),
                ("tag", "env=prod")
            ]),
            "model=openai%2Fgpt-4o&tag=env%3Dprod"
        );
    }
}
