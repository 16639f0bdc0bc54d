//! The request log's promises, proved through the real binary under load: 5,000 requests at
//! full speed leave exactly 5,000 records with the mock's token counts; a Postgres store
//! stopped and restarted mid-run loses nothing (the journal carries the records across); a
//! SIGTERM during load loses no answered or cut request; records journalled before a SIGKILL
//! are replayed at the next start, and a hung store does not leave records in memory for a
//! SIGKILL to take. The metrics the log feeds (tokens, cost, cache outcomes,
//! time to first token, in-flight and log gauges, per-key labels) are checked here too,
//! parsed by a strict reader of the Prometheus text format.

mod crash;
mod load;
mod metrics;
mod outage;
mod pg;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sluice_testkit::MockUpstream;

use crate::harness::{Sluice, get, journal_ids, mock_config};

const CHAT: &str = "/v1/chat/completions";

/// A config for `mock` (model `fast`) with its store at `store`, its journal at `journal`
/// and `logging` added to the `logging:` section (`key: value, …`).
fn config(mock: &MockUpstream, store: &str, journal: &Path, logging: &str, extra: &str) -> String {
    let sep = if logging.is_empty() { "" } else { ", " };
    format!(
        "store: {store}\nlogging: {{ journal: {}{sep}{logging} }}\n{extra}{}",
        journal.display(),
        mock_config(&mock.base_url())
    )
}

/// One request of a load run. The mock answers `echo: <words>`, so its usage is `words`
/// prompt tokens and `words + 1` completion tokens.
#[derive(Debug, Clone)]
struct Call {
    id: String,
    words: u64,
    stream: bool,
    /// Streams only: whether the client asks for the usage chunk (the log has the tokens
    /// either way).
    usage_chunk: bool,
}

impl Call {
    /// The `i`th call of a run named `run`: 1 to 7 words; every other call streams, half of
    /// those asking for the usage chunk.
    fn nth(run: &str, i: usize) -> Call {
        Call {
            id: format!("{run}-{i}"),
            words: 1 + (i % 7) as u64,
            stream: i % 2 == 1,
            usage_chunk: i % 4 == 1,
        }
    }

    fn body(&self) -> Value {
        let content = vec!["word"; self.words as usize].join(" ");
        let mut body = json!({"model": "fast", "messages": [{"role": "user", "content": content}]});
        if self.stream {
            body["stream"] = json!(true);
            if self.usage_chunk {
                body["stream_options"] = json!({"include_usage": true});
            }
        }
        body
    }
}

/// What the client of one call saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// A response with this status, read to its end.
    Answered(u16),
    /// A response head, then the body broke off.
    Cut,
    /// No response: refused, reset or never answered.
    Unanswered,
}

