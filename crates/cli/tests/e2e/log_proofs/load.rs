//! Completeness at full speed, and a SIGTERM in the middle of load.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sluice_testkit::{MockOptions, MockUpstream};

use super::{
    Call, Seen, answered_load, check_records, config, drive, journal_ids, stored_records,
    wait_for_empty_journal, wait_for_requests,
};
use crate::harness::Sluice;

/// 5,000 requests, 64 at a time, half of them streams (half of those without the usage
/// chunk), leave exactly 5,000 records: one per request id, each with the mock's tokens;
/// the spend ledger sums to the same totals.
#[tokio::test]
async fn five_thousand_requests_at_full_speed_leave_five_thousand_records() {
    const N: usize = 5000;
    let mock = MockUpstream::start_with(MockOptions {
        record: false,
        ..MockOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("logs.db").display());
    let gw = Sluice::start(&config(&mock, &store, &dir.path().join("journal"), "", ""));
    let calls = answered_load(&gw, "load", N, 64).await;
    let prompt: u64 = calls.iter().map(|(c, _)| c.words).sum();
    let completion: u64 = calls.iter().map(|(c, _)| c.words + 1).sum();
    let totals = wait_for_requests(&gw, N as u64, Duration::from_secs(30)).await;
    assert_eq!(totals, (N as u64, prompt, completion));
    let records = stored_records(&gw).await;
    assert_eq!(records.len(), N);
    check_records(&records, &calls);
    let streams = records.iter().filter(|r| r["stream"] == true).count();
    assert_eq!(streams, N / 2, "half of the records are streams");
}

/// SIGTERM while streams are in flight and every record is still queued (the batch interval
/// is far away): the gateway drains for its grace period, cuts the streams still running,
/// and exits. A gateway started again on the same store and journal then holds a record for
/// every call that got a response: 200 with its tokens for the answered, 499 for the cut.
#[tokio::test]
async fn sigterm_during_load_loses_no_answered_or_cut_request() {
    let mock = MockUpstream::start_with(MockOptions {
        record: false,
        chunk_interval: Duration::from_millis(50),
        ..MockOptions::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("logs.db").display());
    let journal = dir.path().join("journal");
    let config = config(
        &mock,
        &store,
        &journal,
        "batch_interval: 1h",
        "server: { shutdown_grace: 1s }\n",
    );
    let mut gw = Sluice::start(&config);
    // Every fourth call is a stream of 40 words (about 2 s of chunks): some are cut.
    let calls: Vec<Call> = (0..3000)
        .map(|i| {
            let mut call = Call::nth("term", i);
            if i % 4 == 1 {
                call.words = 40;
            }
            call
        })
        .collect();
    let done = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(drive(gw.url(""), calls, 32, done.clone()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < 300 {
        assert!(Instant::now() < deadline, "load stalled\n{}", gw.logs());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.terminate();
    let status = gw
        .wait_exit(Duration::from_secs(30))
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status:?}\n{}", gw.logs());
    let calls = load.await.unwrap();
    let count = |want: fn(&Seen) -> bool| calls.iter().filter(|(_, s)| want(s)).count();
    let answered = count(|s| *s == Seen::Answered(200));
    let cut = count(|s| *s == Seen::Cut);
    assert!(answered >= 300, "{answered} answered");
    assert!(cut > 0, "no stream was cut by the end of the grace period");
    assert_eq!(
        count(|s| matches!(s, Seen::Answered(_))),
        answered,
        "every answer was a 200"
    );
    let first_run = gw.logs();

    // The next start replays what the shutdown journalled.
    let gw = Sluice::start(&config);
    wait_for_requests(&gw, (answered + cut) as u64, Duration::from_secs(30)).await;
    wait_for_empty_journal(&gw, &journal, Duration::from_secs(30)).await;
    let records = stored_records(&gw).await;
    check_records(&records, &calls);
    assert!(
        journal_ids(&journal).is_empty(),
        "the replayed journal is gone\n{first_run}"
    );
}
