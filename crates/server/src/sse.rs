//! Relaying a chunk stream to the client as server-sent events: OpenAI's, one event per chunk
//! as it arrives, or another API's, written by its [`EventWriter`].

use axum::body::Body;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use sluice_providers::ChunkStream;
use sluice_types::{ChatChunk, GatewayError};

use crate::error::sse_error_event;

/// The SSE body for `chunks`: `data: {chunk}` events, then `data: [DONE]`, or an error event
/// if the stream fails after it began. Usage-only chunks reach the client only when it asked
/// for them (`stream_options.include_usage`), whatever the upstream sent.
pub fn body(chunks: ChunkStream, include_usage: bool) -> Body {
    let events = futures_util::stream::unfold(Some(chunks), move |state| async move {
        let mut chunks = state?;
        let mut next = chunks.next().await;
        while !include_usage
            && matches!(&next, Some(Ok(c)) if c.choices.is_empty() && c.usage.is_some())
        {
            next = chunks.next().await;
        }
        match next {
            Some(Ok(chunk)) => Some((
                Ok::<_, std::convert::Infallible>(event(&chunk)),
                Some(chunks),
            )),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "stream failed after it began");
                Some((Ok(sse_error_event(&e)), None))
            }
            None => Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), None)),
        }
    });
    Body::from_stream(events)
}

/// The per-stream state machine of an inbound API whose events are not OpenAI chat chunks
/// (Anthropic Messages, Responses).
pub(crate) trait EventWriter: Send + 'static {
    /// The events of one chunk (possibly none).
    fn chunk(&mut self, chunk: &ChatChunk) -> Bytes;
    /// The last events, once the stream ended cleanly.
    fn finish(&mut self) -> Bytes;
    /// The event that ends a stream which failed after it began.
    fn fail(&mut self, e: &GatewayError) -> Bytes;
}

/// The SSE body `writer` makes of `chunks`.
pub(crate) fn written(chunks: ChunkStream, writer: impl EventWriter) -> Body {
    let events = futures_util::stream::unfold(Some((chunks, writer)), |state| async move {
        let (mut chunks, mut writer) = state?;
        loop {
            let bytes = match chunks.next().await {
                Some(Ok(chunk)) => writer.chunk(&chunk),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "stream failed after it began");
                    return Some((Ok::<_, std::convert::Infallible>(writer.fail(&e)), None));
                }
                None => return Some((Ok(writer.finish()), None)),
            };
            if !bytes.is_empty() {
                return Some((Ok(bytes), Some((chunks, writer))));
            }
        }
    });
    Body::from_stream(events)
}

fn event(chunk: &ChatChunk) -> Bytes {
    // Serializing plain data into memory cannot fail; an empty object is the fallback.
    let json = chunk
        .openai_json()
        .unwrap_or_else(|_| Bytes::from_static(b"{}"));
    let mut buf = BytesMut::with_capacity(json.len() + 8);
    buf.put_slice(b"data: ");
    buf.put_slice(&json);
    buf.put_slice(b"\n\n");
    buf.freeze()
}
