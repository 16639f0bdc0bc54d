//! `sluice serve`: load the config, build the gateway, serve until SIGTERM or Ctrl-C, then
//! drain in-flight requests for at most the grace period.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use axum::serve::ListenerExt;
use sluice_config::Config;
use sluice_server::Gateway;
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
    for warning in config.inactive_settings() {
        tracing::warn!("{warning}");
    }
    if let Some(problem) = config.server.exposure_problem() {
        return Err(vec![problem]);
    }
    Ok(config)
}

async fn serve(config: Config) -> Result<(), String> {
    let gateway = Gateway::new(&config).map_err(|e| e.to_string())?;
    let app = sluice_server::app(Arc::new(gateway));
    let listener = TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.server.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let models: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
    let providers: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    tracing::info!(%addr, ?providers, ?models, "sluice listening on http://{addr}");

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
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
        let _ = stop_tx.send(true);
    });
    let grace = config.server.shutdown_grace;
    let deadline = async move {
        let _ = stop_rx.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        res = server.into_future() => res.map_err(|e| format!("server error: {e}")),
        () = deadline => {
            tracing::warn!(grace_secs = grace.as_secs_f64(), "grace period over; closing the remaining connections");
            Ok(())
        }
    }
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
