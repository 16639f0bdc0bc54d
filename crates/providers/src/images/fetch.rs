//! Fetching one image URL: `http` and `https` only, public addresses only (checked on every
//! hop, see [`super::resolve`]), at most [`MAX_REDIRECTS`] redirects, within the configured
//! size and time, and only the image types every provider that needs this takes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, USER_AGENT};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use sluice_config::ImageFetchConfig;

use super::resolve::{Blocked, CheckedResolver, check};
use crate::http::{https, pooled};
use crate::{UpstreamBody, box_body};

/// The most redirects one fetch follows.
pub(crate) const MAX_REDIRECTS: usize = 3;

/// The image types fetched: those Bedrock and Anthropic take.
const MEDIA_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A fetched image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Image {
    /// Its media type, one of [`MEDIA_TYPES`].
    pub(crate) media_type: &'static str,
    /// Its bytes.
    pub(crate) bytes: Bytes,
}

/// Why an image could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FetchError {
    /// Not an `http` or `https` URL.
    #[error("only http and https URLs can be fetched")]
    Scheme,
    /// Not a URL at all.
    #[error("it is not a valid URL ({0})")]
    Url(String),
    /// The host is not on the public internet.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// No connection, or it broke.
    #[error("the connection failed: {0}")]
    Connection(String),
    /// An answer other than an image or a redirect.
    #[error("the server answered HTTP {0}")]
    Status(u16),
    /// Too many redirects.
    #[error("it redirected more than {MAX_REDIRECTS} times")]
    Redirects,
    /// A redirect without a usable `Location`.
    #[error("it redirected without a valid Location")]
    Location,
    /// Not one of the image types.
    #[error("its content type is {0:?}, not image/png, image/jpeg, image/gif or image/webp")]
    ContentType(String),
    /// Larger than `image_fetch.max_bytes`.
    #[error("it is larger than {0} bytes (server.image_fetch.max_bytes)")]
    TooLarge(u64),
    /// Slower than `image_fetch.timeout` (or the request's deadline).
    #[error("it did not arrive within {0} ms")]
    Timeout(u128),
}

/// The client that fetches images, with its settings.
pub(crate) struct ImageFetcher {
    client: Client<HttpsConnector<HttpConnector<CheckedResolver>>, UpstreamBody>,
    allowed: Arc<[IpAddr]>,
    max_bytes: u64,
    timeout: std::time::Duration,
}

impl ImageFetcher {
    /// A fetcher with `config`'s limits, connecting within `connect_timeout`.
    pub(crate) fn new(config: &ImageFetchConfig, connect_timeout: std::time::Duration) -> Self {
        let allowed: Arc<[IpAddr]> = Arc::from(config.allow_private.clone());
        let resolver = CheckedResolver {
            allowed: allowed.clone(),
        };
        let connector = https(HttpConnector::new_with_resolver(resolver), connect_timeout);
        Self {
            client: pooled(connector),
            allowed,
            max_bytes: config.max_bytes,
            timeout: config.timeout,
        }
    }

    /// Fetches `url`, giving up at `deadline` or after the configured timeout.
    pub(crate) async fn fetch(&self, url: &str, deadline: Instant) -> Result<Image, FetchError> {
        let started = Instant::now();
        let deadline = deadline.min(started + self.timeout);
        match tokio::time::timeout_at(deadline.into(), self.follow(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(
                deadline.saturating_duration_since(started).as_millis(),
            )),
        }
    }

    /// Fetches `url`, following redirects.
    async fn follow(&self, url: &str) -> Result<Image, FetchError> {
        let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("http" | "https")) {
            return Err(FetchError::Scheme);
        }
        let mut uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| FetchError::Url(e.to_string()))?;
        for hop in 0..=MAX_REDIRECTS {
            self.check_target(&uri)?;
            let req = Request::get(uri.clone())
                .header(ACCEPT, MEDIA_TYPES.join(", "))
                .header(
                    USER_AGENT,
                    HeaderValue::from_static(concat!("sluice/", env!("CARGO_PKG_VERSION"))),
                )
                .body(box_body(Bytes::new()))
                .map_err(|e| FetchError::Url(e.to_string()))?;
            let resp = self.client.request(req).await.map_err(connection_error)?;
            let status = resp.status();
            if is_redirect(status) {
                if hop == MAX_REDIRECTS {
                    return Err(FetchError::Redirects);
                }
                let location = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or(FetchError::Location)?;
                uri = join(&uri, location)?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let media_type = media_type(resp.headers().get(CONTENT_TYPE))?;
            let declared = resp
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|n| n > self.max_bytes) {
                return Err(FetchError::TooLarge(self.max_bytes));
            }
            let limit = usize::try_from(self.max_bytes).unwrap_or(usize::MAX);
            let bytes = http_body_util::Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| match e.is::<http_body_util::LengthLimitError>() {
                    true => FetchError::TooLarge(self.max_bytes),
                    false => FetchError::Connection(e.to_string()),
                })?
                .to_bytes();
            return Ok(Image { media_type, bytes });
        }
        Err(FetchError::Redirects)
    }

    /// Refuses a URL whose scheme is not `http(s)`, or whose host is an IP address the
    /// gateway may not reach (names are checked by the resolver when connecting).
    fn check_target(&self, uri: &Uri) -> Result<(), FetchError> {
        let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
        if !matches!(scheme.as_deref(), Some("http" | "https")) {
            return Err(FetchError::Scheme);
        }
        let host = uri
            .host()
            .ok_or_else(|| FetchError::Url("it names no host".to_owned()))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            check(bare, ip, &self.allowed)?;
        }
        Ok(())
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The error of a request the client could not complete: the resolver's refusal when that
/// is what stopped it.
fn connection_error(e: hyper_util::client::legacy::Error) -> FetchError {
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(blocked) = s.downcast_ref::<Blocked>() {
            return FetchError::Blocked(blocked.clone());
        }
        source = s.source();
    }
    FetchError::Connection(crate::http::error_detail(&e))
}

