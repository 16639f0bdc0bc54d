//! Keys and teams: lists with each one's limits and budget use, create (a key's secret is
//! shown once, with a copy button), edit and revoke, all through the admin API's
//! `/admin/v1/keys` and `/admin/v1/teams`. Viewers see the lists; every change needs an
//! admin session and the form's CSRF token.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{Method, StatusCode};
use maud::{Markup, html};
use serde_json::Value;

use super::api::{self, Refused};
use super::csrf;
use super::format::time;
use super::layout::{self, Nav, alert};
use super::session::{Session, Signed};
use super::tenants_form::{self, Choices, Values};
use crate::Gateway;
use crate::tenancy::doc::Kind;

/// The form fields of a request.
type Fields = Form<HashMap<String, String>>;

/// The page's path, collection name, title and navigation entry of `kind`.
fn names(kind: Kind) -> (&'static str, &'static str, &'static str, Nav) {
    match kind {
        Kind::Key => ("/ui/keys", "keys", "Keys", Nav::Keys),
        _ => ("/ui/teams", "teams", "Teams", Nav::Teams),
    }
}

/// `GET /ui/keys`.
pub(crate) async fn keys(State(gw): State<Arc<Gateway>>, Signed(s): Signed) -> Response {
    list_page(&gw, &s, Kind::Key, StatusCode::OK, html! {}, None).await
}

/// `GET /ui/teams`.
pub(crate) async fn teams(State(gw): State<Arc<Gateway>>, Signed(s): Signed) -> Response {
    list_page(&gw, &s, Kind::Team, StatusCode::OK, html! {}, None).await
}

/// `POST /ui/keys`: creates a key and shows its secret once.
pub(crate) async fn create_key(
    State(gw): State<Arc<Gateway>>,
    Signed(s): Signed,
    Form(form): Fields,
) -> Response {
    create(&gw, &s, Kind::Key, &form).await
}

/// `POST /ui/teams`: creates a team.
pub(crate) async fn create_team(
    State(gw): State<Arc<Gateway>>,
    Signed(s): Signed,
    Form(form): Fields,
) -> Response {
    create(&gw, &s, Kind::Team, &form).await
}

/// `GET /ui/keys/{id}`: the edit form.
pub(crate) async fn edit_key(
    State(gw): State<Arc<Gateway>>,
    Signed(s): Signed,
    Path(id): Path<String>,
) -> Response {
    edit_page(&gw, &s, Kind::Key, &id, None).await
}

/// `GET /ui/teams/{id}`: the edit form.
pub(crate) async fn edit_team(
    State(gw): State<Arc<Gateway>>,
    Signed(s): Signed,
    Path(id): Path<String>,
) -> Response {
    edit_page(&gw, &s, Kind::Team, &id, None).await
}

/// `POST /ui/keys/{id}`: saves the edit form.
pub(crate) async fn update_key(
    State(gw): State<Arc<Gateway>>,
    Signed(s): Signed,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    update(&gw, &s, Kind::Key, &id, &form).await
}

/// `POST /ui/teams/{id}`: saves the edit form.
pub(crate) async fn update_team(
    State(gw): State<Arc<Gateway>>,
    Signed(s): Signed,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    update(&gw, &s, Kind::Team, &id, &form).await
}

/// `POST /ui/keys/{id}/revoke`: the key stops working at once.
pub(crate) async fn revoke_key(
    State(gw): State<Arc<Gateway>>,
    Signed(s): Signed,
    Path(id): Path<String>,
    Form(form): Fields,
) -> Response {
    if let Err(refused) = csrf::check_change(&s, &form) {
        return refused.into_response();
    }
    let path = format!("/admin/v1/keys/{}/revoke", api::encode(&id));
    match api::call(&gw, Method::POST, &path, None).await {
        Ok(_) => Redirect::to("/ui/keys").into_response(),
        Err(e) => {
            list_page(
                &gw,
                &s,
                Kind::Key,
                status_of(&e),
                html! {},
                Some(&e.message),
            )
            .await
        }
    }
}

