//! The dashboard at `/ui`: server-rendered HTML pages over the admin API and the aggregated
//! ledger, with hand-written SVG charts and a few lines of JS.
//!
//! Signing in turns the admin key (or a `ui.viewers` login, read-only) into a session: a
//! random id in a `Secure`, `HttpOnly`, `SameSite=Strict` cookie, the session itself in
//! memory ([`session`]). Every form that changes something carries the session's CSRF token
//! ([`csrf`]), and viewers are refused any change with 403. Pages read what the CLI reads:
//! lists, logs, models and cache purges go through the admin API's own handlers, called in
//! process ([`api`]); the overview, the cache page and the models page's recent numbers read
//! the hourly ledger (spend, errors, cache outcomes and latency histograms) through the
//! store's aggregate queries, so they never scan the request log. HTML is written with
//! `maud`, charts are SVG written here ([`charts`]), and the CSS and JS are embedded.

mod api;
mod assets;
mod cache;
mod charts;
mod csrf;
mod format;
mod layout;
mod log_detail;
mod login;
mod logs;
mod models;
mod overview;
mod range;
mod session;
mod tenants;
mod tenants_form;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use sluice_config::UiConfig;

use crate::Gateway;
use session::Sessions;

/// The dashboard's state: whether it is served, its sessions and its viewer logins.
pub(crate) struct Ui {
    enabled: bool,
    sessions: Sessions,
    viewers: Vec<sluice_config::Viewer>,
    throttle: login::Throttle,
}

impl Ui {
    /// The dashboard as `config` sets it up.
    pub(crate) fn from_config(config: &UiConfig) -> Self {
        Self {
            enabled: config.enabled,
            sessions: Sessions::new(config.session_ttl),
            viewers: config.viewers.clone(),
            throttle: login::Throttle::default(),
        }
    }

    /// Whether `/ui` is served (`ui.enabled`).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }
}

/// Every dashboard route. `/ui/{*rest}` answers unknown pages itself, so no `/ui/…` path
/// reaches the native pass-through.
pub(crate) fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/", get(overview::page))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route("/ui/logs", get(logs::page))
        .route("/ui/logs/{id}", get(log_detail::page))
        .route("/ui/keys", get(tenants::keys).post(tenants::create_key))
        .route(
            "/ui/keys/{id}",
            get(tenants::edit_key).post(tenants::update_key),
        )
        .route("/ui/keys/{id}/revoke", post(tenants::revoke_key))
        .route("/ui/teams", get(tenants::teams).post(tenants::create_team))
        .route(
            "/ui/teams/{id}",
            get(tenants::edit_team).post(tenants::update_team),
        )
        .route("/ui/models", get(models::page))
        .route("/ui/cache", get(cache::page))
        .route("/ui/cache/purge", post(cache::purge))
        .route("/ui/assets/{file}", get(assets::serve))
        .route(
            "/ui/{*rest}",
            get(layout::not_found).post(layout::not_found),
        )
}
