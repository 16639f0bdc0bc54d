//! A strict reader of the Prometheus text format (version 0.0.4) for the metrics checks.
//!
//! `prometheus-parse`, the crate for this, reads lines with regular expressions and skips
//! what they do not match: it splits labels on `,` and `=` and cannot read a label value
//! holding `}` (the gateway's `route` label does: `/v1/images/{*rest}`), so a malformed scrape
//! could pass. This reader fails the test instead, on anything a Prometheus server would
//! reject.

use std::collections::{BTreeMap, HashMap, HashSet};

/// A histogram's name and its labels without `le`.
type Series = (String, Vec<(String, String)>);

/// One sample line.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed scrape: each family's type and every sample.
#[derive(Debug)]
pub struct Scrape {
    pub types: HashMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Parses `text`, failing on a sample before its family's `# TYPE`, a family split in
    /// two, a repeated series, a bad name, label, escape or value, or a histogram whose
    /// buckets decrease or do not end in `+Inf` = `_count`.
    pub fn parse(text: &str) -> Scrape {
        let mut types = HashMap::new();
        let mut samples: Vec<Sample> = Vec::new();
        let mut series = HashSet::new();
        let mut closed = HashSet::new();
        let mut current: Option<String> = None;
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(rest) = line.strip_prefix("# ") {
                let parts: Vec<&str> = rest.splitn(3, ' ').collect();
                if let ["TYPE", name, kind] = parts[..] {
                    assert!(valid_name(name), "{line:?}");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{line:?}"
                    );
                    assert!(
                        types.insert(name.to_owned(), kind.to_owned()).is_none(),
                        "second TYPE: {line:?}"
                    );
                } else if let ["HELP", name, ..] = parts[..] {
                    assert!(valid_name(name), "{line:?}");
                }
                continue;
            }
            assert!(!line.starts_with('#'), "malformed comment {line:?}");
            let sample = parse_sample(line);
            let family = family_of(&types, &sample.name).to_owned();
            assert!(types.contains_key(&family), "sample before TYPE: {line:?}");
            if current.as_deref() != Some(&family) {
                closed.extend(current.replace(family.clone()));
                assert!(!closed.contains(&family), "family split: {line:?}");
            }
            assert!(
                series.insert((sample.name.clone(), sample.labels.clone())),
                "repeated series {line:?}"
            );
            samples.push(sample);
        }
        let scrape = Scrape { types, samples };
        scrape.check_histograms();
        scrape
    }

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
            let le = parse_value(&labels.remove("le").expect("a bucket without le"));
            buckets
                .entry((base.to_owned(), labels.into_iter().collect()))
                .or_default()
                .push((le, s.value));
        }
        for ((base, labels), mut counts) in buckets {
            counts.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                counts.windows(2).all(|w| w[0].1 <= w[1].1),
                "{base}{labels:?}: buckets decrease"
            );
            let (le, inf) = *counts.last().unwrap();
            assert_eq!(le, f64::INFINITY, "{base}{labels:?}: no +Inf bucket");
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(self.value(&format!("{base}_count"), &labels), Some(inf));
            assert!(self.value(&format!("{base}_sum"), &labels).is_some());
        }
    }

    /// The value of the series `name` with exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
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
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or_else(|| {
            let have: Vec<_> = self.samples.iter().filter(|s| s.name == name).collect();
            panic!("no series {name}{labels:?}; there are {have:#?}")
        })
    }

    /// The samples of metric `name`.
    pub fn of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }
}

/// The family of a sample: histogram samples carry a suffix.
fn family_of<'a>(types: &HashMap<String, String>, name: &'a str) -> &'a str {
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
        _ => v.parse().unwrap_or_else(|_| panic!("bad value {v:?}")),
    }
}

/// `name{label="value",…} value [timestamp]`, label values with `\\`, `\"` and `\n` escapes.
fn parse_sample(line: &str) -> Sample {
    let end = line.find(['{', ' ']).unwrap_or_else(|| panic!("{line:?}"));
    let name = &line[..end];
    assert!(valid_name(name), "bad name in {line:?}");
    let mut labels = BTreeMap::new();
    let mut chars = line[end..].chars().peekable();
    if chars.peek() == Some(&'{') {
        chars.next();
        loop {
            if chars.peek() == Some(&'}') {
                chars.next();
                break;
            }
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert!(
                valid_name(&key) && !key.starts_with("__"),
                "bad label name {key:?} in {line:?}"
            );
            assert_eq!(chars.next(), Some('"'), "{line:?}");
            let mut value = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape {other:?} in {line:?}"),
                    },
                    Some(c) => value.push(c),
                    None => panic!("unterminated label value in {line:?}"),
                }
            }
            assert!(
                labels.insert(key, value).is_none(),
                "repeated label: {line:?}"
            );
            match chars.next() {
                Some(',') => {}
                Some('}') => break,
                other => panic!("expected , or }} and got {other:?} in {line:?}"),
            }
        }
    }
    assert_eq!(chars.next(), Some(' '), "{line:?}");
    let rest: String = chars.collect();
    let mut fields = rest.split(' ');
    let value = parse_value(fields.next().unwrap_or_default());
    if let Some(ts) = fields.next() {
        assert!(ts.parse::<i64>().is_ok(), "bad timestamp in {line:?}");
    }
    assert!(fields.next().is_none(), "trailing fields in {line:?}");
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}
