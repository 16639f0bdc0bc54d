//! Request log statements: batched inserts (which also feed the spend ledger), filtered
//! newest-first queries with a keyset cursor, lookup by id, and pruning in small batches.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::{QueryBuilder, Row};

use crate::latency;
use crate::record::{Api, AttemptRecord, LogRecord, UsageSource};
use crate::rollup::Grain;
use crate::spend;
use crate::{Backend, Store, StoreError, with_pool};

/// Rows per `INSERT` statement: 41 parameters each stays under SQLite's 32,766 limit.
const ROWS_PER_INSERT: usize = 400;

/// Every column, in insert order.
const COLUMNS: &str = "id, received_at, first_byte_at, done_at, api, method, path, key_id, \
    team_id, org_id, user_id, tags, requested_model, resolved_model, variant, rule, provider, \
    upstream_model, attempts, status, error_type, error_code, error_message, stream, ttft_ms, \
    duration_ms, prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, \
    reasoning_tokens, usage_source, cost_usd, saved_usd, cache, guardrails, client_ip, \
    user_agent, request_body, response_body, cache_score";

/// Which statuses a query keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Exactly this status.
    Exact(u16),
    /// A class: `2` for 2xx, `4` for 4xx, `5` for 5xx.
    Class(u16),
    /// Every status of 400 and above (499 included).
    Error,
}

impl StatusFilter {
    /// Parses `200`, `4xx`, `5xx` or `error`.
    pub fn parse(text: &str) -> Option<StatusFilter> {
        let text = text.trim().to_ascii_lowercase();
        if text == "error" {
            return Some(StatusFilter::Error);
        }
        if let Some(class) = text.strip_suffix("xx") {
            return class
                .parse::<u16>()
                .ok()
                .filter(|c| (1..=5).contains(c))
                .map(StatusFilter::Class);
        }
        text.parse::<u16>()
            .ok()
            .filter(|s| (100..=599).contains(s))
            .map(StatusFilter::Exact)
    }
}

/// Filters of a log query; every set filter must hold. Results are newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct LogQuery {
    /// The requested model or the model group it resolved to.
    pub model: Option<String>,
    /// The provider that answered.
    pub provider: Option<String>,
    /// Status filter.
    pub status: Option<StatusFilter>,
    /// Client API.
    pub api: Option<Api>,
    /// End user.
    pub user: Option<String>,
    /// Virtual key id.
    pub key: Option<String>,
    /// Team id.
    pub team: Option<String>,
    /// Org id.
    pub org: Option<String>,
    /// Cache outcome (`HIT`, `MISS`, `BYPASS`, …).
    pub cache: Option<String>,
    /// A tag that must have this value: `(name, value)`.
    pub tag: Option<(String, String)>,
    /// Cost at least this (USD).
    pub min_cost: Option<f64>,
    /// Duration at least this (milliseconds).
    pub min_duration_ms: Option<u64>,
    /// Received at or after (unix ms).
    pub from: Option<i64>,
    /// Received before (unix ms).
    pub to: Option<i64>,
    /// Keyset cursor: only records older than this `(received_at, id)`.
    pub before: Option<(i64, String)>,
    /// Most records returned.
    pub limit: u32,
}

impl Default for LogQuery {
    fn default() -> Self {
        Self {
            model: None,
            provider: None,
            status: None,
            api: None,
            user: None,
            key: None,
            team: None,
            org: None,
            cache: None,
            tag: None,
            min_cost: None,
            min_duration_ms: None,
            from: None,
            to: None,
            before: None,
            limit: 50,
        }
    }
}

