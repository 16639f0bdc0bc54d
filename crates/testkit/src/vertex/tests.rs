#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::*;

const HOST: &str = "127.0.0.1:4242";
const GEMINI: &str =
    "/v1/projects/sluice-test/locations/europe-west4/publishers/google/models/gemini-2.5-flash";
const CLAUDE: &str = "/v1/projects/sluice-test/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims a correct token request makes.
fn claims() -> Value {
    json!({"iss": CLIENT_EMAIL, "scope": SCOPE, "aud": format!("http://{HOST}/token"),
        "iat": now(), "exp": now() + 3600})
}

/// A JWT over `claims`, signed with the key of the mock's own key file (read the way the
/// gateway's config reads it).
fn sign(claims: &Value) -> String {
    let file = service_account(&format!("http://{HOST}/token"));
    let account = sluice_config::ServiceAccount::from_json(&file).unwrap();
    assert_eq!(account.client_email, CLIENT_EMAIL);
    let key = RsaKeyPair::from_pkcs8(account.private_key.expose_secret()).unwrap();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": PRIVATE_KEY_ID});
    let mut jwt = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        jwt.as_bytes(),
        &mut sig,
    )
    .unwrap();
    jwt.push('.');
    jwt.push_str(&URL_SAFE_NO_PAD.encode(sig));
    jwt
}

fn parts(path: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = http::Request::builder().method("POST").uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn json_of(reply: Reply) -> (u16, Value) {
    match reply {
        Reply::Json { status, body } => (status, serde_json::from_slice(&body).unwrap()),
        Reply::Sse(_) => panic!("expected a JSON answer"),
    }
}

fn ask_token(form: &str, tokens: &Tokens, n: u64) -> (u16, Value) {
    let p = parts(
        "/token",
        &[
            ("host", HOST),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
    );
    json_of(token(&p, form.as_bytes(), n, tokens))
}

fn grant(assertion: &str) -> String {
    format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
    )
}

fn call(path: &str, token: Option<&str>, body: &Value, tokens: &Tokens) -> Reply {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    reply(
        &parts(path, &headers),
        body.to_string().as_bytes(),
        3,
        tokens,
    )
}

fn hello() -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]})
}

