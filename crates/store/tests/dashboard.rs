//! What the dashboard reads from the ledger: errors and cache outcomes per hour and value,
//! and latency histograms, against SQLite and Postgres alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestDb;
use sluice_store::{Api, LogRecord, SpendDim, SpendQuery};

on_both_backends!(
    errors_and_cache_outcomes_are_counted,
    latency_is_kept_per_hour_and_value,
    a_replayed_batch_adds_no_latency,
);

/// 2023-11-14 22:00 UTC, the start of an hour.
const H: i64 = 1_699_999_200_000;
const HOUR: i64 = 3_600_000;

fn rec(id: &str, at: i64, status: u16, duration_ms: u64) -> LogRecord {
    LogRecord {
        id: id.into(),
        received_at: at,
        done_at: at + i64::try_from(duration_ms).unwrap(),
        api: Api::Chat,
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        status,
        duration_ms,
        resolved_model: Some("fast".into()),
        provider: Some("openai".into()),
        ..LogRecord::default()
    }
}

fn cached(id: &str, outcome: Option<&str>) -> LogRecord {
    LogRecord {
        cache: outcome.map(str::to_owned),
        ..rec(id, H + 1, 200, 10)
    }
}

async fn errors_and_cache_outcomes_are_counted(db: &TestDb) {
    let batch = [
        rec("ok", H + 1, 200, 10),
        rec("limited", H + 2, 429, 1),
        rec("gone", H + 3, 499, 1),
        rec("bad-gateway", H + HOUR, 502, 1),
        cached("hit", Some("HIT")),
        cached("semantic", Some("SEMANTIC-HIT")),
        cached("miss", Some("MISS")),
        cached("skip", Some("SEMANTIC-SKIP")),
        cached("bypass", Some("BYPASS")),
    ];
    db.store.insert_logs(&batch).await.unwrap();
    let series = db.store.spend_series(None, H, H + 2 * HOUR).await.unwrap();
    let per_hour: Vec<_> = series
        .iter()
        .map(|(at, r)| (*at, r.requests, r.errors, r.cache_hits, r.cache_lookups))
        .collect();
    // BYPASS did not look the cache up; the semantic skip did (and missed).
    assert_eq!(per_hour, [(H, 8, 2, 2, 4), (H + HOUR, 1, 1, 0, 0)]);
    let by_model = db
        .store
        .spend(&SpendQuery {
            group_by: SpendDim::Model,
            from: H,
            to: H + 2 * HOUR,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(by_model.len(), 1);
    assert_eq!(
        (
            by_model[0].requests,
            by_model[0].errors,
            by_model[0].cache_hits
        ),
        (9, 3, 2)
    );
}

async fn latency_is_kept_per_hour_and_value(db: &TestDb) {
    let mut batch = Vec::new();
    // Hour 1: nine requests of 100 ms and one of 2 s to `fast`; a failure that is not counted.
    for i in 0..9 {
        batch.push(rec(&format!("a{i}"), H + i, 200, 100));
    }
    batch.push(rec("slow", H + 10, 200, 2_000));
    batch.push(rec("failed", H + 11, 500, 9_000));
    // Hour 2: a stream to `smart` with its time to first token.
    batch.push(LogRecord {
        resolved_model: Some("smart".into()),
        stream: true,
        ttft_ms: Some(40),
        ..rec("stream", H + HOUR, 200, 800)
    });
    db.store.insert_logs(&batch).await.unwrap();

    let series = db
        .store
        .latency_series(None, H, H + 2 * HOUR)
        .await
        .unwrap();
    let hours: Vec<_> = series.keys().copied().collect();
    assert_eq!(hours, [H, H + HOUR]);
    let first = &series[&H];
    assert_eq!((first.total.count(), first.ttft.count()), (10, 0));
    let near = |got: Option<f64>, ms: f64| {
        let got = got.unwrap();
        assert!((got / ms - 1.0).abs() < 0.1, "{got} is not about {ms}");
    };
    near(first.total.percentile(0.5), 100.0);
    near(first.total.percentile(0.95), 2_000.0);
    let second = &series[&(H + HOUR)];
    near(second.ttft.percentile(0.5), 40.0);
    near(second.total.percentile(0.5), 800.0);

    // One value's series, and several values summed over the range.
    let smart = db
        .store
        .latency_series(Some((SpendDim::Model, "smart")), H, H + 2 * HOUR)
        .await
        .unwrap();
    assert_eq!(smart.keys().copied().collect::<Vec<_>>(), [H + HOUR]);
    let values = ["fast".to_owned(), "smart".to_owned(), "none".to_owned()];
    let by_model = db
        .store
        .latency_by(SpendDim::Model, &values, H, H + 2 * HOUR)
        .await
        .unwrap();
    let mut names: Vec<_> = by_model.keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["fast", "smart"]);
    assert_eq!(by_model["fast"].count(), 10);
    near(by_model["fast"].percentile(0.5), 100.0);
    near(by_model["smart"].percentile(0.5), 800.0);
    // Only the hours asked for.
    let later = db
        .store
        .latency_by(
            SpendDim::Provider,
            &["openai".to_owned()],
            H + HOUR,
            H + 2 * HOUR,
        )
        .await
        .unwrap();
    assert_eq!(later["openai"].count(), 1);
}

async fn a_replayed_batch_adds_no_latency(db: &TestDb) {
    let batch = [rec("r1", H, 200, 250), rec("r2", H + 1, 200, 250)];
    assert_eq!(db.store.insert_logs(&batch).await.unwrap(), 2);
    assert_eq!(db.store.insert_logs(&batch).await.unwrap(), 0);
    let series = db.store.latency_series(None, H, H + HOUR).await.unwrap();
    assert_eq!(series[&H].total.count(), 2);
}