impl Store {
    /// Inserts `records` in one transaction of multi-row statements, and adds the ones
    /// inserted to the spend ledger and the latency histograms, hourly and daily, in the
    /// same transaction. A record already stored (same id and arrival time, e.g. from a
    /// journal replay) is skipped, and so adds no spend.
    /// Returns the number of rows inserted.
    pub async fn insert_logs(&self, records: &[LogRecord]) -> Result<u64, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        let clean: Vec<_> = records.iter().map(LogRecord::sanitized).collect();
        let json = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => "::jsonb",
        };
        // The (id, arrival time) of every row inserted.
        let mut inserted = HashSet::new();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for chunk in clean.chunks(ROWS_PER_INSERT) {
                let mut q = QueryBuilder::new(format!("INSERT INTO request_logs ({COLUMNS}) "));
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.id.as_str())
                        .push_bind(r.received_at)
                        .push_bind(r.first_byte_at)
                        .push_bind(r.done_at)
                        .push_bind(r.api.name())
                        .push_bind(r.method.as_str())
                        .push_bind(r.path.as_str())
                        .push_bind(r.key.as_deref())
                        .push_bind(r.team.as_deref())
                        .push_bind(r.org.as_deref())
                        .push_bind(r.user.as_deref())
                        .push_bind(r.tags.as_ref().map(Value::to_string))
                        .push_unseparated(json)
                        .push_bind(r.requested_model.as_deref())
                        .push_bind(r.resolved_model.as_deref())
                        .push_bind(r.variant.as_deref())
                        .push_bind(r.rule.as_deref())
                        .push_bind(r.provider.as_deref())
                        .push_bind(r.upstream_model.as_deref())
                        .push_bind(attempts_json(&r.attempts))
                        .push_unseparated(json)
                        .push_bind(i32::from(r.status))
                        .push_bind(r.error_type.as_deref())
                        .push_bind(r.error_code.as_deref())
                        .push_bind(r.error_message.as_deref())
                        .push_bind(r.stream)
                        .push_bind(r.ttft_ms.map(to_i64))
                        .push_bind(to_i64(r.duration_ms))
                        .push_bind(r.prompt_tokens.map(to_i64))
                        .push_bind(r.completion_tokens.map(to_i64))
                        .push_bind(r.cached_tokens.map(to_i64))
                        .push_bind(r.cache_write_tokens.map(to_i64))
                        .push_bind(r.reasoning_tokens.map(to_i64))
                        .push_bind(r.usage_source.name())
                        .push_bind(r.cost_usd)
                        .push_bind(r.saved_usd)
                        .push_bind(r.cache.as_deref())
                        .push_bind(r.guardrails.as_ref().map(Value::to_string))
                        .push_unseparated(json)
                        .push_bind(r.client_ip.as_deref())
                        .push_bind(r.user_agent.as_deref())
                        .push_bind(r.request_body.as_deref())
                        .push_bind(r.response_body.as_deref())
                        .push_bind(r.cache_score);
                });
                q.push(" ON CONFLICT (id, received_at) DO NOTHING RETURNING id, received_at");
                // Statements whose text depends on the batch (its row count) are not kept
                // prepared: each size would stay in the connection's statement cache, with
                // its own large plan, and the process would grow by tens of megabytes.
                for row in q.build().persistent(false).fetch_all(&mut *tx).await? {
                    inserted.insert((row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?));
                }
            }
            let n = inserted.len();
            // Each inserted row once: a batch may carry the same record twice.
            let fresh: Vec<&LogRecord> = clean.iter().map(|r| &**r).filter(|r| {
                inserted.remove(&(r.id.clone(), r.received_at))
            }).collect();
            // Tables in one fixed order, each one's rows in key order: no deadlocks.
            for grain in Grain::BOTH {
                let ledger: Vec<_> =
                    spend::ledger(fresh.iter().copied(), grain).into_iter().collect();
                let (head, tail) = spend::upsert(grain);
                for chunk in ledger.chunks(spend::ROWS_PER_UPSERT) {
                    let mut q = QueryBuilder::new(&head);
                    q.push_values(chunk, |mut b, ((dim, bucket, value), s)| {
                        b.push_bind(*dim)
                            .push_bind(*bucket)
                            .push_bind(value.as_str())
                            .push_bind(s.requests)
                            .push_bind(s.prompt_tokens)
                            .push_bind(s.completion_tokens)
                            .push_bind(s.cached_tokens)
                            .push_bind(s.cost_nano)
                            .push_bind(s.saved_nano)
                            .push_bind(s.errors)
                            .push_bind(s.cache_hits)
                            .push_bind(s.cache_lookups);
                    });
                    q.push(&tail);
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
            }
            for grain in Grain::BOTH {
                let histograms: Vec<_> =
                    latency::histograms(fresh.iter().copied(), grain).into_iter().collect();
                let (head, tail) = latency::upsert(grain);
                for chunk in histograms.chunks(latency::ROWS_PER_UPSERT) {
                    let mut q = QueryBuilder::new(&head);
                    q.push_values(chunk, |mut b, ((dim, bucket, value, metric, bin), n)| {
                        b.push_bind(*dim)
                            .push_bind(*bucket)
                            .push_bind(value.as_str())
                            .push_bind(metric.name())
                            .push_bind(i32::from(*bin))
                            .push_bind(*n);
                    });
                    q.push(&tail);
                    q.build().persistent(false).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(u64::try_from(n).unwrap_or(u64::MAX))
        })
    }

    /// The newest record with request id `id`.
    pub async fn log(&self, id: &str) -> Result<Option<LogRecord>, StoreError> {
        let columns = select_columns(self.backend());
        let record = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(format!("SELECT {columns} FROM request_logs WHERE id = "));
            q.push_bind(id);
            q.push(" ORDER BY received_at DESC LIMIT 1");
            match q.build().fetch_optional(pool).await? {
                Some(row) => Some(decode_row!(row)),
                None => None,
            }
        });
        Ok(record)
    }

    /// The records matching `query`, newest first.
    pub async fn query_logs(&self, query: &LogQuery) -> Result<Vec<LogRecord>, StoreError> {
        let backend = self.backend();
        let columns = select_columns(backend);
        let records = with_pool!(self, pool => {
            let mut q = QueryBuilder::new(format!("SELECT {columns} FROM request_logs WHERE 1 = 1"));
            if let Some(model) = &query.model {
                q.push(" AND (resolved_model = ").push_bind(model.as_str());
                q.push(" OR requested_model = ").push_bind(model.as_str()).push(")");
            }
            if let Some(provider) = &query.provider {
                q.push(" AND provider = ").push_bind(provider.as_str());
            }
            match query.status {
                Some(StatusFilter::Exact(s)) => {
                    q.push(" AND status = ").push_bind(i32::from(s));
                }
                // A range of statuses is filtered while the time index is read newest first,
                // not read from the status index (which would sort every match): `+status`
                // keeps SQLite off that index; Postgres plans by cost either way.
                Some(StatusFilter::Class(c)) => {
                    q.push(" AND +status >= ").push_bind(i32::from(c) * 100);
                    q.push(" AND +status < ").push_bind(i32::from(c) * 100 + 100);
                }
                Some(StatusFilter::Error) => {
                    q.push(" AND +status >= 400");
                }
                None => {}
            }
            if let Some(api) = query.api {
                q.push(" AND api = ").push_bind(api.name());
            }
            for (column, value) in [
                ("user_id", &query.user),
                ("key_id", &query.key),
                ("team_id", &query.team),
                ("org_id", &query.org),
                ("cache", &query.cache),
            ] {
                if let Some(value) = value {
                    q.push(format!(" AND {column} = ")).push_bind(value.as_str());
                }
            }
            if let Some((name, value)) = &query.tag {
                match backend {
                    Backend::Sqlite => {
                        // A quoted JSON path, so any tag name is one key.
                        let path = format!("$.\"{}\"", name.replace('"', "\\\""));
                        q.push(" AND json_extract(tags, ").push_bind(path).push(")");
                    }
                    Backend::Postgres => {
                        q.push(" AND (tags ->> ").push_bind(name.as_str()).push(")");
                    }
                }
                q.push(" = ").push_bind(value.as_str());
            }
            if let Some(cost) = query.min_cost {
                q.push(" AND cost_usd >= ").push_bind(cost);
            }
            if let Some(ms) = query.min_duration_ms {
                q.push(" AND duration_ms >= ")
                    .push_bind(i64::try_from(ms).unwrap_or(i64::MAX));
            }
            if let Some(from) = query.from {
                q.push(" AND received_at >= ").push_bind(from);
            }
            if let Some(to) = query.to {
                q.push(" AND received_at < ").push_bind(to);
            }
            if let Some((at, id)) = &query.before {
                // The redundant bound gives the planner a range on the time index; without
                // it SQLite merges two index scans and sorts the whole range.
                q.push(" AND received_at <= ").push_bind(*at);
                q.push(" AND (received_at < ").push_bind(*at);
                q.push(" OR (received_at = ").push_bind(*at);
                q.push(" AND id < ").push_bind(id.as_str()).push("))");
            }
            q.push(" ORDER BY received_at DESC, id DESC LIMIT ");
            q.push_bind(i64::from(query.limit));
            let rows = q.build().fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(decode_row!(row));
            }
            out
        });
        Ok(records)
    }

    /// Deletes records received before `older_than` (unix ms) and, with `max_rows`, the
    /// oldest records beyond that count, `batch` rows per statement so no lock is held for
    /// long. The spend ledger keeps what the deleted records added. Returns the number of
    /// rows deleted.
    pub async fn prune_logs(
        &self,
        older_than: Option<i64>,
        max_rows: Option<u64>,
        batch: u32,
    ) -> Result<u64, StoreError> {
        let mut cutoff = older_than;
        if let Some(max) = max_rows {
            // The arrival time of the newest record past the limit; it and older ones go.
            let over = with_pool!(self, pool => {
                let mut q = QueryBuilder::new(
                    "SELECT received_at FROM request_logs ORDER BY received_at DESC LIMIT 1 OFFSET ",
                );
                q.push_bind(to_i64(max));
                match q.build().fetch_optional(pool).await? {
                    Some(row) => Some(row.try_get::<i64, _>(0)?),
                    None => None,
                }
            });
            if let Some(at) = over {
                let past_limit = at.saturating_add(1);
                cutoff = Some(cutoff.map_or(past_limit, |c| c.max(past_limit)));
            }
        }
        let Some(cutoff) = cutoff else {
            return Ok(0);
        };
        let mut deleted = 0;
        loop {
            let n = with_pool!(self, pool => {
                let mut q = QueryBuilder::new(
                    "DELETE FROM request_logs WHERE (id, received_at) IN \
                     (SELECT id, received_at FROM request_logs WHERE received_at < ",
                );
                q.push_bind(cutoff);
                q.push(" ORDER BY received_at LIMIT ").push_bind(i64::from(batch)).push(")");
                q.build().execute(pool).await?.rows_affected()
            });
            deleted += n;
            if n < u64::from(batch) {
                return Ok(deleted);
            }
            // Let writers in between two batches.
            tokio::task::yield_now().await;
        }
    }

    /// Number of stored records.
    pub async fn count_logs(&self) -> Result<u64, StoreError> {
        let n: i64 = with_pool!(self, pool => {
            sqlx::query("SELECT COUNT(*) FROM request_logs")
                .fetch_one(pool)
                .await?
                .try_get(0)?
        });
        Ok(u64::try_from(n).unwrap_or_default())
    }
}

