//! The response cache: hit rate and cost saved for a time range (from the hourly ledger),
//! per model, the in-memory backend's size (`sluice_cache_bytes` from `/metrics`), and a
//! purge form that calls `DELETE /admin/v1/cache`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{Method, StatusCode};
use maud::{Markup, html};
use sluice_store::{SpendDim, SpendQuery, SpendRow, Store};

use super::api::{self, query};
use super::csrf;
use super::format::{bytes, count, nano_usd, percent};
use super::layout::{self, Nav, alert};
use super::overview::{log_off, total};
use super::range::Range;
use super::session::{Session, Signed};
use crate::Gateway;

/// `GET /ui/cache`.
pub(crate) async fn page(
    State(gw): State<Arc<Gateway>>,
    Signed(s): Signed,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let range = match Range::parse(&params, "24h", sluice_store::unix_ms()) {
        Ok(r) => r,
        Err(e) => {
            let mut resp = layout::page("Cache", Nav::Cache, &s, alert(&e));
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return resp;
        }
    };
    let stats = match gw.store.as_ref() {
        Some(store) => match load(store, &range).await {
            Ok((all, models)) => stats(&all, &models),
            Err(e) => alert(&format!("The store failed: {e}")),
        },
        None => log_off(),
    };
    let size = api::text(&gw, "/metrics")
        .await
        .ok()
        .and_then(|text| gauge(&text, sluice_cache::BYTES));
    let body = html! {
        @if let Some(n) = params.get("purged") {
            p.note role="status" { "Purged " (n) " cached answers." }
        }
        (range.picker("/ui/cache"))
        (stats)
        h2 { "Size" }
        p data-metric="cache-bytes" {
            @match size {
                Some(b) => { (bytes(b)) " held by the in-memory cache." }
                None => "Not known: no model caches, or the cache lives in Redis.",
            }
        }
        (purge_form(&gw, &s))
    };
    layout::page("Cache", Nav::Cache, &s, body)
}

async fn load(
    store: &Store,
    range: &Range,
) -> Result<(SpendRow, Vec<SpendRow>), sluice_store::StoreError> {
    let series = store.spend_series(None, range.from, range.to).await?;
    let all = total(series.iter().map(|(_, r)| r));
    let by_model = store
        .spend(&SpendQuery {
            group_by: SpendDim::Model,
            from: range.from,
            to: range.to,
            limit: 1000,
        })
        .await?;
    let cached = by_model
        .into_iter()
        .filter(|r| r.cache_lookups > 0)
        .collect();
    Ok((all, cached))
}

fn stats(all: &SpendRow, models: &[SpendRow]) -> Markup {
    html! {
        dl.cards {
            div.card { dt { "Hit rate" } dd data-metric="hit-rate" { (percent(all.cache_hits, all.cache_lookups)) } }
            div.card { dt { "Hits" } dd data-metric="hits" { (count(all.cache_hits)) } }
            div.card { dt { "Lookups" } dd data-metric="lookups" { (count(all.cache_lookups)) } }
            div.card { dt { "Saved" } dd data-metric="saved" { (nano_usd(all.saved_nano)) } }
        }
        h2 { "By model" }
        @if models.is_empty() {
            p.muted { "No cached model had requests in this range." }
        } @else {
            div.table { table {
                thead { tr {
                    th scope="col" { "Model" } th.num scope="col" { "Lookups" } th.num scope="col" { "Hits" }
                    th.num scope="col" { "Hit rate" } th.num scope="col" { "Saved" }
                } }
                tbody {
                    @for r in models {
                        tr {
                            td { (r.group) }
                            td.num { (count(r.cache_lookups)) }
                            td.num { (count(r.cache_hits)) }
                            td.num { (percent(r.cache_hits, r.cache_lookups)) }
                            td.num { (nano_usd(r.saved_nano)) }
                        }
                    }
                }
            } }
        }
    }
}

fn purge_form(gw: &Gateway, s: &Session) -> Markup {
    html! {
        @if s.is_admin() {
            h2 #purge { "Purge" }
            form.filters method="post" action="/ui/cache/purge" aria-labelledby="purge"
                data-confirm="Remove these cached answers?" {
                (csrf::field(&s.csrf))
                div {
                    label for="purge-model" { "Model" }
                    select #purge-model name="model" {
                        option value="" { "every model" }
                        @for m in gw.router.model_names() {
                            option value=(m) { (m) }
                        }
                    }
                }
                div {
                    label for="purge-scope" { "Scope" }
                    select #purge-scope name="scope" {
                        option value="" { "every scope" }
                        option value="global" { "global" }
                        option value="anonymous" { "anonymous" }
                    }
                }
                div.actions { button.danger type="submit" { "Purge" } }
            }
        }
    }
}

/// `POST /ui/cache/purge`: removes the cached answers of a model and scope (or all).
pub(crate) async fn purge(
    State(gw): State<Arc<Gateway>>,
    Signed(s): Signed,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = csrf::check_change(&s, &form) {
        return refused.into_response();
    }
    let field = |f: &str| form.get(f).map_or("", String::as_str);
    let path = format!(
        "/admin/v1/cache?{}",
        query([("model", field("model")), ("scope", field("scope"))])
    );
    match api::call(&gw, Method::DELETE, &path, None).await {
        Ok(done) => {
            let n = done["purged"].as_u64().unwrap_or(0);
            Redirect::to(&format!("/ui/cache?purged={n}")).into_response()
        }
        Err(e) => {
            let mut resp = layout::page("Cache", Nav::Cache, &s, alert(&e.message));
            *resp.status_mut() = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
            resp
        }
    }
}

/// The value of the unlabelled gauge `name` in a Prometheus text exposition.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_is_read_from_the_metrics_text() {
        let text = "# TYPE sluice_cache_bytes gauge\nsluice_cache_bytes_other 1\nsluice_cache_bytes 2048\n";
        assert_eq!(gauge(text, "sluice_cache_bytes"), Some(2048.0));
        assert_eq!(gauge("", "sluice_cache_bytes"), None);
    }

    #[test]
    fn hit_rate_is_hits_over_lookups() {
        let all = SpendRow {
            cache_hits: 1,
            cache_lookups: 4,
            saved_nano: 2_000_000,
            ..SpendRow::default()
        };
        let html = stats(&all, &[]).into_string();
        assert!(html.contains(r#"data-metric="hit-rate">25.0%"#), "{html}");
        assert!(html.contains(r#"data-metric="saved">$0.002"#), "{html}");
    }
}
