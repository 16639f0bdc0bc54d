//! Latency histograms per UTC hour and dimension value (`latency_hourly`), summed by the
//! same writer and in the same transaction as the spend ledger, so latency percentiles over
//! any range of hours read a few thousand rows however many requests were logged.
//!
//! A histogram counts requests in fixed log-scale bins of milliseconds: bin 0 holds
//! `[0, 1)` ms and bin `i ≥ 1` holds `[2^((i-1)/4), 2^(i/4))` ms, four bins per doubling, up
//! to bin [`MAX_BIN`] (about 70 minutes), which also takes everything longer. A percentile
//! read from the bins is the geometric middle of the bin the rank falls in, so it is within
//! about 9% of the true value. Two metrics are kept: `total` (a request's `duration_ms`)
//! and `ttft` (a stream's `ttft_ms`), both only for records with a status below 400, under
//! the dimensions `all`, `key`, `team`, `org`, `model` and `provider` (not `user` or `tag`,
//! whose values are unbounded). A batch is summed per row key in memory first, so it costs
//! one upsert row per `(dimension, hour, value, metric, bin)`. The same histograms are kept
//! per UTC day (`latency_daily`), and a sum over a range reads its whole days from those
//! (see [`crate::rollup`]); series read hours.

use std::collections::{BTreeMap, HashMap};

use sqlx::{QueryBuilder, Row};

use crate::record::LogRecord;
use crate::rollup::{Grain, push_parts};
use crate::spend::{SpendDim, TOTAL};
use crate::{Store, StoreError, with_pool};

/// Bins per doubling of milliseconds.
const BINS_PER_DOUBLING: f64 = 4.0;
/// The last bin; it also holds everything longer (2^22 ms is about 70 minutes).
pub(crate) const MAX_BIN: u16 = 89;
/// Histogram rows per upsert statement: 6 parameters each.
pub(crate) const ROWS_PER_UPSERT: usize = 1000;

/// The upsert into the histogram table of `grain`: the statement's head (rows follow as
/// `VALUES` in its column order) and its tail, which adds to a row that exists.
pub(crate) fn upsert(grain: Grain) -> (String, String) {
    let table = format!("latency_{}", grain.suffix());
    (
        format!("INSERT INTO {table} (dim, bucket, value, metric, bin, requests) "),
        format!(
            " ON CONFLICT (dim, value, bucket, metric, bin) DO UPDATE \
             SET requests = {table}.requests + excluded.requests"
        ),
    )
}

/// The dimensions histograms are kept for (besides `all`).
const DIMS: [SpendDim; 5] = [
    SpendDim::Key,
    SpendDim::Team,
    SpendDim::Org,
    SpendDim::Model,
    SpendDim::Provider,
];

/// Which latency a histogram counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum LatencyMetric {
    /// From arrival to the end of the response (`duration_ms`).
    Total,
    /// From arrival to a stream's first content (`ttft_ms`).
    Ttft,
}

impl LatencyMetric {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            LatencyMetric::Total => "total",
            LatencyMetric::Ttft => "ttft",
        }
    }

    fn parse(name: &str) -> Option<LatencyMetric> {
        match name {
            "total" => Some(LatencyMetric::Total),
            "ttft" => Some(LatencyMetric::Ttft),
            _ => None,
        }
    }
}

/// The bin `ms` milliseconds fall in.
pub(crate) fn bin_of(ms: u64) -> u16 {
    if ms == 0 {
        return 0;
    }
    // Exact for powers of two; `as` saturates, and the result is clamped anyway.
    let bin = (BINS_PER_DOUBLING * (ms as f64).log2()).floor() as u16 + 1;
    bin.min(MAX_BIN)
}

/// The milliseconds bin `bin` covers, `[low, high)`.
pub(crate) fn bin_range(bin: u16) -> (f64, f64) {
    match bin {
        0 => (0.0, 1.0),
        b => {
            let edge = |i: u16| (f64::from(i) / BINS_PER_DOUBLING).exp2();
            (edge(b - 1), edge(b))
        }
    }
}

/// Requests per bin of one metric.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    bins: BTreeMap<u16, u64>,
}

impl Histogram {
    /// Adds `n` requests to `bin`.
    pub fn add(&mut self, bin: u16, n: u64) {
        *self.bins.entry(bin.min(MAX_BIN)).or_default() += n;
    }

    /// Adds one request that took `ms` milliseconds.
    pub fn record(&mut self, ms: u64) {
        self.add(bin_of(ms), 1);
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (bin, n) in &other.bins {
            self.add(*bin, *n);
        }
    }

    /// Requests counted.
    pub fn count(&self) -> u64 {
        self.bins.values().sum()
    }

