//! The metrics store behind the `metrics` facade, and its Prometheus text rendering.
//!
//! Every series is an atomic: a counter is an `AtomicU64`, a gauge an `AtomicU64` holding
//! `f64` bits, a counter of fractional amounts (USD) an `AtomicU64` of `f64` bits that only
//! ever grows ([`FloatCounter`], rendered as a counter), a histogram a fixed array of bucket counters plus a sum. Handles are found by
//! the facade's precomputed key hash in one of [`SHARDS`] read-mostly maps, so recording takes
//! an uncontended shard read lock (a write lock only the first time a series appears) and a
//! few relaxed atomic adds. Memory per series is fixed: histograms keep bucket counts, never
//! samples.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

/// Number of independently locked maps per metric kind.
const SHARDS: usize = 16;

/// Bucket bounds (seconds) for request and upstream latencies: 5 ms to 5 min.
pub(crate) const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Bucket bounds (seconds) for the gateway's own overhead: 10 µs to 100 ms.
pub(crate) const OVERHEAD_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1,
];

/// The facade's keys carry a precomputed hash and feed only `write_u64`: pass it through.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached through `Key`'s `Hash`; an FNV-1a fold keeps it correct regardless.
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Shard<T> = RwLock<HashMap<Key, Arc<T>, BuildHasherDefault<KeyHasher>>>;
/// A series' labels, as (name, value) pairs.
type Labels = Vec<(String, String)>;
/// Series grouped by metric name.
type Families<T> = BTreeMap<String, Vec<(Labels, Arc<T>)>>;

/// One kind of series (counters, gauges or histograms), sharded by key hash.
struct Series<T> {
    shards: [Shard<T>; SHARDS],
}

impl<T> Series<T> {
    fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| RwLock::default()),
        }
    }

    /// The series for `key`, created by `make` the first time.
    fn get_or_insert(&self, key: &Key, make: impl FnOnce() -> T) -> Arc<T> {
        let shard = &self.shards[usize::try_from(key.get_hash() % SHARDS as u64).unwrap_or(0)];
        if let Some(found) = shard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return found.clone();
        }
        shard
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_insert_with(|| Arc::new(make()))
            .clone()
    }

    /// Every series, grouped by metric name and sorted by name then labels.
    fn snapshot(&self) -> Families<T> {
        let mut families: Families<T> = BTreeMap::new();
        for shard in &self.shards {
            let map = shard.read().unwrap_or_else(PoisonError::into_inner);
            for (key, value) in map.iter() {
                let labels: Labels = key
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                families
                    .entry(key.name().to_owned())
                    .or_default()
                    .push((labels, value.clone()));
            }
        }
        for series in families.values_mut() {
            series.sort_by(|a, b| a.0.cmp(&b.0));
        }
        families
    }
}

/// A histogram with fixed bucket bounds: a counter per bucket and the sum of all values.
pub(crate) struct Buckets {
    bounds: &'static [f64],
    /// Non-cumulative counts; the last one is for values above every bound.
    counts: Box<[AtomicU64]>,
    sum_bits: AtomicU64,
}

impl Buckets {
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl HistogramFn for Buckets {
    fn record(&self, value: f64) {
        if value.is_nan() {
            return;
        }
        // The first bound at or above the value: Prometheus buckets are `le` (≤).
        let i = self.bounds.partition_point(|b| *b < value);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self
            .sum_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }
}

/// A counter of fractional amounts: `f64` bits in an `AtomicU64`. The facade's counters are
/// whole numbers, so these are only reached through [`Registry::float_counter`].
pub(crate) struct FloatCounter(AtomicU64);

impl FloatCounter {
    /// Adds `amount`; a negative or NaN amount is ignored, so the counter never decreases.
    pub(crate) fn add(&self, amount: f64) {
        if amount.is_nan() || amount <= 0.0 {
            return;
        }
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + amount).to_bits())
            });
    }

    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Where every metric recorded through the facade is kept.
