//! The SQLite side of `verify`: the applied migrations run again into an in-memory database,
//! and both databases read from `sqlite_master`.

use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DbErr, Statement};
use sea_orm_migration::{MigratorTrait, SchemaManager};

use super::{Catalog, Kind, text_rows};
use crate::Migrator;
use crate::runner::Target;

/// The catalog the applied migrations define and the live one.
pub(super) async fn catalogs(
    target: &Target,
    applied: &[String],
) -> Result<(Catalog, Catalog), DbErr> {
    let scratch = Database::connect("sqlite::memory:").await?;
    {
        let manager = SchemaManager::new(&scratch);
        for migration in Migrator::migrations() {
            if applied.iter().any(|a| a == migration.name()) {
                migration.up(&manager).await?;
            }
        }
    }
    let expected = catalog(&scratch).await?;
    let live = catalog(&target.db).await?;
    scratch.close().await?;
    Ok((expected, live))
}

/// SQLite keeps each table's, index's and trigger's definition as text: comparing it covers
/// columns, CHECKs (the enum values), inline constraints and the triggers that stand in for CHECKs
/// added later; foreign keys are listed for precise messages.
async fn catalog(db: &impl ConnectionTrait) -> Result<Catalog, DbErr> {
    let mut catalog = Catalog::new();
    let objects = query_triples(
        db,
        "SELECT type, name, coalesce(sql, 'automatic on ' || tbl_name) FROM sqlite_master
         WHERE type IN ('table', 'index', 'trigger') AND name NOT LIKE 'sqlite_%'
           AND tbl_name <> 'seaql_migrations'",
    )
    .await?;
    for (kind, name, sql) in objects {
        let kind = match kind.as_str() {
            "table" => Kind::Table,
            "trigger" => Kind::Trigger,
            _ => Kind::Index,
        };
        catalog.insert(
            (kind, name),
            sql.split_whitespace().collect::<Vec<_>>().join(" "),
        );
    }
    let fks = query_triples(
        db,
        "SELECT m.name || '.' || f.\"from\", f.\"table\" || ' (' || f.\"to\" || ') ON DELETE ' || f.on_delete,
                ''
         FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
         WHERE m.type = 'table' AND m.name <> 'seaql_migrations'",
    )
    .await?;
    for (name, definition, _) in fks {
        catalog.insert((Kind::ForeignKey, name), definition);
    }
    Ok(catalog)
}

async fn query_triples(
    db: &impl ConnectionTrait,
    sql: &str,
) -> Result<Vec<(String, String, String)>, DbErr> {
    let stmt = Statement::from_string(db.get_database_backend(), sql.to_owned());
    let rows = text_rows(db, stmt, 3).await?;
    Ok(rows
        .into_iter()
        .map(|mut r| (r.remove(0), r.remove(0), r.remove(0)))
        .collect())
}
