//! How fast the dashboard's overview reads its numbers over a large request log: writes `N`
//! synthetic records (default 10,000,000) spread over the 30 days before the first run
//! through [`Store::insert_logs`], the log writer's own statement, so the ledger tables hold
//! exactly what production writes; then runs, for the ranges 1 h, 24 h, 7 d and 30 d, the
//! store calls the overview page (`/ui`) makes, with its arguments and its concurrency, and
//! prints the best and the median of five runs, then the median of each call alone.
//!
//! ```sh
//! createdb -h 127.0.0.1 -U postgres overview10m
//! cargo run --release -p sluice-store --example overview_10m -- postgres://postgres@127.0.0.1/overview10m
//! cargo run --release -p sluice-store --example overview_10m -- sqlite:///tmp/overview10m.db
//! ```
//!
//! Optional arguments after the URL: the number of records, and how many batches are
//! written at once (default 3 on Postgres, 1 on SQLite, which has one writer anyway).
//!
//! Records look like a busy gateway's: 8 models on 4 providers (a few models take most of
//! the traffic), 1,000 keys (a few heavy, most light) in 50 teams of 5 orgs, 2,000 end
//! users on about a third of the requests, a `feature` tag on half and an `env` tag on a
//! fifth, about 3% errors (429, 5xx, 400, client hang-ups), three models that cache (15%
//! exact and 3% semantic hits), 60% streams, and latencies and times to first token spread
//! over two orders of magnitude. Every field is a hash of the record's number, so runs are
//! repeatable. The fill is skipped when the store holds `N` records; otherwise it writes
//! them all, and the records already stored are skipped by the insert, so a fill that was
//! stopped is completed. Ranges end at the newest record (as if the page were opened then),
//! so a later run measures the same work. Use a database of its own: the rows stay.

use std::time::{Duration, Instant};

use futures_util::future::{try_join_all, try_join3};
use serde_json::json;
use sluice_store::{
    Api, AttemptRecord, Backend, LogQuery, LogRecord, SpendDim, SpendQuery, Store, StoreError,
    UsageSource,
};

/// One hour in milliseconds.
const HOUR_MS: i64 = 3_600_000;
/// The span the records cover.
const SPAN_MS: i64 = 30 * 24 * HOUR_MS;
/// Records per `insert_logs` call.
const BATCH: usize = 5_000;
/// Timed runs per range.
const RUNS: usize = 5;
/// The overview's breakdowns (`ui/overview.rs`), with its row limit.
const BREAKDOWNS: [SpendDim; 4] = [
    SpendDim::Model,
    SpendDim::Provider,
    SpendDim::Key,
    SpendDim::Team,
];
const BREAKDOWN_ROWS: u32 = 10;
/// The overview's preset ranges (`ui/range.rs`).
const RANGES: [(&str, i64); 4] = [
    ("1 h", HOUR_MS),
    ("24 h", 24 * HOUR_MS),
    ("7 d", 7 * 24 * HOUR_MS),
    ("30 d", 30 * 24 * HOUR_MS),
];
/// Models with their provider, price per million prompt and completion tokens (USD),
/// whether they cache, and their share of the traffic (weights).
const MODELS: [(&str, &str, f64, f64, bool, u64); 8] = [
    ("fast", "openai", 0.15, 0.6, true, 30),
    ("smart", "anthropic", 3.0, 15.0, false, 20),
    ("cheap", "groq", 0.05, 0.08, true, 15),
    ("gemini-flash", "gemini", 0.3, 2.5, false, 12),
    ("gpt-4o", "openai", 2.5, 10.0, false, 9),
    ("haiku", "anthropic", 1.0, 5.0, true, 7),
    ("llama-70b", "groq", 0.59, 0.79, false, 5),
    ("gemini-pro", "gemini", 1.25, 10.0, false, 2),
];
const FEATURES: [&str; 6] = [
    "search",
    "chat",
    "summarize",
    "classify",
    "extract",
    "agent",
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: overview_10m STORE_URL [RECORDS] [CONCURRENT_BATCHES]")?;
    let n: u64 = args.next().map_or(Ok(10_000_000), |a| a.parse())?;
    let t = Instant::now();
    let store = Store::connect(&url).await?;
    println!(
        "connected and migrated in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let parallel: u64 = match args.next() {
        Some(a) => a.parse()?,
        None if store.backend() == Backend::Postgres => 3,
        None => 1,
    };
    let have = store.count_logs().await?;
    if have < n {
        seed(&store, n, parallel).await?;
    }
    let newest = store
        .query_logs(&LogQuery {
            limit: 1,
            ..LogQuery::default()
        })
        .await?;
    let now = newest.first().map_or(0, |r| r.received_at);
    println!(
        "{:?}: {} records; ranges end at the newest, {}",
        store.backend(),
        store.count_logs().await?,
        now
    );
    measure(&store, now).await?;
    store.close().await;
    Ok(())
}

