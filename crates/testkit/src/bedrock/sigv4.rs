//! SigV4 verification for the Bedrock mock: the signature is recomputed with `aws-sigv4`
//! from the request as received (method, `Host` and path, the signed headers, the body) and
//! the known secret of the key it names, and must match exactly. The answers on failure are
//! AWS's: 403 with `MissingAuthenticationTokenException`, `IncompleteSignatureException`,
//! `UnrecognizedClientException` (unknown key or wrong session token) or
//! `InvalidSignatureException` (wrong secret, tampered request, wrong scope, expired).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::request::Parts;

use super::error_reply;
use crate::wire::Reply;

/// The mock's long-term access key id.
pub const ACCESS_KEY_ID: &str = "AKIASLUICEMOCK000001";
/// The secret of [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "sluiceMockSecret/0000000000000000000000001";
/// The mock's temporary access key id, valid only with [`SESSION_TOKEN`].
pub const SESSION_ACCESS_KEY_ID: &str = "ASIASLUICEMOCK000002";
/// The secret of [`SESSION_ACCESS_KEY_ID`].
pub const SESSION_SECRET_ACCESS_KEY: &str = "sluiceMockSecret/0000000000000000000000002";
/// The session token of [`SESSION_ACCESS_KEY_ID`].
pub const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEMockSessionTokenForSluice==";
/// The region the mock's tests sign for (any region is accepted).
pub const REGION: &str = "us-east-1";

/// How far a request's time may be from the mock's clock.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The secret and required session token of a known key.
fn known(key_id: &str) -> Option<(&'static str, Option<&'static str>)> {
    match key_id {
        ACCESS_KEY_ID => Some((SECRET_ACCESS_KEY, None)),
        SESSION_ACCESS_KEY_ID => Some((SESSION_SECRET_ACCESS_KEY, Some(SESSION_TOKEN))),
        _ => None,
    }
}

fn forbidden(kind: &str, message: &str) -> Reply {
    error_reply(403, kind, message)
}

fn mismatch() -> Reply {
    forbidden(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service \
         documentation for details.",
    )
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
struct Authorization<'a> {
    key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
}

fn parse(header: &str) -> Option<Authorization<'_>> {
    let rest = header.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for field in rest.split(',') {
        let (k, v) = field.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return None,
        }
    }
    signature.filter(|s| !s.is_empty())?;
    let mut scope = credential?.split('/');
    let (key_id, date, region, service, terminator) = (
        scope.next()?,
        scope.next()?,
        scope.next()?,
        scope.next()?,
        scope.next()?,
    );
    if terminator != "aws4_request" || scope.next().is_some() {
        return None;
    }
    Some(Authorization {
        key_id,
        date,
        region,
        service,
        signed_headers: signed?.split(';').collect(),
    })
}

/// `20150830T123600Z` as a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, sec) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), per Howard Hinnant's algorithm.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + mi * 60 + sec).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Checks the request's signature; the 403 AWS would answer when it is not valid.
pub(super) fn verify(parts: &Parts, body: &[u8]) -> Result<(), Reply> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let Some(authz) = header("authorization") else {
        return Err(forbidden(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let Some(auth) = parse(authz) else {
        return Err(forbidden(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' \
             parameters.",
        ));
    };
    let Some((secret, token)) = known(auth.key_id) else {
        return Err(forbidden(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    };
    if header("x-amz-security-token") != token {
        return Err(forbidden(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if auth.service != "bedrock" {
        return Err(forbidden(
            "InvalidSignatureException",
            &format!(
                "Credential should be scoped to correct service: 'bedrock'. (got '{}')",
                auth.service
            ),
        ));
    }
    let Some(amz_date) = header("x-amz-date") else {
        return Err(forbidden(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ));
    };
    let Some(time) = parse_amz_date(amz_date).filter(|_| amz_date.starts_with(auth.date)) else {
        return Err(mismatch());
    };
    let now = SystemTime::now();
    let skew = now
        .duration_since(time)
        .or_else(|_| time.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(forbidden(
            "InvalidSignatureException",
            &format!(
                "Signature expired: {amz_date} is now earlier or later than 15 minutes from the current time."
            ),
        ));
    }
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.contains(&required) {
            return Err(mismatch());
        }
    }
    let Some(host) = header("host") else {
        return Err(mismatch());
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |p| p.as_str());
    let uri = format!("http://{host}{path}");
    // The signer adds host, x-amz-date and the token itself; every other signed header is
    // passed with the value received.
    let mut signed = Vec::new();
    for name in &auth.signed_headers {
        if matches!(*name, "host" | "x-amz-date" | "x-amz-security-token") {
            continue;
        }
        match header(name) {
            Some(value) => signed.push((*name, value)),
            None => return Err(mismatch()),
        }
    }
    let credentials = Credentials::new(
        auth.key_id,
        secret,
        token.map(str::to_owned),
        None,
        "sluice-mock",
    );
    let identity = credentials.into();
    let expected = (|| {
        let request = SignableRequest::new(
            parts.method.as_str(),
            uri.as_str(),
            signed.into_iter(),
            SignableBody::Bytes(body),
        )
        .ok()?;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(auth.region)
            .name(auth.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .ok()?
            .into();
        let (instructions, _) = sign(request, &params).ok()?.into_parts();
        let (headers, _) = instructions.into_parts();
        headers
            .into_iter()
            .find(|h| h.name() == "authorization")
            .map(|h| h.value().to_owned())
    })();
    match expected {
        Some(expected) if expected == authz => Ok(()),
        _ => Err(mismatch()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn amz_dates_parse() {
        assert_eq!(
            parse_amz_date("20150830T123600Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_440_938_160))
        );
        assert_eq!(
            parse_amz_date("20240229T000000Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_709_164_800))
        );
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
    }

    #[test]
    fn authorization_headers_parse() {
        let a = parse("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc").unwrap();
        assert_eq!(
            (a.key_id, a.date, a.region, a.service),
            ("AK", "20150830", "us-east-1", "bedrock")
        );
        assert_eq!(a.signed_headers, ["content-type", "host", "x-amz-date"]);
        assert!(parse("Bearer x").is_none());
        assert!(parse("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/bedrock, SignedHeaders=host, Signature=abc").is_none());
    }
}
