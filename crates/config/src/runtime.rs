//! The validated, runtime form of the configuration. Every value here has been checked.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
pub use sluice_types::{ClassSet, ErrorClass};

use crate::vertex::VertexConfig;

/// A complete, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP server settings.
    pub server: ServerConfig,
    /// Store URL (`sqlite://…` or `postgres://…`).
    pub store: String,
    /// Optional Redis URL.
    pub redis: Option<String>,
    /// Providers, in file order.
    pub providers: Vec<ProviderConfig>,
    /// Model aliases, in file order.
    pub models: Vec<ModelConfig>,
    /// Routing rules, evaluated in order; the first that matches picks the model.
    pub routing: Vec<RoutingRule>,
    /// The request log.
    pub logging: LoggingConfig,
    /// Where the response cache keeps its entries.
    pub cache: CacheStoreConfig,
    /// How rate limits and budgets behave.
    pub limits: LimitsConfig,
    /// Prices beyond (and over) the built-in catalogue.
    pub pricing: PricingConfig,
    /// What `/metrics` labels its series with.
    pub metrics: MetricsConfig,
    /// OpenTelemetry traces; `None` when off (the default).
    pub telemetry: Option<TelemetryConfig>,
    /// The `guardrails:` checks, compiled; `None` when none is configured.
    pub guardrails: Option<std::sync::Arc<sluice_guard::Guard>>,
    /// The dashboard at `/ui`.
    pub ui: UiConfig,
}

/// `telemetry:` section: traces exported over OTLP.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// The collector's base URL, without a trailing slash. Default `http://localhost:4318`
    /// for OTLP/HTTP, `http://localhost:4317` for gRPC.
    pub endpoint: String,
    /// How spans are sent. Default OTLP/HTTP.
    pub protocol: OtlpProtocol,
    /// Headers sent with every export (collector credentials).
    pub headers: Vec<(String, String)>,
    /// The longest one export may take. Default 5 s.
    pub timeout: Duration,
    /// `service.name` of the exported spans. Default `sluice` (or `OTEL_SERVICE_NAME`).
    pub service_name: String,
    /// Share of new traces recorded, in (0, 1]. Default 1. A continued trace follows its
    /// caller's sampled flag.
    pub sample: f64,
}

/// `telemetry.otlp.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/HTTP with protobuf bodies (`http`).
    Http,
    /// OTLP/gRPC (`grpc`).
    Grpc,
}

/// `metrics:` section: the labels of the Prometheus metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Adds a `key` label (the virtual key's id) to the request, token and cost counters:
    /// one series per key, so only for a bounded number of keys. Default false.
    pub per_key: bool,
}

/// `ui:` section: the dashboard at `/ui`.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Serve the dashboard. Default true.
    pub enabled: bool,
    /// How long a sign-in lasts without use. Default 12 h.
    pub session_ttl: Duration,
    /// Read-only logins, besides the admin key.
    pub viewers: Vec<Viewer>,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            session_ttl: DEFAULT_SESSION_TTL,
            viewers: Vec::new(),
        }
    }
}

/// How long a dashboard sign-in lasts without use unless `ui.session_ttl` says otherwise.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// A read-only dashboard login (`ui.viewers[]`).
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The name it signs in with and is shown as.
    pub name: String,
    /// What it signs in with.
    pub secret: ViewerSecret,
}

/// A viewer's credential.
#[derive(Debug, Clone)]
pub enum ViewerSecret {
    /// Signs in with its name and this password.
    Password(SecretString),
    /// Signs in with this key alone.
    Key(SecretString),
}

/// `limits:` section: rate limits and budgets.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsConfig {
    /// What happens when Redis (shared limits) cannot be reached. Default fail-open.
    pub on_redis_error: OnRedisError,
    /// Output tokens assumed when a request sets no `max_tokens`, for token limits and
    /// budget reservations. Default 4,096.
    pub default_max_tokens: u64,
    /// The longest a Redis admission or settlement may take before `on_redis_error`
    /// applies. Default 250 ms.
    pub redis_timeout: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            on_redis_error: OnRedisError::FailOpen,
            default_max_tokens: 4096,
            redis_timeout: Duration::from_millis(250),
        }
    }
}

