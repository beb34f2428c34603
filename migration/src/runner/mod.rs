//! What the `migration` binary does, as a library: connect (waiting for the database), lock,
//! apply and roll back migrations one transaction each, verify the live schema, print SQL, and the
//! runbook's recovery and smoke steps.

mod apply;
mod connect;
mod lock;
mod record;
mod smoke;
mod verify;

use std::time::Duration;

use sea_orm_migration::sea_orm::{DbErr, RuntimeErr};

pub use apply::{down, lock, migration_names, release, resolve, statuses, up};
pub use connect::{Target, connect};
pub use lock::{ADVISORY_LOCK_KEY, MigrationLock};
pub use record::{sql_down, sql_up};
pub use smoke::smoke;
pub use verify::{Drift, VerifyReport, verify};

/// How long and how often to wait, for every command that connects or migrates.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// How long to wait for the database to accept connections.
    pub wait: Duration,
    /// How long to wait for the advisory lock another runner holds.
    pub lock: Duration,
    /// `SET LOCAL lock_timeout` of each migration's transaction.
    pub ddl_lock: Duration,
    /// How many times a migration that hit `ddl_lock` is retried before failing.
    pub ddl_retries: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            wait: Duration::from_secs(60),
            lock: Duration::from_secs(60),
            ddl_lock: Duration::from_secs(5),
            ddl_retries: 5,
        }
    }
}

/// Why a command failed; each kind has its own exit code (see the README).
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// Missing or malformed configuration (exit 3).
    #[error("{0}")]
    Config(String),
    /// The database did not accept connections within `--wait-timeout` (exit 4).
    #[error("database unreachable after waiting {waited:?}: {last}")]
    Unreachable { waited: Duration, last: String },
    /// Another runner held the migration lock past `--lock-timeout` (exit 5).
    #[error("could not take the migration lock within {0:?}: another `migration` process holds it")]
    LockTimeout(Duration),
    /// A migration failed; it was rolled back (exit 6).
    #[error("migration {name} failed and was rolled back: {source}")]
    Migration { name: String, source: DbErr },
    /// Any other database error (exit 6).
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// The command refused to do something destructive or meaningless (exit 7).
    #[error("{0}")]
    Refused(String),
}

impl RunnerError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunnerError::Config(_) => 3,
            RunnerError::Unreachable { .. } => 4,
            RunnerError::LockTimeout(_) => 5,
            RunnerError::Migration { .. } | RunnerError::Db(_) => 6,
            RunnerError::Refused(_) => 7,
        }
    }
}

/// The SQLSTATE of a database error, when the server sent one.
pub fn sqlstate(err: &DbErr) -> Option<String> {
    let runtime = match err {
        DbErr::Exec(e) | DbErr::Query(e) | DbErr::Conn(e) => e,
        _ => return None,
    };
    match runtime {
        RuntimeErr::SqlxError(e) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}
