//! The `limits:` and `pricing:` sections: how limits behave, and prices over the catalogue.

use std::path::PathBuf;

use serde_norway::Value;
use sluice_pricing::{Price, Rate, Usd};

use super::ctx::Ctx;
use crate::runtime::{LimitsConfig, OnRedisError, PricingConfig};

const LIMITS_FIELDS: &[&str] = &["on_redis_error", "default_max_tokens", "redis_timeout"];
const PRICING_FIELDS: &[&str] = &["file", "models"];
const PRICE_FIELDS: &[&str] = &[
    "input",
    "output",
    "cache_read",
    "cache_write",
    "reasoning",
    "per_image",
    "per_audio_second",
];

/// Reads `limits:`; missing keys take their defaults.
pub(super) fn limits(ctx: &mut Ctx<'_>, value: &Value) -> LimitsConfig {
    let mut limits = LimitsConfig::default();
    let Some(map) = ctx.object(value, LIMITS_FIELDS, &[]) else {
        return limits;
    };
    if let Some(mode) = ctx.field(map, "on_redis_error", |ctx, v| {
        match ctx.string(v)?.as_str() {
            "fail-open" => Some(OnRedisError::FailOpen),
            "fail-closed" => Some(OnRedisError::FailClosed),
            other => {
                ctx.issue(format!(
                    "unknown mode {other:?}; expected fail-open or fail-closed"
                ));
                None
            }
        }
    }) {
        limits.on_redis_error = mode;
    }
    if let Some(n) = ctx.field(map, "default_max_tokens", |ctx, v| ctx.whole(v, 1)) {
        limits.default_max_tokens = u64::from(n);
    }
    if let Some(d) = ctx.field(map, "redis_timeout", Ctx::positive_duration) {
        limits.redis_timeout = d;
    }
    limits
}

/// Reads `pricing:`.
pub(super) fn pricing(ctx: &mut Ctx<'_>, value: &Value) -> PricingConfig {
    let mut pricing = PricingConfig::default();
    let Some(map) = ctx.object(value, PRICING_FIELDS, &[]) else {
        return pricing;
    };
    pricing.file = ctx.field(map, "file", Ctx::non_empty).map(PathBuf::from);
    if let Some(models) = ctx.field(map, "models", |ctx, v| {
        let map = ctx.mapping(v)?;
        let mut out = Vec::new();
        for (key, value) in map {
            let Some(name) = ctx.key_str(key) else {
                continue;
            };
            if !name.contains('/') {
                ctx.issue_at(
                    name,
                    "price keys are `provider/model` (a provider name of this config, or a vendor such as openai)",
                );
                continue;
            }
            if let Some(price) = ctx.key(name, |ctx| price(ctx, value)) {
                out.push((name.to_owned(), price));
            }
        }
        Some(out)
    }) {
        pricing.models = models;
    }
    pricing
}

/// One price: token rates in USD per million tokens, `per_image` and `per_audio_second` in
/// USD.
fn price(ctx: &mut Ctx<'_>, value: &Value) -> Option<Price> {
    let map = ctx.object(value, PRICE_FIELDS, &[])?;
    let input = ctx.required(map, "input", rate);
    let output = ctx.required(map, "output", rate);
    let cache_read = ctx.field(map, "cache_read", rate);
    let cache_write = ctx.field(map, "cache_write", rate);
    let reasoning = ctx.field(map, "reasoning", rate);
    let per_image = ctx.field(map, "per_image", usd);
    let per_audio_second = ctx.field(map, "per_audio_second", usd);
    Some(Price {
        input: input?,
        output: output?,
        cache_read,
        cache_write,
        reasoning,
        per_image,
        per_audio_second,
    })
}

fn decimal_text(ctx: &mut Ctx<'_>, value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        other => ctx.string(other),
    }
}

fn rate(ctx: &mut Ctx<'_>, value: &Value) -> Option<Rate> {
    let text = decimal_text(ctx, value)?;
    let rate = Rate::per_million(&text);
    if rate.is_none() {
        ctx.issue(format!(
            "expected a non-negative USD price per million tokens such as \"0.15\", got {text:?}"
        ));
    }
    rate
}

fn usd(ctx: &mut Ctx<'_>, value: &Value) -> Option<Usd> {
    let text = decimal_text(ctx, value)?;
    let usd = Usd::parse(&text);
    if usd.is_none() {
        ctx.issue(format!(
            "expected a non-negative USD amount such as \"0.002\", got {text:?}"
        ));
    }
    usd
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::parse_str;
    use crate::runtime::OnRedisError;

    #[test]
    fn limits_and_prices_are_read_and_checked() {
        let c = parse_str(
            "limits: { on_redis_error: fail-closed, default_max_tokens: 1000, redis_timeout: 2s }\npricing:\n  file: prices.json\n  models:\n    azure/gpt4o-deploy: { input: \"2.50\", output: 10, cache_read: \"1.25\" }\n",
            &|_| None,
        )
        .unwrap();
        assert_eq!(c.limits.on_redis_error, OnRedisError::FailClosed);
        assert_eq!(c.limits.default_max_tokens, 1000);
        assert_eq!(c.limits.redis_timeout, std::time::Duration::from_secs(2));
        assert_eq!(
            c.pricing.file.as_deref(),
            Some(std::path::Path::new("prices.json"))
        );
        let (name, price) = &c.pricing.models[0];
        assert_eq!(name, "azure/gpt4o-deploy");
        assert_eq!(
            price.input,
            sluice_pricing::Rate::per_million("2.5").unwrap()
        );
        assert_eq!(
            price.output,
            sluice_pricing::Rate::per_million("10").unwrap()
        );

        let e = parse_str(
            "limits: { on_redis_error: maybe }\npricing:\n  models:\n    gpt: { input: 1, output: 1 }\n    openai/x: { input: \"-1\" }\n",
            &|_| None,
        )
        .unwrap_err()
        .lines()
        .join("\n");
        assert!(
            e.contains("limits.on_redis_error: unknown mode \"maybe\""),
            "{e}"
        );
        assert!(
            e.contains("pricing.models.gpt: price keys are `provider/model`"),
            "{e}"
        );
        assert!(
            e.contains("pricing.models.openai/x.input: expected a non-negative"),
            "{e}"
        );
        assert!(
            e.contains("pricing.models.openai/x: missing required field \"output\""),
            "{e}"
        );
    }
}
