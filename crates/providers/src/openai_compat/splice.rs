//! Changing top-level fields of a JSON object while keeping every other byte as sent.

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

/// What becomes of one field.
#[derive(Debug, Clone, Copy)]
pub(super) enum Splice<'a> {
    /// The field's value becomes this JSON text.
    Set(&'a [u8]),
    /// The field's value must be an object (one is created when the field is absent or
    /// `null`) whose own fields are spliced in turn, keeping their other bytes.
    Merge(&'a [(&'a str, Splice<'a>)]),
}

/// `object` (a JSON object) with each named top-level field spliced: replaced where it is,
/// or appended after the others, in order, when absent. Every other field keeps its bytes.
/// `None` when `object` is not a JSON object, or a [`Splice::Merge`] meets a value that is
/// neither an object nor `null`.
pub(super) fn splice(object: &[u8], edits: &[(&str, Splice<'_>)]) -> Option<Vec<u8>> {
    let fields: Fields<'_> = serde_json::from_slice(object).ok()?;
    let mut out = Vec::with_capacity(object.len() + 64);
    out.push(b'{');
    let mut seen = vec![false; edits.len()];
    for (key, value) in &fields.0 {
        let text = match edits.iter().position(|(k, _)| k == key) {
            Some(i) => {
                seen[i] = true;
                apply(edits[i].1, Some(value.get()))?
            }
            None => Cow::Borrowed(value.get().as_bytes()),
        };
        push_field(&mut out, key, &text)?;
    }
    for ((key, edit), seen) in edits.iter().zip(seen) {
        if !seen {
            push_field(&mut out, key, &apply(*edit, None)?)?;
        }
    }
    out.push(b'}');
    Some(out)
}

/// The new JSON text of a field whose current text is `current` (`None` when absent).
fn apply<'a>(edit: Splice<'a>, current: Option<&str>) -> Option<Cow<'a, [u8]>> {
    match edit {
        Splice::Set(text) => Some(Cow::Borrowed(text)),
        Splice::Merge(inner) => match current {
            None | Some("null") => splice(b"{}", inner),
            Some(object) => splice(object.as_bytes(), inner),
        }
        .map(Cow::Owned),
    }
}

fn push_field(out: &mut Vec<u8>, key: &str, value: &[u8]) -> Option<()> {
    if out.len() > 1 {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, key).ok()?;
    out.push(b':');
    out.extend_from_slice(value);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(out: Option<Vec<u8>>) -> String {
        String::from_utf8(out.unwrap()).unwrap()
    }

    #[test]
    fn replaces_only_the_named_field_and_keeps_the_rest_byte_for_byte() {
        let body = br#"{"model":"fast", "messages":[{"role":"user","content":null}],"stop":null,"t":1.50,"e":"\u00e9"}"#;
        let out = splice(body, &[("model", Splice::Set(br#""gpt-4o-mini""#))]);
        assert_eq!(
            text(out),
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":null}],"stop":null,"t":1.50,"e":"\u00e9"}"#
        );
    }

    #[test]
    fn adds_missing_fields_in_order_and_refuses_non_objects() {
        let edits = [("model", Splice::Set(b"1")), ("n", Splice::Set(b"2"))];
        assert_eq!(text(splice(b"{}", &edits)), r#"{"model":1,"n":2}"#);
        assert_eq!(text(splice(br#"{"n":0}"#, &edits)), r#"{"n":2,"model":1}"#);
        assert!(splice(b"[1]", &edits).is_none());
        assert!(splice(br#"{"a":"\"q\""}"#, &edits).is_some());
    }

    #[test]
    fn merges_into_a_nested_object_keeping_its_other_fields() {
        let usage = [("include_usage", Splice::Set(b"true"))];
        let edits = [("stream_options", Splice::Merge(&usage))];
        let merged = |body: &[u8]| splice(body, &edits).map(|out| String::from_utf8(out).unwrap());
        assert_eq!(
            merged(br#"{"stream":true,"stream_options":{"x":[1, 2],"include_usage":false},"z":0}"#)
                .unwrap(),
            r#"{"stream":true,"stream_options":{"x":[1, 2],"include_usage":true},"z":0}"#
        );
        assert_eq!(
            merged(br#"{"stream_options": null }"#).unwrap(),
            r#"{"stream_options":{"include_usage":true}}"#
        );
        assert_eq!(
            merged(br#"{"a":1}"#).unwrap(),
            r#"{"a":1,"stream_options":{"include_usage":true}}"#
        );
        assert_eq!(merged(br#"{"stream_options":"yes"}"#), None);
    }
}
