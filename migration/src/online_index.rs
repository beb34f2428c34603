//! Indexes added to tables that may already hold data, without blocking writes to them.
//!
//! A migration using these returns `Some(false)` from `use_transaction`: on PostgreSQL, outside a
//! transaction, the index is built `CONCURRENTLY` (writes go on while it builds). Inside a
//! transaction (verify's scratch schema, the rollback rehearsal, the `sql up` script meant for
//! `psql -1`) the plain statement runs instead, which is equivalent on an empty table. Both
//! forms are idempotent, because a migration without a transaction can stop halfway.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DatabaseExecutor, DbBackend, Statement};

use crate::columns::index;

/// Whether `manager` runs statements on their own, outside a transaction, on PostgreSQL.
fn concurrently(manager: &SchemaManager) -> bool {
    manager.get_database_backend() == DbBackend::Postgres
        && matches!(manager.get_connection(), DatabaseExecutor::Connection(_))
}

/// Creates the index `name` on `table (columns)` unless it exists.
pub async fn create(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    columns: &[&str],
) -> Result<(), DbErr> {
    create_on_columns(manager, name, table, columns, false).await
}

/// Creates the unique index `name` on `table (columns)` unless it exists.
pub async fn create_unique(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    columns: &[&str],
) -> Result<(), DbErr> {
    create_on_columns(manager, name, table, columns, true).await
}

async fn create_on_columns(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    columns: &[&str],
    unique: bool,
) -> Result<(), DbErr> {
    if !concurrently(manager) {
        let mut stmt = index(name, table, columns);
        stmt.if_not_exists();
        if unique {
            stmt.unique();
        }
        return manager.create_index(stmt).await;
    }
    // An interrupted CREATE INDEX CONCURRENTLY leaves an invalid index of that name behind,
    // which IF NOT EXISTS would keep: `build` drops it and builds again.
    let columns: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let kind = if unique { "UNIQUE" } else { "" };
    build(
        manager,
        name,
        table,
        kind,
        &format!("({})", columns.join(", ")),
    )
    .await
}

/// Creates the index `name` on `table` with `definition` (what follows the table's name: a
/// method and columns with operator classes) unless it exists.
pub async fn create_with(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    definition: &str,
) -> Result<(), DbErr> {
    if !concurrently(manager) {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS \"{name}\" ON \"{table}\" {definition}"
            ))
            .await?;
        return Ok(());
    }
    build(manager, name, table, "", definition).await
}

/// `CREATE [UNIQUE] INDEX CONCURRENTLY`, after dropping an invalid index an interrupted build
/// left.
async fn build(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    unique: &str,
    definition: &str,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let invalid = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace \
             AND NOT i.indisvalid",
            [name.into()],
        ))
        .await?
        .is_some();
    if invalid {
        db.execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS \"{name}\""))
            .await?;
    }
    db.execute_unprepared(&format!(
        "CREATE {unique} INDEX CONCURRENTLY IF NOT EXISTS \"{name}\" ON \"{table}\" {definition}"
    ))
    .await?;
    Ok(())
}

/// Drops the index `name` if it exists.
pub async fn drop(manager: &SchemaManager<'_>, name: &str, table: &str) -> Result<(), DbErr> {
    if concurrently(manager) {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX CONCURRENTLY IF EXISTS \"{name}\""))
            .await?;
        return Ok(());
    }
    manager
        .drop_index(
            Index::drop()
                .name(name)
                .table(Alias::new(table))
                .if_exists()
                .to_owned(),
        )
        .await
}
