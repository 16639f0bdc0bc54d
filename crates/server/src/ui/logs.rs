//! The logs explorer: the filters of `GET /admin/v1/logs`, a table of one page of records
//! (newest first) and keyset paging with the API's `next` cursor.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use http::{Method, StatusCode};
use maud::{Markup, html};
use serde_json::Value;
use sluice_store::Api;

use super::api::{self, query};
use super::format::{count, millis, time, usd};
use super::layout::{self, Nav, alert};
use super::range::instant;
use super::session::Signed;
use crate::Gateway;

/// Text filters passed to the API as they are: parameter, label, placeholder.
const TEXT_FILTERS: [(&str, &str, &str); 10] = [
    ("model", "Model", "requested or resolved"),
    ("provider", "Provider", ""),
    ("status", "Status", "200, 4xx, 5xx or error"),
    ("user", "User", ""),
    ("key", "Key id", "key_…"),
    ("team", "Team id", "team_…"),
    ("org", "Org id", "org_…"),
    ("tag", "Tag", "name=value"),
    ("min_cost", "Min cost (USD)", "0.01"),
    ("min_duration_ms", "Min duration (ms)", "1000"),
];
/// The cache outcomes a record can have.
const CACHE: [&str; 6] = [
    "HIT",
    "SEMANTIC-HIT",
    "MISS",
    "BYPASS",
    "SEMANTIC-SKIP",
    "SEMANTIC-VETO",
];
/// Page sizes offered.
const LIMITS: [&str; 4] = ["25", "50", "100", "200"];

/// `GET /ui/logs`: the filter form and one page of matching records.
pub(crate) async fn page(
    State(gw): State<Arc<Gateway>>,
    Signed(session): Signed,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let (filters, problem) = api_filters(&params);
    let (status, results) = match problem {
        Some(p) => (StatusCode::BAD_REQUEST, alert(&p)),
        None => {
            let path = format!(
                "/admin/v1/logs?{}",
                query(filters.iter().map(|(k, v)| (*k, v.as_str())))
            );
            match api::call(&gw, Method::GET, &path, None).await {
                Ok(list) => (StatusCode::OK, table(&list, &params)),
                Err(e) => (
                    StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY),
                    alert(&e.message),
                ),
            }
        }
    };
    let mut resp = layout::page(
        "Logs",
        Nav::Logs,
        &session,
        html! { (form(&params)) (results) },
    );
    *resp.status_mut() = status;
    resp
}

/// The API's parameters for the page's query: text filters as they are, `from` / `to`
/// from the browser's local time to unix ms; a problem with them, if any.
fn api_filters(params: &HashMap<String, String>) -> (Vec<(&'static str, String)>, Option<String>) {
    let mut out = Vec::new();
    let names = TEXT_FILTERS
        .iter()
        .map(|(n, _, _)| *n)
        .chain(["api", "cache", "before", "limit"]);
    for name in names {
        if let Some(v) = params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            out.push((name, v.to_owned()));
        }
    }
    let tz = params.get("tz").and_then(|t| t.parse().ok()).unwrap_or(0);
    for name in ["from", "to"] {
        let Some(text) = params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
            continue;
        };
        match instant(text, tz) {
            Some(ms) => out.push((name, ms.to_string())),
            None => {
                return (
                    out,
                    Some(format!("`{name}`: expected a date and time, got {text:?}")),
                );
            }
        }
    }
    (out, None)
}

fn form(params: &HashMap<String, String>) -> Markup {
    let value = |name: &str| params.get(name).map_or("", String::as_str);
    html! {
        form.filters method="get" action="/ui/logs" aria-label="Filter the log" {
            input type="hidden" name="tz" value="0";
            @for (name, label, hint) in TEXT_FILTERS {
                div {
                    label for={ "f-" (name) } { (label) }
                    input id={ "f-" (name) } type="text" name=(name) value=(value(name)) placeholder=(hint);
                }
            }
            div {
                label for="f-api" { "API" }
                select #f-api name="api" {
                    option value="" { "any" }
                    @for (_, api) in Api::ALL {
                        option value=(api) selected[value("api") == api] { (api) }
                    }
                }
            }
            div {
                label for="f-cache" { "Cache" }
                select #f-cache name="cache" {
                    option value="" { "any" }
                    @for c in CACHE {
                        option value=(c) selected[value("cache").eq_ignore_ascii_case(c)] { (c) }
                    }
                }
            }
            div {
                label for="f-from" { "From" }
                input #f-from type="datetime-local" name="from" value=(value("from"));
            }
            div {
                label for="f-to" { "To" }
                input #f-to type="datetime-local" name="to" value=(value("to"));
            }
            div {
                label for="f-limit" { "Per page" }
                select #f-limit name="limit" {
                    @for l in LIMITS {
                        option value=(l) selected[value("limit") == l || (value("limit").is_empty() && l == "50")] { (l) }
                    }
                }
            }
            div.actions {
                button type="submit" { "Filter" }
                a.button.secondary href="/ui/logs" { "Clear" }
            }
        }
    }
}

