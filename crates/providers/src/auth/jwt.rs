//! The signed JWT a Google service account exchanges for an access token (the OAuth 2.0
//! JWT bearer grant, RFC 7523): header `{"alg":"RS256","typ":"JWT","kid":…}`, claims
//! `iss` (the account's e-mail), `scope` (`cloud-platform`), `aud` (the token endpoint),
//! `iat` and `exp` (an hour later, the longest Google accepts), signed with RSASSA-PKCS1-v1_5
//! and SHA-256 by `ring`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use secrecy::ExposeSecret;
use serde::Serialize;
use sluice_config::ServiceAccount;
use sluice_types::GatewayError;

/// The scope of the access tokens: every Google Cloud API, Vertex AI included.
pub(crate) const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Seconds from `iat` to `exp`: one hour, the most Google allows.
const ASSERTION_LIFETIME: u64 = 3600;

/// Signs token requests for one service account.
pub(crate) struct AssertionSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
    /// The encoded header and its `.`, the same for every assertion.
    header: String,
    issuer: String,
    audience: String,
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'static str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

impl AssertionSigner {
    /// A signer for `account`; fails when its key is not an RSA PKCS#8 key.
    pub(crate) fn new(account: &ServiceAccount) -> Result<Self, String> {
        let key = RsaKeyPair::from_pkcs8(account.private_key.expose_secret())
            .map_err(|e| format!("its private key is not a usable RSA key ({e})"))?;
        let header = Header {
            alg: "RS256",
            typ: "JWT",
            kid: account.private_key_id.as_deref(),
        };
        let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
            header: format!("{}.", URL_SAFE_NO_PAD.encode(header)),
            issuer: account.client_email.clone(),
            audience: account.token_uri.clone(),
        })
    }

    /// The signed assertion for a token request made at `now` (Unix seconds).
    pub(crate) fn assertion(&self, now: u64) -> Result<String, GatewayError> {
        let claims = Claims {
            iss: &self.issuer,
            scope: CLOUD_PLATFORM_SCOPE,
            aud: &self.audience,
            iat: now,
            exp: now + ASSERTION_LIFETIME,
        };
        let failed =
            |what: &str| GatewayError::internal(format!("could not {what} a token request"));
        let claims = serde_json::to_vec(&claims).map_err(|_| failed("encode"))?;
        let mut jwt = self.header.clone();
        URL_SAFE_NO_PAD.encode_string(claims, &mut jwt);
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, jwt.as_bytes(), &mut signature)
            .map_err(|_| failed("sign"))?;
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut jwt);
        Ok(jwt)
    }
}

/// The test key shipped in `fixtures/vertex/`, as a service account whose token endpoint is
/// `token_uri`.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_account(token_uri: &str) -> ServiceAccount {
    let pem = include_str!("../../../../fixtures/vertex/test-key.pem");
    let text = serde_json::json!({"type": "service_account", "private_key_id": "key-1",
        "private_key": pem, "client_email": "gw@sluice-test.iam.gserviceaccount.com",
        "token_uri": token_uri});
    ServiceAccount::from_json(&text.to_string()).unwrap()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use ring::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use secrecy::SecretSlice;
    use serde_json::{Value, json};

    use super::*;

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn an_assertion_has_google_s_header_and_claims_and_a_valid_signature() {
        let account = test_account("https://oauth2.example/token");
        let signer = AssertionSigner::new(&account).unwrap();
        let jwt = signer.assertion(1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode(parts[0]),
            json!({"alg": "RS256", "typ": "JWT", "kid": "key-1"})
        );
        assert_eq!(
            decode(parts[1]),
            json!({"iss": "gw@sluice-test.iam.gserviceaccount.com",
                "scope": "https://www.googleapis.com/auth/cloud-platform",
                "aud": "https://oauth2.example/token",
                "iat": 1_700_000_000u64, "exp": 1_700_003_600u64})
        );
        // The signature verifies with the key's public half over `header.claims`.
        let key = RsaKeyPair::from_pkcs8(account.private_key.expose_secret()).unwrap();
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref());
        let signed = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        public.verify(signed.as_bytes(), &signature).unwrap();
        // …and only over those bytes.
        let tampered = format!("{}.{}x", parts[0], parts[1]);
        assert!(public.verify(tampered.as_bytes(), &signature).is_err());
    }

    #[test]
    fn a_key_that_is_not_rsa_pkcs8_is_refused() {
        let mut account = test_account("https://oauth2.example/token");
        account.private_key = SecretSlice::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let e = AssertionSigner::new(&account).err().unwrap();
        assert!(
            e.starts_with("its private key is not a usable RSA key"),
            "{e}"
        );
    }
}
