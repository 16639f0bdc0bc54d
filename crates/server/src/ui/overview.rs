//! The overview: requests, cost, cache savings, tokens, error rate and latency for a time
//! range, as numbers, hourly charts and breakdowns by model, provider, key and team. Every
//! number comes from the hourly ledger (`spend_hourly`, `latency_hourly`) through the
//! store's aggregate queries (the ones behind `/admin/v1/spend`), never from the log.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use http::StatusCode;
use maud::{Markup, html};
use sluice_store::{Histogram, Latency, SpendDim, SpendQuery, SpendRow, Store};

use super::charts::{Line, Unit, line_chart};
use super::format::{count, millis, nano_usd, percent};
use super::layout::{self, Nav, alert};
use super::range::Range;
use super::session::Signed;
use crate::Gateway;
use crate::tenancy::doc::Kind;

/// Rows in each breakdown table.
const BREAKDOWN_ROWS: u32 = 10;
/// The breakdowns: dimension, title, column head, the logs filter that shows its requests.
const BREAKDOWNS: [(SpendDim, &str, &str, &str); 4] = [
    (SpendDim::Model, "By model", "Model", "model"),
    (SpendDim::Provider, "By provider", "Provider", "provider"),
    (SpendDim::Key, "By key", "Key", "key"),
    (SpendDim::Team, "By team", "Team", "team"),
];

/// Everything the overview shows.
struct Overview {
    series: BTreeMap<i64, SpendRow>,
    latency: BTreeMap<i64, Latency>,
    breakdowns: Vec<(SpendDim, Vec<SpendRow>, HashMap<String, Histogram>)>,
}

/// `GET /ui`: the overview for `range` (default the last 24 hours).
pub(crate) async fn page(
    State(gw): State<Arc<Gateway>>,
    Signed(session): Signed,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let title = "Overview";
    let range = match Range::parse(&params, "24h", sluice_store::unix_ms()) {
        Ok(r) => r,
        Err(e) => {
            let mut resp = layout::page(title, Nav::Overview, &session, alert(&e));
            *resp.status_mut() = StatusCode::BAD_REQUEST;
            return resp;
        }
    };
    let Some(store) = gw.store.as_ref() else {
        return layout::page(title, Nav::Overview, &session, log_off());
    };
    let body = match load(store, &range).await {
        Ok(data) => render(&gw, &range, &data),
        Err(e) => alert(&format!("The store failed: {e}")),
    };
    layout::page(
        title,
        Nav::Overview,
        &session,
        html! { (range.picker("/ui")) (body) },
    )
}

/// The note shown when there is no request log to read.
pub(crate) fn log_off() -> Markup {
    html! {
        p.note { "The request log is off (logging.enabled: false), so there is no traffic to show." }
    }
}

/// Reads the totals, the series and each breakdown at once (each on its own pooled
/// connection).
async fn load(store: &Store, range: &Range) -> Result<Overview, sluice_store::StoreError> {
    let breakdown = |dim: SpendDim| async move {
        let rows = store
            .spend(&SpendQuery {
                group_by: dim,
                from: range.from,
                to: range.to,
                limit: BREAKDOWN_ROWS,
            })
            .await?;
        let values: Vec<String> = rows.iter().map(|r| r.group.clone()).collect();
        let latency = store.latency_by(dim, &values, range.from, range.to).await?;
        Ok::<_, sluice_store::StoreError>((dim, rows, latency))
    };
    let (series, latency, breakdowns) = futures_util::future::try_join3(
        store.spend_series(None, range.from, range.to),
        store.latency_series(None, range.from, range.to),
        futures_util::future::try_join_all(BREAKDOWNS.iter().map(|(dim, ..)| breakdown(*dim))),
    )
    .await?;
    Ok(Overview {
        series: series.into_iter().collect(),
        latency,
        breakdowns,
    })
}

/// The sums of `rows`.
pub(crate) fn total<'a>(rows: impl IntoIterator<Item = &'a SpendRow>) -> SpendRow {
    let mut t = SpendRow::default();
    for r in rows {
        t.requests += r.requests;
        t.prompt_tokens += r.prompt_tokens;
        t.completion_tokens += r.completion_tokens;
        t.cached_tokens += r.cached_tokens;
        t.cost_nano += r.cost_nano;
        t.saved_nano += r.saved_nano;
        t.errors += r.errors;
        t.cache_hits += r.cache_hits;
        t.cache_lookups += r.cache_lookups;
    }
    t
}

fn render(gw: &Gateway, range: &Range, data: &Overview) -> Markup {
    let t = total(data.series.values());
    let mut lat = Latency::default();
    for l in data.latency.values() {
        lat.merge(l);
    }
    let cards: [(&str, &str, String); 9] = [
        ("requests", "Requests", count(t.requests)),
        ("cost", "Cost", nano_usd(t.cost_nano)),
        ("saved", "Saved by cache", nano_usd(t.saved_nano)),
        (
            "tokens",
            "Tokens",
            count(t.prompt_tokens + t.completion_tokens),
        ),
        ("error-rate", "Error rate", percent(t.errors, t.requests)),
        ("p50", "Latency p50", millis(lat.total.percentile(0.5))),
        ("p95", "Latency p95", millis(lat.total.percentile(0.95))),
        (
            "ttft-p50",
            "Time to first token p50",
            millis(lat.ttft.percentile(0.5)),
        ),
        (
            "ttft-p95",
            "Time to first token p95",
            millis(lat.ttft.percentile(0.95)),
        ),
    ];
    html! {
        dl.cards {
            @for (id, label, value) in &cards {
                div.card { dt { (label) } dd data-metric=(id) { (value) } }
            }
        }
        p.muted {
            (count(t.prompt_tokens)) " prompt and " (count(t.completion_tokens))
            " completion tokens; " (count(t.errors)) " of " (count(t.requests))
            " requests failed (status 400 and above)."
        }
        (charts(range, data))
        h2 { "Breakdowns" }
        div.breakdowns {
            @for (dim, rows, latency) in &data.breakdowns {
                (breakdown(gw, *dim, rows, latency, t.requests))
            }
        }
    }
}

