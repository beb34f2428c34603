//! The database holds the rule the service checks (`require_purpose` in the service's
//! `locations.rs`): a processing location states its purpose by `purpose_id`, or by a
//! `purpose_text` that is not blank. "Blank" here is empty or spaces only (`btrim`/`trim`); the
//! service also refuses other whitespace, so the database never refuses what the service accepts.
//!
//! PostgreSQL: the CHECK constraint `chk_asset_locations_purpose`, added online: `NOT VALID`
//! (a brief ACCESS EXCLUSIVE lock, no scan), then `VALIDATE CONSTRAINT` in a transaction of its
//! own, which scans under SHARE UPDATE EXCLUSIVE while reads and writes go on. That is why the
//! migration runs outside a transaction; in one (verify's scratch schema, the `sql up` script)
//! the plain `ADD CONSTRAINT … CHECK` runs instead. Rows that break the rule make it fail, saying
//! how many and how to find them; it never changes data.
//!
//! SQLite cannot add a CHECK to an existing table; the alternative, the 12-step rebuild, copies
//! the table, restates migration 3's column definitions here (to be kept in step with them and
//! with the generated entities), and must recreate the indexes of two other migrations, on the
//! way up and again on the way down. Two triggers (`…_insert`, `…_update`) enforce the same rule
//! instead, raising `CHECK constraint failed: chk_asset_locations_purpose`, and `down` drops
//! exactly them. The update trigger stands aside while the location's organization is being
//! deleted: SQLite runs foreign-key actions depth first, in an order that depends on the order
//! the tables were created, so the purposes' `ON DELETE SET NULL` may reach a location before
//! the organization's cascade deletes it. (PostgreSQL queues cascaded actions breadth first: the
//! location, which references the organization directly, is gone before the purpose's SET NULL
//! runs.) A purpose deleted on its own while a location relies on it alone is refused, on both.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseExecutor, DbBackend, Statement, TransactionTrait,
};

use crate::runner::sqlstate;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The constraint's name (and, with `_insert`/`_update`, its triggers' on SQLite).
pub const CONSTRAINT: &str = "chk_asset_locations_purpose";

const TABLE: &str = "asset_processing_locations";

/// The rule, as PostgreSQL states it.
const RULE: &str =
    "purpose_id IS NOT NULL OR (purpose_text IS NOT NULL AND btrim(purpose_text) <> '')";

/// What the SQLite triggers refuse: the rule's negation, for the row written.
const SQLITE_BROKEN: &str =
    "NEW.purpose_id IS NULL AND (NEW.purpose_text IS NULL OR trim(NEW.purpose_text) = '')";

use sqlstate::CHECK_VIOLATION;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// `VALIDATE CONSTRAINT` must commit apart from `ADD CONSTRAINT … NOT VALID` to stay online.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match (manager.get_database_backend(), db) {
            (DbBackend::Postgres, DatabaseExecutor::Connection(_)) => postgres_online(db).await,
            (DbBackend::Postgres, _) => {
                db.execute_unprepared(&format!(
                    "ALTER TABLE \"{TABLE}\" ADD CONSTRAINT \"{CONSTRAINT}\" CHECK ({RULE})"
                ))
                .await?;
                Ok(())
            }
            // On its own connection, the count and the triggers commit together.
            (_, DatabaseExecutor::Connection(conn)) => {
                let txn = conn.begin().await?;
                let broken = violations(&txn).await?;
                if broken > 0 {
                    return Err(refusal(DbBackend::Sqlite, broken));
                }
                create_triggers(&txn).await?;
                txn.commit().await
            }
            _ => create_triggers(db).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(&format!(
                "ALTER TABLE \"{TABLE}\" DROP CONSTRAINT IF EXISTS \"{CONSTRAINT}\""
            ))
            .await?;
        } else {
            for event in ["update", "insert"] {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS \"{CONSTRAINT}_{event}\""))
                    .await?;
            }
        }
        Ok(())
    }
}

/// Adds the constraint without a scan, then validates it; each step is idempotent, so a retry
/// (after a lock timeout) or a second `up` resumes where the first stopped.
async fn postgres_online(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let present = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_constraint WHERE conname = $1
               AND conrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($2))",
            [CONSTRAINT.into(), TABLE.into()],
        ))
        .await?
        .is_some();
    if !present {
        let broken = violations(db).await?;
        if broken > 0 {
            return Err(refusal(DbBackend::Postgres, broken));
        }
        db.execute_unprepared(&format!(
            "ALTER TABLE \"{TABLE}\" ADD CONSTRAINT \"{CONSTRAINT}\" CHECK ({RULE}) NOT VALID"
        ))
        .await?;
    }
    let validated = db
        .execute_unprepared(&format!(
            "ALTER TABLE \"{TABLE}\" VALIDATE CONSTRAINT \"{CONSTRAINT}\""
        ))
        .await;
    match validated {
        Ok(_) => Ok(()),
        // Rows written before the constraint was added (after the count): take it away again,
        // so that a failed migration leaves the schema as it found it.
        Err(e) if sqlstate(&e).as_deref() == Some(CHECK_VIOLATION) => {
            let broken = violations(db).await?;
            db.execute_unprepared(&format!(
                "ALTER TABLE \"{TABLE}\" DROP CONSTRAINT IF EXISTS \"{CONSTRAINT}\""
            ))
            .await?;
            Err(refusal(DbBackend::Postgres, broken))
        }
        Err(e) => Err(e),
    }
}

/// The query that lists the rows breaking the rule, as the error message gives it.
fn find_broken(backend: DbBackend) -> String {
    let trim = match backend {
        DbBackend::Postgres => "btrim",
        _ => "trim",
    };
    format!(
        "SELECT id FROM {TABLE} WHERE purpose_id IS NULL AND (purpose_text IS NULL OR {trim}(purpose_text) = '')"
    )
}

async fn violations(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM ({}) broken",
        find_broken(backend)
    );
    db.query_one_raw(Statement::from_string(backend, sql))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn refusal(backend: DbBackend, broken: i64) -> DbErr {
    DbErr::Custom(format!(
        "{broken} rows of {TABLE} have neither a purpose_id nor a non-blank purpose_text, so \
         {CONSTRAINT} cannot be added; nothing was changed. Give each a purpose, then run `up` \
         again. Find them with: {};",
        find_broken(backend)
    ))
}

async fn create_triggers(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let raise = format!("SELECT RAISE(ABORT, 'CHECK constraint failed: {CONSTRAINT}')");
    db.execute_unprepared(&format!(
        "CREATE TRIGGER IF NOT EXISTS \"{CONSTRAINT}_insert\" BEFORE INSERT ON \"{TABLE}\"
         WHEN {SQLITE_BROKEN}
         BEGIN {raise}; END"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "CREATE TRIGGER IF NOT EXISTS \"{CONSTRAINT}_update\"
         BEFORE UPDATE OF purpose_id, purpose_text ON \"{TABLE}\"
         WHEN {SQLITE_BROKEN}
           AND EXISTS (SELECT 1 FROM organizations WHERE id = NEW.organization_id)
         BEGIN {raise}; END"
    ))
    .await?;
    Ok(())
}
