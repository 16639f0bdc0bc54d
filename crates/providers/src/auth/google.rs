//! Google OAuth 2.0 access tokens for a service account: a signed JWT (see [`super::jwt`])
//! posted to the account's token endpoint (`grant_type=urn:ietf:params:oauth:grant-type:
//! jwt-bearer&assertion=…`), the answer's `access_token` sent as `Authorization: Bearer …`
//! and cached for its `expires_in` (see [`super::token`]).
//!
//! A failure to get a token is an upstream failure of the provider (502, or 504 when the
//! endpoint did not answer in time) with `code: upstream_auth_failed` and a message naming
//! the account, the endpoint and what it said, never the client's fault.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use serde::Deserialize;
use sluice_config::ServiceAccount;
use sluice_types::{ErrorKind, GatewayError, Origin};

use super::jwt::AssertionSigner;
use super::token::{Fetched, TokenCache};
use crate::box_body;
use crate::call::unix_now;
use crate::http::{HttpClient, error_detail};

/// The `code` of every error about getting an access token.
pub(crate) const AUTH_FAILED: &str = "upstream_auth_failed";

/// `urn:ietf:params:oauth:grant-type:jwt-bearer`, form-encoded.
const JWT_BEARER_GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";

/// The lifetime of a token whose answer has no `expires_in` (Google's tokens live an hour).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// Largest token endpoint answer read.
const MAX_ANSWER: usize = 64 << 10;

/// A successful token answer (RFC 6749 section 5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<u64>,
}

/// An error answer (RFC 6749 section 5.2).
#[derive(Deserialize)]
struct TokenError {
    error: String,
    error_description: Option<String>,
}

/// Access tokens for one provider's service account.
pub(crate) struct GoogleAuth {
    provider: String,
    account: String,
    token_uri: String,
    signer: AssertionSigner,
    client: HttpClient,
    cache: TokenCache,
}

impl GoogleAuth {
    /// Tokens for `account`, requested with `client`, for provider `provider`.
    pub(crate) fn new(
        provider: &str,
        account: &ServiceAccount,
        client: HttpClient,
    ) -> Result<Self, GatewayError> {
        let signer = AssertionSigner::new(account).map_err(|why| {
            GatewayError::internal(format!(
                "provider {provider}: the service-account key of {} cannot sign: {why}",
                account.client_email
            ))
        })?;
        Ok(Self {
            provider: provider.to_owned(),
            account: account.client_email.clone(),
            token_uri: account.token_uri.clone(),
            signer,
            client,
            cache: TokenCache::default(),
        })
    }

    /// The `authorization` header of a request to be sent by `deadline`: the cached token,
    /// or a new one when it is due (fetched within the deadline).
    pub(crate) async fn authorization(
        &self,
        deadline: Instant,
    ) -> Result<HeaderValue, GatewayError> {
        self.cache.get(|| self.fetch(deadline)).await
    }

