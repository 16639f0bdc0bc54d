//! The log writer: the request path's non-blocking [`LogSink`], the background [`LogWriter`]
//! that batches records into the store, spills to the [`Journal`] and replays it, and the
//! retention pruner.
//!
//! The writer is one task with a small state machine. While the store is healthy each batch
//! is inserted and, after it, a bounded slice of the journal is replayed. When an insert fails
//! the batch is journalled and the store is marked down; until the retry time (exponential
//! backoff up to `retry_max`) batches go straight to the journal, then the next batch (or a
//! ping when idle) probes the store again. A batch the store refuses as data is retried row
//! by row, and the rows it still refuses go to `rejected.jsonl` rather than looping forever.
//!
//! A slow store never keeps records in memory for long: while a store operation runs (an
//! insert, a replay, a reconnect that may hang until its timeout), the records waiting in the
//! queue go to the journal at every batch interval. A crash therefore finds in memory at
//! most the records of the last interval and the batch being written, however slow the store
//! is; the journalled ones are written once, by the replay, so a slow store gets no extra work.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::journal::Journal;
use crate::record::LogRecord;
use crate::{Store, StoreError};

/// First wait before the store is tried again after a failure.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Records replayed from the journal per batch interval, in batches of `batch_size`.
const REPLAY_BATCHES_PER_TICK: usize = 8;

/// Where the writer puts records: the [`Store`], or a stand-in in tests.
pub trait RecordStore: Send + Sync + 'static {
    /// Makes the store usable (applies migrations); called until it succeeds once.
    fn prepare(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Checks that the store answers.
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Inserts `records` (idempotently: a record already stored is skipped).
    fn insert<'a>(&'a self, records: &'a [LogRecord]) -> BoxFuture<'a, Result<u64, StoreError>>;
}

impl RecordStore for Store {
    fn prepare(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(self.migrate())
    }
    fn ping(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(Store::ping(self))
    }
    fn insert<'a>(&'a self, records: &'a [LogRecord]) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(self.insert_logs(records))
    }
}

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// How often waiting records are written. Default 200 ms.
    pub batch_interval: Duration,
    /// Records that trigger a write before the interval is over. Default 1,000.
    pub batch_size: usize,
    /// Capacity of the in-memory queue. Default 10,000.
    pub queue: usize,
    /// Longest wait for one store operation before it counts as failed. Default 10 s.
    pub store_timeout: Duration,
    /// Longest wait between two tries of a store that is down. Default 5 s.
    pub retry_max: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            batch_interval: Duration::from_millis(200),
            batch_size: 1000,
            queue: 10_000,
            store_timeout: Duration::from_secs(10),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// Counters shared by the sink and the writer.
#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    spilled: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
    store_up: AtomicBool,
}

/// A snapshot of the log pipeline, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// Records waiting in the in-memory queue.
    pub queued: usize,
    /// Capacity of the queue.
    pub capacity: usize,
    /// Bytes waiting in the journal.
    pub journal_bytes: u64,
    /// Records written to the store by this process.
    pub written: u64,
    /// Records spilled to the journal by this process.
    pub spilled: u64,
    /// Records the store refused as data (kept in `rejected.jsonl`).
    pub rejected: u64,
    /// Records lost because neither the queue nor the journal took them (disk failure).
    pub dropped: u64,
    /// Whether the last store operation succeeded.
    pub store_up: bool,
}

/// The request path's handle: enqueue a record without ever waiting. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LogSink {
    tx: mpsc::Sender<LogRecord>,
    journal: Arc<Journal>,
    counters: Arc<Counters>,
}

impl LogSink {
    /// Enqueues `record`; when the queue is full (or the writer has stopped) the record is
    /// appended to the journal instead.
    pub fn send(&self, record: LogRecord) {
        let record = match self.tx.try_send(record) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(r) | mpsc::error::TrySendError::Closed(r)) => r,
        };
        spill(&self.journal, &self.counters, std::slice::from_ref(&record));
    }

    /// The pipeline's counters now.
    pub fn stats(&self) -> LogStats {
        let c = &self.counters;
        LogStats {
            queued: self.tx.max_capacity() - self.tx.capacity(),
            capacity: self.tx.max_capacity(),
            journal_bytes: self.journal.pending_bytes(),
            written: c.written.load(Ordering::Relaxed),
            spilled: c.spilled.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            store_up: c.store_up.load(Ordering::Relaxed),
        }
    }
}

