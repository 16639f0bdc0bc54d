//! The spend ledger: requests, tokens and cost per UTC hour and per value of each dimension,
//! summed as log records are written, so spend reports read a few thousand ledger rows
//! rather than millions of log rows. The same sums are kept per UTC day, and a report reads
//! the whole days of its range from those (see [`crate::rollup`]).
//!
//! [`Store::insert_logs`] adds the records it actually inserted to the ledger in the same
//! transaction: a record that a journal replay brings back a second time is not inserted, so
//! it adds nothing to the ledger either. Each record counts once under every dimension it has
//! (key, team, org, user, model, provider, one `name=value` row per tag) and once under
//! `all`/`*`, the grand total. A batch is summed per `(dimension, hour, value)` in Rust first,
//! so it costs one upsert row per group, and the groups go in key order, so two replicas
//! writing the same rows lock them in the same order and cannot deadlock. Each dimension is
//! summed on its own, so a report groups by one dimension and cannot filter by another. The
//! ledger outlives the request log: the log pruner never deletes from it.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use sqlx::{QueryBuilder, Row};

use crate::record::LogRecord;
use crate::rollup::{Grain, push_parts};
use crate::{Backend, Store, StoreError, with_pool};

/// One hour in milliseconds.
pub(crate) const HOUR_MS: i64 = 3_600_000;
/// The dimension and value every record also counts under: the grand total.
pub(crate) const TOTAL: (&str, &str) = ("all", "*");
/// Ledger rows per upsert statement: 12 parameters each.
pub(crate) const ROWS_PER_UPSERT: usize = 1000;

/// The upsert into the spend table of `grain`: the statement's head (rows follow as
/// `VALUES` in its column order) and its tail, which adds to a row that exists.
pub(crate) fn upsert(grain: Grain) -> (String, String) {
    let table = format!("spend_{}", grain.suffix());
    let add: Vec<String> = SUMMED
        .split(", ")
        .map(|c| format!("{c} = {table}.{c} + excluded.{c}"))
        .collect();
    (
        format!("INSERT INTO {table} (dim, bucket, value, {SUMMED}) "),
        format!(
            " ON CONFLICT (dim, bucket, value) DO UPDATE SET {}",
            add.join(", ")
        ),
    )
}

/// A dimension spend is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpendDim {
    /// Virtual key id.
    Key,
    /// Team id.
    Team,
    /// Org id (the team's org).
    Org,
    /// End user.
    User,
    /// The model group the request resolved to, else the model the client sent.
    Model,
    /// The provider that answered.
    Provider,
    /// One tag pair, as `name=value` (a non-string value as its JSON text).
    Tag,
}

impl SpendDim {
    /// Every dimension with its name.
    pub const ALL: [(SpendDim, &'static str); 7] = [
        (SpendDim::Key, "key"),
        (SpendDim::Team, "team"),
        (SpendDim::Org, "org"),
        (SpendDim::User, "user"),
        (SpendDim::Model, "model"),
        (SpendDim::Provider, "provider"),
        (SpendDim::Tag, "tag"),
    ];

    /// The name, e.g. `key`, as stored and as `group_by` takes it.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(dim, _)| *dim == self)
            .map_or("key", |(_, name)| name)
    }

    /// The dimension named `name`.
    pub fn parse(name: &str) -> Option<SpendDim> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(dim, _)| *dim)
    }
}

/// A spend report: the values of one dimension with their sums over a time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendQuery {
    /// The dimension to group by.
    pub group_by: SpendDim,
    /// Unix ms: hours that start at or after this count.
    pub from: i64,
    /// Unix ms: hours that start before this count.
    pub to: i64,
    /// Most rows returned.
    pub limit: u32,
}

