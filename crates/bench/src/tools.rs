//! The built binaries the benchmark runs (`api`, `migration`), scratch databases, and memory
//! readings of a running process.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::BenchError;

/// A workspace binary next to this one (`cargo build --release` builds `api` and `migration`).
pub fn binary(name: &str) -> Result<PathBuf, BenchError> {
    let exe = std::env::current_exe().map_err(|e| BenchError::Setup(e.to_string()))?;
    let path = exe
        .with_file_name(name)
        .with_extension(std::env::consts::EXE_EXTENSION);
    if path.exists() {
        Ok(path)
    } else {
        Err(BenchError::Setup(format!(
            "{} is not built: run `cargo build --release -p api -p migration -p bench` first",
            path.display()
        )))
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> Result<String, BenchError> {
    let mut parsed =
        url::Url::parse(url).map_err(|e| BenchError::Input(format!("bad database URL: {e}")))?;
    if !matches!(parsed.scheme(), "postgres" | "postgresql") {
        return Err(BenchError::Input(
            "the benchmark runs on PostgreSQL: give a postgres:// URL".into(),
        ));
    }
    parsed.set_path(&format!("/{name}"));
    Ok(parsed.into())
}

/// The database name in `url`.
pub fn database_name(url: &str) -> Result<String, BenchError> {
    let parsed =
        url::Url::parse(url).map_err(|e| BenchError::Input(format!("bad database URL: {e}")))?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(BenchError::Input(format!(
            "the database name `{name}` must be letters, digits and _ only"
        )));
    }
    Ok(name)
}

/// Drops (if present) and creates the database `url` names, through the `postgres` database.
pub async fn recreate_database(url: &str) -> Result<(), BenchError> {
    let name = database_name(url)?;
    on_admin(
        url,
        &[drop_sql(&name), format!("CREATE DATABASE \"{name}\"")],
    )
    .await
}

pub async fn drop_database(url: &str) -> Result<(), BenchError> {
    on_admin(url, &[drop_sql(&database_name(url)?)]).await
}

fn drop_sql(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
}

/// Runs `statements` on the server of `url`, connected to its `postgres` database.
async fn on_admin(url: &str, statements: &[String]) -> Result<(), BenchError> {
    let admin = Database::connect(with_database(url, "postgres")?).await?;
    for sql in statements {
        admin.execute_unprepared(sql).await?;
    }
    admin.close().await?;
    Ok(())
}

/// Runs `migration <args>` against `url`; its output when it fails.
pub async fn migration(url: &str, args: &[&str]) -> Result<String, BenchError> {
    let out = Command::new(binary("migration")?)
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .map_err(|e| BenchError::Setup(format!("cannot run migration: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(BenchError::Setup(format!(
            "`migration {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The API, started from its release binary on a free port.
pub struct Server {
    child: Child,
    pub addr: std::net::SocketAddr,
}

impl Server {
    /// The release `api` next to this binary.
    pub async fn start(url: &str, secret: &str, pool: u32) -> Result<Self, BenchError> {
        Self::start_binary(&binary("api")?, url, secret, pool).await
    }

    /// The API binary at `path` (another build, for comparisons).
    pub async fn start_binary(
        path: &std::path::Path,
        url: &str,
        secret: &str,
        pool: u32,
    ) -> Result<Self, BenchError> {
        let mut child = Command::new(path)
            .env("DATABASE_URL", url)
            .env("AUTH_JWT_SECRET", secret)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("DB_MAX_CONNECTIONS", pool.to_string())
            // Slow-statement warnings are what some benchmarks provoke (rows held locked on
            // purpose); the latencies are measured here anyway.
            .env("RUST_LOG", "warn,sqlx::query=error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                BenchError::Setup(format!("cannot start the API {}: {e}", path.display()))
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Setup("the API's stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) =
                    line.strip_prefix("digital-asset inventory API listening on http://")
                {
                    return addr.trim().parse().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| BenchError::Setup("the API did not start listening within 60 s".into()))?;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { child, addr })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn memory(&self) -> Option<Memory> {
        Memory::of(self.pid()?)
    }

    pub async fn stop(mut self) -> Result<(), BenchError> {
        self.child.kill().await.ok();
        Ok(())
    }
}

/// Resident memory of a process, from /proc (Linux).
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident set now, KiB.
    pub rss_kib: u64,
    /// Peak resident set since the process started, KiB.
    pub peak_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        };
        Some(Self {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }

    pub fn mib(kib: u64) -> f64 {
        kib as f64 / 1024.0
    }
}

/// CPU time a process has used so far (all its threads, user and system), in seconds, from
/// /proc (Linux, at the usual 100 clock ticks a second).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses; utime and stime
    // are the 14th and 15th fields of the line.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The machine's load average over the last minute (Linux): how much else wanted the cores.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// "load average X at the start, Y at the end", for a report.
pub fn load_note(start: Option<f64>) -> String {
    let show = |l: Option<f64>| l.map_or("?".into(), |l| format!("{l:.1}"));
    format!(
        "load average (1 min) {} at the start, {} at the end",
        show(start),
        show(load_average())
    )
}

/// Times `f`, in milliseconds.
pub async fn timed<T, F: std::future::Future<Output = Result<T, BenchError>>>(
    f: F,
) -> Result<(T, f64), BenchError> {
    let t = Instant::now();
    let value = f.await?;
    Ok((value, t.elapsed().as_secs_f64() * 1000.0))
}

/// Connects to PostgreSQL with at most `pool` connections.
pub async fn connect(url: &str, pool: u32) -> Result<DatabaseConnection, BenchError> {
    let mut options = sea_orm::ConnectOptions::new(url);
    // Configured like the API's pool (no ping on every acquire), so both sides pay the same.
    options
        .max_connections(pool)
        .min_connections(pool)
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    Ok(Database::connect(options).await?)
}
