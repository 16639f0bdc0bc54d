//! The dashboard's stylesheet, script and icon, compiled into the binary. Their paths carry the
//! crate version, so a new release is never served an old cached copy.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// The stylesheet's path.
pub(crate) const CSS_PATH: &str = concat!("/ui/assets/app-", env!("CARGO_PKG_VERSION"), ".css");
/// The script's path.
pub(crate) const JS_PATH: &str = concat!("/ui/assets/app-", env!("CARGO_PKG_VERSION"), ".js");
/// The icon's path (named by every page, so browsers do not ask for `/favicon.ico`).
pub(crate) const ICON_PATH: &str = concat!("/ui/assets/icon-", env!("CARGO_PKG_VERSION"), ".svg");

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");
const ICON: &str = include_str!("assets/icon.svg");

/// `GET /ui/assets/{file}`: the stylesheet, the script or the icon, cacheable for a day. Served
/// without a session, since the sign-in page needs the stylesheet.
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let (body, kind) = match format!("/ui/assets/{file}") {
        p if p == CSS_PATH => (CSS, "text/css; charset=utf-8"),
        p if p == JS_PATH => (JS, "text/javascript; charset=utf-8"),
        p if p == ICON_PATH => (ICON, "image/svg+xml"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
