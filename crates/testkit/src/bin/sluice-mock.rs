//! `sluice-mock`: the testkit's mock OpenAI upstream as a standalone server,
//! for the benchmark and for manual testing.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sluice_testkit::{MockOptions, MockUpstream};

/// A fast, deterministic mock of the OpenAI API.
#[derive(Parser, Debug)]
#[command(name = "sluice-mock", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Pause before each stream chunk, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_interval_ms: u64,
    /// Latency added before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Keep every request in memory (off by default so memory stays flat).
    #[arg(long)]
    record: bool,
    /// Share of requests (0.0 to 1.0) answered with an OpenAI-shaped 500.
    #[arg(long, default_value_t = 0.0)]
    fail_rate: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let opts = MockOptions {
        record: args.record,
        latency: Duration::from_millis(args.latency_ms),
        chunk_interval: Duration::from_millis(args.chunk_interval_ms),
    };
    let mock = match MockUpstream::bind(args.listen, opts).await {
        Ok(m) => {
            m.set_fail_rate(args.fail_rate);
            m
        }
        Err(e) => {
            eprintln!("sluice-mock: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", mock.addr());
    let _ = tokio::signal::ctrl_c().await;
    drop(mock);
    ExitCode::SUCCESS
}