/// `limits.on_redis_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRedisError {
    /// Admit the request uncounted (limits hold per replica again once Redis is back).
    FailOpen,
    /// Refuse the request with 503.
    FailClosed,
}

/// `pricing:` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PricingConfig {
    /// A price file in LiteLLM's `model_prices_and_context_window.json` format, merged over
    /// the built-in catalogue.
    pub file: Option<std::path::PathBuf>,
    /// Prices by `provider/model` (a provider name of this config, or a vendor name of the
    /// catalogue), over everything else.
    pub models: Vec<(String, sluice_pricing::Price)>,
}

/// `logging:` section: the request log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggingConfig {
    /// Whether requests are logged to the store at all. Default true.
    pub enabled: bool,
    /// How often queued records are written. Default 200 ms; also the most a crash can lose.
    pub batch_interval: Duration,
    /// Queued records that trigger a write before the interval is over. Default 1,000.
    pub batch_size: u32,
    /// Capacity of the in-memory queue; beyond it records go to the journal. Default 10,000.
    pub queue: u32,
    /// Directory of the spill journal. Default `./sluice-journal/`.
    pub journal: std::path::PathBuf,
    /// Records older than this are deleted; `None` keeps them. Default 30 days.
    pub retention: Option<Duration>,
    /// The most records kept; the oldest beyond it are deleted. Default unlimited.
    pub max_rows: Option<u64>,
    /// Whether request and response bodies are stored. Default false.
    pub bodies: bool,
    /// The most bytes of each body stored. Default 64 KiB.
    pub max_body_bytes: u64,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            batch_interval: Duration::from_millis(200),
            batch_size: 1000,
            queue: 10_000,
            journal: std::path::PathBuf::from(DEFAULT_JOURNAL),
            retention: Some(Duration::from_secs(30 * 86_400)),
            max_rows: None,
            bodies: false,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRule {
    /// The rule's name (`routing[i]` when none is given), reported in `x-sluice-rule`.
    pub name: String,
    /// Every condition must hold.
    pub when: RuleCondition,
    /// The model the request goes to.
    pub then: String,
}

/// The conditions of a routing rule; absent ones always hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleCondition {
    /// The model name the client sent.
    pub model: Option<String>,
    /// Request headers that must have these values (names compared case-insensitively).
    pub headers: Vec<(String, String)>,
    /// `x-sluice-tags` entries that must have these values.
    pub tags: Vec<(String, String)>,
    /// Whether the request streams.
    pub stream: Option<bool>,
    /// Whether any message has an image part.
    pub has_images: Option<bool>,
    /// Whether the request offers tools.
    pub has_tools: Option<bool>,
    /// The estimated prompt tokens exceed this.
    pub prompt_tokens_over: Option<u64>,
    /// The virtual key's id.
    pub key: Option<String>,
    /// The key's team's id.
    pub team: Option<String>,
    /// The end user (`x-sluice-user`, the body's `user`, or the key's user).
    pub user: Option<String>,
}

/// `server:` section.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:4000`.
    pub listen: SocketAddr,
    /// Admin key; with it set, `/v1` needs a key.
    pub admin_key: Option<SecretString>,
    /// Largest accepted request body in bytes. Default 20 MiB.
    pub max_body: u64,
    /// Allow listening on a non-loopback address with no `admin_key`.
    pub allow_unauthenticated: bool,
    /// How long in-flight requests may run after SIGTERM. Default 30 s.
    pub shutdown_grace: Duration,
    /// How the gateway fetches image URLs for providers that cannot (`image_fetch:`).
    pub image_fetch: ImageFetchConfig,
}

