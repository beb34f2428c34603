//! Applying and rolling back migrations, one transaction each, under the migration lock.

use std::collections::HashSet;
use std::time::Duration;

use sea_orm_migration::sea_orm::{
    ActiveValue, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter,
    Statement, TransactionTrait,
};
use sea_orm_migration::sea_query::{Expr, ExprTrait};
use sea_orm_migration::seaql_migrations;
use sea_orm_migration::{MigrationTrait, MigratorTrait, SchemaManager};
use tracing::{info, warn};

use super::record::dropped_tables;
use super::{MigrationLock, RunnerError, Target, Timeouts, sqlstate};
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

async fn pending_count(db: &impl ConnectionTrait) -> Result<usize, DbErr> {
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
    let applied = applied_names(&target.db).await?;
    let pending = Migrator::migrations()
        .into_iter()
        .filter(|m| !applied.contains(m.name()))
        .take(num.map_or(usize::MAX, |n| n as usize));
    let mut done = Vec::new();
    for migration in pending {
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
    let applied = applied_names(&target.db).await?;
    let to_roll_back: Vec<Box<dyn MigrationTrait>> = Migrator::migrations()
        .into_iter()
        .filter(|m| applied.contains(m.name()))
        .rev()
        .take(num as usize)
        .collect();
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
        let ms = t.ddl_lock.as_millis();
        txn.execute_unprepared(&format!("SET LOCAL lock_timeout = '{ms}ms'"))
            .await?;
    }
    let mut holding = Vec::new();
    for migration in migrations {
        for table in dropped_tables(target.backend(), migration.as_ref()).await? {
            let rows = row_count(&txn, &table).await?;
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

/// Runs one migration and its history change in one transaction, with `lock_timeout` set so a
/// DDL statement never queues (blocking all traffic behind it) behind a long transaction; a
/// timeout is retried with backoff, then reported.
async fn run_one(
    target: &Target,
    migration: &dyn MigrationTrait,
    direction: Direction,
    t: Timeouts,
) -> Result<(), RunnerError> {
    let name = migration.name();
    let fail = |source| RunnerError::Migration {
        name: name.to_owned(),
        source,
    };
    info!(migration = name, ?direction, "running");
    if migration.use_transaction() == Some(false) {
        // For statements that cannot run in a transaction (CREATE INDEX CONCURRENTLY).
        let manager = SchemaManager::new(&target.db);
        step(&manager, migration, direction).await.map_err(fail)?;
        return record(&target.db, name, direction).await.map_err(fail);
    }
    let mut delay = Duration::from_millis(500);
    for attempt in 0..=t.ddl_retries {
        let txn = target.db.begin().await.map_err(fail)?;
        let result = async {
            if target.backend() == DbBackend::Postgres {
                let ms = t.ddl_lock.as_millis();
                txn.execute_unprepared(&format!("SET LOCAL lock_timeout = '{ms}ms'"))
                    .await?;
            }
            step(&SchemaManager::new(&txn), migration, direction).await?;
            record(&txn, name, direction).await
        }
        .await;
        match result {
            Ok(()) => {
                txn.commit().await.map_err(fail)?;
                info!(migration = name, ?direction, "done");
                return Ok(());
            }
            Err(e) => {
                let _ = txn.rollback().await;
                let timed_out = sqlstate(&e).as_deref() == Some(LOCK_NOT_AVAILABLE);
                if !timed_out || attempt == t.ddl_retries {
                    return Err(fail(e));
                }
                warn!(migration = name, attempt = attempt + 1, retry_in = ?delay,
                      "lock_timeout: a long transaction holds a lock the migration needs");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
    unreachable!("the loop returns on its last attempt")
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
async fn applied_names(db: &impl ConnectionTrait) -> Result<HashSet<String>, DbErr> {
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
    if let Some(unknown) = applied.iter().find(|a| !known.contains(a)) {
        return Err(DbErr::Custom(format!(
            "the database records migration {unknown}, which this binary does not know: a newer version migrated it"
        )));
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
