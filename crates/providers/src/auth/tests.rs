#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use sluice_config::{AwsConfig, ProviderConfig, ProviderKind};

use super::*;

fn bedrock(aws: Option<AwsConfig>, api_key: Option<&str>) -> ProviderConfig {
    ProviderConfig {
        api_key: api_key.map(SecretString::from),
        aws,
        ..ProviderConfig::new(
            "br",
            ProviderKind::Bedrock,
            "https://bedrock-runtime.eu-west-3.amazonaws.com",
        )
    }
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn deadline() -> std::time::Instant {
    std::time::Instant::now() + Duration::from_secs(5)
}

fn header<'a>(parts: &'a http::request::Parts, name: &str) -> &'a str {
    parts.headers.get(name).unwrap().to_str().unwrap()
}

/// The `get-vanilla` case of AWS's published SigV4 test suite: the library is driven the
/// way the suite expects (only `host` and `x-amz-date` signed, no payload header).
#[test]
fn signs_the_published_sigv4_test_vector() {
    let signer = SigV4 {
        credentials: Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        ),
        region: "us-east-1".into(),
        service: "service",
    };
    // 20150830T123600Z
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    let mut parts = request("GET", "https://example.amazonaws.com/", &[]);
    signer.sign(&mut parts, b"", time).unwrap();
    assert_eq!(header(&parts, "x-amz-date"), "20150830T123600Z");
    assert_eq!(
        header(&parts, "authorization"),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert!(parts.headers.get("authorization").unwrap().is_sensitive());
}

#[tokio::test]
async fn signing_covers_content_type_the_token_and_replaces_old_signatures() {
    let aws = AwsConfig {
        region: None,
        access_key_id: Some("AKID".into()),
        secret_access_key: Some("secret".into()),
        session_token: Some("token".into()),
    };
    let env = |name: &str| (name == "AWS_SESSION_TOKEN").then(|| "env-token".to_owned());
    let auth = Auth::for_config(&bedrock(Some(aws), None), &env).unwrap();
    assert!(auth.signs());
    let mut parts = request(
        "POST",
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/m%3A0/converse",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer client"),
            ("x-amz-security-token", "client-token"),
            ("x-request-id", "r1"),
        ],
    );
    auth.apply(&mut parts, br#"{"messages":[]}"#, deadline())
        .await
        .unwrap();
    let authz = header(&parts, "authorization");
    assert!(
        authz.starts_with("AWS4-HMAC-SHA256 Credential=AKID/")
            && authz.contains("/eu-west-3/bedrock/aws4_request")
            && authz.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"),
        "{authz}"
    );
    // The configured token wins; the environment's only comes with the environment's keys.
    assert_eq!(header(&parts, "x-amz-security-token"), "token");
    assert!(
        parts
            .headers
            .get("x-amz-security-token")
            .unwrap()
            .is_sensitive()
    );
}

#[tokio::test]
async fn credentials_and_region_come_from_the_environment_when_the_config_has_none() {
    let env = |name: &str| {
        match name {
            "AWS_ACCESS_KEY_ID" => Some("AKENV"),
            "AWS_SECRET_ACCESS_KEY" => Some("s"),
            "AWS_SESSION_TOKEN" => Some("tok"),
            "AWS_DEFAULT_REGION" => Some("ap-south-1"),
            _ => None,
        }
        .map(str::to_owned)
    };
    let auth = Auth::for_config(&bedrock(None, None), &env).unwrap();
    let mut parts = request("POST", "https://x.example/model/m/converse", &[]);
    auth.apply(&mut parts, b"{}", deadline()).await.unwrap();
    let authz = header(&parts, "authorization");
    assert!(
        authz.contains("Credential=AKENV/") && authz.contains("/ap-south-1/bedrock/"),
        "{authz}"
    );
    assert_eq!(header(&parts, "x-amz-security-token"), "tok");

    // No credentials anywhere: the provider cannot be built, and says how to fix it.
    let e = Auth::for_config(&bedrock(None, None), &|_| None)
        .err()
        .unwrap();
    assert!(e.message().contains("AWS_ACCESS_KEY_ID"), "{}", e.message());
}

#[tokio::test]
async fn a_bedrock_api_key_is_a_bearer_token() {
    let auth = Auth::for_config(&bedrock(None, Some("br-key")), &|_| None).unwrap();
    assert!(!auth.signs());
    let mut parts = request("POST", "https://x.example/model/m/converse", &[]);
    auth.apply(&mut parts, b"", deadline()).await.unwrap();
    assert_eq!(header(&parts, "authorization"), "Bearer br-key");
}

#[test]
fn regions_of_bedrock_hosts() {
    let r = |u: &str| region_of_host(u);
    assert_eq!(
        r("https://bedrock-runtime.us-east-1.amazonaws.com").as_deref(),
        Some("us-east-1")
    );
    assert_eq!(
        r("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com/").as_deref(),
        Some("us-gov-west-1")
    );
    assert_eq!(r("http://127.0.0.1:8080"), None);
    assert_eq!(r("https://bedrock-runtime.example.com"), None);
}

fn vertex(api_key: Option<&str>, service_account: bool) -> ProviderConfig {
    ProviderConfig {
        name: "gcp".into(),
        kind: ProviderKind::Vertex,
        base_url: "https://us-central1-aiplatform.googleapis.com".into(),
        api_key: api_key.map(SecretString::from),
        aws: None,
        vertex: Some(sluice_config::VertexConfig {
            project: "p".into(),
            location: "us-central1".into(),
            service_account: service_account
                .then(|| jwt::test_account("https://oauth2.example/token")),
        }),
        image_fetch: Default::default(),
        ..bedrock(None, None)
    }
}

#[tokio::test]
async fn a_vertex_api_key_is_an_access_token_sent_as_bearer() {
    let auth = Auth::for_config(&vertex(Some("ya29.static"), false), &|_| None).unwrap();
    let mut parts = request(
        "POST",
        "https://x.example/v1/projects/p/locations/l/publishers/google/models/m:generateContent",
        &[("authorization", "Bearer client")],
    );
    auth.apply(&mut parts, b"", deadline()).await.unwrap();
    assert_eq!(header(&parts, "authorization"), "Bearer ya29.static");
    assert!(parts.headers.get("authorization").unwrap().is_sensitive());
}

#[test]
fn a_vertex_provider_needs_a_service_account_or_an_access_token() {
    let auth = Auth::for_config(&vertex(None, true), &|_| None).unwrap();
    assert!(matches!(auth, Auth::Google { .. }));
    assert!(!auth.signs());
    let e = Auth::for_config(&vertex(None, false), &|_| None)
        .err()
        .unwrap();
    assert!(
        e.message()
            .starts_with("provider gcp: no service-account credentials"),
        "{}",
        e.message()
    );
}