/// `server.image_fetch`: how the gateway fetches the `http(s)` image URLs of a request for
/// providers that cannot fetch them (Bedrock, Claude on Vertex AI), to send them inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFetchConfig {
    /// The largest image fetched, in bytes. Default 20 MiB.
    pub max_bytes: u64,
    /// The longest one fetch may take, redirects included. Default 10 s.
    pub timeout: Duration,
    /// Addresses fetched from although they are private, loopback or link-local; every
    /// other such address is refused. Default none. Unsafe beyond tests and a trusted
    /// internal image host.
    pub allow_private: Vec<std::net::IpAddr>,
}

impl Default for ImageFetchConfig {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BODY,
            timeout: Duration::from_secs(10),
            allow_private: Vec::new(),
        }
    }
}

/// What a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// The OpenAI API, or any server speaking it (presets differ only in defaults).
    OpenAiCompatible(Preset),
    /// Azure OpenAI: deployment URLs, `api-version`, `api-key` header.
    AzureOpenAi,
    /// The Anthropic Messages API.
    Anthropic,
    /// The Google Gemini API (AI Studio).
    Gemini,
    /// AWS Bedrock Converse / ConverseStream, signed with SigV4.
    Bedrock,
    /// Cohere's Chat API v2.
    Cohere,
    /// Google Vertex AI: Gemini models (`generateContent`) and Anthropic models
    /// (`rawPredict`), with OAuth access tokens from a service account.
    Vertex,
    /// The built-in offline `demo` provider.
    Demo,
}

/// The OpenAI-compatible vendors Sluice knows defaults for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Any OpenAI-compatible server; `base_url` is required.
    Generic,
    /// OpenAI itself.
    OpenAi,
    /// Groq.
    Groq,
    /// Together AI.
    Together,
    /// Mistral.
    Mistral,
    /// DeepSeek.
    DeepSeek,
    /// xAI.
    Xai,
    /// Fireworks AI.
    Fireworks,
    /// OpenRouter.
    OpenRouter,
    /// Perplexity.
    Perplexity,
    /// Ollama (local).
    Ollama,
    /// vLLM (local).
    Vllm,
    /// LM Studio (local).
    LmStudio,
}

/// Connection and response deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP + TLS connect. Default 10 s.
    pub connect: Duration,
    /// Until the upstream's response headers arrive. Default 60 s.
    pub first_byte: Duration,
    /// The whole exchange, streams included. Default 600 s.
    pub total: Duration,
    /// The longest gap allowed between two stream events. Default 60 s.
    pub idle: Duration,
}

/// One provider.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The name models refer to, and the prefix of `provider/model`.
    pub name: String,
    /// What the provider speaks.
    pub kind: ProviderKind,
    /// Base URL as the provider's SDK means it (ends in `/v1` for the OpenAI family), no trailing slash.
    pub base_url: String,
    /// API key, if the provider needs one.
    pub api_key: Option<SecretString>,
    /// Azure `api-version`.
    pub api_version: Option<String>,
    /// Extra headers sent on every upstream request.
    pub headers: Vec<(String, String)>,
    /// Whether clients may name `provider/model` directly. Default true.
    pub direct: bool,
    /// Drop request parameters this provider cannot honour (with a warning) instead of
    /// answering 400. Default false.
    pub drop_unsupported: bool,
    /// Whether the provider's own API is reachable as native pass-through at
    /// `/{name}/…`. Default true.
    pub native: bool,
    /// Deadlines for this provider's requests.
    pub timeouts: Timeouts,
    /// AWS region and credentials; `Some` for `bedrock` providers only.
    pub aws: Option<AwsConfig>,
    /// Project, location and credentials; `Some` for `vertex` providers only.
    pub vertex: Option<VertexConfig>,
    /// The gateway's `server.image_fetch`, for providers whose image URLs it fetches.
    pub image_fetch: ImageFetchConfig,
}

