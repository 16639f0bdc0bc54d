//! Compiling a schema document into the validator's node arena.

use std::collections::HashMap;

use regex::Regex;
use serde_json::{Map, Value};

use super::{Node, Rules, SchemaError, Type};

/// The nodes of `schema`, the root first.
pub(super) fn compile(schema: &Value) -> Result<Vec<Node>, SchemaError> {
    let mut c = Compiler {
        root: schema,
        nodes: Vec::new(),
        seen: HashMap::new(),
    };
    c.compile(schema, String::new())?;
    Ok(c.nodes)
}

struct Compiler<'a> {
    root: &'a Value,
    nodes: Vec<Node>,
    /// Node index by JSON pointer, so that `$ref`s (recursive ones too) share nodes.
    seen: HashMap<String, usize>,
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Compiler<'_> {
    fn compile(&mut self, schema: &Value, pointer: String) -> Result<usize, SchemaError> {
        if let Some(&at) = self.seen.get(&pointer) {
            return Ok(at);
        }
        let at = self.nodes.len();
        self.nodes.push(Node::Any);
        self.seen.insert(pointer.clone(), at);
        let node = match schema {
            Value::Bool(true) => Node::Any,
            Value::Bool(false) => Node::Never,
            Value::Object(map) => Node::Rules(Box::new(self.rules(map, &pointer)?)),
            _ => return Err(err(&pointer, "a schema must be an object or a boolean")),
        };
        self.nodes[at] = node;
        Ok(at)
    }

    fn sub(
        &mut self,
        map: &Map<String, Value>,
        key: &str,
        pointer: &str,
    ) -> Result<Option<usize>, SchemaError> {
        map.get(key)
            .map(|s| self.compile(s, format!("{pointer}/{key}")))
            .transpose()
    }

    fn list(
        &mut self,
        map: &Map<String, Value>,
        key: &str,
        pointer: &str,
    ) -> Result<Vec<usize>, SchemaError> {
        let Some(v) = map.get(key) else {
            return Ok(Vec::new());
        };
        let items = v
            .as_array()
            .ok_or_else(|| err(pointer, &format!("{key} must be an array")))?;
        items
            .iter()
            .enumerate()
            .map(|(i, s)| self.compile(s, format!("{pointer}/{key}/{i}")))
            .collect()
    }

    fn rules(&mut self, map: &Map<String, Value>, pointer: &str) -> Result<Rules, SchemaError> {
        let bad = |key: &str, what: &str| err(pointer, &format!("{key} must be {what}"));
        let count = |key: &str| -> Result<Option<usize>, SchemaError> {
            map.get(key)
                .map(|v| {
                    v.as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(|| bad(key, "a non-negative integer"))
                })
                .transpose()
        };
        let number = |key: &str| -> Result<Option<f64>, SchemaError> {
            map.get(key)
                .map(|v| v.as_f64().ok_or_else(|| bad(key, "a number")))
                .transpose()
        };
        let regex =
            |key: &str, p: &str| Regex::new(p).map_err(|e| err(pointer, &format!("{key}: {e}")));
        let mut r = Rules {
            min_properties: count("minProperties")?,
            max_properties: count("maxProperties")?,
            min_items: count("minItems")?,
            max_items: count("maxItems")?,
            min_length: count("minLength")?,
            max_length: count("maxLength")?,
            minimum: number("minimum")?,
            maximum: number("maximum")?,
            exclusive_minimum: number("exclusiveMinimum")?,
            exclusive_maximum: number("exclusiveMaximum")?,
            multiple_of: number("multipleOf")?.filter(|m| *m > 0.0),
            unique_items: map
                .get("uniqueItems")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            enumeration: map
                .get("enum")
                .map(|e| e.as_array().cloned().ok_or_else(|| bad("enum", "an array")))
                .transpose()?,
            constant: map.get("const").cloned(),
            ..Rules::default()
        };
        r.types = match map.get("type") {
            None => Vec::new(),
            Some(Value::String(t)) => {
                vec![Type::parse(t).ok_or_else(|| bad("type", "a JSON type"))?]
            }
            Some(Value::Array(ts)) => ts
                .iter()
                .map(|t| {
                    t.as_str()
                        .and_then(Type::parse)
                        .ok_or_else(|| bad("type", "a list of JSON types"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("type", "a string or an array")),
        };
        if let Some(p) = map.get("pattern") {
            r.pattern = Some(regex(
                "pattern",
                p.as_str().ok_or_else(|| bad("pattern", "a string"))?,
            )?);
        }
        if let Some(req) = map.get("required") {
            r.required = req
                .as_array()
                .and_then(|a| a.iter().map(|k| k.as_str().map(str::to_owned)).collect())
                .ok_or_else(|| bad("required", "an array of strings"))?;
        }
        if let Some(props) = map.get("properties") {
            let props = props
                .as_object()
                .ok_or_else(|| bad("properties", "an object"))?;
            for (k, s) in props {
                let at = self.compile(s, format!("{pointer}/properties/{}", escape(k)))?;
                r.properties.push((k.clone(), at));
            }
        }
        if let Some(props) = map.get("patternProperties") {
            let props = props
                .as_object()
                .ok_or_else(|| bad("patternProperties", "an object"))?;
            for (k, s) in props {
                let at = self.compile(s, format!("{pointer}/patternProperties/{}", escape(k)))?;
                r.pattern_properties
                    .push((regex("patternProperties", k)?, at));
            }
        }
        r.additional = self.sub(map, "additionalProperties", pointer)?;
        r.items = self.sub(map, "items", pointer)?;
        r.prefix_items = self.list(map, "prefixItems", pointer)?;
        r.any_of = self.list(map, "anyOf", pointer)?;
        r.all_of = self.list(map, "allOf", pointer)?;
        r.one_of = self.list(map, "oneOf", pointer)?;
        r.not = self.sub(map, "not", pointer)?;
        if let Some(reference) = map.get("$ref") {
            let reference = reference.as_str().ok_or_else(|| bad("$ref", "a string"))?;
            let target_pointer = reference.strip_prefix('#').ok_or_else(|| {
                err(
                    pointer,
                    &format!("only local $refs are supported, not {reference}"),
                )
            })?;
            let target = self
                .root
                .pointer(target_pointer)
                .ok_or_else(|| err(pointer, &format!("$ref {reference} points nowhere")))?;
            r.reference = Some(self.compile(target, target_pointer.to_owned())?);
        }
        Ok(r)
    }
}

fn err(pointer: &str, message: &str) -> SchemaError {
    SchemaError {
        pointer: pointer.to_owned(),
        message: message.to_owned(),
    }
}
