//! Applying and rolling back migrations, one transaction each, under the migration lock.

use std::collections::HashSet;
use std::time::Duration;

use sea_orm_migration::sea_orm::{
    ActiveValue, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter, Statement, TransactionTrait,
};
use sea_orm_migration::sea_query::{Expr, ExprTrait};
use sea_orm_migration::seaql_migrations;
use sea_orm_migration::{MigrationTrait, MigratorTrait, SchemaManager};
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::blockers::blockers;
use super::{MigrationLock, RunnerError, Target, Timeouts, describe, sqlstate};
use crate::Migrator;

/// SQLSTATE `lock_not_available`: `lock_timeout` expired.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// The names of this crate's migrations, in order.
pub fn migration_names() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

/// Each migration's name and whether it is applied, read without creating the history table.
pub async fn statuses(db: &impl ConnectionTrait) -> Result<Vec<(String, bool)>, RunnerError> {
    let applied = applied_names(db).await?;
    Ok(migration_names()
        .into_iter()
        .map(|n| (n.clone(), applied.contains(&n)))
        .collect())
}

/// Applies pending migrations (all, or the first `num`); returns the names applied.
pub async fn up(
    target: &Target,
    num: Option<u32>,
    t: Timeouts,
) -> Result<Vec<String>, RunnerError> {
    // Nothing pending, nothing to lock: a history row commits with its migration's DDL, so what
    // the history says applied is there. Waiters stop as soon as the runner holding the lock
    // has applied everything.
    let nothing_pending = || async { Ok(pending_count(&target.db).await? == 0) };
    if nothing_pending().await? {
        info!("nothing pending");
        return Ok(Vec::new());
    }
    let lock = match target.backend() {
        DbBackend::Postgres => {
            match MigrationLock::acquire_unless(&target.url, t.lock, nothing_pending).await? {
                Some(lock) => Some(lock),
                None => return Ok(Vec::new()),
            }
        }
        _ => None,
    };
    let result = up_locked(target, num, t).await;
    release(lock).await;
    result
}

/// The pending migrations, in the order `up` applies them (all, or the first `num`).
pub(super) async fn pending(
    db: &impl ConnectionTrait,
    num: Option<u32>,
) -> Result<Vec<Box<dyn MigrationTrait>>, RunnerError> {
    let applied = applied_names(db).await?;
    Ok(Migrator::migrations()
        .into_iter()
        .filter(|m| !applied.contains(m.name()))
        .take(num.map_or(usize::MAX, |n| n as usize))
        .collect())
}

/// The last `num` applied migrations, newest first: what `down` rolls back.
pub(super) async fn last_applied(
    db: &impl ConnectionTrait,
    num: u32,
) -> Result<Vec<Box<dyn MigrationTrait>>, RunnerError> {
    let applied = applied_names(db).await?;
    Ok(Migrator::migrations()
        .into_iter()
        .filter(|m| applied.contains(m.name()))
        .rev()
        .take(num as usize)
        .collect())
}

async fn pending_count(db: &impl ConnectionTrait) -> Result<usize, RunnerError> {
    let applied = applied_names(db).await?;
    Ok(migration_names()
        .iter()
        .filter(|n| !applied.contains(*n))
        .count())
}

async fn up_locked(
    target: &Target,
    num: Option<u32>,
    t: Timeouts,
) -> Result<Vec<String>, RunnerError> {
    // Only now, under the lock, is the history what the next runner will see.
    Migrator::install(&target.db).await?;
    let mut done = Vec::new();
    for migration in pending(&target.db, num).await? {
        run_one(target, migration.as_ref(), Direction::Up, t).await?;
        done.push(migration.name().to_owned());
    }
    if done.is_empty() {
        info!("nothing pending");
    }
    Ok(done)
}

/// Rolls back the last `num` applied migrations; returns the names rolled back. Unless `force`,
/// refuses (naming the counts) when a table it would drop holds rows.
pub async fn down(
    target: &Target,
    num: u32,
    force: bool,
    t: Timeouts,
) -> Result<Vec<String>, RunnerError> {
    let lock = lock(target, t).await?;
    let result = down_locked(target, num, force, t).await;
    release(lock).await;
    result
}

async fn down_locked(
    target: &Target,
    num: u32,
    force: bool,
    t: Timeouts,
) -> Result<Vec<String>, RunnerError> {
    let to_roll_back = last_applied(&target.db, num).await?;
    if !force {
        let holding = rehearse_down(target, &to_roll_back, t).await?;
        if !holding.is_empty() {
            return Err(RunnerError::Refused(format!(
                "refusing to roll back: tables it would drop hold data ({}); back up and pass --force to drop them",
                holding.join(", ")
            )));
        }
    }
    let mut done = Vec::new();
    for migration in to_roll_back {
        run_one(target, migration.as_ref(), Direction::Down, t).await?;
        done.push(migration.name().to_owned());
    }
    Ok(done)
}

