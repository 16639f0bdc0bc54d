//! Scenarios every backend must pass. Each takes the limiters of the "replicas" under test
//! (clones of one in-memory limiter, or separate Redis limiters sharing one Redis) and
//! spreads its requests over them.

// Test helpers outside `#[test]` functions, where clippy's test allowances do not reach.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use sluice_limits::{
    Admission, BudgetCheck, BudgetTotal, Denied, Level, Limiter, ParallelCheck, Period, Permit,
    RateCheck, RateKind, Settled,
};
use tokio::task::JoinSet;

/// 2026-11-25T13:45:00Z, the start of a window.
pub const NOW: i64 = 1_795_614_300_000;
/// One nano-dollar reservation unit: a tenth of a cent.
pub const X: i64 = 1_000_000;

pub fn rpm(scope: &str, level: Level, limit: u64) -> RateCheck {
    RateCheck {
        scope: scope.into(),
        level,
        rpm: Some(limit),
        tpm: None,
        tokens: 0,
    }
}

pub fn tpm(scope: &str, limit: u64, tokens: u64) -> RateCheck {
    RateCheck {
        scope: scope.into(),
        level: Level::Key,
        rpm: None,
        tpm: Some(limit),
        tokens,
    }
}

pub fn budget(scope: &str, level: Level, limit: i64, seed: i64, reserve: i64) -> BudgetCheck {
    BudgetCheck {
        scope: scope.into(),
        level,
        limit_nano: limit,
        period: Period::Monthly,
        seed_nano: seed,
        reserve_nano: reserve,
    }
}

pub fn rates(checks: Vec<RateCheck>) -> Admission {
    Admission {
        rates: checks,
        ..Admission::default()
    }
}

pub fn budgets(checks: Vec<BudgetCheck>) -> Admission {
    Admission {
        budgets: checks,
        ..Admission::default()
    }
}

/// Admits `n` copies of `a` at once, spread over `replicas`; the permits admitted and the
/// denials.
async fn admit_concurrently(
    replicas: &[Limiter],
    a: &Admission,
    n: usize,
) -> (Vec<Permit>, Vec<Denied>) {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let limiter = replicas[i % replicas.len()].clone();
        let a = a.clone();
        tasks.spawn(async move { limiter.admit(&a, NOW).await });
    }
    let mut admitted = Vec::new();
    let mut denied = Vec::new();
    for result in tasks.join_all().await {
        match result {
            Ok(p) => admitted.push(p),
            Err(d) => denied.push(d),
        }
    }
    (admitted, denied)
}

