//! Column and statement helpers shared by the migrations, so every table spells ids, timestamps,
//! JSON and enum columns the same way on PostgreSQL and SQLite.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// `id TEXT PRIMARY KEY`: the service writes UUIDv7 strings, hand-written rows any text.
pub fn id_pk() -> ColumnDef {
    ColumnDef::new(Alias::new("id"))
        .text()
        .not_null()
        .primary_key()
        .take()
}

/// A required TEXT column.
pub fn text(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).text().not_null().take()
}

/// An optional TEXT column.
pub fn text_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).text().null().take()
}

/// A required boolean with a default.
pub fn boolean(name: impl IntoIden, default: bool) -> ColumnDef {
    ColumnDef::new(name)
        .boolean()
        .not_null()
        .default(default)
        .take()
}

/// A boolean without a default (reference data always states it).
pub fn boolean_required(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).boolean().not_null().take()
}

/// JSONB on PostgreSQL, JSON text on SQLite.
pub fn json(name: impl IntoIden, nullable: bool) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    col.json_binary();
    if nullable {
        col.null()
    } else {
        col.not_null()
    };
    col.take()
}

/// An optional `timestamptz`.
pub fn timestamp_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .take()
}

/// `created_at`/`updated_at`: `timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP`, so hand-written
/// INSERTs (the runbook's smoke test) need not name them.
///
/// SQLite's own `CURRENT_TIMESTAMP` is `YYYY-MM-DD HH:MM:SS`, which sorts wrongly against the
/// RFC 3339 text the driver writes; there the default is the same instant in RFC 3339.
pub fn timestamp_now(backend: DbBackend, name: impl IntoIden) -> ColumnDef {
    let default = match backend {
        DbBackend::Sqlite => Expr::cust("(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))"),
        _ => Expr::current_timestamp(),
    };
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .default(default)
        .take()
}

/// A column of one of the PostgreSQL enum types: the quoted mixed-case type on PostgreSQL, TEXT
/// with a CHECK on the same values on SQLite.
pub fn enumeration(backend: DbBackend, column: &str, pg_type: &str, values: &[&str]) -> ColumnDef {
    let mut col = ColumnDef::new(Alias::new(column));
    match backend {
        DbBackend::Postgres => {
            col.custom(Alias::new(format!("\"{pg_type}\"")));
        }
        _ => {
            col.text().check((
                format!("ck_{column}_{}", pg_type.to_lowercase()),
                Expr::col(Alias::new(column)).is_in(values.iter().copied()),
            ));
        }
    }
    col.not_null().take()
}

/// A foreign key with a conventional name `fk_<table>_<column>`.
pub fn foreign_key(
    table: &str,
    column: &str,
    references: &str,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(Alias::new(table), Alias::new(column))
        .to(Alias::new(references), Alias::new("id"))
        .on_delete(on_delete)
        .on_update(ForeignKeyAction::NoAction)
        .take()
}

/// A named secondary index (names are explicit: PostgreSQL silently truncates past 63 bytes).
pub fn index(name: &str, table: &str, columns: &[&str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(Alias::new(table));
    for column in columns {
        stmt.col(Alias::new(*column));
    }
    stmt.take()
}

/// `DROP TABLE <name>` (no CASCADE: a dependent object we do not know of must stop the rollback).
pub fn drop_table(name: &str) -> TableDropStatement {
    Table::drop().table(Alias::new(name)).take()
}
