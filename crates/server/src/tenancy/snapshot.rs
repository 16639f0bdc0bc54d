//! The in-memory view of every key, team, user and org, rebuilt whole from the store's rows
//! whenever they change, so the request path never queries the store.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use sluice_store::TenantRow;

use super::doc::{Doc, Kind, parse_time};

/// One tenant as the request path needs it.
#[derive(Debug)]
pub(crate) struct Tenant {
    /// What kind it is.
    pub kind: Kind,
    /// The document.
    pub doc: Doc,
    /// `doc.expires_at` in unix milliseconds.
    pub expires_at: Option<i64>,
    /// Whether the key was revoked.
    pub revoked: bool,
    /// The scope its limits and budget count under: `key:key_…`, `team:…`, `user:…`.
    scope: String,
}

impl Tenant {
    /// The scope its limits and budget count under: `key:key_…`, `team:…`, `user:…`.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Whether the allowlist admits `model` (an empty list admits every model).
    pub fn allows(&self, model: &str) -> bool {
        self.doc.models.is_empty() || self.doc.models.iter().any(|g| glob(g, model))
    }
}

/// The scope string of a tenant.
pub(crate) fn scope(kind: Kind, id: &str) -> String {
    format!("{}:{id}", kind.name())
}

/// Every tenant, indexed for the request path.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Keys by the hex SHA-256 of their secret.
    by_hash: HashMap<String, Arc<Tenant>>,
    /// Every tenant by kind and id.
    by_id: HashMap<(Kind, String), Arc<Tenant>>,
    /// Spend already persisted in the current budget period, by scope (nano-USD).
    pub seeds: HashMap<String, i64>,
}

impl Snapshot {
    /// Builds the view from the store's rows; rows that no longer parse are skipped with a
    /// warning (a key that cannot be read must not lock its team out).
    pub fn build(rows: Vec<TenantRow>, seeds: HashMap<String, i64>) -> Snapshot {
        let mut snap = Snapshot {
            seeds,
            ..Snapshot::default()
        };
        for row in rows {
            let Some(kind) = Kind::from_name(&row.kind) else {
                continue;
            };
            let doc = match Doc::parse(kind, &row.data) {
                Ok(doc) => doc,
                Err(e) => {
                    tracing::warn!(id = %row.id, "skipping a stored {} that does not parse: {}", row.kind, e.message());
                    continue;
                }
            };
            let tenant = Arc::new(Tenant {
                kind,
                expires_at: doc.expires_at.as_deref().and_then(parse_time),
                revoked: doc.revoked_at.is_some(),
                scope: scope(kind, &doc.id),
                doc,
            });
            if let Some(hash) = row.key_hash {
                snap.by_hash.insert(hash, tenant.clone());
            }
            snap.by_id
                .insert((kind, tenant.doc.id.clone()), tenant.clone());
        }
        snap
    }

    /// Whether some tenant has a tokens-per-minute limit or a budget (both need prompts
    /// counted).
    pub fn counts_tokens(&self) -> bool {
        self.by_id
            .values()
            .any(|t| t.doc.tpm.is_some() || t.doc.budget.is_some())
    }

    /// The key whose secret is `secret`.
    pub fn key(&self, secret: &str) -> Option<&Arc<Tenant>> {
        self.by_hash.get(&hash_secret(secret))
    }

    /// The tenant of `kind` with `id`.
    pub fn get(&self, kind: Kind, id: &str) -> Option<&Arc<Tenant>> {
        self.by_id.get(&(kind, id.to_owned()))
    }

    /// Every tenant of `kind`, by id.
    pub fn all(&self, kind: Kind) -> Vec<&Arc<Tenant>> {
        let mut out: Vec<_> = self
            .by_id
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, t)| t)
            .collect();
        out.sort_by(|a, b| a.doc.id.cmp(&b.doc.id));
        out
    }
}

/// The stored form of a key's secret: lowercase hex SHA-256.
pub(crate) fn hash_secret(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Whether `pattern` (with `*` matching any run of characters) matches `name` whole.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob("fast", "fast"));
        assert!(!glob("fast", "faster"));
        assert!(glob("openai/*", "openai/gpt-4o"));
        assert!(!glob("openai/*", "anthropic/claude"));
        assert!(glob("*", "anything"));
        assert!(glob("gpt-*-mini", "gpt-4o-mini"));
        assert!(!glob("gpt-*-mini", "gpt-4o"));
        assert!(glob("*mini", "gpt-4o-mini"));
        assert!(!glob("a*a", "a"));
        assert!(glob("a*a", "aa"));
    }

    #[test]
    fn secrets_hash_to_hex_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