/// Sends `calls` to the chat endpoint of `gw_url`, `concurrency` at a time on kept-alive
/// connections; `done` counts finished calls as they finish.
async fn drive(
    gw_url: String,
    calls: Vec<Call>,
    concurrency: usize,
    done: Arc<AtomicUsize>,
) -> Vec<(Call, Seen)> {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(concurrency)
        .build(HttpConnector::new());
    let url = format!("{gw_url}{CHAT}");
    futures_util::stream::iter(calls)
        .map(|call| {
            let (client, url, done) = (client.clone(), url.clone(), done.clone());
            async move {
                let seen = one(&client, &url, &call).await;
                done.fetch_add(1, Ordering::SeqCst);
                (call, seen)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

async fn one(client: &Client<HttpConnector, Full<Bytes>>, url: &str, call: &Call) -> Seen {
    let req = Request::builder()
        .method(Method::POST)
        .uri(url)
        .header("content-type", "application/json")
        .header("x-request-id", &call.id)
        .body(Full::new(Bytes::from(call.body().to_string())))
        .unwrap();
    let limit = Duration::from_secs(60);
    let Ok(Ok(resp)) = tokio::time::timeout(limit, client.request(req)).await else {
        return Seen::Unanswered;
    };
    let status = resp.status().as_u16();
    let body = match tokio::time::timeout(limit, resp.into_body().collect()).await {
        Ok(Ok(body)) => body.to_bytes(),
        _ => return Seen::Cut,
    };
    if call.stream && !body.ends_with(b"data: [DONE]\n\n") {
        return Seen::Cut;
    }
    Seen::Answered(status)
}

/// Runs `n` calls named `run` against `gw` and checks every one was answered with a 200.
async fn answered_load(gw: &Sluice, run: &str, n: usize, concurrency: usize) -> Vec<(Call, Seen)> {
    let calls = (0..n).map(|i| Call::nth(run, i)).collect();
    let seen = drive(gw.url(""), calls, concurrency, Arc::default()).await;
    let failed: Vec<_> = seen
        .iter()
        .filter(|(_, s)| *s != Seen::Answered(200))
        .take(5)
        .collect();
    assert!(failed.is_empty(), "calls failed: {failed:?}\n{}", gw.logs());
    seen
}

/// Requests, prompt and completion tokens in the spend ledger, every model summed.
async fn spend_totals(gw: &Sluice) -> Option<(u64, u64, u64)> {
    let r = get(&gw.url("/admin/v1/spend?group_by=model")).await;
    if r.status != 200 {
        return None;
    }
    let rows = r.json()["data"].as_array()?.clone();
    let sum = |field: &str| rows.iter().map(|row| row[field].as_u64().unwrap()).sum();
    Some((
        sum("requests"),
        sum("prompt_tokens"),
        sum("completion_tokens"),
    ))
}

/// Waits (up to `limit`) until the spend ledger counts at least `n` requests; returns its
/// totals.
async fn wait_for_requests(gw: &Sluice, n: u64, limit: Duration) -> (u64, u64, u64) {
    let deadline = Instant::now() + limit;
    loop {
        let totals = spend_totals(gw).await;
        if let Some(t) = totals.filter(|t| t.0 >= n) {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "the store counts {totals:?} requests after {limit:?}, expected {n}\n{}",
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every stored record, read through `/admin/v1/logs` in pages of 1,000.
async fn stored_records(gw: &Sluice) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = "/admin/v1/logs?limit=1000".to_owned();
    loop {
        let page = get(&gw.url(&path)).await;
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => path = format!("/admin/v1/logs?limit=1000&before={next}"),
            None => return out,
        }
    }
}

/// Checks the store holds one record per call that got a response, and no other: with the
/// status the client saw (499 for a body that broke off) and, for a 200, the mock's token
/// counts. A call that got no response may have left a 499 record, or none.
fn check_records(records: &[Value], calls: &[(Call, Seen)]) {
    let mut by_id: HashMap<&str, &Value> = HashMap::new();
    for r in records {
        let id = r["id"].as_str().unwrap();
        assert!(by_id.insert(id, r).is_none(), "two records for {id}");
    }
    let sent: HashMap<&str, (&Call, Seen)> = calls
        .iter()
        .map(|(c, s)| (c.id.as_str(), (c, *s)))
        .collect();
    for id in by_id.keys() {
        assert!(
            sent.contains_key(id),
            "a record for {id}, which was never sent"
        );
    }
    for (id, (call, seen)) in &sent {
        let record = by_id.get(id).copied();
        let status = record.map(|r| r["status"].as_u64().unwrap());
        match seen {
            Seen::Answered(code) => {
                let r = record.unwrap_or_else(|| panic!("no record for answered {id}"));
                assert_eq!(status, Some(u64::from(*code)), "{r}");
                assert_eq!(r["stream"], call.stream, "{r}");
                if *code == 200 {
                    let tokens = (r["prompt_tokens"].as_u64(), r["completion_tokens"].as_u64());
                    assert_eq!(tokens, (Some(call.words), Some(call.words + 1)), "{r}");
                    assert_eq!(r["usage_source"], "upstream", "{r}");
                }
            }
            Seen::Cut => assert_eq!(status, Some(499), "cut call {id}: {record:?}"),
            Seen::Unanswered => assert!(
                matches!(status, None | Some(499)),
                "unanswered call {id}: {record:?}"
            ),
        }
    }
}

/// Waits (up to `limit`) until the journal directory holds no record.
async fn wait_for_empty_journal(gw: &Sluice, dir: &Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !journal_ids(dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} records still journalled after {limit:?}\n{}",
            journal_ids(dir).len(),
            gw.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
