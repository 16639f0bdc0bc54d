//! Running Sluice: client auth, refusing to listen unauthenticated, `check-config`, logs
//! without secrets, JSON logs, graceful shutdown, and the overhead header.

// Every function in this test binary is test code: a failed expectation is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sluice_testkit::{Behavior, MockUpstream};

use crate::harness::{
    Resp, Sluice, Start, get, mock_config, post_json, read_events, send, send_streaming, sse_data,
};

const CHAT: &str = "/v1/chat/completions";
const ADMIN_KEY: &str = "sk-admin-test";
const PROVIDER_KEY: &str = "sk-upstream-secret-123";

fn hi() -> Value {
    json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]})
}

/// `mock_config` with `server:` settings in front.
fn config_with_server(server: &str, mock: &MockUpstream) -> String {
    format!("server: {server}\n{}", mock_config(&mock.base_url()))
}

/// A gateway in front of `mock` that requires the admin key.
fn guarded(mock: &MockUpstream) -> Sluice {
    Sluice::start(&config_with_server(
        &format!("{{ admin_key: \"{ADMIN_KEY}\" }}"),
        mock,
    ))
}

/// POSTs `body` as JSON with extra headers.
async fn post_with(url: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    send(Method::POST, url, &all, body.to_string()).await
}

// ---------------------------------------------------------------------------------------------
// A `sluice` process started by hand, for flags the harness always sets differently.

/// Environment variables that would change what a hand-started `sluice` does.
const CLEAR_ENV: &[&str] = &[
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "GROQ_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "SLUICE_CONFIG",
    "SLUICE_LISTEN",
    "SLUICE_LOG_FORMAT",
    "SLUICE_ADMIN_KEY",
];

/// The `sluice` binary in `dir` with a clean environment.
fn sluice_cmd(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.current_dir(dir);
    for k in CLEAR_ENV {
        cmd.env_remove(k);
    }
    cmd.env("SLUICE_LOG", "info").env("NO_COLOR", "1");
    cmd
}

