//! The commands that change the schema or its history, under the migration lock: `up`, `down`
//! (refusing to drop tables that hold rows), `resolve`.

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait,
};
use sea_orm_migration::{MigrationTrait, MigratorTrait, SchemaManager};
use tracing::info;

use super::history::{
    applied_names, delete_history, insert_history, last_applied, migration_names, pending,
    pending_count,
};
use super::run_one::{Direction, lock_timeout_ms, run_one};
use super::{MigrationLock, RunnerError, Target, Timeouts};
use crate::Migrator;

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

/// Releases the lock [`lock`] took, if it took one.
pub async fn release(lock: Option<MigrationLock>) {
    if let Some(lock) = lock {
        lock.release().await;
    }
}

/// Rows in `table`, or 0 when it does not exist.
async fn row_count(db: &DatabaseTransaction, table: &str) -> Result<i64, DbErr> {
    if !SchemaManager::new(db).has_table(table).await? {
        return Ok(0);
    }
    let quoted = table.replace('"', "\"\"");
    let sql = format!("SELECT COUNT(*) AS n FROM \"{quoted}\"");
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}
