//! How the transport authenticates each upstream request: fixed credential headers (Bearer,
//! `x-api-key`, `api-key`, `x-goog-api-key`), an AWS Signature Version 4 computed per
//! request over its method, URL, headers and body, or a Google OAuth access token of a
//! service account (Vertex AI; see [`google`]).
//!
//! The choice is made once, when the provider is built ([`Auth::for_config`]). Bedrock
//! providers sign with SigV4 (service `bedrock`) unless they have an `api_key` (a Bedrock
//! API key, sent as a Bearer token). Their credentials come from the config
//! (`access_key_id`, `secret_access_key`, `session_token`) or, when the config has none, from
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (a session token is
//! only taken from the environment together with keys from the environment). The region is
//! the config's, else `AWS_REGION` / `AWS_DEFAULT_REGION`, else the one in a
//! `bedrock-runtime.{region}.amazonaws.com` base URL. Secrets stay inside
//! `aws-credential-types`' `Credentials` (zeroized, redacted in `Debug`) and every
//! credential header is marked sensitive.
//!
//! Vertex AI providers send `Authorization: Bearer` with an access token of their service
//! account, fetched and cached by [`google::GoogleAuth`], unless they have an `api_key` (an
//! access token obtained elsewhere, sent as it is).

mod google;
mod jwt;
mod token;

use std::time::{Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use sluice_config::{ProviderConfig, ProviderKind};
use sluice_types::GatewayError;

use google::GoogleAuth;

/// The service name Bedrock runtime requests are signed for.
pub(crate) const BEDROCK_SERVICE: &str = "bedrock";

/// Headers that carry AWS signatures: a client's are never forwarded, ours replace them.
pub(crate) const AWS_SIGNATURE_HEADERS: &[&str] =
    &["x-amz-date", "x-amz-security-token", "x-amz-content-sha256"];

/// How requests to one provider are authenticated.
pub(crate) enum Auth {
    /// These headers (credentials marked sensitive, plus configured extras) on every request.
    Headers(Vec<(HeaderName, HeaderValue)>),
    /// Configured extra headers, then a SigV4 signature over the whole request.
    SigV4 {
        /// Configured extra headers (signed like the rest).
        headers: Vec<(HeaderName, HeaderValue)>,
        /// The credentials and scope.
        signer: SigV4,
    },
    /// Configured extra headers, then `authorization` with a Google access token.
    Google {
        /// Configured extra headers.
        headers: Vec<(HeaderName, HeaderValue)>,
        /// The service account's tokens.
        tokens: Box<GoogleAuth>,
    },
}

/// SigV4 credentials and scope.
pub(crate) struct SigV4 {
    credentials: Credentials,
    region: String,
    service: &'static str,
}

impl Auth {
    /// The authentication of provider `cfg`; `env` looks up environment variables.
    pub(crate) fn for_config(
        cfg: &ProviderConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, GatewayError> {
        let bad =
            |what: &str| GatewayError::internal(format!("provider {}: invalid {what}", cfg.name));
        let mut headers = Vec::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad("header name"))?;
            let value = HeaderValue::from_str(v).map_err(|_| bad("header value"))?;
            headers.push((name, value));
        }
        if cfg.kind == ProviderKind::Bedrock && cfg.api_key.is_none() {
            let signer = SigV4::for_config(cfg, env)?;
            return Ok(Auth::SigV4 { headers, signer });
        }
        if cfg.kind == ProviderKind::Vertex && cfg.api_key.is_none() {
            let account = cfg
                .vertex
                .as_ref()
                .and_then(|v| v.service_account.as_ref())
                .ok_or_else(|| {
                    GatewayError::internal(format!(
                        "provider {}: no service-account credentials (credentials, or an \
                         api_key holding an access token)",
                        cfg.name
                    ))
                })?;
            let client = crate::http::http_client(cfg.timeouts.connect);
            let tokens = GoogleAuth::new(&cfg.name, account, client)?;
            return Ok(Auth::Google {
                headers,
                tokens: Box::new(tokens),
            });
        }
        let mut out = Vec::new();
        if let Some(key) = &cfg.api_key {
            let (name, value) = match cfg.kind {
                ProviderKind::AzureOpenAi => (
                    HeaderName::from_static("api-key"),
                    key.expose_secret().to_owned(),
                ),
                ProviderKind::Anthropic => (
                    HeaderName::from_static("x-api-key"),
                    key.expose_secret().to_owned(),
                ),
                ProviderKind::Gemini => (
                    HeaderName::from_static("x-goog-api-key"),
                    key.expose_secret().to_owned(),
                ),
                // Cohere keys, Bedrock API keys and Vertex AI access tokens are Bearer tokens
                // too.
                ProviderKind::OpenAiCompatible(_)
                | ProviderKind::Demo
                | ProviderKind::Bedrock
                | ProviderKind::Cohere
                | ProviderKind::Vertex => {
                    (AUTHORIZATION, format!("Bearer {}", key.expose_secret()))
                }
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| bad("api_key"))?;
            value.set_sensitive(true);
            out.push((name, value));
        }
        out.extend(headers);
        Ok(Auth::Headers(out))
    }

    /// Whether requests are signed (their body must be known before they are sent).
    pub(crate) fn signs(&self) -> bool {
        matches!(self, Auth::SigV4 { .. })
    }

    /// Adds the credentials to a request about to be sent; `body` is its whole body (only
    /// read when signing). An access token that must be fetched first is fetched by
    /// `deadline`.
    pub(crate) async fn apply(
        &self,
        parts: &mut http::request::Parts,
        body: &[u8],
        deadline: Instant,
    ) -> Result<(), GatewayError> {
        let insert = |parts: &mut http::request::Parts, headers: &[(HeaderName, HeaderValue)]| {
            for (k, v) in headers {
                parts.headers.insert(k.clone(), v.clone());
            }
        };
        match self {
            Auth::Headers(headers) => {
                insert(parts, headers);
                Ok(())
            }
            Auth::SigV4 { headers, signer } => {
                insert(parts, headers);
                signer.sign(parts, body, SystemTime::now())
            }
            Auth::Google { headers, tokens } => {
                insert(parts, headers);
                let token = tokens.authorization(deadline).await?;
                parts.headers.insert(AUTHORIZATION, token);
                Ok(())
            }
        }
    }
}

impl SigV4 {
    fn for_config(
        cfg: &ProviderConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, GatewayError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let aws = cfg.aws.clone().unwrap_or_default();
        let configured = aws
            .access_key_id
            .as_ref()
            .zip(aws.secret_access_key.as_ref());
        let (key_id, secret, token) = match configured {
            Some((id, secret)) => (
                id.expose_secret().to_owned(),
                secret.expose_secret().to_owned(),
                aws.session_token
                    .as_ref()
                    .map(|t| t.expose_secret().to_owned()),
            ),
            None => match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(id), Some(secret)) => (id, secret, var("AWS_SESSION_TOKEN")),
                _ => {
                    return Err(GatewayError::internal(format!(
                        "provider {}: no AWS credentials: set access_key_id and \
                         secret_access_key (or api_key), or AWS_ACCESS_KEY_ID and \
                         AWS_SECRET_ACCESS_KEY in the environment",
                        cfg.name
                    )));
                }
            },
        };
        let region = aws
            .region
            .or_else(|| var("AWS_REGION"))
            .or_else(|| var("AWS_DEFAULT_REGION"))
            .or_else(|| region_of_host(&cfg.base_url))
            .ok_or_else(|| {
                GatewayError::internal(format!(
                    "provider {}: no AWS region to sign for: set region, or AWS_REGION",
                    cfg.name
                ))
            })?;
        let credentials = Credentials::new(key_id, secret, token, None, "sluice-config");
        Ok(SigV4 {
            credentials,
            region,
            service: BEDROCK_SERVICE,
        })
    }

    /// Signs the request in place: removes any signature headers it had, then adds
    /// `x-amz-date`, `x-amz-security-token` (with a session token) and `authorization`.
    /// The signed headers are `host`, `content-type` and the `x-amz-*` ones.
    fn sign(
        &self,
        parts: &mut http::request::Parts,
        body: &[u8],
        time: SystemTime,
    ) -> Result<(), GatewayError> {
        for name in AWS_SIGNATURE_HEADERS {
            parts.headers.remove(*name);
        }
        parts.headers.remove(AUTHORIZATION);
        let failed = |e: &dyn std::fmt::Display| {
            GatewayError::internal(format!("could not sign the upstream request: {e}"))
        };
        let uri = parts.uri.to_string();
        let signed: Vec<(&str, &str)> = parts
            .headers
            .iter()
            .filter(|(name, _)| {
                let name = name.as_str();
                name == "content-type" || name.starts_with("x-amz-")
            })
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let request = SignableRequest::new(
            parts.method.as_str(),
            uri.as_str(),
            signed.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| failed(&e))?;
        // The identity type is `aws-smithy-runtime-api`'s, reached by conversion.
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(&e))?
            .into();
        let (instructions, _signature) =
            sign(request, &params).map_err(|e| failed(&e))?.into_parts();
        let (headers, _query) = instructions.into_parts();
        for h in headers {
            let mut value = HeaderValue::from_str(h.value()).map_err(|e| failed(&e))?;
            value.set_sensitive(h.sensitive() || h.name() == "authorization");
            parts
                .headers
                .insert(HeaderName::from_static(h.name()), value);
        }
        Ok(())
    }
}

/// The region of a `https://bedrock-runtime[-fips].{region}.amazonaws.com` base URL.
fn region_of_host(base_url: &str) -> Option<String> {
    let host = base_url.split("://").nth(1)?.split(['/', ':']).next()?;
    let rest = host
        .strip_prefix("bedrock-runtime-fips.")
        .or_else(|| host.strip_prefix("bedrock-runtime."))?;
    let region = rest.split('.').next()?;
    (!region.is_empty() && rest[region.len()..].starts_with(".amazonaws.com"))
        .then(|| region.to_owned())
}

#[cfg(test)]
mod tests;