/// The media type of a `Content-Type`, if it is one of [`MEDIA_TYPES`].
fn media_type(value: Option<&HeaderValue>) -> Result<&'static str, FetchError> {
    let text = value.and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim();
    MEDIA_TYPES
        .iter()
        .find(|t| t.eq_ignore_ascii_case(essence))
        .copied()
        .ok_or_else(|| FetchError::ContentType(essence.to_owned()))
}

/// The URL a redirect's `Location` names, relative to `base`.
fn join(base: &Uri, location: &str) -> Result<Uri, FetchError> {
    let location = location.split('#').next().unwrap_or_default();
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", |a| a.as_str());
    let absolute = if let Some((scheme, _)) = location.split_once("://") {
        if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
            return Err(FetchError::Scheme);
        }
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{scheme}://{authority}{dir}{location}")
    };
    absolute.parse().map_err(|_| FetchError::Location)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_resolve_against_the_current_url() {
        let base: Uri = "https://img.example.com/a/b/pic.png?x=1".parse().unwrap();
        for (location, expected) in [
            (
                "https://cdn.example.net/p.png",
                "https://cdn.example.net/p.png",
            ),
            ("//cdn.example.net/p.png", "https://cdn.example.net/p.png"),
            ("/c/p.png", "https://img.example.com/c/p.png"),
            ("p2.png?y=2#frag", "https://img.example.com/a/b/p2.png?y=2"),
            ("http://10.0.0.1/", "http://10.0.0.1/"),
        ] {
            assert_eq!(join(&base, location).unwrap().to_string(), expected);
        }
        assert_eq!(join(&base, "/a b"), Err(FetchError::Location));
        assert_eq!(join(&base, "file:///etc/passwd"), Err(FetchError::Scheme));
    }

    #[test]
    fn only_the_four_image_types_pass() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(media_type(Some(&v("image/png"))), Ok("image/png"));
        assert_eq!(
            media_type(Some(&v("IMAGE/JPEG; charset=x"))),
            Ok("image/jpeg")
        );
        assert_eq!(media_type(Some(&v("image/webp"))), Ok("image/webp"));
        assert_eq!(
            media_type(Some(&v("text/html; charset=utf-8"))),
            Err(FetchError::ContentType("text/html".into()))
        );
        assert_eq!(
            media_type(Some(&v("image/svg+xml"))),
            Err(FetchError::ContentType("image/svg+xml".into()))
        );
        assert_eq!(
            media_type(None),
            Err(FetchError::ContentType(String::new()))
        );
    }

    #[tokio::test]
    async fn schemes_and_private_literal_hosts_are_refused_before_connecting() {
        let fetcher = ImageFetcher::new(
            &ImageFetchConfig::default(),
            std::time::Duration::from_secs(1),
        );
        let soon = Instant::now() + std::time::Duration::from_secs(5);
        for (url, needle) in [
            ("ftp://example.com/a.png", "only http and https"),
            ("file:///etc/passwd", "only http and https"),
            ("http://127.0.0.1:9/a.png", "a loopback address"),
            ("http://[::1]:9/a.png", "a loopback address"),
            ("http://[::ffff:169.254.169.254]/", "link-local"),
            ("http://169.254.169.254/latest/meta-data/", "link-local"),
            ("http://10.1.2.3/a.png", "a private address"),
            ("http://100.64.0.1/a.png", "carrier-grade NAT"),
            ("http://[fd00::1]/a.png", "unique local"),
            ("http://localhost:9/a.png", "a loopback address"),
            ("not a url", "only http and https"),
            ("http://exa mple.com/a.png", "not a valid URL"),
        ] {
            let e = fetcher.fetch(url, soon).await.unwrap_err();
            assert!(e.to_string().contains(needle), "{url}: {e}");
        }
    }
}
