//! From YAML text to a validated [`Config`].
//!
//! The text is parsed into a generic YAML tree, which is then walked by hand. Each
//! section reader takes a [`Ctx`], reads what it can, reports what it cannot at the
//! value's path, and carries on with a default, so one run finds every problem.

mod cache;
mod ctx;
mod guardrails;
mod limits;
mod logging;
mod metrics;
mod models;
mod providers;
mod routing;
mod server;
mod telemetry;
mod ui;
mod vertex;

use serde_norway::Value;

use crate::error::ConfigErrors;
use crate::runtime::{Config, DEFAULT_STORE, LoggingConfig, ServerConfig};
use ctx::Ctx;
pub(crate) use telemetry::from_env as telemetry_from_env;

/// Top-level keys.
const FIELDS: &[&str] = &[
    "server",
    "store",
    "redis",
    "providers",
    "models",
    "routing",
    "logging",
    "cache",
    "limits",
    "pricing",
    "metrics",
    "telemetry",
    "guardrails",
    "ui",
];
/// Top-level sections of later features.
const FUTURE: &[(&str, &str)] = &[
    ("mcp", "the mcp section is not supported by this build yet"),
    (
        "keys",
        "the keys section is not supported by this build yet; create keys with `sluice keys create`",
    ),
];

/// Parses and validates a config, reporting every problem.
pub fn parse_str(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    // Anchors are resolved by the parser; `<<` merge keys are applied here.
    let root = serde_norway::from_str::<Value>(yaml)
        .and_then(|mut root| root.apply_merge().map(|()| root));
    let root = match root {
        Ok(root) => root,
        Err(error) => return Err(ConfigErrors::whole_file(format!("invalid YAML: {error}"))),
    };
    let mut ctx = Ctx::new(env);
    let config = config(&mut ctx, &root);
    ctx.finish(config)
}

/// Reads the whole document.
fn config(ctx: &mut Ctx<'_>, root: &Value) -> Config {
    let mut config = Config {
        server: ServerConfig::default(),
        store: DEFAULT_STORE.to_owned(),
        redis: None,
        providers: Vec::new(),
        models: Vec::new(),
        routing: Vec::new(),
        logging: LoggingConfig::default(),
        cache: Default::default(),
        limits: Default::default(),
        pricing: Default::default(),
        metrics: Default::default(),
        telemetry: None,
        guardrails: None,
        ui: Default::default(),
    };
    let Some(map) = ctx.object(root, FIELDS, FUTURE) else {
        return config;
    };
    // Names are collected up front so references can be checked whatever the key order.
    let provider_names = declared_provider_names(root);
    let model_names = declared_model_names(root);
    let guardrail_names = guardrails::declared(root);
    if let Some(server) = ctx.field(map, "server", |ctx, value| Some(server::server(ctx, value))) {
        config.server = server;
    }
    if let Some(store) = ctx.field(map, "store", store) {
        config.store = store;
    }
    config.redis = ctx.field(map, "redis", redis);
    if let Some(providers) = ctx.field(map, "providers", |ctx, value| {
        Some(providers::providers(ctx, value))
    }) {
        config.providers = providers;
    }
    for provider in &mut config.providers {
        provider.image_fetch = config.server.image_fetch.clone();
    }
    let names = models::Names {
        providers: &provider_names,
        models: &model_names,
        guardrails: &guardrail_names,
    };
    if let Some(models) = ctx.field(map, "models", |ctx, value| {
        Some(models::models(ctx, value, &names))
    }) {
        config.models = models;
    }
    if let Some(rules) = ctx.field(map, "routing", |ctx, value| {
        Some(routing::routing(ctx, value, &names))
    }) {
        config.routing = rules;
    }
    if let Some(logging) = ctx.field(map, "logging", |ctx, value| {
        Some(logging::logging(ctx, value))
    }) {
        config.logging = logging;
    }
    if let Some(limits) = ctx.field(map, "limits", |ctx, value| Some(limits::limits(ctx, value))) {
        config.limits = limits;
    }
    if let Some(pricing) = ctx.field(map, "pricing", |ctx, value| {
        Some(limits::pricing(ctx, value))
    }) {
        config.pricing = pricing;
    }
    if let Some(metrics) = ctx.field(map, "metrics", |ctx, value| {
        Some(metrics::metrics(ctx, value))
    }) {
        config.metrics = metrics;
    }
    config.telemetry = match map.get("telemetry") {
        Some(section) => ctx.key("telemetry", |ctx| telemetry::telemetry(ctx, section)),
        None => telemetry::from_env(&|name| ctx.env_var(name)),
    };
    config.guardrails = ctx.field(map, "guardrails", |ctx, v| {
        guardrails::guardrails(ctx, v, &model_names)
    });
    let admin_key = config.server.admin_key.is_some();
    if let Some(ui) = ctx.field(map, "ui", |ctx, value| Some(ui::ui(ctx, value, admin_key))) {
        config.ui = ui;
    }
    let redis = config.redis.is_some();
    config.cache = ctx
        .field(map, "cache", |ctx, value| cache::cache(ctx, value, redis))
        .unwrap_or_else(|| cache::default_store(redis));
    config
}

