//! The spend ledger: what `insert_logs` adds to it and what the spend queries read back,
//! against SQLite and Postgres alike. Sums are worked out by hand in each test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestDb;
use serde_json::json;
use sluice_store::{Api, LogRecord, SpendDim, SpendQuery, SpendRow, Store};

on_both_backends!(
    spend_is_summed_by_every_dimension,
    requests_fall_into_utc_hours_and_ranges_are_half_open,
    a_replayed_batch_adds_nothing,
    tags_count_as_name_value_pairs,
    reports_order_by_cost_then_name_and_stop_at_the_limit,
    totals_per_value_since_a_time,
    series_per_hour_for_one_value_or_everything,
    batches_with_many_groups_span_several_statements,
    pruning_the_log_keeps_the_ledger,
);

/// 2023-11-14 22:00 UTC, the start of an hour.
const H: i64 = 1_699_999_200_000;
const HOUR: i64 = 3_600_000;

fn rec(id: &str, at: i64) -> LogRecord {
    LogRecord {
        id: id.into(),
        received_at: at,
        done_at: at + 5,
        api: Api::Chat,
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        status: 200,
        duration_ms: 5,
        ..LogRecord::default()
    }
}

/// A record of `key` costing `cost_usd`, with 1 prompt and 2 completion tokens.
fn keyed(id: &str, at: i64, key: &str, cost_usd: f64) -> LogRecord {
    LogRecord {
        key: Some(key.into()),
        prompt_tokens: Some(1),
        completion_tokens: Some(2),
        cost_usd: Some(cost_usd),
        ..rec(id, at)
    }
}

fn row(group: &str, requests: i64, tokens: [i64; 3], cost_nano: i64, saved_nano: i64) -> SpendRow {
    SpendRow {
        group: group.into(),
        requests,
        prompt_tokens: tokens[0],
        completion_tokens: tokens[1],
        cached_tokens: tokens[2],
        cost_nano,
        saved_nano,
        ..SpendRow::default()
    }
}

/// `row` with `errors` of its requests failed.
fn failed(row: SpendRow, errors: i64) -> SpendRow {
    SpendRow { errors, ..row }
}

async fn report(store: &Store, group_by: SpendDim, from: i64, to: i64) -> Vec<SpendRow> {
    let q = SpendQuery {
        group_by,
        from,
        to,
        limit: 100,
    };
    store.spend(&q).await.unwrap()
}

/// `(group, requests)` of a report, for tests about which records count.
async fn counts(store: &Store, group_by: SpendDim, from: i64, to: i64) -> Vec<(String, i64)> {
    let rows = report(store, group_by, from, to).await;
    rows.into_iter().map(|r| (r.group, r.requests)).collect()
}

