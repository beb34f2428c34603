//! What the `migration` binary does, as a library: connect (waiting for the database), lock,
//! apply and roll back migrations one transaction each, verify the live schema, print SQL, and the
//! runbook's recovery and smoke steps.

mod apply;
mod backoff;
mod blockers;
mod connect;
mod history;
mod lock;
mod pooler;
mod run_one;
mod script;
mod smoke;
mod verify;

use std::time::Duration;

use sea_orm_migration::sea_orm::sqlx::postgres::PgDatabaseError;
use sea_orm_migration::sea_orm::{DbErr, RuntimeErr};

pub use apply::{down, lock, release, resolve, up};
pub use connect::{Target, connect};
pub use history::{migration_names, statuses};
pub use lock::{ADVISORY_LOCK_KEY, MigrationLock};
pub use script::{sql_down, sql_up};
pub use smoke::{SmokeReport, smoke};
pub use verify::{Drift, Kind, Problem, VerifyReport, verify};

/// How long and how often to wait, for every command that connects or migrates.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// How long to wait for the database to accept connections.
    pub wait: Duration,
    /// How long to wait for the advisory lock another runner holds.
    pub lock: Duration,
    /// `lock_timeout` of each migration's statements: `SET LOCAL` in its transaction, or the
    /// session's own setting for a migration that runs outside a transaction.
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
    /// A migration failed (exit 6). In a transaction it was rolled back; outside one (online
    /// index builds, online constraints) it stopped where it failed, and `up` resumes it.
    #[error("migration {name} {}: {}", outcome(*rolled_back), describe(source))]
    Migration {
        name: String,
        rolled_back: bool,
        source: DbErr,
    },
    /// A migration's statements waited past `--ddl-lock-timeout` on every attempt (exit 6).
    #[error(
        "migration {name} {}: lock timeout ({timeout:?}) on each of {attempts} attempts; {blockers}",
        outcome(*rolled_back)
    )]
    DdlLockTimeout {
        name: String,
        rolled_back: bool,
        timeout: Duration,
        attempts: u32,
        /// Who held it up, as [`Blockers`] describes them.
        blockers: String,
    },
    /// The history records a migration this binary does not have (exit 6): a newer version
    /// migrated the database, and this one must not guess what that migration did.
    #[error(
        "the database records migration {0}, which this binary does not know: a newer version of `migration` applied it; use that version"
    )]
    UnknownMigration(String),
    /// Any other database error (exit 6).
    #[error("database error: {}", describe(.0))]
    Db(#[from] DbErr),
    /// The command refused to do something destructive or meaningless (exit 7).
    #[error("{0}")]
    Refused(String),
}

fn outcome(rolled_back: bool) -> &'static str {
    if rolled_back {
        "failed and was rolled back"
    } else {
        "failed outside a transaction (it is idempotent: `up` resumes it)"
    }
}

impl RunnerError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunnerError::Config(_) => 3,
            RunnerError::Unreachable { .. } => 4,
            RunnerError::LockTimeout(_) => 5,
            RunnerError::Migration { .. }
            | RunnerError::DdlLockTimeout { .. }
            | RunnerError::UnknownMigration(_)
            | RunnerError::Db(_) => 6,
            RunnerError::Refused(_) => 7,
        }
    }
}

/// A database error as an operator reads it: the server's message and its SQLSTATE (SQLite: its
/// result code). Not sqlx's `Display`, which appends the line of PostgreSQL's C source that
/// raised the error ("… at line 1187"), nor sea-orm's "Execution Error: error returned from
/// database:" prefixes.
pub fn describe(err: &DbErr) -> String {
    let runtime = match err {
        DbErr::Exec(e) | DbErr::Query(e) | DbErr::Conn(e) => e,
        DbErr::Custom(message) | DbErr::Migration(message) => return message.clone(),
        other => return other.to_string(),
    };
    let RuntimeErr::SqlxError(e) = runtime else {
        return runtime.to_string();
    };
    let Some(db) = e.as_database_error() else {
        return e.to_string();
    };
    let postgres = db.try_downcast_ref::<PgDatabaseError>().is_some();
    match db.code() {
        Some(code) if postgres => format!("{} (SQLSTATE {code})", db.message()),
        Some(code) => format!("{} (SQLite result code {code})", db.message()),
        None => db.message().to_owned(),
    }
}

/// The SQLSTATE of a database error, when the server sent one.
pub use sqlstate::of as sqlstate;
