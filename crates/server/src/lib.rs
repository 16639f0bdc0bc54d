//! Sluice's HTTP face: routes, the request pipeline, and the one mapping from errors to
//! responses.
//!
//! Generic HTTP concerns (request id, overhead accounting, panic capture, access log, auth)
//! are one middleware each, applied around every route. The LLM pipeline of a chat request is
//! a straight line in [`chat`]: parse once into `ChatRequest`, resolve the model, run the
//! router's attempt loop, then answer as JSON or relay the stream chunk by chunk as it
//! arrives, with the input and output stages of the configured guardrails ([`guardrails`])
//! around the upstream call. The Anthropic Messages API ([`messages`]) decodes into the same
//! request and reuses that pipeline; it differs only in how it writes answers and errors.
//! Everything OpenAI-shaped that is not chat goes through [`passthrough`], which routes by
//! `model` when the body names one and streams bodies both ways otherwise.
//! The dashboard at `/ui` ([`ui`]) renders HTML over the same admin API, called in process.
//! [`Gateway`] holds the state built from a validated config; handlers share it by `Arc`.

mod admin;
mod auth;
mod body;
mod cache;
mod chat;
mod context;
mod cost;
mod error;
mod facts;
mod guardrails;
mod hook;
mod messages;
mod metrics;
mod models;
mod native;
mod own_call;
mod passthrough;
mod reqlog;
mod responses;
mod sse;
mod tenancy;
mod ui;

use std::sync::Arc;

use axum::Router as HttpRouter;
use axum::routing::{any, get, post};
use secrecy::SecretString;
use sluice_config::Config;
use sluice_router::Router;
use sluice_types::GatewayError;

pub use context::RequestCx;
pub use error::ApiError;
pub use reqlog::RequestLog;
pub use sluice_telemetry::Exporter as TraceExporter;
pub use tenancy::{Principal, Tenancy};

/// Everything a request needs, built once from a validated config.
pub struct Gateway {
    router: Router,
    admin_key: Option<SecretString>,
    max_body: u64,
    /// The response cache; `None` when no model caches.
    cache: Option<cache::ResponseCache>,
    /// Where request records go; `None` when the request log is off.
    log: Option<Arc<RequestLog>>,
    /// The store the admin API reads logs from.
    store: Option<sluice_store::Store>,
    /// Keys, teams, users and orgs.
    tenancy: Arc<Tenancy>,
    /// Rate limits and budgets.
    limiter: sluice_limits::Limiter,
    /// `rpm` / `tpm` of each model that sets them.
    model_limits: std::collections::HashMap<String, (Option<u64>, Option<u64>)>,
    /// Prices.
    pricing: cost::Pricing,
    /// Output tokens assumed when a request sets no limit.
    default_max_tokens: u64,
    /// Traces; `None` when telemetry is off.
    traces: Option<context::Traces>,
    /// Guardrail checks; `None` when the config defines none.
    guardrails: Option<guardrails::Guardrails>,
    /// Conversations of translated Responses API answers, made on first use (in the store
    /// once the request log gave the gateway one).
    conversations: std::sync::OnceLock<responses::Conversations>,
    /// The dashboard at `/ui`: its sessions and viewer logins.
    ui: ui::Ui,
}

impl Gateway {
    /// Builds providers and routes from `config`.
    pub fn new(config: &Config) -> Result<Self, GatewayError> {
        metrics::install(config.metrics.per_key);
        if config.models.iter().any(|m| m.tpm.is_some()) {
            tenancy::warm_tokenizer();
        }
        let on_redis_error = match config.limits.on_redis_error {
            sluice_config::OnRedisError::FailOpen => sluice_limits::OnRedisError::FailOpen,
            sluice_config::OnRedisError::FailClosed => sluice_limits::OnRedisError::FailClosed,
        };
        let limiter = match &config.redis {
            Some(url) => sluice_limits::Limiter::redis(
                url,
                REDIS_PREFIX,
                on_redis_error,
                config.limits.redis_timeout,
            )
            .map_err(|e| GatewayError::internal(format!("redis: {e}")))?,
            None => sluice_limits::Limiter::memory(),
        };
        let model_limits = config
            .models
            .iter()
            .filter(|m| m.rpm.is_some() || m.tpm.is_some())
            .map(|m| (m.name.clone(), (m.rpm, m.tpm)))
            .collect();
        let pricing = cost::Pricing::from_config(config)?;
        let router = Router::new(config, &|provider, model| {
            pricing
                .price(provider, model)
                .map(sluice_pricing::Price::blended)
        })?;
        Ok(Self {
            router,
            admin_key: config.server.admin_key.clone(),
            max_body: config.server.max_body,
            cache: cache::ResponseCache::from_config(config)?,
            log: None,
            store: None,
            tenancy: Arc::new(
                Tenancy::new(None, config.redis.as_deref(), REDIS_PREFIX)
                    .map_err(GatewayError::internal)?,
            ),
            limiter,
            model_limits,
            pricing,
            default_max_tokens: config.limits.default_max_tokens,
            traces: None,
            guardrails: guardrails::Guardrails::from_config(config),
            conversations: std::sync::OnceLock::new(),
            ui: ui::Ui::from_config(&config.ui),
        })
    }

    /// Keeps keys, teams, users and orgs in `tenancy` (built over the store).
    pub fn with_tenancy(mut self, tenancy: Arc<Tenancy>) -> Self {
        self.tenancy = tenancy;
        self
    }

