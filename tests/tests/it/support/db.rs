//! Throw-away databases. Every PostgreSQL test gets its own database, named after the process
//! that made it, dropped when the test ends; databases left by crashed runs (their process is
//! gone) are swept the first time a test asks for one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use tokio::sync::OnceCell;

const PREFIX: &str = "dai_test_";

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
static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// A fresh, empty database on `backend`; `None` (with a note on stderr) when PostgreSQL is
    /// unreachable outside CI.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Postgres => Self::postgres().await,
            Backend::Sqlite => Some(Self::sqlite()),
        }
    }

    /// A fresh PostgreSQL database, or `None` when the server is unreachable outside CI.
    pub async fn postgres() -> Option<Self> {
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
        SWEPT.get_or_init(|| sweep_leftovers(&admin)).await;
        let name = format!(
            "{PREFIX}{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        exec(&admin, &format!("CREATE DATABASE {name}")).await;
        admin.close().await.ok();
        let base = pg_admin_url();
        let url = match base.rfind('/') {
            Some(i) if base[..i].ends_with(|c: char| c != '/') => format!("{}/{name}", &base[..i]),
            _ => format!("{base}/{name}"),
        };
        Some(Self {
            backend: Backend::Postgres,
            url,
            pg_name: Some(name),
            sqlite_path: None,
        })
    }

    /// A fresh SQLite file in the temporary directory (created by whoever connects first).
    pub fn sqlite() -> Self {
        let path =
            std::env::temp_dir().join(format!("{PREFIX}{}.db", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self {
            backend: Backend::Sqlite,
            url,
            pg_name: None,
            sqlite_path: Some(path),
        }
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

/// Drops the test databases whose creating process no longer runs.
async fn sweep_leftovers(admin: &DatabaseConnection) {
    let rows = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT datname FROM pg_database WHERE datname LIKE '{PREFIX}%'"),
        ))
        .await
        .unwrap_or_default();
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let pid = name[PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| PathBuf::from(format!("/proc/{pid}")).exists());
        if !alive {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
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
