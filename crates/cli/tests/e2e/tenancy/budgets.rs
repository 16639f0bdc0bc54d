//! Budgets under concurrency, team budgets, the spend ledger, stream costs and budget
//! alerts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::MockUpstream;

use super::{ADMIN, CHAT, admin, chat, create_key, gateway, record_of};
use crate::harness::{Sluice, error_of, ok_json, post_as, send};

#[tokio::test]
async fn a_budget_holds_under_200_concurrent_requests() {
    let mock = MockUpstream::start().await;
    mock.set_latency(Duration::from_millis(20));
    let g = gateway(&mock, "");
    // Each request costs $0.007 (3 + 4 tokens) and reserves at most what its prompt
    // estimate plus max_tokens could cost; $0.14 allows about 20 of them.
    let (id, key) = create_key(
        &g,
        json!({"name": "capped", "budget": {"amount": "0.14", "period": "monthly"}}),
    )
    .await;
    let calls = (0..200).map(|_| chat(&g, &key, "fast"));
    let results = futures_util::future::join_all(calls).await;
    let mut spent = 0.0;
    let mut admitted = 0usize;
    for r in &results {
        match r.status {
            200 => {
                admitted += 1;
                spent += r
                    .header("x-sluice-cost-usd")
                    .unwrap()
                    .parse::<f64>()
                    .unwrap();
            }
            429 => assert_eq!(r.json()["error"]["code"], "budget_exceeded", "{}", r.text()),
            other => panic!("unexpected {other}: {}", r.text()),
        }
    }
    assert!(admitted >= 10, "the budget admitted only {admitted}");
    assert!(
        spent <= 0.14 + 1e-9,
        "spent {spent} of 0.14 over {admitted} requests"
    );
    assert_eq!(mock.request_count(), admitted);
    // Requests one at a time use up what the burst's reservations held back, then stop.
    let refusal = loop {
        let r = chat(&g, &key, "fast").await;
        if r.status != 200 {
            break r;
        }
        admitted += 1;
        spent += r
            .header("x-sluice-cost-usd")
            .unwrap()
            .parse::<f64>()
            .unwrap();
        assert!(
            admitted <= 20,
            "more than 20 requests of $0.007 fit in $0.14"
        );
    };
    let e = error_of(&refusal, 429);
    assert!(e["message"].as_str().unwrap().contains(&id), "{e}");
    assert!(
        spent <= 0.14 + 1e-9,
        "spent {spent} of 0.14 over {admitted} requests"
    );
    assert!(spent > 0.14 - 0.014, "the budget stopped early: {spent}");
}

