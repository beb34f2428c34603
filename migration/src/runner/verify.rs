//! `verify`: compares the live schema with what the applied migrations define. The expectation is
//! not a hand-kept list: the applied migrations are run again, into a scratch schema inside a
//! transaction that is rolled back (PostgreSQL) or into an in-memory database (SQLite), and the
//! two catalogs are compared object by object.

use std::collections::BTreeMap;

use sea_orm_migration::sea_orm::{
    ConnectionTrait, Database, DbBackend, DbErr, Statement, TransactionTrait, Value,
};
use sea_orm_migration::{MigratorTrait, SchemaManager};
use serde::Serialize;

use super::{RunnerError, Target, statuses};
use crate::Migrator;

/// One kind of schema object, as counted in the checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Table,
    Column,
    EnumType,
    Index,
    ForeignKey,
    /// Primary keys and unique constraints.
    Constraint,
    /// CHECK constraints (PostgreSQL; SQLite's are part of their table's definition).
    Check,
    /// Triggers (SQLite, where they enforce the rules a CHECK cannot be added for).
    Trigger,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Table,
        Kind::Column,
        Kind::EnumType,
        Kind::Index,
        Kind::ForeignKey,
        Kind::Constraint,
        Kind::Check,
        Kind::Trigger,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Table => "Tables",
            Kind::Column => "Columns",
            Kind::EnumType => "Enum types",
            Kind::Index => "Indexes",
            Kind::ForeignKey => "Foreign keys",
            Kind::Constraint => "Constraints",
            Kind::Check => "Checks",
            Kind::Trigger => "Triggers",
        }
    }
}

/// A schema snapshot: (kind, name) → canonical definition.
type Catalog = BTreeMap<(Kind, String), String>;

/// How a live object differs from what the applied migrations define; serialized in lower case
/// (`missing`, `unexpected`, `differs`, `invalid`), printed in upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Problem {
    /// Defined by the migrations, absent from the live schema.
    Missing,
    /// In the live schema, defined by no applied migration.
    Unexpected,
    /// In both, with different definitions.
    Differs,
    /// A live index an interrupted `CREATE INDEX CONCURRENTLY` left unusable.
    Invalid,
}

impl Problem {
    /// The name as it appears in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::Unexpected => "unexpected",
            Problem::Differs => "differs",
            Problem::Invalid => "invalid",
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between the live schema and the applied migrations.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub kind: Kind,
    pub object: String,
    pub problem: Problem,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

/// The checklist line of one kind: how many objects were expected and how many are live.
#[derive(Debug, Clone, Serialize)]
pub struct CheckLine {
    pub kind: Kind,
    pub label: &'static str,
    pub expected: usize,
    pub live: usize,
    /// Objects of this kind that are missing, unexpected, different or invalid.
    pub drift: usize,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub backend: &'static str,
    pub applied: Vec<String>,
    pub pending: Vec<String>,
    pub checklist: Vec<CheckLine>,
    /// The runbook's Step 4 counts over the three digital-asset tables (PostgreSQL).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runbook: Vec<(String, i64)>,
    pub drift: Vec<Drift>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.drift.is_empty()
    }
}

