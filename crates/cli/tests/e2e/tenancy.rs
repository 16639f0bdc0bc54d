//! Virtual keys, teams, limits, budgets and spend through the real binary: keys created
//! through the admin API work at once and stop at once when revoked, allowlists refuse
//! other models, rate limits answer 429 with the limit named, budgets hold under 200
//! concurrent requests, two gateways sharing one Redis share one limit, every request's
//! cost lands in the spend ledger, and a budget's soft alert is raised once per period.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::MockUpstream;

use crate::harness::{Resp, Sluice, error_of, ok_json, send};

const ADMIN: &str = "sk-admin-test-123456";
const CHAT: &str = "/v1/chat/completions";

/// A gateway with an admin key in front of `mock`, with model `fast` (and `other`) priced
/// at $1,000 per million tokens in and out (one token costs $0.001); `extra` is added at
/// the top level.
fn gateway(mock: &MockUpstream, extra: &str) -> Sluice {
    Sluice::start(&config(mock, extra))
}

fn config(mock: &MockUpstream, extra: &str) -> String {
    format!(
        r#"
server: {{ admin_key: "{ADMIN}" }}
{extra}
providers:
  mock: {{ kind: openai-compatible, base_url: "{}" }}
models:
  - name: fast
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
  - name: other
    targets: [ {{ provider: mock, model: gpt-4o }} ]
pricing:
  models:
    mock/gpt-4o-mini: {{ input: "1000", output: "1000" }}
    mock/gpt-4o: {{ input: "1000", output: "1000" }}
logging: {{ batch_interval: 50ms }}
"#,
        mock.base_url()
    )
}

/// An admin API call.
async fn admin(g: &Sluice, method: Method, path: &str, body: Value) -> Resp {
    let auth = format!("Bearer {ADMIN}");
    send(
        method,
        &g.url(path),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        if body.is_null() {
            String::new()
        } else {
            body.to_string()
        },
    )
    .await
}

