//! The top-level `cache:` section: where the response cache keeps its entries.

use serde_norway::Value;

use super::ctx::Ctx;
use crate::runtime::{CacheBackend, CacheStoreConfig};

const FIELDS: &[&str] = &["backend", "max_bytes", "max_entries", "timeout"];

/// The storage settings when the file has no `cache:` section.
pub(super) fn default_store(redis: bool) -> CacheStoreConfig {
    CacheStoreConfig {
        backend: if redis {
            CacheBackend::Redis
        } else {
            CacheBackend::Memory
        },
        ..CacheStoreConfig::default()
    }
}

/// Reads `cache:`; `redis` says whether a Redis URL is configured.
pub(super) fn cache(ctx: &mut Ctx<'_>, value: &Value, redis: bool) -> Option<CacheStoreConfig> {
    let mut store = default_store(redis);
    let map = ctx.object(value, FIELDS, &[])?;
    if let Some(backend) = ctx.field(map, "backend", |ctx, v| match ctx.string(v)?.as_str() {
        "memory" => Some(CacheBackend::Memory),
        "redis" if redis => Some(CacheBackend::Redis),
        "redis" => {
            ctx.issue("the redis backend needs a Redis URL in the top-level `redis:`");
            None
        }
        other => {
            let msg =
                super::ctx::unknown("backend", other, &["memory", "redis"], "expected one of");
            ctx.issue(msg);
            None
        }
    }) {
        store.backend = backend;
    }
    if let Some(max) = ctx.field(map, "max_bytes", Ctx::size) {
        if max == 0 {
            ctx.issue_at("max_bytes", "must be greater than 0");
        } else {
            store.max_bytes = max;
        }
    }
    if let Some(max) = ctx.field(map, "max_entries", |ctx, v| ctx.whole(v, 1)) {
        store.max_entries = u64::from(max);
    }
    if let Some(timeout) = ctx.field(map, "timeout", Ctx::positive_duration) {
        store.timeout = timeout;
    }
    Some(store)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use crate::parse_str;
    use crate::runtime::{CacheBackend, CacheScope, SemanticCacheConfig};

    const MODEL: &str = "providers: { openai: {} }\nmodels:\n  - { name: fast, targets: [ { provider: openai, model: m } ], cache: { ttl: 1h } }\n";

    #[test]
    fn defaults_follow_redis() {
        let c = parse_str("", &|_| None).unwrap().cache;
        assert_eq!(c.backend, CacheBackend::Memory);
        assert_eq!(
            (c.max_bytes, c.max_entries, c.timeout),
            (256 << 20, 100_000, Duration::from_millis(250))
        );
        let c = parse_str("redis: redis://127.0.0.1:6379\n", &|_| None).unwrap();
        assert_eq!(c.cache.backend, CacheBackend::Redis);
    }

    #[test]
    fn reads_every_field() {
        let c = parse_str(
            "redis: redis://h\ncache: { backend: memory, max_bytes: 10MiB, max_entries: 50, timeout: 1s }\n",
            &|_| None,
        )
        .unwrap();
        let s = c.cache.clone();
        assert_eq!(s.backend, CacheBackend::Memory);
        assert_eq!(
            (s.max_bytes, s.max_entries, s.timeout),
            (10 << 20, 50, Duration::from_secs(1))
        );
    }

    #[test]
    fn reports_problems_with_paths() {
        let lines = parse_str(
            "cache: { backend: redis, max_bytes: 0, max_entries: 0, tiemout: 1s }\n",
            &|_| None,
        )
        .unwrap_err()
        .lines();
        let text = lines.join("\n");
        for needle in [
            "cache.backend: the redis backend needs a Redis URL",
            "cache.max_bytes: must be greater than 0",
            "cache.max_entries:",
            "cache.tiemout: unknown field",
        ] {
            assert!(text.contains(needle), "{needle} in\n{text}");
        }
    }

    #[test]
    fn model_scopes_and_warnings() {
        let c = parse_str(MODEL, &|_| None).unwrap();
        assert_eq!(c.models[0].cache.as_ref().unwrap().scope, CacheScope::Key);
        let team = MODEL.replace("ttl: 1h", "ttl: 1h, scope: team");
        let c = parse_str(&team, &|_| None).unwrap();
        assert_eq!(c.models[0].cache.as_ref().unwrap().scope, CacheScope::Team);
        let global = MODEL.replace("ttl: 1h", "ttl: 1h, scope: global");
        let c = parse_str(&format!("redis: redis://h\n{global}"), &|_| None).unwrap();
        assert_eq!(
            c.models[0].cache.as_ref().unwrap().scope,
            CacheScope::Global
        );
        let bad = MODEL.replace("ttl: 1h", "ttl: 1h, scope: tenant");
        let lines = parse_str(&bad, &|_| None).unwrap_err().lines();
        assert!(
            lines[0].starts_with("models[0].cache.scope: unknown scope \"tenant\""),
            "{lines:?}"
        );
    }

    #[test]
    fn semantic_settings_are_read_and_checked() {
        let models = "providers: { openai: {} }\nmodels:\n  - { name: embed, targets: [ { provider: openai, model: e } ] }\n  - { name: fast, targets: [ { provider: openai, model: m } ], cache: { ttl: 1h, semantic: SEMANTIC } }\n";
        let parse = |semantic: &str| parse_str(&models.replace("SEMANTIC", semantic), &|_| None);
        let c = parse("{ embedder: embed }").unwrap();
        let s = c.models[1]
            .cache
            .as_ref()
            .unwrap()
            .semantic
            .clone()
            .unwrap();
        assert_eq!(s, SemanticCacheConfig::new("embed"));
        let c = parse(
            "{ embedder: embed, threshold: 0.9, max_temperature: 0.7, skip_tools: false, embed_timeout: 50ms }",
        )
        .unwrap();
        let s = c.models[1]
            .cache
            .as_ref()
            .unwrap()
            .semantic
            .clone()
            .unwrap();
        assert_eq!(
            (
                s.threshold,
                s.max_temperature,
                s.skip_tools,
                s.embed_timeout
            ),
            (0.9, 0.7, false, Duration::from_millis(50))
        );
        let lines = parse(
            "{ embedder: embedd, threshold: 0, max_temperature: -1, skip_tools: maybe, embed_timeout: 0s, k: 3 }",
        )
        .unwrap_err()
        .lines();
        let text = lines.join("\n");
        for needle in [
            "models[1].cache.semantic.k: unknown field",
            r#"models[1].cache.semantic.embedder: unknown model "embedd"; known: embed, fast; did you mean "embed"?"#,
            "models[1].cache.semantic.threshold: expected a number greater than 0 and at most 1",
            "models[1].cache.semantic.max_temperature: expected a number of at least 0, got -1",
            "models[1].cache.semantic.skip_tools: expected true or false",
            "models[1].cache.semantic.embed_timeout: must be greater than 0",
        ] {
            assert!(text.contains(needle), "{needle} in\n{text}");
        }
    }
}
