//! A finished request as spans: one server span for the request and a client span per
//! upstream attempt, named and attributed after the OpenTelemetry GenAI and HTTP semantic
//! conventions, plus Sluice's own `sluice.*` attributes.

use std::time::{Duration, Instant};

use crate::context::{SpanId, Traced};
use crate::span::{Span, SpanKind, Status};

/// A finished request, as its spans describe it.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The request id (`x-request-id`).
    pub request_id: &'a str,
    /// The HTTP method.
    pub method: &'a str,
    /// The URL path.
    pub path: &'a str,
    /// The GenAI operation (`chat`, `embeddings`, `text_completion`), when the API says.
    pub operation: Option<&'static str>,
    /// The model the client asked for.
    pub requested_model: Option<&'a str>,
    /// The upstream that answered, if one did.
    pub answered: Option<Upstream<'a>>,
    /// The response status.
    pub status: u16,
    /// The error type, when the request failed.
    pub error_type: Option<&'a str>,
    /// The error message, when the request failed.
    pub error_message: Option<&'a str>,
    /// Tokens used.
    pub usage: Usage,
    /// What the request cost, in USD.
    pub cost_usd: Option<f64>,
    /// The virtual key's id.
    pub key: Option<&'a str>,
    /// The team's id.
    pub team: Option<&'a str>,
    /// The cache outcome (`HIT`, `MISS`, …).
    pub cache: Option<&'a str>,
    /// When the response ended.
    pub end: Instant,
}

/// Token counts of a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Prompt tokens.
    pub input: Option<u64>,
    /// Completion tokens.
    pub output: Option<u64>,
    /// Prompt tokens read from the provider's prompt cache.
    pub cache_read: Option<u64>,
    /// Prompt tokens written to the provider's prompt cache.
    pub cache_write: Option<u64>,
}

/// One upstream target, as spans name it.
#[derive(Debug, Clone, Copy)]
pub struct Upstream<'a> {
    /// The configured provider name.
    pub provider: &'a str,
    /// The GenAI `gen_ai.provider.name` (`openai`, `aws.bedrock`, …).
    pub system: &'a str,
    /// The upstream host, when it has one.
    pub address: Option<&'a str>,
    /// The upstream port, when it has one.
    pub port: Option<u16>,
    /// The provider's model.
    pub model: &'a str,
}

/// One upstream attempt of the request.
#[derive(Debug, Clone, Copy)]
pub struct AttemptFacts<'a> {
    /// The span id the attempt's upstream request carried in its `traceparent`.
    pub span_id: SpanId,
    /// The target.
    pub upstream: Upstream<'a>,
    /// When the attempt started.
    pub started: Instant,
    /// How long it took.
    pub duration: Duration,
    /// `ok`, `cancelled` or the error class.
    pub outcome: &'a str,
    /// The upstream's HTTP status, when it answered with an error status.
    pub status: Option<u16>,
}