    /// Starts exporting traces as `config.telemetry` says, on the current tokio runtime;
    /// returns the exporter to flush at shutdown (`None` when telemetry is off).
    pub fn start_traces(&mut self, config: &Config) -> Result<Option<TraceExporter>, GatewayError> {
        let Some(t) = &config.telemetry else {
            return Ok(None);
        };
        let protocol = match t.protocol {
            sluice_config::OtlpProtocol::Http => sluice_telemetry::Protocol::Http,
            sluice_config::OtlpProtocol::Grpc => sluice_telemetry::Protocol::Grpc,
        };
        let mut export = sluice_telemetry::ExportConfig::new(&t.endpoint, protocol);
        export.headers.clone_from(&t.headers);
        export.timeout = t.timeout;
        export.service_name.clone_from(&t.service_name);
        export.sample = t.sample;
        let (tracer, exporter) = sluice_telemetry::start(export)
            .map_err(|e| GatewayError::internal(format!("telemetry: {e}")))?;
        self.traces = Some(context::Traces::new(tracer, config));
        tracing::info!(endpoint = %t.endpoint, protocol = ?t.protocol, sample = t.sample, "traces on");
        Ok(Some(exporter))
    }

    /// Where translated Responses API conversations are kept.
    pub(crate) fn conversations(&self) -> &responses::Conversations {
        self.conversations
            .get_or_init(|| responses::Conversations::new(self.store.clone()))
    }

    /// The request log's queue depth, journal size and counters (`None` when it is off).
    pub fn log_stats(&self) -> Option<sluice_store::LogStats> {
        self.log.as_ref().map(|log| log.stats())
    }

    /// Logs every request to `log`; the admin API reads records back from `store`.
    pub fn with_request_log(mut self, log: RequestLog, store: sluice_store::Store) -> Self {
        self.log = Some(Arc::new(log));
        self.store = Some(store);
        self
    }
}

/// The prefix of every key Sluice keeps in Redis for limits and tenancy.
pub const REDIS_PREFIX: &str = "sluice:";

/// The HTTP application for `gateway`.
pub fn app(gateway: Arc<Gateway>) -> HttpRouter {
    let v1 = HttpRouter::new()
        .route(
            "/v1/chat/completions",
            post(chat::handle::<chat::OpenAiChat>),
        )
        .route(
            "/v1/messages",
            post(chat::handle::<messages::AnthropicMessages>),
        )
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{*id}", get(models::retrieve))
        .route("/v1/completions", post(passthrough::handle))
        .route("/v1/embeddings", post(passthrough::handle))
        .route("/v1/moderations", post(passthrough::handle))
        // Mistral's own endpoints, routed by `model` like the OpenAI ones.
        .route("/v1/fim/completions", post(passthrough::handle))
        .route("/v1/ocr", post(passthrough::handle))
        .route("/v1/classifications", post(passthrough::handle))
        .route("/v1/chat/moderations", post(passthrough::handle))
        .route("/v1/chat/classifications", post(passthrough::handle))
        .route("/v1/responses", post(responses::handle))
        .route("/v1/responses/{*rest}", any(passthrough::handle))
        .route("/v1/images/{*rest}", any(passthrough::handle))
        .route("/v1/audio/{*rest}", any(passthrough::handle))
        .route("/v1/files", any(passthrough::handle))
        .route("/v1/files/{*rest}", any(passthrough::handle))
        .route("/v1/batches", any(passthrough::handle))
        .route("/v1/batches/{*rest}", any(passthrough::handle))
        .route("/v1/uploads", any(passthrough::handle))
        .route("/v1/uploads/{*rest}", any(passthrough::handle))
        .route_layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            auth::require_key,
        ));
    let admin = admin_api().route_layer(axum::middleware::from_fn_with_state(
        gateway.clone(),
        auth::require_admin,
    ));
    let ui = if gateway.ui.enabled() {
        ui::routes()
    } else {
        HttpRouter::new()
    };
    HttpRouter::new()
        .merge(v1)
        .merge(admin)
        .merge(ui)
        .route("/health/live", get(health))
        .route("/health/ready", get(health))
        .route("/{provider}/{*path}", any(native::handle))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            reqlog::record,
        ))
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            context::around,
        ))
        .layer(axum::middleware::from_fn(messages::anthropic_errors))
        .with_state(gateway)
}

/// The admin API (`/admin/v1/…` and `/metrics`) without its authentication, which
/// [`app`] adds; the dashboard calls it in process.
fn admin_api() -> HttpRouter<Arc<Gateway>> {
    HttpRouter::new()
        .route("/admin/v1/models", get(admin::models))
        .route("/admin/v1/cache", axum::routing::delete(cache::purge))
        .route("/admin/v1/logs", get(reqlog::list_logs))
        .route("/admin/v1/logs/{id}", get(reqlog::get_log))
        .route("/metrics", get(metrics::render))
        .merge(tenancy::admin::routes())
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn not_found(uri: http::Uri) -> ApiError {
    ApiError(GatewayError::new(
        sluice_types::ErrorKind::RouteNotFound,
        sluice_types::Origin::Client,
        format!("no route for {}", uri.path()),
    ))
}

async fn method_not_allowed(method: http::Method, uri: http::Uri) -> ApiError {
    ApiError(GatewayError::new(
        sluice_types::ErrorKind::MethodNotAllowed,
        sluice_types::Origin::Client,
        format!("{method} is not allowed on {}", uri.path()),
    ))
}