    /// Asks the token endpoint for a new token.
    async fn fetch(&self, deadline: Instant) -> Result<Fetched, GatewayError> {
        let assertion = self.signer.assertion(unix_now())?;
        let form = format!("grant_type={JWT_BEARER_GRANT}&assertion={assertion}");
        let request = Request::post(&self.token_uri)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(box_body(Bytes::from(form)))
            .map_err(|e| self.error(ErrorKind::Internal, &format!("invalid token_uri: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                let kind = match e.is_connect() {
                    true => ErrorKind::UpstreamConnect,
                    false => ErrorKind::UpstreamReset,
                };
                self.error(kind, &error_detail(&e))
            })?;
            let (parts, body) = response.into_parts();
            let body = http_body_util::Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| {
                    self.error(
                        ErrorKind::UpstreamReset,
                        &format!("the answer broke off: {e}"),
                    )
                })?
                .to_bytes();
            Ok::<_, GatewayError>((parts.status, body))
        };
        let (status, body) = match tokio::time::timeout_at(deadline.into(), exchange).await {
            Err(_) => {
                return Err(self.error(ErrorKind::UpstreamTimeout, "it did not answer in time"));
            }
            Ok(answer) => answer?,
        };
        if !status.is_success() {
            return Err(self.error(ErrorKind::UpstreamStatus, &refusal(status.as_u16(), &body)));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            self.error(
                ErrorKind::UpstreamProtocol,
                &format!("its answer is not an access token ({e})"),
            )
        })?;
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", answer.access_token)).map_err(|_| {
                self.error(
                    ErrorKind::UpstreamProtocol,
                    "its access token is not a valid header value",
                )
            })?;
        value.set_sensitive(true);
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        Ok(Fetched { value, lifetime })
    }

    /// An error about getting a token: `kind` as for any upstream failure (an error status
    /// becomes a 502, since the gateway's credentials are not the client's to fix).
    fn error(&self, kind: ErrorKind, detail: &str) -> GatewayError {
        let message = format!(
            "provider {}: could not get an access token for service account {} from {}: {detail}",
            self.provider, self.account, self.token_uri
        );
        let e = match kind {
            ErrorKind::UpstreamStatus => GatewayError::upstream(kind, 502, message, None, None),
            ErrorKind::Internal => GatewayError::internal(message),
            kind => GatewayError::new(kind, Origin::Upstream, message),
        };
        e.with_code(AUTH_FAILED)
    }
}

/// What an error answer of the token endpoint says: `HTTP 400: invalid_grant: Invalid JWT
/// Signature.`, or the start of its body when it is not an OAuth error.
fn refusal(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<TokenError>(body) {
        Ok(TokenError {
            error,
            error_description: Some(description),
        }) => format!("HTTP {status}: {error}: {description}"),
        Ok(TokenError { error, .. }) => format!("HTTP {status}: {error}"),
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
            match text.trim() {
                "" => format!("HTTP {status}"),
                text => format!("HTTP {status}: {text}"),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::jwt::test_account;
    use crate::http::http_client;

    fn auth(token_uri: &str) -> GoogleAuth {
        let client = http_client(Duration::from_secs(1));
        GoogleAuth::new("gcp", &test_account(token_uri), client).unwrap()
    }

    #[test]
    fn refusals_say_what_the_endpoint_said() {
        assert_eq!(
            refusal(
                400,
                br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#
            ),
            "HTTP 400: invalid_grant: Invalid JWT Signature."
        );
        assert_eq!(
            refusal(401, br#"{"error":"invalid_client"}"#),
            "HTTP 401: invalid_client"
        );
        assert_eq!(refusal(503, b" busy \n"), "HTTP 503: busy");
        assert_eq!(refusal(500, b""), "HTTP 500");
    }

    #[tokio::test]
    async fn an_unreachable_token_endpoint_is_a_502_naming_the_account_and_endpoint() {
        // Port 9 (discard) is closed on a test machine: the connection is refused.
        let auth = auth("http://127.0.0.1:9/token");
        let deadline = Instant::now() + Duration::from_secs(5);
        let e = auth.authorization(deadline).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UpstreamConnect);
        assert_eq!(e.status(), 502);
        assert_eq!(e.code(), Some(AUTH_FAILED));
        assert!(
            e.message().starts_with(
                "provider gcp: could not get an access token for service account \
                 gw@sluice-test.iam.gserviceaccount.com from http://127.0.0.1:9/token: "
            ),
            "{}",
            e.message()
        );
    }

    #[test]
    fn error_statuses_are_502s_and_never_the_client_s() {
        let auth = auth("https://oauth2.example/token");
        let e = auth.error(ErrorKind::UpstreamStatus, "HTTP 400: invalid_grant");
        assert_eq!((e.status(), e.origin()), (502, Origin::Upstream));
        assert_eq!(e.error_type(), "upstream_error");
        assert!(e.is_retryable());
        let e = auth.error(ErrorKind::UpstreamTimeout, "it did not answer in time");
        assert_eq!(e.status(), 504);
        assert_eq!(e.code(), Some(AUTH_FAILED));
    }
}
