//! Pass-through of OpenAI-shaped requests and native pass-through of a provider's own API
//! (with its URL rule), and the body wrapper that enforces deadlines on a streamed upstream
//! response.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use sluice_config::{ProviderKind, Timeouts};

use crate::UpstreamBody;

/// A request forwarded unchanged to an OpenAI-family provider.
pub struct ForwardRequest {
    /// HTTP method.
    pub method: Method,
    /// The path after `/v1`, starting with `/` (for example `/embeddings`).
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The upstream model the request is for, when it names one (Azure needs it for the URL).
    pub model: Option<String>,
    /// Headers to send (already filtered of hop-by-hop and client credentials).
    pub headers: HeaderMap,
    /// The body, streamed.
    pub body: UpstreamBody,
    /// Deadlines in force.
    pub timeouts: Timeouts,
}

/// A request in a provider's own API (`/{provider}/…`), forwarded unchanged except for
/// credentials.
pub struct NativeRequest {
    /// HTTP method.
    pub method: Method,
    /// The path after `/{provider}`, starting with `/` (for example `/v1/messages`), as the
    /// client sent it (still percent-encoded).
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Headers to send (already filtered of hop-by-hop, gateway and client credential
    /// headers; the provider removes credential headers again before adding its own).
    pub headers: HeaderMap,
    /// The body, streamed.
    pub body: UpstreamBody,
    /// Deadlines in force.
    pub timeouts: Timeouts,
}

/// An upstream response body that fails once `deadline` passes, or, when an idle limit is
/// set, once no frame arrived for that long.
pub(crate) struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The longest allowed gap between two frames, and whether `sleep` currently stands for
    /// the gap (true) or the total deadline (false).
    idle: Option<Duration>,
    idle_armed: bool,
}

impl DeadlineBody {
    pub(crate) fn new(inner: Incoming, deadline: Instant) -> Self {
        Self {
            inner,
            deadline,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
            idle: None,
            idle_armed: false,
        }
    }

    /// Also fails once `idle` passes without a frame (for event streams).
    pub(crate) fn with_idle(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self.rearm();
        self
    }

    /// Points the timer at the earlier of the total deadline and the end of the idle gap
    /// starting now.
    fn rearm(&mut self) {
        let (until, armed) = match self.idle {
            Some(idle) => {
                let gap_end = Instant::now() + idle;
                if gap_end < self.deadline {
                    (gap_end, true)
                } else {
                    (self.deadline, false)
                }
            }
            None => (self.deadline, false),
        };
        self.idle_armed = armed;
        self.sleep.as_mut().reset(until.into());
    }
}

impl Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.sleep.as_mut().poll(cx).is_ready() {
            let why = if self.idle_armed {
                "the upstream stream was idle for longer than its idle timeout"
            } else {
                "the upstream response exceeded its total timeout"
            };
            return Poll::Ready(Some(Err(why.into())));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if self.idle.is_some() && matches!(polled, Poll::Ready(Some(Ok(_)))) {
            self.rearm();
        }
        polled.map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The upstream URL of a native pass-through request: `{base_url}{path}?{query}`.
///
/// `base_url` ends in `/v1` for the OpenAI family while native clients send the full path
/// (`/openai/v1/chat/completions`), so for that family a leading `/v1` segment of `path` is
/// dropped when `base_url` ends in `/v1`: both `/openai/v1/models` and `/openai/models` reach
/// `{base_url}/models`. Anthropic's, Gemini's, Bedrock's, Cohere's and Vertex AI's base URLs
/// are host roots, so their paths are appended as they are. Gemini's `key` query parameter (a client credential) is removed.
pub(crate) fn native_url(
    base_url: &str,
    kind: ProviderKind,
    path: &str,
    query: Option<&str>,
) -> String {
    let openai_family = matches!(
        kind,
        ProviderKind::OpenAiCompatible(_) | ProviderKind::AzureOpenAi
    );
    let path = if openai_family && base_url.ends_with("/v1") {
        match path.strip_prefix("/v1") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => path,
        }
    } else {
        path
    };
    let mut url = format!("{base_url}{path}");
    let query = match (kind, query) {
        (ProviderKind::Gemini, Some(q)) => q
            .split('&')
            .filter(|pair| pair.split('=').next() != Some("key"))
            .collect::<Vec<_>>()
            .join("&"),
        (_, Some(q)) => q.to_owned(),
        (_, None) => String::new(),
    };
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query);
    }
    url
}

#[cfg(test)]
mod tests {
    use sluice_config::{Preset, ProviderKind};

    use super::native_url;

    #[test]
    fn native_urls_follow_the_base_url_rule() {
        let openai = ProviderKind::OpenAiCompatible(Preset::Generic);
        let v1 = "https://api.openai.com/v1";
        assert_eq!(
            native_url(v1, openai, "/v1/chat/completions", None),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            native_url(v1, openai, "/chat/completions", Some("a=1")),
            "https://api.openai.com/v1/chat/completions?a=1"
        );
        assert_eq!(native_url(v1, openai, "/v1", None), v1);
        assert_eq!(
            native_url(v1, openai, "/v1beta/x", None),
            "https://api.openai.com/v1/v1beta/x"
        );
        let root = "https://api.perplexity.ai";
        assert_eq!(
            native_url(root, openai, "/v1/chat/completions", None),
            "https://api.perplexity.ai/v1/chat/completions"
        );
        assert_eq!(
            native_url(
                "https://r.openai.azure.com",
                ProviderKind::AzureOpenAi,
                "/openai/deployments/d/chat/completions",
                Some("api-version=2024-10-21"),
            ),
            "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            native_url(
                "https://api.anthropic.com",
                ProviderKind::Anthropic,
                "/v1/messages",
                Some("beta=true"),
            ),
            "https://api.anthropic.com/v1/messages?beta=true"
        );
        let gemini = "https://generativelanguage.googleapis.com";
        assert_eq!(
            native_url(
                gemini,
                ProviderKind::Gemini,
                "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
                Some("key=client-secret&alt=sse"),
            ),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            native_url(gemini, ProviderKind::Gemini, "/v1/models", Some("key=k")),
            "https://generativelanguage.googleapis.com/v1/models"
        );
        assert_eq!(
            native_url(
                "https://api.cohere.com",
                ProviderKind::Cohere,
                "/v2/chat",
                None
            ),
            "https://api.cohere.com/v2/chat"
        );
    }
}
