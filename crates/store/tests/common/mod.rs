//! Test databases: a SQLite file in a temp dir, or a fresh Postgres database per test
//! (dropped afterwards), so tests run in parallel.
//!
//! Postgres is found at `SLUICE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it cannot be reached the Postgres tests
//! skip with a printed reason, except under `CI=true`, where they fail.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use sluice_store::{Backend, Store};
use sqlx::Connection;

/// A store for one test; its database goes away on drop.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    cleanup: Option<Cleanup>,
}

enum Cleanup {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

/// The admin URL of the test Postgres server.
pub fn postgres_admin_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A migrated SQLite store in a fresh temp dir.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sluice.db").display());
    let store = Store::connect(&url).await.unwrap();
    TestDb {
        store,
        url,
        cleanup: Some(Cleanup::Sqlite(dir)),
    }
}

/// A migrated store in a fresh Postgres database, or `None` (after printing why) when
/// Postgres is unreachable outside CI.
pub async fn postgres(test: &str) -> Option<TestDb> {
    let admin = postgres_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin).await {
        Ok(conn) => conn,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("Postgres is required under CI=true but {admin} is unreachable: {e}");
            }
            eprintln!("skipping {test} on Postgres: {admin} is unreachable ({e})");
            return None;
        }
    };
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "sluice_test_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    let url = with_database(&admin, &name);
    let store = Store::connect(&url).await.unwrap();
    Some(TestDb {
        store,
        url,
        cleanup: Some(Cleanup::Postgres { admin, name }),
    })
}

/// Runs `sql` on the test database over a connection of its own, bypassing the store (to
/// write what the store's API would not, such as a version of one's choosing).
pub async fn exec(db: &TestDb, sql: &str) {
    match db.store.backend() {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
    }
}

/// `url` pointing at database `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let root = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    format!("{root}/{name}{query}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(Cleanup::Postgres { admin, name }) = self.cleanup.take() else {
            return;
        };
        // The test's runtime may be gone or busy; drop the database from a thread of its own.
        // FORCE ends the store's pooled connections.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Runs each listed `async fn name(db: &TestDb)` of the including file against SQLite and
/// against Postgres, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::common::sqlite().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = $crate::common::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&db).await;
                }
            )*
        }
    };
}
