//! The span model: what one finished span says, independent of how it is exported.

use std::sync::Arc;

use crate::context::{SpanId, TraceId};

/// One finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its own id.
    pub span_id: SpanId,
    /// Its parent, if any.
    pub parent: Option<SpanId>,
    /// Whether the parent is another service's span (the caller's).
    pub parent_is_remote: bool,
    /// The trace's `tracestate`.
    pub trace_state: Option<Arc<str>>,
    /// A low-cardinality name (`chat gpt-4o-mini`).
    pub name: String,
    /// Server (a request the gateway answered) or client (a call it made).
    pub kind: SpanKind,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_unix_nanos: u64,
    /// Attributes, in the order they were set.
    pub attributes: Vec<(&'static str, Value)>,
    /// Whether the operation failed.
    pub status: Status,
}

/// What a span stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// A request the gateway served.
    Server,
    /// A call the gateway made to an upstream.
    Client,
}

/// A span's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Nothing to report (success, or a client error on a server span).
    Unset,
    /// The operation failed, with a description.
    Error(String),
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Str(String),
    /// A whole number.
    Int(i64),
    /// A real number.
    Float(f64),
}

impl Span {
    /// Sets attribute `key`.
    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        self.attributes.push((key, value.into()));
    }

    /// Sets attribute `key` when there is a value.
    pub fn set_some<V: Into<Value>>(&mut self, key: &'static str, value: Option<V>) {
        if let Some(v) = value {
            self.set(key, v);
        }
    }

    /// The value of attribute `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

impl From<u16> for Value {
    fn from(v: u16) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
