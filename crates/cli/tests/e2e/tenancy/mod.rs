//! Virtual keys, teams, limits, budgets and spend through the real binary: keys created
//! through the admin API work at once and stop at once when revoked, allowlists refuse
//! other models, rate limits answer 429 with the limit named, budgets hold under 200
//! concurrent requests, two gateways sharing one Redis share one limit, every request's
//! cost lands in the spend ledger, and a budget's soft alert is raised once per period.

mod budgets;
mod keys;
mod limits;

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::MockUpstream;

use crate::harness::{Resp, Sluice, send};

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

/// An admin API call with the admin key.
async fn admin(g: &Sluice, method: Method, path: &str, body: Value) -> Resp {
    crate::harness::admin_call(g, ADMIN, method, path, body).await
}

/// Creates a key and returns (id, secret).
async fn create_key(g: &Sluice, body: Value) -> (String, String) {
    crate::harness::create_key(g, ADMIN, body).await
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
