//! The page shell every dashboard page shares (head, navigation, sign-out form), the
//! headers every page is sent with, and the pages for refusals and unknown paths.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use maud::{DOCTYPE, Markup, html};

use super::csrf;
use super::session::{Role, Session, Signed};

/// The pages in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Logs,
    Keys,
    Teams,
    Models,
    Cache,
}

const NAV: [(Nav, &str, &str); 6] = [
    (Nav::Overview, "/ui", "Overview"),
    (Nav::Logs, "/ui/logs", "Logs"),
    (Nav::Keys, "/ui/keys", "Keys"),
    (Nav::Teams, "/ui/teams", "Teams"),
    (Nav::Models, "/ui/models", "Models"),
    (Nav::Cache, "/ui/cache", "Cache"),
];

/// Only this dashboard's own scripts, styles and forms; never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A whole page: `body` inside the shell, with `title`, `active` highlighted in the
/// navigation, and the session's role and sign-out form.
pub(crate) fn page(title: &str, active: Nav, session: &Session, body: Markup) -> Response {
    let who = match &session.role {
        Role::Admin => "admin".to_owned(),
        Role::Viewer(name) => format!("{name} (viewer)"),
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui" { "Sluice" }
                    nav aria-label="Dashboard" {
                        ul {
                            @for (nav, href, label) in NAV {
                                li {
                                    @if nav == active {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/ui/logout" {
                        span.who { "Signed in as " (who) }
                        (csrf::field(&session.csrf))
                        button type="submit" { "Sign out" }
                    }
                }
                main #main {
                    h1 { (title) }
                    @if !session.is_admin() {
                        p.note role="note" { "Read-only: viewers can look but not change anything." }
                    }
                    (body)
                }
            }
        }
    };
    html_response(StatusCode::OK, markup)
}

/// The `<head>` of every page.
fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · Sluice" }
            link rel="stylesheet" href=(super::assets::CSS_PATH);
            link rel="icon" href=(super::assets::ICON_PATH) type="image/svg+xml";
            script src=(super::assets::JS_PATH) defer {}
        }
    }
}

/// `markup` as an HTML response with `status` and the dashboard's security headers; pages
/// are never cached (they may hold a key's secret, shown once).
pub(crate) fn html_response(status: StatusCode, markup: Markup) -> Response {
    let mut resp = (status, markup.into_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// A small page of its own that says why a request was refused.
pub(crate) fn refusal(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Refused");
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                main #main.narrow {
                    h1 { (title) }
                    p.error role="alert" { (message) }
                    p { a href="/ui" { "Back to the dashboard" } }
                }
            }
        }
    };
    html_response(status, markup)
}

/// An error box inside a page, for what the admin API refused.
pub(crate) fn alert(message: &str) -> Markup {
    html! { p.error role="alert" { (message) } }
}

/// `/ui/…` paths that are no page: 404 when signed in, the sign-in page otherwise.
pub(crate) async fn not_found(Signed(_): Signed) -> Response {
    refusal(StatusCode::NOT_FOUND, "There is no such page.")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body(resp: Response) -> String {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn pages_mark_the_current_page_and_carry_the_csrf_token() {
        let viewer = Session {
            role: Role::Viewer("alice <ops>".into()),
            csrf: "tok".into(),
        };
        let resp = page("Logs", Nav::Logs, &viewer, html! { p { "x" } });
        assert_eq!(
            resp.headers()["content-security-policy"].to_str().unwrap(),
            CSP
        );
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let text = body(resp).await;
        assert!(text.contains(r#"<a href="/ui/logs" aria-current="page">Logs</a>"#));
        assert!(text.contains(r#"name="_csrf" value="tok""#));
        assert!(
            text.contains("alice &lt;ops&gt; (viewer)"),
            "names are escaped"
        );
        assert!(text.contains("Read-only"));
    }
}