async fn create(
    gw: &Arc<Gateway>,
    s: &Session,
    kind: Kind,
    form: &HashMap<String, String>,
) -> Response {
    if let Err(refused) = csrf::check_change(s, form) {
        return refused.into_response();
    }
    let (_, collection, _, _) = names(kind);
    let body = match tenants_form::create_body(kind, form) {
        Ok(body) => body,
        Err(e) => return list_page(gw, s, kind, StatusCode::BAD_REQUEST, html! {}, Some(&e)).await,
    };
    let path = format!("/admin/v1/{collection}");
    match api::call(gw, Method::POST, &path, Some(&body)).await {
        Ok(created) => {
            let panel = created_panel(kind, &created);
            list_page(gw, s, kind, StatusCode::CREATED, panel, None).await
        }
        Err(e) => list_page(gw, s, kind, status_of(&e), html! {}, Some(&e.message)).await,
    }
}

/// The panel that announces a new key or team; a key's secret is in it, once.
fn created_panel(kind: Kind, created: &Value) -> Markup {
    let name = created["name"].as_str().unwrap_or_default();
    let id = created["id"].as_str().unwrap_or_default();
    html! {
        section.secret aria-labelledby="created" role="status" {
            h2 #created { "Created " (kind.name()) " " (name) " (" code { (id) } ")" }
            @if let Some(secret) = created["key"].as_str() {
                p { strong { "Copy this secret now: it is shown only this once." } }
                p {
                    code #new-secret data-secret { (secret) } " "
                    button.secondary type="button" data-copy="new-secret" { "Copy" }
                }
            }
        }
    }
}

async fn update(
    gw: &Arc<Gateway>,
    s: &Session,
    kind: Kind,
    id: &str,
    form: &HashMap<String, String>,
) -> Response {
    if let Err(refused) = csrf::check_change(s, form) {
        return refused.into_response();
    }
    let (page_path, collection, _, _) = names(kind);
    let result = match tenants_form::patch_body(kind, form) {
        Ok(patch) => {
            let path = format!("/admin/v1/{collection}/{}", api::encode(id));
            api::call(gw, Method::PATCH, &path, Some(&patch)).await
        }
        Err(message) => Err(Refused {
            status: 400,
            message,
        }),
    };
    match result {
        Ok(_) => Redirect::to(page_path).into_response(),
        Err(e) => edit_page(gw, s, kind, id, Some((form, e))).await,
    }
}

/// The list page of `kind`: `top` (a created panel) first, then `error` if any, the table,
/// and the create form for admins.
async fn list_page(
    gw: &Arc<Gateway>,
    s: &Session,
    kind: Kind,
    status: StatusCode,
    top: Markup,
    error: Option<&str>,
) -> Response {
    let (page_path, collection, title, nav) = names(kind);
    let list = api::call(gw, Method::GET, &format!("/admin/v1/{collection}"), None).await;
    let parents = parents(gw, kind).await;
    let body = html! {
        (top)
        @if let Some(e) = error { (alert(e)) }
        @match &list {
            Ok(list) => (table(kind, list, &parents, s)),
            Err(e) => (alert(&e.message)),
        }
        @if s.is_admin() {
            h2 #create { "Create a " (kind.name()) }
            (tenants_form::render(kind, page_path, &s.csrf, &Values::of_form(&HashMap::new()), &parents, &format!("Create {}", kind.name())))
        }
    };
    let mut resp = layout::page(title, nav, s, body);
    *resp.status_mut() = status;
    resp
}