/// Appends `records` to the journal, counting them as spilled, or as dropped if even that fails.
fn spill(journal: &Journal, counters: &Counters, records: &[LogRecord]) {
    let n = u64::try_from(records.len()).unwrap_or(u64::MAX);
    match journal.append(records) {
        Ok(()) => {
            counters.spilled.fetch_add(n, Ordering::Relaxed);
        }
        Err(e) => {
            counters.dropped.fetch_add(n, Ordering::Relaxed);
            tracing::error!(error = %e, records = n, dir = %journal.dir().display(), "cannot write the log journal; records lost");
        }
    }
}

/// The background writer task; [`LogWriter::shutdown`] flushes it.
#[derive(Debug)]
pub struct LogWriter {
    task: JoinHandle<()>,
    stop: oneshot::Sender<Instant>,
    first_try: Option<oneshot::Receiver<bool>>,
}

impl LogWriter {
    /// Starts the writer on the current tokio runtime. Journalled records (from an earlier
    /// run) are replayed as soon as the store answers.
    pub fn start(
        store: Arc<dyn RecordStore>,
        journal: Journal,
        config: WriterConfig,
    ) -> (LogSink, LogWriter) {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let journal = Arc::new(journal);
        let counters = Arc::new(Counters::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let (tried_tx, tried_rx) = oneshot::channel();
        let state = Writer {
            rx,
            store,
            journal: journal.clone(),
            counters: counters.clone(),
            batch_size: config.batch_size.max(1),
            config,
            ready: false,
            up: false,
            retry_at: Instant::now(),
            backoff: MIN_BACKOFF,
            replaying: None,
        };
        let task = tokio::spawn(state.run(stop_rx, tried_tx));
        let sink = LogSink {
            tx,
            journal,
            counters,
        };
        (
            sink,
            LogWriter {
                task,
                stop: stop_tx,
                first_try: Some(tried_rx),
            },
        )
    }

    /// Waits for the writer's first try to bring the store up (migrations included) and
    /// tells whether it worked. Later calls answer `false` at once.
    pub async fn first_try(&mut self) -> bool {
        match self.first_try.take() {
            Some(rx) => rx.await.unwrap_or(false),
            None => false,
        }
    }

    /// Stops taking records, writes what is queued (to the store if it answers by
    /// `within`, else to the journal) and syncs the journal. Records sent afterwards go
    /// straight to the journal.
    pub async fn shutdown(self, within: Duration) {
        let _ = self.stop.send(Instant::now() + within);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the log writer failed");
        }
    }
}

struct Writer {
    rx: mpsc::Receiver<LogRecord>,
    store: Arc<dyn RecordStore>,
    journal: Arc<Journal>,
    counters: Arc<Counters>,
    config: WriterConfig,
    batch_size: usize,
    /// `prepare` succeeded.
    ready: bool,
    /// The last store operation succeeded.
    up: bool,
    /// While down: when to try the store again.
    retry_at: Instant,
    backoff: Duration,
    /// The journal segment being replayed and the offset reached.
    replaying: Option<(std::path::PathBuf, u64)>,
}

impl Writer {
    async fn run(mut self, mut stop: oneshot::Receiver<Instant>, tried: oneshot::Sender<bool>) {
        let mut buf = Vec::with_capacity(self.batch_size);
        // Bring the store up (and replay an earlier run's journal) right away.
        self.probe().await;
        let _ = tried.send(self.up);
        self.replay().await;
        let mut tick = Instant::now() + self.config.batch_interval;
        loop {
            let room = self.batch_size.saturating_sub(buf.len());
            tokio::select! {
                biased;
                deadline = &mut stop => {
                    let deadline = deadline.unwrap_or_else(|_| Instant::now());
                    self.rx.close();
                    while let Ok(r) = self.rx.try_recv() {
                        buf.push(r);
                    }
                    self.finish(buf, deadline).await;
                    return;
                }
                n = self.rx.recv_many(&mut buf, room), if room > 0 => {
                    if n == 0 {
                        // Every sink is gone: nothing more can arrive.
                        let deadline = Instant::now() + self.config.store_timeout;
                        self.finish(buf, deadline).await;
                        return;
                    }
                }
                () = tokio::time::sleep_until(tick) => {}
            }
            if buf.len() >= self.batch_size || Instant::now() >= tick {
                let batch = std::mem::replace(&mut buf, Vec::with_capacity(self.batch_size));
                self.flush(batch).await;
                self.replay().await;
                tick = Instant::now() + self.config.batch_interval;
            }
        }
    }

