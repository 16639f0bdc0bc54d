//! The few OTLP protobuf messages a trace export needs, declared by hand after
//! `opentelemetry/proto/{collector/trace,trace,resource,common}/v1/*.proto` (same field
//! numbers and wire types; enums as their `int32` values). Fields the exporter never sets
//! (links, events, entity refs, dropped counts, non-scalar values) are left out; a decoder
//! skips fields it does not know, so these messages decode other exporters' output too.

use crate::span::{Span, SpanKind, Status, Value};

/// `ExportTraceServiceRequest`: the body of an export call.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTraceServiceRequest {
    /// Spans grouped by the resource (service) that produced them.
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `ExportTraceServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTraceServiceResponse {
    /// Set when some spans were rejected.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportTracePartialSuccess>,
}

/// `ExportTracePartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTracePartialSuccess {
    /// Spans the receiver rejected.
    #[prost(int64, tag = "1")]
    pub rejected_spans: i64,
    /// Why.
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `ResourceSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceSpans {
    /// The service.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// Spans by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

/// `Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// `service.name` and friends.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeSpans {
    /// The instrumentation scope.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The spans.
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<ProtoSpan>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    /// Scope name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Scope version.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `Span` (named apart from the crate's own [`Span`]).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoSpan {
    /// 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// The W3C `tracestate`.
    #[prost(string, tag = "3")]
    pub trace_state: String,
    /// 8 bytes, or empty for a root span.
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    /// Span name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// `SpanKind`: 2 server, 3 client.
    #[prost(int32, tag = "6")]
    pub kind: i32,
    /// Start, Unix nanoseconds.
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    /// End, Unix nanoseconds.
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    /// Attributes.
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Outcome.
    #[prost(message, optional, tag = "15")]
    pub status: Option<ProtoStatus>,
    /// Trace flags (bits 0–7) and whether the parent is remote (bits 8–9).
    #[prost(fixed32, tag = "16")]
    pub flags: u32,
}

/// `Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoStatus {
    /// Description of an error.
    #[prost(string, tag = "2")]
    pub message: String,
    /// `StatusCode`: 0 unset, 1 ok, 2 error.
    #[prost(int32, tag = "3")]
    pub code: i32,
}

/// `KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Attribute value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// One of the scalar kinds.
    #[prost(oneof = "any_value::Value", tags = "1, 3, 4")]
    pub value: Option<any_value::Value>,
}

/// The `value` oneof of [`AnyValue`].
pub mod any_value {
    /// The scalar kinds of an attribute value.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// `string_value`.
        #[prost(string, tag = "1")]
        StringValue(String),
        /// `int_value`.
        #[prost(int64, tag = "3")]
        IntValue(i64),
        /// `double_value`.
        #[prost(double, tag = "4")]
        DoubleValue(f64),
    }
}

/// `SpanKind` values.
pub const SPAN_KIND_SERVER: i32 = 2;
/// `SpanKind` values.
pub const SPAN_KIND_CLIENT: i32 = 3;
/// `StatusCode` of an error.
pub const STATUS_CODE_ERROR: i32 = 2;
/// `SpanFlags`: the sampled bit of the W3C trace flags.
const FLAG_SAMPLED: u32 = 0x01;
/// `SpanFlags`: whether the parent is remote is known.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
/// `SpanFlags`: the parent is remote.
const FLAG_IS_REMOTE: u32 = 0x200;

/// One export's body: `spans` of the service described by `resource`, under scope
/// `scope` (name, version).
pub fn export_request(
    resource: &[KeyValue],
    scope: (&str, &str),
    spans: &[Span],
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource.to_vec(),
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: scope.0.to_owned(),
                    version: scope.1.to_owned(),
                }),
                spans: spans.iter().map(span).collect(),
            }],
        }],
    }
}

/// A string attribute.
pub fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
    }
}

fn span(s: &Span) -> ProtoSpan {
    let remote = if s.parent_is_remote {
        FLAG_IS_REMOTE
    } else {
        0
    };
    ProtoSpan {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state.as_deref().unwrap_or_default().to_owned(),
        parent_span_id: s.parent.map(|p| p.0.to_vec()).unwrap_or_default(),
        name: s.name.clone(),
        kind: match s.kind {
            SpanKind::Server => SPAN_KIND_SERVER,
            SpanKind::Client => SPAN_KIND_CLIENT,
        },
        start_time_unix_nano: s.start_unix_nanos,
        end_time_unix_nano: s.end_unix_nanos,
        attributes: s
            .attributes
            .iter()
            .map(|(k, v)| KeyValue {
                key: (*k).to_owned(),
                value: Some(AnyValue {
                    value: Some(match v {
                        Value::Str(s) => any_value::Value::StringValue(s.clone()),
                        Value::Int(i) => any_value::Value::IntValue(*i),
                        Value::Float(f) => any_value::Value::DoubleValue(*f),
                    }),
                }),
            })
            .collect(),
        status: match &s.status {
            Status::Unset => None,
            Status::Error(message) => Some(ProtoStatus {
                message: message.clone(),
                code: STATUS_CODE_ERROR,
            }),
        },
        flags: FLAG_SAMPLED | FLAG_HAS_IS_REMOTE | remote,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prost::Message;

    use super::*;
    use crate::context::{SpanId, TraceId};

    /// The same export built with the official `opentelemetry-proto` Python package
    /// (`ExportTraceServiceRequest.SerializeToString()`), so field numbers and wire types
    /// are checked against the real schema, not against this file.
    const OFFICIAL: &str = "0af2010a1a0a180a0c736572766963652e6e616d6512080a06736c7569636512d3010a0f0a06736c756963651205302e312e3012bf010a104bf92f3577b34da6a3ce929d0e0e4736120800f067aa0ba902b71a09636f6e676f3d7436312208b7ad6b71692033312a0963686174206661737430023900002a36fe9c97174180b21045fe9c97174a1e0a1467656e5f61692e726571756573742e6d6f64656c12060a04666173744a1f0a1967656e5f61692e75736167652e696e7075745f746f6b656e731202180c4a1c0a0f736c756963652e636f73745f757364120921000000000000e03f7a081204626f6f6d1802850101030000";

    fn bytes<const N: usize>(hex: &str) -> [u8; N] {
        let mut out = [0; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn encodes_exactly_as_the_official_schema() {
        let mut span = Span {
            trace_id: TraceId(bytes("4bf92f3577b34da6a3ce929d0e0e4736")),
            span_id: SpanId(bytes("00f067aa0ba902b7")),
            parent: Some(SpanId(bytes("b7ad6b7169203331"))),
            parent_is_remote: true,
            trace_state: Some(Arc::from("congo=t61")),
            name: "chat fast".into(),
            kind: SpanKind::Server,
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_250_000_000,
            attributes: Vec::new(),
            status: Status::Error("boom".into()),
        };
        span.set("gen_ai.request.model", "fast");
        span.set("gen_ai.usage.input_tokens", 12u64);
        span.set("sluice.cost_usd", 0.5);
        let resource = [string_attribute("service.name", "sluice")];
        let encoded = export_request(&resource, ("sluice", "0.1.0"), &[span]).encode_to_vec();
        let hex: String = encoded.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, OFFICIAL);
        let decoded = ExportTraceServiceRequest::decode(&encoded[..]).unwrap();
        let spans = &decoded.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans[0].name, "chat fast");
        assert_eq!(spans[0].flags, 0x301, "sampled, with a remote parent");
    }
}
