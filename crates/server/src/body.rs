//! Reading request bodies within `server.max_body`, and JSON parsing that names the field.

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use sluice_types::{ErrorKind, GatewayError, Origin};

/// Reads the whole body, refusing it with 413 once it passes `max` bytes.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    max: u64,
) -> Result<Bytes, GatewayError> {
    let too_large = || {
        GatewayError::new(
            ErrorKind::PayloadTooLarge,
            Origin::Client,
            format!("the request body is larger than the {max} bytes this gateway accepts"),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let limit = usize::try_from(max).unwrap_or(usize::MAX);
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(GatewayError::invalid_request(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// A 400 about the request field at `path` (`messages[2].content`), naming it in `param`.
pub(crate) fn invalid_at(path: &str, why: &str) -> GatewayError {
    GatewayError::invalid_request(format!("{path}: {why}")).with_param(path)
}

/// Parses JSON into `T`; a type error names the field path (`messages[0].content`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(GatewayError::invalid_request(
            "the request body is empty; expected a JSON object",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            GatewayError::invalid_request(format!("the request body is not valid JSON: {inner}"))
        } else if path.is_empty() || path == "." {
            GatewayError::invalid_request(format!("invalid request body: {inner}"))
        } else {
            GatewayError::invalid_request(format!("invalid value for `{path}`: {inner}"))
                .with_param(path)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_types::ChatRequest;

    #[test]
    fn type_errors_name_the_field_path() {
        let e =
            parse_json::<ChatRequest>(br#"{"model":"m","messages":[{"role":"user","content":5}]}"#)
                .unwrap_err();
        assert_eq!(e.param(), Some("messages[0].content"));
        assert_eq!(e.status(), 400);
        let e = parse_json::<ChatRequest>(br#"{"model":"m","messages":[],"temperature":"hot"}"#)
            .unwrap_err();
        assert_eq!(e.param(), Some("temperature"));
        let e = parse_json::<ChatRequest>(br#"{"model":"m","#).unwrap_err();
        assert!(e.message().contains("not valid JSON"));
        let e = parse_json::<ChatRequest>(br#"{"messages":[]}"#).unwrap_err();
        assert!(e.message().contains("model"), "{}", e.message());
    }
}
