//! Response bodies: a buffered one for JSON, and a paced one for SSE that
//! sends each event as its own write, can stall or reset after N events, and
//! reports when the peer dropped it before the end.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame};
use tokio::time::Sleep;

use crate::state::State;

/// How a stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Send every event, then finish.
    Normal,
    /// After this many events, stay pending forever.
    Stall(usize),
    /// After this many events, fail the body so the connection is dropped.
    Reset(usize),
}

/// Pacing and ending of one response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Sleep before each event (zero: none).
    pub(crate) interval: Duration,
    /// How the stream ends.
    pub(crate) end: End,
}

/// The body of every mock response.
pub(crate) enum MockBody {
    /// A complete body sent at once.
    Full(Option<Bytes>),
    /// Events sent one by one.
    Paced(Box<Paced>),
}

impl MockBody {
    pub(crate) fn full(b: impl Into<Bytes>) -> Self {
        MockBody::Full(Some(b.into()))
    }

    pub(crate) fn paced(frames: Vec<Bytes>, plan: Plan, state: Arc<State>) -> Self {
        MockBody::Paced(Box::new(Paced {
            frames: frames.into(),
            sent: 0,
            interval: plan.interval,
            sleep: None,
            slept: false,
            yielded: false,
            end: plan.end,
            finished: false,
            state,
        }))
    }
}

/// A body that yields its frames one at a time, each flushed on its own.
pub(crate) struct Paced {
    frames: VecDeque<Bytes>,
    sent: usize,
    interval: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The interval before the next frame has elapsed.
    slept: bool,
    /// We already returned `Pending` once before the next frame (no interval).
    yielded: bool,
    end: End,
    /// Ended on our side (completed or deliberately reset): not a peer close.
    finished: bool,
    state: Arc<State>,
}

impl Paced {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.end {
            End::Stall(after) if self.sent >= after || self.frames.is_empty() => {
                // Never woken: the body only ends when the connection is dropped.
                return Poll::Pending;
            }
            End::Reset(after) if self.sent >= after || self.frames.is_empty() => {
                if self.sent > 0 && !self.yielded {
                    // Let the connection flush the last event before the reset.
                    self.yielded = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                self.finished = true;
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "mock upstream: reset mid-stream",
                ))));
            }
            _ => {}
        }
        if self.frames.is_empty() {
            self.finished = true;
            return Poll::Ready(None);
        }
        if !self.interval.is_zero() {
            if !self.slept {
                let interval = self.interval;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
                self.slept = true;
            }
        } else if self.sent > 0 && !self.yielded {
            // Return to the connection once so it flushes the previous event
            // as its own write instead of coalescing the whole stream.
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let Some(frame) = self.frames.pop_front() else {
            self.finished = true;
            return Poll::Ready(None);
        };
        self.sent += 1;
        self.slept = false;
        self.yielded = false;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }
}

impl Drop for Paced {
    fn drop(&mut self) {
        if !self.finished {
            self.state.stream_closed_early(Instant::now());
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.get_mut() {
            MockBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Paced(p) => p.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            MockBody::Full(b) => b.is_none(),
            // Paced bodies must be polled to the end so completion is observed.
            MockBody::Paced(p) => p.finished,
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            MockBody::Full(Some(b)) => http_body::SizeHint::with_exact(b.len() as u64),
            MockBody::Full(None) => http_body::SizeHint::with_exact(0),
            MockBody::Paced(_) => http_body::SizeHint::default(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn state() -> Arc<State> {
        Arc::new(State::new(true, Duration::ZERO, Duration::ZERO))
    }

    fn frames() -> Vec<Bytes> {
        vec![
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
            Bytes::from_static(b"c"),
        ]
    }

    #[tokio::test]
    async fn paced_yields_all_frames_and_is_not_an_early_close() {
        let st = state();
        let plan = Plan {
            interval: Duration::ZERO,
            end: End::Normal,
        };
        let body = MockBody::paced(frames(), plan, st.clone());
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"abc");
        assert!(st.streams_closed().is_empty());
    }

    #[tokio::test]
    async fn reset_errors_after_n_and_is_not_an_early_close() {
        let st = state();
        let plan = Plan {
            interval: Duration::ZERO,
            end: End::Reset(2),
        };
        let mut body = MockBody::paced(frames(), plan, st.clone());
        assert!(body.frame().await.unwrap().is_ok());
        assert!(body.frame().await.unwrap().is_ok());
        assert!(body.frame().await.unwrap().is_err());
        drop(body);
        assert!(st.streams_closed().is_empty());
    }

    #[tokio::test]
    async fn dropping_unfinished_body_signals() {
        let st = state();
        let plan = Plan {
            interval: Duration::ZERO,
            end: End::Stall(1),
        };
        let mut body = MockBody::paced(frames(), plan, st.clone());
        assert!(body.frame().await.unwrap().is_ok());
        let pending =
            tokio::time::timeout(Duration::from_millis(20), async { body.frame().await }).await;
        assert!(pending.is_err(), "stalled body must stay pending");
        drop(body);
        assert_eq!(st.wait_streams_closed(1).await.len(), 1);
    }
}