pub(crate) struct Registry {
    counters: Series<AtomicU64>,
    float_counters: Series<FloatCounter>,
    gauges: Series<AtomicU64>,
    histograms: Series<Buckets>,
    help: Mutex<BTreeMap<String, String>>,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self {
            counters: Series::new(),
            float_counters: Series::new(),
            gauges: Series::new(),
            histograms: Series::new(),
            help: Mutex::default(),
        }
    }

    /// Sets the `# HELP` text of metric `name`.
    pub(crate) fn describe(&self, name: &str, help: &str) {
        self.help
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), help.to_owned());
    }

    /// The counter for `key`.
    pub(crate) fn counter(&self, key: &Key) -> Counter {
        Counter::from_arc(self.counters.get_or_insert(key, || AtomicU64::new(0)))
    }

    /// The counter of fractional amounts for `key`. Its name must not also be used by
    /// [`Registry::counter`]: each name is one family.
    pub(crate) fn float_counter(&self, key: &Key) -> Arc<FloatCounter> {
        self.float_counters
            .get_or_insert(key, || FloatCounter(AtomicU64::new(0f64.to_bits())))
    }

    /// The gauge for `key`.
    pub(crate) fn gauge(&self, key: &Key) -> Gauge {
        Gauge::from_arc(
            self.gauges
                .get_or_insert(key, || AtomicU64::new(0f64.to_bits())),
        )
    }

    /// The histogram for `key`, with the buckets of its metric name.
    pub(crate) fn histogram(&self, key: &Key) -> Histogram {
        Histogram::from_arc(
            self.histograms
                .get_or_insert(key, || Buckets::new(bounds_for(key.name()))),
        )
    }

    /// Appends every series in the Prometheus text format (version 0.0.4).
    pub(crate) fn render(&self, out: &mut String) {
        let help = self
            .help
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (name, series) in self.counters.snapshot() {
            family_head(out, &name, help.get(&name).map(String::as_str), "counter");
            for (labels, v) in series {
                sample(
                    out,
                    &name,
                    "",
                    &labels,
                    None,
                    v.load(Ordering::Relaxed) as f64,
                );
            }
        }
        for (name, series) in self.float_counters.snapshot() {
            family_head(out, &name, help.get(&name).map(String::as_str), "counter");
            for (labels, v) in series {
                sample(out, &name, "", &labels, None, v.get());
            }
        }
        for (name, series) in self.gauges.snapshot() {
            family_head(out, &name, help.get(&name).map(String::as_str), "gauge");
            for (labels, v) in series {
                let value = f64::from_bits(v.load(Ordering::Relaxed));
                sample(out, &name, "", &labels, None, value);
            }
        }
        for (name, series) in self.histograms.snapshot() {
            family_head(out, &name, help.get(&name).map(String::as_str), "histogram");
            for (labels, h) in series {
                let mut cumulative = 0u64;
                for (i, c) in h.counts.iter().enumerate() {
                    cumulative += c.load(Ordering::Relaxed);
                    let le = h
                        .bounds
                        .get(i)
                        .map_or_else(|| "+Inf".to_owned(), |b| fmt_f64(*b));
                    sample(out, &name, "_bucket", &labels, Some(&le), cumulative as f64);
                }
                let sum = f64::from_bits(h.sum_bits.load(Ordering::Relaxed));
                sample(out, &name, "_sum", &labels, None, sum);
                sample(out, &name, "_count", &labels, None, cumulative as f64);
            }
        }
    }
}

/// Bucket bounds for histogram `name`.
fn bounds_for(name: &str) -> &'static [f64] {
    if name == super::OVERHEAD {
        OVERHEAD_BUCKETS
    } else {
        LATENCY_BUCKETS
    }
}

