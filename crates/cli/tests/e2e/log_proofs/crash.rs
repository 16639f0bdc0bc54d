//! A crash (SIGKILL) loses at most the records still in memory: what was journalled is
//! replayed at the next start.

use std::time::{Duration, Instant};

use sluice_testkit::MockUpstream;

use super::{
    answered_load, check_records, config, journal_ids, stored_records, wait_for_empty_journal,
    wait_for_requests,
};
use crate::harness::Sluice;

/// The store is a SQLite file in a directory that does not exist yet, so every batch goes to
/// the journal. After SIGKILL the directory is made, and the next start writes every
/// journalled record (the segment the crash left open included) into the store.
#[tokio::test]
async fn records_journalled_before_a_sigkill_are_replayed_at_the_next_start() {
    const N: usize = 200;
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db_dir = dir.path().join("not-yet");
    let store = format!("sqlite://{}", db_dir.join("logs.db").display());
    let journal = dir.path().join("journal");
    let config = config(&mock, &store, &journal, "batch_interval: 50ms", "");
    let mut gw = Sluice::start(&config);
    let calls = answered_load(&gw, "crash", N, 16).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while journal_ids(&journal).len() < N {
        assert!(
            Instant::now() < deadline,
            "{} of {N} records journalled\n{}",
            journal_ids(&journal).len(),
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gw.kill();
    assert!(
        std::fs::read_dir(&journal)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().ends_with(".open")),
        "the crash left the segment being written open"
    );

    std::fs::create_dir(&db_dir).unwrap();
    let gw = Sluice::start(&config);
    let totals = wait_for_requests(&gw, N as u64, Duration::from_secs(30)).await;
    assert_eq!(totals.0, N as u64);
    wait_for_empty_journal(&gw, &journal, Duration::from_secs(30)).await;
    let records = stored_records(&gw).await;
    assert_eq!(records.len(), N);
    check_records(&records, &calls);
}

/// A store that accepts connections and never answers (a hung database) keeps the writer
/// waiting on each connection attempt for seconds, until it times out; meanwhile records must
/// not sit in memory. The first wave of requests is journalled once the first attempt has
/// timed out; the second arrives while the writer is stuck in its next attempt. A SIGKILL a
/// second (ten batch intervals) later, with that attempt still hanging, loses nothing: the
/// next start, on a store that works, holds every record of both waves.
#[tokio::test]
async fn a_hung_store_does_not_widen_the_crash_window() {
    let mock = MockUpstream::start().await;
    // Connections wait in the listen backlog: the TCP handshake succeeds, nothing answers.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_url = format!("postgres://postgres@{}/hung", hung.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let config_hung = config(&mock, &hung_url, &journal, "batch_interval: 100ms", "");
    let mut gw = Sluice::start(&config_hung);
    let mut calls = answered_load(&gw, "wave1", 20, 8).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal_ids(&journal).len() < 20 {
        assert!(
            Instant::now() < deadline,
            "wave 1 not journalled\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The writer tries the store again a quarter second after the failure, and hangs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    calls.extend(answered_load(&gw, "wave2", 30, 8).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    gw.kill();
    assert_eq!(journal_ids(&journal).len(), 50, "{}", gw.logs());

    let store = format!("sqlite://{}", dir.path().join("logs.db").display());
    let gw = Sluice::start(&config(&mock, &store, &journal, "", ""));
    wait_for_requests(&gw, 50, Duration::from_secs(30)).await;
    wait_for_empty_journal(&gw, &journal, Duration::from_secs(30)).await;
    check_records(&stored_records(&gw).await, &calls);
}
