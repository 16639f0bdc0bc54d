//! Sluice configuration: `sluice.yaml` in, a validated [`Config`] out.
//!
//! Loading has two layers. The text is first parsed by `serde_norway` into a generic
//! YAML tree, so a syntax error is the only thing that can stop the process early.
//! The tree is then walked by hand (the `validate` module): a small context tracks the
//! path (`models[2].targets[0].provider`) and collects every problem as a
//! [`ConfigIssue`], so `sluice check-config` can report all of them in one run, with
//! unknown keys and typos (`did you mean "timeout"?`) included. `${VAR}` interpolation
//! happens during that walk, on each string value after parsing, so environment values
//! can never change the YAML's structure. The walk produces the types in [`runtime`],
//! which the rest of Sluice uses and which hold only checked values.
//!
//! Provider kinds are data ([`presets::PRESETS`]), and units (durations, sizes, money)
//! live in [`units`] so the server can reuse them for headers like `x-sluice-timeout`.

mod defaults;
mod error;
pub mod interpolate;
pub mod presets;
pub mod runtime;
pub mod units;
mod validate;
pub mod vertex;

use std::path::Path;

pub use defaults::default_config;
pub use error::{ConfigErrors, ConfigIssue};
pub use runtime::{
    AwsConfig, CacheConfig, CircuitConfig, ClassSet, Config, DEFAULT_AZURE_API_VERSION,
    DEFAULT_JOURNAL, DEFAULT_LISTEN, DEFAULT_MAX_BODY, DEFAULT_SHUTDOWN_GRACE, DEFAULT_STORE,
    ErrorClass, HedgeAfter, ImageFetchConfig, LimitsConfig, LoggingConfig, MetricsConfig,
    ModelConfig, ModelTimeouts, OnRedisError, Preset, PricingConfig, ProviderConfig, ProviderKind,
    RetryConfig, RoutingRule, RuleCondition, SemanticCacheConfig, ServerConfig, Strategy,
    TargetConfig, Timeouts,
};
pub use runtime::{CacheBackend, CacheScope, CacheStoreConfig};
pub use runtime::{DEFAULT_SESSION_TTL, UiConfig, Viewer, ViewerSecret};
pub use runtime::{OtlpProtocol, TelemetryConfig};
pub use validate::parse_str;
pub use vertex::{ServiceAccount, VertexConfig};

/// Reads and validates the config file at `path`, interpolating from the process environment.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        ConfigErrors::whole_file(format!("cannot read {}: {error}", path.display()))
    })?;
    parse_str(&text, &|name| std::env::var(name).ok())
}