/// The facade's view of a `&'static Registry`.
pub(crate) struct Facade(pub(crate) &'static Registry);

impl Recorder for Facade {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.0.describe(key.as_str(), &description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.0.describe(key.as_str(), &description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.0.describe(key.as_str(), &description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        self.0.counter(key)
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        self.0.gauge(key)
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        self.0.histogram(key)
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a metric family.
pub(crate) fn family_head(out: &mut String, name: &str, help: Option<&str>, kind: &str) {
    if let Some(help) = help {
        let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    }
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Writes one sample line: `name{labels,le} value`.
pub(crate) fn sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[(impl AsRef<str>, impl AsRef<str>)],
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        let le = le.map(|v| ("le", v));
        let pairs = labels
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .chain(le);
        for (k, v) in pairs {
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(k);
            out.push_str("=\"");
            escape_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(&fmt_f64(value));
    out.push('\n');
}

/// A sample value as Prometheus writes it: `+Inf`, `-Inf`, `NaN`, or the shortest decimal.
pub(crate) fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        v.to_string()
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Help text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(k, v)| metrics::Label::new(*k, *v))
            .collect();
        Key::from_parts(name, labels)
    }

    #[test]
    fn counters_and_gauges_render_with_type_and_sorted_series() {
        let r = Registry::new();
        r.describe("t_total", "Things.\nMore");
        r.counter(&key("t_total", &[("k", "b")])).increment(2);
        r.counter(&key("t_total", &[("k", "a")])).increment(1);
        r.counter(&key("t_total", &[("k", "a")])).increment(1);
        r.gauge(&key("g", &[])).set(1.5);
        let mut out = String::new();
        r.render(&mut out);
        assert_eq!(
            out,
            "# HELP t_total Things.\\nMore\n# TYPE t_total counter\n\
             t_total{k=\"a\"} 2\nt_total{k=\"b\"} 2\n# TYPE g gauge\ng 1.5\n"
        );
    }

    #[test]
    fn float_counters_add_fractions_render_as_counters_and_never_decrease() {
        let r = Registry::new();
        r.describe("usd_total", "Dollars.");
        let c = r.float_counter(&key("usd_total", &[("p", "a")]));
        c.add(0.25);
        r.float_counter(&key("usd_total", &[("p", "a")])).add(0.5);
        for bad in [-1.0, f64::NAN, 0.0] {
            c.add(bad);
        }
        let mut out = String::new();
        r.render(&mut out);
        assert_eq!(
            out,
            "# HELP usd_total Dollars.\n# TYPE usd_total counter\nusd_total{p=\"a\"} 0.75\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_le_inclusive() {
        let r = Registry::new();
        let h = r.histogram(&key("lat_seconds", &[("m", "x")]));
        for v in [0.005, 0.007, 0.3, 1000.0, f64::NAN] {
            h.record(v);
        }
        let mut out = String::new();
        r.render(&mut out);
        let line = |le: &str| {
            let prefix = format!("lat_seconds_bucket{{m=\"x\",le=\"{le}\"}} ");
            out.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .map(str::to_owned)
        };
        assert_eq!(line("0.005").as_deref(), Some("1"), "{out}");
        assert_eq!(line("0.01").as_deref(), Some("2"));
        assert_eq!(line("0.5").as_deref(), Some("3"));
        assert_eq!(line("300").as_deref(), Some("3"));
        assert_eq!(line("+Inf").as_deref(), Some("4"));
        assert!(out.contains("lat_seconds_count{m=\"x\"} 4\n"), "{out}");
        assert!(out.contains("lat_seconds_sum{m=\"x\"} 1000.312\n"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(
            &mut out,
            "m",
            "",
            &[("k", "a\"b\\c\nd")],
            None,
            f64::INFINITY,
        );
        assert_eq!(out, "m{k=\"a\\\"b\\\\c\\nd\"} +Inf\n");
    }

    #[test]
    fn overhead_has_fine_buckets() {
        assert_eq!(bounds_for(super::super::OVERHEAD), OVERHEAD_BUCKETS);
        assert_eq!(
            bounds_for("sluice_upstream_latency_seconds"),
            LATENCY_BUCKETS
        );
    }
}
