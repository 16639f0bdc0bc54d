#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use sluice_config::{CircuitConfig, RetryConfig, Strategy, Timeouts};
use sluice_providers::{CallCx, ChunkStream, ForwardRequest, Provider, Target, UpstreamBody};
use sluice_types::{ChatRequest, ChatResponse, ErrorKind, GatewayError, Origin};

use super::Attempt;
use crate::{ModelGroup, Router, TargetSlot};

/// A provider that fails its first `fail` calls with `kind`, then answers, each call after
/// `delay` (tokio time, so tests can pause it).
struct Flaky {
    fail: u32,
    kind: ErrorKind,
    delay: Duration,
    calls: AtomicU32,
    finished: AtomicU32,
}

impl Provider for Flaky {
    fn chat<'a>(
        &'a self,
        _: &'a ChatRequest,
        t: &'a Target,
        _: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.finished.fetch_add(1, Ordering::SeqCst);
            if n < self.fail {
                return Err(GatewayError::new(
                    self.kind,
                    Origin::Upstream,
                    format!("fail {n}"),
                ));
            }
            Ok(ChatResponse {
                model: t.model.to_string(),
                ..Default::default()
            })
        })
    }
    fn chat_stream<'a>(
        &'a self,
        _: &'a ChatRequest,
        _: &'a Target,
        _: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        Box::pin(async { Err(GatewayError::internal("unused")) })
    }
    fn forward<'a>(
        &'a self,
        _: ForwardRequest,
        _: &'a CallCx,
    ) -> BoxFuture<'a, Result<http::Response<UpstreamBody>, GatewayError>> {
        Box::pin(async { Err(GatewayError::internal("unused")) })
    }
}

struct Chat(ChatRequest);

impl Attempt for Chat {
    type Output = ChatResponse;
    fn call<'a>(
        &'a self,
        p: &'a dyn Provider,
        t: &'a Target,
        cx: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        p.chat(&self.0, t, cx)
    }
}

fn slot(model: &str, p: Arc<Flaky>) -> TargetSlot {
    let d = Duration::from_secs(5);
    TargetSlot::new(
        Target {
            provider: "p".into(),
            model: model.into(),
            timeouts: Timeouts {
                connect: d,
                first_byte: d,
                total: d,
                idle: d,
            },
        },
        p,
        1,
        CircuitConfig::default(),
    )
}

fn flaky(fail: u32, kind: ErrorKind) -> Arc<Flaky> {
    Arc::new(Flaky {
        fail,
        kind,
        delay: Duration::ZERO,
        calls: AtomicU32::new(0),
        finished: AtomicU32::new(0),
    })
}

fn cx() -> CallCx {
    CallCx::new("req".into(), None)
}

fn router(groups: Vec<ModelGroup>) -> Router {
    Router::for_tests(groups)
}

mod attempt_log;
mod recording;

