//! `sluice serve`: load the config, build the gateway, serve until SIGTERM or Ctrl-C, then
//! drain in-flight requests for at most the grace period, then flush the request log (what
//! the store does not take in what is left of the grace period goes to the journal) and the
//! queued trace spans.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use sluice_config::Config;
use sluice_server::{Gateway, RequestLog, Tenancy};
use sluice_store::{Journal, LogSink, LogWriter, Store, WriterConfig, spawn_pruner};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::{LogFormat, ServeArgs};

pub fn run(args: ServeArgs) -> ExitCode {
    init_tracing(args.log_format);
    let config = match load(&args) {
        Ok(c) => c,
        Err(lines) => {
            for l in lines {
                tracing::error!("{l}");
            }
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn load(args: &ServeArgs) -> Result<Config, Vec<String>> {
    let default_path = Path::new("sluice.yaml");
    let mut config = match &args.config {
        Some(p) => sluice_config::load_file(p).map_err(|e| e.lines())?,
        None if default_path.exists() => {
            sluice_config::load_file(default_path).map_err(|e| e.lines())?
        }
        None => {
            tracing::info!("no sluice.yaml found; using the built-in default config");
            sluice_config::default_config(&|k| std::env::var(k).ok())
        }
    };
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(problem) = config.server.exposure_problem() {
        return Err(vec![problem]);
    }
    Ok(config)
}

async fn serve(config: Config) -> Result<(), String> {
    let mut gateway = Gateway::new(&config).map_err(|e| e.to_string())?;
    let traces = gateway.start_traces(&config).map_err(|e| e.to_string())?;
    let logging = start_logging(&config).await?;
    if let Some(l) = &logging {
        gateway = gateway.with_request_log(l.log(&config), l.store.clone());
    }
    // Keys, teams and budgets live in the store whether or not requests are logged.
    let store = match &logging {
        Some(l) => l.store.clone(),
        None => Store::open(&config.store).map_err(|e| format!("store: {e}"))?,
    };
    let tenancy = Arc::new(Tenancy::new(
        Some(store),
        config.redis.as_deref(),
        sluice_server::REDIS_PREFIX,
    )?);
    if !matches!(
        tokio::time::timeout(STORE_WAIT, tenancy.load()).await,
        Ok(true)
    ) {
        tracing::warn!("keys and teams are not loaded yet: the store is not reachable");
    }
    let sync = tenancy.spawn_sync();
    gateway = gateway.with_tenancy(tenancy);
    let app = sluice_server::app(Arc::new(gateway))
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let models: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
    let providers: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    tracing::info!(%addr, ?providers, ?models, "sluice listening on http://{addr}");

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let stopped_at = Arc::new(std::sync::OnceLock::new());
    let stopped = stopped_at.clone();
    // Every response part (each stream event in particular) goes out at once, not after
    // Nagle's algorithm waits for an ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: no new connections; draining in-flight requests");
        let _ = stopped.set(Instant::now());
        let _ = stop_tx.send(true);
    });
    let grace = config.server.shutdown_grace;
    let deadline = async move {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(grace).await;
    };
    let result = tokio::select! {
        res = server.into_future() => res.map_err(|e| format!("server error: {e}")),
        () = deadline => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "grace period over; closing the remaining connections");
            Ok(())
        }
    };
    if let Some(sync) = sync {
        sync.abort();
    }
    // What is left of the grace period; past it, records go to the journal at once.
    let left = stopped_at
        .get()
        .map_or(grace, |at: &Instant| grace.saturating_sub(at.elapsed()));
    let flush_log = async {
        if let Some(logging) = logging {
            logging.shutdown(left.max(MIN_FLUSH)).await;
        }
    };
    let flush_traces = async {
        if let Some(traces) = traces {
            traces.shutdown(left.max(MIN_FLUSH)).await;
        }
    };
    tokio::join!(flush_log, flush_traces);
    result
}

/// The least time the log flush gets at shutdown, even when the grace period is used up.
const MIN_FLUSH: Duration = Duration::from_millis(500);
/// How long startup waits for the store to come up before serving anyway.
const STORE_WAIT: Duration = Duration::from_secs(2);
/// How often old request log records are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The running request log: the store, its batched writer and the retention pruner.
struct Logging {
    store: Store,
    sink: LogSink,
    writer: LogWriter,
    pruner: Option<tokio::task::JoinHandle<()>>,
}

impl Logging {
    /// The server's handle on the log.
    fn log(&self, config: &Config) -> RequestLog {
        let l = &config.logging;
        RequestLog::new(self.sink.clone(), l.bodies, l.max_body_bytes)
    }

    /// Writes what is queued (to the store, or to the journal past `within`) and stops.
    async fn shutdown(self, within: Duration) {
        if let Some(pruner) = self.pruner {
            pruner.abort();
        }
        self.writer.shutdown(within).await;
        let stats = self.sink.stats();
        tracing::info!(
            written = stats.written,
            journalled = stats.spilled,
            dropped = stats.dropped,
            "request log closed"
        );
        self.store.close().await;
    }
}

/// Opens the store (lazily: a database that is down only delays the log, never the
/// gateway) and the journal, and starts the writer and the pruner.
async fn start_logging(config: &Config) -> Result<Option<Logging>, String> {
    let l = &config.logging;
    if !l.enabled {
        tracing::info!("request log off (logging.enabled: false)");
        return Ok(None);
    }
    let store = Store::open(&config.store).map_err(|e| format!("store: {e}"))?;
    let journal = Journal::open(&l.journal)
        .map_err(|e| format!("logging.journal: cannot open {}: {e}", l.journal.display()))?;
    let writer_config = WriterConfig {
        batch_interval: l.batch_interval,
        batch_size: usize::try_from(l.batch_size).unwrap_or(usize::MAX),
        queue: usize::try_from(l.queue).unwrap_or(usize::MAX),
        ..WriterConfig::default()
    };
    let (sink, mut writer) = LogWriter::start(Arc::new(store.clone()), journal, writer_config);
    // The writer brings the store up (migrations) in the background; wait a moment for its
    // first try so the admin API can read logs from the first request on. A database that is
    // down or slow is not waited for longer.
    if !matches!(
        tokio::time::timeout(STORE_WAIT, writer.first_try()).await,
        Ok(true)
    ) {
        tracing::warn!(
            "the store is not reachable yet; request records go to the journal until it is"
        );
    }
    let pruner = spawn_pruner(store.clone(), l.retention, l.max_rows, PRUNE_EVERY);
    tracing::info!(
        backend = ?store.backend(),
        journal = %l.journal.display(),
        "request log on"
    );
    Ok(Some(Logging {
        store,
        sink,
        writer,
        pruner,
    }))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // The SigV4 crate logs its signing inputs (access key id included) at trace level.
    let filter = match "aws_sigv4=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