/// The select list; Postgres hands JSONB back as text.
fn select_columns(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => COLUMNS.to_owned(),
        Backend::Postgres => COLUMNS
            .replace("tags,", "tags::text AS tags,")
            .replace("attempts,", "attempts::text AS attempts,")
            .replace("guardrails,", "guardrails::text AS guardrails,"),
    }
}

/// Decodes one row of the select list into a [`LogRecord`], with `?` on column errors.
macro_rules! decode_row {
    ($row:expr) => {{
        let row = &$row;
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str::<Value>(&t).ok());
        let api: String = row.try_get("api")?;
        let attempts: String = row.try_get("attempts")?;
        let status: i32 = row.try_get("status")?;
        let usage_source: String = row.try_get("usage_source")?;
        let ttft_ms: Option<i64> = row.try_get("ttft_ms")?;
        let duration_ms: i64 = row.try_get("duration_ms")?;
        let tokens = |name: &str| -> Result<Option<u64>, sqlx::Error> {
            Ok(row.try_get::<Option<i64>, _>(name)?.map(to_u64))
        };
        LogRecord {
            id: row.try_get("id")?,
            received_at: row.try_get("received_at")?,
            first_byte_at: row.try_get("first_byte_at")?,
            done_at: row.try_get("done_at")?,
            api: Api::from_name(&api),
            method: row.try_get("method")?,
            path: row.try_get("path")?,
            key: row.try_get("key_id")?,
            team: row.try_get("team_id")?,
            org: row.try_get("org_id")?,
            user: row.try_get("user_id")?,
            tags: json(row.try_get("tags")?),
            requested_model: row.try_get("requested_model")?,
            resolved_model: row.try_get("resolved_model")?,
            variant: row.try_get("variant")?,
            rule: row.try_get("rule")?,
            provider: row.try_get("provider")?,
            upstream_model: row.try_get("upstream_model")?,
            attempts: serde_json::from_str::<Vec<AttemptRecord>>(&attempts).unwrap_or_default(),
            status: u16::try_from(status).unwrap_or_default(),
            error_type: row.try_get("error_type")?,
            error_code: row.try_get("error_code")?,
            error_message: row.try_get("error_message")?,
            stream: row.try_get("stream")?,
            ttft_ms: ttft_ms.map(to_u64),
            duration_ms: to_u64(duration_ms),
            prompt_tokens: tokens("prompt_tokens")?,
            completion_tokens: tokens("completion_tokens")?,
            cached_tokens: tokens("cached_tokens")?,
            cache_write_tokens: tokens("cache_write_tokens")?,
            reasoning_tokens: tokens("reasoning_tokens")?,
            usage_source: UsageSource::from_name(&usage_source),
            cost_usd: row.try_get("cost_usd")?,
            saved_usd: row.try_get("saved_usd")?,
            cache: row.try_get("cache")?,
            guardrails: json(row.try_get("guardrails")?),
            client_ip: row.try_get("client_ip")?,
            user_agent: row.try_get("user_agent")?,
            request_body: row.try_get("request_body")?,
            response_body: row.try_get("response_body")?,
            cache_score: row.try_get("cache_score")?,
        }
    }};
}
use decode_row;

fn attempts_json(attempts: &[AttemptRecord]) -> String {
    serde_json::to_string(attempts).unwrap_or_else(|_| "[]".to_owned())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_parse() {
        assert_eq!(StatusFilter::parse("200"), Some(StatusFilter::Exact(200)));
        assert_eq!(StatusFilter::parse("5xx"), Some(StatusFilter::Class(5)));
        assert_eq!(StatusFilter::parse("4XX"), Some(StatusFilter::Class(4)));
        assert_eq!(StatusFilter::parse("error"), Some(StatusFilter::Error));
        for bad in ["", "ok", "9xx", "42", "600", "xx"] {
            assert_eq!(StatusFilter::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn postgres_reads_json_as_text() {
        let pg = select_columns(Backend::Postgres);
        assert!(pg.contains("tags::text AS tags,"));
        assert!(pg.contains("attempts::text AS attempts,"));
        assert!(pg.contains("guardrails::text AS guardrails,"));
        assert_eq!(select_columns(Backend::Sqlite), COLUMNS);
    }
}
