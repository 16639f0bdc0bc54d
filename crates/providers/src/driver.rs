//! The stream driver: an upstream stream body in, chat chunks out, one codec call per event.
//!
//! The body is unframed by the codec's [`Framing`] (SSE, or the AWS binary event stream)
//! into [`SseEvent`]s, so every codec decodes events the same way. The driver enforces the
//! idle gap between frames and the total deadline, stamps chunks that carry no timestamp
//! with the stream's start (and no model with the target's), and fails a stream that ends before it was complete (no finish
//! reason and no `[DONE]`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use sluice_types::{ChatChunk, ErrorKind, GatewayError, Origin};

use crate::call::unix_now;
use crate::codec::Framing;
use crate::eventstream::EventStreamParser;
use crate::{Codec, SseEvent, SseParser, Target};

/// Undoes a stream's framing.
enum Framer {
    Sse(SseParser),
    Aws(EventStreamParser),
}

impl Framer {
    fn new(framing: Framing) -> Self {
        match framing {
            Framing::Sse => Framer::Sse(SseParser::default()),
            Framing::AwsEventStream => Framer::Aws(EventStreamParser::default()),
        }
    }

    fn push(&mut self, data: &[u8]) -> Result<Vec<SseEvent>, GatewayError> {
        match self {
            Framer::Sse(p) => Ok(p.push(data)),
            Framer::Aws(p) => p.push(data),
        }
    }

    fn finish(&mut self) -> Result<Option<SseEvent>, GatewayError> {
        match self {
            Framer::Sse(p) => Ok(p.finish()),
            Framer::Aws(p) => p.finish().map(|()| None),
        }
    }
}

/// Turns an upstream stream body into chat chunks, one codec call per event.
pub(crate) struct StreamDriver<C: Codec> {
    name: Arc<str>,
    codec: Arc<C>,
    body: Incoming,
    framer: Framer,
    state: C::StreamState,
    pending: VecDeque<ChatChunk>,
    deadline: Instant,
    /// The longest allowed gap between two frames.
    idle: std::time::Duration,
    /// Unix seconds when the stream started, for chunks whose format carries none.
    created: u64,
    /// The target's model, for chunks whose format names none.
    model: Arc<str>,
    finished: bool,
    /// An error to yield once the chunks decoded before it are out.
    deferred: Option<GatewayError>,
    saw_finish: bool,
    saw_done: bool,
}

impl<C: Codec> StreamDriver<C> {
    /// A driver for `body` from `target`, whose codec state already saw the response head;
    /// the stream started now.
    pub(crate) fn new(
        name: Arc<str>,
        codec: Arc<C>,
        body: Incoming,
        state: C::StreamState,
        deadline: Instant,
        target: &Target,
    ) -> Self {
        let framer = Framer::new(codec.framing());
        Self {
            name,
            codec,
            body,
            framer,
            state,
            pending: VecDeque::new(),
            deadline,
            idle: target.timeouts.idle,
            created: unix_now(),
            model: target.model.clone(),
            finished: false,
            deferred: None,
            saw_finish: false,
            saw_done: false,
        }
    }

    /// The next chunk, an error that ends the stream, or `None` at its end.
    pub(crate) async fn next(&mut self) -> Option<Result<ChatChunk, GatewayError>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                self.saw_finish |= chunk.choices.iter().any(|c| c.finish_reason.is_some());
                return Some(Ok(chunk));
            }
            if let Some(e) = self.deferred.take() {
                return Some(Err(e));
            }
            if self.finished {
                return None;
            }
            let idle_end = Instant::now() + self.idle;
            let wait_until = idle_end.min(self.deadline);
            let frame = tokio::time::timeout_at(wait_until.into(), self.body.frame()).await;
            let events = match frame {
                Err(_) if wait_until == idle_end && idle_end < self.deadline => {
                    let waited = format!("the next stream event (idle for {:?})", self.idle);
                    return self.fail(timeout(&self.name, &waited));
                }
                Err(_) => return self.fail(timeout(&self.name, "the rest of the stream")),
                Ok(Some(Err(e))) => {
                    return self.fail(GatewayError::new(
                        ErrorKind::UpstreamReset,
                        Origin::Upstream,
                        format!("provider {} broke off the stream: {e}", self.name),
                    ));
                }
                Ok(None) => {
                    self.end();
                    continue;
                }
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => match self.framer.push(&data) {
                        Ok(events) => events,
                        Err(e) => {
                            self.finished = true;
                            self.deferred = Some(e);
                            continue;
                        }
                    },
                    Err(_) => continue,
                },
            };
            for ev in events {
                if let Err(e) = self.decode(ev) {
                    self.finished = true;
                    self.deferred = Some(e);
                    break;
                }
            }
        }
    }

    /// The body ended: decode what the framing still held, and fail a stream that was not
    /// complete.
    fn end(&mut self) {
        self.finished = true;
        match self.framer.finish() {
            Ok(Some(ev)) => {
                if let Err(e) = self.decode(ev) {
                    self.deferred = Some(e);
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                self.deferred = Some(e);
                return;
            }
        }
        let finish_pending = self
            .pending
            .iter()
            .any(|c| c.choices.iter().any(|c| c.finish_reason.is_some()));
        if !self.saw_done && !self.saw_finish && !finish_pending {
            self.deferred = Some(GatewayError::new(
                ErrorKind::UpstreamReset,
                Origin::Upstream,
                format!(
                    "provider {} ended the stream before it was complete",
                    self.name
                ),
            ));
        }
    }

    fn decode(&mut self, ev: SseEvent) -> Result<(), GatewayError> {
        if ev.data.trim() == "[DONE]" {
            self.saw_done = true;
        }
        let chunks = self.codec.decode_event(&mut self.state, ev)?;
        for mut chunk in chunks {
            // Formats without a timestamp get the time the stream started, never a placeholder.
            if chunk.created == 0 {
                chunk.created = self.created;
            }
            // Likewise the model: the target's, when the format names none.
            if chunk.model.is_empty() {
                chunk.model = self.model.to_string();
            }
            self.pending.push_back(chunk);
        }
        Ok(())
    }

    fn fail(&mut self, e: GatewayError) -> Option<Result<ChatChunk, GatewayError>> {
        self.finished = true;
        self.pending.clear();
        Some(Err(e))
    }
}

/// The error for a deadline that passed while waiting for `waiting_for`.
pub(crate) fn timeout(name: &str, waiting_for: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::UpstreamTimeout,
        Origin::Upstream,
        format!("provider {name} timed out waiting for {waiting_for}"),
    )
}
