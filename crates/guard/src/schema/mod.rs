//! A JSON Schema validator for the subset that structured-output schemas use.
//!
//! `response_format: {type: json_schema, json_schema: {schema}}` schemas are small and
//! stick to a core that providers document for structured outputs. This validator covers
//! that core rather than pulling in a full JSON Schema implementation and its dependency
//! tree: `type` (one or a list), `enum`, `const`, `properties`, `required`,
//! `additionalProperties`, `patternProperties`, `minProperties`/`maxProperties`, `items`,
//! `prefixItems`, `minItems`/`maxItems`, `uniqueItems`, `minLength`/`maxLength` (in
//! characters), `pattern`, `minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum`
//! (numbers), `multipleOf`, `anyOf`, `allOf`, `oneOf`, `not`, boolean schemas, and local
//! `$ref`s (`#`, `#/$defs/…`, `#/definitions/…`, any JSON pointer), recursive ones included.
//! Other keywords (`format`, `title`, `description`, …) are annotations and are ignored;
//! remote `$ref`s are refused when the schema is compiled.

mod compile;

use std::fmt;

use regex::Regex;
use serde_json::{Map, Value};

/// A schema this validator cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported or invalid schema at {pointer}: {message}")]
pub struct SchemaError {
    /// JSON pointer of the offending subschema (empty for the root).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// Where and how an instance fails its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the failing value: `$`, `$.items[2].price`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Type {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    Integer,
    String,
}

impl Type {
    pub(super) fn parse(name: &str) -> Option<Type> {
        Some(match name {
            "null" => Type::Null,
            "boolean" => Type::Boolean,
            "object" => Type::Object,
            "array" => Type::Array,
            "number" => Type::Number,
            "integer" => Type::Integer,
            "string" => Type::String,
            _ => return None,
        })
    }

