//! The admin API of tenancy: `/admin/v1/{keys,teams,users,orgs}` (create, list, get, update,
//! delete; keys also revoke and rotate), `/admin/v1/spend` and `/admin/v1/events`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use sluice_store::{SpendDim, SpendQuery, Store, StoreError};
use sluice_types::{ErrorKind, GatewayError, Origin};

use super::doc::{Doc, Kind, format_time, merge_patch};
use super::{KEY_PREFIX, hash_secret, scope};
use crate::{ApiError, Gateway};

/// Characters of a generated secret or id.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in a key's secret (about 238 bits).
const SECRET_CHARS: usize = 40;
/// Characters of the secret kept visible as `key_prefix`.
const VISIBLE: usize = KEY_PREFIX.len() + 4;

/// Every tenancy route, for the admin router.
pub(crate) fn routes() -> Router<Arc<Gateway>> {
    let mut router = Router::new();
    for (kind, path) in [
        (Kind::Key, "keys"),
        (Kind::Team, "teams"),
        (Kind::User, "users"),
        (Kind::Org, "orgs"),
    ] {
        router = router
            .route(
                &format!("/admin/v1/{path}"),
                get(move |s| list(kind, s)).post(move |s, b| create(kind, s, b)),
            )
            .route(
                &format!("/admin/v1/{path}/{{id}}"),
                get(move |s, p| fetch(kind, s, p))
                    .patch(move |s, p, b| update(kind, s, p, b))
                    .delete(move |s, p| remove(kind, s, p)),
            );
    }
    router
        .route("/admin/v1/keys/{id}/revoke", post(revoke))
        .route("/admin/v1/keys/{id}/rotate", post(rotate))
        .route("/admin/v1/spend", get(spend))
        .route("/admin/v1/events", get(events))
}

fn store(gw: &Gateway) -> Result<&Store, GatewayError> {
    gw.tenancy.store().ok_or_else(|| {
        GatewayError::new(
            ErrorKind::Unsupported,
            Origin::Gateway,
            "tenancy needs a store, and this gateway runs without one",
        )
    })
}

fn store_failed(e: StoreError) -> GatewayError {
    GatewayError::new(
        ErrorKind::Internal,
        Origin::Gateway,
        format!("the store failed: {e}"),
    )
    .with_status(503)
}

fn not_found(kind: Kind, id: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::RouteNotFound,
        Origin::Client,
        format!("no {} with id {id:?}", kind.name()),
    )
    .with_code("not_found")
}

/// `count` random characters from [`ALPHABET`], from the operating system's CSPRNG.
fn random(count: usize) -> Result<String, GatewayError> {
    let mut out = String::with_capacity(count);
    let mut buf = [0u8; 64];
    while out.len() < count {
        getrandom::fill(&mut buf)
            .map_err(|e| GatewayError::internal(format!("no randomness available: {e}")))?;
        // Only bytes below 248 (4 × 62) are used, so every character is equally likely.
        for b in buf.iter().filter(|b| **b < 248).take(count - out.len()) {
            out.push(char::from(ALPHABET[usize::from(*b) % 62]));
        }
    }
    Ok(out)
}

/// The row id of a tenant (ids are unique per kind; users' ids are the client's names).
fn row_id(kind: Kind, id: &str) -> String {
    scope(kind, id)
}

/// The admin view of a document: the document, its kind, and the current period's spend
/// when it has a budget.
fn view(kind: Kind, doc: &Doc, spent: Option<i64>) -> Value {
    let mut v = doc.to_value();
    if let Value::Object(map) = &mut v {
        map.insert("object".into(), Value::String(kind.name().into()));
        if let Some(nano) = spent {
            map.insert(
                "budget_spent".into(),
                Value::String(sluice_pricing::Usd(nano).to_string()),
            );
        }
    }
    v
}

