//! The in-memory limiter: the shared scenarios on clones of one limiter, and what only
//! it does.

mod common;

use common::*;
use sluice_limits::{Admission, Level, Limiter, RateStatus};

/// Two handles on one in-memory limiter.
fn replicas() -> [Limiter; 2] {
    let l = Limiter::memory();
    [l.clone(), l]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_admit_exactly_the_rpm_in_memory() {
    concurrent_requests_admit_exactly_the_rpm(&replicas()).await;
}

#[tokio::test]
async fn tokens_are_estimated_then_settled_in_memory() {
    tokens_are_estimated_then_settled(&replicas()).await;
}

#[tokio::test]
async fn a_failing_check_consumes_nothing_in_memory() {
    a_failing_check_consumes_nothing(&replicas()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_overshoot_a_budget_in_memory() {
    concurrent_reservations_never_overshoot_a_budget(&replicas()).await;
}

#[tokio::test]
async fn settlements_report_budget_totals_in_memory() {
    settlements_report_budget_totals(&replicas()).await;
}

#[tokio::test]
async fn the_seed_is_used_once_in_memory() {
    the_seed_is_used_once(&replicas()).await;
}

#[tokio::test]
async fn unsettled_and_unpriced_requests_give_reservations_back_in_memory() {
    unsettled_and_unpriced_requests_give_reservations_back(&replicas()).await;
}

#[tokio::test]
async fn parallel_caps_hold_until_the_permit_goes_in_memory() {
    parallel_caps_hold_until_the_permit_goes(&replicas()).await;
}

#[test]
fn a_permit_dropped_outside_any_runtime_still_gives_back() {
    let l = Limiter::memory();
    let ask = budgets(vec![budget("key:k_1", Level::Key, X, 0, X)]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let permit = runtime.block_on(l.admit(&ask, NOW)).unwrap();
    drop(runtime);
    drop(permit);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(runtime.block_on(l.admit(&ask, NOW)).is_ok());
}

#[tokio::test]
async fn the_tightest_limits_are_reported() {
    let l = Limiter::memory();
    let a = rates(vec![
        rpm("key:k_1", Level::Key, 10),
        rpm("team:t_1", Level::Team, 5),
        tpm("key:k_1", 1000, 100),
        tpm("model:fast", 150, 100),
    ]);
    let status = l.admit(&a, NOW).await.unwrap().status();
    let requests = status.requests.unwrap();
    assert_eq!((requests.limit, requests.remaining), (5, 4));
    let tokens = status.tokens.unwrap();
    assert_eq!((tokens.limit, tokens.remaining), (150, 50));
    // Everything counted slides out by the end of the next window.
    assert_eq!(tokens.reset.as_secs(), 120);

    let none = l.admit(&Admission::default(), NOW).await.unwrap();
    assert_eq!(none.status(), RateStatus::default());
}

#[tokio::test]
async fn requests_fit_again_as_the_window_slides() {
    let l = Limiter::memory();
    let a = rates(vec![rpm("key:k_1", Level::Key, 2)]);
    l.admit(&a, NOW).await.unwrap();
    l.admit(&a, NOW).await.unwrap();
    let denied = l.admit(&a, NOW + 10_000).await.unwrap_err();
    let sluice_limits::Denied::Rate { retry_after, .. } = denied else {
        panic!("{denied:?}")
    };
    // Next window, once half of this one has slid out: 50 s + 30 s.
    assert_eq!(retry_after.as_secs(), 80);
    assert!(l.admit(&a, NOW + 89_000).await.is_err());
    assert!(l.admit(&a, NOW + 90_000).await.is_ok());
}
