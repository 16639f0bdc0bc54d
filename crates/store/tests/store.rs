//! The store's request-log statements, run against SQLite and Postgres alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestDb;
use serde_json::json;
use sluice_store::{
    Api, AttemptRecord, Backend, LogQuery, LogRecord, StatusFilter, Store, UsageSource,
};

on_both_backends!(
    migrations_apply_once_and_again,
    every_field_round_trips,
    inserts_are_idempotent,
    a_reused_request_id_keeps_both_records,
    queries_filter_and_page_newest_first,
    large_batches_span_several_statements,
    pruning_by_age_and_by_row_count,
    nul_characters_are_stored,
    queries_filter_by_tenant_cache_tag_cost_and_duration,
);

fn rec(id: &str, at: i64) -> LogRecord {
    LogRecord {
        id: id.into(),
        received_at: at,
        done_at: at + 5,
        api: Api::Chat,
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        status: 200,
        duration_ms: 5,
        ..LogRecord::default()
    }
}

async fn migrations_apply_once_and_again(db: &TestDb) {
    db.store.migrate().await.unwrap();
    let again = Store::connect(&db.url).await.unwrap();
    assert_eq!(again.backend(), db.store.backend());
    assert_eq!(again.count_logs().await.unwrap(), 0);
}

async fn every_field_round_trips(db: &TestDb) {
    let full = LogRecord {
        id: "req_full".into(),
        received_at: 1_700_000_000_123,
        first_byte_at: Some(1_700_000_000_200),
        done_at: 1_700_000_000_400,
        api: Api::Messages,
        method: "POST".into(),
        path: "/v1/messages".into(),
        key: Some("key_1".into()),
        team: Some("team_1".into()),
        org: Some("org_1".into()),
        user: Some("u-123".into()),
        tags: Some(json!({"feature": "search", "n": 2})),
        requested_model: Some("auto".into()),
        resolved_model: Some("fast".into()),
        variant: Some("b".into()),
        rule: Some("long-prompts".into()),
        provider: Some("openai".into()),
        upstream_model: Some("gpt-4o-mini".into()),
        attempts: vec![
            AttemptRecord {
                provider: "groq".into(),
                model: "llama".into(),
                outcome: "5xx".into(),
                status: Some(503),
                duration_ms: 12,
                dropped: Vec::new(),
            },
            AttemptRecord {
                provider: "openai".into(),
                model: "gpt-4o-mini".into(),
                outcome: "ok".into(),
                status: None,
                duration_ms: 250,
                dropped: Vec::new(),
            },
        ],
        status: 200,
        error_type: Some("upstream_error".into()),
        error_code: Some("upstream_reset".into()),
        error_message: Some("ended early — ünïcode".into()),
        stream: true,
        ttft_ms: Some(77),
        duration_ms: 277,
        prompt_tokens: Some(10),
        completion_tokens: Some(20),
        cached_tokens: Some(3),
        cache_write_tokens: Some(4),
        reasoning_tokens: Some(5),
        usage_source: UsageSource::Upstream,
        cost_usd: Some(0.00125),
        saved_usd: Some(0.5),
        cache: Some("SEMANTIC-HIT".into()),
        cache_score: Some(0.9731),
        guardrails: Some(json!([{"name": "pii", "action": "mask"}])),
        client_ip: Some("127.0.0.1".into()),
        user_agent: Some("OpenAI/Python 1.0".into()),
        request_body: Some("{\"model\":\"auto\"}".into()),
        response_body: Some("data: {}\n\n".into()),
    };
    let sparse = rec("req_sparse", 1_700_000_000_000);
    assert_eq!(
        db.store
            .insert_logs(&[full.clone(), sparse.clone()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(db.store.log("req_full").await.unwrap(), Some(full));
    assert_eq!(db.store.log("req_sparse").await.unwrap(), Some(sparse));
    assert_eq!(db.store.log("nope").await.unwrap(), None);
}

async fn inserts_are_idempotent(db: &TestDb) {
    let batch: Vec<_> = (0..5).map(|i| rec(&format!("r{i}"), 1000 + i)).collect();
    assert_eq!(db.store.insert_logs(&batch).await.unwrap(), 5);
    // A replay of the same records (and duplicates within one batch) adds nothing.
    let mut again = batch.clone();
    again.push(batch[0].clone());
    assert_eq!(db.store.insert_logs(&again).await.unwrap(), 0);
    assert_eq!(db.store.count_logs().await.unwrap(), 5);
    assert_eq!(db.store.insert_logs(&[]).await.unwrap(), 0);
}

async fn a_reused_request_id_keeps_both_records(db: &TestDb) {
    let mut first = rec("same", 1000);
    first.status = 500;
    let second = rec("same", 2000);
    db.store.insert_logs(&[first, second]).await.unwrap();
    assert_eq!(db.store.count_logs().await.unwrap(), 2);
    let newest = db.store.log("same").await.unwrap().unwrap();
    assert_eq!((newest.received_at, newest.status), (2000, 200));
}

async fn queries_filter_and_page_newest_first(db: &TestDb) {
    let mut records = Vec::new();
    for i in 0..10 {
        let mut r = rec(&format!("q{i}"), 10_000 + i);
        r.requested_model = Some(if i % 2 == 0 { "fast" } else { "auto" }.into());
        r.resolved_model = Some(if i < 8 { "fast" } else { "smart" }.into());
        r.provider = Some(if i % 3 == 0 { "openai" } else { "anthropic" }.into());
        r.status = match i {
            3 => 502,
            7 => 429,
            9 => 499,
            _ => 200,
        };
        r.user = (i == 4).then(|| "u-4".to_owned());
        if i == 5 {
            r.api = Api::Embeddings;
        }
        records.push(r);
    }
    db.store.insert_logs(&records).await.unwrap();
    let ids = |rs: Vec<LogRecord>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let q = |f: fn(&mut LogQuery)| {
        let mut q = LogQuery::default();
        f(&mut q);
        q
    };
    let all = db.store.query_logs(&LogQuery::default()).await.unwrap();
    assert_eq!(
        ids(all),
        ["q9", "q8", "q7", "q6", "q5", "q4", "q3", "q2", "q1", "q0"]
    );
    let smart = q(|q| q.model = Some("smart".into()));
    assert_eq!(
        ids(db.store.query_logs(&smart).await.unwrap()),
        ["q9", "q8"]
    );
    // `model` matches the requested name too.
    let auto = q(|q| q.model = Some("auto".into()));
    assert_eq!(
        ids(db.store.query_logs(&auto).await.unwrap()),
        ["q9", "q7", "q5", "q3", "q1"]
    );
    let openai = q(|q| q.provider = Some("openai".into()));
    assert_eq!(
        ids(db.store.query_logs(&openai).await.unwrap()),
        ["q9", "q6", "q3", "q0"]
    );
    let errors = q(|q| q.status = Some(StatusFilter::Error));
    assert_eq!(
        ids(db.store.query_logs(&errors).await.unwrap()),
        ["q9", "q7", "q3"]
    );
    let fives = q(|q| q.status = Some(StatusFilter::Class(5)));
    assert_eq!(ids(db.store.query_logs(&fives).await.unwrap()), ["q3"]);
    let exact = q(|q| q.status = Some(StatusFilter::Exact(429)));
    assert_eq!(ids(db.store.query_logs(&exact).await.unwrap()), ["q7"]);
    let window = q(|q| {
        q.from = Some(10_002);
        q.to = Some(10_005);
    });
    assert_eq!(
        ids(db.store.query_logs(&window).await.unwrap()),
        ["q4", "q3", "q2"]
    );
    let user = q(|q| q.user = Some("u-4".into()));
    assert_eq!(ids(db.store.query_logs(&user).await.unwrap()), ["q4"]);
    let api = q(|q| q.api = Some(Api::Embeddings));
    assert_eq!(ids(db.store.query_logs(&api).await.unwrap()), ["q5"]);
    // Keyset pages: three at a time.
    let mut page = q(|q| q.limit = 3);
    let mut seen = Vec::new();
    loop {
        let rows = db.store.query_logs(&page).await.unwrap();
        let Some(last) = rows.last() else { break };
        page.before = Some((last.received_at, last.id.clone()));
        seen.extend(ids(rows));
    }
    assert_eq!(seen.len(), 10);
    assert_eq!(seen.first().map(String::as_str), Some("q9"));
    assert_eq!(seen.last().map(String::as_str), Some("q0"));
}

async fn large_batches_span_several_statements(db: &TestDb) {
    let batch: Vec<_> = (0..1001).map(|i| rec(&format!("big{i}"), i)).collect();
    assert_eq!(db.store.insert_logs(&batch).await.unwrap(), 1001);
    assert_eq!(db.store.count_logs().await.unwrap(), 1001);
}

async fn pruning_by_age_and_by_row_count(db: &TestDb) {
    let batch: Vec<_> = (0..30).map(|i| rec(&format!("p{i}"), 1000 + i)).collect();
    db.store.insert_logs(&batch).await.unwrap();
    // Everything before 1010 goes, in batches of 4.
    assert_eq!(db.store.prune_logs(Some(1010), None, 4).await.unwrap(), 10);
    assert_eq!(db.store.count_logs().await.unwrap(), 20);
    // Keep the newest 5.
    assert_eq!(db.store.prune_logs(None, Some(5), 4).await.unwrap(), 15);
    let left = db.store.query_logs(&LogQuery::default()).await.unwrap();
    assert_eq!(
        left.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["p29", "p28", "p27", "p26", "p25"]
    );
    assert_eq!(db.store.prune_logs(None, None, 4).await.unwrap(), 0);
    assert_eq!(db.store.prune_logs(None, Some(100), 4).await.unwrap(), 0);
}

async fn nul_characters_are_stored(db: &TestDb) {
    let mut r = rec("nul", 1);
    r.requested_model = Some("a\0b".into());
    r.tags = Some(json!({"k": "v\u{0}"}));
    db.store.insert_logs(&[r]).await.unwrap();
    let back = db.store.log("nul").await.unwrap().unwrap();
    assert_eq!(back.requested_model.as_deref(), Some("a\u{fffd}b"));
    assert_eq!(back.tags, Some(json!({"k": "v\u{fffd}"})));
    assert!(matches!(
        db.store.backend(),
        Backend::Sqlite | Backend::Postgres
    ));
}

async fn queries_filter_by_tenant_cache_tag_cost_and_duration(db: &TestDb) {
    let mut records = Vec::new();
    for i in 0..6 {
        let mut r = rec(&format!("f{i}"), 20_000 + i);
        r.org = (i < 3).then(|| "org_a".to_owned());
        r.cache = Some(if i % 2 == 0 { "HIT" } else { "MISS" }.into());
        r.tags = Some(match i {
            0 => json!({"feature": "search", "env": "prod"}),
            1 => json!({"feature": "chat"}),
            2 => json!({"feature.name": "dotted", "feature": "search"}),
            _ => json!({}),
        });
        r.cost_usd = Some(0.001 * f64::from(u32::try_from(i).unwrap()));
        r.duration_ms = 100 * u64::try_from(i).unwrap();
        records.push(r);
    }
    db.store.insert_logs(&records).await.unwrap();
    let ids = |rs: Vec<LogRecord>| rs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let run = |f: &dyn Fn(&mut LogQuery)| {
        let mut q = LogQuery::default();
        f(&mut q);
        q
    };
    let org = run(&|q| q.org = Some("org_a".into()));
    assert_eq!(
        ids(db.store.query_logs(&org).await.unwrap()),
        ["f2", "f1", "f0"]
    );
    let hits = run(&|q| q.cache = Some("HIT".into()));
    assert_eq!(
        ids(db.store.query_logs(&hits).await.unwrap()),
        ["f4", "f2", "f0"]
    );
    let search = run(&|q| q.tag = Some(("feature".into(), "search".into())));
    assert_eq!(
        ids(db.store.query_logs(&search).await.unwrap()),
        ["f2", "f0"]
    );
    // A tag name with a dot is one key, not a path.
    let dotted = run(&|q| q.tag = Some(("feature.name".into(), "dotted".into())));
    assert_eq!(ids(db.store.query_logs(&dotted).await.unwrap()), ["f2"]);
    let dear = run(&|q| q.min_cost = Some(0.0035));
    assert_eq!(ids(db.store.query_logs(&dear).await.unwrap()), ["f5", "f4"]);
    let slow = run(&|q| {
        q.min_duration_ms = Some(300);
        q.cache = Some("MISS".into());
    });
    assert_eq!(ids(db.store.query_logs(&slow).await.unwrap()), ["f5", "f3"]);
}