/// Sums for one group (a dimension value, or one hour of a series).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendRow {
    /// The dimension value (`*` for the totals of a series over everything).
    pub group: String,
    /// Requests, failed ones and client hang-ups included.
    pub requests: i64,
    /// Prompt (input) tokens.
    pub prompt_tokens: i64,
    /// Completion (output) tokens.
    pub completion_tokens: i64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cached_tokens: i64,
    /// Cost in nano-USD (1e-9 USD).
    pub cost_nano: i64,
    /// What the response cache saved, in nano-USD.
    pub saved_nano: i64,
    /// Requests answered with a status of 400 or above (499 included).
    pub errors: i64,
    /// Requests answered by the response cache (`HIT`, `SEMANTIC-HIT`).
    pub cache_hits: i64,
    /// Requests that looked the response cache up (any cache outcome but `BYPASS`).
    pub cache_lookups: i64,
}

/// The sums of one ledger row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub(crate) requests: i64,
    pub(crate) prompt_tokens: i64,
    pub(crate) completion_tokens: i64,
    pub(crate) cached_tokens: i64,
    pub(crate) cost_nano: i64,
    pub(crate) saved_nano: i64,
    pub(crate) errors: i64,
    pub(crate) cache_hits: i64,
    pub(crate) cache_lookups: i64,
}

impl Sums {
    fn of(r: &LogRecord) -> Sums {
        let tokens = |n: Option<u64>| n.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX));
        Sums {
            requests: 1,
            prompt_tokens: tokens(r.prompt_tokens),
            completion_tokens: tokens(r.completion_tokens),
            cached_tokens: tokens(r.cached_tokens),
            cost_nano: nano(r.cost_usd),
            saved_nano: nano(r.saved_usd),
            errors: i64::from(r.status >= 400),
            cache_hits: i64::from(matches!(r.cache.as_deref(), Some("HIT" | "SEMANTIC-HIT"))),
            cache_lookups: i64::from(r.cache.as_deref().is_some_and(|c| c != "BYPASS")),
        }
    }

    fn add(&mut self, o: &Sums) {
        self.requests = self.requests.saturating_add(o.requests);
        self.prompt_tokens = self.prompt_tokens.saturating_add(o.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(o.completion_tokens);
        self.cached_tokens = self.cached_tokens.saturating_add(o.cached_tokens);
        self.cost_nano = self.cost_nano.saturating_add(o.cost_nano);
        self.saved_nano = self.saved_nano.saturating_add(o.saved_nano);
        self.errors = self.errors.saturating_add(o.errors);
        self.cache_hits = self.cache_hits.saturating_add(o.cache_hits);
        self.cache_lookups = self.cache_lookups.saturating_add(o.cache_lookups);
    }
}

/// USD as nano-USD, rounded; unknown (or not a number) is 0.
fn nano(usd: Option<f64>) -> i64 {
    // `as` saturates out-of-range values and maps NaN to 0.
    usd.map_or(0, |usd| (usd * 1e9).round() as i64)
}

/// A ledger row's key: dimension, hour, value (the table's key order).
pub(crate) type Group = (&'static str, i64, String);

/// The dimension values `r` counts under, the grand total included.
fn values(r: &LogRecord) -> Vec<(&'static str, String)> {
    let mut out = vec![(TOTAL.0, TOTAL.1.to_owned())];
    let model = r.resolved_model.as_ref().or(r.requested_model.as_ref());
    for (dim, value) in [
        (SpendDim::Key, &r.key),
        (SpendDim::Team, &r.team),
        (SpendDim::Org, &r.org),
        (SpendDim::User, &r.user),
        (SpendDim::Model, &model.cloned()),
        (SpendDim::Provider, &r.provider),
    ] {
        if let Some(value) = value {
            out.push((dim.name(), value.clone()));
        }
    }
    if let Some(Value::Object(tags)) = &r.tags {
        for (name, value) in tags {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push((SpendDim::Tag.name(), format!("{name}={value}")));
        }
    }
    out
}

/// `records` summed into ledger rows of `grain`, in key order.
pub(crate) fn ledger<'a>(
    records: impl IntoIterator<Item = &'a LogRecord>,
    grain: Grain,
) -> BTreeMap<Group, Sums> {
    let mut rows: BTreeMap<Group, Sums> = BTreeMap::new();
    for r in records {
        let bucket = grain.bucket(r.received_at);
        let sums = Sums::of(r);
        for (dim, value) in values(r) {
            rows.entry((dim, bucket, value)).or_default().add(&sums);
        }
    }
    rows
}

