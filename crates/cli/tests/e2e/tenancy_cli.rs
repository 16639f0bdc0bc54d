//! Tenancy from the shell: an operator creates a key with `sluice keys create`, hands out the
//! secret it prints once, sees the key's requests in `sluice spend`, and revokes it; teams,
//! users and orgs are managed with the same commands, and API errors reach stderr.

use std::process::Output;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};

use crate::harness::{Resp, Sluice, send};

const ADMIN_KEY: &str = "sk-admin-tenancy-cli";

/// A gateway with an admin key (so `/v1` needs a virtual key) and the offline demo model.
fn gateway() -> Sluice {
    Sluice::start(&format!(
        r#"
server: {{ admin_key: "{ADMIN_KEY}" }}
providers: {{ demo: {{}} }}
models:
  - {{ name: demo, targets: [ {{ provider: demo, model: demo }} ] }}
"#
    ))
}

/// Runs `sluice <args>` against `gw` with `admin_key`.
fn run_with(gw: &Sluice, admin_key: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env("SLUICE_URL", gw.url(""))
        .env("SLUICE_ADMIN_KEY", admin_key)
        .output()
        .unwrap()
}

/// Runs `sluice <args>`, which must succeed; returns its stdout.
fn sluice(gw: &Sluice, args: &[&str]) -> String {
    let out = run_with(gw, ADMIN_KEY, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sluice {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `sluice <args> --json`; returns the parsed output.
fn sluice_json(gw: &Sluice, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = sluice(gw, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Runs `sluice <args>`, which must fail with exit code 1; returns its stderr.
fn sluice_fails(gw: &Sluice, admin_key: &str, args: &[&str]) -> String {
    let out = run_with(gw, admin_key, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "sluice {args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The secret in a create or rotate output (the visible `key_prefix` ends with `…`).
fn secret_in(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("sk-sluice-") && !w.contains('…'))
        .unwrap_or_else(|| panic!("no secret in:\n{stdout}"))
        .to_owned()
}

/// A chat request with the demo model, authenticated by `key`.
async fn chat(gw: &Sluice, key: &str) -> Resp {
    let body = json!({"model": "demo", "messages": [{"role": "user", "content": "hi"}]});
    let auth = format!("Bearer {key}");
    send(
        Method::POST,
        &gw.url("/v1/chat/completions"),
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        body.to_string(),
    )
    .await
}

/// The `sluice spend --by key --json` row of `key_id`, waiting for the writer's batch.
fn spend_row(gw: &Sluice, key_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = sluice_json(gw, &["spend", "--by", "key"]);
        assert_eq!(report["group_by"], "key", "{report}");
        let row = report["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["group"] == key_id)
            .cloned();
        if let Some(row) = row {
            return row;
        }
        assert!(Instant::now() < deadline, "no spend for {key_id}: {report}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn a_key_is_created_used_reported_and_revoked_from_the_cli() {
    let gw = gateway();
    // Without a key, the gateway refuses.
    assert_eq!(chat(&gw, "sk-sluice-nope").await.status, 401);

    let out = sluice(
        &gw,
        &[
            "keys", "create", "--name", "ci-bot", "--models", "demo", "--rpm", "100", "--budget",
            "5", "--period", "daily", "--tag", "env=test",
        ],
    );
    assert!(out.contains("will not be shown again"), "{out}");
    let secret = secret_in(&out);
    let id = out
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Created key "))
        .map(|rest| rest.trim_end_matches('.').to_owned())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(id.starts_with("key_"), "{out}");
    assert!(out.contains("$5.00 daily"), "{out}");

    // The list shows the key, its limits and prefix, and never its secret.
    let table = sluice(&gw, &["keys", "list"]);
    let row = table
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed:\n{table}"));
    for part in ["ci-bot", "demo", "100", "active"] {
        assert!(row.contains(part), "{part} missing in {row}");
    }
    assert!(!table.contains(&secret), "{table}");
    let listed = sluice_json(&gw, &["keys", "list"]);
    let keys = listed["data"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{listed}");
    assert_eq!(keys[0]["id"], id.as_str());
    assert_eq!(keys[0]["key"], Value::Null, "the secret is shown only once");
    let prefix = keys[0]["key_prefix"]
        .as_str()
        .unwrap()
        .trim_end_matches('…');
    assert!(secret.starts_with(prefix), "{prefix} vs {secret}");

    // The secret works, and its request shows up in the spend report.
    let r = chat(&gw, &secret).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let row = spend_row(&gw, &id);
    assert_eq!(row["requests"], 1, "{row}");
    assert!(row["prompt_tokens"].as_u64().unwrap() > 0, "{row}");
    let report = sluice(&gw, &["spend", "--by", "key"]);
    let line = report
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} missing:\n{report}"));
    assert!(line.contains('$'), "{line}");
    assert!(
        report.lines().last().unwrap().starts_with("TOTAL"),
        "{report}"
    );

    // Revoked, it stops working at once.
    let out = sluice(&gw, &["keys", "revoke", &id]);
    assert!(out.starts_with(&format!("Revoked key {id}")), "{out}");
    let r = chat(&gw, &secret).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let listed = sluice(&gw, &["keys", "list"]);
    assert!(listed.contains("revoked"), "{listed}");
}

#[tokio::test]
async fn a_key_is_updated_and_rotated_from_the_cli() {
    let gw = gateway();
    let created = sluice_json(&gw, &["keys", "create", "--name", "svc"]);
    let id = created["id"].as_str().unwrap().to_owned();
    let old = created["key"].as_str().unwrap().to_owned();
    assert!(old.starts_with("sk-sluice-"), "{created}");
    assert_eq!(chat(&gw, &old).await.status, 200);

    sluice(
        &gw,
        &[
            "keys", "update", &id, "--rpm", "5", "--budget", "1.50", "--period", "weekly",
        ],
    );
    let got = sluice_json(&gw, &["keys", "get", &id]);
    assert_eq!(got["rpm"], 5, "{got}");
    assert_eq!(got["budget"]["amount"], "1.50", "{got}");
    assert_eq!(got["budget"]["period"], "weekly", "{got}");
    assert_eq!(got["name"], "svc", "fields not given stay");
    let shown = sluice(&gw, &["keys", "get", &id]);
    assert!(shown.contains("$1.50 weekly"), "{shown}");

    sluice(&gw, &["keys", "update", &id, "--clear", "budget,rpm"]);
    let got = sluice_json(&gw, &["keys", "get", &id]);
    assert_eq!(
        (got["budget"].clone(), got["rpm"].clone()),
        (Value::Null, Value::Null)
    );

    // Restricted to another model, the key may no longer use `demo`.
    sluice(&gw, &["keys", "update", &id, "--models", "other"]);
    assert_eq!(chat(&gw, &old).await.status, 403);
    sluice(&gw, &["keys", "update", &id, "--clear", "models"]);
    assert_eq!(chat(&gw, &old).await.status, 200);

    let out = sluice(&gw, &["keys", "rotate", &id]);
    assert!(out.contains("will not be shown again"), "{out}");
    let new = secret_in(&out);
    assert_ne!(new, old);
    assert_eq!(chat(&gw, &old).await.status, 401);
    assert_eq!(chat(&gw, &new).await.status, 200);
}

#[tokio::test]
async fn teams_users_and_orgs_use_the_same_commands() {
    let gw = gateway();
    let org = sluice_json(&gw, &["orgs", "create", "--name", "Acme"]);
    let org_id = org["id"].as_str().unwrap().to_owned();
    assert!(org_id.starts_with("org_"), "{org}");

    let out = sluice(
        &gw,
        &[
            "teams",
            "create",
            "--id",
            "team_search",
            "--name",
            "Search",
            "--org",
            &org_id,
        ],
    );
    assert!(out.starts_with("Created team team_search."), "{out}");
    let out = sluice(
        &gw,
        &[
            "users",
            "create",
            "--id",
            "alice",
            "--team",
            "team_search",
            "--tpm",
            "1000",
        ],
    );
    assert!(out.contains("tpm:"), "{out}");

    let teams = sluice(&gw, &["teams", "list"]);
    let row = teams
        .lines()
        .find(|l| l.starts_with("team_search"))
        .unwrap();
    assert!(row.contains(&org_id) && row.contains("Search"), "{teams}");
    let users = sluice_json(&gw, &["users", "list"]);
    assert_eq!(users["data"][0]["id"], "alice", "{users}");
    assert_eq!(users["data"][0]["team"], "team_search", "{users}");

    // A key can join the team.
    let key = sluice_json(
        &gw,
        &["keys", "create", "--name", "k", "--team", "team_search"],
    );
    assert_eq!(key["team"], "team_search", "{key}");

    sluice(&gw, &["users", "update", "alice", "--clear", "team"]);
    let alice = sluice_json(&gw, &["users", "get", "alice"]);
    assert_eq!(alice["team"], Value::Null, "{alice}");
    let out = sluice(&gw, &["users", "delete", "alice"]);
    assert_eq!(out, "Deleted user alice.\n");
    assert_eq!(sluice(&gw, &["users", "list"]), "No users.\n");
}

#[tokio::test]
async fn api_errors_reach_stderr_and_exit_1() {
    let gw = gateway();
    let err = sluice_fails(&gw, ADMIN_KEY, &["keys", "get", "key_nope"]);
    assert!(err.contains("404") && err.contains("key_nope"), "{err}");
    let err = sluice_fails(&gw, ADMIN_KEY, &["users", "create", "--name", "no id"]);
    assert!(err.contains("needs an `id`"), "{err}");
    let err = sluice_fails(
        &gw,
        ADMIN_KEY,
        &["keys", "create", "--name", "k", "--team", "t0"],
    );
    assert!(err.contains("team") && err.contains("t0"), "{err}");
    let err = sluice_fails(&gw, "sk-wrong", &["keys", "list"]);
    assert!(err.contains("401"), "{err}");
    let err = sluice_fails(&gw, ADMIN_KEY, &["keys", "update", "key_x"]);
    assert!(err.contains("nothing to change"), "{err}");
}