/// The spans of a finished request: none unless `traced` records spans; otherwise the
/// request's server span and a client span per attempt that has a span id.
pub fn request_spans(
    traced: &Traced,
    req: &RequestFacts<'_>,
    attempts: &[AttemptFacts<'_>],
) -> Vec<Span> {
    let Some(rec) = traced.recording.as_deref() else {
        return Vec::new();
    };
    let context = &traced.context;
    let mut root = Span {
        trace_id: context.trace_id,
        span_id: rec.span_id,
        parent: rec.parent,
        parent_is_remote: rec.parent.is_some(),
        trace_state: context.state.clone(),
        name: name(req.operation, req.requested_model, req.method),
        kind: SpanKind::Server,
        start_unix_nanos: rec.start_unix_nanos,
        end_unix_nanos: rec.unix_nanos(req.end),
        attributes: Vec::with_capacity(24),
        status: Status::Unset,
    };
    root.set_some("gen_ai.operation.name", req.operation);
    root.set_some("gen_ai.request.model", req.requested_model);
    if let Some(up) = req.answered {
        root.set("gen_ai.provider.name", up.system);
        root.set("gen_ai.response.model", up.model);
        root.set("sluice.provider", up.provider);
    }
    set_usage(&mut root, &req.usage);
    root.set("http.request.method", req.method);
    root.set("url.path", req.path);
    root.set("http.response.status_code", req.status);
    root.set_some("error.type", req.error_type);
    root.set("sluice.request_id", req.request_id);
    root.set_some("sluice.key", req.key);
    root.set_some("sluice.team", req.team);
    root.set_some("sluice.cache", req.cache);
    root.set_some("sluice.cost_usd", req.cost_usd);
    root.set("sluice.attempts", attempts.len() as u64);
    if req.status >= 500 {
        let why = req
            .error_message
            .or(req.error_type)
            .unwrap_or("server error");
        root.status = Status::Error(why.to_owned());
    }
    // The attempt that answered carries the usage: the last one that succeeded.
    let answered = attempts.iter().rposition(|a| a.outcome == "ok");
    let mut spans = Vec::with_capacity(1 + attempts.len());
    for (i, a) in attempts.iter().enumerate() {
        let mut span = Span {
            trace_id: context.trace_id,
            span_id: a.span_id,
            parent: Some(rec.span_id),
            parent_is_remote: false,
            trace_state: context.state.clone(),
            name: name(req.operation, Some(a.upstream.model), req.method),
            kind: SpanKind::Client,
            start_unix_nanos: rec.unix_nanos(a.started),
            end_unix_nanos: rec.unix_nanos(a.started + a.duration),
            attributes: Vec::with_capacity(16),
            status: Status::Unset,
        };
        span.set_some("gen_ai.operation.name", req.operation);
        span.set("gen_ai.provider.name", a.upstream.system);
        span.set("gen_ai.request.model", a.upstream.model);
        span.set_some("server.address", a.upstream.address);
        span.set_some("server.port", a.upstream.port);
        span.set("sluice.provider", a.upstream.provider);
        span.set("sluice.attempt.outcome", a.outcome);
        span.set_some("http.response.status_code", a.status);
        if answered == Some(i) {
            span.set("gen_ai.response.model", a.upstream.model);
            set_usage(&mut span, &req.usage);
        }
        if a.outcome != "ok" && a.outcome != "cancelled" {
            let error_type = a
                .status
                .map_or_else(|| a.outcome.to_owned(), |s| s.to_string());
            span.set("error.type", error_type);
            span.status = Status::Error(a.outcome.to_owned());
        }
        spans.push(span);
    }
    spans.insert(0, root);
    spans
}

/// `{operation} {model}` per the GenAI conventions; the HTTP method alone when the
/// operation is unknown.
fn name(operation: Option<&str>, model: Option<&str>, method: &str) -> String {
    match (operation, model) {
        (Some(op), Some(model)) if !model.is_empty() => format!("{op} {model}"),
        (Some(op), _) => op.to_owned(),
        (None, _) => method.to_owned(),
    }
}

fn set_usage(span: &mut Span, u: &Usage) {
    span.set_some("gen_ai.usage.input_tokens", u.input);
    span.set_some("gen_ai.usage.output_tokens", u.output);
    span.set_some("gen_ai.usage.cache_read.input_tokens", u.cache_read);
    span.set_some("gen_ai.usage.cache_creation.input_tokens", u.cache_write);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::context::{RequestSpan, TraceContext};
    use crate::span::Value;

    fn traced() -> Traced {
        let caller = TraceContext::parse(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            None,
        )
        .unwrap();
        let context = caller.child();
        Traced {
            recording: Some(Arc::new(RequestSpan {
                span_id: context.span_id,
                parent: Some(caller.span_id),
                start_unix_nanos: 1_000_000_000,
                started: Instant::now(),
            })),
            context,
        }
    }

    fn upstream(system: &'static str, model: &'static str) -> Upstream<'static> {
        Upstream {
            provider: "p",
            system,
            address: Some("api.example.com"),
            port: Some(443),
            model,
        }
    }

    fn facts(end: Instant) -> RequestFacts<'static> {
        RequestFacts {
            request_id: "req-9",
            method: "POST",
            path: "/v1/chat/completions",
            operation: Some("chat"),
            requested_model: Some("fast"),
            answered: None,
            status: 200,
            error_type: None,
            error_message: None,
            usage: Usage::default(),
            cost_usd: None,
            key: None,
            team: None,
            cache: None,
            end,
        }
    }

    fn str_attr<'s>(span: &'s Span, key: &str) -> Option<&'s str> {
        match span.get(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    #[test]
    fn a_hedged_request_has_a_span_per_attempt_and_usage_on_the_winner() {
        let t = traced();
        let start = t.recording.as_ref().unwrap().started;
        let mut req = facts(start + Duration::from_millis(40));
        req.answered = Some(upstream("anthropic", "claude-haiku-4-5"));
        req.usage = Usage {
            input: Some(10),
            output: Some(4),
            cache_read: Some(2),
            cache_write: None,
        };
        req.key = Some("key_1");
        req.team = Some("team_1");
        req.cache = Some("MISS");
        req.cost_usd = Some(0.001);
        let slow = AttemptFacts {
            span_id: t.attempt().unwrap().1,
            upstream: upstream("openai", "gpt-4o-mini"),
            started: start + Duration::from_millis(1),
            duration: Duration::from_millis(35),
            outcome: "cancelled",
            status: None,
        };
        let fast = AttemptFacts {
            span_id: t.attempt().unwrap().1,
            upstream: upstream("anthropic", "claude-haiku-4-5"),
            started: start + Duration::from_millis(21),
            duration: Duration::from_millis(15),
            outcome: "ok",
            status: None,
        };
        let spans = request_spans(&t, &req, &[slow, fast]);
        let [root, lost, won] = &spans[..] else {
            panic!("{spans:?}")
        };
        assert_eq!(
            (root.name.as_str(), root.kind),
            ("chat fast", SpanKind::Server)
        );
        assert_eq!(root.end_unix_nanos, 1_040_000_000);
        assert_eq!(str_attr(root, "gen_ai.provider.name"), Some("anthropic"));
        assert_eq!(
            str_attr(root, "gen_ai.response.model"),
            Some("claude-haiku-4-5")
        );
        assert_eq!(str_attr(root, "sluice.team"), Some("team_1"));
        assert_eq!(str_attr(root, "sluice.cache"), Some("MISS"));
        assert_eq!(root.get("sluice.attempts"), Some(&Value::Int(2)));
        assert_eq!(
            root.get("gen_ai.usage.cache_read.input_tokens"),
            Some(&Value::Int(2))
        );
        assert_eq!(root.status, Status::Unset);

        assert_eq!(lost.name, "chat gpt-4o-mini");
        assert_eq!(lost.parent, Some(root.span_id));
        assert_eq!(lost.start_unix_nanos, 1_001_000_000);
        assert_eq!(lost.end_unix_nanos, 1_036_000_000);
        assert_eq!(str_attr(lost, "sluice.attempt.outcome"), Some("cancelled"));
        assert_eq!(lost.get("gen_ai.usage.input_tokens"), None);
        assert_eq!(lost.get("error.type"), None);
        assert_eq!(lost.status, Status::Unset);

        assert_eq!(won.kind, SpanKind::Client);
        assert_eq!(str_attr(won, "server.address"), Some("api.example.com"));
        assert_eq!(won.get("server.port"), Some(&Value::Int(443)));
        assert_eq!(won.get("gen_ai.usage.output_tokens"), Some(&Value::Int(4)));
        assert_eq!(
            str_attr(won, "gen_ai.response.model"),
            Some("claude-haiku-4-5")
        );
    }

    #[test]
    fn failures_mark_their_spans() {
        let t = traced();
        let start = t.recording.as_ref().unwrap().started;
        let mut req = facts(start);
        req.status = 502;
        req.error_type = Some("upstream_error");
        req.error_message = Some("all 1 attempts failed");
        let timeout = AttemptFacts {
            span_id: t.attempt().unwrap().1,
            upstream: upstream("openai", "gpt-4o-mini"),
            started: start,
            duration: Duration::from_millis(5),
            outcome: "timeout",
            status: None,
        };
        let spans = request_spans(&t, &req, &[timeout]);
        assert_eq!(
            spans[0].status,
            Status::Error("all 1 attempts failed".into())
        );
        assert_eq!(str_attr(&spans[0], "error.type"), Some("upstream_error"));
        assert_eq!(spans[0].get("gen_ai.provider.name"), None);
        assert_eq!(str_attr(&spans[1], "error.type"), Some("timeout"));
        assert_eq!(spans[1].status, Status::Error("timeout".into()));

        // A client error is not the server's failure.
        req.status = 400;
        req.error_message = None;
        assert_eq!(request_spans(&t, &req, &[])[0].status, Status::Unset);
    }

    #[test]
    fn names_fall_back_to_the_operation_or_the_method() {
        let t = traced();
        let start = t.recording.as_ref().unwrap().started;
        let mut req = facts(start);
        req.requested_model = None;
        assert_eq!(request_spans(&t, &req, &[])[0].name, "chat");
        req.operation = None;
        req.method = "GET";
        assert_eq!(request_spans(&t, &req, &[])[0].name, "GET");
        let off = Traced {
            context: t.context.clone(),
            recording: None,
        };
        assert!(request_spans(&off, &req, &[]).is_empty());
    }
}