/// The summed columns of a ledger row, named like [`SpendRow`]'s fields (the upserts' and
/// the selects' column order).
const SUMMED: &str = "requests, prompt_tokens, completion_tokens, cached_tokens, cost_nano, \
    saved_nano, errors, cache_hits, cache_lookups";

/// The sums of a grouped select, named like [`SpendRow`]'s fields.
const SUMS: &str = "CAST(SUM(requests) AS BIGINT) AS requests, \
    CAST(SUM(prompt_tokens) AS BIGINT) AS prompt_tokens, \
    CAST(SUM(completion_tokens) AS BIGINT) AS completion_tokens, \
    CAST(SUM(cached_tokens) AS BIGINT) AS cached_tokens, \
    CAST(SUM(cost_nano) AS BIGINT) AS cost_nano, \
    CAST(SUM(saved_nano) AS BIGINT) AS saved_nano, \
    CAST(SUM(errors) AS BIGINT) AS errors, \
    CAST(SUM(cache_hits) AS BIGINT) AS cache_hits, \
    CAST(SUM(cache_lookups) AS BIGINT) AS cache_lookups";

/// Decodes a row with a `value` column and the columns of [`SUMS`], with `?` on errors.
macro_rules! spend_row {
    ($row:expr) => {{
        let row = &$row;
        SpendRow {
            group: row.try_get("value")?,
            requests: row.try_get("requests")?,
            prompt_tokens: row.try_get("prompt_tokens")?,
            completion_tokens: row.try_get("completion_tokens")?,
            cached_tokens: row.try_get("cached_tokens")?,
            cost_nano: row.try_get("cost_nano")?,
            saved_nano: row.try_get("saved_nano")?,
            errors: row.try_get("errors")?,
            cache_hits: row.try_get("cache_hits")?,
            cache_lookups: row.try_get("cache_lookups")?,
        }
    }};
}

