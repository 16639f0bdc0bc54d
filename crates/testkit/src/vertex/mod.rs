//! A mock of Google Vertex AI and of the OAuth 2.0 token endpoint its callers get access
//! tokens from, served by the same [`crate::MockUpstream`] as every other format:
//!
//! - `POST /token` is the token endpoint (see `token.rs`): it verifies the signed JWT of the
//!   mock's service account ([`service_account`] writes its key file) and issues access
//!   tokens `ya29.mock-{n}` that live an hour, or what
//!   [`crate::MockUpstream::set_token_lifetime`] says.
//! - `POST /v1/projects/{project}/locations/{location}/publishers/{publisher}/models/
//!   {model}:{method}` is Vertex AI. Every request must carry `Authorization: Bearer` with a
//!   token the endpoint issued and that has not expired (else 401 `UNAUTHENTICATED`), in
//!   project [`PROJECT`] (else 403 `PERMISSION_DENIED`). Publisher `google` serves
//!   `generateContent` and `streamGenerateContent` as the Gemini mock does (the same
//!   validation and answers), and `predict` of its text-embedding models (see `embed.rs`);
//!   publisher `anthropic` serves `rawPredict` and
//!   `streamRawPredict` as the Anthropic mock does, except that the body must carry
//!   `"anthropic_version": "vertex-2023-10-16"` and no `model`, and must ask for a stream
//!   exactly when the method is `streamRawPredict`. Other paths are 404 `NOT_FOUND`.
//!
//! Errors of Vertex AI itself use Google's shape (`{"error": {"code", "message",
//! "status"}}`); a model's refusals use its publisher's.

mod embed;
mod token;

use http::request::Parts;
use serde_json::Value;

use crate::gemini::{invalid, reply_error};
use crate::wire::Reply;

pub(crate) use token::Tokens;

/// The project of the mock's service account, the only one it may use.
pub const PROJECT: &str = "sluice-test";

/// The mock's service account.
pub const CLIENT_EMAIL: &str = "gateway@sluice-test.iam.gserviceaccount.com";

/// The id of the service account's key.
pub const PRIVATE_KEY_ID: &str = "mock-key-1";

/// The scope access tokens must be asked for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The test key (`fixtures/vertex/test-key.pem`).
const PRIVATE_KEY: &str = include_str!("../../../../fixtures/vertex/test-key.pem");

/// A service-account key file of the mock's account whose token endpoint is `token_uri`
/// (`http://127.0.0.1:PORT/token` of a running mock).
pub fn service_account(token_uri: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": PRIVATE_KEY_ID,
        "private_key": PRIVATE_KEY,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })
    .to_string()
}

/// Answers a token request (`POST /token`).
pub(crate) fn token(parts: &Parts, body: &[u8], n: u64, tokens: &Tokens) -> Reply {
    token::reply(parts, body, n, tokens)
}

/// Whether `path` is under Vertex AI's `/v1/projects/`.
pub(crate) fn is_vertex(path: &str) -> bool {
    path.starts_with("/v1/projects/")
}

/// Answers one Vertex AI request.
pub(crate) fn reply(parts: &Parts, body: &[u8], n: u64, tokens: &Tokens) -> Reply {
    let bearer = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|t| tokens.valid(t)) {
        return reply_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential.",
        );
    }
    let not_found = || reply_error(404, "NOT_FOUND", "Requested entity was not found.");
    let Some(route) = Route::parse(parts.uri.path()) else {
        return not_found();
    };
    if route.project != PROJECT {
        return reply_error(
            403,
            "PERMISSION_DENIED",
            &format!(
                "Permission 'aiplatform.endpoints.predict' denied on resource \
                 'projects/{}/locations/{}' (or it may not exist).",
                route.project, route.location
            ),
        );
    }
    match (route.publisher, route.method) {
        ("google", "generateContent" | "streamGenerateContent") => {
            crate::gemini::generate(route.model, route.method, parts.uri.query(), body, n)
        }
        ("google", "predict") => embed::predict(route.model, body),
        ("anthropic", "rawPredict" | "streamRawPredict") => {
            let stream = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("stream").and_then(Value::as_bool))
                == Some(true);
            if stream != (route.method == "streamRawPredict") {
                return invalid(
                    "stream must be true for streamRawPredict, and absent or false for rawPredict",
                );
            }
            crate::anthropic::reply_vertex(route.model, body, n)
        }
        _ => not_found(),
    }
}

/// The parts of a `/v1/projects/{p}/locations/{l}/publishers/{pub}/models/{m}:{method}`
/// path.
struct Route<'a> {
    project: &'a str,
    location: &'a str,
    publisher: &'a str,
    model: &'a str,
    method: &'a str,
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Option<Self> {
        let rest = path.strip_prefix("/v1/projects/")?;
        let segments: Vec<&str> = rest.split('/').collect();
        let ["locations", "publishers", "models"] =
            [segments.get(1)?, segments.get(3)?, segments.get(5)?].map(|s| *s)
        else {
            return None;
        };
        if segments.len() != 7 {
            return None;
        }
        let (model, method) = segments[6].rsplit_once(':')?;
        let route = Route {
            project: segments[0],
            location: segments[2],
            publisher: segments[4],
            model,
            method,
        };
        let all = [
            route.project,
            route.location,
            route.publisher,
            model,
            method,
        ];
        all.iter().all(|s| !s.is_empty()).then_some(route)
    }
}

#[cfg(test)]
mod tests;