#[tokio::test(start_paused = true)]
async fn retries_then_succeeds_on_the_next_target() {
    let a = flaky(1, ErrorKind::UpstreamConnect);
    let b = flaky(0, ErrorKind::UpstreamConnect);
    let g = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![slot("a", a.clone()), slot("b", b.clone())],
        vec![],
        RetryConfig {
            max: 2,
            backoff: Duration::from_millis(100),
            ..RetryConfig::default()
        },
    );
    let r = router(vec![g]);
    let out = r
        .run(
            r.resolve("m").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!((out.target.model.as_ref(), out.attempts), ("b", 2));
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried() {
    let a = flaky(5, ErrorKind::InvalidRequest);
    let g = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![slot("a", a.clone())],
        vec![],
        RetryConfig {
            max: 3,
            backoff: Duration::from_millis(1),
            ..RetryConfig::default()
        },
    );
    let r = router(vec![g]);
    let err = r
        .run(
            r.resolve("m").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(a.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn falls_back_when_every_target_failed_and_reports_all_failures() {
    let a = flaky(10, ErrorKind::UpstreamTimeout);
    let g1 = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![slot("a", a.clone())],
        vec!["backup".into()],
        RetryConfig {
            max: 1,
            backoff: Duration::from_millis(1),
            ..RetryConfig::default()
        },
    );
    let b = flaky(10, ErrorKind::UpstreamConnect);
    let g2 = ModelGroup::new(
        "backup".into(),
        Strategy::Ordered,
        vec![slot("b", b.clone())],
        vec![],
        RetryConfig {
            max: 0,
            backoff: Duration::ZERO,
            ..RetryConfig::default()
        },
    );
    let r = router(vec![g1, g2]);
    let err = r
        .run(
            r.resolve("m").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UpstreamConnect);
    assert!(
        err.message().starts_with("all 3 attempts failed"),
        "{}",
        err.message()
    );
    assert_eq!(a.calls.load(Ordering::SeqCst), 2);

    let ok = flaky(0, ErrorKind::UpstreamConnect);
    let g1 = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![slot("a", flaky(10, ErrorKind::UpstreamTimeout))],
        vec!["backup".into()],
        RetryConfig {
            max: 0,
            backoff: Duration::ZERO,
            ..RetryConfig::default()
        },
    );
    let g2 = ModelGroup::new(
        "backup".into(),
        Strategy::Ordered,
        vec![slot("b", ok)],
        vec![],
        RetryConfig {
            max: 0,
            backoff: Duration::ZERO,
            ..RetryConfig::default()
        },
    );
    let r = router(vec![g1, g2]);
    let out = r
        .run(
            r.resolve("m").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!((out.target.model.as_ref(), out.attempts), ("b", 2));
}

#[test]
fn backoff_is_jittered_below_the_cap_and_honours_retry_after() {
    for n in 1..5 {
        let d = super::backoff(Duration::from_millis(100), n, None);
        assert!(d <= Duration::from_millis(100) * (1 << n));
    }
    assert!(
        super::backoff(Duration::from_millis(1), 1, Some(Duration::from_secs(2)))
            >= Duration::from_secs(2)
    );
}

#[tokio::test(start_paused = true)]
async fn context_length_is_not_retried_but_falls_back_to_the_bigger_model() {
    let small = flaky(10, ErrorKind::ContextLength);
    let big = flaky(0, ErrorKind::ContextLength);
    let g1 = ModelGroup::new(
        "small".into(),
        Strategy::Ordered,
        vec![slot("s", small.clone())],
        vec!["big".into()],
        RetryConfig {
            max: 3,
            ..RetryConfig::default()
        },
    );
    let g2 = ModelGroup::new(
        "big".into(),
        Strategy::Ordered,
        vec![slot("b", big.clone())],
        vec![],
        RetryConfig::default(),
    );
    let r = router(vec![g1, g2]);
    let out = r
        .run(
            r.resolve("small").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!((out.target.model.as_ref(), out.attempts), ("b", 2));
    assert_eq!(
        small.calls.load(Ordering::SeqCst),
        1,
        "context-length is never retried on the same model"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_classes_are_configurable() {
    let a = flaky(1, ErrorKind::UpstreamTimeout);
    let only_5xx = sluice_types::ClassSet::of(&[sluice_types::ErrorClass::Server]);
    let g = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![slot("a", a.clone())],
        vec![],
        RetryConfig {
            max: 2,
            on: only_5xx,
            ..RetryConfig::default()
        },
    );
    let r = router(vec![g]);
    let err = r
        .run(
            r.resolve("m").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UpstreamTimeout);
    assert_eq!(
        a.calls.load(Ordering::SeqCst),
        1,
        "timeouts are not in retry.on"
    );
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_skips_the_target_until_the_cooldown_ends() {
    let bad = flaky(3, ErrorKind::UpstreamConnect);
    let good = flaky(0, ErrorKind::UpstreamConnect);
    let circuit = CircuitConfig {
        failures: 3,
        cooldown: Duration::from_secs(30),
        ..CircuitConfig::default()
    };
    let mk = |model: &str, p: Arc<Flaky>| {
        let d = Duration::from_secs(5);
        TargetSlot::new(
            Target {
                provider: "p".into(),
                model: model.into(),
                timeouts: Timeouts {
                    connect: d,
                    first_byte: d,
                    total: d,
                    idle: d,
                },
            },
            p,
            1,
            circuit,
        )
    };
    let g = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![mk("bad", bad.clone()), mk("good", good.clone())],
        vec![],
        RetryConfig {
            max: 1,
            backoff: Duration::from_millis(1),
            ..RetryConfig::default()
        },
    );
    let r = router(vec![g]);
    for _ in 0..3 {
        let out = r
            .run(
                r.resolve("m").unwrap(),
                &Chat(ChatRequest::default()),
                &cx(),
            )
            .await
            .unwrap();
        assert_eq!(out.target.model.as_ref(), "good");
    }
    assert_eq!(bad.calls.load(Ordering::SeqCst), 3);
    // Open now: requests go straight to the healthy target.
    let out = r
        .run(
            r.resolve("m").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!((out.target.model.as_ref(), out.attempts), ("good", 1));
    assert_eq!(bad.calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        r.resolve("m").unwrap().slots[0].health().circuit,
        crate::CircuitState::Open
    );
    // After the cooldown one probe goes through; the target has recovered, so it closes.
    tokio::time::advance(Duration::from_secs(30)).await;
    let out = r
        .run(
            r.resolve("m").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!(out.target.model.as_ref(), "bad");
    assert_eq!(
        r.resolve("m").unwrap().slots[0].health().circuit,
        crate::CircuitState::Closed
    );
}

/// A provider that always answers, after `delay`.
fn answering_after(delay: Duration) -> Arc<Flaky> {
    Arc::new(Flaky {
        fail: 0,
        kind: ErrorKind::UpstreamConnect,
        delay,
        calls: AtomicU32::new(0),
        finished: AtomicU32::new(0),
    })
}

#[tokio::test(start_paused = true)]
async fn hedging_wins_on_the_fast_target_and_cancels_the_slow_one() {
    let slow = answering_after(Duration::from_secs(10));
    let fast = answering_after(Duration::from_millis(100));
    let d = Duration::from_secs(60);
    let mk = |model: &str, p: Arc<Flaky>| {
        TargetSlot::new(
            Target {
                provider: "p".into(),
                model: model.into(),
                timeouts: Timeouts {
                    connect: d,
                    first_byte: d,
                    total: d,
                    idle: d,
                },
            },
            p,
            1,
            CircuitConfig::default(),
        )
    };
    let g = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![mk("slow", slow.clone()), mk("fast", fast.clone())],
        vec![],
        RetryConfig::default(),
    )
    .with_hedge(Some(sluice_config::HedgeAfter::Fixed(Duration::from_secs(
        1,
    ))));
    let r = router(vec![g]);
    let started = tokio::time::Instant::now();
    let out = r
        .run(
            r.resolve("m").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!((out.target.model.as_ref(), out.attempts), ("fast", 2));
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(1100),
        "hedge after 1s, answer 100ms later"
    );
    assert_eq!(
        (
            slow.calls.load(Ordering::SeqCst),
            slow.finished.load(Ordering::SeqCst)
        ),
        (1, 0),
        "the slow call was cancelled"
    );

    // A group whose first target answers before the hedge delay makes no second call.
    let g = ModelGroup::new(
        "quick".into(),
        Strategy::Ordered,
        vec![mk("fast", fast.clone()), mk("slow", slow.clone())],
        vec![],
        RetryConfig::default(),
    )
    .with_hedge(Some(sluice_config::HedgeAfter::Fixed(Duration::from_secs(
        1,
    ))));
    let r = router(vec![g]);
    let out = r
        .run(
            r.resolve("quick").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!((out.target.model.as_ref(), out.attempts), ("fast", 1));
    assert_eq!(slow.calls.load(Ordering::SeqCst), 1);
}
