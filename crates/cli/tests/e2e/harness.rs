//! Starting the real `sluice` binary on port 0 with a temp config, and a small HTTP client.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Environment variables that would make the default config reach real providers.
const PROVIDER_ENV: &[&str] = &[
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AZURE_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AZURE_API_BASE",
    "AZURE_OPENAI_ENDPOINT",
    "GROQ_API_KEY",
    "TOGETHER_API_KEY",
    "MISTRAL_API_KEY",
    "DEEPSEEK_API_KEY",
    "XAI_API_KEY",
    "FIREWORKS_API_KEY",
    "OPENROUTER_API_KEY",
    "PERPLEXITY_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "SLUICE_CONFIG",
    "SLUICE_LISTEN",
    "SLUICE_LOG_FORMAT",
    // Traces turn on from the environment when the config has no `telemetry:` section.
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_SDK_DISABLED",
];

/// A running gateway process; killed on drop.
pub struct Sluice {
    child: Child,
    pub addr: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

/// How to start a gateway.
#[derive(Default)]
pub struct Start {
    config: Option<String>,
    env: Vec<(String, String)>,
}

impl Start {
    /// Uses `yaml` as the config file.
    pub fn config(mut self, yaml: &str) -> Self {
        self.config = Some(yaml.to_owned());
        self
    }

    /// Sets an environment variable for the process.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Starts the binary and waits until it listens.
    pub fn spawn(self) -> Sluice {
        match self.try_spawn() {
            Ok(s) => s,
            Err(logs) => panic!("sluice did not start:\n{logs}"),
        }
    }

    /// Starts the binary; on failure returns what it printed.
    pub fn try_spawn(self) -> Result<Sluice, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.current_dir(dir.path()).arg("serve");
        if let Some(yaml) = &self.config {
            let path = dir.path().join("sluice.yaml");
            std::fs::write(&path, yaml).expect("write config");
            cmd.arg("--config").arg(&path);
        }
        cmd.arg("--listen").arg("127.0.0.1:0");
        for k in PROVIDER_ENV {
            cmd.env_remove(k);
        }
        cmd.env("SLUICE_LOG", "debug").env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn sluice");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    if let (Some(tx), Ok(addr)) = (tx.take(), addr.parse::<SocketAddr>()) {
                        let _ = tx.send(addr);
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(Sluice {
                    child,
                    addr,
                    logs,
                    _dir: dir,
                });
            }
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                std::thread::sleep(Duration::from_millis(100));
                return Err(logs.lock().unwrap().join("\n"));
            }
        }
    }
}

impl Sluice {
    /// Starts a gateway with `yaml` as its config.
    pub fn start(yaml: &str) -> Sluice {
        Start::default().config(yaml).spawn()
    }

    /// The URL of `path` on this gateway.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Everything the process logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Kills the process with SIGKILL (a crash: nothing is flushed) and waits for it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait for the killed process");
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- sluice logs ---\n{}", self.logs());
        }
    }
}

/// A complete HTTP response.
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Sends a request and returns the response head with its body still streaming.
pub async fn send_streaming(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> http::Response<Incoming> {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).expect("request");
    client().request(req).await.expect("send")
}

/// Sends a request and reads the whole response.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Resp {
    let resp = send_streaming(method, url, headers, body).await;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Resp {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// POSTs a JSON body.
pub async fn post_json(url: &str, body: &serde_json::Value) -> Resp {
    send(
        Method::POST,
        url,
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await
}

/// GETs a URL.
pub async fn get(url: &str) -> Resp {
    send(Method::GET, url, &[], Bytes::new()).await
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter_map(|ev| {
            ev.lines()
                .find_map(|l| l.strip_prefix("data: "))
                .map(str::to_owned)
        })
        .collect()
}

/// Reads frames from a streaming body until `n` SSE events arrived; returns them.
pub async fn read_events(body: &mut Incoming, n: usize) -> Vec<String> {
    let mut buf = Vec::new();
    loop {
        let events = sse_data(&buf);
        if events.len() >= n && buf.ends_with(b"\n\n") {
            return events;
        }
        match tokio::time::timeout(Duration::from_secs(10), body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
            other => panic!(
                "stream ended or stalled before {n} events ({:?}): {}",
                other.map(|o| o.map(|r| r.is_ok())),
                String::from_utf8_lossy(&buf)
            ),
        }
    }
}

/// A config with one OpenAI-compatible provider `mock` at `base_url` and alias `fast` → `gpt-4o-mini`.
pub fn mock_config(base_url: &str) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: openai-compatible, base_url: "{base_url}", api_key: "sk-upstream-secret-123" }}
models:
  - name: fast
    targets: [ {{ provider: mock, model: gpt-4o-mini }} ]
"#
    )
}

/// The chunks of a successful SSE chat body, which must end with `[DONE]` (not included).
pub fn stream_chunks(r: &Resp) -> Vec<serde_json::Value> {
    assert_eq!(r.status, 200, "{}", r.text());
    let events = sse_data(&r.body);
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

/// The `error` object of a response that must have `status`.
pub fn error_of(r: &Resp, status: u16) -> serde_json::Value {
    assert_eq!(r.status, status, "{}", r.text());
    r.json()["error"].clone()
}

/// The JSON body of a response that must be a 200.
pub fn ok_json(r: &Resp) -> serde_json::Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// An admin API call with `admin_key`: a JSON body unless `body` is null.
pub async fn admin_call(
    g: &Sluice,
    admin_key: &str,
    method: Method,
    path: &str,
    body: serde_json::Value,
) -> Resp {
    let auth = format!("Bearer {admin_key}");
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    send(
        method,
        &g.url(path),
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body,
    )
    .await
}

/// Creates a virtual key through the admin API; returns its id and secret.
pub async fn create_key(g: &Sluice, admin_key: &str, body: serde_json::Value) -> (String, String) {
    let r = admin_call(g, admin_key, Method::POST, "/admin/v1/keys", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    (
        v["id"].as_str().unwrap().to_owned(),
        v["key"].as_str().unwrap().to_owned(),
    )
}

/// POSTs a JSON body to `url` with `key` as the bearer key, plus `headers`.
pub async fn post_as(
    url: &str,
    key: &str,
    body: &serde_json::Value,
    headers: &[(&str, &str)],
) -> Resp {
    let auth = format!("Bearer {key}");
    let mut h = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    h.extend_from_slice(headers);
    send(Method::POST, url, &h, body.to_string()).await
}

/// Whether the Redis at 127.0.0.1:6379 answers; in CI a missing Redis is a failure,
/// elsewhere `test` is skipped with a printed reason.
pub fn redis_available(test: &str) -> bool {
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

/// The request ids of the records waiting in the journal directory `dir`.
pub fn journal_ids(dir: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("journal-"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter_map(|v| v["id"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect()
}
