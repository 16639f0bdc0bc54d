//! OpenAI's embeddings request, as the gateway reads it to translate it.

use serde_json::{Map, Value};
use sluice_types::GatewayError;

use crate::codec::unsupported_parameter;
use crate::translate::invalid;

/// How the answer carries each vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodingFormat {
    /// A JSON array of numbers (OpenAI's default).
    #[default]
    Float,
    /// The vector's little-endian `f32`s, base64-encoded.
    Base64,
}

/// An OpenAI embeddings request (`POST /v1/embeddings`) with text input.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingsRequest {
    /// The model (the target's, once routed).
    pub model: String,
    /// The texts to embed, in order (a single `input` string is a list of one).
    pub input: Vec<String>,
    /// The requested vector length (`dimensions`), if any.
    pub dimensions: Option<u32>,
    /// How the answer carries the vectors.
    pub encoding_format: EncodingFormat,
    /// The end user (`user`); no translated provider takes one, so it is not sent.
    pub user: Option<String>,
    /// Other top-level fields, which no translated provider can honour.
    pub extra: Map<String, Value>,
}

impl EmbeddingsRequest {
    /// Reads a request body. Token arrays (`input` as integers) are refused: a translated
    /// provider takes text, and OpenAI's token ids mean nothing to it.
    pub fn parse(body: &[u8]) -> Result<Self, GatewayError> {
        let mut obj: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(obj)) => obj,
            Ok(_) => {
                return Err(GatewayError::invalid_request(
                    "the body must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(GatewayError::invalid_request(format!(
                    "the body is not valid JSON: {e}"
                )));
            }
        };
        let model = match obj.remove("model") {
            Some(Value::String(m)) if !m.is_empty() => m,
            _ => return Err(invalid("model", "is required")),
        };
        let input = match obj.remove("input") {
            None | Some(Value::Null) => return Err(invalid("input", "is required")),
            Some(v) => texts(v)?,
        };
        let dimensions = match obj.remove("dimensions") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|d| u32::try_from(d).ok())
                    .filter(|d| *d > 0)
                    .ok_or_else(|| invalid("dimensions", "must be a positive integer"))?,
            ),
        };
        let encoding_format = match obj.remove("encoding_format") {
            None | Some(Value::Null) => EncodingFormat::Float,
            Some(Value::String(s)) if s == "float" => EncodingFormat::Float,
            Some(Value::String(s)) if s == "base64" => EncodingFormat::Base64,
            Some(_) => {
                return Err(invalid(
                    "encoding_format",
                    "must be \"float\" or \"base64\"",
                ));
            }
        };
        let user = match obj.remove("user") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(invalid("user", "must be a string")),
        };
        Ok(Self {
            model,
            input,
            dimensions,
            encoding_format,
            user,
            extra: obj,
        })
    }

    /// A 400 for the first field no translated provider can honour, if any.
    pub(crate) fn check_extra(&self, provider: &str) -> Result<(), GatewayError> {
        match self.extra.keys().next() {
            None => Ok(()),
            Some(name) => Err(unsupported_parameter(
                name,
                format!("provider {provider} cannot honour the embeddings parameter `{name}`"),
            )),
        }
    }

    /// Removes the parameter `name`; true when it was set (`input` never is removed).
    pub fn remove_param(&mut self, name: &str) -> bool {
        match name {
            "dimensions" => self.dimensions.take().is_some(),
            "user" => self.user.take().is_some(),
            "encoding_format" => {
                let set = self.encoding_format != EncodingFormat::Float;
                self.encoding_format = EncodingFormat::Float;
                set
            }
            "input" | "model" => false,
            other => self.extra.remove(other).is_some(),
        }
    }
}

/// `input` as a list of texts: a string, or a non-empty array of strings.
fn texts(v: Value) -> Result<Vec<String>, GatewayError> {
    let token_arrays = || {
        invalid(
            "input",
            "token arrays cannot be translated for this provider; send the text",
        )
    };
    match v {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) if items.is_empty() => Err(invalid("input", "must not be empty")),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                Value::Number(_) | Value::Array(_) => Err(token_arrays()),
                _ => Err(invalid(&format!("input[{i}]"), "must be a string")),
            })
            .collect(),
        _ => Err(invalid("input", "must be a string or an array of strings")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `v` with model `m` parsed.
    fn parse(mut v: Value) -> Result<EmbeddingsRequest, GatewayError> {
        v["model"] = json!("m");
        EmbeddingsRequest::parse(v.to_string().as_bytes())
    }

    #[test]
    fn strings_and_lists_of_strings() {
        let one = parse(json!({"input": "hi"})).unwrap();
        assert_eq!(
            (one.model.as_str(), &one.input[..]),
            ("m", &["hi".to_owned()][..])
        );
        let e = EmbeddingsRequest::parse(br#"{"input": "hi"}"#).unwrap_err();
        assert_eq!(e.param(), Some("model"));
        assert_eq!(one.encoding_format, EncodingFormat::Float);
        let many = parse(json!({"input": ["a", "b"], "dimensions": 256,
            "encoding_format": "base64", "user": "u-1"}))
        .unwrap();
        assert_eq!(many.input, ["a", "b"]);
        assert_eq!(many.dimensions, Some(256));
        assert_eq!(many.encoding_format, EncodingFormat::Base64);
        assert_eq!(many.user.as_deref(), Some("u-1"));
        assert!(many.extra.is_empty());
    }

    #[test]
    fn token_arrays_and_bad_fields_are_400s_naming_the_field() {
        for (body, param) in [
            (json!({"input": [1, 2, 3]}), "input"),
            (json!({"input": [[1, 2], [3]]}), "input"),
            (json!({"input": []}), "input"),
            (json!({}), "input"),
            (json!({"input": ["a", {}]}), "input[1]"),
            (json!({"input": "a", "dimensions": 0}), "dimensions"),
            (
                json!({"input": "a", "encoding_format": "int8"}),
                "encoding_format",
            ),
        ] {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!((e.status(), e.param()), (400, Some(param)), "{body}");
        }
        let e = parse(json!({"input": [1]})).unwrap_err();
        assert!(e.message().contains("token arrays"), "{}", e.message());
    }

    #[test]
    fn unknown_fields_are_refused_unless_dropped() {
        let mut req = parse(json!({"input": "a", "input_type": "query"})).unwrap();
        let e = req.check_extra("p").unwrap_err();
        assert_eq!(
            (e.param(), e.code()),
            (Some("input_type"), Some(crate::UNSUPPORTED_PARAMETER))
        );
        assert!(req.remove_param("input_type"));
        assert!(req.check_extra("p").is_ok());
        assert!(!req.remove_param("input"));
    }
}
