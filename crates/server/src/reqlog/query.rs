//! The admin API of the request log: `GET /admin/v1/logs` and `GET /admin/v1/logs/{id}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};
use sluice_store::{Api, LogQuery, StatusFilter, Store};
use sluice_types::{ErrorKind, GatewayError, Origin};

use crate::{ApiError, Gateway};

/// Records per page unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 50;
/// The largest `limit`.
const MAX_LIMIT: u32 = 1000;
/// Query parameters `GET /admin/v1/logs` understands.
const PARAMS: &[&str] = &[
    "model",
    "provider",
    "status",
    "api",
    "user",
    "key",
    "team",
    "org",
    "cache",
    "tag",
    "min_cost",
    "min_duration_ms",
    "from",
    "to",
    "before",
    "limit",
];

/// `GET /admin/v1/logs`: records newest first, filtered by `model` (requested or resolved),
/// `provider`, `status` (`200`, `5xx`, `error`), `api`, `user`, `key`, `team`, `org`,
/// `cache` (`HIT`, `MISS`, …), `tag` (`name=value`), `min_cost` (USD), `min_duration_ms`, `from` and
/// `to` (unix milliseconds, `from` inclusive, `to` exclusive), paged by `limit` (default 50,
/// at most 1000) and `before` (the `next` cursor of the previous page).
pub async fn list(
    State(gw): State<Arc<Gateway>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&gw)?;
    let query = parse_query(&params)?;
    let records = store.query_logs(&query).await.map_err(store_failed)?;
    let next = (records.len() == query.limit as usize)
        .then(|| {
            records
                .last()
                .map(|r| format!("{}:{}", r.received_at, r.id))
        })
        .flatten();
    Ok(Json(
        json!({"object": "list", "data": records, "next": next}),
    ))
}

/// `GET /admin/v1/logs/{id}`: the newest record with request id `id`.
pub async fn get(
    State(gw): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&gw)?;
    match store.log(&id).await.map_err(store_failed)? {
        Some(record) => Ok(Json(json!(record))),
        None => Err(GatewayError::new(
            ErrorKind::RouteNotFound,
            Origin::Client,
            format!("no log record with id {id:?}"),
        )
        .into()),
    }
}

fn store(gw: &Gateway) -> Result<&Store, GatewayError> {
    gw.store.as_ref().ok_or_else(|| {
        GatewayError::new(
            ErrorKind::Unsupported,
            Origin::Client,
            "the request log is off (logging.enabled: false)",
        )
    })
}

fn store_failed(e: sluice_store::StoreError) -> GatewayError {
    GatewayError::new(
        ErrorKind::Internal,
        Origin::Gateway,
        format!("the log store failed: {e}"),
    )
}

fn parse_query(params: &HashMap<String, String>) -> Result<LogQuery, GatewayError> {
    let bad = |name: &str, why: String| {
        GatewayError::invalid_request(format!("invalid `{name}`: {why}")).with_param(name)
    };
    if let Some(unknown) = params.keys().find(|k| !PARAMS.contains(&k.as_str())) {
        return Err(bad(
            unknown,
            format!("unknown parameter; expected one of: {}", PARAMS.join(", ")),
        ));
    }
    let text = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    let ms = |name: &str| -> Result<Option<i64>, GatewayError> {
        text(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| bad(name, format!("expected unix milliseconds, got {v:?}")))
            })
            .transpose()
    };
    let status = text("status")
        .map(|v| {
            StatusFilter::parse(&v).ok_or_else(|| {
                bad(
                    "status",
                    format!("expected a status like 200, a class like 5xx, or error; got {v:?}"),
                )
            })
        })
        .transpose()?;
    let api = text("api")
        .map(|v| {
            Api::ALL
                .iter()
                .find(|(_, name)| *name == v)
                .map(|(api, _)| *api)
                .ok_or_else(|| {
                    let names: Vec<&str> = Api::ALL.iter().map(|(_, n)| *n).collect();
                    bad(
                        "api",
                        format!("expected one of {}; got {v:?}", names.join(", ")),
                    )
                })
        })
        .transpose()?;
    let before = text("before")
        .map(|v| {
            v.split_once(':')
                .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| {
                    bad(
                        "before",
                        "expected the `next` cursor of a previous page".into(),
                    )
                })
        })
        .transpose()?;
    let tag = text("tag")
        .map(|v| match v.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
            _ => Err(bad("tag", format!("expected name=value, got {v:?}"))),
        })
        .transpose()?;
    let min_cost = text("min_cost")
        .map(|v| {
            v.parse::<f64>()
                .ok()
                .filter(|c| c.is_finite() && *c >= 0.0)
                .ok_or_else(|| bad("min_cost", format!("expected USD such as 0.01, got {v:?}")))
        })
        .transpose()?;
    let min_duration_ms = text("min_duration_ms")
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                bad(
                    "min_duration_ms",
                    format!("expected milliseconds, got {v:?}"),
                )
            })
        })
        .transpose()?;
    let limit = match text("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| bad("limit", format!("expected 1 to {MAX_LIMIT}, got {v:?}")))?,
    };
    Ok(LogQuery {
        model: text("model"),
        provider: text("provider"),
        status,
        api,
        user: text("user"),
        key: text("key"),
        team: text("team"),
        org: text("org"),
        cache: text("cache").map(|c| c.to_ascii_uppercase()),
        tag,
        min_cost,
        min_duration_ms,
        from: ms("from")?,
        to: ms("to")?,
        before,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<LogQuery, GatewayError> {
        let params = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse_query(&params)
    }

    #[test]
    fn queries_parse_with_defaults() {
        let q = parse(&[]).unwrap_or_default();
        assert_eq!(q.limit, 50);
        let q = parse(&[
            ("model", "fast"),
            ("status", "5xx"),
            ("from", "1700000000000"),
            ("to", "1700000001000"),
            ("limit", "1000"),
            ("before", "1700000000500:req:1"),
            ("api", "chat"),
        ])
        .unwrap_or_default();
        assert_eq!(q.model.as_deref(), Some("fast"));
        assert_eq!(q.status, Some(StatusFilter::Class(5)));
        assert_eq!(
            (q.from, q.to),
            (Some(1_700_000_000_000), Some(1_700_000_001_000))
        );
        assert_eq!(q.limit, 1000);
        assert_eq!(q.before, Some((1_700_000_000_500, "req:1".to_owned())));
        assert_eq!(q.api, Some(Api::Chat));
    }

    #[test]
    fn bad_parameters_are_named() {
        for (pairs, param) in [
            (&[("limit", "0")][..], "limit"),
            (&[("limit", "1001")][..], "limit"),
            (&[("from", "yesterday")][..], "from"),
            (&[("status", "ok")][..], "status"),
            (&[("api", "chatz")][..], "api"),
            (&[("before", "nope")][..], "before"),
            (&[("modle", "fast")][..], "modle"),
            (&[("tag", "nokey")][..], "tag"),
            (&[("min_cost", "-1")][..], "min_cost"),
            (&[("min_duration_ms", "slow")][..], "min_duration_ms"),
        ] {
            let e = parse(pairs).err();
            assert_eq!(e.as_ref().and_then(|e| e.param()), Some(param), "{pairs:?}");
            assert_eq!(e.map(|e| e.status()), Some(400));
        }
    }
}
