//! The admin API (`/admin/v1/…`): today, the model groups with each target's live health.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::Gateway;

/// `GET /admin/v1/models`: every configured model with its targets, their circuit state,
/// in-flight requests, latency average and consecutive failures.
pub async fn models(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    let data: Vec<Value> = gw
        .router
        .model_names()
        .iter()
        .filter_map(|name| gw.router.group(name))
        .map(|g| {
            let targets: Vec<Value> = g
                .slots
                .iter()
                .map(|slot| {
                    let h = slot.health();
                    json!({
                        "provider": &*slot.target.provider,
                        "model": &*slot.target.model,
                        "weight": h.weight,
                        "circuit": h.circuit.name(),
                        "consecutive_failures": h.consecutive_failures,
                        "in_flight": h.in_flight,
                        "rate_limited": h.rate_limited,
                        "latency_ms": h.latency.map(|d| d.as_secs_f64() * 1000.0),
                    })
                })
                .collect();
            json!({
                "id": g.name,
                "object": "model",
                "strategy": g.strategy.name(),
                "targets": targets,
                "fallbacks": g.fallbacks,
            })
        })
        .collect();
    Json(json!({"object": "list", "data": data}))
}
