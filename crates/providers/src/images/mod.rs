//! Image URLs fetched by the gateway, for providers that cannot fetch them (a codec says so
//! with [`crate::Codec::fetches_image_urls`]): before such a request is encoded, every
//! `http(s)` URL of an `image_url` content part is fetched and replaced by a base64 data
//! URL, so the codec sends the image inline.
//!
//! Fetching a URL a client names is a server-side request forgery risk, so it is bounded on
//! every side: `http` and `https` only; the host's addresses must all be public unicast
//! ones (no loopback, private, link-local, unique-local, unspecified, multicast, CGNAT or
//! reserved addresses, IPv4 forms inside IPv6 included; see [`address`]), checked by the
//! resolver of the connection itself, so the address checked is the address connected to;
//! at most three redirects, each checked again; `server.image_fetch.max_bytes` and
//! `.timeout`; and only `image/png`, `image/jpeg`, `image/gif` and `image/webp`. Any failure
//! is a 400 naming the part (`messages[i].content[k].image_url`) and why.
//! `server.image_fetch.allow_private` lists addresses allowed anyway (tests, or a trusted
//! internal image host).

mod address;
mod fetch;
mod resolve;

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;
use sluice_types::{ChatRequest, Content, GatewayError};

pub(crate) use fetch::ImageFetcher;

/// The most images of one request fetched at once.
const MAX_CONCURRENT_FETCHES: usize = 4;

/// Where an image URL sits in a request.
struct Remote {
    /// Message index.
    message: usize,
    /// Content part index.
    part: usize,
    url: String,
}

/// `req` with every `http(s)` image URL replaced by a data URL of the image, or `None` when
/// it has none. Images are fetched a few at a time, giving up at `deadline`.
pub(crate) async fn inline_remote_images(
    fetcher: &ImageFetcher,
    req: &ChatRequest,
    deadline: Instant,
) -> Result<Option<ChatRequest>, GatewayError> {
    let remote = remote_images(req);
    if remote.is_empty() {
        return Ok(None);
    }
    // Collected first: a lazily mapped iterator would make the future's type hold a closure
    // over a borrowed lifetime, which `Send` bounds upstream cannot name.
    let fetches: Vec<_> = remote
        .iter()
        .map(|r| data_url(fetcher, r, deadline))
        .collect();
    let images: Vec<String> = futures_util::stream::iter(fetches)
        .buffered(MAX_CONCURRENT_FETCHES)
        .try_collect()
        .await?;
    let mut out = req.clone();
    out.raw = None;
    for (r, data_url) in remote.iter().zip(images) {
        let part = match &mut out.messages[r.message].content {
            Some(Content::Parts(parts)) => &mut parts[r.part],
            _ => continue,
        };
        match part.extra.get_mut("image_url") {
            Some(Value::Object(o)) => {
                o.insert("url".to_owned(), Value::String(data_url));
            }
            Some(slot) => *slot = Value::String(data_url),
            None => {}
        }
    }
    Ok(Some(out))
}

/// The image at `r` as a data URL, or a 400 naming its part.
async fn data_url(
    fetcher: &ImageFetcher,
    r: &Remote,
    deadline: Instant,
) -> Result<String, GatewayError> {
    let image = fetcher.fetch(&r.url, deadline).await.map_err(|e| {
        let at = format!("messages[{}].content[{}].image_url", r.message, r.part);
        GatewayError::invalid_request(format!(
            "{at}: the gateway could not fetch {} for this provider: {e}",
            r.url
        ))
        .with_param(at)
    })?;
    Ok(format!(
        "data:{};base64,{}",
        image.media_type,
        STANDARD.encode(&image.bytes)
    ))
}

/// The `http(s)` image URLs of `req`'s content parts, in order.
fn remote_images(req: &ChatRequest) -> Vec<Remote> {
    let mut out = Vec::new();
    for (message, m) in req.messages.iter().enumerate() {
        let Some(Content::Parts(parts)) = &m.content else {
            continue;
        };
        for (part, p) in parts.iter().enumerate() {
            if p.kind != "image_url" {
                continue;
            }
            let url = match p.extra.get("image_url") {
                Some(Value::Object(o)) => o.get("url").and_then(Value::as_str),
                Some(Value::String(s)) => Some(s.as_str()),
                _ => None,
            };
            let Some(url) = url else { continue };
            let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
            if matches!(scheme.as_deref(), Some("http" | "https")) {
                out.push(Remote {
                    message,
                    part,
                    url: url.to_owned(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_remote_image_urls_are_found() {
        let req: ChatRequest = serde_json::from_value(json!({"model": "m", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "compare"},
                {"type": "image_url", "image_url": {"url": "https://a.example/1.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": "HTTP://b.example/2.jpg"}
            ]}
        ]}))
        .unwrap();
        let remote = remote_images(&req);
        let found: Vec<(usize, usize, &str)> = remote
            .iter()
            .map(|r| (r.message, r.part, r.url.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (1, 1, "https://a.example/1.png"),
                (1, 3, "HTTP://b.example/2.jpg")
            ]
        );
    }
}
