//! Running one migration up or down with its history row: in a transaction of its own, or
//! online on a session of its own, with every statement's `lock_timeout` bounded and a timeout
//! retried with backoff.

use std::time::Duration;

use sea_orm_migration::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    TransactionTrait,
};
use sea_orm_migration::{MigrationTrait, SchemaManager};
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::blockers::blockers;
use super::history::{delete_history, insert_history};
use super::{RunnerError, Target, Timeouts, describe, sqlstate};

/// SQLSTATE `lock_not_available`: `lock_timeout` expired.
use sqlstate::{DEADLOCK_DETECTED, LOCK_NOT_AVAILABLE};

/// Which of a migration's halves runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Up,
    Down,
}

/// Runs one migration and its history change, with `lock_timeout` set so a DDL statement never
/// queues (blocking all traffic behind it) behind a long transaction; a timeout is retried with
/// backoff, then reported naming the sessions that held it up.
///
/// A migration runs in a transaction of its own, unless it cannot (`CREATE INDEX CONCURRENTLY`,
/// a constraint validated after it is added): then, on PostgreSQL, on a session of its own whose
/// `lock_timeout` is set at connection, so that every statement of it is bounded, including the
/// waits of a concurrent index build for older transactions. Such a migration is idempotent, so
/// a retry resumes it.
pub(super) async fn run_one(
    target: &Target,
    migration: &dyn MigrationTrait,
    direction: Direction,
    t: Timeouts,
) -> Result<(), RunnerError> {
    let name = migration.name();
    let transactional = migration.use_transaction() != Some(false);
    let fail = |source| RunnerError::Migration {
        name: name.to_owned(),
        rolled_back: transactional,
        source,
    };
    info!(migration = name, ?direction, "running");
    let postgres = target.backend() == DbBackend::Postgres;
    let session = match (transactional, postgres) {
        (false, true) => Some(ddl_session(&target.url, t.ddl_lock).await.map_err(fail)?),
        _ => None,
    };
    let attempts = t.ddl_retries.saturating_add(1);
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let mut attempt = 1;
    let result = loop {
        let result = match &session {
            _ if transactional => in_transaction(target, migration, direction, t).await,
            Some(session) => outside_transaction(session, migration, direction).await,
            None => outside_transaction(&target.db, migration, direction).await,
        };
        let error = match result {
            Ok(()) => break Ok(()),
            // A deadlock with the application's writes is retried as a lock timeout is: the
            // migration's part was rolled back, and it is idempotent.
            Err(e)
                if postgres
                    && matches!(
                        sqlstate(&e).as_deref(),
                        Some(LOCK_NOT_AVAILABLE | DEADLOCK_DETECTED)
                    ) =>
            {
                e
            }
            Err(e) => break Err(fail(e)),
        };
        let blockers = blockers(&target.db).await;
        if attempt >= attempts {
            debug!(migration = name, error = %describe(&error), "gave up");
            break Err(RunnerError::DdlLockTimeout {
                name: name.to_owned(),
                rolled_back: transactional,
                timeout: t.ddl_lock,
                attempts,
                blockers,
            });
        }
        warn!(migration = name, attempt, of = attempts, retry_in = ?backoff.delay(),
              "lock timeout ({:?}): {blockers}", t.ddl_lock);
        backoff.sleep().await;
        attempt += 1;
    };
    if let Some(session) = session {
        session.close().await.ok();
    }
    if result.is_ok() {
        info!(migration = name, ?direction, "done");
    }
    result
}

/// One attempt in a transaction: `SET LOCAL lock_timeout`, the migration, its history row.
async fn in_transaction(
    target: &Target,
    migration: &dyn MigrationTrait,
    direction: Direction,
    t: Timeouts,
) -> Result<(), DbErr> {
    let txn = target.db.begin().await?;
    let result = async {
        if target.backend() == DbBackend::Postgres {
            let ms = lock_timeout_ms(t.ddl_lock);
            txn.execute_unprepared(&format!("SET LOCAL lock_timeout = '{ms}ms'"))
                .await?;
        }
        step(&SchemaManager::new(&txn), migration, direction).await?;
        record(&txn, migration.name(), direction).await
    }
    .await;
    match result {
        Ok(()) => txn.commit().await,
        Err(e) => {
            let _ = txn.rollback().await;
            Err(e)
        }
    }
}

/// One attempt without a transaction: each statement commits on its own.
async fn outside_transaction(
    db: &DatabaseConnection,
    migration: &dyn MigrationTrait,
    direction: Direction,
) -> Result<(), DbErr> {
    step(&SchemaManager::new(db), migration, direction).await?;
    record(db, migration.name(), direction).await
}

/// A pool of exactly one PostgreSQL session whose `lock_timeout` is set at connection (the
/// `options` startup parameter), so no statement of it can wait longer, whichever connection
/// sqlx hands out and however often it reconnects.
async fn ddl_session(url: &str, lock_timeout: Duration) -> Result<DatabaseConnection, DbErr> {
    let setting = format!("{}ms", lock_timeout_ms(lock_timeout));
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(1)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .idle_timeout(None)
        .max_lifetime(None)
        .sqlx_logging_level(log::LevelFilter::Debug)
        // An index build is slow by nature; the runner says itself what it waits for.
        .sqlx_slow_statements_logging_settings(log::LevelFilter::Debug, Duration::from_secs(1))
        .map_sqlx_postgres_opts(move |o| o.options([("lock_timeout", setting.as_str())]));
    Database::connect(opts).await
}

/// `lock_timeout` in milliseconds as PostgreSQL takes it: at least 1 (0 would disable it), at
/// most `i32::MAX`. The command line refuses values outside that range; this keeps the library
/// safe for other callers.
pub(super) fn lock_timeout_ms(timeout: Duration) -> u128 {
    timeout.as_millis().clamp(1, i32::MAX as u128)
}

async fn step(
    manager: &SchemaManager<'_>,
    migration: &dyn MigrationTrait,
    direction: Direction,
) -> Result<(), DbErr> {
    match direction {
        Direction::Up => migration.up(manager).await,
        Direction::Down => migration.down(manager).await,
    }
}

async fn record(db: &impl ConnectionTrait, name: &str, direction: Direction) -> Result<(), DbErr> {
    match direction {
        Direction::Up => insert_history(db, name).await,
        Direction::Down => delete_history(db, name).await,
    }
}