    /// Writes one batch to the store, or to the journal while the store is down.
    async fn flush(&mut self, batch: Vec<LogRecord>) {
        if batch.is_empty() {
            if !self.up && Instant::now() >= self.retry_at {
                self.probe().await;
            }
            return;
        }
        if !self.up && Instant::now() < self.retry_at {
            spill(&self.journal, &self.counters, &batch);
            return;
        }
        if !self.write(&batch).await {
            spill(&self.journal, &self.counters, &batch);
        }
    }

    /// Inserts `batch`; false (with the store marked down) when it could not.
    async fn write(&mut self, batch: &[LogRecord]) -> bool {
        if !self.ready {
            self.probe().await;
            if !self.ready {
                return false;
            }
        }
        let timeout = self.config.store_timeout;
        let insert = tokio::time::timeout(timeout, self.store.insert(batch));
        let every = self.config.batch_interval;
        let result = guard(insert, &mut self.rx, &self.journal, &self.counters, every)
            .await
            .unwrap_or(Err(StoreError::Timeout(timeout)));
        match result {
            Ok(_) => {
                self.mark_up();
                self.count_written(batch.len());
                true
            }
            Err(e) if e.is_data_error() && batch.len() > 1 => {
                tracing::warn!(error = %e, "the store refused a batch; writing its records one by one");
                for record in batch {
                    if !self.write_one(record).await {
                        return false;
                    }
                }
                true
            }
            Err(e) if e.is_data_error() => self.write_one_failed(&batch[0], &e),
            Err(e) => {
                self.mark_down(&e);
                false
            }
        }
    }

    /// Inserts one record; a data error sends it to `rejected.jsonl`. False when the store
    /// went down.
    async fn write_one(&mut self, record: &LogRecord) -> bool {
        let timeout = self.config.store_timeout;
        let one = std::slice::from_ref(record);
        let insert = tokio::time::timeout(timeout, self.store.insert(one));
        let every = self.config.batch_interval;
        match guard(insert, &mut self.rx, &self.journal, &self.counters, every).await {
            Ok(Ok(_)) => {
                self.count_written(1);
                true
            }
            Ok(Err(e)) if e.is_data_error() => self.write_one_failed(record, &e),
            Ok(Err(e)) => {
                self.mark_down(&e);
                false
            }
            Err(_) => {
                self.mark_down(&StoreError::Timeout(timeout));
                false
            }
        }
    }