    /// The `q` quantile (`0.5` for the median) in milliseconds: the geometric middle of the
    /// bin that holds the request of rank `ceil(q × count)`; `None` when empty.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bin, n) in &self.bins {
            seen += n;
            if seen >= rank {
                let (low, high) = bin_range(*bin);
                return Some(if *bin == 0 { 0.5 } else { (low * high).sqrt() });
            }
        }
        None
    }
}

/// The latency histograms of one group (a dimension value, or one hour).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latency {
    /// Whole requests (`duration_ms`).
    pub total: Histogram,
    /// Streams' time to first token (`ttft_ms`).
    pub ttft: Histogram,
}

impl Latency {
    fn get_mut(&mut self, metric: LatencyMetric) -> &mut Histogram {
        match metric {
            LatencyMetric::Total => &mut self.total,
            LatencyMetric::Ttft => &mut self.ttft,
        }
    }

    /// Adds both histograms of `other`.
    pub fn merge(&mut self, other: &Latency) {
        self.total.merge(&other.total);
        self.ttft.merge(&other.ttft);
    }
}

/// A histogram row's key: dimension, hour, value, metric, bin.
pub(crate) type Key = (&'static str, i64, String, LatencyMetric, u16);

/// The histogram rows of `grain` that `records` add, in one fixed order (so concurrent
/// writers lock rows in the same order and cannot deadlock).
pub(crate) fn histograms<'a>(
    records: impl IntoIterator<Item = &'a LogRecord>,
    grain: Grain,
) -> BTreeMap<Key, i64> {
    let mut rows: BTreeMap<Key, i64> = BTreeMap::new();
    for r in records.into_iter().filter(|r| r.status < 400) {
        let bucket = grain.bucket(r.received_at);
        let model = r.resolved_model.as_ref().or(r.requested_model.as_ref());
        let values = DIMS.iter().filter_map(|dim| {
            let value = match dim {
                SpendDim::Key => r.key.as_ref(),
                SpendDim::Team => r.team.as_ref(),
                SpendDim::Org => r.org.as_ref(),
                SpendDim::Model => model,
                _ => r.provider.as_ref(),
            };
            value.map(|v| (dim.name(), v.as_str()))
        });
        for (dim, value) in std::iter::once(TOTAL).chain(values) {
            let metrics = [
                Some((LatencyMetric::Total, r.duration_ms)),
                r.ttft_ms.map(|t| (LatencyMetric::Ttft, t)),
            ];
            for (metric, ms) in metrics.into_iter().flatten() {
                *rows
                    .entry((dim, bucket, value.to_owned(), metric, bin_of(ms)))
                    .or_default() += 1;
            }
        }
    }
    rows
}

/// Decodes `(group column, metric, bin, requests)` rows into histograms per group.
macro_rules! collect_rows {
    ($rows:expr, $group:ty) => {{
        let mut out: BTreeMap<$group, Latency> = BTreeMap::new();
        for row in $rows {
            let group: $group = row.try_get(0)?;
            let metric: String = row.try_get(1)?;
            let bin: i32 = row.try_get(2)?;
            let n: i64 = row.try_get(3)?;
            let (Some(metric), Ok(bin), Ok(n)) = (
                LatencyMetric::parse(&metric),
                u16::try_from(bin),
                u64::try_from(n),
            ) else {
                continue;
            };
            out.entry(group).or_default().get_mut(metric).add(bin, n);
        }
        out
    }};
}

impl Store {
    /// The histograms of one dimension value, or of everything with `None`, per hour
    /// starting in `[from, to)`, oldest first. Hours without a request are absent.
    pub async fn latency_series(
        &self,
        dim: Option<(SpendDim, &str)>,
        from: i64,
        to: i64,
    ) -> Result<BTreeMap<i64, Latency>, StoreError> {
        let (dim, value) = dim.map_or(TOTAL, |(dim, value)| (dim.name(), value));
        let series = with_pool!(self, pool => {
            let mut b = QueryBuilder::new(
                "SELECT bucket, metric, bin, requests FROM latency_hourly WHERE dim = ",
            );
            b.push_bind(dim);
            b.push(" AND bucket >= ").push_bind(from);
            b.push(" AND bucket < ").push_bind(to);
            b.push(" AND value = ").push_bind(value);
            let rows = b.build().fetch_all(pool).await?;
            collect_rows!(rows, i64)
        });
        Ok(series)
    }

