//! Tenancy documents and their change fingerprint, against SQLite and Postgres alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestDb, exec};
use serde_json::json;
use sluice_store::{StoreError, TenantRow};

on_both_backends!(
    put_insert_get_list_delete,
    versions_grow_and_are_never_reused,
    concurrent_writers_get_distinct_versions,
    a_taken_key_hash_is_a_conflict,
    the_fingerprint_changes_on_every_change_and_only_then,
    the_fingerprint_sees_a_late_write_that_keeps_count_and_versions,
);

async fn put_insert_get_list_delete(db: &TestDb) {
    let s = &db.store;
    let a = s
        .put_tenant(
            "a",
            "key",
            Some("h-a"),
            &json!({"name": "ci", "models": ["fast"]}),
        )
        .await
        .unwrap();
    assert_eq!(
        (a.id.as_str(), a.kind.as_str(), a.key_hash.as_deref()),
        ("a", "key", Some("h-a"))
    );
    assert_eq!(a.data, json!({"name": "ci", "models": ["fast"]}));
    assert_eq!(a.created_at, a.updated_at);

    let t = s
        .insert_tenant("t", "team", None, &json!({"budget": 10}))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.key_hash, None);
    // A create of an id that exists changes nothing.
    assert_eq!(
        s.insert_tenant("t", "team", None, &json!({"budget": 99}))
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.tenant("t").await.unwrap(), Some(t.clone()));

    // A put replaces the document and keeps the creation time.
    let a2 = s
        .put_tenant("a", "key", Some("h-a2"), &json!({"name": "ci-2"}))
        .await
        .unwrap();
    assert_eq!(a2.data, json!({"name": "ci-2"}));
    assert_eq!(a2.key_hash.as_deref(), Some("h-a2"));
    assert_eq!(a2.created_at, a.created_at);
    assert!(a2.updated_at >= a.updated_at);
    assert_eq!(s.tenant("a").await.unwrap(), Some(a2.clone()));
    assert_eq!(s.tenant("nope").await.unwrap(), None);

    assert_eq!(s.tenants().await.unwrap(), vec![a2, t.clone()]);
    assert!(s.delete_tenant("a").await.unwrap());
    assert!(!s.delete_tenant("a").await.unwrap());
    assert_eq!(s.tenant("a").await.unwrap(), None);
    assert_eq!(s.tenants().await.unwrap(), vec![t]);
}

async fn versions_grow_and_are_never_reused(db: &TestDb) {
    let s = &db.store;
    let mut seen = Vec::new();
    let mut put = async |id: &str| {
        let row: TenantRow = s.put_tenant(id, "user", None, &json!({})).await.unwrap();
        seen.push(row.version);
        row.version
    };
    put("u1").await;
    put("u2").await;
    put("u1").await;
    // Deleting the row with the highest version does not free that version.
    let top = put("u3").await;
    s.delete_tenant("u3").await.unwrap();
    assert!(put("u3").await > top);
    put("u2").await;
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "versions must grow: {seen:?}"
    );
    let inserted = s
        .insert_tenant("u4", "user", None, &json!({}))
        .await
        .unwrap()
        .unwrap();
    assert!(inserted.version > *seen.last().unwrap());
}

async fn concurrent_writers_get_distinct_versions(db: &TestDb) {
    let before = db.store.tenants_fingerprint().await.unwrap();
    let writes = (0..24).map(|i| {
        let store = db.store.clone();
        // Half the writes update a row another write may be creating at the same time.
        tokio::spawn(async move {
            let id = format!("t{}", i % 12);
            store.put_tenant(&id, "team", None, &json!({"i": i})).await
        })
    });
    let mut versions = Vec::new();
    for write in futures_util::future::join_all(writes).await {
        versions.push(write.unwrap().unwrap().version);
    }
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), 24, "every write gets its own version");
    let rows = db.store.tenants().await.unwrap();
    assert_eq!(rows.len(), 12);
    // Each row holds the version of the write that landed last on it.
    assert!(rows.iter().all(|r| versions.contains(&r.version)));
    assert_ne!(db.store.tenants_fingerprint().await.unwrap(), before);
}