fn table(list: &Value, params: &HashMap<String, String>) -> Markup {
    let empty = Vec::new();
    let records = list["data"].as_array().unwrap_or(&empty);
    let str_of = |r: &Value, f: &str| r[f].as_str().unwrap_or("").to_owned();
    // The same filters without the cursor, for the pager's links.
    let kept: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "before")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    html! {
        h2 #results { "Records" }
        @if records.is_empty() {
            p.muted { "No records match." }
        } @else {
            div.table {
                table aria-labelledby="results" {
                    thead { tr {
                        th scope="col" { "Time" }
                        th scope="col" { "Status" }
                        th scope="col" { "API" }
                        th scope="col" { "Model" }
                        th scope="col" { "Provider" }
                        th.num scope="col" { "Duration" }
                        th.num scope="col" { "Tokens in / out" }
                        th.num scope="col" { "Cost" }
                        th scope="col" { "Cache" }
                        th scope="col" { "Key" }
                        th scope="col" { "Request id" }
                    } }
                    tbody {
                        @for r in records {
                            @let id = str_of(r, "id");
                            @let status = r["status"].as_u64().unwrap_or(0);
                            @let requested = str_of(r, "requested_model");
                            @let resolved = str_of(r, "resolved_model");
                            tr {
                                td { (time(r["received_at"].as_i64().unwrap_or(0))) }
                                td { span.badge.(status_class(status)) { (status) } }
                                td { (str_of(r, "api")) }
                                td {
                                    (requested)
                                    @if !resolved.is_empty() && resolved != requested { " → " (resolved) }
                                }
                                td { (str_of(r, "provider")) }
                                td.num { (millis(r["duration_ms"].as_f64())) }
                                td.num { (tokens(r)) }
                                td.num { (usd(r["cost_usd"].as_f64())) }
                                td { (str_of(r, "cache")) }
                                td { (str_of(r, "key")) }
                                td { a href={ "/ui/logs/" (api::encode(&id)) } { (id) } }
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if params.contains_key("before") {
                a href={ "/ui/logs?" (query(kept.iter().copied())) } { "← Newest" }
            }
            @if let Some(next) = list["next"].as_str() {
                a href={ "/ui/logs?" (query(kept.iter().copied().chain([("before", next)]))) } rel="next" { "Older →" }
            }
        }
    }
}

/// `12 / 34`, or `—` when the record has no usage.
pub(crate) fn tokens(r: &Value) -> String {
    match (r["prompt_tokens"].as_i64(), r["completion_tokens"].as_i64()) {
        (None, None) => "—".to_owned(),
        (p, c) => format!("{} / {}", count(p.unwrap_or(0)), count(c.unwrap_or(0))),
    }
}

/// The badge colour of a status.
pub(crate) fn status_class(status: u64) -> &'static str {
    match status {
        0..400 => "ok",
        400..500 => "warn",
        _ => "bad",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn filters_pass_to_the_api_with_local_times_in_milliseconds() {
        let (f, problem) = api_filters(&params(&[
            ("model", " fast "),
            ("status", ""),
            ("from", "2023-11-14T23:13"),
            ("tz", "-60"),
            ("unknown", "x"),
        ]));
        assert_eq!(problem, None);
        assert_eq!(
            f,
            [
                ("model", "fast".to_owned()),
                ("from", "1699999980000".to_owned())
            ]
        );
        let (_, problem) = api_filters(&params(&[("to", "tomorrow")]));
        assert!(problem.is_some_and(|p| p.contains("`to`")));
    }

    #[test]
    fn the_pager_keeps_the_filters_and_moves_the_cursor() {
        let list = serde_json::json!({"data": [{"id": "r 1", "status": 502, "received_at": 1}],
                                      "next": "1:r 1"});
        let html = table(&list, &params(&[("model", "fast"), ("before", "9:x")])).into_string();
        assert!(html.contains(r#"href="/ui/logs/r%201""#), "{html}");
        assert!(html.contains(r#"<span class="badge bad">502</span>"#));
        assert!(
            html.contains(r#"href="/ui/logs?model=fast&amp;before=1%3Ar%201" rel="next""#),
            "{html}"
        );
        assert!(html.contains(r#"href="/ui/logs?model=fast">← Newest"#));
    }
}
