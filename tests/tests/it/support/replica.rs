//! A real streaming replica of the test server: a `pg_basebackup` copy of the primary, started
//! as a hot standby on a free port. The primary must accept replication connections from
//! 127.0.0.1 (`.ci/run` sets that up). Where the PostgreSQL server binaries are missing the test
//! is skipped, saying so, except in CI, where that fails it.
//!
//! `pg_ctl` detaches the server from this process, and the run's statics are never dropped: so
//! every server of this module and of [`super::pgbouncer`] has a [`Watchdog`] that stops it and
//! removes its directory once this process is gone, however it ends. Without one, each run
//! would leave a replica behind, holding one of the primary's few WAL senders.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::OnceCell;

use super::pg_admin_url;

const PG_LIB: &str = "/usr/lib/postgresql";
/// How long a replica may take to start, or to show what the primary did.
const REPLICA_WAIT: Duration = Duration::from_secs(30);
/// Settings a standby needs at least as high as its primary's, and those that shape answers.
const PRIMARY_SETTINGS: &str = "SELECT string_agg(format('%s = %L', name, setting), E'\\n') \
    FROM pg_settings WHERE name IN ('max_connections', 'max_prepared_transactions', \
    'max_locks_per_transaction', 'max_wal_senders', 'max_worker_processes', 'TimeZone', \
    'DateStyle', 'lc_messages', 'lc_monetary', 'lc_numeric', 'lc_time', \
    'default_text_search_config')";

/// A hot standby of the test server; stopped and its directory removed when dropped.
pub struct Replica {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    user: String,
    _cleanup: Watchdog,
}

static SHARED: OnceCell<Option<Replica>> = OnceCell::const_new();

