//! A real PgBouncer in transaction mode in front of the test server, with few server
//! connections for many clients, so that server connections change hands between clients all
//! the time. Skipped (saying so) where PgBouncer is not installed, except in CI.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::OnceCell;

use super::pg_admin_url;
use super::replica::{
    Watchdog, free_port, give_to_postgres, is_root, missing, private_dir, psql, reach_primary,
    sh_quote,
};

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";
/// Server connections per database and user: far fewer than the clients the tests open.
const POOL_SIZE: u32 = 4;
const START_WAIT: Duration = Duration::from_secs(20);

/// A PgBouncer on 127.0.0.1; killed and its directory removed when dropped.
pub struct PgBouncer {
    port: u16,
    dir: PathBuf,
    user: String,
    // Dropped in this order: the process is killed (`kill_on_drop`), then the watchdog removes
    // its directory (and, when this process ends instead, kills it first).
    child: Child,
    _cleanup: Watchdog,
}

static SHARED: OnceCell<Option<PgBouncer>> = OnceCell::const_new();

impl PgBouncer {
    /// The run's PgBouncer, started by the first test that asks for it.
    pub async fn shared() -> Option<&'static PgBouncer> {
        SHARED.get_or_init(Self::start).await.as_ref()
    }

    /// A PgBouncer of its own; `None` (saying so) where PgBouncer or the server are missing,
    /// except in CI.
    pub async fn start() -> Option<Self> {
        if !Path::new(PGBOUNCER).exists() {
            return missing(PGBOUNCER, "apt-get install -y pgbouncer");
        }
        reach_primary().await?;
        let primary = reqwest::Url::parse(&pg_admin_url()).expect("TEST_DATABASE_URL is a URL");
        let user = if primary.username().is_empty() {
            "postgres"
        } else {
            primary.username()
        };
        let dir = private_dir("pgbouncer");
        let ini = dir.join("pgbouncer.ini");
        let users = dir.join("users.txt");
        // With `trust`, clients give no password; PgBouncer logs in to the server with this one.
        std::fs::write(
            &users,
            format!(
                "\"{}\" \"{}\"\n",
                userlist(&decoded(user)),
                userlist(&decoded(primary.password().unwrap_or("")))
            ),
        )
        .expect("write users.txt");
        let port = free_port();
        std::fs::write(&ini, config(&primary, port, &dir)).expect("write pgbouncer.ini");
        give_to_postgres(&[&ini, &users]);
        // PgBouncer refuses to run as root. `setpriv` execs it (`runuser` would stay its
        // parent), so the child killed on drop is PgBouncer itself.
        let mut command = if is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                PGBOUNCER,
            ]);
            c
        } else {
            Command::new(PGBOUNCER)
        };
        let child = command
            .arg(&ini)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start pgbouncer");
        let pid = child.id().unwrap_or(0);
        let cleanup = Watchdog::new(&format!(
            "grep -qF {} /proc/{pid}/cmdline 2>/dev/null && kill -KILL {pid}; rm -rf {}",
            sh_quote(&ini),
            sh_quote(&dir)
        ));
        let mut bouncer = Self {
            port,
            dir,
            user: user.to_owned(),
            child,
            _cleanup: cleanup,
        };
        bouncer.wait_until_ready().await;
        Some(bouncer)
    }

    /// The URL of `database` through this PgBouncer.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{database}",
            self.user, self.port
        )
    }

    /// PgBouncer's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// Waits until the port takes connections and a query goes through to the server.
    async fn wait_until_ready(&mut self) {
        let start = Instant::now();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("pgbouncer exited ({status}):\n{}", self.log());
            }
            let answer =
                if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    psql(&self.url("postgres"), "SELECT 1").await
                } else {
                    Err(format!("nothing listens on {addr}"))
                };
            if answer.as_deref() == Ok("1") {
                return;
            }
            assert!(
                start.elapsed() < START_WAIT,
                "pgbouncer did not answer within {START_WAIT:?}: {answer:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The ini: every database of the primary, transaction pooling, no Unix socket.
fn config(primary: &reqwest::Url, port: u16, dir: &Path) -> String {
    let host = primary
        .host_str()
        .unwrap_or("127.0.0.1")
        .trim_matches(['[', ']']);
    let server_port = primary.port().unwrap_or(5432);
    format!(
        "[databases]\n\
         * = host={host} port={server_port}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {users}\n\
         pool_mode = transaction\n\
         default_pool_size = {POOL_SIZE}\n\
         max_client_conn = 500\n\
         ; sqlx sends extra_float_digits. The api without DATABASE_POOLER sends its timeouts as\n\
         ; `options`: dropped (PgBouncer 1.18 would refuse the login), so that run fails on\n\
         ; server connections shared between clients, which is what the setting is for.\n\
         ignore_startup_parameters = extra_float_digits,options\n\
         logfile = {log}\n\
         pidfile = {pid}\n",
        users = dir.join("users.txt").display(),
        log = dir.join("pgbouncer.log").display(),
        pid = dir.join("pgbouncer.pid").display(),
    )
}

/// `text` as a quoted field of PgBouncer's auth file, without its quotes.
fn userlist(text: &str) -> String {
    text.replace('"', "\"\"")
}

/// A URL's percent-encoded user or password, decoded.
fn decoded(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let hex = tail
            .get(..2)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (byte, hex) {
            (b'%', Some(value)) => {
                out.push(value);
                rest = &tail[2..];
            }
            _ => {
                out.push(byte);
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
