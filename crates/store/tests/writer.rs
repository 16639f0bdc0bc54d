//! The log writer: batching, spilling to the journal when the queue is full or the store is
//! down, replay on recovery and at startup, and the shutdown flush. Timing runs on paused
//! tokio time against an in-memory stand-in for the store; one test uses real SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use sluice_store::{Journal, LogRecord, LogSink, LogWriter, RecordStore, StoreError, WriterConfig};

/// A store in memory that can be taken down, made to stop answering, and told to refuse some
/// ids as bad data.
#[derive(Default)]
struct FakeStore {
    down: AtomicBool,
    /// Calls never answer (a hung connection); only the writer's timeout ends them.
    hung: AtomicBool,
    prepared: AtomicUsize,
    /// Each successful insert call, with the ids it inserted.
    batches: Mutex<Vec<Vec<String>>>,
    ids: Mutex<HashSet<String>>,
    bad: Mutex<HashSet<String>>,
}

impl FakeStore {
    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    fn batch_sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }
    fn stored(&self) -> usize {
        self.ids.lock().unwrap().len()
    }
    fn inserted_total(&self) -> usize {
        self.batch_sizes().iter().sum()
    }
    async fn answer(&self) {
        if self.hung.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Db(sqlx::Error::PoolTimedOut))
        } else {
            Ok(())
        }
    }
}

impl RecordStore for FakeStore {
    fn prepare(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.answer().await;
            self.check()?;
            self.prepared.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.answer().await;
            self.check()
        })
    }
    fn insert<'a>(&'a self, records: &'a [LogRecord]) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            self.answer().await;
            self.check()?;
            let bad = self.bad.lock().unwrap();
            if records.iter().any(|r| bad.contains(&r.id)) {
                return Err(StoreError::Db(sqlx::Error::Encode("bad value".into())));
            }
            let mut ids = self.ids.lock().unwrap();
            let mut fresh = Vec::new();
            for r in records {
                // Idempotent, like the real store.
                if ids.insert(r.id.clone()) {
                    fresh.push(r.id.clone());
                }
            }
            let n = fresh.len() as u64;
            self.batches.lock().unwrap().push(fresh);
            Ok(n)
        })
    }
}

const INTERVAL: Duration = Duration::from_millis(200);

fn rec(i: usize) -> LogRecord {
    LogRecord {
        id: format!("r{i}"),
        received_at: i as i64,
        status: 200,
        ..LogRecord::default()
    }
}

fn start(
    store: &Arc<FakeStore>,
    dir: &std::path::Path,
    config: WriterConfig,
) -> (LogSink, LogWriter) {
    let journal = Journal::open(dir).unwrap();
    LogWriter::start(store.clone(), journal, config)
}

fn config(batch_size: usize, queue: usize) -> WriterConfig {
    WriterConfig {
        batch_interval: INTERVAL,
        batch_size,
        queue,
        ..WriterConfig::default()
    }
}

/// Lets the writer task run without moving the clock.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn records_are_written_together_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FakeStore::default());
    let (sink, mut writer) = start(&store, dir.path(), config(100, 100));
    assert!(writer.first_try().await, "the store came up");
    assert_eq!(
        store.prepared.load(Ordering::SeqCst),
        1,
        "migrated at start"
    );
    for i in 0..3 {
        sink.send(rec(i));
    }
    settle().await;
    assert!(
        store.batch_sizes().is_empty(),
        "nothing before the interval"
    );
    tokio::time::sleep(INTERVAL).await;
    settle().await;
    assert_eq!(store.batch_sizes(), [3], "one multi-row batch");
    assert_eq!(sink.stats().written, 3);
    assert_eq!(sink.stats().queued, 0);
    writer.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_full_batch_is_written_before_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FakeStore::default());
    let (sink, writer) = start(&store, dir.path(), config(10, 100));
    settle().await;
    for i in 0..25 {
        sink.send(rec(i));
    }
    settle().await;
    assert_eq!(store.batch_sizes(), [10, 10], "no waiting for the interval");
    tokio::time::sleep(INTERVAL).await;
    settle().await;
    assert_eq!(store.batch_sizes(), [10, 10, 5]);
    writer.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_spills_to_the_journal_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FakeStore::default());
    let (sink, writer) = start(&store, dir.path(), config(100, 4));
    settle().await;
    // The writer cannot run between these sends: the queue takes 4, the journal the rest.
    for i in 0..10 {
        sink.send(rec(i));
    }
    let stats = sink.stats();
    assert_eq!((stats.queued, stats.spilled), (4, 6));
    assert!(stats.journal_bytes > 0);
    tokio::time::sleep(INTERVAL).await;
    settle().await;
    assert_eq!(
        store.stored(),
        10,
        "queued and journalled records all arrive"
    );
    assert_eq!(store.inserted_total(), 10, "each exactly once");
    assert_eq!(
        sink.stats().journal_bytes,
        0,
        "the journal is replayed and removed"
    );
    writer.shutdown(Duration::from_secs(1)).await;
    assert_eq!(journal_files(dir.path()), 0);
}

