//! The migration history, `seaql_migrations`: which migrations are applied and which are
//! pending, and the rows that record a migration as applied or not.

use std::collections::HashSet;

use sea_orm_migration::sea_orm::{
    ActiveValue, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, Statement,
};
use sea_orm_migration::sea_query::{Expr, ExprTrait};
use sea_orm_migration::seaql_migrations;
use sea_orm_migration::{MigrationTrait, MigratorTrait};

use super::RunnerError;
use crate::Migrator;

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

/// How many migrations are pending.
pub(super) async fn pending_count(db: &impl ConnectionTrait) -> Result<usize, RunnerError> {
    let applied = applied_names(db).await?;
    Ok(migration_names()
        .iter()
        .filter(|n| !applied.contains(*n))
        .count())
}

/// Records `name` as applied, now.
pub(super) async fn insert_history(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
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

/// Records `name` as not applied.
pub(super) async fn delete_history(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
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
pub(super) async fn applied_names(
    db: &impl ConnectionTrait,
) -> Result<HashSet<String>, RunnerError> {
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