/// Verifies the live schema against the applied migrations.
pub async fn verify(target: &Target) -> Result<VerifyReport, RunnerError> {
    let status = statuses(&target.db).await?;
    let applied: Vec<String> = status
        .iter()
        .filter(|(_, a)| *a)
        .map(|(n, _)| n.clone())
        .collect();
    let pending: Vec<String> = status
        .iter()
        .filter(|(_, a)| !*a)
        .map(|(n, _)| n.clone())
        .collect();
    let (expected, live) = match target.backend() {
        DbBackend::Postgres => postgres_catalogs(target, &applied).await?,
        _ => sqlite_catalogs(target, &applied).await?,
    };
    let mut drift = Vec::new();
    for (key, want) in &expected {
        match live.get(key) {
            None => drift.push(diff(key, Problem::Missing, Some(want), None)),
            Some(have) if have != want => {
                drift.push(diff(key, Problem::Differs, Some(want), Some(have)))
            }
            Some(_) => {}
        }
    }
    for (key, have) in &live {
        if key.0 == Kind::Index && have.ends_with(" INVALID") {
            drift.push(diff(key, Problem::Invalid, None, Some(have)));
        }
        if !expected.contains_key(key) {
            drift.push(diff(key, Problem::Unexpected, None, Some(have)));
        }
    }
    let count = |c: &Catalog, kind| c.keys().filter(|(k, _)| *k == kind).count();
    let checklist = Kind::ALL
        .iter()
        .map(|&kind| CheckLine {
            kind,
            label: kind.label(),
            expected: count(&expected, kind),
            live: count(&live, kind),
            drift: drift.iter().filter(|d| d.kind == kind).count(),
        })
        .filter(|line| line.expected + line.live > 0)
        .collect();
    let runbook = match target.backend() {
        DbBackend::Postgres => runbook_counts(&target.db).await?,
        _ => Vec::new(),
    };
    let backend = match target.backend() {
        DbBackend::Postgres => "postgres",
        _ => "sqlite",
    };
    Ok(VerifyReport {
        backend,
        applied,
        pending,
        checklist,
        runbook,
        drift,
    })
}

fn diff(
    key: &(Kind, String),
    problem: Problem,
    want: Option<&String>,
    have: Option<&String>,
) -> Drift {
    Drift {
        kind: key.0,
        object: key.1.clone(),
        problem,
        expected: want.cloned(),
        found: have.cloned(),
    }
}

async fn postgres_catalogs(
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
    let expected = postgres_catalog(&txn, &scratch).await?;
    let live = postgres_catalog(&txn, &live_schema).await?;
    txn.rollback().await?;
    Ok((expected, live))
}

/// Every object of `schema` but the migration history, described independently of the schema's
/// name (so the scratch copy compares equal to the live one).
async fn postgres_catalog(db: &impl ConnectionTrait, schema: &str) -> Result<Catalog, DbErr> {
    let mut catalog = Catalog::new();
    let s = || vec![Value::from(schema.to_owned())];
    let queries: [(Kind, &str); 7] = [
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
    ];
    for (kind, sql) in queries {
        for (name, definition) in query_pairs(db, sql, s()).await? {
            catalog.insert((kind, name), definition);
        }
    }
    Ok(catalog)
}

async fn sqlite_catalogs(target: &Target, applied: &[String]) -> Result<(Catalog, Catalog), DbErr> {
    let scratch = Database::connect("sqlite::memory:").await?;
    {
        let manager = SchemaManager::new(&scratch);
        for migration in Migrator::migrations() {
            if applied.iter().any(|a| a == migration.name()) {
                migration.up(&manager).await?;
            }
        }
    }
    let expected = sqlite_catalog(&scratch).await?;
    let live = sqlite_catalog(&target.db).await?;
    scratch.close().await?;
    Ok((expected, live))
}

/// SQLite keeps each table's, index's and trigger's definition as text: comparing it covers
/// columns, CHECKs (the enum values), inline constraints and the triggers that stand in for CHECKs
/// added later; foreign keys are listed for precise messages.
async fn sqlite_catalog(db: &impl ConnectionTrait) -> Result<Catalog, DbErr> {
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

/// The runbook's Step 4 counts, run as the runbook writes them.
async fn runbook_counts(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, DbErr> {
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

/// The first `width` columns of every row, as text.
async fn text_rows(
    db: &impl ConnectionTrait,
    stmt: Statement,
    width: usize,
) -> Result<Vec<Vec<String>>, DbErr> {
    db.query_all_raw(stmt)
        .await?
        .iter()
        .map(|r| {
            (0..width)
                .map(|i| r.try_get_by_index::<String>(i))
                .collect()
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn problems_serialize_as_the_names_the_report_has_always_used() {
        for (problem, name) in [
            (Problem::Missing, "missing"),
            (Problem::Unexpected, "unexpected"),
            (Problem::Differs, "differs"),
            (Problem::Invalid, "invalid"),
        ] {
            assert_eq!(serde_json::to_value(problem).ok(), Some(json!(name)));
            assert_eq!(problem.to_string(), name);
        }
    }
}
