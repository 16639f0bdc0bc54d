//! Signing in and out. The admin key signs in as admin; a `ui.viewers` entry signs in
//! read-only, by name and password or by its key alone. A gateway without an admin key
//! has an open admin API, so its dashboard signs anyone in as admin. Each client address
//! may fail [`MAX_FAILURES`] times a minute; after that it is refused (429) until the
//! minute is over.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode, header};
use maud::{DOCTYPE, html};
use secrecy::ExposeSecret;
use sluice_config::ViewerSecret;

use super::csrf;
use super::layout::{html_response, refusal};
use super::session::{COOKIE, Role, Signed, cookie, random_token, set_cookie};
use crate::Gateway;

/// The cookie that carries the sign-in form's double-submit token.
const LOGIN_COOKIE: &str = "sluice_login";
/// How long a sign-in form stays valid.
const FORM_TTL: Duration = Duration::from_secs(600);
/// Failed sign-ins allowed per client address per minute.
const MAX_FAILURES: u32 = 10;
/// The throttle's window.
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses the throttle remembers before it forgets old windows.
const MAX_TRACKED: usize = 10_000;

/// Failed sign-ins per client address in the current minute.
#[derive(Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Throttle {
    /// Whether `ip` may try to sign in now.
    fn allows(&self, ip: Option<IpAddr>, now: Instant) -> bool {
        let Some(ip) = ip else {
            return true;
        };
        let map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&ip)
            .is_none_or(|(start, n)| now.duration_since(*start) >= WINDOW || *n < MAX_FAILURES)
    }

    /// Counts a failed sign-in from `ip`.
    fn fail(&self, ip: Option<IpAddr>, now: Instant) {
        let Some(ip) = ip else {
            return;
        };
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_TRACKED {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = map.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

/// `GET /ui/login`: the sign-in form (the dashboard when already signed in).
pub(crate) async fn form(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    if cookie(&headers, COOKIE).is_some_and(|id| gw.ui.sessions.get(id).is_some()) {
        return Redirect::to("/ui").into_response();
    }
    sign_in_page(&gw, StatusCode::OK, None)
}

/// The sign-in form with a fresh double-submit token, and `error` when the last try failed.
fn sign_in_page(gw: &Gateway, status: StatusCode, error: Option<&str>) -> Response {
    let token = match random_token() {
        Ok(t) => t,
        Err(e) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, e.message()),
    };
    let open = gw.admin_key.is_none();
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { "Sign in · Sluice" }
                link rel="stylesheet" href=(super::assets::CSS_PATH);
                link rel="icon" href=(super::assets::ICON_PATH) type="image/svg+xml";
            }
            body {
                main #main.narrow {
                    h1 { "Sign in to Sluice" }
                    @if let Some(error) = error {
                        p.error role="alert" { (error) }
                    }
                    @if open {
                        p.note {
                            "This gateway has no admin key, so its admin API and this dashboard are open to anyone who can reach it. Leave the fields empty to continue."
                        }
                    }
                    form.stack method="post" action="/ui/login" {
                        (csrf::field(&token))
                        label for="secret" { "Admin key, or viewer password or key" }
                        input #secret type="password" name="secret" autocomplete="current-password" autofocus;
                        label for="name" { "Viewer name " span.hint { "(only to sign in with a viewer password)" } }
                        input #name type="text" name="name" autocomplete="username";
                        button type="submit" { "Sign in" }
                    }
                }
            }
        }
    };
    let mut resp = html_response(status, markup);
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, Some(FORM_TTL)),
    );
    resp
}

/// `POST /ui/login`: checks the form's token and the credentials, then starts a session.
pub(crate) async fn submit(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let expected = cookie(req.headers(), LOGIN_COOKIE).map(str::to_owned);
    let Ok(Form(fields)) = Form::<HashMap<String, String>>::from_request(req, &gw).await else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "The sign-in form could not be read.",
        );
    };
    let now = Instant::now();
    if !gw.ui.throttle.allows(ip, now) {
        return refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins from this address. Wait a minute and try again.",
        );
    }
    let token = fields.get(csrf::FIELD).map(String::as_str);
    if !expected.is_some_and(|e| csrf::matches(&e, token)) {
        return sign_in_page(
            &gw,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Please try again."),
        );
    }
    let field = |name: &str| fields.get(name).map_or("", |v| v.trim());
    let Some(role) = role_for(&gw, field("name"), field("secret")) else {
        gw.ui.throttle.fail(ip, now);
        return sign_in_page(
            &gw,
            StatusCode::UNAUTHORIZED,
            Some("That key, name or password is not right."),
        );
    };
    let (id, _) = match gw.ui.sessions.create(role) {
        Ok(created) => created,
        Err(e) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, e.message()),
    };
    let mut resp = Redirect::to("/ui").into_response();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(COOKIE, &id, None));
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, "", Some(Duration::ZERO)),
    );
    resp
}

/// Who `name` and `secret` sign in as, if anyone.
fn role_for(gw: &Gateway, name: &str, secret: &str) -> Option<Role> {
    if name.is_empty() {
        match &gw.admin_key {
            None => return Some(Role::Admin),
            Some(admin) if csrf::matches(admin.expose_secret(), Some(secret)) => {
                return Some(Role::Admin);
            }
            Some(_) => {}
        }
    }
    gw.ui.viewers.iter().find_map(|v| {
        let ok = match &v.secret {
            ViewerSecret::Password(p) => {
                name == v.name && csrf::matches(p.expose_secret(), Some(secret))
            }
            ViewerSecret::Key(k) => {
                (name.is_empty() || name == v.name)
                    && csrf::matches(k.expose_secret(), Some(secret))
            }
        };
        ok.then(|| Role::Viewer(v.name.clone()))
    })
}

/// `POST /ui/logout`: ends the session and forgets its cookie.
pub(crate) async fn logout(
    State(gw): State<Arc<Gateway>>,
    Signed(session): Signed,
    headers: HeaderMap,
    Form(fields): Form<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = csrf::check(&session, &fields) {
        return refused.into_response();
    }
    if let Some(id) = cookie(&headers, COOKIE) {
        gw.ui.sessions.remove(id);
    }
    let mut resp = Redirect::to("/ui/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(COOKIE, "", Some(Duration::ZERO)),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_failures_a_minute_lock_an_address_out_until_the_minute_ends() {
        let t = Throttle::default();
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        let other = Some(IpAddr::from([127, 0, 0, 2]));
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(t.allows(ip, t0));
            t.fail(ip, t0);
        }
        assert!(!t.allows(ip, t0 + Duration::from_secs(59)));
        assert!(t.allows(other, t0), "other addresses are not affected");
        assert!(t.allows(ip, t0 + WINDOW));
        t.fail(ip, t0 + WINDOW);
        assert!(t.allows(ip, t0 + WINDOW), "a new window starts from zero");
        assert!(t.allows(None, t0));
    }
}
