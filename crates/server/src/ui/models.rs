//! Models: every model group with its targets' live health from `GET /admin/v1/models`
//! (circuit state, failures in a row, in-flight requests, rate limiting, latency average),
//! and each group's recent requests, error rate and latency from the hourly ledger (the
//! current and the previous hour).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::Method;
use maud::{Markup, html};
use serde_json::Value;
use sluice_store::{Histogram, SpendDim, SpendQuery, SpendRow};

use super::api;
use super::format::{count, millis, percent};
use super::layout::{self, Nav, alert};
use super::range::{HOUR_MS, floor_hour};
use super::session::Signed;
use crate::Gateway;

/// What the ledger says about each model group recently.
type Recent = HashMap<String, (SpendRow, Histogram)>;

/// `GET /ui/models`.
pub(crate) async fn page(State(gw): State<Arc<Gateway>>, Signed(s): Signed) -> Response {
    let body = match api::call(&gw, Method::GET, "/admin/v1/models", None).await {
        Ok(models) => {
            let recent = recent(&gw).await;
            render(&models, &recent)
        }
        Err(e) => alert(&e.message),
    };
    layout::page("Models", Nav::Models, &s, body)
}

/// Requests and latency per model group over the current and the previous hour.
async fn recent(gw: &Gateway) -> Recent {
    let Some(store) = gw.store.as_ref() else {
        return Recent::new();
    };
    let now = sluice_store::unix_ms();
    let (from, to) = (floor_hour(now) - HOUR_MS, floor_hour(now) + HOUR_MS);
    let q = SpendQuery {
        group_by: SpendDim::Model,
        from,
        to,
        limit: 10_000,
    };
    let Ok(rows) = store.spend(&q).await else {
        return Recent::new();
    };
    let names: Vec<String> = rows.iter().map(|r| r.group.clone()).collect();
    let mut latency = store
        .latency_by(SpendDim::Model, &names, from, to)
        .await
        .unwrap_or_default();
    rows.into_iter()
        .map(|r| {
            let l = latency.remove(&r.group).unwrap_or_default();
            (r.group.clone(), (r, l))
        })
        .collect()
}

fn render(models: &Value, recent: &Recent) -> Markup {
    let empty = Vec::new();
    let groups = models["data"].as_array().unwrap_or(&empty);
    html! {
        p.muted { "Recent numbers cover the current and the previous hour." }
        @for g in groups {
            @let name = g["id"].as_str().unwrap_or_default();
            @let (row, lat) = recent.get(name).map_or((None, None), |(r, l)| (Some(r), Some(l)));
            section aria-labelledby={ "m-" (name) } {
                h2 #{ "m-" (name) } { (name) }
                p {
                    "Strategy " strong { (g["strategy"].as_str().unwrap_or_default()) }
                    @if let Some(f) = g["fallbacks"].as_array().filter(|f| !f.is_empty()) {
                        " · falls back to "
                        (f.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                    }
                    " · " (count(row.map_or(0, |r| r.requests))) " requests, "
                    (row.map_or_else(|| "—".to_owned(), |r| percent(r.errors, r.requests))) " errors, p50 "
                    (millis(lat.and_then(|l| l.percentile(0.5)))) ", p95 "
                    (millis(lat.and_then(|l| l.percentile(0.95))))
                }
                div.table {
                    table {
                        thead { tr {
                            th scope="col" { "Provider" }
                            th scope="col" { "Upstream model" }
                            th.num scope="col" { "Weight" }
                            th scope="col" { "Circuit" }
                            th.num scope="col" { "Failures in a row" }
                            th.num scope="col" { "In flight" }
                            th scope="col" { "Rate limited" }
                            th.num scope="col" { "Latency (avg to first byte)" }
                        } }
                        tbody {
                            @for t in g["targets"].as_array().unwrap_or(&empty) {
                                @let circuit = t["circuit"].as_str().unwrap_or("closed");
                                tr {
                                    td { (t["provider"].as_str().unwrap_or_default()) }
                                    td { (t["model"].as_str().unwrap_or_default()) }
                                    td.num { (t["weight"]) }
                                    td { span.badge.(circuit_class(circuit)) { (circuit) } }
                                    td.num { (t["consecutive_failures"]) }
                                    td.num { (t["in_flight"]) }
                                    td { (if t["rate_limited"].as_bool() == Some(true) { "yes" } else { "no" }) }
                                    td.num { (millis(t["latency_ms"].as_f64())) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn circuit_class(state: &str) -> &'static str {
    match state {
        "closed" => "ok",
        "half-open" => "warn",
        _ => "bad",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_show_their_circuit_and_groups_their_recent_traffic() {
        let models = json!({"data": [{"id": "fast", "strategy": "p2c", "fallbacks": ["smart"],
            "targets": [{"provider": "mock", "model": "gpt-4o-mini", "weight": 1, "circuit": "open",
                         "consecutive_failures": 5, "in_flight": 0, "rate_limited": false,
                         "latency_ms": 12.4}]}]});
        let mut lat = Histogram::default();
        lat.record(100);
        let row = SpendRow {
            requests: 4,
            errors: 1,
            ..SpendRow::default()
        };
        let recent = Recent::from([("fast".to_owned(), (row, lat))]);
        let html = render(&models, &recent).into_string();
        assert!(
            html.contains(r#"<span class="badge bad">open</span>"#),
            "{html}"
        );
        assert!(html.contains("falls back to smart"));
        assert!(html.contains("4 requests, 25.0% errors"), "{html}");
        assert!(html.contains("12 ms"), "{html}");
    }
}
