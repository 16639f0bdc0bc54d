//! Operator events, against SQLite and Postgres alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestDb;
use serde_json::json;

on_both_backends!(events_are_listed_newest_first_by_kind_and_time);

async fn events_are_listed_newest_first_by_kind_and_time(db: &TestDb) {
    let s = &db.store;
    assert!(s.events(None, 0, 10).await.unwrap().is_empty());
    let alert = json!({"level": "key", "amount_usd": 50.0, "spent_usd": 40.5});
    let first = s
        .insert_event(1_000, "budget_alert", "key:key_a", &alert)
        .await
        .unwrap();
    let second = s
        .insert_event(2_000, "other", "team:t", &json!({"n": 1}))
        .await
        .unwrap();
    let third = s
        .insert_event(2_000, "budget_alert", "team:t", &json!([]))
        .await
        .unwrap();
    assert!(first < second && second < third);

    let all = s.events(None, 0, 10).await.unwrap();
    let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
    // Newest first; equal times by insertion, newest first too.
    assert_eq!(ids, [third, second, first]);
    let oldest = &all[2];
    assert_eq!(
        (oldest.at, oldest.kind.as_str(), oldest.scope.as_str()),
        (1_000, "budget_alert", "key:key_a")
    );
    assert_eq!(oldest.data, alert);

    let alerts = s.events(Some("budget_alert"), 0, 10).await.unwrap();
    let ids: Vec<i64> = alerts.iter().map(|e| e.id).collect();
    assert_eq!(ids, [third, first]);
    // `since` is inclusive; `limit` keeps the newest.
    let recent = s.events(None, 2_000, 10).await.unwrap();
    assert_eq!(recent.len(), 2);
    assert_eq!(s.events(None, 2_001, 10).await.unwrap(), []);
    let newest = s.events(None, 0, 1).await.unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].id, third);
    assert_eq!(s.events(Some("nothing"), 0, 10).await.unwrap(), []);
}