async fn a_taken_key_hash_is_a_conflict(db: &TestDb) {
    let s = &db.store;
    s.put_tenant("k1", "key", Some("same"), &json!({"n": 1}))
        .await
        .unwrap();
    let put = s
        .put_tenant("k2", "key", Some("same"), &json!({"n": 2}))
        .await
        .unwrap_err();
    assert!(put.is_conflict(), "{put}");
    let insert = s
        .insert_tenant("k3", "key", Some("same"), &json!({"n": 3}))
        .await
        .unwrap_err();
    assert!(insert.is_conflict(), "{insert}");
    // Nothing was written by the refused calls.
    let ids: Vec<_> = s
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["k1"]);
    // The holder may keep its hash; rows without a hash never conflict.
    s.put_tenant("k1", "key", Some("same"), &json!({"n": 4}))
        .await
        .unwrap();
    s.put_tenant("t1", "team", None, &json!({})).await.unwrap();
    s.put_tenant("t2", "team", None, &json!({})).await.unwrap();
    // Once released, the hash is free again.
    s.delete_tenant("k1").await.unwrap();
    s.put_tenant("k2", "key", Some("same"), &json!({"n": 5}))
        .await
        .unwrap();
    assert!(!StoreError::Timeout(std::time::Duration::from_secs(1)).is_conflict());
}

async fn the_fingerprint_changes_on_every_change_and_only_then(db: &TestDb) {
    let s = &db.store;
    let mut last = s.tenants_fingerprint().await.unwrap();
    let mut expect_change = async |changed: bool, what: &str| {
        let now = s.tenants_fingerprint().await.unwrap();
        assert_eq!(now != last, changed, "{what}");
        last = now;
    };
    expect_change(false, "no writes").await;
    s.put_tenant("a", "org", None, &json!({"v": 1}))
        .await
        .unwrap();
    expect_change(true, "a create by put").await;
    s.insert_tenant("b", "org", None, &json!({})).await.unwrap();
    expect_change(true, "a create by insert").await;
    s.put_tenant("a", "org", None, &json!({"v": 1}))
        .await
        .unwrap();
    expect_change(true, "a put of the same document").await;
    s.insert_tenant("a", "org", None, &json!({"v": 2}))
        .await
        .unwrap();
    expect_change(false, "an insert that found the id taken").await;
    let _ = s.put_tenant("c", "key", None, &json!({})).await.unwrap();
    s.put_tenant("d", "key", Some("h"), &json!({}))
        .await
        .unwrap();
    expect_change(true, "two creates").await;
    assert!(
        s.put_tenant("c", "key", Some("h"), &json!({}))
            .await
            .is_err()
    );
    expect_change(false, "a refused write").await;
    s.delete_tenant("a").await.unwrap();
    expect_change(true, "a delete").await;
    assert!(!s.delete_tenant("a").await.unwrap());
    expect_change(false, "a delete of nothing").await;
    // Delete one row and create another: the count is back where it was.
    s.delete_tenant("b").await.unwrap();
    s.put_tenant("e", "org", None, &json!({})).await.unwrap();
    expect_change(true, "a delete and a create").await;
}

/// Two replicas draw versions 1 and 2 but commit out of order, or a row is edited by hand:
/// neither the row count nor the versions need change, yet the fingerprint must.
async fn the_fingerprint_sees_a_late_write_that_keeps_count_and_versions(db: &TestDb) {
    let s = &db.store;
    let a = s
        .put_tenant("a", "team", None, &json!({"n": 1}))
        .await
        .unwrap();
    let b = s
        .put_tenant("b", "team", None, &json!({"n": 2}))
        .await
        .unwrap();
    let before = s.tenants_fingerprint().await.unwrap();
    // Swap the versions and change the data, outside the store's API.
    exec(
        db,
        &format!(
            "UPDATE tenants SET version = {}, data = '{{\"n\": 3}}' WHERE id = 'b';
             UPDATE tenants SET version = {} WHERE id = 'a';",
            a.version, b.version
        ),
    )
    .await;
    let rows = s.tenants().await.unwrap();
    assert_eq!(rows.len(), 2);
    let versions: i64 = rows.iter().map(|r| r.version).sum();
    assert_eq!(versions, a.version + b.version, "same count, same versions");
    assert_eq!(rows[1].data, json!({"n": 3}));
    assert_ne!(s.tenants_fingerprint().await.unwrap(), before);
}