#[tokio::test]
async fn a_team_budget_refuses_every_key_of_the_team() {
    let mock = MockUpstream::start().await;
    let g = gateway(&mock, "");
    let r = admin(
        &g,
        Method::POST,
        "/admin/v1/teams",
        json!({"id": "team_small", "budget": {"amount": "0.02", "period": "daily"}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let (_, a) = create_key(&g, json!({"name": "a", "team": "team_small"})).await;
    let (_, b) = create_key(&g, json!({"name": "b", "team": "team_small"})).await;
    assert_eq!(chat(&g, &a, "fast").await.status, 200);
    let e = error_of(&chat(&g, &b, "fast").await, 429);
    assert_eq!(e["code"], "budget_exceeded");
    assert!(e["message"].as_str().unwrap().contains("team"), "{e}");
}

#[tokio::test]
async fn spend_is_reported_by_key_model_and_tag() {
    let mock = MockUpstream::start().await;
    let g = gateway(&mock, "");
    let (id, key) = create_key(
        &g,
        json!({"name": "reporter", "tags": {"feature": "search"}}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(chat(&g, &key, "fast").await.status, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let v = ok_json(&admin(&g, Method::GET, "/admin/v1/spend?group_by=key", Value::Null).await);
        let rows = v["data"].as_array().unwrap().clone();
        if rows
            .iter()
            .any(|r| r["group"] == id.as_str() && r["requests"] == 3)
        {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "spend never showed 3 requests: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let row = rows.iter().find(|r| r["group"] == id.as_str()).unwrap();
    assert_eq!(row["prompt_tokens"], 9);
    assert_eq!(row["completion_tokens"], 12);
    assert!(
        (row["cost_usd"].as_f64().unwrap() - 0.021).abs() < 1e-12,
        "{row}"
    );
    let v = ok_json(
        &admin(
            &g,
            Method::GET,
            "/admin/v1/spend?group_by=model",
            Value::Null,
        )
        .await,
    );
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["group"] == "fast" && r["requests"] == 3),
        "{v}"
    );
    let v = ok_json(&admin(&g, Method::GET, "/admin/v1/spend?group_by=tag", Value::Null).await);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["group"] == "feature=search"),
        "{v}"
    );
    let r = admin(
        &g,
        Method::GET,
        "/admin/v1/spend?group_by=planet",
        Value::Null,
    )
    .await;
    assert_eq!(error_of(&r, 400)["param"], "group_by");
}

#[tokio::test]
async fn streams_are_priced_from_upstream_usage_or_estimated_when_cut() {
    let mock = MockUpstream::start().await;
    let g = gateway(&mock, "");
    let (_, key) = create_key(&g, json!({"name": "streamer"})).await;
    let url = g.url(CHAT);
    let stream = |content: &str| {
        let body = json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": content}]});
        let (url, key) = (url.clone(), key.clone());
        async move { post_as(&url, &key, &body, &[]).await }
    };
    // The client did not ask for usage: it gets none, and the record has the upstream's.
    let r = stream("one two three four").await;
    let chunks = crate::harness::stream_chunks(&r);
    assert!(chunks.iter().all(|c| c["usage"].is_null()), "{chunks:?}");
    let rec = record_of(&g, &r).await;
    assert_eq!(rec["usage_source"], "upstream", "{rec}");
    // 4 prompt + 5 completion tokens ("echo: one two three four") at $0.001.
    assert_eq!(
        (
            rec["prompt_tokens"].as_u64(),
            rec["completion_tokens"].as_u64()
        ),
        (Some(4), Some(5))
    );
    assert!(
        (rec["cost_usd"].as_f64().unwrap() - 0.009).abs() < 1e-12,
        "{rec}"
    );

    // Cut after a few chunks: no usage arrives, so the gateway counts what it sent and
    // what was delivered.
    mock.push(sluice_testkit::Behavior::ResetMidStream { after_chunks: 3 });
    let r = stream("one two three four").await;
    assert_eq!(r.status, 200);
    let rec = record_of(&g, &r).await;
    assert_eq!(rec["usage_source"], "estimated", "{rec}");
    assert!(rec["prompt_tokens"].as_u64().unwrap() >= 4, "{rec}");
    let completion = rec["completion_tokens"].as_u64().unwrap();
    assert!((1..5).contains(&completion), "{rec}");
    assert!(rec["cost_usd"].as_f64().unwrap() > 0.0, "{rec}");
}

/// A local webhook receiver: answers 200 to every request and keeps each one's request
/// line and JSON body.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let sink = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let mut head: Option<(usize, usize)> = None;
                loop {
                    if let Some((start, len)) = head {
                        if buf.len() >= start + len {
                            let line = String::from_utf8_lossy(&buf)
                                .lines()
                                .next()
                                .unwrap()
                                .to_owned();
                            let body = serde_json::from_slice(&buf[start..start + len]).unwrap();
                            sink.lock().unwrap().push((line, body));
                            let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                            let _ = conn.write_all(ok).await;
                            return;
                        }
                    } else if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let text = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        head = Some((end + 4, len));
                        continue;
                    }
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (url, calls)
}

/// Waits until the spend ledger holds `n` requests of key `id`.
async fn wait_for_spend(g: &Sluice, id: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = ok_json(&admin(g, Method::GET, "/admin/v1/spend?group_by=key", Value::Null).await);
        let rows = v["data"].as_array().unwrap();
        if rows.iter().any(|r| r["group"] == id && r["requests"] == n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "spend never showed {n} requests: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The budget alerts `/admin/v1/events` lists.
async fn alert_events(g: &Sluice) -> Vec<Value> {
    let v = ok_json(
        &admin(
            g,
            Method::GET,
            "/admin/v1/events?kind=budget_alert",
            Value::Null,
        )
        .await,
    );
    v["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_budget_alert_is_raised_once_per_period_with_an_event_and_a_webhook() {
    let mock = MockUpstream::start().await;
    let g = gateway(&mock, "");
    let (url, calls) = webhook_receiver().await;
    // Each request costs $0.007; 30% of $0.05 is $0.015, crossed by the third request. The
    // budget leaves room for more requests after it.
    let (id, key) = create_key(
        &g,
        json!({"name": "watched", "budget": {"amount": "0.05", "period": "monthly",
               "alert_at": 0.3, "webhook": url}}),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(chat(&g, &key, "fast").await.status, 200);
    }
    wait_for_spend(&g, &id, 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(calls.lock().unwrap().len(), 0, "alerted at $0.014");
    assert_eq!(alert_events(&g).await, Vec::<Value>::new());

    assert_eq!(chat(&g, &key, "fast").await.status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the webhook was never called");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (line, body) = calls.lock().unwrap()[0].clone();
    assert_eq!(line, "POST /hook HTTP/1.1");
    assert_eq!(body["type"], "budget_alert", "{body}");
    assert_eq!(body["level"], "key");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["scope"], format!("key:{id}"));
    assert_eq!(body["period"], "monthly");
    assert_eq!(body["amount_usd"], 0.05);
    assert_eq!(body["spent_usd"], 0.021);
    assert_eq!(body["alert_at"], 0.3);
    assert!(body["at"].as_i64().unwrap() > 1_700_000_000_000, "{body}");
    // The event was stored before the webhook was called.
    let events = alert_events(&g).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["scope"], format!("key:{id}"));
    assert_eq!(events[0]["data"]["spent_usd"], 0.021);
    assert_eq!(events[0]["data"]["threshold_usd"], 0.015);

    // More requests in the same period, still under the budget, raise nothing more.
    for _ in 0..2 {
        assert_eq!(chat(&g, &key, "fast").await.status, 200);
    }
    wait_for_spend(&g, &id, 5).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(alert_events(&g).await.len(), 1);
    let auth = format!("Bearer {ADMIN}");
    let metrics = send(
        Method::GET,
        &g.url("/metrics"),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert!(
        metrics
            .text()
            .contains("sluice_budget_alerts_total{level=\"key\"} 1\n"),
        "{}",
        metrics.text()
    );

    // Filters and bad parameters.
    let path = "/admin/v1/events?kind=other";
    let v = ok_json(&admin(&g, Method::GET, path, Value::Null).await);
    assert_eq!(v["data"], json!([]));
    let path = "/admin/v1/events?since=2100-01-01T00:00:00Z";
    let v = ok_json(&admin(&g, Method::GET, path, Value::Null).await);
    assert_eq!(v["data"], json!([]));
    let r = admin(&g, Method::GET, "/admin/v1/events?limit=0", Value::Null).await;
    assert_eq!(error_of(&r, 400)["param"], "limit");
    let r = admin(&g, Method::GET, "/admin/v1/events?planet=x", Value::Null).await;
    assert_eq!(error_of(&r, 400)["param"], "planet");
}