/// 100 concurrent requests against 60 requests per minute: exactly 60 pass, and the
/// others are told when to come back.
pub async fn concurrent_requests_admit_exactly_the_rpm(replicas: &[Limiter]) {
    let a = rates(vec![rpm("key:k_1", Level::Key, 60)]);
    let (admitted, denied) = admit_concurrently(replicas, &a, 100).await;
    assert_eq!(admitted.len(), 60);
    assert_eq!(denied.len(), 40);
    for d in &denied {
        assert_eq!(d.code(), "rate_limit_exceeded_requests_key");
        let Denied::Rate {
            kind, retry_after, ..
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!(*kind, RateKind::Requests);
        // The window just started and is full: it fits once the next window has let one
        // request's worth of this one slide out.
        assert_eq!(*retry_after, Duration::from_secs(61));
        assert!(d.message().contains("key:k_1"), "{}", d.message());
    }
    let last = admitted.iter().map(|p| p.status().requests.unwrap());
    assert_eq!(last.map(|r| r.remaining).min(), Some(0));
}

/// Estimated tokens count at once; settling with the actual count gives back the rest.
pub async fn tokens_are_estimated_then_settled(replicas: &[Limiter]) {
    let [a, b] = [&replicas[0], &replicas[replicas.len() - 1]];
    let ask = |tokens| rates(vec![tpm("key:k_1", 1000, tokens)]);
    let first = a.admit(&ask(400), NOW).await.unwrap();
    let tokens = first.status().tokens.unwrap();
    assert_eq!((tokens.limit, tokens.remaining), (1000, 600));
    let _second = b.admit(&ask(400), NOW + 1).await.unwrap();
    let denied = a.admit(&ask(400), NOW + 2).await.unwrap_err();
    assert_eq!(denied.code(), "rate_limit_exceeded_tokens_key");

    first.settle(100, Some(0)).await;
    let third = b.admit(&ask(400), NOW + 3).await.unwrap();
    assert_eq!(third.status().tokens.unwrap().remaining, 100);
    // Usage above the estimate is counted too.
    third.settle(500, Some(0)).await;
    let denied = a.admit(&ask(1), NOW + 4).await.unwrap_err();
    assert_eq!(denied.code(), "rate_limit_exceeded_tokens_key");
}

/// A check that passes is not consumed when a later one fails.
pub async fn a_failing_check_consumes_nothing(replicas: &[Limiter]) {
    let [a, b] = [&replicas[0], &replicas[replicas.len() - 1]];
    let both = rates(vec![
        rpm("key:k_1", Level::Key, 10),
        rpm("team:t_1", Level::Team, 1),
    ]);
    let _first = a.admit(&both, NOW).await.unwrap();
    let denied = b.admit(&both, NOW + 1).await.unwrap_err();
    assert_eq!(denied.code(), "rate_limit_exceeded_requests_team");
    assert!(denied.message().contains("team:t_1"), "{denied}");
    let key_only = a
        .admit(&rates(vec![rpm("key:k_1", Level::Key, 10)]), NOW + 2)
        .await
        .unwrap();
    // The first request and this one; not the refused one.
    assert_eq!(key_only.status().requests.unwrap().remaining, 8);

    let spend = |team_limit| {
        let mut a = budgets(vec![
            budget("key:k_1", Level::Key, 10 * X, 0, 4 * X),
            budget("team:t_1", Level::Team, team_limit, 0, 4 * X),
        ]);
        a.rates = vec![rpm("user:bob", Level::User, 100)];
        a
    };
    let denied = b.admit(&spend(3 * X), NOW).await.unwrap_err();
    assert_eq!(denied.code(), "budget_exceeded");
    assert!(matches!(&denied, Denied::Budget { scope, .. } if scope == "team:t_1"));
    // Neither the key budget nor the user's request count was touched.
    let mut key_budget = spend(100 * X);
    key_budget.budgets[0].reserve_nano = 10 * X;
    let permit = a.admit(&key_budget, NOW).await.unwrap();
    assert_eq!(permit.status().requests.unwrap().remaining, 99);
}

/// 200 concurrent requests each reserving X against a budget of 20.5 X: exactly 20 pass.
/// Settling them for less than reserved makes room for more.
pub async fn concurrent_reservations_never_overshoot_a_budget(replicas: &[Limiter]) {
    let a = budgets(vec![budget("team:t_1", Level::Team, 20 * X + X / 2, 0, X)]);
    let (admitted, denied) = admit_concurrently(replicas, &a, 200).await;
    assert_eq!(admitted.len(), 20);
    assert_eq!(denied.len(), 180);
    let Denied::Budget {
        spent_nano,
        resets_at,
        period,
        ..
    } = &denied[0]
    else {
        panic!("{:?}", denied[0])
    };
    assert_eq!(*spent_nano, 20 * X);
    assert_eq!(*period, Period::Monthly);
    // 2026-12-01T00:00:00Z.
    assert_eq!(*resets_at, Some(1_796_083_200_000));

    let mut settled = JoinSet::new();
    for p in admitted {
        settled.spawn(p.settle(0, Some(X / 2)));
    }
    settled.join_all().await;
    // 10 X spent: ten more reservations fit.
    let (more, _) = admit_concurrently(replicas, &a, 30).await;
    assert_eq!(more.len(), 10);
}

/// A settlement reports each budget's committed total afterwards: spend plus what other
/// requests in flight (on any replica) still hold.
pub async fn settlements_report_budget_totals(replicas: &[Limiter]) {
    let [a, b] = [&replicas[0], &replicas[replicas.len() - 1]];
    let mut ask = budgets(vec![
        budget("key:k_1", Level::Key, 10 * X, 2 * X, 3 * X),
        budget("team:t_1", Level::Team, 100 * X, 0, 3 * X),
    ]);
    ask.rates = vec![tpm("key:k_1", 1000, 10)];
    let first = a.admit(&ask, NOW).await.unwrap();
    let second = b.admit(&ask, NOW).await.unwrap();
    let total = |scope: &str, level, limit, committed| BudgetTotal {
        scope: scope.into(),
        level,
        period: Period::Monthly,
        period_id: "m202611".into(),
        // 2026-12-01T00:00:00Z.
        resets_at: Some(1_796_083_200_000),
        limit_nano: limit,
        committed_nano: committed,
    };
    // The key: seed 2 X, two reservations of 3 X, the first replaced by X.
    assert_eq!(
        first.settle(7, Some(X)).await.budgets,
        [
            total("key:k_1", Level::Key, 10 * X, 6 * X),
            total("team:t_1", Level::Team, 100 * X, 4 * X),
        ]
    );
    // An unknown cost gives the reservation back and reports what is left.
    assert_eq!(
        second.settle(7, None).await.budgets,
        [
            total("key:k_1", Level::Key, 10 * X, 3 * X),
            total("team:t_1", Level::Team, 100 * X, X),
        ]
    );
    // A permit without budgets reports none.
    let unbudgeted = a.admit(&rates(vec![tpm("key:k_1", 1000, 10)]), NOW).await;
    assert_eq!(
        unbudgeted.unwrap().settle(5, Some(X)).await,
        Settled::default()
    );
}

/// The seed counts only when the counter is created.
pub async fn the_seed_is_used_once(replicas: &[Limiter]) {
    let [a, b] = [&replicas[0], &replicas[replicas.len() - 1]];
    let ask = |seed, reserve| budgets(vec![budget("key:k_1", Level::Key, 10 * X, seed, reserve)]);
    let denied = a.admit(&ask(9 * X, 2 * X), NOW).await.unwrap_err();
    assert!(matches!(denied, Denied::Budget { spent_nano, .. } if spent_nano == 9 * X));
    // A refused request created nothing: the next seed is still used.
    let _first = a.admit(&ask(5 * X, X), NOW).await.unwrap();
    let _second = b.admit(&ask(0, 4 * X), NOW).await.unwrap();
    let denied = b.admit(&ask(0, 1), NOW).await.unwrap_err();
    assert!(matches!(denied, Denied::Budget { spent_nano, .. } if spent_nano == 10 * X));
    // A spent budget refuses even a request that reserves nothing.
    assert!(a.admit(&ask(0, 0), NOW).await.is_err());
    // The next month starts from its own seed.
    let next_month = 1_796_083_200_000;
    assert!(a.admit(&ask(0, 10 * X), next_month).await.is_ok());
}

/// An unknown cost gives the reservation back; so does dropping the permit unsettled.
pub async fn unsettled_and_unpriced_requests_give_reservations_back(replicas: &[Limiter]) {
    let [a, b] = [&replicas[0], &replicas[replicas.len() - 1]];
    let mut ask = budgets(vec![budget("key:k_1", Level::Key, 10 * X, 0, 10 * X)]);
    ask.rates = vec![tpm("key:k_1", 100, 100)];
    let first = a.admit(&ask, NOW).await.unwrap();
    assert!(b.admit(&ask, NOW).await.is_err());
    first.settle(0, None).await;
    let second = b.admit(&ask, NOW).await.unwrap();
    assert!(a.admit(&ask, NOW).await.is_err());
    drop(second);
    // With Redis the release runs on a spawned task: wait for it.
    let mut third = a.admit(&ask, NOW).await;
    for _ in 0..500 {
        if third.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        third = a.admit(&ask, NOW).await;
    }
    assert!(third.is_ok(), "the dropped permit kept its reservation");
}

/// Caps on requests in flight count permits until they are settled or dropped.
pub async fn parallel_caps_hold_until_the_permit_goes(replicas: &[Limiter]) {
    let a = &replicas[0];
    let ask = Admission {
        parallel: vec![ParallelCheck {
            scope: "key:k_1".into(),
            level: Level::Key,
            max: 2,
        }],
        rates: vec![rpm("key:k_1", Level::Key, 100)],
        ..Admission::default()
    };
    let first = a.admit(&ask, NOW).await.unwrap();
    let second = a.admit(&ask, NOW).await.unwrap();
    let denied = a.admit(&ask, NOW).await.unwrap_err();
    assert_eq!(denied.code(), "max_parallel_exceeded");
    first.settle(0, None).await;
    let _third = a.admit(&ask, NOW).await.unwrap();
    drop(second);
    let fourth = a.admit(&ask, NOW).await.unwrap();
    // A refused parallel check counted no request.
    assert_eq!(fourth.status().requests.unwrap().remaining, 96);
}