/// Writes records `0..n` in batches of [`BATCH`], `parallel` batches at a time, each batch
/// writer on its own stretch of time (so they do not wait on each other's ledger rows).
/// Records already stored are skipped by the insert itself, and add nothing to the ledger.
async fn seed(store: &Store, n: u64, parallel: u64) -> Result<(), StoreError> {
    // The first record's time anchors the span, so a fill that was stopped is completed.
    let start = match store.log(&id(0)).await? {
        Some(first) => first.received_at,
        None => sluice_store::unix_ms() - SPAN_MS,
    };
    println!("writing records 0..{n} ({parallel} batches at a time)");
    let t = Instant::now();
    let mut written = 0;
    let per_task = n.div_ceil(parallel);
    let tasks = (0..parallel).map(|i| {
        let from = i * per_task;
        let to = (from + per_task).min(n);
        async move {
            let (mut at, mut inserted) = (from, 0);
            while at < to {
                let end = (at + BATCH as u64).min(to);
                let batch: Vec<LogRecord> = (at..end).map(|i| record(i, n, start)).collect();
                inserted += store.insert_logs(&batch).await?;
                at = end;
                if i == 0 && (at - from) % (100 * BATCH as u64) == 0 {
                    let done = (at - from) * parallel;
                    let secs = t.elapsed().as_secs_f64();
                    println!(
                        "  ~{done} records in {secs:.0} s ({:.0} records/s)",
                        done as f64 / secs
                    );
                }
            }
            Ok::<_, StoreError>(inserted)
        }
    });
    for inserted in try_join_all(tasks).await? {
        written += inserted;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "wrote {written} records in {secs:.0} s ({:.0} records/s)",
        written as f64 / secs
    );
    Ok(())
}

/// Record `i`'s id.
fn id(i: u64) -> String {
    format!("ov-{i:09}")
}