/// `store`: a SQLite or Postgres URL.
fn store(ctx: &mut Ctx<'_>, value: &Value) -> Option<String> {
    let url = ctx.string(value)?;
    url_with_scheme(
        ctx,
        url,
        &["sqlite://", "postgres://", "postgresql://"],
        "a store URL",
    )
}

/// `redis`: a Redis URL.
fn redis(ctx: &mut Ctx<'_>, value: &Value) -> Option<String> {
    let url = ctx.string(value)?;
    url_with_scheme(ctx, url, &["redis://", "rediss://"], "a Redis URL")
}

/// Checks that `url` starts with one of `schemes`. Only the scheme is echoed back, since
/// the rest may hold a password.
fn url_with_scheme(ctx: &mut Ctx<'_>, url: String, schemes: &[&str], what: &str) -> Option<String> {
    if schemes
        .iter()
        .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len())
    {
        return Some(url);
    }
    let shown = match url.split_once("://") {
        Some((scheme, _)) => format!("\"{scheme}://…\""),
        None if url.is_empty() => "an empty string".to_owned(),
        None => "a value with no scheme".to_owned(),
    };
    let expected = schemes.join(", ");
    ctx.issue(format!(
        "expected {what} starting with {expected}, got {shown}"
    ));
    None
}

fn declared_provider_names(root: &Value) -> Vec<String> {
    match root.get("providers") {
        Some(Value::Mapping(map)) => map
            .keys()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn declared_model_names(root: &Value) -> Vec<String> {
    match root.get("models") {
        Some(Value::Sequence(items)) => {
            let mut names: Vec<String> = Vec::with_capacity(items.len());
            for name in items.iter().filter_map(|item| item.get("name")?.as_str()) {
                if !names.iter().any(|known| known == name) {
                    names.push(name.to_owned());
                }
            }
            names
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        parse_str(yaml, &|_| None).unwrap_err().lines()
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let config = parse_str("", &|_| None).unwrap();
        assert_eq!(config.store, "sqlite://sluice.db");
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:4000");
        assert!(config.providers.is_empty() && config.models.is_empty() && config.redis.is_none());
    }

    #[test]
    fn yaml_syntax_errors_have_a_location() {
        let lines = errors("server:\n  listen: [1\n");
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("invalid YAML: "), "{}", lines[0]);
        assert!(lines[0].contains("line"), "{}", lines[0]);
    }

    #[test]
    fn top_level() {
        assert_eq!(errors("- a"), ["expected a mapping, got a list"]);
        assert_eq!(
            errors("modles: []\nmcp: {}\nstore: mysql://u:pw@h/db\nredis: 127.0.0.1:6379\n"),
            [
                r#"modles: unknown field "modles"; expected one of: server, store, redis, providers, models, routing, logging, cache, limits, pricing, metrics, telemetry, guardrails, ui; did you mean "models"?"#,
                "mcp: the mcp section is not supported by this build yet",
                r#"store: expected a store URL starting with sqlite://, postgres://, postgresql://, got "mysql://…""#,
                "redis: expected a Redis URL starting with redis://, rediss://, got a value with no scheme",
            ]
        );
    }

    #[test]
    fn anchors_and_merge_keys() {
        let yaml = "providers:\n  openai: &p { timeout: { total: 5s } }\n  groq: { <<: *p, direct: false }\n";
        let config = parse_str(yaml, &|_| None).unwrap();
        let groq = config.provider("groq").unwrap();
        assert_eq!((groq.timeouts.total.as_secs(), groq.direct), (5, false));
    }

    #[test]
    fn store_and_redis() {
        let config = parse_str(
            "store: postgres://u@h/db\nredis: rediss://h:6379\n",
            &|_| None,
        )
        .unwrap();
        assert_eq!(config.store, "postgres://u@h/db");
        assert_eq!(config.redis.as_deref(), Some("rediss://h:6379"));
    }
}
