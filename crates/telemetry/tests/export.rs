//! The exporter against the testkit's OTLP receiver: both protocols, batching, the bounded
//! queue, refused exports and the flush at shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use sluice_telemetry::genai::{AttemptFacts, RequestFacts, Upstream, Usage, request_spans};
use sluice_telemetry::{ExportConfig, Protocol, Span, TraceContext, Tracer, start};
use sluice_testkit::{OtlpProtocol, OtlpReceiver, ReceivedSpan};

const WAIT: Duration = Duration::from_secs(10);

/// The spans of one chat request that failed once on `mock` and then succeeded.
fn chat_spans(tracer: &Tracer, incoming: Option<TraceContext>) -> Vec<Span> {
    let traced = tracer.start(incoming);
    let first = traced.attempt().unwrap().1;
    let second = traced.attempt().unwrap().1;
    let started = Instant::now();
    let upstream = Upstream {
        provider: "mock",
        system: "openai",
        address: Some("127.0.0.1"),
        port: Some(8080),
        model: "gpt-4o-mini",
    };
    let req = RequestFacts {
        request_id: "req-1",
        method: "POST",
        path: "/v1/chat/completions",
        operation: Some("chat"),
        requested_model: Some("fast"),
        answered: Some(upstream),
        status: 200,
        error_type: None,
        error_message: None,
        usage: Usage {
            input: Some(3),
            output: Some(5),
            ..Usage::default()
        },
        cost_usd: Some(0.25),
        key: Some("key_1"),
        team: None,
        cache: None,
        end: started + Duration::from_millis(30),
    };
    let attempts = [
        AttemptFacts {
            span_id: first,
            upstream,
            started,
            duration: Duration::from_millis(10),
            outcome: "5xx",
            status: Some(503),
        },
        AttemptFacts {
            span_id: second,
            upstream,
            started: started + Duration::from_millis(12),
            duration: Duration::from_millis(15),
            outcome: "ok",
            status: None,
        },
    ];
    request_spans(&traced, &req, &attempts)
}

fn config(rx: &OtlpReceiver, protocol: Protocol) -> ExportConfig {
    let mut c = ExportConfig::new(rx.endpoint(), protocol);
    c.batch_interval = Duration::from_millis(20);
    c.headers = vec![("x-collector-key".into(), "secret-1".into())];
    c.service_name = "gateway-under-test".into();
    c
}

async fn wait(rx: &OtlpReceiver, n: usize) -> Vec<ReceivedSpan> {
    tokio::time::timeout(WAIT, rx.wait_spans(n))
        .await
        .unwrap_or_else(|_| panic!("fewer than {n} spans arrived: {:?}", rx.spans()))
}

async fn exports_request_and_attempt_spans_over(protocol: Protocol, expected: OtlpProtocol) {
    let rx = OtlpReceiver::start().await;
    let (tracer, exporter) = start(config(&rx, protocol)).unwrap();
    tracer.submit(chat_spans(&tracer, None));
    let spans = wait(&rx, 3).await;
    assert_eq!(spans.len(), 3);
    let root = &spans[0];
    assert_eq!(
        (root.name.as_str(), root.kind.as_str()),
        ("chat fast", "server")
    );
    assert_eq!(root.parent_span_id, None);
    assert_eq!(root.resource["service.name"], "gateway-under-test");
    assert_eq!(root.attr("gen_ai.usage.output_tokens"), 5);
    assert_eq!(root.attr("sluice.cost_usd"), 0.25);
    for child in &spans[1..] {
        assert_eq!(child.name, "chat gpt-4o-mini");
        assert_eq!(child.kind, "client");
        assert_eq!(child.trace_id, root.trace_id);
        assert_eq!(child.parent_span_id.as_deref(), Some(root.span_id.as_str()));
        assert_eq!(child.protocol, expected);
    }
    assert_eq!(spans[1].attr("error.type"), "503");
    assert_eq!(spans[1].status_code, 2);
    assert_eq!(spans[2].attr("sluice.attempt.outcome"), "ok");
    let export = &rx.exports()[0];
    let header = |name: &str| {
        export
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("x-collector-key").as_deref(), Some("secret-1"));
    let content_type = match protocol {
        Protocol::Http => "application/x-protobuf",
        Protocol::Grpc => "application/grpc",
    };
    assert_eq!(header("content-type").as_deref(), Some(content_type));
    exporter.shutdown(WAIT).await;
}