/// A well-mixed 64-bit hash of `i` and `salt` (splitmix64).
fn hash(i: u64, salt: u64) -> u64 {
    let mut z = i
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform number in `[0, 1)` from `i` and `salt`.
fn unit(i: u64, salt: u64) -> f64 {
    (hash(i, salt) >> 11) as f64 / (1u64 << 53) as f64
}

/// A value spread log-uniformly over `[low, high)`.
fn log_uniform(i: u64, salt: u64, low: f64, high: f64) -> u64 {
    (low * (high / low).powf(unit(i, salt))) as u64
}

/// Record `i` of `n`, spread evenly over the span from `start`.
fn record(i: u64, n: u64, start: i64) -> LogRecord {
    let received_at = start
        + i64::try_from(i128::from(i) * i128::from(SPAN_MS) / i128::from(n)).unwrap_or(SPAN_MS);
    let total: u64 = MODELS.iter().map(|m| m.5).sum();
    let mut pick = hash(i, 1) % total;
    let (model, provider, prompt_price, completion_price, caches, _) = MODELS
        .iter()
        .copied()
        .find(|m| {
            let hit = pick < m.5;
            pick = pick.saturating_sub(m.5);
            hit
        })
        .unwrap_or(MODELS[0]);
    // Keys: the square skews traffic to the low numbers (key 0 gets ~3%, key 999 ~0.002%).
    let key = (unit(i, 2).powi(2) * 1000.0) as u64;
    let team = key % 50;
    let status = match hash(i, 3) % 1000 {
        0..=14 => 429,
        15..=21 => 502,
        22..=23 => 500,
        24..=25 => 400,
        26..=29 => 499,
        _ => 200,
    };
    let ok = status < 400;
    let stream = unit(i, 4) < 0.6;
    let ttft = (stream && ok).then(|| log_uniform(i, 5, 120.0, 4_000.0));
    let duration = if ok {
        ttft.unwrap_or(0) + log_uniform(i, 6, 200.0, 30_000.0)
    } else {
        log_uniform(i, 6, 2.0, 5_000.0)
    };
    let cache = caches.then(|| match hash(i, 7) % 100 {
        0..=14 => "HIT",
        15..=17 => "SEMANTIC-HIT",
        18..=19 => "BYPASS",
        _ => "MISS",
    });
    let hit = ok && matches!(cache, Some("HIT" | "SEMANTIC-HIT"));
    let prompt = log_uniform(i, 8, 40.0, 6_000.0);
    let completion = log_uniform(i, 9, 5.0, 1_500.0);
    let price = (prompt as f64 * prompt_price + completion as f64 * completion_price) / 1e6;
    let (prompt_tokens, completion_tokens, cost, saved) = match (ok, hit) {
        (false, _) => (None, None, None, None),
        (true, true) => (Some(prompt), Some(completion), Some(0.0), Some(price)),
        (true, false) => (Some(prompt), Some(completion), Some(price), None),
    };
    let mut tags = serde_json::Map::new();
    if unit(i, 10) < 0.5 {
        let feature = FEATURES[(hash(i, 11) % FEATURES.len() as u64) as usize];
        tags.insert("feature".into(), json!(feature));
    }
    if unit(i, 12) < 0.2 {
        let env = if hash(i, 13) % 4 == 0 {
            "staging"
        } else {
            "prod"
        };
        tags.insert("env".into(), json!(env));
    }
    let error = |kind: &str| (!ok).then(|| kind.to_owned());
    LogRecord {
        id: id(i),
        received_at,
        first_byte_at: ok
            .then(|| received_at + i64::try_from(ttft.unwrap_or(duration)).unwrap_or(0)),
        done_at: received_at + i64::try_from(duration).unwrap_or(0),
        api: Api::Chat,
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        key: Some(format!("key_{key:04}")),
        team: Some(format!("team_{team:02}")),
        org: Some(format!("org_{}", team % 5)),
        user: (unit(i, 14) < 0.35).then(|| format!("user-{}", hash(i, 15) % 2_000)),
        tags: (!tags.is_empty()).then_some(serde_json::Value::Object(tags)),
        requested_model: Some(model.into()),
        resolved_model: Some(model.into()),
        provider: Some(provider.into()),
        upstream_model: Some(format!("{model}-2025")),
        attempts: if hit {
            Vec::new()
        } else {
            vec![AttemptRecord {
                provider: provider.into(),
                model: format!("{model}-2025"),
                outcome: if ok { "ok" } else { "5xx" }.into(),
                status: (!ok).then_some(status),
                duration_ms: duration,
                dropped: Vec::new(),
            }]
        },
        status,
        error_type: error("upstream_error"),
        error_message: error("the upstream failed"),
        stream,
        ttft_ms: ttft,
        duration_ms: duration,
        prompt_tokens,
        completion_tokens,
        usage_source: if ok {
            UsageSource::Upstream
        } else {
            UsageSource::None
        },
        cost_usd: cost,
        saved_usd: saved,
        cache: cache.map(str::to_owned),
        client_ip: Some(format!("10.0.{}.{}", key / 250, key % 250)),
        user_agent: Some("OpenAI/Python 1.54.0".into()),
        ..LogRecord::default()
    }
}

/// What one overview read returns: rows of the series and breakdowns, to check the work.
type Rows = usize;

/// The overview's store calls for `[from, to)`, as `ui/overview.rs`'s `load` makes them:
/// the total series, the latency series and the four breakdowns (each a spend report, then
/// the latency of its rows) at once.
async fn overview(store: &Store, from: i64, to: i64) -> Result<Rows, StoreError> {
    let breakdown = |dim: SpendDim| async move {
        let rows = store
            .spend(&SpendQuery {
                group_by: dim,
                from,
                to,
                limit: BREAKDOWN_ROWS,
            })
            .await?;
        let values: Vec<String> = rows.iter().map(|r| r.group.clone()).collect();
        let latency = store.latency_by(dim, &values, from, to).await?;
        Ok::<_, StoreError>(rows.len() + latency.len())
    };
    let (series, latency, breakdowns) = try_join3(
        store.spend_series(None, from, to),
        store.latency_series(None, from, to),
        try_join_all(BREAKDOWNS.iter().map(|dim| breakdown(*dim))),
    )
    .await?;
    Ok(series.len() + latency.len() + breakdowns.iter().sum::<usize>())
}

/// Times the overview for each range ending at `now`, then each of its calls alone.
async fn measure(store: &Store, now: i64) -> Result<(), StoreError> {
    let floor = |ms: i64| ms.div_euclid(HOUR_MS) * HOUR_MS;
    let ranges: Vec<_> = RANGES
        .iter()
        .map(|(name, span)| (*name, floor(now - span + 1), floor(now) + HOUR_MS))
        .collect();
    println!("\noverview (all calls, as the page makes them), {RUNS} runs");
    println!(
        "{:<6} {:>9} {:>9} {:>6}",
        "range", "best ms", "p50 ms", "rows"
    );
    for (name, from, to) in &ranges {
        let (times, rows) = timed(|| overview(store, *from, *to)).await?;
        println!(
            "{name:<6} {:>9.1} {:>9.1} {rows:>6}",
            ms(times[0]),
            ms(times[RUNS / 2])
        );
    }
    println!("\neach call alone, median ms");
    print!("{:<28}", "call");
    for (name, ..) in &ranges {
        print!(" {name:>8}");
    }
    println!();
    let mut calls: Vec<String> = vec!["spend_series(all)".into(), "latency_series(all)".into()];
    for dim in BREAKDOWNS {
        calls.push(format!("spend({}, top {BREAKDOWN_ROWS})", dim.name()));
        calls.push(format!("latency_by({}, top)", dim.name()));
    }
    for (c, call) in calls.iter().enumerate() {
        print!("{call:<28}");
        for (_, from, to) in &ranges {
            let (from, to) = (*from, *to);
            let dim = BREAKDOWNS[c.saturating_sub(2) / 2];
            let top: Vec<String> = store
                .spend(&SpendQuery {
                    group_by: dim,
                    from,
                    to,
                    limit: BREAKDOWN_ROWS,
                })
                .await?
                .into_iter()
                .map(|r| r.group)
                .collect();
            let top = &top;
            let (times, _) = timed(|| async move {
                Ok(match c {
                    0 => store.spend_series(None, from, to).await?.len(),
                    1 => store.latency_series(None, from, to).await?.len(),
                    c if c % 2 == 0 => {
                        let q = SpendQuery {
                            group_by: dim,
                            from,
                            to,
                            limit: BREAKDOWN_ROWS,
                        };
                        store.spend(&q).await?.len()
                    }
                    _ => store.latency_by(dim, top, from, to).await?.len(),
                })
            })
            .await?;
            print!(" {:>8.1}", ms(times[RUNS / 2]));
        }
        println!();
    }
    Ok(())
}

/// [`RUNS`] timings of `f`, fastest first, and what its last run returned.
async fn timed<F, Fut>(mut f: F) -> Result<(Vec<Duration>, Rows), StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Rows, StoreError>>,
{
    let mut times = Vec::with_capacity(RUNS);
    let mut rows = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        rows = f().await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok((times, rows))
}

/// `d` in milliseconds.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
