//! Tenancy documents: virtual keys, teams, users and orgs stored as JSON rows, and the
//! fingerprint that lets a replica notice the writes of another.
//!
//! Every write gives the row a fresh `version`: the `tenant_versions` sequence on Postgres;
//! on SQLite, whose writers take turns, one past both the change counter and the highest
//! version, so a deleted row's version is never handed out again. The fingerprint does not
//! rest on versions, though: replicas draw sequence values in one order and may commit in
//! another, so the highest version (or a version sum) can miss a row that lands late with a
//! lower one. Instead triggers add one to the `tenant_changes` counter for every inserted,
//! updated or deleted row, inside the writing transaction and whoever writes. On Postgres
//! that row's lock makes concurrent writers commit one after the other, so the counter a
//! reader sees is exactly the number of changes committed so far: any change committed after
//! one reading makes the next reading differ. The row count and version sum ride along only
//! for the case where the counter itself goes back (a restored backup, a recreated table).

use serde_json::Value;
use sqlx::{QueryBuilder, Row};

use crate::{Backend, Store, StoreError, unix_ms, with_pool};

/// One stored tenancy document.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRow {
    /// The document's id.
    pub id: String,
    /// `key`, `team`, `user` or `org`.
    pub kind: String,
    /// Keys only: the hash a presented key is looked up by; unique across rows.
    pub key_hash: Option<String>,
    /// The document.
    pub data: Value,
    /// Assigned by the store on every write, greater than every version assigned before.
    pub version: i64,
    /// When the row was first stored (unix ms).
    pub created_at: i64,
    /// When the row was last written (unix ms).
    pub updated_at: i64,
}

/// A reading of the tenants table that differs from an earlier reading whenever a row has
/// been inserted, updated or deleted in between. Read it before the rows it guards, so a
/// change that lands between the two shows up at the next reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantsFingerprint {
    changes: i64,
    rows: i64,
    version_sum: i64,
}

/// The returned (and selected) columns; Postgres hands JSONB back as text.
fn columns(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "id, kind, key_hash, data, version, created_at, updated_at",
        Backend::Postgres => {
            "id, kind, key_hash, data::text AS data, version, created_at, updated_at"
        }
    }
}

/// Decodes one row of [`columns`] into a [`TenantRow`], with `?` on errors.
macro_rules! tenant_row {
    ($row:expr) => {{
        let row = &$row;
        let data: String = row.try_get("data")?;
        TenantRow {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            key_hash: row.try_get("key_hash")?,
            data: serde_json::from_str(&data)
                .map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        }
    }};
}

/// How a write ends when the id is taken.
#[derive(Clone, Copy)]
enum OnConflict {
    Replace,
    Skip,
}

impl Store {
    /// Inserts or replaces the row with this id (keeping its `created_at`), with a fresh
    /// version greater than every existing one; returns the stored row. A `key_hash` that
    /// another id holds is an error for which [`StoreError::is_conflict`] is true.
    pub async fn put_tenant(
        &self,
        id: &str,
        kind: &str,
        key_hash: Option<&str>,
        data: &Value,
    ) -> Result<TenantRow, StoreError> {
        let row = self
            .write_tenant(id, kind, key_hash, data, OnConflict::Replace)
            .await?;
        // An upsert always returns its row.
        row.ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    /// Inserts the row only if no row has this id (for creates): `Ok(None)` when the id
    /// exists. A taken `key_hash` is an error, as for [`Store::put_tenant`].
    pub async fn insert_tenant(
        &self,
        id: &str,
        kind: &str,
        key_hash: Option<&str>,
        data: &Value,
    ) -> Result<Option<TenantRow>, StoreError> {
        self.write_tenant(id, kind, key_hash, data, OnConflict::Skip)
            .await
    }

    async fn write_tenant(
        &self,
        id: &str,
        kind: &str,
        key_hash: Option<&str>,
        data: &Value,
        on_conflict: OnConflict,
    ) -> Result<Option<TenantRow>, StoreError> {
        let backend = self.backend();
        let (version, json) = match backend {
            Backend::Sqlite => (
                "MAX((SELECT n FROM tenant_changes WHERE id = 1), \
                 (SELECT COALESCE(MAX(version), 0) FROM tenants)) + 1",
                "",
            ),
            Backend::Postgres => ("nextval('tenant_versions')", "::jsonb"),
        };
        let now = unix_ms();
        let row = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(
                "INSERT INTO tenants (id, kind, key_hash, data, version, created_at, updated_at) \
                 VALUES (",
            );
            q.push_bind(id).push(", ").push_bind(kind).push(", ").push_bind(key_hash);
            q.push(", ").push_bind(data.to_string()).push(json);
            q.push(format!(", {version}, ")).push_bind(now).push(", ").push_bind(now);
            q.push(match on_conflict {
                OnConflict::Replace => {
                    ") ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, \
                     key_hash = excluded.key_hash, data = excluded.data, \
                     version = excluded.version, updated_at = excluded.updated_at"
                }
                OnConflict::Skip => ") ON CONFLICT (id) DO NOTHING",
            });
            q.push(format!(" RETURNING {}", columns(backend)));
            match q.build().fetch_optional(pool).await? {
                Some(row) => Some(tenant_row!(row)),
                None => None,
            }
        });
        Ok(row)
    }

    /// The row with this id.
    pub async fn tenant(&self, id: &str) -> Result<Option<TenantRow>, StoreError> {
        let columns = columns(self.backend());
        let row = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(format!("SELECT {columns} FROM tenants WHERE id = "));
            q.push_bind(id);
            match q.build().fetch_optional(pool).await? {
                Some(row) => Some(tenant_row!(row)),
                None => None,
            }
        });
        Ok(row)
    }

    /// Every row, by id.
    pub async fn tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
        let columns = columns(self.backend());
        let rows = with_pool!(self, pool => {
            let rows = sqlx::query(&format!("SELECT {columns} FROM tenants ORDER BY id"))
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(tenant_row!(row));
            }
            out
        });
        Ok(rows)
    }

    /// Deletes the row with this id; false when there was none.
    pub async fn delete_tenant(&self, id: &str) -> Result<bool, StoreError> {
        let deleted = with_pool!(self, pool => {
            let mut q = QueryBuilder::new("DELETE FROM tenants WHERE id = ");
            q.push_bind(id);
            q.build().execute(pool).await?.rows_affected()
        });
        Ok(deleted > 0)
    }

    /// The tenants table's fingerprint now: one cheap statement (a one-row read and an
    /// aggregate over the small tenants table). Poll it and reload the rows when it differs
    /// from the last reading; no committed change can leave it equal (see the module docs).
    pub async fn tenants_fingerprint(&self) -> Result<TenantsFingerprint, StoreError> {
        let fingerprint = with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT (SELECT n FROM tenant_changes WHERE id = 1), COUNT(*), \
                 CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM tenants",
            )
            .fetch_one(pool)
            .await?;
            TenantsFingerprint {
                changes: row.try_get(0)?,
                rows: row.try_get(1)?,
                version_sum: row.try_get(2)?,
            }
        });
        Ok(fingerprint)
    }
}
