//! `GET /v1/models` and `GET /v1/models/{id}`: the model names clients may send.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use crate::{ApiError, Gateway};

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "sluice"})
}

/// Lists the configured model names.
pub async fn list(State(gw): State<Arc<Gateway>>) -> Json<Value> {
    let data: Vec<Value> = gw
        .router
        .model_names()
        .iter()
        .map(|n| model_object(n))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// Describes one model name, configured or `provider/model`.
pub async fn retrieve(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    gw.router.route(&id, None)?;
    Ok(Json(model_object(&id)))
}
