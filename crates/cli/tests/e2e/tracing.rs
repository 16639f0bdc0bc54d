//! Traces as an operator sees them in their collector: the real binary exports one server
//! span per request and a client span per upstream attempt over OTLP (HTTP or gRPC) to the
//! testkit's receiver, continues the caller's W3C `traceparent`, and hands each upstream a
//! `traceparent` naming its attempt's span. Without telemetry, a caller's trace context is
//! still passed on unchanged; with it, SIGTERM flushes what is queued.

use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream, OtlpProtocol, OtlpReceiver, ReceivedSpan};

use crate::harness::{Resp, Sluice, send};

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A gateway with provider `mock` (OpenAI kind) behind models `fast` (one retry) and
/// `embed`, exporting traces to `otlp` over `protocol` when given.
fn gateway(mock: &MockUpstream, otlp: Option<(&OtlpReceiver, &str)>) -> Sluice {
    let telemetry = otlp.map_or_else(String::new, |(rx, protocol)| {
        format!(
            "telemetry:\n  service_name: sluice-e2e\n  otlp: {{ endpoint: \"{}\", protocol: {protocol}, headers: {{ x-otlp-token: t0k }} }}\n",
            rx.endpoint()
        )
    });
    Sluice::start(&format!(
        r#"
providers:
  mock: {{ kind: openai, base_url: "{}", api_key: "sk-upstream-secret-123" }}
models:
  - name: fast
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
    retry: {{ max: 1, backoff: 10ms }}
  - name: embed
    targets: [ {{ provider: mock, model: text-embedding-3-small }} ]
{telemetry}"#,
        mock.base_url()
    ))
}

async fn post(gw: &Sluice, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send(Method::POST, &gw.url(path), &all, body.to_string()).await
}

fn chat(stream: bool) -> Value {
    json!({"model": "fast", "stream": stream, "stream_options": {"include_usage": true},
           "messages": [{"role": "user", "content": "trace me please"}]})
}