impl Store {
    /// The values of `q.group_by` with their sums over the hours starting in
    /// `[q.from, q.to)`, highest cost first, then by value (byte order).
    pub async fn spend(&self, q: &SpendQuery) -> Result<Vec<SpendRow>, StoreError> {
        let by_value = match self.backend() {
            Backend::Sqlite => "value",
            Backend::Postgres => "value COLLATE \"C\"",
        };
        let rows = with_pool!(self, pool => {
            let mut b = QueryBuilder::new(format!("SELECT value, {SUMS} FROM ("));
            let columns = format!("value, {SUMMED}");
            push_parts(&mut b, &columns, "spend", q.group_by.name(), (q.from, q.to), |_| {});
            b.push(format!(
                ") AS parts GROUP BY value ORDER BY SUM(cost_nano) DESC, {by_value} LIMIT "
            ));
            b.push_bind(i64::from(q.limit));
            let rows = b.build().fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(spend_row!(row));
            }
            out
        });
        Ok(rows)
    }

    /// Total cost in nano-USD per value of `dim` over the hours starting at or after `from`
    /// (to seed budgets at startup). Values without spend in that time are absent.
    pub async fn spend_totals(
        &self,
        dim: SpendDim,
        from: i64,
    ) -> Result<HashMap<String, i64>, StoreError> {
        let totals = with_pool!(self, pool => {
            let mut b =
                QueryBuilder::new("SELECT value, CAST(SUM(cost_nano) AS BIGINT) FROM (");
            push_parts(&mut b, "value, cost_nano", "spend", dim.name(), (from, i64::MAX), |_| {});
            b.push(") AS parts GROUP BY value");
            let rows = b.build().fetch_all(pool).await?;
            let mut out = HashMap::with_capacity(rows.len());
            for row in rows {
                out.insert(row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?);
            }
            out
        });
        Ok(totals)
    }

    /// The hourly sums of one dimension value, or of everything with `None` (group `*`),
    /// for the hours starting in `[from, to)`, oldest first: `(hour start, sums)`. Hours
    /// without requests are absent.
    pub async fn spend_series(
        &self,
        dim: Option<(SpendDim, &str)>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, SpendRow)>, StoreError> {
        let (dim, value) = dim.map_or(TOTAL, |(dim, value)| (dim.name(), value));
        let series = with_pool!(self, pool => {
            let mut b = QueryBuilder::new(format!(
                "SELECT bucket, value, {SUMMED} FROM spend_hourly WHERE dim = "
            ));
            b.push_bind(dim);
            b.push(" AND value = ").push_bind(value);
            b.push(" AND bucket >= ").push_bind(from);
            b.push(" AND bucket < ").push_bind(to);
            b.push(" ORDER BY bucket");
            let rows = b.build().fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push((row.try_get::<i64, _>("bucket")?, spend_row!(row)));
            }
            out
        });
        Ok(series)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dimension_names_round_trip() {
        for (dim, name) in SpendDim::ALL {
            assert_eq!(dim.name(), name);
            assert_eq!(SpendDim::parse(name), Some(dim));
        }
        assert_eq!(SpendDim::parse("all"), None);
        assert_eq!(SpendDim::parse("Key"), None);
    }

    #[test]
    fn usd_rounds_to_nano_usd() {
        assert_eq!(nano(Some(0.00125)), 1_250_000);
        assert_eq!(nano(Some(1.0)), 1_000_000_000);
        assert_eq!(nano(Some(0.000_000_000_6)), 1);
        assert_eq!(nano(Some(0.000_000_000_4)), 0);
        assert_eq!(nano(None), 0);
        assert_eq!(nano(Some(f64::NAN)), 0);
    }

    #[test]
    fn a_record_counts_under_each_of_its_dimensions_once() {
        let r = LogRecord {
            received_at: 2 * HOUR_MS + 59_999,
            key: Some("k".into()),
            team: Some("t".into()),
            org: Some("o".into()),
            requested_model: Some("auto".into()),
            resolved_model: Some("fast".into()),
            provider: Some("openai".into()),
            tags: Some(json!({"feature": "search", "n": 2, "ok": true})),
            prompt_tokens: Some(10),
            cost_usd: Some(0.5),
            ..LogRecord::default()
        };
        let rows = ledger([&r, &r], Grain::Hour);
        let keys: Vec<_> = rows.keys().map(|(d, b, v)| (*d, *b, v.as_str())).collect();
        let hour = 2 * HOUR_MS;
        assert_eq!(
            keys,
            [
                ("all", hour, "*"),
                ("key", hour, "k"),
                ("model", hour, "fast"),
                ("org", hour, "o"),
                ("provider", hour, "openai"),
                ("tag", hour, "feature=search"),
                ("tag", hour, "n=2"),
                ("tag", hour, "ok=true"),
                ("team", hour, "t"),
            ]
        );
        for sums in rows.values() {
            assert_eq!(
                (sums.requests, sums.prompt_tokens, sums.cost_nano),
                (2, 20, 1_000_000_000)
            );
        }
    }

    #[test]
    fn the_daily_ledger_sums_the_hours_of_a_utc_day() {
        let at = |id: &str, received_at: i64| LogRecord {
            id: id.into(),
            received_at,
            key: Some("k".into()),
            cost_usd: Some(0.25),
            ..LogRecord::default()
        };
        let day = 24 * HOUR_MS;
        let records = [at("a", day), at("b", day + 23 * HOUR_MS), at("c", 2 * day)];
        let rows: Vec<_> = ledger(&records, Grain::Day)
            .into_iter()
            .filter(|((dim, ..), _)| *dim == "key")
            .map(|((_, bucket, _), s)| (bucket, s.requests, s.cost_nano))
            .collect();
        assert_eq!(rows, [(day, 2, 500_000_000), (2 * day, 1, 250_000_000)]);
        assert_eq!(ledger(&records, Grain::Hour).len(), 6);
    }

    #[test]
    fn the_model_falls_back_to_the_requested_name() {
        let r = LogRecord {
            requested_model: Some("gpt-4o".into()),
            tags: Some(json!(["not", "an", "object"])),
            ..LogRecord::default()
        };
        let rows = ledger([&r], Grain::Hour);
        let keys: Vec<_> = rows.keys().map(|(d, _, v)| (*d, v.as_str())).collect();
        assert_eq!(keys, [("all", "*"), ("model", "gpt-4o")]);
    }
}
