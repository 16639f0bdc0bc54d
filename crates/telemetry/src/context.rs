//! W3C Trace Context: trace and span ids, and the `traceparent` / `tracestate` headers that
//! carry them between services.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use http::HeaderValue;

/// The longest `tracestate` passed on (the W3C limit for what a vendor must propagate).
const MAX_TRACESTATE: usize = 512;

/// A 16-byte trace id, never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id, never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// A new random id.
    pub fn random() -> Self {
        let (hi, lo) = (fastrand::u64(..), fastrand::u64(1..));
        let mut id = [0; 16];
        id[..8].copy_from_slice(&hi.to_be_bytes());
        id[8..].copy_from_slice(&lo.to_be_bytes());
        Self(id)
    }

    /// The low 8 bytes as a number, what ratio sampling compares.
    pub(crate) fn low(&self) -> u64 {
        let mut low = [0; 8];
        low.copy_from_slice(&self.0[8..]);
        u64::from_be_bytes(low)
    }
}

impl SpanId {
    /// A new random id.
    pub fn random() -> Self {
        Self(fastrand::u64(1..).to_be_bytes())
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// What a `traceparent` header (and its `tracestate`) says: the trace, the span that is the
/// parent of whatever receives it, and whether that trace is sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace.
    pub trace_id: TraceId,
    /// The sender's span (the `parent-id` field).
    pub span_id: SpanId,
    /// The `sampled` flag.
    pub sampled: bool,
    /// The `tracestate` header, passed on unchanged.
    pub state: Option<Arc<str>>,
}

impl TraceContext {
    /// Reads a `traceparent` header (and `tracestate`); `None` when it is not a valid
    /// W3C trace context, in which case the tracestate is ignored too.
    pub fn parse(traceparent: &[u8], tracestate: Option<&[u8]>) -> Option<Self> {
        let tp = traceparent.trim_ascii();
        // version "-" trace-id "-" parent-id "-" flags; later versions may append fields.
        if tp.len() < 55 || (tp.len() > 55 && (tp[0..2] == *b"00" || tp[55] != b'-')) {
            return None;
        }
        if tp[2] != b'-' || tp[35] != b'-' || tp[52] != b'-' {
            return None;
        }
        let version = hex::<1>(&tp[0..2])?;
        if version[0] == 0xff {
            return None;
        }
        let trace_id = hex::<16>(&tp[3..35]).filter(|id| *id != [0; 16])?;
        let span_id = hex::<8>(&tp[36..52]).filter(|id| *id != [0; 8])?;
        let flags = hex::<1>(&tp[53..55])?;
        let state = tracestate
            .map(<[u8]>::trim_ascii)
            .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE)
            .filter(|s| s.iter().all(|b| (0x20..0x7f).contains(b)))
            .and_then(|s| std::str::from_utf8(s).ok())
            .map(Arc::from);
        Some(Self {
            trace_id: TraceId(trace_id),
            span_id: SpanId(span_id),
            sampled: flags[0] & 1 == 1,
            state,
        })
    }

    /// The same trace, with a new span of this service as the parent.
    pub fn child(&self) -> Self {
        Self {
            span_id: SpanId::random(),
            ..self.clone()
        }
    }

