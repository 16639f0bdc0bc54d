//! Events: things the gateway noticed and an operator may want to see later, such as a
//! budget crossing its alert threshold. Each is one row with a time, a kind, the scope it
//! concerns and a JSON document; they are few (at most one alert per budget and period), so
//! they are kept until removed by hand.

use serde_json::Value;
use sqlx::{QueryBuilder, Row};

use crate::{Backend, Store, StoreError, with_pool};

/// One stored event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Assigned by the store, increasing.
    pub id: i64,
    /// When it happened (unix ms).
    pub at: i64,
    /// What happened, e.g. `budget_alert`.
    pub kind: String,
    /// Whose event it is, e.g. `key:key_…` or `team:…`.
    pub scope: String,
    /// The details.
    pub data: Value,
}

impl Store {
    /// Records an event; returns its id.
    pub async fn insert_event(
        &self,
        at: i64,
        kind: &str,
        scope: &str,
        data: &Value,
    ) -> Result<i64, StoreError> {
        let json = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => "::jsonb",
        };
        let id = with_pool!(self, pool => {
            let mut q = QueryBuilder::new("INSERT INTO events (at, kind, scope, data) VALUES (");
            q.push_bind(at).push(", ").push_bind(kind).push(", ").push_bind(scope);
            q.push(", ").push_bind(data.to_string()).push(json);
            q.push(") RETURNING id");
            q.build().fetch_one(pool).await?.try_get::<i64, _>(0)?
        });
        Ok(id)
    }

    /// Events at or after `since` (unix ms), of `kind` when given, newest first, at most
    /// `limit`.
    pub async fn events(
        &self,
        kind: Option<&str>,
        since: i64,
        limit: u32,
    ) -> Result<Vec<EventRow>, StoreError> {
        let data = match self.backend() {
            Backend::Sqlite => "data",
            Backend::Postgres => "data::text AS data",
        };
        let rows = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(format!(
                "SELECT id, at, kind, scope, {data} FROM events WHERE at >= "
            ));
            q.push_bind(since);
            if let Some(kind) = kind {
                q.push(" AND kind = ").push_bind(kind);
            }
            q.push(" ORDER BY at DESC, id DESC LIMIT ").push_bind(i64::from(limit));
            let mut out = Vec::new();
            for row in q.build().fetch_all(pool).await? {
                let data: String = row.try_get("data")?;
                out.push(EventRow {
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    kind: row.try_get("kind")?,
                    scope: row.try_get("scope")?,
                    data: serde_json::from_str(&data)
                        .map_err(|e| StoreError::Db(sqlx::Error::Decode(Box::new(e))))?,
                });
            }
            out
        });
        Ok(rows)
    }
}
