//! The sustained write rate of the request log: `N` records through the [`LogWriter`] (the
//! gateway's batched writer, default settings) into a store, timed from the first record
//! queued to the last one written.
//!
//! ```sh
//! cargo run --release -p sluice-store --example write_rate -- sqlite:///tmp/rate.db 200000
//! cargo run --release -p sluice-store --example write_rate -- postgres://postgres@127.0.0.1/test
//! ```
//!
//! Records look like a chat request's (ids, timestamps, model, provider, one attempt, tokens,
//! cost, tags); ids are unique per run, so runs can share a database. They are queued as fast
//! as the writer takes them (never more than a few batches ahead, as under steady load), so
//! the number is the store's. Prints one line: `backend records seconds records/s
//! journalled`; the last column counts records the writer journalled because a write took
//! longer than a batch interval (they reach the store through the replay, within the time
//! measured).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_store::{
    Api, AttemptRecord, Journal, LogRecord, LogWriter, Store, UsageSource, WriterConfig,
};

/// The queue holds this many batches; the producer stays a batch below that.
const AHEAD: usize = 4;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: write_rate STORE_URL [RECORDS] [BATCH_SIZE]")?;
    let n: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let batch_size: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let store = Store::connect(&url).await?;
    let journal_dir = tempfile::tempdir()?;
    let config = WriterConfig {
        queue: AHEAD * batch_size,
        batch_size,
        ..WriterConfig::default()
    };
    let run = sluice_store::unix_ms();
    let journal = Journal::open(journal_dir.path())?;
    let (sink, mut writer) = LogWriter::start(Arc::new(store.clone()), journal, config);
    if !writer.first_try().await {
        return Err("the store did not come up".into());
    }
    let started = Instant::now();
    for i in 0..n {
        while sink.stats().queued >= (AHEAD - 1) * batch_size {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        sink.send(record(run, i));
    }
    let target = u64::try_from(n)?;
    while sink.stats().written < target {
        let stats = sink.stats();
        if stats.rejected > 0 || stats.dropped > 0 {
            return Err(format!("records were refused or lost: {stats:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    writer.shutdown(Duration::from_secs(10)).await;
    let rate = n as f64 / secs;
    let journalled = sink.stats().spilled;
    println!("{:?} {n} {secs:.3} {rate:.0} {journalled}", store.backend());
    store.close().await;
    Ok(())
}

/// A chat request's record, as the gateway writes one.
fn record(run: i64, i: usize) -> LogRecord {
    let received_at = run + i64::try_from(i / 100).unwrap_or(0);
    LogRecord {
        id: format!("rate-{run}-{i}"),
        received_at,
        first_byte_at: Some(received_at + 120),
        done_at: received_at + 480,
        api: Api::Chat,
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        key: Some("key_bench".into()),
        team: Some("team_bench".into()),
        user: Some(format!("user-{}", i % 50)),
        tags: Some(serde_json::json!({"feature": "bench"})),
        requested_model: Some("fast".into()),
        resolved_model: Some("fast".into()),
        provider: Some("openai".into()),
        upstream_model: Some("gpt-4o-mini".into()),
        attempts: vec![AttemptRecord {
            provider: "openai".into(),
            model: "gpt-4o-mini".into(),
            outcome: "ok".into(),
            status: None,
            duration_ms: 470,
            dropped: Vec::new(),
        }],
        status: 200,
        stream: i % 2 == 0,
        ttft_ms: Some(120),
        duration_ms: 480,
        prompt_tokens: Some(812),
        completion_tokens: Some(96),
        cached_tokens: Some(0),
        usage_source: UsageSource::Upstream,
        cost_usd: Some(0.000_179_4),
        cache: Some("MISS".into()),
        client_ip: Some("127.0.0.1".into()),
        user_agent: Some("write_rate/1".into()),
        ..LogRecord::default()
    }
}