/// Runs the rollback in a transaction that is always rolled back, counting the rows of each table
/// a migration drops just before its `down` runs (so rows an earlier `down` deletes, such as the
/// seeded reference data, do not count). Returns "table: N rows" for every non-empty one.
async fn rehearse_down(
    target: &Target,
    migrations: &[Box<dyn MigrationTrait>],
    t: Timeouts,
) -> Result<Vec<String>, RunnerError> {
    let txn = target.db.begin().await?;
    if target.backend() == DbBackend::Postgres {
        let ms = lock_timeout_ms(t.ddl_lock);
        txn.execute_unprepared(&format!("SET LOCAL lock_timeout = '{ms}ms'"))
            .await?;
    }
    let mut holding = Vec::new();
    for migration in migrations {
        for table in Migrator::tables_dropped_by(migration.name()).iter().rev() {
            let rows = row_count(&txn, table).await?;
            if rows > 0 {
                holding.push(format!("{table}: {rows} rows"));
            }
        }
        // Non-transactional migrations take their in-transaction path here (see online_index).
        migration.down(&SchemaManager::new(&txn)).await?;
    }
    txn.rollback().await?;
    Ok(holding)
}

/// Records `name` as applied (`applied = true`) or not, without running it: the runbook's
/// recovery when the schema and the history disagree. Returns whether anything changed.
pub async fn resolve(
    target: &Target,
    name: &str,
    applied: bool,
    t: Timeouts,
) -> Result<bool, RunnerError> {
    if !migration_names().iter().any(|n| n == name) {
        return Err(RunnerError::Refused(format!(
            "{name} is not a migration of this binary; known: {}",
            migration_names().join(", ")
        )));
    }
    let lock = lock(target, t).await?;
    let result = async {
        Migrator::install(&target.db).await?;
        let is_applied = applied_names(&target.db).await?.contains(name);
        match (applied, is_applied) {
            (true, false) => insert_history(&target.db, name).await?,
            (false, true) => delete_history(&target.db, name).await?,
            _ => return Ok(false),
        }
        Ok(true)
    }
    .await;
    release(lock).await;
    result
}

/// Takes the advisory lock on PostgreSQL; SQLite serialises writers itself.
pub async fn lock(target: &Target, t: Timeouts) -> Result<Option<MigrationLock>, RunnerError> {
    match target.backend() {
        DbBackend::Postgres => Ok(Some(MigrationLock::acquire(&target.url, t.lock).await?)),
        _ => Ok(None),
    }
}

pub async fn release(lock: Option<MigrationLock>) {
    if let Some(lock) = lock {
        lock.release().await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
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
async fn run_one(
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
            Err(e) if postgres && sqlstate(&e).as_deref() == Some(LOCK_NOT_AVAILABLE) => e,
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

async fn insert_history(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    let applied_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    seaql_migrations::Entity::insert(seaql_migrations::ActiveModel {
        version: ActiveValue::Set(name.to_owned()),
        applied_at: ActiveValue::Set(applied_at),
    })
    .exec(db)
    .await
    .map(|_| ())
}

async fn delete_history(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    seaql_migrations::Entity::delete_many()
        .filter(Expr::col(seaql_migrations::Column::Version).eq(name))
        .exec(db)
        .await
        .map(|_| ())
}

/// The applied migrations' names, read without creating the history table. A recorded
/// migration this binary does not know is an error: a newer version migrated the database.
///
/// (sea-orm-migration's own check asks `information_schema`, whose first query in a new
/// PostgreSQL session costs about 100 ms: more than the migrations themselves.)
async fn applied_names(db: &impl ConnectionTrait) -> Result<HashSet<String>, RunnerError> {
    let exists = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT to_regclass('seaql_migrations') IS NOT NULL AS present",
        _ => {
            "SELECT COUNT(*) > 0 AS present FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations'"
        }
    };
    let present = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), exists))
        .await?
        .map(|row| row.try_get::<bool>("", "present"))
        .transpose()?
        .unwrap_or(false);
    if !present {
        return Ok(HashSet::new());
    }
    let applied: HashSet<String> = seaql_migrations::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.version)
        .collect();
    let known = migration_names();
    if let Some(unknown) = applied.iter().filter(|a| !known.contains(a)).min() {
        return Err(RunnerError::UnknownMigration(unknown.clone()));
    }
    Ok(applied)
}

/// Rows in `table`, or 0 when it does not exist.
async fn row_count(db: &DatabaseTransaction, table: &str) -> Result<i64, DbErr> {
    if !SchemaManager::new(db).has_table(table).await? {
        return Ok(0);
    }
    let quoted = table.replace('"', "\"\"");
    let sql = format!("SELECT COUNT(*) AS n FROM \"{quoted}\"");
    let row = db
        .query_one_raw(sea_orm_migration::sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}