/// The spans of request `id`: its server span and its client spans in start order.
async fn spans_of(
    rx: &OtlpReceiver,
    id: &str,
    attempts: usize,
) -> (ReceivedSpan, Vec<ReceivedSpan>) {
    let wait = async {
        loop {
            let spans = rx.spans();
            if let Some(root) = spans.iter().find(|s| s.attr("sluice.request_id") == id) {
                let mut children: Vec<ReceivedSpan> = spans
                    .iter()
                    .filter(|s| s.parent_span_id.as_deref() == Some(root.span_id.as_str()))
                    .cloned()
                    .collect();
                if children.len() >= attempts {
                    children.sort_by_key(|s| s.start_unix_nanos);
                    return (root.clone(), children);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(15), wait)
        .await
        .unwrap_or_else(|_| panic!("no spans for {id}: {:#?}", rx.spans()))
}

/// `00-{trace}-{span}-01`.
fn traceparent(trace: &str, span: &str) -> String {
    format!("00-{trace}-{span}-01")
}

#[tokio::test]
async fn a_retried_chat_continues_the_callers_trace_over_otlp_http() {
    let (mock, rx) = (MockUpstream::start().await, OtlpReceiver::start().await);
    let gw = gateway(&mock, Some((&rx, "http")));
    mock.push(Behavior::openai_error(
        503,
        "overloaded",
        "server_error",
        None,
    ));
    let r = post(
        &gw,
        "/v1/chat/completions",
        &[
            ("x-request-id", "req-traced-1"),
            ("traceparent", CALLER),
            ("tracestate", "vendor=abc"),
        ],
        &chat(false),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let usage = r.json()["usage"].clone();

    let (root, attempts) = spans_of(&rx, "req-traced-1", 2).await;
    assert_eq!(
        (root.name.as_str(), root.kind.as_str()),
        ("chat fast", "server")
    );
    assert_eq!(root.trace_id, CALLER_TRACE, "the caller's trace goes on");
    assert_eq!(root.parent_span_id.as_deref(), Some(CALLER_SPAN));
    assert_eq!(root.trace_state, "vendor=abc");
    assert_eq!(root.resource["service.name"], "sluice-e2e");
    for (key, value) in [
        ("gen_ai.operation.name", json!("chat")),
        ("gen_ai.provider.name", json!("openai")),
        ("gen_ai.request.model", json!("fast")),
        ("gen_ai.response.model", json!("gpt-4o-mini")),
        ("gen_ai.usage.input_tokens", usage["prompt_tokens"].clone()),
        (
            "gen_ai.usage.output_tokens",
            usage["completion_tokens"].clone(),
        ),
        ("http.response.status_code", json!(200)),
        ("sluice.attempts", json!(2)),
    ] {
        assert_eq!(root.attr(key), value, "{key}");
    }
    assert!(root.end_unix_nanos > root.start_unix_nanos);

    let [failed, answered] = &attempts[..] else {
        panic!("two attempt spans: {attempts:#?}")
    };
    assert_eq!(failed.kind, "client");
    assert_eq!(failed.name, "chat gpt-4o-mini");
    assert_eq!(failed.attr("error.type"), "503");
    assert_eq!(failed.attr("http.response.status_code"), 503);
    assert_eq!(failed.status_code, 2, "an error status");
    assert_eq!(failed.attr("server.address"), "127.0.0.1");
    assert_eq!(answered.attr("sluice.attempt.outcome"), "ok");
    assert_eq!(
        answered.attr("gen_ai.usage.output_tokens"),
        usage["completion_tokens"]
    );
    assert!(answered.start_unix_nanos >= failed.end_unix_nanos);

    // Each upstream request named its own attempt as parent, in the caller's trace.
    let received = mock.received();
    assert_eq!(received.len(), 2);
    for (req, span) in received.iter().zip([failed, answered]) {
        assert_eq!(
            req.header("traceparent"),
            Some(traceparent(CALLER_TRACE, &span.span_id).as_str())
        );
        assert_eq!(req.header("tracestate"), Some("vendor=abc"));
    }
    let export = &rx.exports()[0];
    assert_eq!(export.protocol, OtlpProtocol::Http);
    assert!(
        export
            .headers
            .contains(&("x-otlp-token".into(), "t0k".into()))
    );
}

#[tokio::test]
async fn streams_embeddings_and_failures_start_new_traces_over_otlp_grpc() {
    let (mock, rx) = (MockUpstream::start().await, OtlpReceiver::start().await);
    let gw = gateway(&mock, Some((&rx, "grpc")));

    let r = post(
        &gw,
        "/v1/chat/completions",
        &[("x-request-id", "req-stream")],
        &chat(true),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (root, attempts) = spans_of(&rx, "req-stream", 1).await;
    assert_eq!(root.parent_span_id, None, "a new trace");
    assert_eq!(root.protocol, OtlpProtocol::Grpc);
    assert!(
        root.attr("gen_ai.usage.output_tokens").as_u64() > Some(0),
        "{root:#?}"
    );
    assert_eq!(
        mock.last().unwrap().header("traceparent"),
        Some(traceparent(&root.trace_id, &attempts[0].span_id).as_str())
    );

    let body = json!({"model": "embed", "input": "a b c"});
    let r = post(
        &gw,
        "/v1/embeddings",
        &[("x-request-id", "req-embed")],
        &body,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (root, attempts) = spans_of(&rx, "req-embed", 1).await;
    assert_eq!(root.name, "embeddings embed");
    assert_eq!(attempts[0].name, "embeddings text-embedding-3-small");

    mock.push_times(Behavior::openai_error(500, "down", "server_error", None), 2);
    let r = post(
        &gw,
        "/v1/chat/completions",
        &[("x-request-id", "req-failed")],
        &chat(false),
    )
    .await;
    assert!(r.status >= 500, "{}", r.text());
    let (root, attempts) = spans_of(&rx, "req-failed", 2).await;
    assert_eq!(root.status_code, 2, "a failed request is an error span");
    assert_eq!(root.attr("http.response.status_code"), r.status);
    assert!(root.attr("error.type").is_string());
    assert!(attempts.iter().all(|a| a.attr("error.type") == "500"));
}

#[tokio::test]
async fn without_telemetry_the_callers_trace_context_is_passed_on_unchanged() {
    let mock = MockUpstream::start().await;
    let gw = gateway(&mock, None);
    let headers = [("traceparent", CALLER), ("tracestate", "vendor=abc")];
    let r = post(&gw, "/v1/chat/completions", &headers, &chat(false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let req = mock.last().unwrap();
    assert_eq!(req.header("traceparent"), Some(CALLER));
    assert_eq!(req.header("tracestate"), Some("vendor=abc"));

    let r = post(&gw, "/v1/chat/completions", &[], &chat(false)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(mock.last().unwrap().header("traceparent"), None);
}

#[tokio::test]
async fn spans_queued_at_sigterm_are_exported_before_exit() {
    let (mock, rx) = (MockUpstream::start().await, OtlpReceiver::start().await);
    let mut gw = gateway(&mock, Some((&rx, "http")));
    let r = post(
        &gw,
        "/v1/chat/completions",
        &[("x-request-id", "req-last")],
        &chat(false),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The batch interval (1 s) has not passed: only the shutdown flush sends the spans.
    gw.terminate();
    assert!(
        gw.wait_exit(Duration::from_secs(15))
            .is_some_and(|s| s.success())
    );
    let (root, attempts) = spans_of(&rx, "req-last", 1).await;
    assert_eq!(root.name, "chat fast");
    assert_eq!(attempts.len(), 1);
}
