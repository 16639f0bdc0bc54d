//! Sluice's store: the request log, the spend ledger, the tenancy documents (keys, teams,
//! users, orgs) and operator events (budget alerts) in SQLite or Postgres.
//!
//! [`Store`] wraps one sqlx pool of either backend. Both backends carry the same schema,
//! written once per dialect under `migrations/sqlite/` and `migrations/postgres/` and applied
//! by sqlx's migrator (embedded in the binary, checksummed, under an advisory lock on
//! Postgres so replicas can start together). SQLite runs in WAL mode so readers never wait
//! for the writer; Postgres uses a pool that connects lazily, so a gateway whose database is
//! down still starts. Every timestamp is an integer of unix milliseconds and JSON columns
//! are text (SQLite) or JSONB (Postgres), which keeps the dependency tree free of date and
//! JSON features. Queries are built with `QueryBuilder` at run time (no compile-time macros)
//! and dispatched per backend by a small macro, so each statement is written once.
//!
//! Requests never wait for the store. [`LogSink`] is the request path's only contact: a
//! bounded queue with a non-blocking `try_send`. A background [`LogWriter`] drains it in
//! multi-row batches (every `batch_interval`, or sooner once `batch_size` records wait). When
//! the queue is full or the store fails, records go to an append-only JSON-lines
//! [`Journal`] on local disk and are replayed once the store answers again (and at startup);
//! inserts are idempotent (`ON CONFLICT DO NOTHING` on the id and arrival time), so a replay
//! after an ambiguous failure never duplicates. A record is only lost if the process dies
//! while it sits in memory: at most one batch interval of records.
//!
//! Spend, errors and cache outcomes are summed per UTC hour as records are written
//! (`spend_hourly`, in the insert's own transaction and only for rows actually inserted), and
//! so are latency histograms (`latency_hourly`, fixed log-scale bins), so spend reports and
//! the dashboard never scan the log and outlive its retention. Both are kept per UTC day
//! too (`spend_daily`, `latency_daily`), so a sum over weeks reads days, not hours.
//!
//! Tenancy documents are JSON rows the gateway caches in memory; a change counter kept by
//! triggers gives replicas a fingerprint that no committed write can leave unchanged.

mod events;
mod journal;
mod latency;
mod logs;
mod record;
mod responses;
mod rollup;
mod spend;
mod tenants;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use events::EventRow;
pub use journal::Journal;
pub use latency::{Histogram, Latency};
pub use logs::{LogQuery, StatusFilter};
pub use record::{Api, AttemptRecord, LogRecord, UsageSource};
pub use spend::{SpendDim, SpendQuery, SpendRow};
pub use tenants::{TenantRow, TenantsFingerprint};
pub use writer::{LogSink, LogStats, LogWriter, RecordStore, WriterConfig, spawn_pruner};

/// How long a request for a pooled connection may wait.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A Postgres server.
    Postgres,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is neither `sqlite://…` nor `postgres://…`, or does not parse.
    #[error("invalid store URL: {0}")]
    Url(String),
    /// Applying the migrations failed.
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database failed or could not be reached.
    #[error("store error: {0}")]
    Db(#[from] sqlx::Error),
    /// The database did not answer in time.
    #[error("the store did not answer within {0:?}")]
    Timeout(Duration),
}

impl StoreError {
    /// Whether the database refused the data itself (a constraint or a value it cannot
    /// store), as opposed to being unreachable or busy: retrying the same rows cannot help.
    pub fn is_data_error(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => {
                use sqlx::error::ErrorKind;
                if !matches!(e.kind(), ErrorKind::Other) {
                    return true;
                }
                let code = e.code();
                let code = code.as_deref().unwrap_or_default();
                // Postgres SQLSTATE class 22 (data exception), 23 (integrity); SQLite TOOBIG,
                // MISMATCH and RANGE.
                code.starts_with("22")
                    || code.starts_with("23")
                    || matches!(code, "18" | "20" | "25")
            }
            StoreError::Db(sqlx::Error::Encode(_) | sqlx::Error::ColumnDecode { .. }) => true,
            _ => false,
        }
    }

    /// Whether a value that must be unique is taken by another row: a tenant's `key_hash`
    /// already belongs to a different id.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Db(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// The connection pool of either backend.
