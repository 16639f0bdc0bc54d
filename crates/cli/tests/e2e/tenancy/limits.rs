//! Rate limits: RPM and TPM per key and per end user, with OpenAI's headers, and one
//! limit shared by two gateways on one Redis.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;
use sluice_testkit::MockUpstream;

use super::{CHAT, admin, chat, create_key, gateway, record_of};
use crate::harness::{error_of, post_as, send};

#[tokio::test]
async fn rate_limits_name_the_limit_and_set_openai_headers() {
    let mock = MockUpstream::start().await;
    let g = gateway(&mock, "");
    let (_, key) = create_key(&g, json!({"name": "slow", "rpm": 3})).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = chat(&g, &key, "fast").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-ratelimit-limit-requests"), Some("3"));
        remaining.push(
            r.header("x-ratelimit-remaining-requests")
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = chat(&g, &key, "fast").await;
    let e = error_of(&r, 429);
    assert_eq!(e["code"], "rate_limit_exceeded_requests_key", "{e}");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(mock.request_count(), 3);

    // Tokens per minute: each request is estimated at its prompt plus max_tokens, so a
    // budget of 30 tokens admits two of these and not a third.
    let (_, key) = create_key(&g, json!({"name": "tokens", "tpm": 30})).await;
    assert_eq!(chat(&g, &key, "fast").await.status, 200);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(chat(&g, &key, "fast").await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = chat(&g, &key, "fast").await;
    assert_eq!(error_of(&r, 429)["code"], "rate_limit_exceeded_tokens_key");
}

#[tokio::test]
async fn end_users_have_their_own_limits() {
    let mock = MockUpstream::start().await;
    let g = gateway(&mock, "");
    let r = admin(
        &g,
        Method::POST,
        "/admin/v1/users",
        json!({"id": "alice", "rpm": 1}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let (_, key) = create_key(&g, json!({"name": "app"})).await;
    // A key whose requests belong to alice unless they name someone else.
    let (_, alices) = create_key(&g, json!({"name": "alices", "user": "alice"})).await;
    let url = g.url(CHAT);
    let hi = json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]});
    let as_user = |user: &'static str| {
        let (url, key, hi) = (url.clone(), key.clone(), hi.clone());
        async move { post_as(&url, &key, &hi, &[("x-sluice-user", user)]).await }
    };
    assert_eq!(as_user("alice").await.status, 200);
    let e = error_of(&as_user("alice").await, 429);
    assert_eq!(e["code"], "rate_limit_exceeded_requests_user", "{e}");
    assert_eq!(
        as_user("bob").await.status,
        200,
        "other users are not limited"
    );
    let r = chat(&g, &alices, "fast").await;
    assert_eq!(
        error_of(&r, 429)["code"],
        "rate_limit_exceeded_requests_user"
    );
    assert_eq!(record_of(&g, &r).await["user"], "alice");
}

#[tokio::test]
async fn two_gateways_on_one_redis_share_one_limit_and_one_budget() {
    if !crate::harness::redis_available("two_gateways_on_one_redis_share_one_limit_and_one_budget")
    {
        return;
    }
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Fail closed with a generous timeout: on a loaded machine a slow Redis must show up as
    // a refusal, never as an uncounted admission.
    let store = format!(
        "store: sqlite://{}\nredis: redis://127.0.0.1:6379\nlimits: {{ on_redis_error: fail-closed, redis_timeout: 5s }}",
        dir.path().join("shared.db").display()
    );
    let a = gateway(&mock, &store);
    let b = gateway(&mock, &store);
    let (_, key) = create_key(&a, json!({"name": "shared", "rpm": 60})).await;
    // B learns of the key from A (Redis pub/sub); the model list costs no rate limit.
    let deadline = Instant::now() + Duration::from_secs(5);
    let auth = format!("Bearer {key}");
    while send(
        Method::GET,
        &b.url("/v1/models"),
        &[("authorization", &auth)],
        "",
    )
    .await
    .status
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "B never accepted the key made on A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = (0..100).map(|i| {
        let g = if i % 2 == 0 { &a } else { &b };
        chat(g, &key, "fast")
    });
    let results = futures_util::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    let limited = results.iter().filter(|r| r.status == 429).count();
    assert_eq!(
        (ok, limited),
        (60, 40),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );

    // One budget across both: $0.05 holds 7 requests of $0.007, wherever they land.
    let (_, key) = create_key(
        &a,
        json!({"name": "shared-budget", "budget": {"amount": "0.05", "period": "total"}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let auth = format!("Bearer {key}");
    while send(
        Method::GET,
        &b.url("/v1/models"),
        &[("authorization", &auth)],
        "",
    )
    .await
    .status
        != 200
    {
        assert!(Instant::now() < deadline, "B never accepted the second key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = (0..60).map(|i| {
        let g = if i % 2 == 0 { &a } else { &b };
        chat(g, &key, "fast")
    });
    let results = futures_util::future::join_all(calls).await;
    let spent: f64 = results
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| {
            r.header("x-sluice-cost-usd")
                .unwrap()
                .parse::<f64>()
                .unwrap()
        })
        .sum();
    assert!(spent <= 0.05 + 1e-9 && spent > 0.0, "spent {spent}");
}