/// Creates a key and returns (id, secret).
async fn create_key(g: &Sluice, body: Value) -> (String, String) {
    let r = admin(g, Method::POST, "/admin/v1/keys", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    (
        v["id"].as_str().unwrap().to_owned(),
        v["key"].as_str().unwrap().to_owned(),
    )
}

/// A chat call with `key`: "a b c" makes the mock count 3 prompt tokens and answer
/// "echo: a b c" (4 completion tokens) unless `max_tokens` cuts it.
async fn chat(g: &Sluice, key: &str, model: &str) -> Resp {
    let auth = format!("Bearer {key}");
    send(
        Method::POST,
        &g.url(CHAT),
        &[("authorization", &auth), ("content-type", "application/json")],
        json!({"model": model, "max_tokens": 4, "messages": [{"role": "user", "content": "a b c"}]})
            .to_string(),
    )
    .await
}

#[tokio::test]
async fn keys_work_at_once_and_stop_at_once() {
    let mock = MockUpstream::start().await;
    let g = gateway(&mock, "");
    let r = admin(
        &g,
        Method::POST,
        "/admin/v1/teams",
        json!({"name": "search", "models": ["fast"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let team = r.json()["id"].as_str().unwrap().to_owned();
    let (id, secret) = create_key(
        &g,
        json!({"name": "bot", "team": team, "tags": {"env": "prod"}}),
    )
    .await;
    assert!(secret.starts_with("sk-sluice-"), "{secret}");

    // The secret is never shown again, and never stored in the clear.
    let listed = ok_json(&admin(&g, Method::GET, "/admin/v1/keys", Value::Null).await);
    let text = listed.to_string();
    assert!(!text.contains(&secret), "{text}");
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(listed["data"][0]["team"], team.as_str());
    let got = ok_json(
        &admin(
            &g,
            Method::GET,
            &format!("/admin/v1/keys/{id}"),
            Value::Null,
        )
        .await,
    );
    assert!(got.get("key").is_none());
    assert!(
        got["key_prefix"]
            .as_str()
            .unwrap()
            .starts_with("sk-sluice-")
    );

    let ok = chat(&g, &secret, "fast").await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    // The team allows only `fast`.
    let e = error_of(&chat(&g, &secret, "other").await, 403);
    assert!(e["message"].as_str().unwrap().contains("\"other\""), "{e}");
    assert_eq!(e["code"], "model_not_allowed");
    // A virtual key is not an admin key.
    let r = send(
        Method::GET,
        &g.url("/admin/v1/keys"),
        &[("authorization", &format!("Bearer {secret}"))],
        "",
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text());
    // Unknown keys and no key are refused.
    error_of(&chat(&g, "sk-sluice-not-a-real-key", "fast").await, 401);
    let r = send(
        Method::POST,
        &g.url(CHAT),
        &[("content-type", "application/json")],
        "{}",
    )
    .await;
    assert_eq!(r.status, 401);

    // Rotation: the old secret stops, the new one works.
    let rotated = ok_json(
        &admin(
            &g,
            Method::POST,
            &format!("/admin/v1/keys/{id}/rotate"),
            Value::Null,
        )
        .await,
    );
    let new_secret = rotated["key"].as_str().unwrap().to_owned();
    error_of(&chat(&g, &secret, "fast").await, 401);
    assert_eq!(chat(&g, &new_secret, "fast").await.status, 200);

    // Revocation.
    let r = admin(
        &g,
        Method::POST,
        &format!("/admin/v1/keys/{id}/revoke"),
        Value::Null,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["revoked_at"].is_string());
    let e = error_of(&chat(&g, &new_secret, "fast").await, 401);
    assert!(e["message"].as_str().unwrap().contains("revoked"), "{e}");

    // An expired key.
    let (_, expired) = create_key(
        &g,
        json!({"name": "old", "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let e = error_of(&chat(&g, &expired, "fast").await, 401);
    assert!(e["message"].as_str().unwrap().contains("expired"), "{e}");

    // Bad documents are 400s naming the field.
    let r = admin(
        &g,
        Method::POST,
        "/admin/v1/keys",
        json!({"name": "x", "rpm": "many"}),
    )
    .await;
    assert_eq!(error_of(&r, 400)["param"], "rpm");
    let r = admin(
        &g,
        Method::POST,
        "/admin/v1/keys",
        json!({"name": "x", "team": "team_nope"}),
    )
    .await;
    assert_eq!(error_of(&r, 400)["param"], "team");
    let r = admin(&g, Method::GET, "/admin/v1/keys/key_nope", Value::Null).await;
    assert_eq!(r.status, 404);

    // The requests are attributed to the key and team, with the key's tags.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = ok_json(
            &admin(
                &g,
                Method::GET,
                &format!("/admin/v1/logs?key={id}"),
                Value::Null,
            )
            .await,
        );
        let data = logs["data"].as_array().unwrap();
        if data.iter().any(|r| r["status"] == 200) {
            let rec = data.iter().find(|r| r["status"] == 200).unwrap();
            assert_eq!(rec["team"], team.as_str());
            assert_eq!(rec["tags"]["env"], "prod");
            // 3 prompt + 4 completion tokens at $0.001 each.
            assert_eq!(rec["cost_usd"], 0.007, "{rec}");
            break;
        }
        assert!(Instant::now() < deadline, "no record for the key: {logs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn rate_limits_name_the_limit_and_set_openai_headers() {
    let mock = MockUpstream::start().await;
    let g = gateway(&mock, "");
    let (_, key) = create_key(&g, json!({"name": "slow", "rpm": 3})).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = chat(&g, &key, "fast").await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-ratelimit-limit-requests"), Some("3"));
        remaining.push(
            r.header("x-ratelimit-remaining-requests")
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);
    let r = chat(&g, &key, "fast").await;
    let e = error_of(&r, 429);
    assert_eq!(e["code"], "rate_limit_exceeded_requests_key", "{e}");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(mock.request_count(), 3);

    // Tokens per minute: each request is estimated at its prompt plus max_tokens, so a
    // budget of 30 tokens admits two of these and not a third.
    let (_, key) = create_key(&g, json!({"name": "tokens", "tpm": 30})).await;
    assert_eq!(chat(&g, &key, "fast").await.status, 200);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(chat(&g, &key, "fast").await.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let r = chat(&g, &key, "fast").await;
    assert_eq!(error_of(&r, 429)["code"], "rate_limit_exceeded_tokens_key");
}

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

/// Whether the Redis at 127.0.0.1:6379 answers; in CI a missing Redis is a failure.
fn redis_available(test: &str) -> bool {
    use std::io::{Read, Write};
    let ping = || -> std::io::Result<bool> {
        let addr = "127.0.0.1:6379".parse().unwrap();
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        s.write_all(b"PING\r\n")?;
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf)?;
        Ok(&buf == b"+PONG\r\n")
    };
    match ping() {
        Ok(true) => true,
        outcome if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true and no Redis answers at 127.0.0.1:6379: {outcome:?}")
        }
        outcome => {
            eprintln!(
                "skipping {test}: no Redis at 127.0.0.1:6379 ({outcome:?}); CI=true makes this a failure"
            );
            false
        }
    }
}

#[tokio::test]
async fn two_gateways_on_one_redis_share_one_limit_and_one_budget() {
    if !redis_available("two_gateways_on_one_redis_share_one_limit_and_one_budget") {
        return;
    }
    let mock = MockUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = format!(
        "store: sqlite://{}\nredis: redis://127.0.0.1:6379",
        dir.path().join("shared.db").display()
    );
    let a = gateway(&mock, &store);
    let b = gateway(&mock, &store);
    let (_, key) = create_key(&a, json!({"name": "shared", "rpm": 60})).await;
    // B learns of the key from A (Redis pub/sub); the model list costs no rate limit.
    let deadline = Instant::now() + Duration::from_secs(5);
    let auth = format!("Bearer {key}");
    while send(
        Method::GET,
        &b.url("/v1/models"),
        &[("authorization", &auth)],
        "",
    )
    .await
    .status
        != 200
    {
        assert!(
            Instant::now() < deadline,
            "B never accepted the key made on A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = (0..100).map(|i| {
        let g = if i % 2 == 0 { &a } else { &b };
        chat(g, &key, "fast")
    });
    let results = futures_util::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    let limited = results.iter().filter(|r| r.status == 429).count();
    assert_eq!(
        (ok, limited),
        (60, 40),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );

    // One budget across both: $0.05 holds 7 requests of $0.007, wherever they land.
    let (_, key) = create_key(
        &a,
        json!({"name": "shared-budget", "budget": {"amount": "0.05", "period": "total"}}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let auth = format!("Bearer {key}");
    while send(
        Method::GET,
        &b.url("/v1/models"),
        &[("authorization", &auth)],
        "",
    )
    .await
    .status
        != 200
    {
        assert!(Instant::now() < deadline, "B never accepted the second key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let calls = (0..60).map(|i| {
        let g = if i % 2 == 0 { &a } else { &b };
        chat(g, &key, "fast")
    });
    let results = futures_util::future::join_all(calls).await;
    let spent: f64 = results
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| {
            r.header("x-sluice-cost-usd")
                .unwrap()
                .parse::<f64>()
                .unwrap()
        })
        .sum();
    assert!(spent <= 0.05 + 1e-9 && spent > 0.0, "spent {spent}");
}

/// The record of the request that got `r`, once it is written.
async fn record_of(g: &Sluice, r: &Resp) -> Value {
    let id = r.header("x-request-id").unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = admin(g, Method::GET, &format!("/admin/v1/logs/{id}"), Value::Null).await;
        if got.status == 200 {
            return got.json();
        }
        assert!(Instant::now() < deadline, "no record for {id}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn end_users_have_their_own_limits() {
    let mock = MockUpstream::start().await;
    let g = gateway(&mock, "");
    let r = admin(
        &g,
        Method::POST,
        "/admin/v1/users",
        json!({"id": "alice", "rpm": 1}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let (_, key) = create_key(&g, json!({"name": "app"})).await;
    // A key whose requests belong to alice unless they name someone else.
    let (_, alices) = create_key(&g, json!({"name": "alices", "user": "alice"})).await;
    let as_user = |user: &'static str| {
        let auth = format!("Bearer {key}");
        let g = &g;
        async move {
            send(
                Method::POST,
                &g.url(CHAT),
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                    ("x-sluice-user", user),
                ],
                json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]})
                    .to_string(),
            )
            .await
        }
    };
    assert_eq!(as_user("alice").await.status, 200);
    let e = error_of(&as_user("alice").await, 429);
    assert_eq!(e["code"], "rate_limit_exceeded_requests_user", "{e}");
    assert_eq!(
        as_user("bob").await.status,
        200,
        "other users are not limited"
    );
    let r = chat(&g, &alices, "fast").await;
    assert_eq!(
        error_of(&r, 429)["code"],
        "rate_limit_exceeded_requests_user"
    );
    assert_eq!(record_of(&g, &r).await["user"], "alice");
}

#[tokio::test]
async fn streams_are_priced_from_upstream_usage_or_estimated_when_cut() {
    let mock = MockUpstream::start().await;
    let g = gateway(&mock, "");
    let (_, key) = create_key(&g, json!({"name": "streamer"})).await;
    let stream = |content: &'static str| {
        let auth = format!("Bearer {key}");
        let g = &g;
        async move {
            send(
                Method::POST,
                &g.url(CHAT),
                &[("authorization", &auth), ("content-type", "application/json")],
                json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": content}]})
                    .to_string(),
            )
            .await
        }
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
