//! Throw-away databases. Every PostgreSQL test gets its own database, dropped when the test
//! ends; a test that needs the schema gets a copy of a template migrated once per run
//! (`CREATE DATABASE … TEMPLATE`, milliseconds instead of a `migration up` each).
//!
//! Leftovers of crashed runs are swept the first time a test asks for a database, without
//! guessing from process ids: each run holds a PostgreSQL advisory lock of its own for as long
//! as it lives (on a connection of a thread of its own), and a database whose run's lock can be
//! taken belongs to a run that is gone. SQLite files of this suite older than a few hours are
//! removed from the temporary directory.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use tokio::sync::OnceCell;

use super::bin::migration;

const PREFIX: &str = "dai_test_";
/// The high bits of every run's advisory lock key (`'DAIT'`), so they collide with no other use.
const LOCK_SPACE: i64 = 0x4441_4954 << 32;
/// SQLite files of a run older than this are a crashed run's.
const STALE_SQLITE: Duration = Duration::from_secs(6 * 3600);

/// This run's id: in every database name it creates, and the key of its advisory lock.
static RUN: LazyLock<u32> = LazyLock::new(|| uuid::Uuid::new_v4().as_fields().0 & 0x7fff_ffff);

fn lock_key(run: u32) -> i64 {
    LOCK_SPACE | i64::from(run)
}

/// The server the tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// In CI (or with `REQUIRE_POSTGRES=1`) an unreachable server fails the test instead of skipping it.
fn postgres_required() -> bool {
    ["CI", "REQUIRE_POSTGRES"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty() && s != "0" && s != "false"))
}

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database that exists for one test.
#[derive(Debug)]
pub struct TestDb {
    #[allow(dead_code)]
    pub backend: Backend,
    pub url: String,
    pg_name: Option<String>,
    sqlite_path: Option<PathBuf>,
}

static SWEPT: OnceCell<()> = OnceCell::const_new();
static PG_TEMPLATE: OnceCell<String> = OnceCell::const_new();
static SQLITE_TEMPLATE: OnceCell<PathBuf> = OnceCell::const_new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

fn database_url(name: &str) -> String {
    let base = pg_admin_url();
    match base.rfind('/') {
        Some(i) if base[..i].ends_with(|c: char| c != '/') => format!("{}/{name}", &base[..i]),
        _ => format!("{base}/{name}"),
    }
}

impl TestDb {
    /// A fresh, empty database on `backend`; `None` (with a note on stderr) when PostgreSQL is
    /// unreachable outside CI.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Postgres => Self::postgres().await,
            Backend::Sqlite => Some(Self::sqlite()),
        }
    }

    /// A database on `backend` with every migration applied (a copy of the run's template).
    pub async fn migrated(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Postgres => Self::postgres_from_template().await,
            Backend::Sqlite => Some(Self::sqlite_from_template().await),
        }
    }

    /// A fresh PostgreSQL database, or `None` when the server is unreachable outside CI.
    pub async fn postgres() -> Option<Self> {
        Self::create_postgres(None).await
    }

    async fn postgres_from_template() -> Option<Self> {
        let admin = admin().await?;
        let template = PG_TEMPLATE
            .get_or_init(|| async {
                let name = format!("{PREFIX}{}_template", *RUN);
                exec(&admin, &format!("CREATE DATABASE {name}")).await;
                migration(&database_url(&name), &["up"]).await.success();
                name
            })
            .await
            .clone();
        admin.close().await.ok();
        Self::create_postgres(Some(&template)).await
    }

    async fn create_postgres(template: Option<&str>) -> Option<Self> {
        let admin = admin().await?;
        let name = format!(
            "{PREFIX}{}_{}_{}",
            *RUN,
            COUNTER.fetch_add(1, Ordering::Relaxed),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
            None => format!("CREATE DATABASE {name}"),
        };
        exec(&admin, &sql).await;
        admin.close().await.ok();
        Some(Self {
            backend: Backend::Postgres,
            url: database_url(&name),
            pg_name: Some(name),
            sqlite_path: None,
        })
    }

    /// A fresh SQLite file in the temporary directory (created by whoever connects first).
    pub fn sqlite() -> Self {
        sweep_sqlite_once();
        Self::sqlite_at(
            std::env::temp_dir().join(format!("{PREFIX}{}.db", uuid::Uuid::new_v4().simple())),
        )
    }

    fn sqlite_at(path: PathBuf) -> Self {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self {
            backend: Backend::Sqlite,
            url,
            pg_name: None,
            sqlite_path: Some(path),
        }
    }

    async fn sqlite_from_template() -> Self {
        let template = SQLITE_TEMPLATE
            .get_or_init(|| async {
                let path = std::env::temp_dir().join(format!("{PREFIX}{}_template.db", *RUN));
                let url = format!("sqlite://{}?mode=rwc", path.display());
                migration(&url, &["up"]).await.success();
                path
            })
            .await;
        let db = Self::sqlite();
        let path = db.sqlite_path.clone().expect("an SQLite path");
        std::fs::copy(template, &path).expect("copy the SQLite template");
        db
    }

    /// A new connection to this database.
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(path) = &self.sqlite_path {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        if let Some(name) = self.pg_name.take() {
            // Drop runs inside the test's runtime: do the async work on a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(admin) = Database::connect(pg_admin_url()).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                            let _ = admin.execute_unprepared(&sql).await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// A connection to the server's admin database, after this run's lock is held and leftovers
/// are swept; `None` (saying so) when the server is unreachable outside CI.
async fn admin() -> Option<DatabaseConnection> {
    let admin = match Database::connect(pg_admin_url()).await {
        Ok(db) => db,
        Err(err) if !postgres_required() => {
            eprintln!(
                "SKIPPED: PostgreSQL unreachable at {} ({err})",
                pg_admin_url()
            );
            return None;
        }
        Err(err) => panic!(
            "PostgreSQL is required here (CI) but unreachable at {}: {err}",
            pg_admin_url()
        ),
    };
    SWEPT
        .get_or_init(|| async {
            hold_run_lock();
            sweep_leftovers(&admin).await;
        })
        .await;
    Some(admin)
}

/// Takes this run's advisory lock on a connection that lives as long as the process: on a
/// thread with a runtime of its own (each test has its own runtime, which ends with the test).
fn hold_run_lock() {
    let (held, is_held) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            let mut options = sea_orm::ConnectOptions::new(pg_admin_url());
            options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            let Ok(db) = Database::connect(options).await else {
                let _ = held.send(());
                return;
            };
            let _ = db
                .execute_unprepared(&format!("SELECT pg_advisory_lock({})", lock_key(*RUN)))
                .await;
            let _ = held.send(());
            std::future::pending::<()>().await;
        });
    });
    let _ = is_held.recv_timeout(Duration::from_secs(30));
}