fn charts(range: &Range, data: &Overview) -> Markup {
    let xs: Vec<i64> = range.hours().collect();
    let of = |f: &dyn Fn(&SpendRow) -> f64| -> Vec<Option<f64>> {
        xs.iter()
            .map(|h| Some(data.series.get(h).map_or(0.0, f)))
            .collect()
    };
    let pct = |q: f64, ttft: bool| -> Vec<Option<f64>> {
        xs.iter()
            .map(|h| {
                let l = data.latency.get(h)?;
                if ttft { &l.ttft } else { &l.total }.percentile(q)
            })
            .collect()
    };
    let error_rate: Vec<Option<f64>> = xs
        .iter()
        .map(|h| {
            data.series
                .get(h)
                .filter(|r| r.requests > 0)
                .map(|r| r.errors as f64 * 100.0 / r.requests as f64)
        })
        .collect();
    let by_day = range.by_day();
    html! {
        div.charts {
            (line_chart("chart-requests", "Requests per hour", &xs, &single("requests", of(&|r| r.requests as f64)), Unit::Count, by_day))
            (line_chart("chart-cost", "Cost per hour", &xs, &[
                Line { name: "cost", points: of(&|r| r.cost_nano as f64 / 1e9) },
                Line { name: "saved by cache", points: of(&|r| r.saved_nano as f64 / 1e9) },
            ], Unit::Usd, by_day))
            (line_chart("chart-tokens", "Tokens per hour", &xs, &[
                Line { name: "prompt", points: of(&|r| r.prompt_tokens as f64) },
                Line { name: "completion", points: of(&|r| r.completion_tokens as f64) },
            ], Unit::Count, by_day))
            (line_chart("chart-errors", "Error rate", &xs, &single("errors", error_rate), Unit::Percent, by_day))
            (line_chart("chart-latency", "Latency", &xs, &[
                Line { name: "p50", points: pct(0.5, false) },
                Line { name: "p95", points: pct(0.95, false) },
            ], Unit::Millis, by_day))
            (line_chart("chart-ttft", "Time to first token (streams)", &xs, &[
                Line { name: "p50", points: pct(0.5, true) },
                Line { name: "p95", points: pct(0.95, true) },
            ], Unit::Millis, by_day))
        }
    }
}

/// A chart's only line.
fn single(name: &str, points: Vec<Option<f64>>) -> [Line<'_>; 1] {
    [Line { name, points }]
}

/// The display name of a key or team (its `name`, else its id).
fn tenant_name(gw: &Gateway, dim: SpendDim, id: &str) -> Option<String> {
    let kind = match dim {
        SpendDim::Key => Kind::Key,
        SpendDim::Team => Kind::Team,
        _ => return None,
    };
    gw.tenancy.current().get(kind, id)?.doc.name.clone()
}

fn breakdown(
    gw: &Gateway,
    dim: SpendDim,
    rows: &[SpendRow],
    latency: &HashMap<String, Histogram>,
    all: i64,
) -> Markup {
    let (title, head, filter) = BREAKDOWNS
        .iter()
        .find(|(d, ..)| *d == dim)
        .map_or(("", "", ""), |(_, t, h, f)| (*t, *h, *f));
    html! {
        section aria-labelledby={ "by-" (filter) } {
            h3 #{ "by-" (filter) } { (title) }
            @if rows.is_empty() {
                p.muted { "No requests in this range." }
            } @else {
                div.table {
                    table {
                        thead { tr {
                            th scope="col" { (head) }
                            th.num scope="col" { "Requests" }
                            th scope="col" { span.sr-only { "Share" } }
                            th.num scope="col" { "Tokens" }
                            th.num scope="col" { "Cost" }
                            th.num scope="col" { "Errors" }
                            th.num scope="col" { "p50" }
                            th.num scope="col" { "p95" }
                        } }
                        tbody {
                            @for r in rows {
                                @let l = latency.get(&r.group);
                                @let share = if all > 0 { r.requests as f64 * 100.0 / all as f64 } else { 0.0 };
                                tr {
                                    td {
                                        a href={ "/ui/logs?" (super::api::query([(filter, r.group.as_str())])) } {
                                            @match tenant_name(gw, dim, &r.group) {
                                                Some(name) => { (name) " " span.muted { (r.group) } }
                                                None => { (r.group) }
                                            }
                                        }
                                    }
                                    td.num { (count(r.requests)) }
                                    td {
                                        svg.bar viewBox="0 0 100 8" aria-hidden="true" {
                                            rect.track width="100" height="8" {}
                                            rect width=(format!("{share:.1}")) height="8" {}
                                        }
                                    }
                                    td.num { (count(r.prompt_tokens + r.completion_tokens)) }
                                    td.num { (nano_usd(r.cost_nano)) }
                                    td.num { (percent(r.errors, r.requests)) }
                                    td.num { (millis(l.and_then(|l| l.percentile(0.5)))) }
                                    td.num { (millis(l.and_then(|l| l.percentile(0.95)))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