/// What each budgeted document has spent in its current period, from the spend ledger.
async fn spent(store: &Store, kind: Kind, docs: &[Doc]) -> HashMap<String, i64> {
    let now = sluice_store::unix_ms();
    let mut out = HashMap::new();
    let mut starts: Vec<i64> = docs
        .iter()
        .filter_map(|d| d.budget.as_ref().map(|b| b.period.start(now)))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    for from in starts {
        let Ok(totals) = store.spend_totals(super::spend_dim(kind), from).await else {
            continue;
        };
        for d in docs {
            if d.budget
                .as_ref()
                .is_some_and(|b| b.period.start(now) == from)
            {
                out.insert(d.id.clone(), totals.get(&d.id).copied().unwrap_or(0));
            }
        }
    }
    out
}

/// Reads the stored document of `kind` with `id`.
async fn load(store: &Store, kind: Kind, id: &str) -> Result<(Doc, Option<String>), GatewayError> {
    let row = store
        .tenant(&row_id(kind, id))
        .await
        .map_err(store_failed)?
        .filter(|r| r.kind == kind.name())
        .ok_or_else(|| not_found(kind, id))?;
    let doc = Doc::parse(kind, &row.data)?;
    Ok((doc, row.key_hash))
}

/// Checks that the documents `doc` points at exist.
fn check_refs(gw: &Gateway, kind: Kind, doc: &Doc) -> Result<(), GatewayError> {
    let snap = gw.tenancy.current();
    let missing = |field: &str, k: Kind, id: &str| {
        GatewayError::invalid_request(format!("{field}: no {} with id {id:?}", k.name()))
            .with_param(field.to_owned())
    };
    if let Some(team) = &doc.team {
        if kind != Kind::Team && snap.get(Kind::Team, team).is_none() {
            return Err(missing("team", Kind::Team, team));
        }
    }
    if let Some(org) = &doc.org {
        if snap.get(Kind::Org, org).is_none() {
            return Err(missing("org", Kind::Org, org));
        }
    }
    Ok(())
}

async fn list(kind: Kind, State(gw): State<Arc<Gateway>>) -> Result<Json<Value>, ApiError> {
    let store = store(&gw)?;
    let mut docs = Vec::new();
    for row in store.tenants().await.map_err(store_failed)? {
        if row.kind == kind.name() {
            if let Ok(doc) = Doc::parse(kind, &row.data) {
                docs.push(doc);
            }
        }
    }
    docs.sort_by(|a, b| a.id.cmp(&b.id));
    let spent = spent(store, kind, &docs).await;
    let data: Vec<Value> = docs
        .iter()
        .map(|d| view(kind, d, spent.get(&d.id).copied()))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

async fn fetch(
    kind: Kind,
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&gw)?;
    let (doc, _) = load(store, kind, &id).await?;
    let spent = spent(store, kind, std::slice::from_ref(&doc)).await;
    Ok(Json(view(kind, &doc, spent.get(&doc.id).copied())))
}

async fn create(
    kind: Kind,
    State(gw): State<Arc<Gateway>>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let store = store(&gw)?;
    let value: Value = crate::body::parse_json(&body)?;
    let mut doc = Doc::parse(kind, &value)?;
    for field in ["created_at", "updated_at", "revoked_at", "key_prefix"] {
        if value.get(field).is_some() {
            return Err(
                GatewayError::invalid_request(format!("{field} is set by the gateway"))
                    .with_param(field)
                    .into(),
            );
        }
    }
    if doc.id.is_empty() {
        if kind == Kind::User {
            return Err(GatewayError::invalid_request(
                "a user needs an `id`: the name its requests carry in x-sluice-user or `user`",
            )
            .with_param("id")
            .into());
        }
        doc.id = format!("{}{}", kind.id_prefix(), random(16)?);
    }
    if kind == Kind::Key && doc.name.is_none() {
        return Err(GatewayError::invalid_request("a key needs a `name`")
            .with_param("name")
            .into());
    }
    check_refs(&gw, kind, &doc)?;
    let now = format_time(sluice_store::unix_ms());
    doc.created_at = Some(now.clone());
    doc.updated_at = Some(now);
    let secret = match kind {
        Kind::Key => {
            let secret = format!("{KEY_PREFIX}{}", random(SECRET_CHARS)?);
            doc.key_prefix = Some(format!("{}…", &secret[..VISIBLE]));
            Some(secret)
        }
        _ => None,
    };
    let hash = secret.as_deref().map(hash_secret);
    let stored = store
        .insert_tenant(
            &row_id(kind, &doc.id),
            kind.name(),
            hash.as_deref(),
            &doc.to_value(),
        )
        .await
        .map_err(store_failed)?;
    if stored.is_none() {
        return Err(GatewayError::invalid_request(format!(
            "a {} with id {:?} already exists",
            kind.name(),
            doc.id
        ))
        .with_code("already_exists")
        .with_param("id")
        .into());
    }
    gw.tenancy.changed().await;
    let mut out = view(kind, &doc, None);
    if let (Some(secret), Value::Object(map)) = (secret, &mut out) {
        map.insert("key".into(), Value::String(secret));
    }
    Ok((StatusCode::CREATED, Json(out)))
}

