//! Replacing one top-level field of a JSON object while keeping every other byte as sent.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The top-level fields of a JSON object, in order, each value left as raw text.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `object` (a JSON object) with top-level `key` set to the JSON string `value`, every other
/// field's bytes unchanged. `None` when `object` is not a JSON object.
pub(super) fn with_string_field(object: &[u8], key: &str, value: &str) -> Option<Vec<u8>> {
    let fields: Fields<'_> = serde_json::from_slice(object).ok()?;
    let mut out = Vec::with_capacity(object.len() + value.len());
    out.push(b'{');
    let mut replaced = false;
    for (k, v) in &fields.0 {
        if out.len() > 1 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, k).ok()?;
        out.push(b':');
        if k == key {
            serde_json::to_writer(&mut out, value).ok()?;
            replaced = true;
        } else {
            out.extend_from_slice(v.get().as_bytes());
        }
    }
    if !replaced {
        if out.len() > 1 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, key).ok()?;
        out.push(b':');
        serde_json::to_writer(&mut out, value).ok()?;
    }
    out.push(b'}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_named_field_and_keeps_the_rest_byte_for_byte() {
        let body = br#"{"model":"fast", "messages":[{"role":"user","content":null}],"stop":null,"t":1.50,"e":"\u00e9"}"#;
        let out = with_string_field(body, "model", "gpt-4o-mini").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":null}],"stop":null,"t":1.50,"e":"\u00e9"}"#
        );
    }

    #[test]
    fn adds_a_missing_field_and_refuses_non_objects() {
        assert_eq!(
            with_string_field(b"{}", "model", "m").unwrap(),
            br#"{"model":"m"}"#
        );
        assert!(with_string_field(b"[1]", "model", "m").is_none());
        assert!(with_string_field(br#"{"a":"\"q\""}"#, "model", "m").is_some());
    }
}
