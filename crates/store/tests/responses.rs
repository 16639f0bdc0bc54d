//! Stored Responses API conversations, against SQLite and Postgres alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestDb;

on_both_backends!(responses_are_stored_replaced_read_and_pruned);

async fn responses_are_stored_replaced_read_and_pruned(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.response("resp_a").await.unwrap(), None);
    s.put_response("resp_a", 1_000, r#"[{"role":"user","content":"hi"}]"#)
        .await
        .unwrap();
    s.put_response("resp_b", 5_000, "[]").await.unwrap();
    assert_eq!(
        s.response("resp_a").await.unwrap().as_deref(),
        Some(r#"[{"role":"user","content":"hi"}]"#)
    );
    // Storing an id again replaces it.
    s.put_response("resp_a", 2_000, r#"[{"role":"user","content":"again"}]"#)
        .await
        .unwrap();
    assert_eq!(
        s.response("resp_a").await.unwrap().as_deref(),
        Some(r#"[{"role":"user","content":"again"}]"#)
    );
    assert_eq!(s.prune_responses(3_000).await.unwrap(), 1);
    assert_eq!(s.response("resp_a").await.unwrap(), None);
    assert_eq!(s.response("resp_b").await.unwrap().as_deref(), Some("[]"));
}