async fn update(
    kind: Kind,
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let store = store(&gw)?;
    let patch: Value = crate::body::parse_json(&body)?;
    if !patch.is_object() {
        return Err(GatewayError::invalid_request("the update must be a JSON object").into());
    }
    for field in ["id", "created_at", "updated_at", "key_prefix", "revoked_at"] {
        if patch.get(field).is_some() {
            return Err(
                GatewayError::invalid_request(format!("{field} cannot be changed"))
                    .with_param(field)
                    .into(),
            );
        }
    }
    let (doc, hash) = load(store, kind, &id).await?;
    let mut value = doc.to_value();
    merge_patch(&mut value, &patch);
    let mut doc = Doc::parse(kind, &value)?;
    check_refs(&gw, kind, &doc)?;
    doc.updated_at = Some(format_time(sluice_store::unix_ms()));
    save(&gw, store, kind, &doc, hash.as_deref()).await?;
    Ok(Json(view(kind, &doc, None)))
}

async fn save(
    gw: &Gateway,
    store: &Store,
    kind: Kind,
    doc: &Doc,
    hash: Option<&str>,
) -> Result<(), GatewayError> {
    store
        .put_tenant(&row_id(kind, &doc.id), kind.name(), hash, &doc.to_value())
        .await
        .map_err(store_failed)?;
    gw.tenancy.changed().await;
    Ok(())
}

/// `DELETE`: revokes a key (its record stays for the logs); deletes any other kind.
async fn remove(
    kind: Kind,
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if kind == Kind::Key {
        return revoke(State(gw), Path(id)).await;
    }
    let store = store(&gw)?;
    if !store
        .delete_tenant(&row_id(kind, &id))
        .await
        .map_err(store_failed)?
    {
        return Err(not_found(kind, &id).into());
    }
    gw.tenancy.changed().await;
    Ok(Json(
        json!({"id": id, "object": kind.name(), "deleted": true}),
    ))
}

/// `POST /admin/v1/keys/{id}/revoke`: the key stops working on every replica.
async fn revoke(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&gw)?;
    let (mut doc, hash) = load(store, Kind::Key, &id).await?;
    let now = format_time(sluice_store::unix_ms());
    if doc.revoked_at.is_none() {
        doc.revoked_at = Some(now.clone());
        doc.updated_at = Some(now);
        save(&gw, store, Kind::Key, &doc, hash.as_deref()).await?;
    }
    Ok(Json(view(Kind::Key, &doc, None)))
}

/// `POST /admin/v1/keys/{id}/rotate`: a new secret for the same key (limits, budget and
/// spend stay); the old secret stops working at once.
async fn rotate(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&gw)?;
    let (mut doc, _) = load(store, Kind::Key, &id).await?;
    if doc.revoked_at.is_some() {
        return Err(GatewayError::invalid_request(format!(
            "key {id:?} is revoked; create a new key instead"
        ))
        .into());
    }
    let secret = format!("{KEY_PREFIX}{}", random(SECRET_CHARS)?);
    doc.key_prefix = Some(format!("{}…", &secret[..VISIBLE]));
    doc.updated_at = Some(format_time(sluice_store::unix_ms()));
    save(&gw, store, Kind::Key, &doc, Some(&hash_secret(&secret))).await?;
    let mut out = view(Kind::Key, &doc, None);
    if let Value::Object(map) = &mut out {
        map.insert("key".into(), Value::String(secret));
    }
    Ok(Json(out))
}

