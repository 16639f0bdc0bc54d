//! `GET /images/…`: an image host for the gateway's image fetching, with the answers a
//! real host gives and the ones it must refuse:
//!
//! - `/images/pixel.png` is [`PIXEL_PNG`] as `image/png`;
//! - `/images/page.html` is an HTML page (not an image);
//! - `/images/large/{n}` is `n` bytes of `image/png`;
//! - `/images/redirect/{n}` redirects (302) `n` times, then to `/images/pixel.png`;
//! - `/images/to?{url}` redirects (302) to the URL given as the whole query;
//! - anything else under `/images/` is a 404.

use bytes::Bytes;

/// A 1×1 transparent PNG.
pub const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f,
    0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// One answer of the image host.
pub(crate) struct Served {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    /// The `Location` of a redirect.
    pub(crate) location: Option<String>,
    pub(crate) body: Bytes,
}

/// The answer to `GET path?query`, when `path` is under `/images/`.
pub(crate) fn serve(path: &str, query: Option<&str>) -> Option<Served> {
    let rest = path.strip_prefix("/images/")?;
    let redirect = |to: String| Served {
        status: 302,
        content_type: "text/plain",
        location: Some(to),
        body: Bytes::new(),
    };
    let image = |body: Bytes| Served {
        status: 200,
        content_type: "image/png",
        location: None,
        body,
    };
    Some(match rest.split_once('/') {
        None if rest == "pixel.png" => image(Bytes::from_static(PIXEL_PNG)),
        None if rest == "page.html" => Served {
            status: 200,
            content_type: "text/html; charset=utf-8",
            location: None,
            body: Bytes::from_static(b"<html><body>not an image</body></html>"),
        },
        None if rest == "to" => redirect(query.unwrap_or_default().to_owned()),
        Some(("large", n)) if n.parse::<usize>().is_ok() => {
            image(Bytes::from(vec![0u8; n.parse().unwrap_or_default()]))
        }
        Some(("redirect", n)) => match n.parse::<u32>() {
            Ok(0) => redirect("/images/pixel.png".to_owned()),
            Ok(n) => redirect(format!("/images/redirect/{}", n - 1)),
            Err(_) => not_found(),
        },
        _ => not_found(),
    })
}

fn not_found() -> Served {
    Served {
        status: 404,
        content_type: "text/plain",
        location: None,
        body: Bytes::from_static(b"no such image"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_redirects_and_misses() {
        let s = serve("/images/pixel.png", None).map(|s| (s.status, s.content_type, s.body));
        assert_eq!(s, Some((200, "image/png", Bytes::from_static(PIXEL_PNG))));
        let s = serve("/images/redirect/2", None).and_then(|s| s.location);
        assert_eq!(s.as_deref(), Some("/images/redirect/1"));
        let s = serve("/images/redirect/0", None).and_then(|s| s.location);
        assert_eq!(s.as_deref(), Some("/images/pixel.png"));
        let s = serve("/images/to", Some("http://169.254.169.254/x")).and_then(|s| s.location);
        assert_eq!(s.as_deref(), Some("http://169.254.169.254/x"));
        assert_eq!(
            serve("/images/large/10", None).map(|s| s.body.len()),
            Some(10)
        );
        assert_eq!(serve("/images/nope", None).map(|s| s.status), Some(404));
        assert!(serve("/v1/models", None).is_none());
    }
}