impl ProviderConfig {
    /// A provider of `kind` named `name` at `base_url` (trailing `/` removed), with every
    /// other setting at its default: no key, no extra headers, direct and native access on,
    /// unsupported parameters refused, default timeouts.
    pub fn new(name: impl Into<String>, kind: ProviderKind, base_url: impl Into<String>) -> Self {
        let base_url: String = base_url.into();
        Self {
            name: name.into(),
            kind,
            base_url: base_url.trim().trim_end_matches('/').to_owned(),
            api_key: None,
            api_version: None,
            headers: Vec::new(),
            direct: true,
            drop_unsupported: false,
            native: true,
            timeouts: Timeouts::default(),
            aws: None,
            vertex: None,
            image_fetch: ImageFetchConfig::default(),
        }
    }
}

/// The AWS settings of a `bedrock` provider.
///
/// The region is settled when the config is read (`region`, else `AWS_REGION`, else
/// `AWS_DEFAULT_REGION`); credentials that are absent here are read from the standard
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` when the provider
/// is built.
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    /// The region requests are signed for (and, without `base_url`, sent to).
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<SecretString>,
    /// Secret access key.
    pub secret_access_key: Option<SecretString>,
    /// Session token of temporary credentials.
    pub session_token: Option<SecretString>,
}

/// How a model alias picks among its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Power of two choices over latency × in-flight requests.
    #[default]
    P2c,
    /// Random, proportional to `weight`.
    Weighted,
    /// Each target in turn.
    RoundRobin,
    /// Lowest moving average of time to first byte.
    LeastLatency,
    /// Cheapest target (by price table).
    LeastCost,
    /// First healthy target in file order.
    Ordered,
}

/// One upstream a model alias can send to.
#[derive(Debug, Clone)]
pub struct TargetConfig {
    /// Provider name (a key of `providers`).
    pub provider: String,
    /// The provider's own model name (for Azure: the deployment name).
    pub model: String,
    /// Relative weight for `weighted` and `p2c`. Default 1.
    pub weight: u32,
    /// Requests per minute this target may take; it is skipped while at the limit.
    pub rpm: Option<u32>,
    /// Tokens per minute (estimated prompt plus `max_tokens`) this target may take.
    pub tpm: Option<u32>,
}

/// When a hedged model starts its second attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HedgeAfter {
    /// After a fixed delay (`after: 2s`).
    Fixed(Duration),
    /// After the model's recent time-to-answer percentile (`after: p95`), once enough
    /// answers have been seen.
    Percentile(u8),
}

/// One variant of an A/B split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitVariant {
    /// The model (with targets) that serves this variant.
    pub model: String,
    /// Relative share of traffic.
    pub weight: u32,
}

/// Retry policy of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Retries after the first attempt. Default 0.
    pub max: u32,
    /// Base backoff between attempts. Default 200 ms.
    pub backoff: Duration,
    /// Error classes that are retried. Default connect, timeout, 5xx, 429.
    pub on: ClassSet,
    /// Error classes that move on to the `fallbacks`. Default: the retried ones plus
    /// context-length.
    pub fallback_on: ClassSet,
    /// How long a stream's frames are held back while no content has arrived, so that a
    /// failure in that window can still be retried. Default 5 s; 0 turns holding off.
    pub stream_hold: Duration,
}

/// Circuit breaker of each target of a model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CircuitConfig {
    /// Consecutive failures that open the circuit. Default 5.
    pub failures: u32,
    /// Error ratio over `window` that opens the circuit (with at least `min_requests`). Default 0.5.
    pub error_ratio: f64,
    /// Window of the error ratio. Default 30 s.
    pub window: Duration,
    /// Requests in the window before the ratio counts. Default 20.
    pub min_requests: u32,
    /// How long an open circuit refuses requests before probing. Default 30 s.
    pub cooldown: Duration,
    /// Requests let through at once while half-open. Default 1.
    pub probes: u32,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            error_ratio: 0.5,
            window: Duration::from_secs(30),
            min_requests: 20,
            cooldown: Duration::from_secs(30),
            probes: 1,
        }
    }
}

/// Per-model deadlines; each overrides the provider's when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelTimeouts {
    /// Until the upstream's response headers arrive.
    pub first_byte: Option<Duration>,
    /// The whole exchange.
    pub total: Option<Duration>,
    /// The longest gap between two stream events.
    pub idle: Option<Duration>,
}

/// Response cache settings of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    /// How long an entry lives.
    pub ttl: Duration,
    /// Who shares entries. Default: each API key has its own.
    pub scope: CacheScope,
    /// Semantic cache settings.
    pub semantic: Option<SemanticCacheConfig>,
}

/// Who may be served a model's cached answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheScope {
    /// Requests presenting the same API key (requests without a key share one scope).
    #[default]
    Key,
    /// Requests of the same team (a key without a team: the key's own).
    Team,
    /// Every client.
    Global,
}

impl CacheScope {
    /// Every scope with its config name.
    pub const NAMES: [(&'static str, CacheScope); 3] = [
        ("key", CacheScope::Key),
        ("team", CacheScope::Team),
        ("global", CacheScope::Global),
    ];
}

/// Where cached answers are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheBackend {
    /// In this process, bounded by `max_bytes` and `max_entries`.
    Memory,
    /// In the Redis at `redis:`, shared by every replica.
    Redis,
}

/// Top-level `cache:` section: the cache's storage (which models cache, and for how long,
/// is `models[].cache`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStoreConfig {
    /// Default: `redis` when `redis:` is set, else `memory`.
    pub backend: CacheBackend,
    /// Most bytes the memory backend holds. Default 256 MiB.
    pub max_bytes: u64,
    /// Most entries the memory backend holds. Default 100,000.
    pub max_entries: u64,
    /// Longest a Redis lookup or write may take; a slower lookup is a miss. Default 250 ms.
    pub timeout: Duration,
}

impl Default for CacheStoreConfig {
    fn default() -> Self {
        Self {
            backend: CacheBackend::Memory,
            max_bytes: 256 * 1024 * 1024,
            max_entries: 100_000,
            timeout: Duration::from_millis(250),
        }
    }
}

/// Semantic cache settings of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticCacheConfig {
    /// The embedding model (a model name of this config).
    pub embedder: String,
    /// Least cosine similarity at which a cached answer is served. Default 0.95.
    pub threshold: f64,
    /// Requests with a higher `temperature` are not matched semantically. Default 1.0.
    pub max_temperature: f64,
    /// Requests with tools are not matched semantically. Default true.
    pub skip_tools: bool,
    /// Longest the embedding call may take; a slower or failed one makes the request a
    /// miss. Default 200 ms.
    pub embed_timeout: Duration,
}

impl SemanticCacheConfig {
    /// Default `threshold`.
    pub const DEFAULT_THRESHOLD: f64 = 0.95;
    /// Default `max_temperature`.
    pub const DEFAULT_MAX_TEMPERATURE: f64 = 1.0;
    /// Default `embed_timeout`.
    pub const DEFAULT_EMBED_TIMEOUT: Duration = Duration::from_millis(200);

    /// The settings for `embedder` with every default.
    pub fn new(embedder: impl Into<String>) -> Self {
        Self {
            embedder: embedder.into(),
            threshold: Self::DEFAULT_THRESHOLD,
            max_temperature: Self::DEFAULT_MAX_TEMPERATURE,
            skip_tools: true,
            embed_timeout: Self::DEFAULT_EMBED_TIMEOUT,
        }
    }
}

/// One model alias.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// The name clients send as `model`.
    pub name: String,
    /// How a target is picked.
    pub strategy: Strategy,
    /// The upstreams; at least one unless the model is an A/B `split`.
    pub targets: Vec<TargetConfig>,
    /// An A/B split over other models instead of targets: each request goes to one variant,
    /// sticky per user or key.
    pub split: Vec<SplitVariant>,
    /// Other model names tried in order when every target failed.
    pub fallbacks: Vec<String>,
    /// Retry policy.
    pub retry: RetryConfig,
    /// Per-model deadlines.
    pub timeout: ModelTimeouts,
    /// Circuit breaker of each target.
    pub circuit: CircuitConfig,
    /// Hedging: when the first attempt has not answered after this long, a second one starts
    /// on another target and the first answer wins.
    pub hedge: Option<HedgeAfter>,
    /// Response cache.
    pub cache: Option<CacheConfig>,
    /// Requests per minute across every caller of this model.
    pub rpm: Option<u64>,
    /// Tokens per minute across every caller of this model.
    pub tpm: Option<u64>,
    /// Names of the `guardrails:` checks every request to this model runs.
    pub guardrails: Vec<String>,
}

/// Default `server.listen`.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    4000,
));
/// Default `store`.
pub const DEFAULT_STORE: &str = "sqlite://sluice.db";
/// Default `server.max_body`: 20 MiB.
pub const DEFAULT_MAX_BODY: u64 = 20 * 1024 * 1024;
/// Default `server.shutdown_grace`.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Default Azure `api_version`.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";
/// Default `logging.journal`.
pub const DEFAULT_JOURNAL: &str = "./sluice-journal/";

impl Config {
    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|provider| provider.name == name)
    }

    /// The model alias named `name`.
    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|model| model.name == name)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN,
            admin_key: None,
            max_body: DEFAULT_MAX_BODY,
            allow_unauthenticated: false,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            image_fetch: ImageFetchConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Why serving with these settings would be unsafe: a non-loopback `listen` with no
    /// `admin_key` leaves `/v1` open to the network unless `allow_unauthenticated` is set.
    ///
    /// This is checked at serve time rather than in the config because `--listen` can
    /// override the address.
    pub fn exposure_problem(&self) -> Option<String> {
        let exposed = !self.listen.ip().is_loopback()
            && self.admin_key.is_none()
            && !self.allow_unauthenticated;
        exposed.then(|| {
            format!(
                "refusing to listen on {} without server.admin_key; set server.allow_unauthenticated: true to allow it",
                self.listen
            )
        })
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(60),
            total: Duration::from_secs(600),
            idle: Duration::from_secs(60),
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max: 0,
            backoff: Duration::from_millis(200),
            on: ClassSet::DEFAULT_RETRY,
            fallback_on: ClassSet::DEFAULT_FALLBACK,
            stream_hold: Duration::from_secs(5),
        }
    }
}

impl Strategy {
    /// Every strategy with its config name.
    pub const NAMES: [(&'static str, Strategy); 6] = [
        ("p2c", Strategy::P2c),
        ("weighted", Strategy::Weighted),
        ("round-robin", Strategy::RoundRobin),
        ("least-latency", Strategy::LeastLatency),
        ("least-cost", Strategy::LeastCost),
        ("ordered", Strategy::Ordered),
    ];

    /// The name written in the config, e.g. `round-robin`.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, strategy)| *strategy == self)
            .map_or("p2c", |(name, _)| name)
    }

    /// The strategy written as `name` in the config.
    pub fn from_name(name: &str) -> Option<Strategy> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, strategy)| *strategy)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn exposure() {
        let mut server = ServerConfig::default();
        assert_eq!(server.exposure_problem(), None);
        server.listen = "0.0.0.0:4000".parse().unwrap();
        assert_eq!(
            server.exposure_problem().as_deref(),
            Some(
                "refusing to listen on 0.0.0.0:4000 without server.admin_key; set server.allow_unauthenticated: true to allow it"
            )
        );
        server.allow_unauthenticated = true;
        assert_eq!(server.exposure_problem(), None);
        server.allow_unauthenticated = false;
        server.admin_key = Some("k".into());
        assert_eq!(server.exposure_problem(), None);
        server.admin_key = None;
        server.listen = "[::1]:4000".parse().unwrap();
        assert_eq!(server.exposure_problem(), None);
    }

    #[test]
    fn strategy_names_round_trip() {
        for (name, strategy) in Strategy::NAMES {
            assert_eq!(strategy.name(), name);
            assert_eq!(Strategy::from_name(name), Some(strategy));
        }
    }
}
