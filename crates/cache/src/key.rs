//! The cache key: blake3 over a canonical form of everything in a request that changes the
//! answer, plus the scope that may see it.
//!
//! The canonical form is one compact JSON document:
//!
//! ```text
//! {"sluice_cache":1,"scope":"key:<sha-256 hex>","model":"<resolved group>","request":{…}}
//! ```
//!
//! `request` is the request's JSON (the client's own bytes when the gateway has them, else the
//! parsed request serialized) with these changes and no others:
//!
//! - the top-level fields in [`IGNORED_FIELDS`] and `model` are left out (the resolved group
//!   name stands in for `model`);
//! - whitespace outside strings is removed;
//! - a message `content` that is an array of exactly one part `{"type":"text","text":…}`
//!   (those two keys and nothing else) is written as that text, so it equals a plain string.
//!
//! Everything else is kept as written: key order, array order, numbers (`1` and `1.0`
//! differ), string escapes, whitespace inside strings, and default values (`"n":1` differs
//! from no `n`). Requests the gateway translated from another API (Anthropic Messages) have
//! no client bytes of the chat shape; their form is the parsed request serialized, whose
//! object keys come out in the parser's order (sorted), so their key order never matters.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use sha2::Digest;
use sluice_types::ChatRequest;

/// Version of the canonical form; a change makes every older entry unreachable.
pub const KEY_VERSION: u32 = 1;

/// Top-level request fields that never change the answer and so are not in the key.
pub const IGNORED_FIELDS: &[&str] = &["stream", "stream_options", "user", "metadata", "store"];

/// Whose cached answers a request may see: part of every key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope(Arc<str>);

impl Scope {
    /// Every client shares the entries.
    pub fn global() -> Self {
        Self("global".into())
    }

    /// The entries of one API key: `key:` and the SHA-256 of the key as the client presented
    /// it, or `anonymous` for requests without a key.
    pub fn for_key(key: Option<&str>) -> Self {
        match key.filter(|k| !k.is_empty()) {
            None => Self("anonymous".into()),
            Some(k) => Self(format!("key:{}", hex(&sha2::Sha256::digest(k.as_bytes()))).into()),
        }
    }

    /// The entries of one tenant of the gateway: `team:ID` for a team, `vkey:ID` for a
    /// virtual key (so a rotated secret keeps its entries).
    pub fn tenant(kind: &str, id: &str) -> Self {
        Self(format!("{kind}:{id}").into())
    }

    /// The scope's id as stored with entries (`global`, `anonymous`, `key:…`, `team:…`,
    /// `vkey:…`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The key of one cacheable request: its hash, and the model and scope it belongs to (kept
/// beside the hash so entries can be purged by either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    hash: [u8; 32],
    model: Arc<str>,
    scope: Scope,
}

impl CacheKey {
    /// The key of `req` routed to the model group `model`, seen by `scope`.
    pub fn new(req: &ChatRequest, model: &str, scope: Scope) -> Result<Self, serde_json::Error> {
        let form = canonical_form(req, model, &scope)?;
        Ok(Self {
            hash: *blake3::hash(&form).as_bytes(),
            model: model.into(),
            scope,
        })
    }

    /// The key with this hash, model and scope (a semantic row's answer).
    pub(crate) fn from_parts(hash: [u8; 32], model: Arc<str>, scope: Scope) -> Self {
        Self { hash, model, scope }
    }

    /// The 32-byte blake3 hash.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// The hash as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        hex(&self.hash)
    }

    /// The resolved model group.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }
}

/// The canonical form of `req` for the group `model` and `scope` (see the module docs).
pub fn canonical_form(
    req: &ChatRequest,
    model: &str,
    scope: &Scope,
) -> Result<Vec<u8>, serde_json::Error> {
    form(req, "sluice_cache", model, scope, false)
}

/// The canonical form of everything in `req` except the content of its last message: the
/// semantic cache's partition. It differs from [`canonical_form`] in its first field
/// (`"sluice_semantic"`, so the two never collide) and in the last message's `content`,
/// written as `null`; every other byte is the same, so the system prompt, earlier turns,
/// tools and parameters must match exactly for two requests to share a partition.
pub fn prefix_form(
    req: &ChatRequest,
    model: &str,
    scope: &Scope,
) -> Result<Vec<u8>, serde_json::Error> {
    form(req, "sluice_semantic", model, scope, true)
}