#[tokio::test]
async fn exports_over_otlp_http() {
    exports_request_and_attempt_spans_over(Protocol::Http, OtlpProtocol::Http).await;
}

#[tokio::test]
async fn exports_over_otlp_grpc() {
    exports_request_and_attempt_spans_over(Protocol::Grpc, OtlpProtocol::Grpc).await;
}

#[tokio::test]
async fn a_sampled_caller_is_continued_and_an_unsampled_one_is_passed_on() {
    let rx = OtlpReceiver::start().await;
    let (tracer, exporter) = start(config(&rx, Protocol::Http)).unwrap();
    let caller = TraceContext::parse(
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        Some(b"vendor=x"),
    )
    .unwrap();
    tracer.submit(chat_spans(&tracer, Some(caller.clone())));
    let spans = wait(&rx, 3).await;
    assert_eq!(spans[0].trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(spans[0].parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(spans[0].trace_state, "vendor=x");
    assert_eq!(spans[0].flags & 0x300, 0x300, "the parent is remote");

    let unsampled = TraceContext {
        sampled: false,
        ..caller
    };
    let traced = tracer.start(Some(unsampled.clone()));
    assert!(traced.recording.is_none());
    assert_eq!(traced.context, unsampled, "passed on unchanged");
    exporter.shutdown(WAIT).await;
}

#[tokio::test]
async fn the_sampling_ratio_picks_new_traces() {
    let rx = OtlpReceiver::start().await;
    let mut none = config(&rx, Protocol::Http);
    none.sample = 0.0;
    let (tracer, _exporter) = start(none).unwrap();
    let traced = tracer.start(None);
    assert!(traced.recording.is_none() && !traced.context.sampled);
    let mut half = config(&rx, Protocol::Http);
    half.sample = 0.5;
    let (tracer, _exporter) = start(half).unwrap();
    let recorded = (0..2000)
        .filter(|_| tracer.start(None).recording.is_some())
        .count();
    assert!((800..1200).contains(&recorded), "{recorded} of 2000");
    let mut bad = config(&rx, Protocol::Http);
    bad.sample = 1.5;
    assert!(start(bad).is_err());
}

#[tokio::test]
async fn shutdown_flushes_what_is_queued_and_a_full_queue_drops() {
    let rx = OtlpReceiver::start().await;
    let mut c = config(&rx, Protocol::Http);
    c.batch_interval = Duration::from_secs(3600);
    c.queue = 4;
    let (tracer, exporter) = start(c).unwrap();
    // Three spans per request: the second request finds one free slot. (The test runtime
    // has one thread, so the export task takes nothing out before both are submitted.)
    tracer.submit(chat_spans(&tracer, None));
    tracer.submit(chat_spans(&tracer, None));
    exporter.shutdown(WAIT).await;
    let spans = rx.spans();
    assert_eq!(spans.len(), 4, "{spans:?}");
}

#[tokio::test]
async fn a_refused_export_is_dropped_and_the_next_one_goes_through() {
    let rx = OtlpReceiver::start().await;
    rx.refuse_next(1);
    let (tracer, exporter) = start(config(&rx, Protocol::Grpc)).unwrap();
    tracer.submit(chat_spans(&tracer, None));
    tokio::time::timeout(WAIT, async {
        while rx.exports().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    tracer.submit(chat_spans(&tracer, None));
    let spans = wait(&rx, 3).await;
    let exports = rx.exports();
    assert!(exports[0].refused && !exports[1].refused, "{exports:?}");
    assert_eq!(spans.len(), 3);
    exporter.shutdown(WAIT).await;
}

#[tokio::test]
async fn bad_endpoints_and_headers_are_refused_at_start() {
    assert!(start(ExportConfig::new("collector:4318", Protocol::Http)).is_err());
    assert!(start(ExportConfig::new("ftp://collector", Protocol::Grpc)).is_err());
    let mut c = ExportConfig::new("http://collector:4318", Protocol::Http);
    c.headers = vec![("bad name".into(), "x".into())];
    assert!(start(c).is_err());
}
