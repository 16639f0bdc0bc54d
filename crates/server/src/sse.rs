//! Relaying a chunk stream to the client as OpenAI server-sent events, one event per chunk as
//! it arrives.

use axum::body::Body;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use sluice_providers::ChunkStream;
use sluice_types::ChatChunk;

use crate::error::sse_error_event;

/// The SSE body for `chunks`: `data: {chunk}` events, then `data: [DONE]`, or an error event
/// if the stream fails after it began.
pub fn body(chunks: ChunkStream) -> Body {
    let events = futures_util::stream::unfold(Some(chunks), |state| async move {
        let mut chunks = state?;
        match chunks.next().await {
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
