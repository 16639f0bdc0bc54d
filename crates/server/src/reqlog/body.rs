//! Body wrappers of the request log: a request body that keeps a capped copy of what the
//! handler read, and a response body that notes its first byte, keeps a tail for usage
//! extraction, and finishes the log entry when it ends or is dropped.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::Entry;

/// Bytes kept from the end of a relayed body to find its usage in.
const TAIL_BYTES: usize = 64 * 1024;

/// Up to `cap` bytes of a body, and how many went by in all.
#[derive(Debug, Default)]
pub(super) struct Capture {
    pub bytes: Vec<u8>,
    pub total: u64,
    cap: usize,
}

impl Capture {
    pub fn new(cap: usize) -> Self {
        Self {
            bytes: Vec::new(),
            total: 0,
            cap,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.total += u64::try_from(data.len()).unwrap_or(u64::MAX);
        let room = self.cap.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// A request body that copies what is read of it into a shared [`Capture`].
pub(super) struct CaptureBody {
    pub inner: Body,
    pub capture: Arc<Mutex<Capture>>,
}

impl http_body::Body for CaptureBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &poll {
            if let (Some(data), Ok(mut capture)) = (frame.data_ref(), self.capture.lock()) {
                capture.push(data);
            }
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The last frames of a body, about [`TAIL_BYTES`] of them (reference-counted, not copied),
/// and its first [`HEAD_BYTES`] (where a stream names its model and, for Anthropic, its
/// prompt's usage).
#[derive(Debug, Default)]
pub(super) struct Tail {
    frames: VecDeque<Bytes>,
    bytes: usize,
    head: Vec<u8>,
}

/// How much of the start of a relayed body is kept.
const HEAD_BYTES: usize = 4096;

impl Tail {
    pub fn push(&mut self, data: &Bytes) {
        let room = HEAD_BYTES.saturating_sub(self.head.len());
        if room > 0 {
            self.head.extend_from_slice(&data[..room.min(data.len())]);
        }
        self.bytes += data.len();
        self.frames.push_back(data.clone());
        while self.bytes > TAIL_BYTES && self.frames.len() > 1 {
            if let Some(old) = self.frames.pop_front() {
                self.bytes -= old.len();
            }
        }
    }

    /// The start of the body.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    pub fn concat(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes);
        for f in &self.frames {
            out.extend_from_slice(f);
        }
        out
    }
}

/// A response body that finishes its log entry when it ends or is dropped.
pub(super) struct LoggedBody {
    pub inner: Body,
    pub entry: Option<Entry>,
    pub ended: bool,
}

impl LoggedBody {
    fn finish(&mut self) {
        if let Some(entry) = self.entry.take() {
            let complete = self.ended || http_body::Body::is_end_stream(&self.inner);
            entry.finish_body(complete);
        }
    }
}

impl http_body::Body for LoggedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(entry), Some(data)) = (this.entry.as_mut(), frame.data_ref()) {
                    entry.on_data(data);
                }
                if http_body::Body::is_end_stream(&this.inner) {
                    this.ended = true;
                    this.finish();
                }
            }
            Poll::Ready(None) => {
                this.ended = true;
                this.finish();
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(entry) = this.entry.as_mut() {
                    entry.on_body_error(&e.to_string());
                }
            }
            Poll::Pending => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_stop_at_their_cap_but_count_everything() {
        let mut c = Capture::new(4);
        c.push(b"abc");
        c.push(b"def");
        assert_eq!((c.bytes.as_slice(), c.total), (&b"abcd"[..], 6));
    }

    #[test]
    fn the_tail_keeps_the_last_frames() {
        let mut t = Tail::default();
        let big = Bytes::from(vec![b'x'; TAIL_BYTES]);
        t.push(&big);
        t.push(&Bytes::from_static(b"end"));
        assert_eq!(t.concat(), b"end");
        let mut one = Tail::default();
        one.push(&Bytes::from(vec![b'y'; TAIL_BYTES * 2]));
        assert_eq!(
            one.concat().len(),
            TAIL_BYTES * 2,
            "the last frame is always kept"
        );
    }
}
