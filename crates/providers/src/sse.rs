//! Server-sent events framing: bytes in, complete events out, with no copy of the payload
//! beyond the one line buffer.

use bytes::{Buf, BytesMut};

/// One complete server-sent event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, when present.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental SSE parser: feed it body chunks as they arrive, take events as they complete.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: BytesMut,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// Appends `chunk` and returns every event it completes, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n' || b == b'\r') {
            // A `\r` at the very end may be the first half of `\r\n`: wait for more.
            if self.buf[pos] == b'\r' && pos + 1 == self.buf.len() {
                break;
            }
            let line = self.buf.split_to(pos);
            let skip = if self.buf[0] == b'\r' && self.buf.get(1) == Some(&b'\n') {
                2
            } else {
                1
            };
            self.buf.advance(skip);
            if let Some(ev) = self.line(&line) {
                out.push(ev);
            }
        }
        out
    }

    /// Ends the stream: a final event without a trailing blank line still counts.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.buf.is_empty() {
            let line = self.buf.split();
            if let Some(ev) = self.line(&line) {
                return Some(ev);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if !self.has_data {
            self.event = None;
            return None;
        }
        self.has_data = false;
        Some(SseEvent {
            event: self.event.take(),
            data: std::mem::take(&mut self.data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&str]) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(p.push(c.as_bytes()));
        }
        out.extend(p.finish());
        out
    }

    #[test]
    fn splits_events_across_arbitrary_chunk_boundaries() {
        let evs = all(&["data: {\"a\"", ":1}\n", "\ndata: [DONE]\n\n"]);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].data, "{\"a\":1}");
        assert_eq!(evs[1].data, "[DONE]");
    }

    #[test]
    fn handles_crlf_named_events_comments_and_multiline_data() {
        let evs = all(&[
            ": keep-alive\r\n\r\nevent: message_start\r",
            "\ndata: a\r\ndata: b\r\n\r\n",
        ]);
        assert_eq!(
            evs,
            vec![SseEvent {
                event: Some("message_start".into()),
                data: "a\nb".into()
            }]
        );
    }

    #[test]
    fn flushes_a_final_event_without_blank_line() {
        let evs = all(&["data: last"]);
        assert_eq!(evs[0].data, "last");
    }
}
