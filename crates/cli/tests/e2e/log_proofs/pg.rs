//! A private Postgres server for one test, in a temp dir on a free port, so the test can stop
//! and start it without touching the machine's shared Postgres.
//!
//! The server binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, the newest
//! version). Postgres refuses to run as root, so when the test runs as root (CI does) the temp
//! dir is handed to the `postgres` user and `initdb` / `pg_ctl` run through
//! `runuser -u postgres --`. Without the binaries (or that user) the test is skipped with the
//! reason, except under `CI=true`, where it fails.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running (or stopped) private Postgres; stopped and deleted on drop.
pub struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Run the server's commands as the `postgres` user (we are root).
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Creates and starts a cluster, or `None` (after printing why) when that is impossible
    /// outside CI.
    pub fn start(test: &str) -> Option<PrivatePostgres> {
        match Self::try_start() {
            Ok(pg) => Some(pg),
            Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("CI=true and no private Postgres for {test}: {why}")
            }
            Err(why) => {
                eprintln!(
                    "skipping {test}: cannot run a private Postgres ({why}); CI=true makes this a failure"
                );
                None
            }
        }
    }

    fn try_start() -> Result<PrivatePostgres, String> {
        let bin = server_bin().ok_or("no /usr/lib/postgresql/*/bin/initdb")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let as_postgres = std::fs::metadata(dir.path())
            .map_err(|e| e.to_string())?
            .uid()
            == 0;
        if as_postgres {
            let chown = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .output()
                .map_err(|e| format!("chown: {e}"))?;
            check("chown postgres", &chown)?;
        }
        let port = free_port()?;
        let pg = PrivatePostgres {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = pg.data();
        let init = pg.run(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-U",
                "postgres",
                "--auth=trust",
                "-N",
            ],
        )?;
        check("initdb", &init)?;
        pg.start_server()?;
        Ok(pg)
    }

    /// The store URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are cut, like a database going away).
    pub fn stop(&self) {
        let out = self
            .run(
                "pg_ctl",
                &["-D", &self.data_str(), "-w", "stop", "-m", "fast"],
            )
            .unwrap();
        check("pg_ctl stop", &out).unwrap();
    }

    /// Starts the server again.
    pub fn restart(&self) {
        self.start_server().unwrap();
    }

    fn start_server(&self) -> Result<(), String> {
        let dir = path_str(self.dir.path())?;
        let options = format!(
            "-p {} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port
        );
        let log = self.dir.path().join("server.log");
        let out = self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data_str(),
                "-o",
                &options,
                "-l",
                path_str(&log)?,
                "-w",
                "start",
            ],
        )?;
        check("pg_ctl start", &out).map_err(|e| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{e}\n{log}")
        })
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn data_str(&self) -> String {
        self.data().display().to_string()
    }

    /// Runs the server binary `name` with `args`, as `postgres` when we are root.
    fn run(&self, name: &str, args: &[&str]) -> Result<Output, String> {
        let program = self.bin.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| format!("{}: {e}", program.display()))
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data_str();
        let _ = self.run("pg_ctl", &["-D", &data, "-w", "stop", "-m", "immediate"]);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`.
fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// A loopback port nothing listens on now.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn check(what: &str, out: &Output) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("not UTF-8: {}", p.display()))
}
