//! Tool parameter schemas: JSON Schema (what OpenAI clients send) → the Gemini API's
//! `Schema`, a subset of the OpenAPI 3.0 schema object.
//!
//! Keywords the subset has are kept (types upper-cased to the reference's enum names);
//! keywords it rejects (`additionalProperties`, `$schema`, `$id`, `strict`, `examples`,
//! `patternProperties`, `not`, `if`/`then`/`else`, …) are dropped; a few are rewritten:
//! `type: [T, "null"]` → `type: T, nullable: true`, several types → `anyOf`, `oneOf` →
//! `anyOf`, a one-element `allOf` → merged, `const` → a one-value `enum`. String `format`s
//! other than `enum` and `date-time` (and numeric `int32`, `int64`, `float`, `double`) are
//! dropped. A schema that uses `$ref` cannot be expressed in the subset without inlining,
//! so it is sent unchanged as `parametersJsonSchema` instead, as is a root object with no
//! declared properties but open `additionalProperties`.

use serde_json::{Map, Value};

/// Keywords of the Gemini `Schema` copied as they are (besides the ones rewritten below).
const KEPT: &[&str] = &[
    "title",
    "description",
    "nullable",
    "maxItems",
    "minItems",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
];

/// `format` values the Gemini `Schema` accepts.
const FORMATS: &[&str] = &["enum", "date-time", "int32", "int64", "float", "double"];

/// How a function's parameters are declared.
#[derive(Debug, PartialEq)]
pub(super) enum Params {
    /// `parameters`: the OpenAPI-subset schema.
    Schema(Value),
    /// `parametersJsonSchema`: the client's JSON Schema, unchanged.
    JsonSchema(Value),
    /// No parameters.
    None,
}

/// The declaration of a function whose arguments follow `schema`.
pub(super) fn parameters(schema: &Value) -> Params {
    if uses_ref(schema) {
        return Params::JsonSchema(schema.clone());
    }
    let converted = convert(schema);
    let no_properties = converted
        .get("properties")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    let is_object = converted.get("type").and_then(Value::as_str) == Some("OBJECT");
    if is_object && no_properties {
        // The subset rejects an OBJECT without properties; an open one needs JSON Schema.
        let open = match schema.get("additionalProperties") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Object(_)) => true,
            _ => false,
        };
        return if open {
            Params::JsonSchema(schema.clone())
        } else {
            Params::None
        };
    }
    Params::Schema(converted)
}

fn uses_ref(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("$ref") || m.values().any(uses_ref),
        Value::Array(a) => a.iter().any(uses_ref),
        _ => false,
    }
}

/// One schema node, converted.
fn convert(v: &Value) -> Value {
    let Value::Object(src) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    if let Some(t) = src.get("type") {
        convert_type(t, &mut out);
    }
    for key in KEPT {
        if let Some(v) = src.get(*key) {
            out.entry(*key).or_insert_with(|| v.clone());
        }
    }
    if let Some(Value::String(f)) = src.get("format") {
        if FORMATS.contains(&f.as_str()) {
            out.insert("format".into(), Value::String(f.clone()));
        }
    }
    match (src.get("enum"), src.get("const")) {
        (Some(Value::Array(values)), _) if values.iter().all(Value::is_string) => {
            out.insert("enum".into(), Value::Array(values.clone()));
        }
        (None, Some(c @ Value::String(_))) => {
            out.insert("enum".into(), Value::Array(vec![c.clone()]));
        }
        _ => {}
    }
    if let Some(Value::Object(props)) = src.get("properties") {
        let props = props
            .iter()
            .map(|(k, v)| (k.clone(), convert(v)))
            .collect::<Map<_, _>>();
        out.insert("properties".into(), Value::Object(props));
    }
    match src.get("items") {
        Some(items @ Value::Object(_)) => {
            out.insert("items".into(), convert(items));
        }
        Some(Value::Array(tuple)) => {
            if let Some(first) = tuple.first() {
                out.insert("items".into(), convert(first));
            }
        }
        _ => {}
    }
    if let Some(Value::Array(alts)) = src.get("anyOf").or_else(|| src.get("oneOf")) {
        let alts: Vec<Value> = alts.iter().map(convert).collect();
        out.insert("anyOf".into(), Value::Array(alts));
    }
    if let Some(Value::Array(all)) = src.get("allOf") {
        if let [only] = all.as_slice() {
            if let Value::Object(merged) = convert(only) {
                for (k, v) in merged {
                    out.entry(k).or_insert(v);
                }
            }
        }
    }
    Value::Object(out)
}

/// `type`: a name (upper-cased), or a list of names with `"null"` meaning nullable.
fn convert_type(t: &Value, out: &mut Map<String, Value>) {
    match t {
        Value::String(s) => {
            out.insert("type".into(), Value::String(s.to_ascii_uppercase()));
        }
        Value::Array(names) => {
            let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
            let real: Vec<&str> = names.iter().copied().filter(|n| *n != "null").collect();
            if real.len() < names.len() {
                out.insert("nullable".into(), Value::Bool(true));
            }
            match real.as_slice() {
                [] => {}
                [one] => {
                    out.insert("type".into(), Value::String(one.to_ascii_uppercase()));
                }
                many => {
                    let alts = many
                        .iter()
                        .map(|n| {
                            let mut m = Map::new();
                            m.insert("type".into(), Value::String(n.to_ascii_uppercase()));
                            Value::Object(m)
                        })
                        .collect();
                    out.insert("anyOf".into(), Value::Array(alts));
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn drops_rejected_keywords_and_rewrites_the_rest() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "city": {"type": "string", "description": "City", "format": "hostname"},
                "when": {"type": ["string", "null"], "format": "date-time"},
                "unit": {"const": "c"},
                "n": {"type": ["integer", "string"], "examples": [1]},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                "any": {"oneOf": [{"type": "string"}, {"type": "number"}]}
            },
            "required": ["city"]
        });
        let Params::Schema(out) = parameters(&schema) else {
            panic!("not a schema")
        };
        assert_eq!(
            out,
            json!({
                "type": "OBJECT",
                "properties": {
                    "city": {"type": "STRING", "description": "City"},
                    "when": {"type": "STRING", "nullable": true, "format": "date-time"},
                    "unit": {"enum": ["c"]},
                    "n": {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["a", "b"]}},
                    "any": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]}
                },
                "required": ["city"]
            })
        );
    }

    #[test]
    fn refs_go_as_json_schema_and_empty_objects_as_nothing() {
        let with_ref = json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}},
            "$defs": {"A": {"type": "string"}}});
        assert_eq!(parameters(&with_ref), Params::JsonSchema(with_ref.clone()));
        let empty = json!({"type": "object", "properties": {}, "additionalProperties": false});
        assert_eq!(parameters(&empty), Params::None);
        let open = json!({"type": "object", "additionalProperties": true});
        assert_eq!(parameters(&open), Params::JsonSchema(open.clone()));
    }
}
