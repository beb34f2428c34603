//! The PostgreSQL side of `verify`: the applied migrations run again into a scratch schema, in a
//! transaction that is rolled back, and both schemas read from the system catalogs; plus the
//! runbook's Step 4 counts.

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DbBackend, DbErr, Statement, TransactionTrait, Value,
};
use sea_orm_migration::{MigratorTrait, SchemaManager};

use super::{Catalog, Kind, text_rows};
use crate::Migrator;
use crate::runner::Target;

/// The catalog the applied migrations define and the live one.
pub(super) async fn catalogs(
    target: &Target,
    applied: &[String],
) -> Result<(Catalog, Catalog), DbErr> {
    let txn = target.db.begin().await?;
    let stmt = Statement::from_string(DbBackend::Postgres, "SELECT current_schema()::text");
    let live_schema: String = text_rows(&txn, stmt, 1)
        .await?
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_else(|| "public".to_owned());
    let scratch = format!("dai_verify_{}", std::process::id());
    txn.execute_unprepared(&format!("CREATE SCHEMA \"{scratch}\""))
        .await?;
    txn.execute_unprepared(&format!("SET LOCAL search_path TO \"{scratch}\""))
        .await?;
    {
        let manager = SchemaManager::new(&txn);
        for migration in Migrator::migrations() {
            if applied.iter().any(|a| a == migration.name()) {
                migration.up(&manager).await?;
            }
        }
    }
    let expected = catalog(&txn, &scratch).await?;
    let live = catalog(&txn, &live_schema).await?;
    txn.rollback().await?;
    Ok((expected, live))
}

/// Every object of `schema` but the migration history, described independently of the schema's
/// name (so the scratch copy compares equal to the live one).
async fn catalog(db: &impl ConnectionTrait, schema: &str) -> Result<Catalog, DbErr> {
    let mut catalog = Catalog::new();
    let s = || vec![Value::from(schema.to_owned())];
    let queries: [(Kind, &str); 8] = [
        (
            Kind::Table,
            "SELECT c.relname::text, '' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> 'seaql_migrations'",
        ),
        (
            Kind::Column,
            "SELECT c.relname || '.' || a.attname, t.typname || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid
             WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
               AND c.relname <> 'seaql_migrations'",
        ),
        (
            Kind::EnumType,
            "SELECT t.typname::text, string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
             FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = $1 GROUP BY t.typname",
        ),
        (
            Kind::Index,
            "SELECT i.relname::text,
                    'ON ' || t.relname || ' (' || array_to_string(ARRAY(
                        SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord)
                        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord), ', ') || ')'
                    || CASE WHEN ix.indisunique THEN ' UNIQUE' ELSE '' END
                    || CASE WHEN ix.indisvalid THEN '' ELSE ' INVALID' END
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
             WHERE n.nspname = $1 AND t.relname <> 'seaql_migrations'",
        ),
        (
            Kind::ForeignKey,
            "SELECT c.conname::text,
                    t.relname || ' (' || (SELECT string_agg(a.attname, ', ') FROM unnest(c.conkey) k
                        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k) || ') -> '
                    || r.relname || ' (' || (SELECT string_agg(a.attname, ', ') FROM unnest(c.confkey) k
                        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k) || ')'
                    || ' ON DELETE ' || CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT'
                         WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END
                    || ' ON UPDATE ' || CASE c.confupdtype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT'
                         WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END
                    || CASE WHEN c.condeferrable THEN ' DEFERRABLE' ELSE '' END
                    || CASE WHEN c.condeferred THEN ' INITIALLY DEFERRED' ELSE '' END
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid
             JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE c.contype = 'f' AND n.nspname = $1",
        ),
        (
            Kind::Constraint,
            "SELECT c.conname::text, t.relname || ': ' || pg_get_constraintdef(c.oid)
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
             JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE c.contype IN ('u', 'p') AND n.nspname = $1 AND t.relname <> 'seaql_migrations'",
        ),
        (
            // The definition says NOT VALID while a constraint added online is not validated.
            Kind::Check,
            "SELECT c.conname::text, t.relname || ': ' || pg_get_constraintdef(c.oid)
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
             JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE c.contype = 'c' AND n.nspname = $1 AND t.relname <> 'seaql_migrations'",
        ),
        (
            // With its function's body: a trigger that stands in for a constraint (migration 9
            // fills the links' key for writers of the previous version) must not go missing
            // unseen. Names are printed qualified outside the search path: unqualified here.
            Kind::Trigger,
            "SELECT t.tgname::text,
                    replace(pg_get_triggerdef(t.oid), quote_ident($1) || '.', '')
                    || ' / ' || md5(p.prosrc)
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid
             WHERE n.nspname = $1 AND NOT t.tgisinternal",
        ),
    ];
    for (kind, sql) in queries {
        for (name, definition) in query_pairs(db, sql, s()).await? {
            catalog.insert((kind, name), definition);
        }
    }
    Ok(catalog)
}

/// The runbook's Step 4 counts, run as the runbook writes them.
pub(super) async fn runbook_counts(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, DbErr> {
    const TABLES: &str = "('digital_assets', 'asset_processing_locations', 'data_processing_activity_digital_assets')";
    let queries = [
        format!("SELECT 'Tables', count(*) FROM information_schema.tables WHERE table_name IN {TABLES}"),
        "SELECT 'Enums', count(*) FROM pg_type WHERE typtype = 'e' AND typname IN ('AssetType', 'IntegrationStatus', 'LocationRole')".to_owned(),
        format!("SELECT 'Indexes', count(*) FROM pg_indexes WHERE tablename IN {TABLES}"),
        format!("SELECT 'Foreign Keys', count(*) FROM information_schema.table_constraints WHERE constraint_type = 'FOREIGN KEY' AND table_name IN {TABLES}"),
    ];
    let mut out = Vec::new();
    for sql in queries {
        let rows = db
            .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await?;
        for row in rows {
            out.push((
                row.try_get_by_index::<String>(0)?,
                row.try_get_by_index::<i64>(1)?,
            ));
        }
    }
    Ok(out)
}

async fn query_pairs(
    db: &impl ConnectionTrait,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<(String, String)>, DbErr> {
    let stmt = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
    let rows = text_rows(db, stmt, 2).await?;
    Ok(rows
        .into_iter()
        .map(|mut r| (r.remove(0), r.remove(0)))
        .collect())
}
