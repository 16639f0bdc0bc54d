//! Fault injection: what the mock does with the next request instead of (or
//! before) answering normally.

use std::time::Duration;

/// One scripted behaviour, consumed by exactly one request (FIFO).
///
/// Behaviours that only make sense for streams also apply to non-stream
/// answers in the obvious way: [`Behavior::StallMidStream`] sends the response
/// head and then never sends the body, [`Behavior::ResetMidStream`] sends the
/// head and then drops the connection, and [`Behavior::ChunkInterval`] has no
/// effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behavior {
    /// Answer with this status and this raw body, as `application/json`.
    /// A status that is not a valid HTTP status becomes 500.
    Status {
        /// HTTP status code.
        status: u16,
        /// Raw body, sent exactly as given.
        body: String,
    },
    /// Like [`Behavior::Status`], with extra response headers (for example
    /// `retry-after` on a 429).
    Respond {
        /// HTTP status code.
        status: u16,
        /// Extra response headers, `(name, value)`.
        headers: Vec<(String, String)>,
        /// Raw body, sent exactly as given, as `application/json`.
        body: String,
    },
    /// Sleep this long, then answer normally.
    Delay(Duration),
    /// Read the request, then close the TCP connection without any response
    /// (over HTTP/2, the stream is reset instead).
    Reset,
    /// Send this many stream chunks, then send nothing more while keeping the
    /// connection open. The only way the response ends is the peer hanging up.
    StallMidStream {
        /// Number of SSE events sent before stalling.
        after_chunks: usize,
    },
    /// Send this many stream chunks, then drop the connection abruptly.
    ResetMidStream {
        /// Number of SSE events sent before the connection is dropped.
        after_chunks: usize,
    },
    /// `200` with `content-type: application/json` and a body that is not JSON.
    Garbage,
    /// `200` with `content-type: text/event-stream` whose data lines are not JSON.
    GarbageStream,
    /// Stream normally, sleeping this long before every chunk (the first included).
    ChunkInterval(Duration),
}

impl Behavior {
    /// A [`Behavior::Status`] whose body is an OpenAI-shaped error:
    /// `{"error":{"message":…,"type":…,"param":null,"code":…}}`.
    pub fn openai_error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Self {
        Behavior::Status {
            status,
            body: openai_error_body(message, kind, code),
        }
    }

    /// A 429 in OpenAI's shape with a `retry-after` header in seconds.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Behavior::Respond {
            status: 429,
            headers: vec![("retry-after".to_owned(), retry_after_secs.to_string())],
            body: openai_error_body(
                "Rate limit reached (mock)",
                "requests",
                Some("rate_limit_exceeded"),
            ),
        }
    }
}

/// Serializes an OpenAI-shaped error body.
pub(crate) fn openai_error_body(message: &str, kind: &str, code: Option<&str>) -> String {
    serde_json::json!({
        "error": { "message": message, "type": kind, "param": null, "code": code }
    })
    .to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn openai_error_shape() {
        let Behavior::Status { status, body } =
            Behavior::openai_error(400, "bad", "invalid_request_error", None)
        else {
            panic!("not a status");
        };
        assert_eq!(status, 400);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["message"], "bad");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["code"].is_null());
        assert!(v["error"]["param"].is_null());
    }
}