#[test]
fn a_signed_assertion_gets_a_token_that_vertex_accepts_until_it_expires() {
    let tokens = Tokens::default();
    let (status, answer) = ask_token(&grant(&sign(&claims())), &tokens, 7);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"access_token": "ya29.mock-7", "expires_in": 3600, "token_type": "Bearer"})
    );
    let (status, out) = json_of(call(
        &format!("{GEMINI}:generateContent"),
        Some("ya29.mock-7"),
        &hello(),
        &tokens,
    ));
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["candidates"][0]["content"]["parts"][0]["text"],
        "echo: hello there"
    );

    // Tokens issued with no life left are refused at once.
    tokens.set_lifetime(Duration::ZERO);
    let (_, answer) = ask_token(&grant(&sign(&claims())), &tokens, 8);
    assert_eq!(answer["expires_in"], 0);
    let (status, out) = json_of(call(
        &format!("{GEMINI}:generateContent"),
        Some("ya29.mock-8"),
        &hello(),
        &tokens,
    ));
    assert_eq!(
        (status, out["error"]["status"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
}

#[test]
fn bad_token_requests_are_refused_like_google_refuses_them() {
    let tokens = Tokens::default();
    let refused = |form: &str| {
        let (status, v) = ask_token(form, &tokens, 1);
        assert_eq!(status, 400, "{v}");
        format!(
            "{}: {}",
            v["error"].as_str().unwrap(),
            v["error_description"].as_str().unwrap()
        )
    };
    let good = sign(&claims());
    let (head, _) = good.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}", URL_SAFE_NO_PAD.encode([7u8; 256]));
    assert_eq!(
        refused(&grant(&forged)),
        "invalid_grant: Invalid JWT Signature."
    );

    let with = |key: &str, value: Value| {
        let mut c = claims();
        c[key] = value;
        refused(&grant(&sign(&c)))
    };
    assert_eq!(
        with("iss", json!("someone@else.iam.gserviceaccount.com")),
        "invalid_grant: Invalid email or User ID"
    );
    assert_eq!(
        with("aud", json!("https://oauth2.googleapis.com/token")),
        format!("invalid_grant: Invalid JWT: audience must be http://{HOST}/token")
    );
    assert_eq!(
        with("scope", json!("https://www.googleapis.com/auth/drive")),
        "invalid_scope: Invalid OAuth scope or ID token audience provided."
    );
    assert!(
        with("exp", json!(now() + 7200))
            .starts_with("invalid_grant: Invalid JWT: Token must be a short-lived token")
    );
    assert!(
        with("exp", json!(now() - 10))
            .starts_with("invalid_grant: Invalid JWT: Token must be a short-lived token")
    );

    assert_eq!(
        refused(&format!("grant_type=client_credentials&assertion={good}")),
        "unsupported_grant_type: Invalid grant_type: client_credentials"
    );
    let p = parts(
        "/token",
        &[("host", HOST), ("content-type", "application/json")],
    );
    let (status, _) = json_of(token(&p, grant(&good).as_bytes(), 1, &tokens));
    assert_eq!(status, 400);
}

#[test]
fn vertex_checks_the_token_project_and_route_then_answers_per_publisher() {
    let tokens = Tokens::default();
    ask_token(&grant(&sign(&claims())), &tokens, 1);
    let token = Some("ya29.mock-1");
    let status_of = |reply: Reply| json_of(reply).0;

    assert_eq!(
        status_of(call(
            &format!("{GEMINI}:generateContent"),
            None,
            &hello(),
            &tokens
        )),
        401
    );
    assert_eq!(
        status_of(call(
            &format!("{GEMINI}:generateContent"),
            Some("ya29.forged"),
            &hello(),
            &tokens
        )),
        401
    );
    let other_project = GEMINI.replace("sluice-test", "someone-else");
    let (status, v) = json_of(call(
        &format!("{other_project}:generateContent"),
        token,
        &hello(),
        &tokens,
    ));
    assert_eq!(
        (status, v["error"]["status"].as_str()),
        (403, Some("PERMISSION_DENIED"))
    );
    for path in [
        format!("{GEMINI}:explain"),
        "/v1/projects/sluice-test/locations/us/models/m:generateContent".to_owned(),
        format!("{CLAUDE}:generateContent"),
    ] {
        assert_eq!(
            status_of(call(&path, token, &hello(), &tokens)),
            404,
            "{path}"
        );
    }
    // Gemini streams with `alt=sse`.
    let Reply::Sse(frames) = call(
        &format!("{GEMINI}:streamGenerateContent?alt=sse"),
        token,
        &hello(),
        &tokens,
    ) else {
        panic!("expected a stream")
    };
    assert!(frames.len() > 1);

    // Claude: the Messages body with the Vertex version and without the model.
    let claude = json!({"anthropic_version": "vertex-2023-10-16", "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}]});
    let (status, v) = json_of(call(
        &format!("{CLAUDE}:rawPredict"),
        token,
        &claude,
        &tokens,
    ));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["model"], "claude-sonnet-4-5@20250929");
    assert_eq!(v["content"][0]["text"], "echo: hi");
    let mut streamed = claude.clone();
    streamed["stream"] = json!(true);
    assert!(matches!(
        call(
            &format!("{CLAUDE}:streamRawPredict"),
            token,
            &streamed,
            &tokens
        ),
        Reply::Sse(_)
    ));
    let refusal = |path: String, body: &Value| {
        let (status, v) = json_of(call(&path, token, body, &tokens));
        assert_eq!(status, 400, "{v}");
        v["error"]["message"].as_str().unwrap().to_owned()
    };
    assert!(
        refusal(format!("{CLAUDE}:rawPredict"), &streamed)
            .starts_with("stream must be true for streamRawPredict")
    );
    assert!(
        refusal(format!("{CLAUDE}:streamRawPredict"), &claude)
            .starts_with("stream must be true for streamRawPredict")
    );
    let mut with_model = claude.clone();
    with_model["model"] = json!("claude-sonnet-4-5");
    assert!(
        refusal(format!("{CLAUDE}:rawPredict"), &with_model)
            .starts_with("model: Extra inputs are not permitted")
    );
    let mut unversioned = claude.clone();
    unversioned
        .as_object_mut()
        .unwrap()
        .remove("anthropic_version");
    assert_eq!(
        refusal(format!("{CLAUDE}:rawPredict"), &unversioned),
        "anthropic_version: Field required"
    );
}
