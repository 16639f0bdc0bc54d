//! The AWS binary event-stream framing (`application/vnd.amazon.eventstream`), undone into
//! the same [`SseEvent`]s an SSE stream gives, so codecs see one kind of event.
//!
//! A message is a prelude (total length, headers length, prelude CRC), typed headers, a
//! payload and a message CRC. Framing is done here (the total length says when a message is
//! complete); parsing and both CRC checks are `aws-smithy-eventstream`'s. Each message becomes
//! one event: `event` is the `:event-type` header for an event, the `:exception-type` header
//! for an exception (`throttlingException`, …), or `error` for an error message (whose
//! `:error-code` and `:error-message` headers become the payload `{"__type", "message"}`);
//! `data` is the payload as UTF-8.

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};
use bytes::{Buf, BytesMut};
use sluice_types::{ErrorKind, GatewayError, Origin};

use crate::SseEvent;

/// Prelude (12 bytes) plus message CRC (4 bytes): the smallest message.
const MIN_MESSAGE: usize = 16;
/// Messages above this are refused instead of buffered (AWS allows 16 MiB of payload).
const MAX_MESSAGE: usize = 24 << 20;

/// Incremental event-stream parser: feed it body chunks, take complete events.
#[derive(Debug, Default)]
pub struct EventStreamParser {
    buf: BytesMut,
}

impl EventStreamParser {
    /// Appends `chunk` and returns every event it completes, in order.
    ///
    /// # Errors
    /// When a message is malformed (bad length or CRC); the stream cannot continue then.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, GatewayError> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while self.buf.len() >= 4 {
            let total = usize::try_from((&self.buf[..4]).get_u32()).unwrap_or(usize::MAX);
            if !(MIN_MESSAGE..=MAX_MESSAGE).contains(&total) {
                return Err(malformed(&format!("a message length of {total} bytes")));
            }
            if self.buf.len() < total {
                break;
            }
            let frame = self.buf.split_to(total).freeze();
            let message = read_message_from(frame)
                .map_err(|e| malformed(&format!("a message that does not parse ({e})")))?;
            out.push(to_event(&message));
        }
        Ok(out)
    }

    /// Ends the stream.
    ///
    /// # Errors
    /// When the body ended inside a message.
    pub fn finish(&mut self) -> Result<(), GatewayError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let left = self.buf.len();
        self.buf.clear();
        Err(malformed(&format!(
            "{left} bytes of an unfinished message at its end"
        )))
    }
}

fn malformed(what: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::UpstreamProtocol,
        Origin::Upstream,
        format!("upstream sent an AWS event stream with {what}"),
    )
}

/// A string header of `message`.
fn header<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| match h.value() {
            HeaderValue::String(s) => Some(s.as_str()),
            _ => None,
        })
}

/// One message as an event (see the module docs).
fn to_event(message: &Message) -> SseEvent {
    let payload = String::from_utf8_lossy(message.payload()).into_owned();
    match header(message, ":message-type") {
        Some("exception") => SseEvent {
            event: Some(
                header(message, ":exception-type")
                    .unwrap_or("exception")
                    .to_owned(),
            ),
            data: payload,
        },
        Some("error") => SseEvent {
            event: Some("error".to_owned()),
            data: serde_json::json!({
                "__type": header(message, ":error-code").unwrap_or("error"),
                "message": header(message, ":error-message").unwrap_or_default(),
            })
            .to_string(),
        },
        _ => SseEvent {
            event: header(message, ":event-type").map(str::to_owned),
            data: payload,
        },
    }
}

/// Frames one event message (`:message-type: event`, `:event-type`, JSON content type) with
/// `payload`: what Bedrock sends, for fixtures and tests.
pub fn encode_event(event_type: &str, payload: &[u8]) -> bytes::Bytes {
    encode(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// Frames one exception message (`:message-type: exception`, `:exception-type`).
pub fn encode_exception(exception_type: &str, payload: &[u8]) -> bytes::Bytes {
    encode(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        payload,
    )
}

fn encode(headers: &[(&str, &str)], payload: &[u8]) -> bytes::Bytes {
    use aws_smithy_types::event_stream::Header;
    let headers = headers
        .iter()
        .map(|(name, value)| {
            Header::new(
                (*name).to_owned(),
                HeaderValue::String((*value).to_owned().into()),
            )
        })
        .collect();
    let message = Message::new_from_parts(headers, bytes::Bytes::copy_from_slice(payload));
    let mut out = Vec::with_capacity(payload.len() + 128);
    // Writing string headers and a payload into a Vec cannot fail.
    let _ = aws_smithy_eventstream::frame::write_message_to(&message, &mut out);
    bytes::Bytes::from(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse_in_pieces(bytes: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut p = EventStreamParser::default();
        let mut out = Vec::new();
        for chunk in bytes.chunks(piece) {
            out.extend(p.push(chunk).unwrap());
        }
        p.finish().unwrap();
        out
    }

    #[test]
    fn events_and_exceptions_survive_any_chunking() {
        let mut wire = encode_event("messageStart", br#"{"role":"assistant"}"#).to_vec();
        wire.extend_from_slice(&encode_exception(
            "throttlingException",
            br#"{"message":"slow"}"#,
        ));
        for piece in [1, 3, 7, 64, 4096] {
            let evs = parse_in_pieces(&wire, piece);
            assert_eq!(
                evs,
                vec![
                    SseEvent {
                        event: Some("messageStart".into()),
                        data: r#"{"role":"assistant"}"#.into()
                    },
                    SseEvent {
                        event: Some("throttlingException".into()),
                        data: r#"{"message":"slow"}"#.into()
                    },
                ],
                "piece {piece}"
            );
        }
    }

    #[test]
    fn error_messages_carry_their_headers_as_json() {
        let wire = encode(
            &[
                (":message-type", "error"),
                (":error-code", "InternalFailure"),
                (":error-message", "boom"),
            ],
            b"",
        );
        let evs = parse_in_pieces(&wire, 5);
        assert_eq!(evs[0].event.as_deref(), Some("error"));
        let v: serde_json::Value = serde_json::from_str(&evs[0].data).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"__type": "InternalFailure", "message": "boom"})
        );
    }

    #[test]
    fn corruption_and_truncation_are_protocol_errors() {
        let mut wire = encode_event("messageStop", br#"{"stopReason":"end_turn"}"#).to_vec();
        let last = wire.len() - 1;
        wire[last] ^= 0xff;
        let e = EventStreamParser::default().push(&wire).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UpstreamProtocol);

        let wire = encode_event("messageStop", b"{}");
        let mut p = EventStreamParser::default();
        assert!(p.push(&wire[..wire.len() - 3]).unwrap().is_empty());
        assert_eq!(p.finish().unwrap_err().kind(), ErrorKind::UpstreamProtocol);

        let e = EventStreamParser::default()
            .push(&[0, 0, 0, 3, 0, 0])
            .unwrap_err();
        assert!(e.message().contains("length"), "{}", e.message());
    }
}
