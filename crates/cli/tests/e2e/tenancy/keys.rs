//! Keys: created, used, listed without their secret, rotated, revoked and expired;
//! allowlists and attribution.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};
use sluice_testkit::MockUpstream;

use super::{CHAT, admin, chat, create_key, gateway};
use crate::harness::{error_of, ok_json, send};

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
