//! JSON POSTs to operators' URLs: budget alert webhooks and guardrail webhooks, over one
//! shared client (rustls, HTTP/1.1, pooled) built on first use.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

fn client() -> &'static HttpClient {
    static CLIENT: OnceLock<HttpClient> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        Client::builder(TokioExecutor::new()).build(https)
    })
}

/// POSTs `body` as JSON to `url` with `headers`, and reads the answer's status and body (at
/// most `max` bytes), all within `timeout`. The error says, in words, what went wrong.
pub(crate) async fn post(
    url: &str,
    headers: &[(String, String)],
    body: Bytes,
    timeout: Duration,
    max: usize,
) -> Result<(StatusCode, Bytes), String> {
    let mut req = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("sluice/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let req = req
        .body(Full::new(body))
        .map_err(|e| format!("{url:?} is not a valid URL: {e}"))?;
    let exchange = async {
        let resp = client()
            .request(req)
            .await
            .map_err(|e| format!("{url} failed: {e}"))?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), max)
            .collect()
            .await
            .map_err(|e| format!("{url} answered a body that could not be read: {e}"))?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("{url} did not answer within {} ms", timeout.as_millis()))?
}