/// The edit page of one key or team; `failed` is a refused form to show again with why.
async fn edit_page(
    gw: &Arc<Gateway>,
    s: &Session,
    kind: Kind,
    id: &str,
    failed: Option<(&HashMap<String, String>, Refused)>,
) -> Response {
    let (page_path, collection, _, nav) = names(kind);
    let path = format!("/admin/v1/{collection}/{}", api::encode(id));
    let doc = match api::call(gw, Method::GET, &path, None).await {
        Ok(doc) => doc,
        Err(e) => {
            let mut resp = layout::page("Not found", nav, s, alert(&e.message));
            *resp.status_mut() = status_of(&e);
            return resp;
        }
    };
    let parents = parents(gw, kind).await;
    let (values, status, error) = match &failed {
        Some((form, e)) => (
            Values::of_form(form),
            status_of(e),
            Some(e.message.as_str()),
        ),
        None => (Values::of_doc(&doc), StatusCode::OK, None),
    };
    let action = format!("{page_path}/{}", api::encode(id));
    let title = format!(
        "Edit {} {}",
        kind.name(),
        doc["name"].as_str().unwrap_or(id)
    );
    let body = html! {
        p { a href=(page_path) { "← All " (collection) } }
        @if let Some(e) = error { (alert(e)) }
        @if s.is_admin() {
            (tenants_form::render(kind, &action, &s.csrf, &values, &parents, "Save"))
        } @else {
            pre { code { (serde_json::to_string_pretty(&doc).unwrap_or_default()) } }
        }
    };
    let mut resp = layout::page(&title, nav, s, body);
    *resp.status_mut() = status;
    resp
}