impl Replica {
    /// The run's replica, started by the first test that asks for it; no test stops it.
    #[allow(dead_code)] // for tests that only read the replica; today's tests stop theirs
    pub async fn shared() -> Option<&'static Replica> {
        SHARED.get_or_init(Self::start).await.as_ref()
    }

    /// A replica of its own, for a test that pauses or stops it; `None` (saying so) where the
    /// PostgreSQL server binaries or the server are missing, except in CI.
    pub async fn start() -> Option<Self> {
        let (version, bin) = server_binaries().await?;
        let dir = private_dir("replica");
        let pg_ctl = bin.join("pg_ctl");
        let cleanup = Watchdog::new(&format!(
            "{} -D {} -m immediate stop; rm -rf {}",
            as_postgres_sh(&pg_ctl),
            sh_quote(&dir),
            sh_quote(&dir)
        ));
        let copy = as_postgres(&bin.join("pg_basebackup"))
            .arg("--dbname")
            .arg(pg_admin_url())
            .arg("--pgdata")
            .arg(&dir)
            .args([
                "--write-recovery-conf",
                "--wal-method=stream",
                "--checkpoint=fast",
            ])
            // A throw-away copy: no fsync of it (here or by the server), and no password prompt.
            .args(["--no-sync", "--no-password"])
            .output()
            .await
            .expect("run pg_basebackup");
        if !copy.status.success() {
            let stderr = String::from_utf8_lossy(&copy.stderr);
            let hint = if stderr.contains("pg_hba.conf") {
                format!(
                    "\nThe primary must accept replication connections from 127.0.0.1: put\n    \
                     host replication all 127.0.0.1/32 trust\nbefore the other lines of {} and \
                     reload it (pg_ctlcluster {version} main reload). .ci/run does this in CI.",
                    hba_file(version).await
                )
            } else {
                String::new()
            };
            panic!(
                "pg_basebackup could not copy the test server: {}{hint}",
                stderr.trim()
            );
        }
        let port = free_port();
        configure(&dir, port).await;
        let started = as_postgres(&pg_ctl)
            .arg("-D")
            .arg(&dir)
            .args(["-w", "-t", "60", "-l"])
            .arg(dir.join("log"))
            .arg("start")
            .output()
            .await
            .expect("run pg_ctl start");
        let primary = reqwest::Url::parse(&pg_admin_url()).ok();
        let user = primary.as_ref().map_or("", |u| u.username());
        let replica = Self {
            port,
            dir,
            bin,
            user: if user.is_empty() { "postgres" } else { user }.to_owned(),
            _cleanup: cleanup,
        };
        assert!(
            started.status.success(),
            "the replica did not start: {}\n{}",
            String::from_utf8_lossy(&started.stderr).trim(),
            replica.log()
        );
        replica
            .wait_for(
                "postgres",
                "SELECT pg_is_in_recovery()",
                "t",
                "the replica to accept connections in recovery",
            )
            .await;
        Some(replica)
    }

    /// The URL of `database` on the replica.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{database}",
            self.user, self.port
        )
    }

    /// Stops the server at once, as a crash would (`pg_ctl -m immediate stop`).
    pub async fn stop(&self) {
        let out = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "stop"])
            .output()
            .await
            .expect("run pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }

    /// Pauses the replay of the primary's WAL: what the primary commits from now on stays
    /// invisible here until [`Self::resume_replay`].
    pub async fn pause_replay(&self) {
        self.query("SELECT pg_wal_replay_pause()").await;
        self.wait_for(
            "postgres",
            "SELECT pg_get_wal_replay_pause_state()",
            "paused",
            "replay to pause",
        )
        .await;
    }

    /// Resumes the replay of the primary's WAL.
    pub async fn resume_replay(&self) {
        self.query("SELECT pg_wal_replay_resume()").await;
    }

    /// Waits until `name`, created on the primary, exists here and takes connections.
    pub async fn wait_for_database(&self, name: &str) {
        self.wait_for(
            name,
            "SELECT 1",
            "1",
            &format!("database {name} on the replica"),
        )
        .await;
    }

    /// Waits until the replica has replayed everything the primary wrote before this call.
    pub async fn caught_up(&self) {
        let lsn = psql(&pg_admin_url(), "SELECT pg_current_wal_lsn()")
            .await
            .unwrap_or_else(|e| panic!("the primary's WAL position: {e}"));
        let sql = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        self.wait_for(
            "postgres",
            &sql,
            "t",
            &format!("the replica to replay up to {lsn}"),
        )
        .await;
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    async fn query(&self, sql: &str) -> String {
        psql(&self.url("postgres"), sql)
            .await
            .unwrap_or_else(|e| panic!("{sql} on the replica: {e}\n{}", self.log()))
    }

    /// Polls `sql` on `database` until it answers `want` (an error counts as "not yet").
    async fn wait_for(&self, database: &str, sql: &str, want: &str, what: &str) {
        let start = Instant::now();
        loop {
            let answer = psql(&self.url(database), sql).await;
            if answer.as_deref() == Ok(want) {
                return;
            }
            assert!(
                start.elapsed() < REPLICA_WAIT,
                "timed out after {REPLICA_WAIT:?} waiting for {what}; last answer: {answer:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Writes the copy's configuration: Debian keeps the primary's in /etc, so the copy has only
/// `postgresql.auto.conf`, where `--write-recovery-conf` put `primary_conninfo`. Ours goes at its
/// end, so it wins over whatever the primary set with ALTER SYSTEM.
async fn configure(dir: &Path, port: u16) {
    let inherited = psql(&pg_admin_url(), PRIMARY_SETTINGS)
        .await
        .unwrap_or_else(|e| panic!("the primary's settings: {e}"));
    let socket_dir = dir.display().to_string().replace('\'', "''");
    let settings = format!(
        "{inherited}\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
         unix_socket_directories = '{socket_dir}'\nhot_standby = on\nhot_standby_feedback = on\n\
         cluster_name = 'dai_test_replica'\nshared_buffers = '32MB'\nfsync = off\n"
    );
    let auto = dir.join("postgresql.auto.conf");
    let mut text = std::fs::read_to_string(&auto).expect("the copy's postgresql.auto.conf");
    text.push_str(&settings);
    std::fs::write(&auto, text).expect("write postgresql.auto.conf");
    let files = [
        (
            dir.join("postgresql.conf"),
            "# A replica made by the test suite: see postgresql.auto.conf.\n",
        ),
        (
            dir.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        ),
        (dir.join("pg_ident.conf"), ""),
    ];
    for (path, text) in &files {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    give_to_postgres(&files.iter().map(|(p, _)| p.as_path()).collect::<Vec<_>>());
}

/// The server binaries of the primary's major version; `None` (saying so) when they, or the
/// primary, are missing outside CI.
async fn server_binaries() -> Option<(u32, PathBuf)> {
    if newest_bin().is_none() {
        return missing(
            &format!("PostgreSQL ({PG_LIB}/<version>/bin/pg_basebackup)"),
            "apt-get install -y postgresql",
        );
    }
    let version = reach_primary().await?;
    let bin = Path::new(PG_LIB).join(version.to_string()).join("bin");
    if !["pg_basebackup", "pg_ctl", "postgres"]
        .iter()
        .all(|b| bin.join(b).exists())
    {
        return missing(
            &format!(
                "PostgreSQL {version}'s server (pg_basebackup, pg_ctl, postgres in {})",
                bin.display()
            ),
            &format!("apt-get install -y postgresql-{version}"),
        );
    }
    Some((version, bin))
}

/// `/usr/lib/postgresql/<version>/bin` of the newest PostgreSQL installed.
fn newest_bin() -> Option<PathBuf> {
    std::fs::read_dir(PG_LIB)
        .ok()?
        .flatten()
        .filter_map(|e| {
            Some((
                e.file_name().to_str()?.parse::<u32>().ok()?,
                e.path().join("bin"),
            ))
        })
        .filter(|(_, bin)| bin.join("pg_basebackup").exists())
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
}

/// Where the primary's `pg_hba.conf` is, for the hint of a refused copy.
async fn hba_file(version: u32) -> String {
    psql(&pg_admin_url(), "SHOW hba_file")
        .await
        .unwrap_or_else(|_| format!("/etc/postgresql/{version}/main/pg_hba.conf"))
}

/// The primary's major version; `None` (saying so) when it is unreachable outside CI.
pub(super) async fn reach_primary() -> Option<u32> {
    match psql(&pg_admin_url(), "SHOW server_version_num").await {
        Ok(v) => Some(v.parse::<u32>().map_or(0, |v| v / 10_000)),
        Err(err) => {
            assert!(
                !required(),
                "PostgreSQL is required here (CI) but unreachable at {}: {err}",
                pg_admin_url()
            );
            eprintln!(
                "SKIPPED: PostgreSQL unreachable at {} ({err})",
                pg_admin_url()
            );
            None
        }
    }
}

/// Runs `sql` with `psql` against `url`: its trimmed output, or what went wrong.
pub(super) async fn psql(url: &str, sql: &str) -> Result<String, String> {
    let program = newest_bin().map_or_else(|| PathBuf::from("psql"), |bin| bin.join("psql"));
    let out = Command::new(&program)
        // -w: never ask for a password (psql would ask on the terminal, and wait).
        .args(["-X", "-w", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(["-d", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("could not run {}: {e}", program.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// In CI (or with `REQUIRE_POSTGRES=1`, as for the databases) a missing component fails the test.
fn required() -> bool {
    ["CI", "REQUIRE_POSTGRES"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty() && s != "0" && s != "false"))
}

/// `None` after a note on stderr; in CI, a failure saying how to install `what`.
pub(super) fn missing<T>(what: &str, install: &str) -> Option<T> {
    assert!(!required(), "{what} is required in CI: {install}");
    eprintln!("SKIPPED: {what} is not installed ({install})");
    None
}

/// PostgreSQL and PgBouncer refuse to run as root: as root, the servers run as `postgres`.
pub(super) fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program`, run as `postgres` when this process is root (by `runuser`, which waits for it).
fn as_postgres(program: &Path) -> Command {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    command
        .current_dir("/")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// [`as_postgres`] as a shell command line.
fn as_postgres_sh(program: &Path) -> String {
    let program = sh_quote(program);
    if is_root() {
        format!("runuser -u postgres -- {program}")
    } else {
        program
    }
}

/// A port nobody listens on now (the OS's choice, released at once).
pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `path` quoted for `sh`.
pub(super) fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// A fresh directory in the temporary directory, private to the user the servers run as.
pub(super) fn private_dir(kind: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("dai_test_{kind}_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("chmod 700 {}: {e}", dir.display()));
    give_to_postgres(&[&dir]);
    dir
}

/// Hands `paths` to the `postgres` user when this process is root.
pub(super) fn give_to_postgres(paths: &[&Path]) {
    if !is_root() {
        return;
    }
    let status = std::process::Command::new("chown")
        .arg("postgres:postgres")
        .args(paths)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown postgres:postgres {paths:?} failed");
}

/// A shell, in a session of its own (a Ctrl-C of the run does not reach it), that runs a
/// cleanup once the end of a pipe only this process holds is closed: when the watchdog is
/// dropped (then waiting for it), or when this process ends, however it ends. Every pipe of
/// the standard library is close-on-exec, so no other child holds that end.
pub(super) struct Watchdog(std::process::Child);

impl Watchdog {
    /// Starts a watchdog that runs the shell command line `cleanup`.
    pub(super) fn new(cleanup: &str) -> Self {
        let child = std::process::Command::new("setsid")
            .args(["sh", "-c"])
            .arg(format!("cat >/dev/null; cd /; {cleanup}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a watchdog shell (setsid, sh)");
        Self(child)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}
