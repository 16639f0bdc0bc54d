//! Pass-through of OpenAI-shaped requests, and the body wrapper that enforces a deadline on
//! a streamed upstream response.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use sluice_config::Timeouts;

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

/// An upstream response body that fails once `deadline` passes.
pub(crate) struct DeadlineBody {
    inner: Incoming,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineBody {
    pub(crate) fn new(inner: Incoming, deadline: Instant) -> Self {
        Self {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
        }
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
            return Poll::Ready(Some(Err(
                "the upstream response exceeded its total timeout".into(),
            )));
        }
        Pin::new(&mut self.inner).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
