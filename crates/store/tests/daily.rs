//! The daily ledger: reports and latency over ranges of days read whole days from
//! `spend_daily` / `latency_daily` and the hours at the ends from the hourly tables, and
//! count every request exactly as the hourly series do; an upgrade rolls the hours it
//! already has up into days. Against SQLite and Postgres alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestDb, exec};
use sluice_store::{Api, Histogram, LogRecord, SpendDim, SpendQuery, SpendRow, Store};

on_both_backends!(
    ranges_over_days_count_each_request_once,
    an_upgrade_rolls_the_hours_up_into_days,
);

/// 2023-11-14 00:00 UTC, the start of a day.
const D: i64 = 1_699_920_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Request `i`: every 7th hour (and 11 minutes) over four days, alternating between two
/// keys, one request in nine failed; costs and durations grow with `i`.
fn rec(i: i64) -> LogRecord {
    let ok = i % 9 != 4;
    LogRecord {
        id: format!("r{i}"),
        received_at: D + i * 7 * HOUR + 11 * 60_000,
        done_at: D + i * 7 * HOUR + 11 * 60_000 + 100,
        api: Api::Chat,
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        key: Some(format!("k{}", i % 2)),
        resolved_model: Some("fast".into()),
        status: if ok { 200 } else { 502 },
        duration_ms: 10 * u64::try_from(i + 1).unwrap(),
        prompt_tokens: Some(10),
        completion_tokens: Some(1),
        cost_usd: Some(0.001 * (i + 1) as f64),
        ..LogRecord::default()
    }
}

/// The records of [`rec`]: 14 of them, over hours 0 to 91 of the four days.
fn records() -> Vec<LogRecord> {
    (0..14).map(rec).collect()
}

/// What a report of `key` over `[from, to)` must say, summed from the records themselves.
fn expected(from: i64, to: i64) -> Vec<(String, i64, i64, i64)> {
    let mut rows: Vec<(String, i64, i64, i64)> = Vec::new();
    for r in records() {
        let hour = r.received_at.div_euclid(HOUR) * HOUR;
        if hour < from || hour >= to {
            continue;
        }
        let key = r.key.clone().unwrap();
        let cost = (r.cost_usd.unwrap() * 1e9).round() as i64;
        let errors = i64::from(r.status >= 400);
        match rows.iter_mut().find(|row| row.0 == key) {
            Some(row) => {
                row.1 += 1;
                row.2 += cost;
                row.3 += errors;
            }
            None => rows.push((key, 1, cost, errors)),
        }
    }
    rows.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    rows
}

async fn by_key(store: &Store, from: i64, to: i64) -> Vec<(String, i64, i64, i64)> {
    let q = SpendQuery {
        group_by: SpendDim::Key,
        from,
        to,
        limit: 10,
    };
    let rows: Vec<SpendRow> = store.spend(&q).await.unwrap();
    rows.into_iter()
        .map(|r| (r.group, r.requests, r.cost_nano, r.errors))
        .collect()
}

/// The latency histogram of `key` over `[from, to)` merged from its hourly series.
async fn hourly_latency(store: &Store, key: &str, from: i64, to: i64) -> Histogram {
    let mut merged = Histogram::default();
    let series = store
        .latency_series(Some((SpendDim::Key, key)), from, to)
        .await
        .unwrap();
    for l in series.values() {
        merged.merge(&l.total);
    }
    merged
}

/// Ranges that start and end mid-day, on midnight, across one midnight, and beyond the data.
const RANGES: [(i64, i64); 7] = [
    (D, D + 4 * DAY),
    (D + 5 * HOUR, D + 3 * DAY + 9 * HOUR),
    (D + DAY, D + 3 * DAY),
    (D + 20 * HOUR, D + 30 * HOUR),
    (D + 23 * HOUR, D + 2 * DAY + HOUR),
    (D + DAY + 1, D + 2 * DAY - 1),
    (D - 10 * DAY, D + 40 * DAY),
];

async fn ranges_over_days_count_each_request_once(db: &TestDb) {
    db.store.insert_logs(&records()).await.unwrap();
    let s = &db.store;
    for (from, to) in RANGES {
        let want = expected(from, to);
        assert_eq!(by_key(s, from, to).await, want, "{from}..{to}");
        let keys: Vec<String> = want.iter().map(|r| r.0.clone()).collect();
        let latency = s.latency_by(SpendDim::Key, &keys, from, to).await.unwrap();
        for key in &keys {
            let hourly = hourly_latency(s, key, from, to).await;
            // A key whose requests in the range all failed has no latency.
            let got = latency.get(key).cloned().unwrap_or_default();
            assert_eq!(got, hourly, "{key} over {from}..{to}");
        }
    }
    // Four days hold every record: 14 requests, two of them failed (i = 4 and 13).
    let all = by_key(s, D, D + 4 * DAY).await;
    let requests: i64 = all.iter().map(|r| r.1).sum();
    let errors: i64 = all.iter().map(|r| r.3).sum();
    assert_eq!((requests, errors), (14, 2));
    let budgets = s
        .spend_totals(SpendDim::Key, D + DAY + 5 * HOUR)
        .await
        .unwrap();
    let from_day_one: i64 = expected(D + DAY + 5 * HOUR, i64::MAX)
        .iter()
        .map(|r| r.2)
        .sum();
    assert_eq!(budgets.values().sum::<i64>(), from_day_one);
}

async fn an_upgrade_rolls_the_hours_up_into_days(db: &TestDb) {
    db.store.insert_logs(&records()).await.unwrap();
    // Back to the schema before the daily ledger, then migrate again: the migration must
    // rebuild the days from the hours.
    exec(
        db,
        "DROP TABLE spend_daily; DROP TABLE latency_daily; \
         DELETE FROM _sqlx_migrations WHERE version = 9",
    )
    .await;
    let upgraded = Store::connect(&db.url).await.unwrap();
    for (from, to) in RANGES {
        assert_eq!(by_key(&upgraded, from, to).await, expected(from, to));
    }
    let latency = upgraded
        .latency_by(SpendDim::Key, &["k0".to_owned()], D, D + 4 * DAY)
        .await
        .unwrap();
    // k0 has the seven even requests, one of which (i = 4) failed.
    assert_eq!(latency["k0"].count(), 6);
    upgraded.close().await;
}