fn form(
    req: &ChatRequest,
    kind: &str,
    model: &str,
    scope: &Scope,
    mask_last: bool,
) -> Result<Vec<u8>, serde_json::Error> {
    let serialized;
    let json: &[u8] = match &req.raw {
        Some(raw) => raw,
        None => {
            serialized = serde_json::to_vec(req)?;
            &serialized
        }
    };
    let mut out = Vec::with_capacity(json.len() + 128);
    out.push(b'{');
    serde_json::to_writer(&mut out, kind)?;
    out.push(b':');
    out.extend_from_slice(KEY_VERSION.to_string().as_bytes());
    out.extend_from_slice(b",\"scope\":");
    serde_json::to_writer(&mut out, scope.as_str())?;
    out.extend_from_slice(b",\"model\":");
    serde_json::to_writer(&mut out, model)?;
    out.extend_from_slice(b",\"request\":");
    write_request(&mut out, json, mask_last)?;
    out.push(b'}');
    Ok(out)
}

/// The request object without the ignored fields and `model`, messages normalised (the last
/// one's content written as `null` when `mask_last`).
fn write_request(out: &mut Vec<u8>, json: &[u8], mask_last: bool) -> Result<(), serde_json::Error> {
    let fields: Ordered<'_> = serde_json::from_slice(json)?;
    out.push(b'{');
    let mut first = true;
    for (name, value) in &fields.0 {
        if name == "model" || IGNORED_FIELDS.contains(&name.as_str()) {
            continue;
        }
        field_name(out, &mut first, name)?;
        if name == "messages" {
            write_messages(out, value, mask_last)?;
        } else {
            minify(out, value.get());
        }
    }
    out.push(b'}');
    Ok(())
}

/// `messages`: each message object with its content normalised; anything else as written.
fn write_messages(
    out: &mut Vec<u8>,
    raw: &RawValue,
    mask_last: bool,
) -> Result<(), serde_json::Error> {
    let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) else {
        minify(out, raw.get());
        return Ok(());
    };
    out.push(b'[');
    let last = items.len().saturating_sub(1);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_message(out, item, mask_last && i == last)?;
    }
    out.push(b']');
    Ok(())
}

fn write_message(out: &mut Vec<u8>, raw: &RawValue, mask: bool) -> Result<(), serde_json::Error> {
    let Ok(fields) = serde_json::from_str::<Ordered<'_>>(raw.get()) else {
        minify(out, raw.get());
        return Ok(());
    };
    out.push(b'{');
    let mut first = true;
    for (name, value) in &fields.0 {
        field_name(out, &mut first, name)?;
        if name == "content" && mask {
            out.extend_from_slice(b"null");
            continue;
        }
        let text = (name == "content")
            .then(|| single_text_part(value))
            .flatten();
        minify(out, text.unwrap_or(value).get());
    }
    out.push(b'}');
    Ok(())
}

/// The text of content that is exactly `[{"type":"text","text":"…"}]`.
fn single_text_part(raw: &RawValue) -> Option<&RawValue> {
    if !raw.get().trim_start().starts_with('[') {
        return None;
    }
    let parts: Vec<&RawValue> = serde_json::from_str(raw.get()).ok()?;
    let [part] = parts.as_slice() else {
        return None;
    };
    let fields: Ordered<'_> = serde_json::from_str(part.get()).ok()?;
    if fields.0.len() != 2 {
        return None;
    }
    let get = |k: &str| fields.0.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let is_text = get("type")
        .and_then(|t| serde_json::from_str::<String>(t.get()).ok())
        .is_some_and(|t| t == "text");
    let text = get("text").filter(|t| t.get().trim_start().starts_with('"'))?;
    is_text.then_some(text)
}

/// Writes `,"name":` (no comma before the first field).
fn field_name(out: &mut Vec<u8>, first: &mut bool, name: &str) -> Result<(), serde_json::Error> {
    if !std::mem::take(first) {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, name)?;
    out.push(b':');
    Ok(())
}

/// Copies valid JSON text without the whitespace between tokens; strings are copied byte
/// for byte, escapes included.
fn minify(out: &mut Vec<u8>, json: &str) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            in_string = b == b'"';
            out.push(b);
        }
    }
}

/// A JSON object's fields in the order written, values left as raw text.
struct Ordered<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Ordered<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Fields<'a> {
            type Value = Ordered<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<'a>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Fields(PhantomData))
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
