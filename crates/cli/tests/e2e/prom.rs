//! A strict reader of the Prometheus text format (version 0.0.4) for the tests that scrape
//! `/metrics`: it fails the test on anything a Prometheus server would reject.

use std::collections::{BTreeMap, HashMap, HashSet};

/// A histogram's name and labels (without `le`).
type Series = (String, Vec<(String, String)>);

/// One sample line.
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// A parsed scrape: each family's type and every sample.
#[derive(Debug)]
pub(crate) struct Scrape {
    pub(crate) types: HashMap<String, String>,
    pub(crate) samples: Vec<Sample>,
}

impl Scrape {
    /// Parses `text`, failing the test on anything a Prometheus server would reject: a sample
    /// before its family's `# TYPE`, a family split in two, a repeated series, a bad name,
    /// label or value, or a histogram whose buckets do not add up.
    pub(crate) fn parse(text: &str) -> Scrape {
        let mut types: HashMap<String, String> = HashMap::new();
        let mut samples: Vec<Sample> = Vec::new();
        let mut seen_series = HashSet::new();
        let mut finished_families: HashSet<String> = HashSet::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let mut parts = rest.splitn(3, ' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some("TYPE"), Some(name), Some(kind)) => {
                        assert!(valid_name(name), "bad metric name in {line:?}");
                        assert!(
                            ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                            "bad type in {line:?}"
                        );
                        assert!(
                            types.insert(name.to_owned(), kind.to_owned()).is_none(),
                            "second TYPE for {name}"
                        );
                        assert!(
                            !samples.iter().any(|s| family(&types, &s.name) == name),
                            "TYPE of {name} after its samples"
                        );
                    }
                    (Some("HELP"), Some(name), _) => assert!(valid_name(name), "{line:?}"),
                    _ => {}
                }
                continue;
            }
            assert!(!line.starts_with('#'), "malformed comment {line:?}");
            let sample = parse_sample(line);
            let fam = family(&types, &sample.name).to_owned();
            assert!(types.contains_key(&fam), "sample before TYPE: {line:?}");
            if current.as_deref() != Some(fam.as_str()) {
                if let Some(done) = current.replace(fam.clone()) {
                    finished_families.insert(done);
                }
                assert!(
                    !finished_families.contains(&fam),
                    "family {fam} is split: {line:?}"
                );
            }
            assert!(
                seen_series.insert((sample.name.clone(), sample.labels.clone())),
                "repeated series {line:?}"
            );
            samples.push(sample);
        }
        let scrape = Scrape { types, samples };
        scrape.check_histograms();
        scrape
    }

    /// Every histogram series: `le` buckets never decrease and `+Inf` equals `_count`.
    fn check_histograms(&self) {
        // (histogram, labels without `le`) → (le, cumulative count) pairs.
        let mut buckets: BTreeMap<Series, Vec<(f64, f64)>> = BTreeMap::new();
        for s in &self.samples {
            let Some(base) = s.name.strip_suffix("_bucket") else {
                continue;
            };
            if self.types.get(base).map(String::as_str) != Some("histogram") {
                continue;
            }
            let mut labels = s.labels.clone();
            let le = labels.remove("le").expect("bucket without le");
            let le = parse_value(&le);
            buckets
                .entry((base.to_owned(), labels.into_iter().collect()))
                .or_default()
                .push((le, s.value));
        }
        for ((base, labels), mut series) in buckets {
            series.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                series.windows(2).all(|w| w[0].1 <= w[1].1),
                "{base}{labels:?}: buckets decrease: {series:?}"
            );
            let (last_le, inf) = *series.last().unwrap();
            assert_eq!(
                last_le,
                f64::INFINITY,
                "{base}{labels:?} has no +Inf bucket"
            );
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let count = self.value(&format!("{base}_count"), &labels);
            assert_eq!(count, Some(inf), "{base}{labels:?}: +Inf bucket != _count");
            assert!(self.value(&format!("{base}_sum"), &labels).is_some());
        }
    }

    /// The value of the series `name` with exactly `labels`.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// Like [`Scrape::value`], failing the test when the series is missing.
    pub(crate) fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or_else(|| {
            let names: Vec<String> = self
                .samples
                .iter()
                .filter(|s| s.name == name)
                .map(|s| format!("{:?} {}", s.labels, s.value))
                .collect();
            panic!("no series {name}{labels:?}; {name} has {names:#?}")
        })
    }

    /// The samples of metric `name`.
    pub(crate) fn of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// Every label value of every sample.
    pub(crate) fn label_values(&self) -> impl Iterator<Item = &str> {
        self.samples
            .iter()
            .flat_map(|s| s.labels.values().map(String::as_str))
    }
}

/// The family a sample belongs to: histogram samples carry a suffix.
fn family<'a>(types: &HashMap<String, String>, name: &'a str) -> &'a str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|base| types.get(*base).map(String::as_str) == Some("histogram"))
        .unwrap_or(name)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => v
            .parse()
            .unwrap_or_else(|_| panic!("bad sample value {v:?}")),
    }
}

/// `name{label="value",…} value`, with escapes in label values.
fn parse_sample(line: &str) -> Sample {
    let end = line.find(['{', ' ']).unwrap_or_else(|| panic!("{line:?}"));
    let name = &line[..end];
    assert!(valid_name(name), "bad metric name in {line:?}");
    let mut labels = BTreeMap::new();
    let mut rest = &line[end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let close = loop {
            let (start, c) = chars
                .next()
                .unwrap_or_else(|| panic!("open labels: {line:?}"));
            if c == '}' {
                break start;
            }
            let eq = inner[start..]
                .find('=')
                .unwrap_or_else(|| panic!("{line:?}"))
                + start;
            let key = &inner[start..eq];
            assert!(
                valid_name(key) && !key.starts_with("__"),
                "bad label name {key:?} in {line:?}"
            );
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            assert_eq!(chars.next().map(|c| c.1), Some('"'), "{line:?}");
            let mut value = String::new();
            loop {
                match chars.next().map(|c| c.1) {
                    Some('"') => break,
                    Some('\\') => match chars.next().map(|c| c.1) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    Some('\n') | None => panic!("unterminated label value in {line:?}"),
                    Some(c) => value.push(c),
                }
            }
            assert!(
                labels.insert(key.to_owned(), value).is_none(),
                "repeated label in {line:?}"
            );
            match chars.next() {
                Some((_, ',')) => {}
                Some((i, '}')) => break i,
                other => panic!("expected , or }} after a label, got {other:?} in {line:?}"),
            }
        };
        rest = &inner[close + 1..];
    }
    let mut fields = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("{line:?}"))
        .split(' ');
    let value = parse_value(fields.next().unwrap_or_default());
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .unwrap_or_else(|_| panic!("bad timestamp in {line:?}"));
    }
    assert!(fields.next().is_none(), "trailing fields in {line:?}");
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}
