//! A Postgres store that goes away mid-run and comes back: nothing is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_testkit::{MockOptions, MockUpstream};

use super::pg::PrivatePostgres;
use super::{
    Seen, answered_load, check_records, config, drive, journal_ids, stored_records,
    wait_for_empty_journal, wait_for_requests,
};
use crate::harness::Sluice;

/// 3,000 requests, 16 at a time, against a gateway whose store is a private Postgres. After
/// 1,000 answers the server is stopped (its sessions cut, inserts in flight failing); the
/// gateway keeps answering and journals. Once records are journalled the server starts
/// again, and 500 more requests follow. Every record reaches the store, once, and the journal
/// empties.
#[tokio::test]
async fn a_postgres_outage_mid_run_loses_no_record() {
    let Some(pg) = PrivatePostgres::start("a_postgres_outage_mid_run_loses_no_record") else {
        return;
    };
    let mock = MockUpstream::start_with(MockOptions {
        record: false,
        ..MockOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let gw = Sluice::start(&config(&mock, &pg.url(), &journal, "", ""));
    let pg = Arc::new(pg);

    let done = Arc::new(AtomicUsize::new(0));
    let calls = (0..3000).map(|i| super::Call::nth("outage", i)).collect();
    let load = tokio::spawn(drive(gw.url(""), calls, 16, done.clone()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < 1000 {
        assert!(Instant::now() < deadline, "load stalled\n{}", gw.logs());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopping = pg.clone();
    tokio::task::spawn_blocking(move || stopping.stop())
        .await
        .unwrap();
    // The store is down: records must be going to the journal before it comes back.
    while journal_ids(&journal).is_empty() {
        assert!(
            Instant::now() < deadline,
            "nothing journalled while Postgres is down\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let starting = pg.clone();
    tokio::task::spawn_blocking(move || starting.restart())
        .await
        .unwrap();
    let mut calls = load.await.unwrap();
    assert!(
        calls.iter().all(|(_, s)| *s == Seen::Answered(200)),
        "the gateway kept answering while its store was down"
    );
    calls.extend(answered_load(&gw, "after", 500, 16).await);

    let totals = wait_for_requests(&gw, 3500, Duration::from_secs(60)).await;
    let prompt: u64 = calls.iter().map(|(c, _)| c.words).sum();
    let completion: u64 = calls.iter().map(|(c, _)| c.words + 1).sum();
    assert_eq!(
        totals,
        (3500, prompt, completion),
        "each record counted once"
    );
    wait_for_empty_journal(&gw, &journal, Duration::from_secs(30)).await;
    let records = stored_records(&gw).await;
    assert_eq!(records.len(), 3500);
    check_records(&records, &calls);
}