#[derive(Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle to the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Arc<Pool>,
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$store`'s backend, so the same
/// statement code is compiled once for each.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &*$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

impl Store {
    /// Opens `url` (`sqlite://path` or `postgres://…`) without touching the database: the
    /// pool connects on first use, so this only fails on a malformed URL. A SQLite file is
    /// created on first use if missing. Call [`Store::migrate`] before using it.
    pub fn open(url: &str) -> Result<Store, StoreError> {
        let pool = match backend_of(url)? {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Url(e.to_string()))?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .disable_statement_logging();
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(4)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_lazy_with(options),
                )
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Url(e.to_string()))?
                    .application_name("sluice")
                    .disable_statement_logging();
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(8)
                        .acquire_timeout(ACQUIRE_TIMEOUT)
                        .connect_lazy_with(options),
                )
            }
        };
        Ok(Store {
            pool: Arc::new(pool),
        })
    }

    /// Opens `url` and applies the migrations; fails when the database cannot be reached.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = Store::open(url)?;
        store.migrate().await?;
        Ok(store)
    }

    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        match &*self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies the migrations that have not been applied yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let source = Embedded(match self.backend() {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        });
        let migrator = Migrator::new(source).await?;
        with_pool!(self, pool => migrator.run(pool).await?);
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every pooled connection (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}

/// The backend a store URL names.
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(StoreError::Url(
            "expected sqlite://… or postgres://…".to_owned(),
        ))
    }
}

/// One migration: version, description, SQL.
type Embed = (i64, &'static str, &'static str);

const SQLITE_MIGRATIONS: &[Embed] = &[
    (
        1,
        "request logs",
        include_str!("../migrations/sqlite/0001_request_logs.sql"),
    ),
    (
        2,
        "tenancy",
        include_str!("../migrations/sqlite/0002_tenancy.sql"),
    ),
    (
        3,
        "spend",
        include_str!("../migrations/sqlite/0003_spend.sql"),
    ),
    (
        4,
        "events",
        include_str!("../migrations/sqlite/0004_events.sql"),
    ),
    (
        5,
        "cache score",
        include_str!("../migrations/sqlite/0005_cache_score.sql"),
    ),
    (
        6,
        "dashboard",
        include_str!("../migrations/sqlite/0006_dashboard.sql"),
    ),
    (
        7,
        "responses",
        include_str!("../migrations/sqlite/0007_responses.sql"),
    ),
    (
        8,
        "log order index",
        include_str!("../migrations/sqlite/0008_log_order_index.sql"),
    ),
    (
        9,
        "daily ledger",
        include_str!("../migrations/sqlite/0009_daily_ledger.sql"),
    ),
];

const POSTGRES_MIGRATIONS: &[Embed] = &[
    (
        1,
        "request logs",
        include_str!("../migrations/postgres/0001_request_logs.sql"),
    ),
    (
        2,
        "tenancy",
        include_str!("../migrations/postgres/0002_tenancy.sql"),
    ),
    (
        3,
        "spend",
        include_str!("../migrations/postgres/0003_spend.sql"),
    ),
    (
        4,
        "events",
        include_str!("../migrations/postgres/0004_events.sql"),
    ),
    (
        5,
        "cache score",
        include_str!("../migrations/postgres/0005_cache_score.sql"),
    ),
    (
        6,
        "dashboard",
        include_str!("../migrations/postgres/0006_dashboard.sql"),
    ),
    (
        7,
        "responses",
        include_str!("../migrations/postgres/0007_responses.sql"),
    ),
    (
        8,
        "log order index",
        include_str!("../migrations/postgres/0008_log_order_index.sql"),
    ),
    (
        9,
        "daily ledger",
        include_str!("../migrations/postgres/0009_daily_ledger.sql"),
    ),
];

/// Migrations compiled into the binary.
#[derive(Debug)]
struct Embedded(&'static [Embed]);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> futures_util::future::BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        let migrations = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    (*description).into(),
                    MigrationType::Simple,
                    (*sql).into(),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(backend_of("sqlite://x.db").ok(), Some(Backend::Sqlite));
        assert_eq!(
            backend_of("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            backend_of("postgresql://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(backend_of("mysql://u@h/db").is_err());
        assert!(Store::open("redis://h").is_err());
    }

    #[test]
    fn both_migration_sets_have_the_same_versions() {
        let versions = |m: &[Embed]| m.iter().map(|(v, d, _)| (*v, *d)).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE_MIGRATIONS), versions(POSTGRES_MIGRATIONS));
    }
}
