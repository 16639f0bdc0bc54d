//! Mock upstreams for Sluice's end-to-end tests and benchmark.
//!
//! [`MockUpstream`] is an OpenAI-compatible server on `127.0.0.1:0` that runs
//! on a background tokio task for as long as its handle lives. It answers
//! chat completions (plain, streamed, tool calls, JSON mode), legacy
//! completions, embeddings and the model list with OpenAI's real wire format,
//! deterministically: the assistant echoes the last user message and token
//! counts are word counts. Any other path is echoed back as a small JSON
//! summary so pass-through tests can check what arrived; Azure OpenAI paths
//! (`/openai/deployments/{name}/…`) are served too. Every request is recorded
//! before it is answered. Faults are scripted with a FIFO queue of
//! [`Behavior`]s, one consumed per request (status codes, delays, resets,
//! stalls, garbage, slow streams), and streams report when the peer hung up
//! early, so cancellation can be asserted. The normal path does no logging and
//! no sleeping, so the same server (binary `sluice-mock`) doubles as the
//! benchmark's upstream.
//!
//! The Anthropic, Gemini, Cohere, Bedrock and Vertex AI wire formats are served too (see
//! their modules); Vertex AI's with the OAuth token endpoint its callers sign in at. `GET
//! /images/…` is a small image host (images, redirects, a page that is no image) for the
//! gateway's image fetching.
//!
//! [`OtlpReceiver`] stands in for an OpenTelemetry collector: it takes trace exports over
//! OTLP/HTTP and OTLP/gRPC and decodes their spans for tests to check.

pub mod anthropic;
pub mod bedrock;
mod behavior;
mod body;
mod chat;
pub mod cohere;
mod completions;
mod embeddings;
pub mod gemini;
mod images;
mod otlp;
mod server;
mod state;
pub mod vertex;
mod wire;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use behavior::Behavior;
pub use embeddings::embed;
pub use images::PIXEL_PNG;
pub use otlp::{OtlpProtocol, OtlpReceiver, ReceivedExport, ReceivedSpan};
pub use state::Recorded;

use state::State;

/// Settings for [`MockUpstream::start_with`] and [`MockUpstream::bind`].
#[derive(Debug, Clone, Copy)]
pub struct MockOptions {
    /// Store every request for [`MockUpstream::received`] (default `true`).
    /// The benchmark turns it off so memory stays flat; requests are still counted.
    pub record: bool,
    /// Latency added before every answer (default zero).
    pub latency: Duration,
    /// Pause before each stream chunk (default zero).
    pub chunk_interval: Duration,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            record: true,
            latency: Duration::ZERO,
            chunk_interval: Duration::ZERO,
        }
    }
}

/// A running mock OpenAI-compatible upstream; dropping it stops the server
/// and closes every connection.
pub struct MockUpstream {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl MockUpstream {
    /// Starts a recording mock on `127.0.0.1:0` with default options.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test environment).
    pub async fn start() -> MockUpstream {
        Self::start_with(MockOptions::default()).await
    }

    /// Starts a mock on `127.0.0.1:0` with these options.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test environment).
    pub async fn start_with(opts: MockOptions) -> MockUpstream {
        match Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), opts).await {
            Ok(m) => m,
            Err(e) => panic!("sluice-testkit: cannot bind a mock upstream on 127.0.0.1:0: {e}"),
        }
    }

    /// Starts a mock on a given address (used by the `sluice-mock` binary).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(addr: SocketAddr, opts: MockOptions) -> io::Result<MockUpstream> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::new(opts.record, opts.latency, opts.chunk_interval));
        let task = tokio::spawn(server::serve(listener, state.clone()));
        Ok(MockUpstream { addr, state, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OpenAI-style base URL: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The host root: `http://127.0.0.1:PORT` (for Azure-style and native base URLs).
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every recorded request, in arrival order.
    pub fn received(&self) -> Vec<Recorded> {
        self.state.received()
    }

    /// The last recorded request, if any.
    pub fn last(&self) -> Option<Recorded> {
        self.state.last()
    }

    /// The last recorded body parsed as JSON (`Value::Null` if none or not JSON).
    pub fn last_json(&self) -> serde_json::Value {
        self.last().map_or(serde_json::Value::Null, |r| r.json())
    }

    /// Forgets the recorded requests (the request count is kept).
    pub fn clear_received(&self) {
        self.state.clear_received();
    }

    /// Number of requests received so far, recorded or not.
    pub fn request_count(&self) -> usize {
        self.state.request_count()
    }

    /// Queues a behaviour for a future request; each request consumes one, FIFO.
    pub fn push(&self, behavior: Behavior) {
        self.state.push(behavior);
    }

    /// Queues the same behaviour for the next `times` requests.
    pub fn push_times(&self, behavior: Behavior, times: usize) {
        for _ in 0..times {
            self.state.push(behavior.clone());
        }
    }

    /// Drops every queued behaviour.
    pub fn clear_behaviors(&self) {
        self.state.clear_behaviors();
    }

    /// Sets the latency added before every answer (zero turns it off).
    /// Answers this share of requests (0.0 to 1.0) with an OpenAI-shaped 500 when no
    /// behaviour is queued: a flaky upstream for failover tests and the benchmark.
    pub fn set_fail_rate(&self, rate: f64) {
        self.state.set_fail_rate(rate);
    }

    pub fn set_latency(&self, latency: Duration) {
        self.state.set_latency(latency);
    }

    /// Sets the lifetime of the access tokens the Vertex AI token endpoint issues from now on
    /// (default one hour; its answers round `expires_in` down to whole seconds).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.state.tokens.set_lifetime(lifetime);
    }

    /// The URL of the mock's OAuth token endpoint, for [`vertex::service_account`].
    pub fn token_uri(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// Sets the pause before every stream chunk (zero turns it off).
    pub fn set_chunk_interval(&self, interval: Duration) {
        self.state.set_chunk_interval(interval);
    }

    /// When each stream that the peer dropped before its end was noticed.
    pub fn streams_closed(&self) -> Vec<Instant> {
        self.state.streams_closed()
    }

    /// Waits until a streaming response is dropped by the peer before it
    /// completed (the gateway disconnected), and returns when the first such
    /// drop was noticed. Wrap it in a timeout in tests.
    pub async fn wait_stream_closed(&self) -> Instant {
        let all = self.state.wait_streams_closed(1).await;
        all.first().copied().unwrap_or_else(Instant::now)
    }

    /// Waits until `n` streams were dropped early; returns their instants.
    pub async fn wait_streams_closed(&self, n: usize) -> Vec<Instant> {
        self.state.wait_streams_closed(n).await
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for MockUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockUpstream")
            .field("addr", &self.addr)
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
}
