//! The Vertex AI settings of a `vertex` provider, and reading a Google service-account key
//! file (the JSON a service account's "Create key" downloads).
//!
//! The key file is read when the config is, so `sluice check-config` reports a missing,
//! unreadable or malformed file with the path of the setting that named it. Only
//! service-account keys are taken (`"type": "service_account"`): their RSA private key (PEM,
//! PKCS#8) is decoded here into DER and kept secret; the provider signs its token requests
//! with it.

use base64::Engine as _;
use secrecy::SecretSlice;
use serde::Deserialize;

/// The location a `vertex` provider uses when the config names none.
pub const DEFAULT_LOCATION: &str = "us-central1";

/// The token endpoint of a key file that names none (Google's OAuth 2.0 token endpoint).
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The Vertex AI settings of a `vertex` provider.
#[derive(Debug, Clone)]
pub struct VertexConfig {
    /// The Google Cloud project requests run in (`projects/{project}` in every URL).
    pub project: String,
    /// The location (`us-central1`, `europe-west4`, …, or `global`).
    pub location: String,
    /// The service account whose access tokens authorize requests; `None` when the provider
    /// has an `api_key` (an access token sent as it is).
    pub service_account: Option<ServiceAccount>,
}

/// A service-account key, as read from its JSON key file.
#[derive(Debug, Clone)]
pub struct ServiceAccount {
    /// The account's e-mail address: the issuer of its token requests.
    pub client_email: String,
    /// The id of the key, sent as the `kid` of signed token requests when present.
    pub private_key_id: Option<String>,
    /// The RSA private key, PKCS#8 DER.
    pub private_key: SecretSlice<u8>,
    /// Where access tokens are requested (the file's `token_uri`, else Google's endpoint).
    pub token_uri: String,
    /// The project the key belongs to, the default of `project`.
    pub project_id: Option<String>,
}

/// The fields of a key file this build reads; the others are ignored.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key_id: Option<String>,
    private_key: Option<String>,
    token_uri: Option<String>,
    project_id: Option<String>,
}

impl ServiceAccount {
    /// Reads a key file's text; the error says what is wrong with it.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: KeyFile =
            serde_json::from_str(text).map_err(|e| format!("it is not a JSON key file ({e})"))?;
        match file.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => {
                return Err(format!(
                    "expected a service-account key (\"type\": \"service_account\"), got \
                     \"type\": {other:?}"
                ));
            }
            None => return Err("it has no \"type\"; expected a service-account key".into()),
        }
        let required = |value: Option<String>, field: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("it has no \"{field}\""))
        };
        let client_email = required(file.client_email, "client_email")?;
        let private_key = required(file.private_key, "private_key")?;
        let private_key = pkcs8_der(&private_key)?;
        let token_uri = match file.token_uri.filter(|u| !u.trim().is_empty()) {
            None => DEFAULT_TOKEN_URI.to_owned(),
            Some(uri) if uri.starts_with("https://") || uri.starts_with("http://") => uri,
            Some(uri) => return Err(format!("its \"token_uri\" {uri:?} is not an http(s) URL")),
        };
        Ok(ServiceAccount {
            client_email,
            private_key_id: file.private_key_id.filter(|k| !k.is_empty()),
            private_key: SecretSlice::from(private_key),
            token_uri,
            project_id: file.project_id.filter(|p| !p.is_empty()),
        })
    }
}

/// The DER bytes of a PEM `PRIVATE KEY` (PKCS#8) block.
fn pkcs8_der(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    let body = pem
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(body, _)| body)
        .ok_or("its \"private_key\" is not a PEM \"PRIVATE KEY\" (PKCS#8) block")?;
    let text: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("its \"private_key\" is not valid base64 ({e})"))?;
    if der.is_empty() {
        return Err("its \"private_key\" is empty".into());
    }
    Ok(der)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use secrecy::ExposeSecret;
    use serde_json::json;

    use super::*;

    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nAAEC\nAwQ=\n-----END PRIVATE KEY-----\n";

    #[test]
    fn reads_a_service_account_key_file() {
        let text = json!({"type": "service_account", "project_id": "p-1", "private_key_id": "k1",
            "private_key": PEM, "client_email": "a@p-1.iam.gserviceaccount.com",
            "token_uri": "http://127.0.0.1:9/token", "client_id": "1"})
        .to_string();
        let sa = ServiceAccount::from_json(&text).unwrap();
        assert_eq!(sa.client_email, "a@p-1.iam.gserviceaccount.com");
        assert_eq!(sa.private_key_id.as_deref(), Some("k1"));
        assert_eq!(sa.private_key.expose_secret(), [0, 1, 2, 3, 4]);
        assert_eq!(sa.token_uri, "http://127.0.0.1:9/token");
        assert_eq!(sa.project_id.as_deref(), Some("p-1"));
        assert!(
            !format!("{sa:?}").contains("[0, 1, 2"),
            "the key stays out of Debug"
        );

        let without_uri =
            json!({"type": "service_account", "private_key": PEM, "client_email": "a@b"});
        let sa = ServiceAccount::from_json(&without_uri.to_string()).unwrap();
        assert_eq!(sa.token_uri, DEFAULT_TOKEN_URI);
        assert_eq!(sa.project_id, None);
    }

    #[test]
    fn says_what_is_wrong_with_a_key_file() {
        let err = |v: serde_json::Value| ServiceAccount::from_json(&v.to_string()).unwrap_err();
        assert!(
            ServiceAccount::from_json("not json")
                .unwrap_err()
                .starts_with("it is not a JSON key file")
        );
        assert_eq!(
            err(json!({"type": "authorized_user", "refresh_token": "r"})),
            r#"expected a service-account key ("type": "service_account"), got "type": "authorized_user""#
        );
        assert_eq!(
            err(json!({"type": "service_account", "private_key": PEM})),
            r#"it has no "client_email""#
        );
        assert_eq!(
            err(json!({"type": "service_account", "client_email": "a@b",
                "private_key": "-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----"})),
            r#"its "private_key" is not a PEM "PRIVATE KEY" (PKCS#8) block"#
        );
        assert!(
            err(json!({"type": "service_account", "client_email": "a@b",
                "private_key": "-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----"}))
            .starts_with(r#"its "private_key" is not valid base64"#)
        );
        assert_eq!(
            err(
                json!({"type": "service_account", "client_email": "a@b", "private_key": PEM,
                "token_uri": "oauth2.googleapis.com/token"})
            ),
            r#"its "token_uri" "oauth2.googleapis.com/token" is not an http(s) URL"#
        );
    }
}