/// A running `sluice serve` whose stderr is collected line by line; killed on drop.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Proc {
    /// Runs `sluice serve ARGS` in a fresh temp dir holding `config` as `sluice.yaml`, if given
    /// (found without `--config`, as a user would rely on).
    fn serve(config: Option<&str>, args: &[&str]) -> Proc {
        let dir = tempfile::tempdir().expect("tempdir");
        if let Some(yaml) = config {
            std::fs::write(dir.path().join("sluice.yaml"), yaml).expect("write config");
        }
        let mut child = sluice_cmd(dir.path())
            .arg("serve")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Proc {
            child,
            lines,
            _dir: dir,
        }
    }

    fn logs(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The first logged line that satisfies `pred`, waiting up to 10 s for it.
    fn wait_line(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits up to 10 s for the process to exit.
    fn wait_exit(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- sluice logs ---\n{}", self.logs());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client authentication.

/// With `admin_key` set, `/v1` answers 401 without the key or with a wrong one, and accepts
/// it in each of the three header styles; health checks need no key.
#[tokio::test]
async fn admin_key_guards_v1_and_is_accepted_in_every_header_style() {
    let mock = MockUpstream::start().await;
    let gw = guarded(&mock);
    let url = gw.url(CHAT);

    let r = post_json(&url, &hi()).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["type"], "authentication_error");
    assert!(e["message"].is_string() && e.get("param").is_some() && e.get("code").is_some());

    let r = post_with(&url, &[("authorization", "Bearer sk-wrong-key")], &hi()).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    let r = get(&gw.url("/v1/models")).await;
    assert_eq!(r.status, 401, "listing models needs the key too");
    assert_eq!(
        mock.request_count(),
        0,
        "nothing unauthenticated went upstream"
    );

    let bearer = format!("Bearer {ADMIN_KEY}");
    for (header, value) in [
        ("authorization", bearer.as_str()),
        ("x-api-key", ADMIN_KEY),
        ("api-key", ADMIN_KEY),
    ] {
        let r = post_with(&url, &[(header, value)], &hi()).await;
        assert_eq!(r.status, 200, "key in {header}: {}", r.text());
        assert_eq!(r.json()["choices"][0]["message"]["content"], "echo: hi");
    }

    assert_eq!(get(&gw.url("/health/live")).await.status, 200);
    assert_eq!(get(&gw.url("/health/ready")).await.status, 200);
}

/// The upstream sees the provider's key only: whatever credential the client sent stays at
/// the gateway, on chat and on pass-through routes.
#[tokio::test]
async fn client_credentials_never_reach_the_upstream() {
    let mock = MockUpstream::start().await;
    let gw = guarded(&mock);
    let bearer = format!("Bearer {ADMIN_KEY}");
    let cases = [
        (CHAT, ("authorization", bearer.as_str()), hi()),
        (CHAT, ("x-api-key", ADMIN_KEY), hi()),
        (
            "/v1/embeddings",
            ("api-key", ADMIN_KEY),
            json!({"model": "fast", "input": "hello"}),
        ),
    ];
    for (path, header, body) in cases {
        let r = post_with(&gw.url(path), &[header], &body).await;
        assert_eq!(r.status, 200, "{path} with {}: {}", header.0, r.text());
        let seen = mock.last().expect("the upstream got the request");
        assert_eq!(
            seen.header("authorization"),
            Some(format!("Bearer {PROVIDER_KEY}").as_str())
        );
        assert_eq!(seen.header("x-api-key"), None);
        assert_eq!(seen.header("api-key"), None);
        for (name, value) in &seen.headers {
            assert!(
                !value.contains(ADMIN_KEY),
                "the client's key leaked upstream in {name}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Refusing to listen unauthenticated.

/// With no `admin_key`, Sluice will not listen beyond loopback: it exits at once with a
/// message that names `admin_key`.
#[test]
fn refuses_to_listen_beyond_loopback_without_an_admin_key() {
    let mut p = Proc::serve(None, &["--listen", "0.0.0.0:0"]);
    let status = p.wait_exit().expect("sluice exits instead of serving");
    assert!(!status.success(), "{status:?}");
    let logs = p.logs();
    assert!(logs.contains("admin_key"), "{logs}");
    assert!(!logs.contains("listening on"), "{logs}");
}

/// `server.allow_unauthenticated: true` lets it listen beyond loopback.
#[tokio::test]
async fn allow_unauthenticated_lets_it_listen_beyond_loopback() {
    let mock = MockUpstream::start().await;
    let yaml = config_with_server("{ allow_unauthenticated: true }", &mock);
    let p = Proc::serve(Some(&yaml), &["--listen", "0.0.0.0:0"]);
    let line = p
        .wait_line(|l| l.contains("listening on http://"))
        .unwrap_or_else(|| panic!("sluice did not start:\n{}", p.logs()));
    let port = line
        .split("listening on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse::<SocketAddr>().ok())
        .map(|addr| addr.port())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(line.contains("0.0.0.0:"), "{line}");
    let r = post_json(&format!("http://127.0.0.1:{port}{CHAT}"), &hi()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

// ---------------------------------------------------------------------------------------------
// `sluice check-config`.

/// Runs `sluice check-config` on `yaml`; returns the exit code and stderr.
fn check_config(yaml: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("sluice.yaml");
    std::fs::write(&file, yaml).expect("write config");
    let out = sluice_cmd(dir.path())
        .arg("check-config")
        .arg(&file)
        .output()
        .expect("run check-config");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A valid file passes with exit code 0.
#[test]
fn check_config_accepts_a_valid_file() {
    let (code, stdout, stderr) = check_config(&mock_config("http://127.0.0.1:9/v1"));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("valid"), "{stdout}");
}

/// A file with several problems fails with exit code 1 and lists each problem at its path.
#[test]
fn check_config_reports_every_problem_with_its_path() {
    let yaml = r#"
providers:
  mock: { kind: openai-compatible, base_url: "http://127.0.0.1:9/v1", api_key: "k", colour: red }
models:
  - name: fast
    targets: [ { provider: opnai, model: gpt-4o-mini } ]
    retry: { max: 1, backoff: soon }
"#;
    let (code, _, stderr) = check_config(yaml);
    assert_eq!(code, Some(1), "{stderr}");
    for problem in [
        r#"models[0].targets[0].provider: unknown provider "opnai""#,
        r#"providers.mock.colour: unknown field "colour""#,
        r#"models[0].retry.backoff: expected a duration"#,
    ] {
        assert!(
            stderr.contains(problem),
            "missing {problem:?} in:\n{stderr}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Logs.

/// Even at trace level, neither the provider's key nor the client's key appears in the
/// logs, across successes, a stream, upstream and auth failures, and pass-through.
#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let mock = MockUpstream::start().await;
    let gw = Start::default()
        .config(&config_with_server(
            &format!("{{ admin_key: \"{ADMIN_KEY}\" }}"),
            &mock,
        ))
        .env("SLUICE_LOG", "trace")
        .spawn();
    let bearer = format!("Bearer {ADMIN_KEY}");
    let auth = [("authorization", bearer.as_str())];
    let url = gw.url(CHAT);

    let r = post_with(&url, &auth, &hi()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let stream =
        json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let r = post_with(&url, &[("x-api-key", ADMIN_KEY)], &stream).await;
    assert_eq!(sse_data(&r.body).last().map(String::as_str), Some("[DONE]"));
    mock.push(Behavior::openai_error(
        401,
        "Incorrect API key provided.",
        "invalid_request_error",
        Some("invalid_api_key"),
    ));
    let r = post_with(&url, &auth, &hi()).await;
    assert_eq!(r.status, 401, "{}", r.text());
    let r = post_with(
        &gw.url("/v1/embeddings"),
        &[("api-key", ADMIN_KEY)],
        &json!({"model": "fast", "input": "x"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post_with(&url, &[("authorization", "Bearer sk-wrong")], &hi()).await;
    assert_eq!(r.status, 401);

    // Give the logger a moment to flush the last access lines.
    let deadline = Instant::now() + Duration::from_secs(10);
    while gw.logs().matches("sluice::access").count() < 5 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs = gw.logs();
    assert!(logs.contains("TRACE"), "trace logging is on:\n{logs}");
    assert_eq!(logs.matches("sluice::access").count(), 5, "{logs}");
    for secret in [PROVIDER_KEY, "upstream-secret", ADMIN_KEY, "admin-test"] {
        assert!(!logs.contains(secret), "{secret:?} was logged:\n{logs}");
    }
}

/// `--log-format json` writes one JSON object per line, and each request's access line
/// carries its `request_id` and `status`.
#[tokio::test]
async fn json_log_format_writes_one_object_per_line() {
    let mock = MockUpstream::start().await;
    let p = Proc::serve(
        Some(&mock_config(&mock.base_url())),
        &["--listen", "127.0.0.1:0", "--log-format", "json"],
    );
    let started = p
        .wait_line(|l| l.contains("listening on"))
        .unwrap_or_else(|| panic!("sluice did not start:\n{}", p.logs()));
    let started: Value = serde_json::from_str(&started).expect("the start line is JSON");
    let addr = started["addr"].as_str().expect("addr field").to_owned();

    let r = post_with(
        &format!("http://{addr}{CHAT}"),
        &[("x-request-id", "json-log-probe")],
        &hi(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get(&format!("http://{addr}/no/such/path")).await;
    assert_eq!(r.status, 404);

    let access = p
        .wait_line(|l| l.contains("json-log-probe"))
        .unwrap_or_else(|| panic!("no access line:\n{}", p.logs()));
    let access: Value = serde_json::from_str(&access).expect("the access line is JSON");
    assert_eq!(access["request_id"], "json-log-probe", "{access}");
    assert_eq!(access["status"], 200, "{access}");
    assert!(
        p.wait_line(|l| l.contains("\"status\":404")).is_some(),
        "{}",
        p.logs()
    );

    for line in p.logs().lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown.

/// Tries to open a new connection to the gateway until one is refused; true if that happened
/// within 10 s.
async fn connections_get_refused(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let attempt =
            tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                .await;
        if let Ok(Err(_)) = attempt {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// SIGTERM: the gateway stops taking connections, the stream in flight still runs to
/// `[DONE]`, and the process then exits cleanly.
#[tokio::test]
async fn sigterm_drains_an_in_flight_stream_and_refuses_new_connections() {
    let mock = MockUpstream::start().await;
    let mut gw = Sluice::start(&config_with_server("{ shutdown_grace: 10s }", &mock));
    mock.push(Behavior::ChunkInterval(Duration::from_millis(300)));
    let body = json!({"model": "fast", "stream": true,
        "messages": [{"role": "user", "content": "one two three four five six"}]});
    let resp = send_streaming(
        Method::POST,
        &gw.url(CHAT),
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = read_events(&mut body, 1).await;

    gw.terminate();
    assert!(
        connections_get_refused(gw.addr).await,
        "new connections are still accepted after SIGTERM"
    );

    let rest = tokio::time::timeout(Duration::from_secs(10), body.collect())
        .await
        .expect("the stream finished")
        .expect("the stream was not cut")
        .to_bytes();
    let mut events = first;
    events.extend(sse_data(&rest));
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    let text: String = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "echo: one two three four five six");

    let status = gw
        .wait_exit(Duration::from_secs(10))
        .expect("the gateway exits after draining");
    assert!(status.success(), "{status:?}");
}

/// A stream that never ends does not keep the process alive past `shutdown_grace`.
#[tokio::test]
async fn sigterm_gives_up_on_a_stalled_stream_after_the_grace_period() {
    let mock = MockUpstream::start().await;
    let mut gw = Sluice::start(&config_with_server("{ shutdown_grace: 500ms }", &mock));
    mock.push(Behavior::StallMidStream { after_chunks: 1 });
    let body =
        json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let resp = send_streaming(
        Method::POST,
        &gw.url(CHAT),
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    read_events(&mut body, 1).await;

    gw.terminate();
    assert!(
        gw.wait_exit(Duration::from_secs(10)).is_some(),
        "the gateway is still running long after its grace period"
    );
    drop(body);
}

// ---------------------------------------------------------------------------------------------
// The overhead header.

fn overhead_us(r: &Resp) -> u64 {
    r.header("x-sluice-overhead-us")
        .unwrap_or_else(|| panic!("no x-sluice-overhead-us on a {} response", r.status))
        .parse()
        .expect("x-sluice-overhead-us is a number of microseconds")
}

/// `x-sluice-overhead-us` is on successes, errors of every origin, and streams.
#[tokio::test]
async fn overhead_header_is_on_every_response() {
    let mock = MockUpstream::start().await;
    let gw = Sluice::start(&mock_config(&mock.base_url()));
    let url = gw.url(CHAT);

    overhead_us(&post_json(&url, &hi()).await);
    overhead_us(&get(&gw.url("/v1/models")).await);
    overhead_us(&get(&gw.url("/health/live")).await);

    let bad_json = send(
        Method::POST,
        &url,
        &[("content-type", "application/json")],
        Bytes::from_static(b"{"),
    )
    .await;
    assert_eq!(bad_json.status, 400);
    overhead_us(&bad_json);
    let unknown = post_json(&url, &json!({"model": "nope", "messages": []})).await;
    assert_eq!(unknown.status, 404);
    overhead_us(&unknown);
    let no_route = get(&gw.url("/v1/nothing")).await;
    assert_eq!(no_route.status, 404);
    overhead_us(&no_route);
    mock.push(Behavior::openai_error(500, "boom", "server_error", None));
    let upstream = post_json(&url, &hi()).await;
    assert_eq!(upstream.status, 500);
    overhead_us(&upstream);

    let stream = send_streaming(
        Method::POST,
        &url,
        &[("content-type", "application/json")],
        json!({"model": "fast", "stream": true, "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
    )
    .await;
    assert_eq!(stream.status(), 200);
    let v = stream
        .headers()
        .get("x-sluice-overhead-us")
        .expect("x-sluice-overhead-us on a stream");
    assert!(v.to_str().unwrap().parse::<u64>().is_ok(), "{v:?}");
}