    fn matches(self, v: &Value) -> bool {
        match self {
            Type::Null => v.is_null(),
            Type::Boolean => v.is_boolean(),
            Type::Object => v.is_object(),
            Type::Array => v.is_array(),
            Type::Number => v.is_number(),
            Type::Integer => {
                v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            Type::String => v.is_string(),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[derive(Debug, Default)]
pub(super) struct Rules {
    pub(super) types: Vec<Type>,
    pub(super) enumeration: Option<Vec<Value>>,
    pub(super) constant: Option<Value>,
    pub(super) properties: Vec<(String, usize)>,
    pub(super) pattern_properties: Vec<(Regex, usize)>,
    pub(super) required: Vec<String>,
    pub(super) additional: Option<usize>,
    pub(super) min_properties: Option<usize>,
    pub(super) max_properties: Option<usize>,
    pub(super) items: Option<usize>,
    pub(super) prefix_items: Vec<usize>,
    pub(super) min_items: Option<usize>,
    pub(super) max_items: Option<usize>,
    pub(super) unique_items: bool,
    pub(super) min_length: Option<usize>,
    pub(super) max_length: Option<usize>,
    pub(super) pattern: Option<Regex>,
    pub(super) minimum: Option<f64>,
    pub(super) maximum: Option<f64>,
    pub(super) exclusive_minimum: Option<f64>,
    pub(super) exclusive_maximum: Option<f64>,
    pub(super) multiple_of: Option<f64>,
    pub(super) any_of: Vec<usize>,
    pub(super) all_of: Vec<usize>,
    pub(super) one_of: Vec<usize>,
    pub(super) not: Option<usize>,
    pub(super) reference: Option<usize>,
}

#[derive(Debug)]
pub(super) enum Node {
    Any,
    Never,
    Rules(Box<Rules>),
}

/// A compiled schema.
#[derive(Debug)]
pub struct Schema {
    nodes: Vec<Node>,
}

/// Deeper than any sane schema and instance; a `$ref` loop without progress ends here.
const MAX_DEPTH: usize = 128;

impl Schema {
    /// Compiles `schema`; fails on remote `$ref`s, unresolvable pointers, bad patterns and
    /// keywords of the wrong type.
    pub fn compile(schema: &Value) -> Result<Schema, SchemaError> {
        Ok(Schema {
            nodes: compile::compile(schema)?,
        })
    }

    /// Checks `instance`; the first violation found, if any.
    pub fn validate(&self, instance: &Value) -> Result<(), Violation> {
        self.check(0, instance, &Path::Root, 0)
    }

    fn check(&self, at: usize, v: &Value, path: &Path<'_>, depth: usize) -> Result<(), Violation> {
        let fail = |message: String| {
            Err(Violation {
                path: path.to_string(),
                message,
            })
        };
        if depth > MAX_DEPTH {
            return fail("the schema nests too deeply".into());
        }
        let r = match &self.nodes[at] {
            Node::Any => return Ok(()),
            Node::Never => return fail("no value is allowed here".into()),
            Node::Rules(r) => r,
        };
        let next = depth + 1;
        if let Some(target) = r.reference {
            self.check(target, v, path, next)?;
        }
        if !r.types.is_empty() && !r.types.iter().any(|t| t.matches(v)) {
            let want: Vec<String> = r
                .types
                .iter()
                .map(|t| format!("{t:?}").to_lowercase())
                .collect();
            return fail(format!(
                "expected {}, got {}",
                want.join(" or "),
                type_name(v)
            ));
        }
        if let Some(values) = &r.enumeration {
            if !values.iter().any(|e| json_eq(e, v)) {
                return fail("is not one of the allowed values".into());
            }
        }
        if let Some(c) = &r.constant {
            if !json_eq(c, v) {
                return fail(format!("must be {c}"));
            }
        }
        match v {
            Value::Object(map) => self.check_object(r, map, path, next)?,
            Value::Array(items) => self.check_array(r, items, path, next)?,
            Value::String(s) => {
                let n = s.chars().count();
                if r.min_length.is_some_and(|m| n < m) || r.max_length.is_some_and(|m| n > m) {
                    return fail(format!("length {n} is outside the allowed range"));
                }
                if let Some(p) = &r.pattern {
                    if !p.is_match(s) {
                        return fail(format!("does not match the pattern {}", p.as_str()));
                    }
                }
            }
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                let below =
                    r.minimum.is_some_and(|m| x < m) || r.exclusive_minimum.is_some_and(|m| x <= m);
                let above =
                    r.maximum.is_some_and(|m| x > m) || r.exclusive_maximum.is_some_and(|m| x >= m);
                if below || above {
                    return fail(format!("{x} is outside the allowed range"));
                }
                if let Some(m) = r.multiple_of {
                    let q = x / m;
                    if (q - q.round()).abs() > 1e-9 {
                        return fail(format!("{x} is not a multiple of {m}"));
                    }
                }
            }
            _ => {}
        }
        for &s in &r.all_of {
            self.check(s, v, path, next)?;
        }
        if !r.any_of.is_empty()
            && !r
                .any_of
                .iter()
                .any(|&s| self.check(s, v, path, next).is_ok())
        {
            return fail("matches none of the anyOf schemas".into());
        }
        if !r.one_of.is_empty() {
            let n = r
                .one_of
                .iter()
                .filter(|&&s| self.check(s, v, path, next).is_ok())
                .count();
            if n != 1 {
                return fail(format!("matches {n} of the oneOf schemas, not exactly one"));
            }
        }
        if let Some(s) = r.not {
            if self.check(s, v, path, next).is_ok() {
                return fail("matches the schema it must not match".into());
            }
        }
        Ok(())
    }

    fn check_object(
        &self,
        r: &Rules,
        map: &Map<String, Value>,
        path: &Path<'_>,
        depth: usize,
    ) -> Result<(), Violation> {
        let fail = |message: String| {
            Err(Violation {
                path: path.to_string(),
                message,
            })
        };
        if let Some(missing) = r.required.iter().find(|k| !map.contains_key(k.as_str())) {
            return fail(format!("missing required property \"{missing}\""));
        }
        let n = map.len();
        if r.min_properties.is_some_and(|m| n < m) || r.max_properties.is_some_and(|m| n > m) {
            return fail(format!("{n} properties is outside the allowed range"));
        }
        for (key, value) in map {
            let child = Path::Key(path, key);
            let mut known = false;
            if let Some((_, s)) = r.properties.iter().find(|(k, _)| k == key) {
                known = true;
                self.check(*s, value, &child, depth)?;
            }
            for (re, s) in &r.pattern_properties {
                if re.is_match(key) {
                    known = true;
                    self.check(*s, value, &child, depth)?;
                }
            }
            if let (false, Some(s)) = (known, r.additional) {
                if matches!(self.nodes[s], Node::Never) {
                    return fail(format!("property \"{key}\" is not allowed"));
                }
                self.check(s, value, &child, depth)?;
            }
        }
        Ok(())
    }

    fn check_array(
        &self,
        r: &Rules,
        items: &[Value],
        path: &Path<'_>,
        depth: usize,
    ) -> Result<(), Violation> {
        let fail = |message: String| {
            Err(Violation {
                path: path.to_string(),
                message,
            })
        };
        let n = items.len();
        if r.min_items.is_some_and(|m| n < m) || r.max_items.is_some_and(|m| n > m) {
            return fail(format!("{n} items is outside the allowed range"));
        }
        if r.unique_items {
            for (i, a) in items.iter().enumerate() {
                if items[i + 1..].iter().any(|b| json_eq(a, b)) {
                    return fail("items are not unique".into());
                }
            }
        }
        for (i, item) in items.iter().enumerate() {
            let schema = r.prefix_items.get(i).copied().or(r.items);
            if let Some(s) = schema {
                self.check(s, item, &Path::Index(path, i), depth)?;
            }
        }
        Ok(())
    }
}

/// Equality with numbers compared by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("$"),
            Path::Key(parent, k) => write!(f, "{parent}.{k}"),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn violation(schema: Value, instance: Value) -> Option<String> {
        Schema::compile(&schema)
            .unwrap()
            .validate(&instance)
            .err()
            .map(|v| v.to_string())
    }

    #[test]
    fn a_structured_output_schema_accepts_and_rejects() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "age": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": true},
                "kind": {"anyOf": [{"const": "x"}, {"type": "null"}]}
            },
            "required": ["name", "age"],
            "additionalProperties": false
        });
        assert_eq!(
            violation(
                schema.clone(),
                json!({"name": "Ann", "age": 3, "tags": ["a"], "kind": null})
            ),
            None
        );
        assert_eq!(
            violation(schema.clone(), json!({"name": "Ann", "age": 3.0})),
            None
        );
        assert_eq!(
            violation(schema.clone(), json!({"name": "Ann"})).unwrap(),
            "$: missing required property \"age\""
        );
        assert_eq!(
            violation(schema.clone(), json!({"name": "Ann", "age": "3"})).unwrap(),
            "$.age: expected integer, got string"
        );
        assert_eq!(
            violation(schema.clone(), json!({"name": "A", "age": 1, "x": 1})).unwrap(),
            "$: property \"x\" is not allowed"
        );
        assert_eq!(
            violation(
                schema.clone(),
                json!({"name": "A", "age": 1, "tags": ["a", "c"]})
            )
            .unwrap(),
            "$.tags[1]: is not one of the allowed values"
        );
        assert!(
            violation(
                schema.clone(),
                json!({"name": "A", "age": 1, "tags": ["a", "a"]})
            )
            .is_some()
        );
        assert!(violation(schema, json!({"name": "", "age": -1})).is_some());
    }

    #[test]
    fn recursive_refs_are_followed() {
        let schema = json!({
            "$ref": "#/$defs/node",
            "$defs": {"node": {"type": "object", "properties": {
                "value": {"type": "number", "exclusiveMaximum": 10},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}
            }, "required": ["value"]}}
        });
        let ok = json!({"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]});
        assert_eq!(violation(schema.clone(), ok), None);
        let bad = json!({"value": 1, "children": [{"value": 2, "children": [{"value": 10}]}]});
        assert_eq!(
            violation(schema, bad).unwrap(),
            "$.children[0].children[0].value: 10 is outside the allowed range"
        );
    }

    #[test]
    fn unusable_schemas_are_refused_at_compile_time() {
        assert!(Schema::compile(&json!({"$ref": "https://example.com/s.json"})).is_err());
        assert!(Schema::compile(&json!({"$ref": "#/$defs/missing"})).is_err());
        assert!(Schema::compile(&json!({"type": "text"})).is_err());
        assert!(Schema::compile(&json!({"pattern": "("})).is_err());
    }

    #[test]
    fn a_self_referencing_schema_stops_at_the_depth_limit() {
        let v = violation(json!({"$ref": "#"}), json!(1)).unwrap();
        assert!(v.contains("nests too deeply"), "{v}");
    }
}
