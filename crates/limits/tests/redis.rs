//! The Redis limiter against the real Redis at 127.0.0.1:6379: the shared scenarios on two
//! separate limiters ("replicas") sharing it, each test under its own key prefix. Without
//! a Redis these tests are skipped with a printed reason, except in CI (`CI=true`), where
//! a missing Redis is a failure. The failure policies are tested against a port where
//! nothing listens, so they always run.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use sluice_limits::{
    Admission, DEFAULT_TIMEOUT, Level, LimitError, Limiter, OnRedisError, ParallelCheck,
    REDIS_ERRORS, RateStatus, Settled,
};

const URL: &str = "redis://127.0.0.1:6379";
/// Nothing listens here.
const UNREACHABLE: &str = "redis://127.0.0.1:1";

/// A key prefix no other test (or run) uses.
fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("sluice:test:limits:{test}:{}:{nanos}:", std::process::id())
}

/// Two limiters on the real Redis under one fresh prefix, or `None` (after saying why)
/// when Redis is not running outside CI.
async fn replicas(test: &str) -> Option<(Vec<Limiter>, String)> {
    let prefix = prefix(test);
    let make = || Limiter::redis(URL, &prefix, OnRedisError::FailClosed, DEFAULT_TIMEOUT).unwrap();
    let replicas = vec![make(), make()];
    for r in &replicas {
        if let Err(e) = r.ping().await {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true and Redis at {URL} is not reachable: {e}");
            }
            eprintln!("skipping {test}: no Redis at {URL} ({e}); CI=true makes this a failure");
            return None;
        }
    }
    Some((replicas, prefix))
}

macro_rules! on_two_replicas {
    ($($scenario:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $scenario() {
            if let Some((replicas, _)) = replicas(stringify!($scenario)).await {
                common::$scenario(&replicas).await;
            }
        }
    )*};
}

on_two_replicas!(
    concurrent_requests_admit_exactly_the_rpm,
    tokens_are_estimated_then_settled,
    a_failing_check_consumes_nothing,
    concurrent_reservations_never_overshoot_a_budget,
    settlements_report_budget_totals,
    the_seed_is_used_once,
    unsettled_and_unpriced_requests_give_reservations_back,
    parallel_caps_hold_until_the_permit_goes,
);

#[tokio::test]
async fn counters_expire_in_redis() {
    let Some((replicas, prefix)) = replicas("counters_expire_in_redis").await else {
        return;
    };
    let mut a = budgets(vec![budget("team:t_1", Level::Team, 10 * X, 0, X)]);
    a.rates = vec![rpm("key:k_1", Level::Key, 10)];
    replicas[0].admit(&a, NOW).await.unwrap();

    let client = redis::Client::open(URL).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pttl = |key: String| redis::cmd("PTTL").arg(key).to_owned();
    let window = NOW / 60_000;
    let ttl: i64 = pttl(format!("{prefix}requests:{window}:key:k_1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(ttl > 60_000 && ttl <= 120_000, "window ttl {ttl}");
    // The month ends 2026-12-01T00:00:00Z; the counter is kept an hour longer.
    let ttl: i64 = pttl(format!("{prefix}budget:m202611:team:t_1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let set = 1_796_083_200_000 + 3_600_000 - NOW;
    assert!(
        ttl <= set && ttl > set - 60_000,
        "budget ttl {ttl}, set {set}"
    );
}

#[tokio::test]
async fn a_settlement_reports_nothing_for_an_expired_budget_counter() {
    let Some((replicas, prefix)) = replicas("expired_budget_counter").await else {
        return;
    };
    let a = budgets(vec![
        budget("key:k_1", Level::Key, 10 * X, 0, X),
        budget("team:t_1", Level::Team, 10 * X, 0, X),
    ]);
    let permit = replicas[0].admit(&a, NOW).await.unwrap();
    let client = redis::Client::open(URL).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(format!("{prefix}budget:m202611:key:k_1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let settled = permit.settle(0, Some(2 * X)).await;
    let scopes: Vec<_> = settled.budgets.iter().map(|b| b.scope.as_str()).collect();
    assert_eq!(scopes, ["team:t_1"]);
    assert_eq!(settled.budgets[0].committed_nano, 2 * X);
    // The expired counter was not brought back by the settlement.
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("{prefix}budget:m202611:key:k_1"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

/// A recorder that only counts counters, by name and `op` label.
#[derive(Default)]
struct Counts(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Counts {
    fn get(&self, name: &str, op: &str) -> u64 {
        let map = self.0.lock().unwrap();
        map.get(&format!("{name}/{op}"))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl Recorder for Counts {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let op = key
            .labels()
            .find(|l| l.key() == "op")
            .map_or(String::new(), |l| l.value().to_owned());
        let mut map = self.0.lock().unwrap();
        let counter = map.entry(format!("{}/{op}", key.name())).or_default();
        Counter::from_arc(Arc::clone(counter))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn guarded() -> Admission {
    let mut a = budgets(vec![budget("key:k_1", Level::Key, 10 * X, 0, X)]);
    a.rates = vec![rpm("key:k_1", Level::Key, 10)];
    a.parallel = vec![ParallelCheck {
        scope: "key:k_1".into(),
        level: Level::Key,
        max: 1,
    }];
    a
}

// The current-thread runtime keeps every admission on this thread, where the local
// recorder is installed.
#[tokio::test]
async fn fail_open_admits_uncounted_when_redis_is_down() {
    let counts = Counts::default();
    let _recorder = metrics::set_default_local_recorder(&counts);
    let limiter = Limiter::redis(
        UNREACHABLE,
        &prefix("open"),
        OnRedisError::FailOpen,
        DEFAULT_TIMEOUT,
    )
    .unwrap();
    assert!(limiter.ping().await.is_err());

    let permit = limiter.admit(&guarded(), NOW).await.unwrap();
    assert_eq!(permit.status(), RateStatus::default());
    // Parallel caps are counted in the process, so they still hold.
    let denied = limiter.admit(&guarded(), NOW).await.unwrap_err();
    assert_eq!(denied.code(), "max_parallel_exceeded");
    // Nothing was counted, so nothing is reported.
    assert_eq!(permit.settle(10, Some(X)).await, Settled::default());
    limiter.admit(&guarded(), NOW).await.unwrap();
    assert_eq!(counts.get(REDIS_ERRORS, "admit"), 2);
}

#[tokio::test]
async fn fail_closed_refuses_when_redis_is_down() {
    let counts = Counts::default();
    let _recorder = metrics::set_default_local_recorder(&counts);
    let limiter = Limiter::redis(
        UNREACHABLE,
        &prefix("closed"),
        OnRedisError::FailClosed,
        DEFAULT_TIMEOUT,
    )
    .unwrap();
    for _ in 0..3 {
        let denied = limiter.admit(&guarded(), NOW).await.unwrap_err();
        assert_eq!(denied.code(), "limits_unavailable");
        assert!(denied.message().contains("refused"), "{denied}");
    }
    assert_eq!(counts.get(REDIS_ERRORS, "admit"), 3);
    // Nothing to count needs no Redis.
    assert!(limiter.admit(&Admission::default(), NOW).await.is_ok());
}

#[test]
fn a_redis_limiter_needs_a_runtime_and_a_valid_url() {
    assert!(matches!(
        Limiter::redis(URL, "p:", OnRedisError::FailOpen, DEFAULT_TIMEOUT),
        Err(LimitError::NoRuntime)
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    assert!(matches!(
        Limiter::redis("http://nope", "p:", OnRedisError::FailOpen, DEFAULT_TIMEOUT),
        Err(LimitError::Redis(_))
    ));
}