async fn spend_is_summed_by_every_dimension(db: &TestDb) {
    let r1 = LogRecord {
        key: Some("k1".into()),
        team: Some("t1".into()),
        org: Some("o1".into()),
        user: Some("u1".into()),
        requested_model: Some("fast".into()),
        resolved_model: Some("fast".into()),
        provider: Some("openai".into()),
        prompt_tokens: Some(100),
        completion_tokens: Some(50),
        cached_tokens: Some(10),
        cost_usd: Some(0.001),
        ..rec("r1", H + 10)
    };
    let r2 = LogRecord {
        key: Some("k1".into()),
        team: Some("t1".into()),
        org: Some("o1".into()),
        requested_model: Some("auto".into()),
        resolved_model: Some("smart".into()),
        provider: Some("anthropic".into()),
        prompt_tokens: Some(200),
        completion_tokens: Some(20),
        cost_usd: Some(0.003),
        saved_usd: Some(0.0005),
        ..rec("r2", H + 20)
    };
    // A client that hung up before any usage: it still counts as a request.
    let r3 = LogRecord {
        key: Some("k2".into()),
        team: Some("t2".into()),
        org: Some("o1".into()),
        user: Some("u1".into()),
        requested_model: Some("gpt-4o".into()),
        provider: Some("openai".into()),
        status: 499,
        ..rec("r3", H + 30)
    };
    assert_eq!(db.store.insert_logs(&[r1, r2, r3]).await.unwrap(), 3);
    let s = &db.store;
    let (from, to) = (H, H + HOUR);
    assert_eq!(
        report(s, SpendDim::Key, from, to).await,
        [
            row("k1", 2, [300, 70, 10], 4_000_000, 500_000),
            failed(row("k2", 1, [0, 0, 0], 0, 0), 1),
        ]
    );
    assert_eq!(
        report(s, SpendDim::Team, from, to).await,
        [
            row("t1", 2, [300, 70, 10], 4_000_000, 500_000),
            failed(row("t2", 1, [0, 0, 0], 0, 0), 1),
        ]
    );
    assert_eq!(
        report(s, SpendDim::Org, from, to).await,
        [failed(row("o1", 3, [300, 70, 10], 4_000_000, 500_000), 1)]
    );
    assert_eq!(
        report(s, SpendDim::User, from, to).await,
        [failed(row("u1", 2, [100, 50, 10], 1_000_000, 0), 1)]
    );
    // The resolved model group, else the requested name.
    assert_eq!(
        report(s, SpendDim::Model, from, to).await,
        [
            row("smart", 1, [200, 20, 0], 3_000_000, 500_000),
            row("fast", 1, [100, 50, 10], 1_000_000, 0),
            failed(row("gpt-4o", 1, [0, 0, 0], 0, 0), 1),
        ]
    );
    assert_eq!(
        report(s, SpendDim::Provider, from, to).await,
        [
            row("anthropic", 1, [200, 20, 0], 3_000_000, 500_000),
            failed(row("openai", 2, [100, 50, 10], 1_000_000, 0), 1),
        ]
    );
    assert_eq!(report(s, SpendDim::Tag, from, to).await, []);
    assert_eq!(
        s.spend_series(None, from, to).await.unwrap(),
        [(H, failed(row("*", 3, [300, 70, 10], 4_000_000, 500_000), 1))]
    );
}

async fn requests_fall_into_utc_hours_and_ranges_are_half_open(db: &TestDb) {
    let batch = [
        keyed("first-ms", H, "k", 0.0),
        keyed("last-ms", H + HOUR - 1, "k", 0.0),
        keyed("next-hour", H + HOUR, "k", 0.0),
        keyed("third-hour", H + 2 * HOUR + 1, "k", 0.0),
    ];
    db.store.insert_logs(&batch).await.unwrap();
    let s = &db.store;
    let k = |n: i64| vec![("k".to_owned(), n)];
    assert_eq!(counts(s, SpendDim::Key, H, H + HOUR).await, k(2));
    assert_eq!(counts(s, SpendDim::Key, H, H + 2 * HOUR).await, k(3));
    assert_eq!(counts(s, SpendDim::Key, H, H + 3 * HOUR).await, k(4));
    // An hour counts when it starts in [from, to): a `from` inside an hour skips it, a
    // `to` inside an hour keeps it.
    assert_eq!(counts(s, SpendDim::Key, H + 1, H + 3 * HOUR).await, k(2));
    assert_eq!(counts(s, SpendDim::Key, H + HOUR, H + HOUR + 1).await, k(1));
    assert_eq!(counts(s, SpendDim::Key, H - HOUR, H).await, []);
    let hours: Vec<_> = s
        .spend_series(None, H, H + 3 * HOUR)
        .await
        .unwrap()
        .into_iter()
        .map(|(at, r)| (at, r.requests))
        .collect();
    assert_eq!(hours, [(H, 2), (H + HOUR, 1), (H + 2 * HOUR, 1)]);
}

