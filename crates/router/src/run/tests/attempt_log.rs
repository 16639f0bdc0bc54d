//! Every attempt lands in the request's `CallCx` for the request log: its target, its
//! outcome (`ok`, the error class, or `cancelled` when abandoned) and the upstream status.

use super::*;

/// A provider that never answers.
struct Silent;

impl Provider for Silent {
    fn chat<'a>(
        &'a self,
        _: &'a ChatRequest,
        _: &'a Target,
        _: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChatResponse, GatewayError>> {
        Box::pin(std::future::pending())
    }
    fn chat_stream<'a>(
        &'a self,
        _: &'a ChatRequest,
        _: &'a Target,
        _: &'a CallCx,
    ) -> BoxFuture<'a, Result<ChunkStream, GatewayError>> {
        Box::pin(std::future::pending())
    }
    fn forward<'a>(
        &'a self,
        _: ForwardRequest,
        _: &'a CallCx,
    ) -> BoxFuture<'a, Result<http::Response<UpstreamBody>, GatewayError>> {
        Box::pin(std::future::pending())
    }
}

fn outcomes(cx: &CallCx) -> Vec<(String, &'static str)> {
    cx.attempts()
        .into_iter()
        .map(|a| (a.model.to_string(), a.outcome))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn each_attempt_is_noted_with_its_outcome() {
    let g = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![
            slot("a", flaky(1, ErrorKind::UpstreamConnect)),
            slot("b", flaky(0, ErrorKind::UpstreamConnect)),
        ],
        vec![],
        RetryConfig {
            max: 2,
            backoff: Duration::from_millis(1),
            ..RetryConfig::default()
        },
    );
    let r = router(vec![g]);
    let cx = cx();
    r.run(r.resolve("m").unwrap(), &Chat(ChatRequest::default()), &cx)
        .await
        .unwrap();
    assert_eq!(
        outcomes(&cx),
        [("a".to_owned(), "connect"), ("b".to_owned(), "ok")]
    );
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_attempt_is_noted_as_cancelled() {
    let silent = TargetSlot::new(
        Target {
            provider: "p".into(),
            model: "s".into(),
            timeouts: Timeouts::default(),
        },
        Arc::new(Silent),
        1,
        CircuitConfig::default(),
    );
    let g = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![silent],
        vec![],
        RetryConfig::default(),
    );
    let r = router(vec![g]);
    let cx = cx();
    let chat = Chat(ChatRequest::default());
    let run = r.run(r.resolve("m").unwrap(), &chat, &cx);
    // The client goes away: the request's future is dropped mid-attempt.
    assert!(
        tokio::time::timeout(Duration::from_secs(1), run)
            .await
            .is_err()
    );
    assert_eq!(outcomes(&cx), [("s".to_owned(), "cancelled")]);
}