/// The teams a key may belong to, or the orgs a team may belong to.
async fn parents(gw: &Arc<Gateway>, kind: Kind) -> Choices {
    let collection = if kind == Kind::Key { "teams" } else { "orgs" };
    let Ok(list) = api::call(gw, Method::GET, &format!("/admin/v1/{collection}"), None).await
    else {
        return Vec::new();
    };
    list["data"]
        .as_array()
        .map(|docs| {
            docs.iter()
                .filter_map(|d| {
                    let id = d["id"].as_str()?.to_owned();
                    let label = d["name"]
                        .as_str()
                        .map_or_else(|| id.clone(), |n| format!("{n} ({id})"));
                    Some((id, label))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn status_of(e: &Refused) -> StatusCode {
    StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY)
}

fn table(kind: Kind, list: &Value, parents: &Choices, s: &Session) -> Markup {
    let (page_path, collection, _, _) = names(kind);
    let empty = Vec::new();
    let docs = list["data"].as_array().unwrap_or(&empty);
    let (parent_field, parent_label) = if kind == Kind::Key {
        ("team", "Team")
    } else {
        ("org", "Org")
    };
    let parent_name = |id: &str| {
        parents
            .iter()
            .find(|(pid, _)| pid == id)
            .map_or_else(|| id.to_owned(), |(_, label)| label.clone())
    };
    let now = sluice_store::unix_ms();
    html! {
        @if docs.is_empty() {
            p.muted { "No " (collection) " yet." }
        } @else {
            div.table {
                table #{ (collection) "-table" } {
                    thead { tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Id" }
                        th scope="col" { (parent_label) }
                        @if kind == Kind::Key { th scope="col" { "Prefix" } th scope="col" { "Status" } }
                        th scope="col" { "Models" }
                        th.num scope="col" { "RPM" }
                        th.num scope="col" { "TPM" }
                        th.num scope="col" { "Parallel" }
                        th scope="col" { "Budget this period" }
                        th scope="col" { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for d in docs {
                            @let id = d["id"].as_str().unwrap_or_default();
                            @let name = d["name"].as_str().unwrap_or_default();
                            tr data-id=(id) {
                                td { (name) }
                                td { code { (id) } }
                                td { (d[parent_field].as_str().map(parent_name).unwrap_or_default()) }
                                @if kind == Kind::Key {
                                    td { code { (d["key_prefix"].as_str().unwrap_or_default()) } }
                                    td { (key_status(d, now)) }
                                }
                                td.wrap { (models(d)) }
                                @for f in ["rpm", "tpm", "max_parallel"] {
                                    td.num { (d[f].as_u64().map_or_else(|| "—".to_owned(), |n| super::format::count(n as i64))) }
                                }
                                td { (budget(d)) }
                                td {
                                    a href={ (page_path) "/" (api::encode(id)) } aria-label={ "Edit " (name) } {
                                        (if s.is_admin() { "Edit" } else { "View" })
                                    }
                                    @if kind == Kind::Key && s.is_admin() && d["revoked_at"].is_null() {
                                        " "
                                        form.inline method="post" action={ "/ui/keys/" (api::encode(id)) "/revoke" }
                                            data-confirm={ "Revoke key " (name) "? Requests with it will get 401 at once." } {
                                            (csrf::field(&s.csrf))
                                            button.danger type="submit" aria-label={ "Revoke " (name) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn key_status(d: &Value, now: i64) -> Markup {
    let expired = d["expires_at"]
        .as_str()
        .and_then(crate::tenancy::doc::parse_time)
        .is_some_and(|t| t <= now);
    html! {
        @if let Some(at) = d["revoked_at"].as_str().and_then(crate::tenancy::doc::parse_time) {
            span.badge.bad { "revoked" } " " (time(at))
        } @else if expired {
            span.badge.bad { "expired" }
        } @else {
            span.badge.ok { "active" }
        }
    }
}

fn models(d: &Value) -> String {
    let list: Vec<&str> = d["models"]
        .as_array()
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if list.is_empty() {
        "all".to_owned()
    } else {
        list.join(", ")
    }
}

/// A budget's use as a progress bar: `$12.00 of $50.00 monthly`.
fn budget(d: &Value) -> Markup {
    let Some(b) = d["budget"].as_object() else {
        return html! { span.muted { "none" } };
    };
    let num = |v: Option<&Value>| {
        v.and_then(|v| {
            v.as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .or_else(|| v.as_f64())
        })
    };
    let amount = num(b.get("amount")).unwrap_or(0.0);
    let spent = num(d.get("budget_spent")).unwrap_or(0.0);
    let period = b.get("period").and_then(Value::as_str).unwrap_or_default();
    let label = format!(
        "{} of {} {period}",
        super::format::usd(Some(spent)),
        super::format::usd(Some(amount))
    );
    html! {
        progress class=[(spent >= amount).then_some("over")] max=(amount) value=(spent.min(amount)) aria-label=(label) {}
        " " span { (label) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn budgets_show_their_use_against_the_amount() {
        let html = budget(
            &json!({"budget": {"amount": "50.00", "period": "monthly"}, "budget_spent": "12.5"}),
        )
        .into_string();
        assert!(
            html.contains(r#"max="50" value="12.5" aria-label="$12.50 of $50.00 monthly""#),
            "{html}"
        );
        let over =
            budget(&json!({"budget": {"amount": "1", "period": "daily"}, "budget_spent": "3"}))
                .into_string();
        assert!(
            over.contains(r#"class="over""#) && over.contains(r#"value="1""#),
            "{over}"
        );
        assert!(budget(&json!({})).into_string().contains("none"));
    }

    #[test]
    fn the_secret_is_shown_with_a_copy_button() {
        let html = created_panel(
            Kind::Key,
            &json!({"id": "key_1", "name": "bot", "key": "sk-sluice-abc"}),
        )
        .into_string();
        assert!(
            html.contains(r#"<code id="new-secret" data-secret>sk-sluice-abc</code>"#),
            "{html}"
        );
        assert!(html.contains(r#"data-copy="new-secret""#));
        let team = created_panel(Kind::Team, &json!({"id": "team_1", "name": "t"})).into_string();
        assert!(!team.contains("new-secret"));
    }

    #[test]
    fn key_status_reads_revocation_and_expiry() {
        let now = 1_700_000_000_000;
        assert!(key_status(&json!({}), now).into_string().contains("active"));
        assert!(
            key_status(&json!({"expires_at": "2020-01-01T00:00:00Z"}), now)
                .into_string()
                .contains("expired")
        );
        assert!(
            key_status(&json!({"revoked_at": "2023-01-01T00:00:00Z"}), now)
                .into_string()
                .contains("revoked")
        );
    }
}
