//! The `models:` section: a list of model aliases.

use std::collections::HashMap;

use serde_norway::{Mapping, Value};

use super::ctx::{Ctx, closest};
use crate::runtime::{
    CacheConfig, CircuitConfig, ClassSet, ErrorClass, HedgeAfter, ModelConfig, ModelTimeouts,
    RetryConfig, SemanticCacheConfig, SplitVariant, Strategy, TargetConfig,
};

const FIELDS: &[&str] = &[
    "name",
    "strategy",
    "targets",
    "fallbacks",
    "retry",
    "timeout",
    "circuit",
    "hedge",
    "split",
    "cache",
    "rpm",
    "tpm",
    "guardrails",
];
const TARGET_FIELDS: &[&str] = &["provider", "model", "weight", "rpm", "tpm"];
const RETRY_FIELDS: &[&str] = &["max", "backoff", "on", "fallback_on", "stream_hold"];
const TIMEOUT_FIELDS: &[&str] = &["first_byte", "total", "idle"];
const CIRCUIT_FIELDS: &[&str] = &[
    "failures",
    "error_ratio",
    "window",
    "min_requests",
    "cooldown",
    "probes",
];
const CACHE_FIELDS: &[&str] = &["ttl", "scope", "semantic"];
const SEMANTIC_FIELDS: &[&str] = &[
    "embedder",
    "threshold",
    "max_temperature",
    "skip_tools",
    "embed_timeout",
];

/// Names declared anywhere in the file, so references can be checked in any order.
pub(super) struct Names<'a> {
    /// Keys of `providers`, including providers with problems.
    pub(super) providers: &'a [String],
    /// `name`s of `models`, including models with problems.
    pub(super) models: &'a [String],
    /// Keys of `guardrails`, including checks with problems.
    pub(super) guardrails: &'a [String],
}

/// Reads `models:`, in file order. Models with problems are left out.
pub(super) fn models(ctx: &mut Ctx<'_>, value: &Value, names: &Names<'_>) -> Vec<ModelConfig> {
    let Some(items) = ctx.list(value) else {
        return Vec::new();
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let model = ctx.index(index, |ctx| {
            let model = model(ctx, item, names)?;
            if let Some(first) = seen.get(&model.name) {
                ctx.issue_at(
                    "name",
                    format!(
                        "duplicate model name \"{}\" (also models[{first}])",
                        model.name
                    ),
                );
                return None;
            }
            seen.insert(model.name.clone(), index);
            Some(model)
        });
        out.extend(model);
    }
    out
}

/// Reads one model; the path is already `models[i]`.
fn model(ctx: &mut Ctx<'_>, value: &Value, names: &Names<'_>) -> Option<ModelConfig> {
    let map = ctx.object(value, FIELDS, &[])?;
    let name = ctx.required(map, "name", Ctx::non_empty);
    let strategy = ctx.field(map, "strategy", strategy).unwrap_or_default();
    let split = ctx.field(map, "split", |ctx, value| {
        split(ctx, value, name.as_deref(), names)
    });
    let targets = match (&split, map.get("targets")) {
        (Some(_), None) => Some(Vec::new()),
        (Some(_), Some(_)) => {
            ctx.issue_at("split", "a model has either targets or a split, not both");
            None
        }
        (None, _) => ctx.required(map, "targets", |ctx, value| targets(ctx, value, names)),
    };
    let fallbacks = ctx.field(map, "fallbacks", |ctx, value| {
        fallbacks(ctx, value, name.as_deref(), names)
    });
    let retry = ctx.field(map, "retry", retry).unwrap_or_default();
    let timeout = ctx.field(map, "timeout", timeout).unwrap_or_default();
    let circuit = ctx.field(map, "circuit", circuit).unwrap_or_default();
    let hedge = ctx.field(map, "hedge", hedge);
    let cache = ctx.field(map, "cache", |ctx, value| cache(ctx, value, names));
    let rpm = ctx
        .field(map, "rpm", |ctx, v| ctx.whole(v, 1))
        .map(u64::from);
    let tpm = ctx
        .field(map, "tpm", |ctx, v| ctx.whole(v, 1))
        .map(u64::from);
    let guardrails = ctx.field(map, "guardrails", |ctx, value| {
        super::guardrails::names(ctx, value, names.guardrails)
    });
    Some(ModelConfig {
        name: name?,
        strategy,
        targets: targets?,
        fallbacks: fallbacks.unwrap_or_default(),
        retry,
        timeout,
        split: split.unwrap_or_default(),
        circuit,
        hedge,
        cache,
        rpm,
        tpm,
        guardrails: guardrails.unwrap_or_default(),
    })
}