async fn a_replayed_batch_adds_nothing(db: &TestDb) {
    let batch = vec![
        keyed("a", H, "k", 0.25),
        keyed("b", H + 1, "k", 0.5),
        keyed("c", H + HOUR, "j", 1.0),
    ];
    assert_eq!(db.store.insert_logs(&batch).await.unwrap(), 3);
    let s = &db.store;
    let first = report(s, SpendDim::Key, H, H + 2 * HOUR).await;
    assert_eq!(
        first,
        [
            row("j", 1, [1, 2, 0], 1_000_000_000, 0),
            row("k", 2, [2, 4, 0], 750_000_000, 0),
        ]
    );
    // The same batch again (a journal replay), with one record twice: nothing is added.
    let mut again = batch.clone();
    again.push(batch[0].clone());
    assert_eq!(s.insert_logs(&again).await.unwrap(), 0);
    assert_eq!(report(s, SpendDim::Key, H, H + 2 * HOUR).await, first);
    // A replay mixed with a new record adds only the new one, even when it repeats
    // within the batch.
    let new = keyed("d", H + 2, "k", 0.125);
    again.push(new.clone());
    again.push(new);
    assert_eq!(s.insert_logs(&again).await.unwrap(), 1);
    assert_eq!(
        report(s, SpendDim::Key, H, H + 2 * HOUR).await,
        [
            row("j", 1, [1, 2, 0], 1_000_000_000, 0),
            row("k", 3, [3, 6, 0], 875_000_000, 0),
        ]
    );
}

async fn tags_count_as_name_value_pairs(db: &TestDb) {
    let mut r1 = keyed("t1", H, "k", 0.002);
    r1.tags = Some(json!({"feature": "search", "n": 2, "beta": true, "obj": {"a": 1}}));
    let mut r2 = keyed("t2", H + 5, "k", 0.001);
    r2.tags = Some(json!({"feature": "search", "env": "prod"}));
    let mut r3 = keyed("t3", H + 6, "k", 0.004);
    r3.tags = Some(json!({"feature": "chat"}));
    db.store.insert_logs(&[r1, r2, r3]).await.unwrap();
    let tags: Vec<_> = report(&db.store, SpendDim::Tag, H, H + HOUR)
        .await
        .into_iter()
        .map(|r| (r.group, r.requests, r.cost_nano))
        .collect();
    let t = |g: &str, n, c| (g.to_owned(), n, c);
    assert_eq!(
        tags,
        [
            t("feature=chat", 1, 4_000_000),
            t("feature=search", 2, 3_000_000),
            t("beta=true", 1, 2_000_000),
            t("n=2", 1, 2_000_000),
            t("obj={\"a\":1}", 1, 2_000_000),
            t("env=prod", 1, 1_000_000),
        ]
    );
}

async fn reports_order_by_cost_then_name_and_stop_at_the_limit(db: &TestDb) {
    let batch = [
        keyed("1", H, "b", 0.1),
        keyed("2", H, "a", 0.1),
        keyed("3", H, "C", 0.5),
        keyed("4", H, "z", 0.9),
        keyed("5", H, "B", 0.1),
    ];
    db.store.insert_logs(&batch).await.unwrap();
    let mut q = SpendQuery {
        group_by: SpendDim::Key,
        from: H,
        to: H + HOUR,
        limit: 10,
    };
    let groups = |rows: Vec<SpendRow>| rows.into_iter().map(|r| r.group).collect::<Vec<_>>();
    // Ties break by byte order: upper case first, on both backends.
    assert_eq!(
        groups(db.store.spend(&q).await.unwrap()),
        ["z", "C", "B", "a", "b"]
    );
    q.limit = 2;
    assert_eq!(groups(db.store.spend(&q).await.unwrap()), ["z", "C"]);
}

