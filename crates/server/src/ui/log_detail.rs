//! One request's record (`GET /admin/v1/logs/{id}`): who sent it and what it asked for, a
//! timeline of its upstream attempts (retries, fallbacks, hedges), tokens and cost, cache
//! and guardrail outcomes, its error, and its bodies when they are stored.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use http::{Method, StatusCode};
use maud::{Markup, html};
use serde_json::Value;

use super::api;
use super::format::{count, millis, time, usd};
use super::layout::{self, Nav, alert};
use super::logs::{status_class, tokens};
use super::session::Signed;
use crate::Gateway;

/// `GET /ui/logs/{id}`.
pub(crate) async fn page(
    State(gw): State<Arc<Gateway>>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Response {
    let path = format!("/admin/v1/logs/{}", api::encode(&id));
    let (status, body) = match api::call(&gw, Method::GET, &path, None).await {
        Ok(record) => (StatusCode::OK, detail(&record)),
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY),
            alert(&e.message),
        ),
    };
    let mut resp = layout::page(
        "Request",
        Nav::Logs,
        &session,
        html! {
            p { a href="/ui/logs" { "← All records" } }
            (body)
        },
    );
    *resp.status_mut() = status;
    resp
}

/// A field's text, or `—`.
fn text(r: &Value, field: &str) -> String {
    match &r[field] {
        Value::Null => "—".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn detail(r: &Value) -> Markup {
    let status = r["status"].as_u64().unwrap_or(0);
    let at = |f: &str| r[f].as_i64().map(time);
    html! {
        h2 #summary { code { (text(r, "id")) } }
        div.two {
            dl.fields aria-labelledby="summary" {
                dt { "Status" } dd { span.badge.(status_class(status)) data-field="status" { (status) } }
                dt { "Received" } dd { @if let Some(t) = at("received_at") { (t) } }
                dt { "First byte" } dd { @match at("first_byte_at") { Some(t) => (t), None => "—" } }
                dt { "Duration" } dd { (millis(r["duration_ms"].as_f64())) }
                dt { "Time to first token" } dd { (millis(r["ttft_ms"].as_f64())) }
                dt { "API" } dd { (text(r, "api")) " · " (text(r, "method")) " " (text(r, "path")) }
                dt { "Stream" } dd { (if r["stream"].as_bool() == Some(true) { "yes" } else { "no" }) }
                dt { "Model asked for" } dd { (text(r, "requested_model")) }
                dt { "Resolved to" } dd { (text(r, "resolved_model")) }
                dt { "Answered by" } dd { (text(r, "provider")) " · " (text(r, "upstream_model")) }
                dt { "Routing rule" } dd { (text(r, "rule")) }
                dt { "Variant" } dd { (text(r, "variant")) }
            }
            dl.fields aria-label="Caller, tokens and cost" {
                dt { "Key" } dd { (text(r, "key")) }
                dt { "Team" } dd { (text(r, "team")) }
                dt { "Org" } dd { (text(r, "org")) }
                dt { "User" } dd { (text(r, "user")) }
                dt { "Tags" } dd { (text(r, "tags")) }
                dt { "Tokens in / out" } dd data-field="tokens" { (tokens(r)) }
                dt { "Cached / cache write / reasoning" } dd {
                    (opt_count(&r["cached_tokens"])) " / " (opt_count(&r["cache_write_tokens"])) " / " (opt_count(&r["reasoning_tokens"]))
                }
                dt { "Usage source" } dd { (text(r, "usage_source")) }
                dt { "Cost" } dd data-field="cost" { (usd(r["cost_usd"].as_f64())) }
                dt { "Saved by cache" } dd { (usd(r["saved_usd"].as_f64())) }
                dt { "Cache" } dd {
                    (text(r, "cache"))
                    @if let Some(score) = r["cache_score"].as_f64() { " (similarity " (format!("{score:.3}")) ")" }
                }
                dt { "Client" } dd { (text(r, "client_ip")) " · " (text(r, "user_agent")) }
            }
        }
        @if !r["error_type"].is_null() || !r["error_message"].is_null() {
            h2 { "Error" }
            p.error { strong { (text(r, "error_type")) } " " (text(r, "error_code")) ": " (text(r, "error_message")) }
        }
        h2 #attempts { "Attempts" }
        (attempts(r["attempts"].as_array().map_or(&[][..], Vec::as_slice)))
        h2 { "Guardrails" }
        (guardrails(r["guardrails"].as_array()))
        @for (field, title) in [("request_body", "Request body"), ("response_body", "Response body")] {
            @if let Some(body) = r[field].as_str() {
                h2 { (title) }
                pre { code { (body) } }
            }
        }
        @if r["request_body"].is_null() && r["response_body"].is_null() {
            p.muted { "Bodies are not stored (logging.bodies is off)." }
        }
    }
}

fn opt_count(v: &Value) -> String {
    v.as_i64().map_or_else(|| "—".to_owned(), count)
}

/// The attempts in order, each a bar as long as its share of the longest.
fn attempts(list: &[Value]) -> Markup {
    let longest = list
        .iter()
        .filter_map(|a| a["duration_ms"].as_f64())
        .fold(1.0_f64, f64::max);
    html! {
        @if list.is_empty() {
            p.muted { "No upstream was called." }
        } @else {
            ol.timeline aria-labelledby="attempts" {
                @for (i, a) in list.iter().enumerate() {
                    @let outcome = a["outcome"].as_str().unwrap_or("?");
                    @let ms = a["duration_ms"].as_f64().unwrap_or(0.0);
                    li {
                        span.muted { "#" (i + 1) }
                        span {
                            (text(a, "provider")) " · " (text(a, "model")) " "
                            span.badge.(if outcome == "ok" { "ok" } else { "bad" }) { (outcome) }
                            @if let Some(s) = a["status"].as_u64() { " " (s) }
                            " " (millis(Some(ms)))
                        }
                        svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" {
                            rect class=[(outcome != "ok").then_some("failed")] width=(format!("{:.1}", (ms / longest * 100.0).max(0.5))) height="10" {}
                        }
                    }
                }
            }
        }
    }
}

fn guardrails(list: Option<&Vec<Value>>) -> Markup {
    html! {
        @match list.filter(|l| !l.is_empty()) {
            None => p.muted { "No guardrail checks ran." },
            Some(list) => div.table { table {
                thead { tr {
                    th scope="col" { "Check" } th scope="col" { "Stage" } th scope="col" { "Action" }
                    th scope="col" { "Hits" } th.num scope="col" { "Score" }
                } }
                tbody {
                    @for g in list {
                        tr {
                            td { (text(g, "check")) }
                            td { (text(g, "stage")) }
                            td { (text(g, "action")) }
                            td.wrap {
                                @for h in g["hits"].as_array().map_or(&[][..], Vec::as_slice) {
                                    (text(h, "kind")) " × " (text(h, "count")) " "
                                }
                            }
                            td.num { (text(g, "score")) }
                        }
                    }
                }
            } },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attempts_show_retries_in_order_with_bars_to_scale() {
        let html = attempts(&[
            json!({"provider": "a", "model": "m", "outcome": "5xx", "status": 502, "duration_ms": 50}),
            json!({"provider": "b", "model": "m", "outcome": "ok", "duration_ms": 200}),
        ])
        .into_string();
        let first = html.find("#1").unwrap_or(usize::MAX);
        let second = html.find("#2").unwrap_or(0);
        assert!(first < second, "{html}");
        assert!(
            html.contains(r#"<rect class="failed" width="25.0""#),
            "{html}"
        );
        assert!(html.contains(r#"<rect width="100.0""#), "{html}");
        assert!(html.contains(" 502 50 ms"));
    }

    #[test]
    fn bodies_are_escaped_and_shown_only_when_stored() {
        let html =
            detail(&json!({"id": "r1", "status": 200, "request_body": "<script>x</script>"}))
                .into_string();
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!html.contains("Response body"));
        let html = detail(&json!({"id": "r1", "status": 200})).into_string();
        assert!(html.contains("Bodies are not stored"));
    }
}
