//! The `sluice` binary: `serve` runs the gateway, `check-config` validates a config file,
//! and the admin commands (`logs`, `keys`, `teams`, `users`, `orgs`, `spend`) talk to a
//! running gateway's admin API.

mod admin;
mod logs;
mod serve;
mod tenancy;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Sluice: one OpenAI-compatible endpoint in front of every LLM provider.
#[derive(Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Validate a config file and print every problem in it.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// Print the request log of a running gateway (newest records; `--follow` to tail it).
    Logs(logs::LogsArgs),
    /// Manage virtual keys: create, list, get, update, revoke, rotate, delete.
    Keys(tenancy::KeysArgs),
    /// Manage teams: their models, limits and budgets apply to all their keys.
    Teams(tenancy::TeamsArgs),
    /// Manage end users (named by `x-sluice-user` or the body's `user`).
    Users(tenancy::UsersArgs),
    /// Manage organisations: their limits and budgets apply to all their teams.
    Orgs(tenancy::OrgsArgs),
    /// Print spend grouped by key, team, org, user, model, provider or tag.
    Spend(tenancy::spend::SpendArgs),
}

/// Options of `sluice serve`.
#[derive(clap::Args)]
struct ServeArgs {
    /// Config file (default: ./sluice.yaml when present, else the built-in default).
    #[arg(long, short, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, overriding `server.listen`.
    #[arg(long, env = "SLUICE_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "SLUICE_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::CheckConfig { file } => check_config(&file),
        Command::Logs(args) => logs::run(args),
        Command::Keys(args) => tenancy::run(args),
        Command::Teams(args) => tenancy::run(args),
        Command::Users(args) => tenancy::run(args),
        Command::Orgs(args) => tenancy::run(args),
        Command::Spend(args) => tenancy::spend::run(args),
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match sluice_config::load_file(file) {
        Ok(cfg) => {
            println!(
                "{}: valid ({} providers, {} models)",
                file.display(),
                cfg.providers.len(),
                cfg.models.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            let lines = errors.lines();
            for line in &lines {
                eprintln!("{line}");
            }
            eprintln!("{}: {} problem(s)", file.display(), lines.len());
            ExitCode::FAILURE
        }
    }
}