/// Drops the databases of runs whose lock nobody holds (their process is gone).
async fn sweep_leftovers(admin: &DatabaseConnection) {
    let names = strings(
        admin,
        &format!("SELECT datname FROM pg_database WHERE datname LIKE '{PREFIX}%'"),
    )
    .await;
    let mut runs: Vec<u32> = names
        .iter()
        .filter_map(|n| n[PREFIX.len()..].split('_').next()?.parse().ok())
        .filter(|run| *run != *RUN)
        .collect();
    runs.sort_unstable();
    runs.dedup();
    for run in runs {
        let key = lock_key(run);
        // Taken and released in one statement each, on this one connection of the pool.
        let free = admin
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT pg_try_advisory_lock({key}) AND pg_advisory_unlock({key}) AS free"),
            ))
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get::<bool>("", "free").ok())
            .unwrap_or(false);
        if !free {
            continue;
        }
        for name in names
            .iter()
            .filter(|n| n.starts_with(&format!("{PREFIX}{run}_")))
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// Removes this suite's SQLite files left in the temporary directory by crashed runs.
fn sweep_sqlite_once() {
    static SWEPT_FILES: std::sync::Once = std::sync::Once::new();
    SWEPT_FILES.call_once(|| {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE_SQLITE);
            if name.starts_with(PREFIX) && name.contains(".db") && stale {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    });
}

/// An organization `o` holding one asset `a`: data a rollback must not lose silently.
pub async fn organization_with_an_asset(db: &impl ConnectionTrait) {
    exec(
        db,
        "INSERT INTO organizations (id, name, slug) VALUES ('o', 'O', 'o')",
    )
    .await;
    exec(db, "INSERT INTO digital_assets (id, organization_id, name, type) VALUES ('a', 'o', 'A', 'CRM')").await;
}

/// Runs one statement, panicking with the SQL on failure.
pub async fn exec(db: &impl ConnectionTrait, sql: &str) {
    if let Err(err) = db.execute_unprepared(sql).await {
        panic!("{sql}\nfailed: {err}");
    }
}

/// Runs one statement and returns its error text (`None` when it succeeded).
pub async fn exec_err(db: &impl ConnectionTrait, sql: &str) -> Option<String> {
    db.execute_unprepared(sql)
        .await
        .err()
        .map(|e| e.to_string())
}

/// The first column of the first row, as i64 (counts).
pub async fn scalar_i64(db: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"))
        .unwrap_or_else(|| panic!("{sql}\nreturned no row"));
    row.try_get_by_index::<i64>(0).expect("an integer")
}

/// The first column of every row, as text.
pub async fn strings(db: &impl ConnectionTrait, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        sql.to_owned(),
    ))
    .await
    .unwrap_or_else(|e| panic!("{sql}\nfailed: {e}"))
    .iter()
    .map(|r| r.try_get_by_index::<String>(0).expect("a text column"))
    .collect()
}