    /// The `traceparent` header value (version 00).
    pub fn traceparent(&self) -> HeaderValue {
        let mut out = [0u8; 55];
        out[..3].copy_from_slice(b"00-");
        hex_into(&self.trace_id.0, &mut out[3..35]);
        out[35] = b'-';
        hex_into(&self.span_id.0, &mut out[36..52]);
        out[52] = b'-';
        out[53..].copy_from_slice(if self.sampled { b"01" } else { b"00" });
        // Only hex digits and dashes: always a valid header value.
        HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The `tracestate` header value, when the caller sent one.
    pub fn tracestate(&self) -> Option<HeaderValue> {
        self.state
            .as_deref()
            .and_then(|s| HeaderValue::from_str(s).ok())
    }
}

/// How the gateway takes part in one request's trace.
#[derive(Debug, Clone)]
pub struct Traced {
    /// What upstream requests carry: the current span of the gateway (the request's, or an
    /// attempt's) when spans are recorded, otherwise the caller's context passed on as it is.
    pub context: TraceContext,
    /// Set when the gateway records spans for this request.
    pub recording: Option<Arc<RequestSpan>>,
}

/// The request span of a recorded request, started when the request arrived.
#[derive(Debug)]
pub struct RequestSpan {
    /// The request span's id.
    pub span_id: SpanId,
    /// The caller's span, when the request continued a trace.
    pub parent: Option<SpanId>,
    /// When the request arrived, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// The same moment on the monotonic clock, to place attempts and the end on.
    pub started: Instant,
}

impl RequestSpan {
    /// `at` (on the monotonic clock) in nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self, at: Instant) -> u64 {
        let offset = at.saturating_duration_since(self.started).as_nanos();
        self.start_unix_nanos
            .saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
    }
}

impl Traced {
    /// The trace of one upstream attempt: when spans are recorded, a copy whose context is a
    /// new child span (returned too), so the attempt's upstream request names it as parent.
    pub fn attempt(&self) -> Option<(Traced, SpanId)> {
        self.recording.as_ref()?;
        let context = self.context.child();
        let id = context.span_id;
        Some((
            Traced {
                context,
                recording: self.recording.clone(),
            },
            id,
        ))
    }
}

/// Nanoseconds since the Unix epoch, now.
pub(crate) fn unix_nanos_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// Lowercase hex of exactly `N` bytes.
fn hex<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0; N];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_round_trips() {
        let cx = TraceContext::parse(VALID, Some(b"congo=t61rcWkgMzE")).unwrap();
        assert_eq!(cx.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(cx.span_id.to_string(), "00f067aa0ba902b7");
        assert!(cx.sampled);
        assert_eq!(cx.traceparent().as_bytes(), VALID);
        assert_eq!(cx.tracestate().unwrap(), "congo=t61rcWkgMzE");
        let child = cx.child();
        assert_eq!(child.trace_id, cx.trace_id);
        assert_ne!(child.span_id, cx.span_id);
        assert_eq!(child.state, cx.state);
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for bad in [
            &b""[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad, None), None, "{bad:?}");
        }
        // A later version may append fields; the known part is read.
        let later = b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-comes";
        let cx = TraceContext::parse(later, None).unwrap();
        assert!(!cx.sampled);
        assert_eq!(
            cx.traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        );
    }

    #[test]
    fn an_oversized_or_binary_tracestate_is_dropped() {
        let long = vec![b'a'; MAX_TRACESTATE + 1];
        assert_eq!(TraceContext::parse(VALID, Some(&long)).unwrap().state, None);
        assert_eq!(
            TraceContext::parse(VALID, Some(b"a=\x01")).unwrap().state,
            None
        );
    }

    #[test]
    fn attempts_get_their_own_span_only_when_recording() {
        let cx = TraceContext::parse(VALID, None).unwrap();
        let passed_on = Traced {
            context: cx.clone(),
            recording: None,
        };
        assert!(passed_on.attempt().is_none());
        let started = Instant::now();
        let recorded = Traced {
            context: cx.child(),
            recording: Some(Arc::new(RequestSpan {
                span_id: SpanId::random(),
                parent: Some(cx.span_id),
                start_unix_nanos: 1_000,
                started,
            })),
        };
        let (attempt, id) = recorded.attempt().unwrap();
        assert_eq!(attempt.context.span_id, id);
        assert_eq!(attempt.context.trace_id, cx.trace_id);
        assert_ne!(id, recorded.context.span_id);
        let span = recorded.recording.as_deref().unwrap();
        assert_eq!(
            span.unix_nanos(started + std::time::Duration::from_micros(3)),
            4_000
        );
    }
}