    /// The request latency (`total`) histogram of each of `values` of `dim` over the hours
    /// starting in `[from, to)`, for breakdowns (which leave time to first token out, and
    /// so read half the rows). Values without a request in that time are absent.
    pub async fn latency_by(
        &self,
        dim: SpendDim,
        values: &[String],
        from: i64,
        to: i64,
    ) -> Result<HashMap<String, Histogram>, StoreError> {
        if values.is_empty() {
            return Ok(HashMap::new());
        }
        let by_value = with_pool!(self, pool => {
            let mut b = QueryBuilder::new(
                "SELECT value, metric, bin, CAST(SUM(requests) AS BIGINT) FROM (",
            );
            let columns = "value, metric, bin, requests";
            push_parts(&mut b, columns, "latency", dim.name(), (from, to), |b| {
                b.push(" AND metric = ").push_bind(LatencyMetric::Total.name());
                b.push(" AND value IN (");
                let mut list = b.separated(", ");
                for v in values {
                    list.push_bind(v.as_str());
                }
                b.push(")");
            });
            b.push(") AS parts GROUP BY value, metric, bin");
            let rows = b.build().fetch_all(pool).await?;
            collect_rows!(rows, String)
        });
        Ok(by_value.into_iter().map(|(v, l)| (v, l.total)).collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spend::HOUR_MS;

    #[test]
    fn bins_are_log_scale_and_cover_every_duration() {
        assert_eq!(bin_of(0), 0);
        assert_eq!(bin_of(1), 1);
        assert_eq!(bin_of(2), 5);
        assert_eq!(bin_of(4), 9);
        assert_eq!(bin_of(1024), 41);
        assert_eq!(bin_of(u64::MAX), MAX_BIN);
        for ms in [1, 3, 7, 99, 100, 101, 999, 60_000, 3_000_000] {
            let (low, high) = bin_range(bin_of(ms));
            assert!(
                low <= ms as f64 && (ms as f64) < high,
                "{ms}: [{low}, {high})"
            );
        }
        // Neighbouring bins share their edge.
        for bin in 1..MAX_BIN {
            assert_eq!(bin_range(bin).1, bin_range(bin + 1).0);
        }
    }

    #[test]
    fn percentiles_come_from_the_bin_of_the_rank() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(0.5), None);
        // 90 fast requests (10 ms) and 10 slow ones (1000 ms).
        for _ in 0..90 {
            h.record(10);
        }
        for _ in 0..10 {
            h.record(1000);
        }
        let p50 = h.percentile(0.5).unwrap();
        let p95 = h.percentile(0.95).unwrap();
        assert!((9.0..11.0).contains(&p50), "{p50}");
        assert!((920.0..1090.0).contains(&p95), "{p95}");
        // The 90th request is still a fast one; the 91st is slow.
        assert!(h.percentile(0.90).unwrap() < 11.0);
        assert!(h.percentile(0.91).unwrap() > 900.0);
        assert_eq!(h.count(), 100);
    }

    #[test]
    fn every_estimate_is_within_ten_percent() {
        for ms in [1u64, 2, 5, 13, 250, 412, 5_000, 120_000] {
            let mut h = Histogram::default();
            h.record(ms);
            let p = h.percentile(0.5).unwrap();
            assert!((p / ms as f64 - 1.0).abs() < 0.1, "{ms} → {p}");
        }
    }

    #[test]
    fn merged_histograms_add_up() {
        let mut a = Histogram::default();
        a.record(5);
        let mut b = Histogram::default();
        b.record(5);
        b.record(500);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert!(a.percentile(0.5).unwrap() < 6.0);
    }

    #[test]
    fn only_answered_requests_count_and_ttft_only_for_streams() {
        let ok = LogRecord {
            received_at: HOUR_MS + 5,
            status: 200,
            duration_ms: 100,
            ttft_ms: Some(20),
            resolved_model: Some("fast".into()),
            provider: Some("openai".into()),
            user: Some("u".into()),
            ..LogRecord::default()
        };
        let failed = LogRecord {
            status: 502,
            duration_ms: 3,
            ..ok.clone()
        };
        let rows = histograms([&ok, &failed, &ok], Grain::Hour);
        let keys: Vec<_> = rows
            .iter()
            .map(|((d, b, v, m, bin), n)| (*d, *b, v.as_str(), m.name(), *bin, *n))
            .collect();
        let (t, f) = (bin_of(100), bin_of(20));
        assert_eq!(
            keys,
            [
                ("all", HOUR_MS, "*", "total", t, 2),
                ("all", HOUR_MS, "*", "ttft", f, 2),
                ("model", HOUR_MS, "fast", "total", t, 2),
                ("model", HOUR_MS, "fast", "ttft", f, 2),
                ("provider", HOUR_MS, "openai", "total", t, 2),
                ("provider", HOUR_MS, "openai", "ttft", f, 2),
            ]
        );
    }
}
