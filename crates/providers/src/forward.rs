//! Pass-through of OpenAI-shaped requests and native pass-through of a provider's own API,
//! and the body wrapper that enforces deadlines on a streamed upstream response.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
