//! A small client of a running gateway's admin API, shared by the admin commands
//! (`sluice logs`, `keys`, `teams`, `users`, `orgs`, `spend`). It uses the same hyper and
//! rustls stack as the gateway's upstream transport, so it adds no HTTP client of its own.

use std::future::Future;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Where the gateway is and how to authenticate to it.
#[derive(clap::Args, Debug, Clone)]
pub struct AdminArgs {
    /// The gateway's base URL.
    #[arg(
        long,
        env = "SLUICE_URL",
        default_value = "http://127.0.0.1:4000",
        global = true,
        help_heading = "Gateway"
    )]
    pub url: String,
    /// The admin key (`server.admin_key`); not needed when the gateway has none.
    #[arg(
        long,
        env = "SLUICE_ADMIN_KEY",
        hide_env_values = true,
        global = true,
        help_heading = "Gateway"
    )]
    pub admin_key: Option<String>,
}

/// An admin API client.
pub struct AdminClient {
    base: String,
    key: Option<String>,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl AdminClient {
    /// A client of the gateway at `args.url`.
    pub fn new(args: &AdminArgs) -> Self {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .build();
        Self {
            base: args.url.trim_end_matches('/').to_owned(),
            key: args.admin_key.clone().filter(|k| !k.is_empty()),
            client: Client::builder(TokioExecutor::new()).build(https),
        }
    }

    /// `GET path` (with its query), parsed as JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value, String> {
        self.request(http::Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.request(http::Method::POST, path, Some(body)).await
    }

    /// `PATCH path` with a JSON (merge patch) body.
    pub async fn patch_json(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.request(http::Method::PATCH, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete_json(&self, path: &str) -> Result<Value, String> {
        self.request(http::Method::DELETE, path, None).await
    }

    /// Sends `method path` with an optional JSON body and parses the answer as JSON; an
    /// error status becomes the error body's message.
    pub async fn request(
        &self,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let mut req = http::Request::builder().method(method).uri(&url);
        if let Some(key) = &self.key {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let bytes = match body {
            Some(json) => {
                req = req.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| format!("invalid URL {url}: {e}"))?;
        let resp = self
            .client
            .request(req)
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer from {}: {e}", self.base))?
            .to_bytes();
        let json: Value = serde_json::from_slice(&body).map_err(|_| {
            format!(
                "{status} from {url}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            )
        })?;
        if !status.is_success() {
            let message = json["error"]["message"].as_str().unwrap_or("no message");
            return Err(format!("{status} from {url}: {message}"));
        }
        Ok(json)
    }
}

/// Runs an admin command to completion on a small runtime: exit 0 on success, else the
/// error on stderr and exit 1.
pub fn run_command(command: impl Future<Output = Result<(), String>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("openai/gpt-4o"), "openai%2Fgpt-4o");
        assert_eq!(encode("a b&c"), "a%20b%26c");
        assert_eq!(encode("plain-1.2_x~"), "plain-1.2_x~");
    }
}