    fn write_one_failed(&mut self, record: &LogRecord, e: &StoreError) -> bool {
        tracing::error!(request_id = %record.id, error = %e, "the store refused a log record; kept in rejected.jsonl");
        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
        if let Err(io) = self.journal.reject(record, &e.to_string()) {
            tracing::error!(error = %io, "cannot write rejected.jsonl; record lost");
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Tries to bring the store up: migrations first, then a ping.
    async fn probe(&mut self) {
        let timeout = self.config.store_timeout;
        let (ready, store) = (self.ready, &self.store);
        let result = async {
            if !ready {
                store.prepare().await?;
            }
            store.ping().await
        };
        let probe = tokio::time::timeout(timeout, result);
        let every = self.config.batch_interval;
        match guard(probe, &mut self.rx, &self.journal, &self.counters, every).await {
            Ok(Ok(())) => {
                self.ready = true;
                self.mark_up();
            }
            Ok(Err(e)) => self.mark_down(&e),
            Err(_) => self.mark_down(&StoreError::Timeout(timeout)),
        }
    }

    /// Replays up to a few batches of journalled records while the store is up.
    async fn replay(&mut self) {
        if !self.up || self.journal.pending_bytes() == 0 {
            return;
        }
        for _ in 0..REPLAY_BATCHES_PER_TICK {
            let (segment, offset) = match self.replaying.take() {
                Some(current) => current,
                None => match self.next_segment() {
                    Some(segment) => (segment, 0),
                    None => return,
                },
            };
            let read = self.journal.read(&segment, offset, self.batch_size);
            let (records, next) = match read {
                Ok(read) => read,
                Err(e) => {
                    tracing::error!(segment = %segment.display(), error = %e, "cannot read a journal segment");
                    return;
                }
            };
            if !records.is_empty() && !self.write(&records).await {
                // Down again: the segment is retried from the same offset later.
                self.replaying = Some((segment, offset));
                return;
            }
            if records.is_empty() {
                if let Err(e) = self.journal.remove(&segment) {
                    tracing::error!(segment = %segment.display(), error = %e, "cannot delete a replayed journal segment");
                    return;
                }
                tracing::info!(segment = %segment.display(), "journal segment replayed");
            } else {
                self.replaying = Some((segment, next));
            }
        }
    }

    /// The oldest sealed segment; seals the open one when none is left.
    fn next_segment(&self) -> Option<std::path::PathBuf> {
        let sealed = self.journal.sealed().ok()?;
        if let Some(first) = sealed.into_iter().next() {
            return Some(first);
        }
        if let Err(e) = self.journal.seal() {
            tracing::error!(error = %e, "cannot seal the journal segment");
            return None;
        }
        self.journal.sealed().ok()?.into_iter().next()
    }

    /// Writes what is left before `deadline`, journals the rest, and syncs the journal.
    async fn finish(mut self, buf: Vec<LogRecord>, deadline: Instant) {
        let n = buf.len();
        let mut rest: &[LogRecord] = &buf;
        while !rest.is_empty() {
            let (batch, tail) = rest.split_at(rest.len().min(self.batch_size));
            let left = deadline.saturating_duration_since(Instant::now());
            let in_time = !left.is_zero() && (self.up || Instant::now() >= self.retry_at);
            self.config.store_timeout = left.min(self.config.store_timeout);
            if !in_time || !self.write(batch).await {
                spill(&self.journal, &self.counters, rest);
                break;
            }
            rest = tail;
        }
        if let Err(e) = self.journal.sync() {
            tracing::error!(error = %e, "cannot sync the log journal");
        }
        tracing::info!(records = n, "request log flushed");
    }

    fn mark_up(&mut self) {
        if !self.up {
            tracing::info!("log store is up");
        }
        self.up = true;
        self.backoff = MIN_BACKOFF;
        self.counters.store_up.store(true, Ordering::Relaxed);
    }

    fn mark_down(&mut self, e: &StoreError) {
        if self.up || self.backoff == MIN_BACKOFF {
            tracing::warn!(error = %e, "log store unavailable; journalling records until it is back");
        } else {
            tracing::debug!(error = %e, "log store still unavailable");
        }
        self.up = false;
        self.counters.store_up.store(false, Ordering::Relaxed);
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(self.config.retry_max.max(MIN_BACKOFF));
    }

    fn count_written(&self, n: usize) {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.counters.written.fetch_add(n, Ordering::Relaxed);
    }
}

/// Awaits the store operation `op`; at every interval (`every`) it is still running, the
/// records waiting in the queue go to the journal.
async fn guard<T>(
    op: impl Future<Output = T>,
    rx: &mut mpsc::Receiver<LogRecord>,
    journal: &Journal,
    counters: &Counters,
    every: Duration,
) -> T {
    let mut op = std::pin::pin!(op);
    loop {
        tokio::select! {
            biased;
            out = &mut op => return out,
            () = tokio::time::sleep(every) => {
                let mut waiting = Vec::new();
                while let Ok(r) = rx.try_recv() {
                    waiting.push(r);
                }
                if !waiting.is_empty() {
                    tracing::debug!(records = waiting.len(), "the store is slow to answer; journalling the queue");
                    spill(journal, counters, &waiting);
                }
            }
        }
    }
}

/// Starts the retention task: every `every`, deletes records older than `retention` and
/// beyond `max_rows`, in batches of 1,000 rows so no lock is held for long. The spend
/// ledger is left alone: spend history outlives the log. Stored Responses API answers
/// follow the time retention.
pub fn spawn_pruner(
    store: Store,
    retention: Option<Duration>,
    max_rows: Option<u64>,
    every: Duration,
) -> Option<JoinHandle<()>> {
    if retention.is_none() && max_rows.is_none() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let older_than = retention.map(|r| {
                crate::unix_ms().saturating_sub(i64::try_from(r.as_millis()).unwrap_or(i64::MAX))
            });
            match store.prune_logs(older_than, max_rows, 1000).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "pruned old request log records"),
                Err(e) => tracing::warn!(error = %e, "pruning the request log failed"),
            }
            if let Some(older_than) = older_than
                && let Err(e) = store.prune_responses(older_than).await
            {
                tracing::warn!(error = %e, "pruning stored responses failed");
            }
        }
    }))
}
