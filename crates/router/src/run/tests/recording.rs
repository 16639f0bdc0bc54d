//! What the attempt loop records through the `metrics` facade: attempts by outcome, retries,
//! fallbacks and hedges, each counted once where it happens.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use super::*;

/// One counter, also used as a histogram (it then counts the values recorded).
#[derive(Default)]
struct Count(AtomicU64);

impl CounterFn for Count {
    fn increment(&self, n: u64) {
        self.0.fetch_add(n, Ordering::SeqCst);
    }
    fn absolute(&self, n: u64) {
        self.0.store(n, Ordering::SeqCst);
    }
}

impl HistogramFn for Count {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A recorder for one test thread: every series by `name{k=v,…}`.
#[derive(Default)]
struct Recorded(Mutex<HashMap<String, Arc<Count>>>);

impl Recorded {
    fn entry(&self, key: &Key) -> Arc<Count> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0.lock().unwrap().entry(name).or_default().clone()
    }

    /// The count of series `name` (as `name{k=v,…}`, labels in recording order).
    fn get(&self, name: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |c| c.0.load(Ordering::SeqCst))
    }
}

impl Recorder for Recorded {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.entry(key))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.entry(key))
    }
}

fn slow_slot(model: &str, p: Arc<Flaky>) -> TargetSlot {
    let d = Duration::from_secs(60);
    let timeouts = Timeouts {
        connect: d,
        first_byte: d,
        total: d,
        idle: d,
    };
    TargetSlot::new(
        Target {
            provider: "p".into(),
            model: model.into(),
            timeouts,
        },
        p,
        1,
        CircuitConfig::default(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_hedge_counts_once_and_its_loser_as_cancelled() {
    let rec = Recorded::default();
    let _local = metrics::set_default_local_recorder(&rec);
    let g = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![
            slow_slot("slow", answering_after(Duration::from_secs(10))),
            slow_slot("fast", answering_after(Duration::from_millis(100))),
        ],
        vec![],
        RetryConfig::default(),
    )
    .with_hedge(Some(sluice_config::HedgeAfter::Fixed(Duration::from_secs(
        1,
    ))));
    let r = router(vec![g]);
    let out = r
        .run(
            r.resolve("m").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!(out.attempts, 2);
    assert_eq!(rec.get("sluice_hedges_total{model=m}"), 1);
    assert_eq!(
        rec.get("sluice_upstream_attempts_total{provider=p,model=fast,outcome=ok}"),
        1
    );
    assert_eq!(
        rec.get("sluice_upstream_attempts_total{provider=p,model=slow,outcome=cancelled}"),
        1
    );
    assert_eq!(
        rec.get("sluice_upstream_latency_seconds{provider=p,model=fast}"),
        1
    );
    assert_eq!(rec.get("sluice_retries_total{model=m}"), 0);
}

#[tokio::test(start_paused = true)]
async fn retries_and_fallbacks_count_where_they_happen() {
    let rec = Recorded::default();
    let _local = metrics::set_default_local_recorder(&rec);
    let retry = |max| RetryConfig {
        max,
        backoff: Duration::from_millis(1),
        ..RetryConfig::default()
    };
    let g1 = ModelGroup::new(
        "m".into(),
        Strategy::Ordered,
        vec![slot("a", flaky(10, ErrorKind::UpstreamTimeout))],
        vec!["backup".into()],
        retry(2),
    );
    let g2 = ModelGroup::new(
        "backup".into(),
        Strategy::Ordered,
        vec![slot("b", flaky(1, ErrorKind::UpstreamConnect))],
        vec![],
        retry(1),
    );
    let r = router(vec![g1, g2]);
    let out = r
        .run(
            r.resolve("m").unwrap(),
            &Chat(ChatRequest::default()),
            &cx(),
        )
        .await
        .unwrap();
    assert_eq!((out.target.model.as_ref(), out.attempts), ("b", 5));
    assert_eq!(
        rec.get("sluice_upstream_attempts_total{provider=p,model=a,outcome=timeout}"),
        3
    );
    assert_eq!(
        rec.get("sluice_upstream_attempts_total{provider=p,model=b,outcome=connect}"),
        1
    );
    assert_eq!(
        rec.get("sluice_upstream_attempts_total{provider=p,model=b,outcome=ok}"),
        1
    );
    assert_eq!(rec.get("sluice_retries_total{model=m}"), 2);
    assert_eq!(rec.get("sluice_retries_total{model=backup}"), 1);
    assert_eq!(rec.get("sluice_fallbacks_total{from=m,to=backup}"), 1);
    assert_eq!(rec.get("sluice_hedges_total{model=m}"), 0);
}