async fn totals_per_value_since_a_time(db: &TestDb) {
    let batch = [
        keyed("old", H - HOUR, "k1", 5.0),
        keyed("a", H, "k1", 0.5),
        keyed("b", H + 3 * HOUR, "k1", 0.25),
        keyed("c", H + 3 * HOUR, "k2", 1.0),
        keyed("d", H + 100 * HOUR, "k3", 0.0),
    ];
    db.store.insert_logs(&batch).await.unwrap();
    let totals = db.store.spend_totals(SpendDim::Key, H).await.unwrap();
    let mut totals: Vec<_> = totals.into_iter().collect();
    totals.sort();
    let t = |k: &str, n| (k.to_owned(), n);
    assert_eq!(
        totals,
        [t("k1", 750_000_000), t("k2", 1_000_000_000), t("k3", 0)]
    );
    let all = db.store.spend_totals(SpendDim::Key, 0).await.unwrap();
    assert_eq!(all.get("k1"), Some(&5_750_000_000));
    let none = db.store.spend_totals(SpendDim::Team, 0).await.unwrap();
    assert!(none.is_empty());
}

async fn series_per_hour_for_one_value_or_everything(db: &TestDb) {
    let batch = [
        keyed("a", H + 1, "k1", 0.5),
        keyed("b", H + 2, "k2", 0.25),
        keyed("c", H + 2 * HOUR, "k1", 1.0),
        keyed("d", H + 2 * HOUR + 7, "k1", 1.0),
        keyed("e", H + 5 * HOUR, "k1", 1.0),
    ];
    db.store.insert_logs(&batch).await.unwrap();
    let s = &db.store;
    let k1 = s
        .spend_series(Some((SpendDim::Key, "k1")), H, H + 5 * HOUR)
        .await
        .unwrap();
    assert_eq!(
        k1,
        [
            (H, row("k1", 1, [1, 2, 0], 500_000_000, 0)),
            (H + 2 * HOUR, row("k1", 2, [2, 4, 0], 2_000_000_000, 0)),
        ]
    );
    let all = s.spend_series(None, H, H + 6 * HOUR).await.unwrap();
    assert_eq!(
        all,
        [
            (H, row("*", 2, [2, 4, 0], 750_000_000, 0)),
            (H + 2 * HOUR, row("*", 2, [2, 4, 0], 2_000_000_000, 0)),
            (H + 5 * HOUR, row("*", 1, [1, 2, 0], 1_000_000_000, 0)),
        ]
    );
    let nobody = s
        .spend_series(Some((SpendDim::User, "k1")), H, H + 6 * HOUR)
        .await
        .unwrap();
    assert_eq!(nobody, []);
}

async fn batches_with_many_groups_span_several_statements(db: &TestDb) {
    // 1,500 keys × 2 hours: 3,000 key rows plus the totals, in one batch.
    let batch: Vec<_> = (0..3000)
        .map(|i| {
            keyed(
                &format!("r{i}"),
                H + (i % 2) * HOUR,
                &format!("k{}", i / 2),
                0.001,
            )
        })
        .collect();
    assert_eq!(db.store.insert_logs(&batch).await.unwrap(), 3000);
    let q = SpendQuery {
        group_by: SpendDim::Key,
        from: H,
        to: H + 2 * HOUR,
        limit: 5000,
    };
    let rows = db.store.spend(&q).await.unwrap();
    assert_eq!(rows.len(), 1500);
    assert!(
        rows.iter()
            .all(|r| r.requests == 2 && r.cost_nano == 2_000_000)
    );
    let all = db.store.spend_series(None, H, H + 2 * HOUR).await.unwrap();
    let per_hour: Vec<_> = all.iter().map(|(_, r)| r.requests).collect();
    assert_eq!(per_hour, [1500, 1500]);
}

async fn pruning_the_log_keeps_the_ledger(db: &TestDb) {
    let batch = [keyed("a", H, "k", 0.5), keyed("b", H + HOUR, "k", 0.5)];
    db.store.insert_logs(&batch).await.unwrap();
    assert_eq!(
        db.store.prune_logs(Some(i64::MAX), None, 10).await.unwrap(),
        2
    );
    assert_eq!(db.store.count_logs().await.unwrap(), 0);
    assert_eq!(
        report(&db.store, SpendDim::Key, H, H + 2 * HOUR).await,
        [row("k", 2, [2, 4, 0], 1_000_000_000, 0)]
    );
}