#[tokio::test(start_paused = true)]
async fn records_spill_while_the_store_is_down_and_replay_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FakeStore::default());
    store.set_down(true);
    let (sink, mut writer) = start(&store, dir.path(), config(100, 100));
    assert!(!writer.first_try().await, "the store is down");
    assert!(!sink.stats().store_up);
    for round in 0..5 {
        for i in 0..4 {
            sink.send(rec(round * 4 + i));
        }
        tokio::time::sleep(INTERVAL).await;
        settle().await;
    }
    assert_eq!(store.stored(), 0);
    assert_eq!(sink.stats().spilled, 20);
    store.set_down(false);
    // Within the longest retry wait the store is probed again and the journal replayed.
    tokio::time::sleep(WriterConfig::default().retry_max + INTERVAL * 2).await;
    settle().await;
    let stats = sink.stats();
    assert!(stats.store_up);
    assert_eq!(store.stored(), 20);
    assert_eq!(store.inserted_total(), 20);
    assert_eq!(stats.journal_bytes, 0);
    writer.shutdown(Duration::from_secs(1)).await;
}

/// A store that stops answering (a hung connection) does not keep the queue in memory until
/// the insert times out: at every batch interval what waits goes to the journal, so a crash
/// loses at most the last interval's records and the batch being written. Once the store
/// answers again, every record is stored exactly once.
#[tokio::test(start_paused = true)]
async fn a_store_that_stops_answering_does_not_hold_records_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FakeStore::default());
    let (sink, mut writer) = start(&store, dir.path(), config(100, 100));
    assert!(writer.first_try().await);
    store.hung.store(true, Ordering::SeqCst);
    for i in 0..3 {
        sink.send(rec(i));
    }
    tokio::time::sleep(INTERVAL).await;
    settle().await;
    assert_eq!(sink.stats().spilled, 0, "the insert has just begun");
    for i in 3..5 {
        sink.send(rec(i));
    }
    tokio::time::sleep(INTERVAL).await;
    settle().await;
    let stats = sink.stats();
    assert_eq!(
        (stats.spilled, stats.queued),
        (2, 0),
        "one interval on, the queue is journalled"
    );
    sink.send(rec(5));
    tokio::time::sleep(INTERVAL).await;
    settle().await;
    assert_eq!(sink.stats().spilled, 3, "and so on at every interval");
    assert_eq!(store.stored(), 0);

    store.hung.store(false, Ordering::SeqCst);
    // The hung insert times out; the store is probed again and the journal replayed.
    tokio::time::sleep(WriterConfig::default().store_timeout + INTERVAL * 5).await;
    settle().await;
    assert_eq!(store.stored(), 6);
    assert_eq!(store.inserted_total(), 6, "each record once");
    assert_eq!(sink.stats().journal_bytes, 0);
    writer.shutdown(Duration::from_secs(1)).await;
    assert_eq!(journal_files(dir.path()), 0);
}

#[tokio::test(start_paused = true)]
async fn shutdown_writes_what_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FakeStore::default());
    let config = WriterConfig {
        batch_interval: Duration::from_secs(3600),
        ..config(1000, 1000)
    };
    let (sink, writer) = start(&store, dir.path(), config);
    settle().await;
    for i in 0..7 {
        sink.send(rec(i));
    }
    writer.shutdown(Duration::from_secs(5)).await;
    assert_eq!(store.stored(), 7);
    // After shutdown records still are not lost: they go to the journal.
    sink.send(rec(99));
    assert_eq!(sink.stats().spilled, 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_with_the_store_down_journals_and_the_next_start_replays() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FakeStore::default());
    store.set_down(true);
    let (sink, writer) = start(&store, dir.path(), config(100, 100));
    settle().await;
    for i in 0..6 {
        sink.send(rec(i));
    }
    writer.shutdown(Duration::from_secs(1)).await;
    assert_eq!(store.stored(), 0);
    assert_eq!(sink.stats().spilled, 6);
    drop(sink);
    assert!(journal_files(dir.path()) > 0);

    store.set_down(false);
    let (sink, writer) = start(&store, dir.path(), config(100, 100));
    settle().await;
    assert_eq!(store.stored(), 6, "replayed at startup");
    assert_eq!(sink.stats().journal_bytes, 0);
    writer.shutdown(Duration::from_secs(1)).await;
    assert_eq!(journal_files(dir.path()), 0);
}

#[tokio::test(start_paused = true)]
async fn records_the_store_refuses_are_kept_aside_not_retried_forever() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FakeStore::default());
    store.bad.lock().unwrap().insert("r2".into());
    let (sink, writer) = start(&store, dir.path(), config(100, 100));
    settle().await;
    for i in 0..5 {
        sink.send(rec(i));
    }
    tokio::time::sleep(INTERVAL).await;
    settle().await;
    assert_eq!(store.stored(), 4);
    let stats = sink.stats();
    assert_eq!((stats.rejected, stats.dropped, stats.spilled), (1, 0, 0));
    assert!(stats.store_up);
    let rejected = std::fs::read_to_string(dir.path().join("rejected.jsonl")).unwrap();
    assert!(
        rejected.contains("\"r2\"") && rejected.contains("bad value"),
        "{rejected}"
    );
    writer.shutdown(Duration::from_secs(1)).await;
}

/// The writer against a real SQLite store, end to end.
#[tokio::test]
async fn records_reach_sqlite() {
    let db = common::sqlite().await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(dir.path()).unwrap();
    let (sink, writer) = LogWriter::start(Arc::new(db.store.clone()), journal, config(50, 1000));
    for i in 0..120 {
        sink.send(rec(i));
    }
    writer.shutdown(Duration::from_secs(10)).await;
    assert_eq!(db.store.count_logs().await.unwrap(), 120);
    assert_eq!(sink.stats().spilled, 0);
}

fn journal_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("journal-"))
        .count()
}
