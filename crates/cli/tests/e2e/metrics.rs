//! `GET /metrics` through the real binary: after known traffic, the Prometheus text parses
//! strictly and every series has exactly the count that traffic implies; circuit gauges
//! follow the breaker; the endpoint needs the admin key when one is set.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};

use crate::harness::{Resp, Sluice, get, post_json, send};

const CHAT: &str = "/v1/chat/completions";

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

// ---------------------------------------------------------------------------------------------
// A strict reader of the Prometheus text format (version 0.0.4).

/// A histogram's name and labels (without `le`).
type Series = (String, Vec<(String, String)>);

/// One sample line.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape: each family's type and every sample.
#[derive(Debug)]
struct Scrape {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Scrape {
    /// Parses `text`, failing the test on anything a Prometheus server would reject: a sample
    /// before its family's `# TYPE`, a family split in two, a repeated series, a bad name,
    /// label or value, or a histogram whose buckets do not add up.
    fn parse(text: &str) -> Scrape {
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
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
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
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
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

    /// Every label value of every sample.
    fn label_values(&self) -> impl Iterator<Item = &str> {
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

/// Scrapes `gw` (with `headers`) and parses the answer.
async fn scrape_with(gw: &Sluice, headers: &[(&str, &str)]) -> (Resp, Scrape) {
    let r = send(Method::GET, &gw.url("/metrics"), headers, "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    let scrape = Scrape::parse(&r.text());
    (r, scrape)
}

async fn scrape(gw: &Sluice) -> Scrape {
    scrape_with(gw, &[]).await.1
}

// ---------------------------------------------------------------------------------------------

/// After a success, an upstream 500 retried to success, a fallback, a direct call, an unknown
/// model, an unknown route and a stream cut after it began, every series has the exact count.
#[tokio::test]
async fn requests_attempts_retries_fallbacks_and_stream_errors_are_counted() {
    let a = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        r#"
providers:
  a: {{ kind: openai-compatible, base_url: "{}" }}
models:
  - name: m
    targets: [ {{ provider: a, model: x }} ]
    retry: {{ max: 1, backoff: 1ms }}
  - name: n
    targets: [ {{ provider: a, model: z }} ]
    retry: {{ max: 0 }}
    fallbacks: [m]
  - name: s
    targets: [ {{ provider: a, model: st }} ]
"#,
        a.base_url()
    ));
    let url = gw.url(CHAT);
    assert_eq!(post_json(&url, &chat("m")).await.status, 200);
    a.push(Behavior::openai_error(500, "boom", "server_error", None));
    let r = post_json(&url, &chat("m")).await;
    assert_eq!((r.status, r.header("x-sluice-attempts")), (200, Some("2")));
    assert_eq!(post_json(&url, &chat("no-such-model")).await.status, 404);
    assert_eq!(get(&gw.url("/nowhere")).await.status, 404);
    let r = post_json(&url, &chat("a/some-direct-model")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    a.push(Behavior::openai_error(500, "boom", "server_error", None));
    let r = post_json(&url, &chat("n")).await;
    assert_eq!((r.status, r.header("x-sluice-model")), (200, Some("x")));
    a.push(Behavior::ResetMidStream { after_chunks: 2 });
    let mut body = chat("s");
    body["stream"] = json!(true);
    let r = post_json(&url, &body).await;
    assert_eq!(r.status, 200);
    assert!(r.text().contains("\"error\""), "{}", r.text());
    assert_eq!(a.request_count(), 7);

    let m = scrape(&gw).await;
    let requests = |model: &str, status: &str| {
        m.get(
            "sluice_requests_total",
            &[("route", CHAT), ("model", model), ("status", status)],
        )
    };
    assert_eq!(requests("m", "200"), 2.0);
    assert_eq!(requests("n", "200"), 1.0);
    assert_eq!(requests("s", "200"), 1.0);
    assert_eq!(requests("a/*", "200"), 1.0);
    assert_eq!(requests("other", "404"), 1.0);
    assert_eq!(
        m.get(
            "sluice_requests_total",
            &[("route", "unmatched"), ("model", ""), ("status", "404")]
        ),
        1.0
    );
    assert!(
        m.label_values()
            .all(|v| !v.contains("no-such-model") && !v.contains("some-direct-model")),
        "a name the client made up became a label"
    );
    assert_eq!(
        m.get(
            "sluice_request_duration_seconds_count",
            &[("route", CHAT), ("model", "m")]
        ),
        2.0
    );
    assert_eq!(m.get("sluice_gateway_overhead_seconds_count", &[]), 7.0);

    let attempts = |model: &str, outcome: &str| {
        m.get(
            "sluice_upstream_attempts_total",
            &[("provider", "a"), ("model", model), ("outcome", outcome)],
        )
    };
    assert_eq!(attempts("x", "ok"), 3.0);
    assert_eq!(attempts("x", "5xx"), 1.0);
    assert_eq!(attempts("z", "5xx"), 1.0);
    assert_eq!(attempts("*", "ok"), 1.0);
    assert_eq!(attempts("st", "ok"), 1.0);
    assert_eq!(
        m.get(
            "sluice_upstream_latency_seconds_count",
            &[("provider", "a"), ("model", "x")]
        ),
        3.0
    );
    assert_eq!(m.get("sluice_retries_total", &[("model", "m")]), 1.0);
    assert_eq!(m.value("sluice_retries_total", &[("model", "n")]), None);
    assert_eq!(
        m.get("sluice_fallbacks_total", &[("from", "n"), ("to", "m")]),
        1.0
    );
    assert_eq!(
        m.get("sluice_stream_errors_total", &[("provider", "a")]),
        1.0
    );
    for (model, group) in [("x", "m"), ("z", "n"), ("st", "s")] {
        let labels = [("provider", "a"), ("model", model), ("group", group)];
        assert_eq!(m.get("sluice_circuit_state", &labels), 0.0);
        assert_eq!(m.get("sluice_target_in_flight", &labels), 0.0);
    }
    assert_eq!(
        m.get(
            "sluice_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert_eq!(m.types["sluice_requests_total"], "counter");
    assert_eq!(m.types["sluice_request_duration_seconds"], "histogram");
    assert_eq!(m.types["sluice_circuit_state"], "gauge");

    // The scrape itself is counted once it has been answered.
    let m = scrape(&gw).await;
    assert_eq!(
        m.get(
            "sluice_requests_total",
            &[("route", "/metrics"), ("model", ""), ("status", "200")]
        ),
        1.0
    );
}

/// The circuit gauge follows the breaker: 2 once it opened, 1 when the cooldown is over, 0
/// after the probe succeeded.
#[tokio::test]
async fn circuit_state_gauge_follows_the_breaker() {
    let a = MockUpstream::start().await;
    let b = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        r#"
providers:
  a: {{ kind: openai-compatible, base_url: "{}" }}
  b: {{ kind: openai-compatible, base_url: "{}" }}
models:
  - name: m
    strategy: ordered
    targets: [ {{ provider: a, model: x }}, {{ provider: b, model: y }} ]
    retry: {{ max: 1, backoff: 1ms }}
    circuit: {{ failures: 2, cooldown: 1s }}
"#,
        a.base_url(),
        b.base_url()
    ));
    let state = |m: &Scrape, provider: &str, model: &str| {
        m.get(
            "sluice_circuit_state",
            &[("provider", provider), ("model", model), ("group", "m")],
        )
    };
    a.push_times(Behavior::openai_error(500, "boom", "server_error", None), 2);
    for _ in 0..2 {
        let r = post_json(&gw.url(CHAT), &chat("m")).await;
        assert_eq!(r.header("x-sluice-model"), Some("y"));
    }
    let m = scrape(&gw).await;
    assert_eq!((state(&m, "a", "x"), state(&m, "b", "y")), (2.0, 0.0));
    assert_eq!(m.get("sluice_retries_total", &[("model", "m")]), 2.0);
    assert_eq!(
        m.get(
            "sluice_upstream_attempts_total",
            &[("provider", "a"), ("model", "x"), ("outcome", "5xx")]
        ),
        2.0
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(state(&scrape(&gw).await, "a", "x"), 1.0, "half-open");
    let r = post_json(&gw.url(CHAT), &chat("m")).await;
    assert_eq!(r.header("x-sluice-model"), Some("x"), "the probe succeeds");
    assert_eq!(state(&scrape(&gw).await, "a", "x"), 0.0);
}

/// With an admin key set, `/metrics` needs it, like `/admin`.
#[tokio::test]
async fn metrics_need_the_admin_key_when_one_is_set() {
    let a = MockUpstream::start().await;
    let gw = Sluice::start(&format!(
        "server: {{ admin_key: \"sk-admin-test\" }}\n{}",
        crate::harness::mock_config(&a.base_url())
    ));
    assert_eq!(get(&gw.url("/metrics")).await.status, 401);
    let wrong = send(
        Method::GET,
        &gw.url("/metrics"),
        &[("authorization", "Bearer sk-wrong")],
        "",
    )
    .await;
    assert_eq!(wrong.status, 401);
    let (_, m) = scrape_with(&gw, &[("authorization", "Bearer sk-admin-test")]).await;
    assert_eq!(
        m.get(
            "sluice_requests_total",
            &[("route", "/metrics"), ("model", ""), ("status", "401")]
        ),
        2.0
    );
}