/// `GET /admin/v1/spend?group_by=key|team|org|user|model|provider|tag&from=&to=&limit=`:
/// spend from the hourly ledger; `from` / `to` are unix milliseconds or RFC 3339 (default:
/// the last 30 days).
async fn spend(
    State(gw): State<Arc<Gateway>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&gw)?;
    known_params(&params, &["group_by", "from", "to", "limit"])?;
    let group_by = params.get("group_by").map_or("model", String::as_str);
    let dim = SpendDim::parse(group_by).ok_or_else(|| {
        GatewayError::invalid_request(format!(
            "group_by: unknown dimension {group_by:?}; expected key, team, org, user, model, provider or tag"
        ))
        .with_param("group_by")
    })?;
    let now = sluice_store::unix_ms();
    let from = time_param(&params, "from", now - 30 * 86_400_000)?;
    let to = time_param(&params, "to", now + 3_600_000)?;
    let limit = limit_param(&params, 1000, u32::MAX)?;
    let rows = store
        .spend(&SpendQuery {
            group_by: dim,
            from,
            to,
            limit,
        })
        .await
        .map_err(store_failed)?;
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "group": r.group,
                "requests": r.requests,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "cached_tokens": r.cached_tokens,
                "cost_usd": sluice_pricing::Usd(r.cost_nano).as_f64(),
                "saved_usd": sluice_pricing::Usd(r.saved_nano).as_f64(),
            })
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "group_by": group_by,
        "from": from,
        "to": to,
        "data": data,
    })))
}

/// `GET /admin/v1/events?kind=&since=&limit=`: stored events (budget alerts), newest first;
/// `since` is unix milliseconds or RFC 3339 (default: all), `limit` at most 1000 (default
/// 100).
async fn events(
    State(gw): State<Arc<Gateway>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&gw)?;
    known_params(&params, &["kind", "since", "limit"])?;
    let kind = params
        .get("kind")
        .map(String::as_str)
        .filter(|k| !k.is_empty());
    let since = time_param(&params, "since", 0)?;
    let limit = limit_param(&params, 100, 1000)?;
    let rows = store
        .events(kind, since, limit)
        .await
        .map_err(store_failed)?;
    let data: Vec<Value> = rows
        .into_iter()
        .map(|e| {
            json!({"id": e.id, "object": "event", "at": e.at, "kind": e.kind, "scope": e.scope,
                   "data": e.data})
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

/// Refuses query parameters other than `known`.
fn known_params(params: &HashMap<String, String>, known: &[&str]) -> Result<(), GatewayError> {
    match params.keys().find(|name| !known.contains(&name.as_str())) {
        None => Ok(()),
        Some(name) => Err(GatewayError::invalid_request(format!(
            "unknown query parameter {name:?}; expected one of {}",
            known.join(", ")
        ))
        .with_param(name.clone())),
    }
}

/// The time parameter `name`: unix milliseconds or RFC 3339; `default` when absent.
fn time_param(
    params: &HashMap<String, String>,
    name: &str,
    default: i64,
) -> Result<i64, GatewayError> {
    let Some(text) = params.get(name) else {
        return Ok(default);
    };
    text.parse::<i64>()
        .ok()
        .or_else(|| super::doc::parse_time(text))
        .ok_or_else(|| {
            GatewayError::invalid_request(format!(
                "{name}: expected unix milliseconds or an RFC 3339 time, got {text:?}"
            ))
            .with_param(name.to_owned())
        })
}

/// The `limit` parameter: from 1 to `max`; `default` when absent.
fn limit_param(
    params: &HashMap<String, String>,
    default: u32,
    max: u32,
) -> Result<u32, GatewayError> {
    let Some(text) = params.get("limit") else {
        return Ok(default);
    };
    text.parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            GatewayError::invalid_request(format!(
                "limit: expected a positive integer of at most {max}"
            ))
            .with_param("limit")
        })
}
