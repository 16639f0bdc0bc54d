//! What a request's `response_format` expects of the answer's content.

use serde_json::Value;

use crate::schema::{Schema, SchemaError};
use crate::{Hit, add_hit};

/// The content an answer must have.
#[derive(Debug)]
pub(crate) enum Expectation {
    /// Anything (`text`, or no `response_format`).
    Anything,
    /// A JSON object (`json_object`).
    Object,
    /// A JSON value matching the schema (`json_schema`), or a schema this crate cannot use.
    Schema(Box<Result<Schema, SchemaError>>),
}

impl Expectation {
    /// Reads `response_format`.
    pub(crate) fn of(response_format: Option<&Value>) -> Expectation {
        let Some(rf) = response_format else {
            return Expectation::Anything;
        };
        match rf.get("type").and_then(Value::as_str) {
            Some("json_object") => Expectation::Object,
            Some("json_schema") => match rf.pointer("/json_schema/schema") {
                Some(schema) => Expectation::Schema(Box::new(Schema::compile(schema))),
                None => Expectation::Object,
            },
            _ => Expectation::Anything,
        }
    }

    /// Whether anything is checked at all.
    pub(crate) fn is_anything(&self) -> bool {
        matches!(self, Expectation::Anything)
    }

    /// Checks one choice's content, recording hits (`not_json`, `schema_violation`,
    /// `invalid_schema`); the reason to block, if it fails. A schema this crate cannot use is
    /// recorded but never blocks.
    pub(crate) fn problem(&self, content: &str, hits: &mut Vec<Hit>) -> Option<String> {
        if self.is_anything() {
            return None;
        }
        let value: Value = match serde_json::from_str(content) {
            Ok(v) => v,
            Err(e) => {
                add_hit(hits, "not_json");
                return Some(format!(
                    "the answer is not the JSON its response_format asks for: {e}"
                ));
            }
        };
        match self {
            Expectation::Anything => None,
            Expectation::Object if value.is_object() => None,
            Expectation::Object => {
                add_hit(hits, "not_json");
                Some("the answer is not the JSON object its response_format asks for".into())
            }
            Expectation::Schema(schema) => match schema.as_ref() {
                Ok(schema) => schema.validate(&value).err().map(|v| {
                    add_hit(hits, "schema_violation");
                    format!("the answer does not match the response_format schema: {v}")
                }),
                Err(_) => {
                    add_hit(hits, "invalid_schema");
                    None
                }
            },
        }
    }
}
