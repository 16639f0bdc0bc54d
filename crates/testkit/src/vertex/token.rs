//! The mock OAuth 2.0 token endpoint (`POST /token`): it checks a JWT bearer grant the way
//! Google's endpoint does and issues short access tokens that the Vertex AI endpoints accept
//! until they expire.
//!
//! The form must be `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…`.
//! The assertion's header must say `RS256` (and, with a `kid`, name the test key), its
//! signature must verify with the public half of the test key
//! (`fixtures/vertex/test-key.pub.der`), and its claims must name the mock's service account
//! (`iss`), the `cloud-platform` scope, this endpoint as `aud` (`http://{host}/token`), and an
//! `iat`..`exp` of at most an hour around now. Refusals use OAuth's error shape,
//! `{"error": "invalid_grant", "error_description": …}`, with Google's wording.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::request::Parts;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde_json::{Value, json};

use super::{CLIENT_EMAIL, PRIVATE_KEY_ID, SCOPE};
use crate::wire::{Reply, percent_decode};

/// The public half of `fixtures/vertex/test-key.pem` (RSAPublicKey, DER).
const PUBLIC_KEY: &[u8] = include_bytes!("../../../../fixtures/vertex/test-key.pub.der");

/// The grant type of a signed JWT.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long issued tokens live unless a test says otherwise.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// The tokens the endpoint issued, and the lifetime of new ones.
pub(crate) struct Tokens {
    lifetime_ms: AtomicU64,
    /// Token → when it expires.
    issued: Mutex<HashMap<String, Instant>>,
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            lifetime_ms: AtomicU64::new(millis(DEFAULT_LIFETIME)),
            issued: Mutex::new(HashMap::new()),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Tokens {
    /// Sets the lifetime of tokens issued from now on.
    pub(crate) fn set_lifetime(&self, lifetime: Duration) {
        self.lifetime_ms.store(millis(lifetime), Ordering::Relaxed);
    }

    /// Whether `token` was issued here and has not expired.
    pub(crate) fn valid(&self, token: &str) -> bool {
        let issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        issued.get(token).is_some_and(|end| Instant::now() < *end)
    }

    /// Issues token `ya29.mock-{n}`.
    fn issue(&self, n: u64) -> (String, Duration) {
        let lifetime = Duration::from_millis(self.lifetime_ms.load(Ordering::Relaxed));
        let token = format!("ya29.mock-{n}");
        self.issued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.clone(), Instant::now() + lifetime);
        (token, lifetime)
    }
}

/// An OAuth error answer.
fn refuse(status: u16, error: &str, description: &str) -> Reply {
    Reply::Json {
        status,
        body: Bytes::from(json!({"error": error, "error_description": description}).to_string()),
    }
}

fn invalid_grant(description: &str) -> Reply {
    refuse(400, "invalid_grant", description)
}

/// Answers one token request; `n` numbers the token.
pub(crate) fn reply(parts: &Parts, body: &[u8], n: u64, tokens: &Tokens) -> Reply {
    let form_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return refuse(
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let form = form_fields(body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        Some(JWT_BEARER) => {}
        other => {
            return refuse(
                400,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {}", other.unwrap_or_default()),
            );
        }
    }
    let Some(assertion) = field("assertion") else {
        return refuse(
            400,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    if let Err(reply) = check_assertion(assertion, &format!("http://{host}/token")) {
        return reply;
    }
    let (token, lifetime) = tokens.issue(n);
    Reply::ok(&json!({
        "access_token": token,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
    }))
}

/// Checks a signed JWT assertion meant for `audience`.
fn check_assertion(assertion: &str, audience: &str) -> Result<(), Reply> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(invalid_grant("Invalid JWT: malformed"));
    };
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(header), Some(claims)) = (decode(header), decode(claims)) else {
        return Err(invalid_grant("Invalid JWT: malformed"));
    };
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(invalid_grant("Invalid JWT: algorithm must be RS256"));
    }
    if header
        .get("kid")
        .is_some_and(|kid| kid.as_str() != Some(PRIVATE_KEY_ID))
    {
        return Err(invalid_grant("Invalid JWT Signature."));
    }
    let signed = &assertion[..assertion.len() - signature.len() - 1];
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
    let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, PUBLIC_KEY);
    if key.verify(signed.as_bytes(), &signature).is_err() {
        return Err(invalid_grant("Invalid JWT Signature."));
    }
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(CLIENT_EMAIL) {
        return Err(invalid_grant("Invalid email or User ID"));
    }
    if text("aud") != Some(audience) {
        return Err(invalid_grant(&format!(
            "Invalid JWT: audience must be {audience}"
        )));
    }
    if !text("scope").is_some_and(|s| s.split(' ').any(|s| s == SCOPE)) {
        return Err(refuse(
            400,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        ));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (iat, exp) = (
        claims.get("iat").and_then(Value::as_u64),
        claims.get("exp").and_then(Value::as_u64),
    );
    let timely = match (iat, exp) {
        (Some(iat), Some(exp)) => iat <= now + 60 && exp > now && exp > iat && exp - iat <= 3600,
        _ => false,
    };
    if !timely {
        return Err(invalid_grant(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
             timeframe. Check your iat and exp values in the JWT claim.",
        ));
    }
    Ok(())
}

/// The fields of an `application/x-www-form-urlencoded` body, decoded.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}