fn strategy(ctx: &mut Ctx<'_>, value: &Value) -> Option<Strategy> {
    let name = ctx.string(value)?;
    let strategy = Strategy::from_name(&name);
    if strategy.is_none() {
        let known: Vec<&str> = Strategy::NAMES.iter().map(|(name, _)| *name).collect();
        ctx.issue(super::ctx::unknown(
            "strategy",
            &name,
            &known,
            "expected one of",
        ));
    }
    strategy
}

/// `targets:`: a non-empty list of `{provider, model, weight, rpm, tpm}`.
fn targets(ctx: &mut Ctx<'_>, value: &Value, names: &Names<'_>) -> Option<Vec<TargetConfig>> {
    let items = ctx.list(value)?;
    if items.is_empty() {
        ctx.issue("must list at least one target");
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (index, item) in items.iter().enumerate() {
        match ctx.index(index, |ctx| target(ctx, item, names)) {
            Some(target) => out.push(target),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn target(ctx: &mut Ctx<'_>, value: &Value, names: &Names<'_>) -> Option<TargetConfig> {
    let map = ctx.object(value, TARGET_FIELDS, &[])?;
    let provider = ctx.required(map, "provider", |ctx, value| {
        let provider = ctx.non_empty(value)?;
        if !names.providers.contains(&provider) {
            ctx.issue(format!(
                "unknown provider \"{provider}\"; known: {}",
                known(names.providers)
            ));
            return None;
        }
        Some(provider)
    });
    let model = ctx.required(map, "model", Ctx::non_empty);
    let weight = ctx
        .field(map, "weight", |ctx, value| ctx.whole(value, 1))
        .unwrap_or(1);
    let rpm = ctx.field(map, "rpm", |ctx, value| ctx.whole(value, 1));
    let tpm = ctx.field(map, "tpm", |ctx, value| ctx.whole(value, 1));
    Some(TargetConfig {
        provider: provider?,
        model: model?,
        weight,
        rpm,
        tpm,
    })
}

/// `fallbacks:`: names of other models.
fn fallbacks(
    ctx: &mut Ctx<'_>,
    value: &Value,
    this: Option<&str>,
    names: &Names<'_>,
) -> Option<Vec<String>> {
    let items = ctx.list(value)?;
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let fallback = ctx.index(index, |ctx| {
            let name = ctx.non_empty(item)?;
            if Some(name.as_str()) == this {
                ctx.issue(format!("model \"{name}\" cannot fall back to itself"));
                return None;
            }
            model_ref(ctx, name, names)
        });
        out.extend(fallback);
    }
    Some(out)
}

/// Checks that `name` is one of the file's models.
pub(super) fn model_ref(ctx: &mut Ctx<'_>, name: String, names: &Names<'_>) -> Option<String> {
    if names.models.contains(&name) {
        return Some(name);
    }
    let mut message = format!("unknown model \"{name}\"; known: {}", known(names.models));
    if let Some(close) = closest(&name, names.models.iter().map(String::as_str)) {
        message.push_str(&format!("; did you mean \"{close}\"?"));
    }
    ctx.issue(message);
    None
}

fn retry(ctx: &mut Ctx<'_>, value: &Value) -> Option<RetryConfig> {
    let map = ctx.object(value, RETRY_FIELDS, &[])?;
    let mut retry = RetryConfig::default();
    if let Some(max) = ctx.field(map, "max", |ctx, value| ctx.whole(value, 0)) {
        retry.max = max;
    }
    if let Some(backoff) = ctx.field(map, "backoff", Ctx::duration) {
        retry.backoff = backoff;
    }
    if let Some(on) = ctx.field(map, "on", classes) {
        retry.on = on;
    }
    if let Some(on) = ctx.field(map, "fallback_on", classes) {
        retry.fallback_on = on;
    }
    if let Some(hold) = ctx.field(map, "stream_hold", Ctx::duration) {
        retry.stream_hold = hold;
    }
    Some(retry)
}

/// A list of error class names (`connect`, `timeout`, `5xx`, `429`, …).
fn classes(ctx: &mut Ctx<'_>, value: &Value) -> Option<ClassSet> {
    let items = ctx.list(value)?;
    let mut found = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let class = ctx.index(index, |ctx| {
            let text = ctx.string(item)?;
            let class = ErrorClass::from_name(&text);
            if class.is_none() {
                let known: Vec<&str> = ErrorClass::ALL.iter().map(|c| c.name()).collect();
                ctx.issue(super::ctx::unknown("error class", &text, &known, "known"));
            }
            class
        });
        found.extend(class);
    }
    Some(ClassSet::of(&found))
}

/// `split: [ { model, weight } ]`: variants are other models of the file.
fn split(
    ctx: &mut Ctx<'_>,
    value: &Value,
    this: Option<&str>,
    names: &Names<'_>,
) -> Option<Vec<SplitVariant>> {
    let items = ctx.list(value)?;
    if items.len() < 2 {
        ctx.issue("a split needs at least two variants");
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (index, item) in items.iter().enumerate() {
        let variant = ctx.index(index, |ctx| {
            let map = ctx.object(item, &["model", "weight"], &[])?;
            let model = ctx.required(map, "model", |ctx, value| {
                let name = ctx.non_empty(value)?;
                if Some(name.as_str()) == this {
                    ctx.issue(format!("model \"{name}\" cannot split to itself"));
                    return None;
                }
                model_ref(ctx, name, names)
            });
            let weight = ctx
                .field(map, "weight", |ctx, value| ctx.whole(value, 1))
                .unwrap_or(1);
            Some(SplitVariant {
                model: model?,
                weight,
            })
        });
        match variant {
            Some(v) => out.push(v),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `hedge: { after: 2s }` or `hedge: { after: p95 }`.
fn hedge(ctx: &mut Ctx<'_>, value: &Value) -> Option<HedgeAfter> {
    let map = ctx.object(value, &["after"], &[])?;
    ctx.required(map, "after", |ctx, value| {
        let percentile = value
            .as_str()
            .and_then(|s| s.strip_prefix('p'))
            .map(|n| n.parse::<u8>().ok().filter(|n| (50..=99).contains(n)));
        match percentile {
            Some(Some(p)) => Some(HedgeAfter::Percentile(p)),
            Some(None) => ctx.expected("a percentile from p50 to p99, or a duration", value),
            None => ctx.positive_duration(value).map(HedgeAfter::Fixed),
        }
    })
}

fn circuit(ctx: &mut Ctx<'_>, value: &Value) -> Option<CircuitConfig> {
    let map = ctx.object(value, CIRCUIT_FIELDS, &[])?;
    let mut c = CircuitConfig::default();
    if let Some(v) = ctx.field(map, "failures", |ctx, value| ctx.whole(value, 1)) {
        c.failures = v;
    }
    if let Some(v) = ctx.field(map, "error_ratio", Ctx::fraction) {
        c.error_ratio = v;
    }
    if let Some(v) = ctx.field(map, "window", Ctx::positive_duration) {
        c.window = v;
    }
    if let Some(v) = ctx.field(map, "min_requests", |ctx, value| ctx.whole(value, 1)) {
        c.min_requests = v;
    }
    if let Some(v) = ctx.field(map, "cooldown", Ctx::positive_duration) {
        c.cooldown = v;
    }
    if let Some(v) = ctx.field(map, "probes", |ctx, value| ctx.whole(value, 1)) {
        c.probes = v;
    }
    Some(c)
}

fn timeout(ctx: &mut Ctx<'_>, value: &Value) -> Option<ModelTimeouts> {
    let map = ctx.object(value, TIMEOUT_FIELDS, &[])?;
    Some(ModelTimeouts {
        first_byte: ctx.field(map, "first_byte", Ctx::positive_duration),
        total: ctx.field(map, "total", Ctx::positive_duration),
        idle: ctx.field(map, "idle", Ctx::positive_duration),
    })
}

fn cache(ctx: &mut Ctx<'_>, value: &Value, names: &Names<'_>) -> Option<CacheConfig> {
    let map = ctx.object(value, CACHE_FIELDS, &[])?;
    let ttl = ctx.required(map, "ttl", Ctx::positive_duration);
    let scope = ctx.field(map, "scope", cache_scope).unwrap_or_default();
    let semantic = ctx.field(map, "semantic", |ctx, value| semantic(ctx, value, names));
    Some(CacheConfig {
        ttl: ttl?,
        scope,
        semantic,
    })
}

fn cache_scope(ctx: &mut Ctx<'_>, value: &Value) -> Option<crate::runtime::CacheScope> {
    let names = crate::runtime::CacheScope::NAMES;
    let name = ctx.string(value)?;
    let found = names.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
    if found.is_none() {
        let known: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
        let msg = super::ctx::unknown("scope", &name, &known, "expected one of");
        ctx.issue(msg);
    }
    found
}

fn semantic(ctx: &mut Ctx<'_>, value: &Value, names: &Names<'_>) -> Option<SemanticCacheConfig> {
    let map: &Mapping = ctx.object(value, SEMANTIC_FIELDS, &[])?;
    let embedder = ctx.required(map, "embedder", |ctx, value| {
        let name = ctx.non_empty(value)?;
        model_ref(ctx, name, names)
    });
    let threshold = ctx.field(map, "threshold", Ctx::fraction);
    let max_temperature = ctx.field(map, "max_temperature", non_negative);
    let skip_tools = ctx.field(map, "skip_tools", Ctx::bool);
    let embed_timeout = ctx.field(map, "embed_timeout", Ctx::positive_duration);
    let mut c = SemanticCacheConfig::new(embedder?);
    c.threshold = threshold.unwrap_or(c.threshold);
    c.max_temperature = max_temperature.unwrap_or(c.max_temperature);
    c.skip_tools = skip_tools.unwrap_or(c.skip_tools);
    c.embed_timeout = embed_timeout.unwrap_or(c.embed_timeout);
    Some(c)
}

/// A number of at least 0 (`${VAR}` allowed).
fn non_negative(ctx: &mut Ctx<'_>, value: &Value) -> Option<f64> {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) if text.contains("${") => ctx.string(value)?.trim().parse().ok(),
        _ => None,
    };
    match number {
        Some(n) if n.is_finite() && n >= 0.0 => Some(n),
        _ => ctx.expected("a number of at least 0", value),
    }
}

/// `a, b, c`, or `(none)`.
fn known(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::parse_str;

    const PROVIDERS: &str = "providers: { openai: {}, groq: {} }\n";

    fn parse(models: &str) -> Result<Vec<ModelConfig>, Vec<String>> {
        parse_str(&format!("{PROVIDERS}models:\n{models}"), &|_| None)
            .map(|c| c.models)
            .map_err(|e| e.lines())
    }

    #[test]
    fn reads_every_field() {
        let models = parse(
            r#"
  - name: fast
    strategy: least-latency
    targets:
      - { provider: openai, model: gpt-4o-mini, weight: 3 }
      - { provider: groq, model: llama }
    fallbacks: [smart]
    retry: { max: 2, backoff: 100ms }
    timeout: { first_byte: 15s }
    cache: { ttl: 1h, semantic: { embedder: embed } }
  - name: smart
    targets: [ { provider: openai, model: gpt-4o } ]
  - name: embed
    targets: [ { provider: openai, model: text-embedding-3-small } ]
"#,
        )
        .unwrap();
        let fast = &models[0];
        assert_eq!(fast.strategy, Strategy::LeastLatency);
        assert_eq!(fast.targets.len(), 2);
        assert_eq!((fast.targets[0].weight, fast.targets[1].weight), (3, 1));
        assert_eq!(fast.fallbacks, ["smart"]);
        assert_eq!(
            fast.retry,
            RetryConfig {
                max: 2,
                backoff: Duration::from_millis(100),
                ..RetryConfig::default()
            }
        );
        assert_eq!(
            fast.timeout,
            ModelTimeouts {
                first_byte: Some(Duration::from_secs(15)),
                total: None,
                idle: None,
            }
        );
        let cache = fast.cache.as_ref().unwrap();
        assert_eq!(cache.ttl, Duration::from_secs(3600));
        assert_eq!(cache.semantic, Some(SemanticCacheConfig::new("embed")));
        let semantic = SemanticCacheConfig::new("embed");
        assert_eq!(
            (
                semantic.threshold,
                semantic.max_temperature,
                semantic.skip_tools
            ),
            (0.95, 1.0, true)
        );
        assert_eq!(semantic.embed_timeout, Duration::from_millis(200));
        let smart = &models[1];
        assert_eq!(smart.strategy, Strategy::P2c);
        assert_eq!(smart.retry, RetryConfig::default());
        assert!(smart.cache.is_none() && smart.fallbacks.is_empty());
    }

    #[test]
    fn reports_every_problem() {
        let lines = parse(
            r#"
  - name: fast
    strategy: fastest
    targets:
      - { provider: opnai, model: "", weight: 0 }
      - { model: x, tier: 1 }
    fallbacks: [fast, slow]
    retry: { max: -1 }
    cache: { semantic: { embedder: fast, threshold: 1.5 } }
    guardrails: [pii]
  - name: fast
    targets: []
  - strategy: p2c
"#,
        )
        .unwrap_err();
        assert_eq!(
            lines,
            [
                r#"models[0].strategy: unknown strategy "fastest"; expected one of: p2c, weighted, round-robin, least-latency, least-cost, ordered"#,
                r#"models[0].targets[0].provider: unknown provider "opnai"; known: openai, groq"#,
                "models[0].targets[0].model: must not be empty",
                "models[0].targets[0].weight: expected a whole number of at least 1, got 0",
                r#"models[0].targets[1].tier: unknown field "tier"; expected one of: provider, model, weight, rpm, tpm"#,
                r#"models[0].targets[1]: missing required field "provider""#,
                r#"models[0].fallbacks[0]: model "fast" cannot fall back to itself"#,
                r#"models[0].fallbacks[1]: unknown model "slow"; known: fast"#,
                "models[0].retry.max: expected a whole number of at least 0, got -1",
                r#"models[0].cache: missing required field "ttl""#,
                "models[0].cache.semantic.threshold: expected a number greater than 0 and at most 1, got 1.5",
                r#"models[0].guardrails[0]: unknown guardrail "pii": the guardrails section defines none"#,
                "models[1].targets: must list at least one target",
                r#"models[2]: missing required field "name""#,
                r#"models[2]: missing required field "targets""#,
            ]
        );
    }

    #[test]
    fn duplicate_names() {
        let lines = parse("  - { name: a, targets: [ { provider: openai, model: m } ] }\n  - { name: a, targets: [ { provider: groq, model: m } ] }\n").unwrap_err();
        assert_eq!(
            lines,
            [r#"models[1].name: duplicate model name "a" (also models[0])"#]
        );
    }

    #[test]
    fn interpolated_numbers() {
        let yaml = format!(
            "{PROVIDERS}models:\n  - {{ name: a, retry: {{ max: \"${{R:-3}}\" }}, targets: [ {{ provider: openai, model: m, weight: \"${{W}}\" }} ] }}\n"
        );
        let env = |name: &str| (name == "W").then(|| "5".to_owned());
        let model = parse_str(&yaml, &env).unwrap().models.remove(0);
        assert_eq!((model.retry.max, model.targets[0].weight), (3, 5));
    }
}
