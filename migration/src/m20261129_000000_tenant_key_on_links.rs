//! The tenant key on the junction: `data_processing_activity_digital_assets.organization_id`,
//! with composite foreign keys `(activity_id, organization_id)` and `(digital_asset_id,
//! organization_id)` to unique `(id, organization_id)` keys of both parents. The database then
//! refuses a link between two organizations' rows, even one written by hand, and a sharded
//! deployment can keep a link on the same node as its parents (docs/SCALING.md). The composite
//! keys replace the two single-column ones and keep their behaviour: deleting an activity deletes
//! its links; a linked asset cannot be deleted, checked at commit (`DEFERRABLE INITIALLY
//! DEFERRED`), so an organization's deletion still cascades through everything it owns.
//!
//! PostgreSQL, on its own connection, online, each step idempotent so that a retry or a second
//! `up` resumes where the first stopped:
//! 1. refuse, changing nothing, if a link joins two organizations' rows (the message says how to
//!    find them);
//! 2. add the column, nullable (no rewrite, a brief lock);
//! 3. a trigger fills the key of a link written without it, by a replica of the previous version
//!    still running during a rolling deployment;
//! 4. backfill in batches of [`BATCH`] rows, each its own transaction, walking the primary key;
//! 5. `NOT NULL` through a `CHECK … NOT VALID`, `VALIDATE` (a scan that blocks no writes), then
//!    `SET NOT NULL`, which the validated CHECK spares a scan, and the CHECK dropped;
//! 6. the parents' unique keys built `CONCURRENTLY`;
//! 7. each foreign key added `NOT VALID`, then validated; the old ones dropped. Adding and
//!    dropping a foreign key lock both tables (`SHARE ROW EXCLUSIVE`, `ACCESS EXCLUSIVE`): those
//!    statements run in short transactions that take the locks in the application's order,
//!    parents before links, so that they wait for writes in flight instead of deadlocking with
//!    them.
//!
//! In a transaction (verify's scratch schema, the rollback rehearsal, the `sql up` script) the
//! plain statements run instead and give the same schema.
//!
//! SQLite cannot add a foreign key to an existing table: the column is added and backfilled, a
//! trigger fills the key of a link written without it, and two refuse a link whose key differs
//! from either parent's organization.

use std::time::Instant;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseExecutor, DbBackend, Statement, TransactionSession, TransactionTrait,
    Value,
};

use crate::online_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "data_processing_activity_digital_assets";

/// How many links one backfill transaction updates (and holds row locks on).
pub const BATCH: u64 = 1000;

/// The parents' unique keys the composite foreign keys reference: name, table.
pub const PARENT_KEYS: [(&str, &str); 2] = [
    ("uq_digital_assets_id_organization", "digital_assets"),
    (
        "uq_data_processing_activities_id_organization",
        "data_processing_activities",
    ),
];

/// The composite foreign keys: name and definition.
pub const FOREIGN_KEYS: [(&str, &str); 2] = [
    (
        "fk_dpa_digital_assets_activity_organization",
        "FOREIGN KEY (activity_id, organization_id) \
         REFERENCES data_processing_activities (id, organization_id) \
         ON DELETE CASCADE ON UPDATE NO ACTION",
    ),
    (
        "fk_dpa_digital_assets_asset_organization",
        "FOREIGN KEY (digital_asset_id, organization_id) \
         REFERENCES digital_assets (id, organization_id) \
         ON DELETE NO ACTION ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED",
    ),
];

/// The single-column foreign keys of migration 3 the composite ones replace, as `down` restores
/// them.
const REPLACED_KEYS: [(&str, &str); 2] = [
    (
        "fk_data_processing_activity_digital_assets_activity_id",
        "FOREIGN KEY (activity_id) REFERENCES data_processing_activities (id) \
         ON DELETE CASCADE ON UPDATE NO ACTION",
    ),
    (
        "fk_data_processing_activity_digital_assets_digital_asset_id",
        "FOREIGN KEY (digital_asset_id) REFERENCES digital_assets (id) \
         ON DELETE NO ACTION ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED",
    ),
];

/// The CHECK that carries `NOT NULL` online, dropped once the column is `NOT NULL`.
const NOT_NULL_CHECK: &str = "chk_dpa_digital_assets_organization_not_null";

/// The PostgreSQL trigger (and its function) filling a missing key; on SQLite, the prefix of the
/// two triggers refusing a wrong one.
pub const TRIGGER: &str = "trg_dpa_digital_assets_organization";
const FUNCTION: &str = "dpa_digital_assets_fill_organization";

/// The links whose activity and asset belong to different organizations.
const CROSS_ORGANIZATION: &str = "SELECT l.id FROM data_processing_activity_digital_assets l \
     JOIN data_processing_activities a ON a.id = l.activity_id \
     JOIN digital_assets d ON d.id = l.digital_asset_id \
     WHERE a.organization_id <> d.organization_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// `CONCURRENTLY`, `VALIDATE` and the batches must each commit on their own to stay online.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // In a transaction (an empty scratch schema, or a script that records statements and
        // reads nothing back), a crossing link would stop the foreign key's creation instead.
        match (manager.get_database_backend(), db) {
            (DbBackend::Postgres, DatabaseExecutor::Connection(_)) => {
                refuse_cross_organization_links(db).await?;
                postgres_online(manager).await
            }
            (DbBackend::Postgres, _) => postgres_plain(db).await,
            // On its own connection, the column, its values and the triggers commit together.
            (_, DatabaseExecutor::Connection(conn)) => {
                let txn = conn.begin().await?;
                refuse_cross_organization_links(&txn).await?;
                sqlite_up(&txn).await?;
                txn.commit().await
            }
            _ => sqlite_up(db).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() != DbBackend::Postgres {
            for event in ["update", "fill", "insert"] {
                db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS \"{TRIGGER}_{event}\""))
                    .await?;
            }
            db.execute_unprepared(&format!(
                "ALTER TABLE \"{TABLE}\" DROP COLUMN \"organization_id\""
            ))
            .await?;
            return Ok(());
        }
        let online = matches!(db, DatabaseExecutor::Connection(_));
        for (name, definition) in REPLACED_KEYS {
            add_foreign_key(db, name, definition, online).await?;
        }
        for (name, _) in FOREIGN_KEYS {
            let drop = format!("ALTER TABLE \"{TABLE}\" DROP CONSTRAINT IF EXISTS \"{name}\"");
            if online {
                in_app_lock_order(db, "ACCESS EXCLUSIVE", &drop).await?;
            } else {
                db.execute_unprepared(&drop).await?;
            }
        }
        for (name, table) in PARENT_KEYS {
            online_index::drop(manager, name, table).await?;
        }
        db.execute_unprepared(&format!(
            "DROP TRIGGER IF EXISTS \"{TRIGGER}\" ON \"{TABLE}\";
             DROP FUNCTION IF EXISTS \"{FUNCTION}\"();
             ALTER TABLE \"{TABLE}\" DROP CONSTRAINT IF EXISTS \"{NOT_NULL_CHECK}\";
             ALTER TABLE \"{TABLE}\" DROP COLUMN IF EXISTS \"organization_id\""
        ))
        .await?;
        Ok(())
    }
}

/// Refuses, before anything changes, when a link joins two organizations' rows: no key could be
/// right for it. The service never wrote one; only hand-written SQL could have.
async fn refuse_cross_organization_links(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let count = db
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM ({CROSS_ORGANIZATION}) crossing"),
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or_default();
    if count == 0 {
        return Ok(());
    }
    Err(DbErr::Custom(format!(
        "{count} rows of {TABLE} link an activity and an asset of different organizations, so \
         the link cannot be given an organization; nothing was changed. Delete or correct them, \
         then run `up` again. Find them with: {CROSS_ORGANIZATION};"
    )))
}

/// The same schema as [`postgres_online`], in the caller's transaction.
async fn postgres_plain(db: &(impl ConnectionTrait + TransactionTrait)) -> Result<(), DbErr> {
    db.execute_unprepared(&format!(
        "ALTER TABLE \"{TABLE}\" ADD COLUMN IF NOT EXISTS \"organization_id\" text"
    ))
    .await?;
    fill_trigger(db).await?;
    db.execute_unprepared(&format!(
        "UPDATE \"{TABLE}\" l SET organization_id = a.organization_id
           FROM data_processing_activities a
          WHERE a.id = l.activity_id AND l.organization_id IS NULL;
         ALTER TABLE \"{TABLE}\" ALTER COLUMN \"organization_id\" SET NOT NULL"
    ))
    .await?;
    for (name, table) in PARENT_KEYS {
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS \"{name}\" ON \"{table}\" (id, organization_id)"
        ))
        .await?;
    }
    for (name, definition) in FOREIGN_KEYS {
        add_foreign_key(db, name, definition, false).await?;
    }
    drop_replaced_keys(db, false).await
}

/// Online: see the module's documentation for the steps. Each step logs how long it took, which
/// bounds how long it held its lock.
async fn postgres_online(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    timed("add the column", async {
        db.execute_unprepared(&format!(
            "ALTER TABLE \"{TABLE}\" ADD COLUMN IF NOT EXISTS \"organization_id\" text"
        ))
        .await
        .map(drop)
    })
    .await?;
    timed("add the trigger filling a missing key", fill_trigger(db)).await?;
    backfill(db).await?;
    if !column_not_null(db).await? {
        if !constraint_exists(db, NOT_NULL_CHECK).await? {
            timed("add the NOT NULL check, not valid", async {
                db.execute_unprepared(&format!(
                    "ALTER TABLE \"{TABLE}\" ADD CONSTRAINT \"{NOT_NULL_CHECK}\"
                     CHECK (organization_id IS NOT NULL) NOT VALID"
                ))
                .await
                .map(drop)
            })
            .await?;
        }
        timed("validate the NOT NULL check", async {
            db.execute_unprepared(&format!(
                "ALTER TABLE \"{TABLE}\" VALIDATE CONSTRAINT \"{NOT_NULL_CHECK}\""
            ))
            .await
            .map(drop)
        })
        .await?;
        timed("set NOT NULL", async {
            db.execute_unprepared(&format!(
                "ALTER TABLE \"{TABLE}\" ALTER COLUMN \"organization_id\" SET NOT NULL"
            ))
            .await
            .map(drop)
        })
        .await?;
    }
    db.execute_unprepared(&format!(
        "ALTER TABLE \"{TABLE}\" DROP CONSTRAINT IF EXISTS \"{NOT_NULL_CHECK}\""
    ))
    .await?;
    for (name, table) in PARENT_KEYS {
        timed(
            name,
            online_index::create_unique(manager, name, table, &["id", "organization_id"]),
        )
        .await?;
    }
    for (name, definition) in FOREIGN_KEYS {
        timed(name, add_foreign_key(db, name, definition, true)).await?;
    }
    timed("drop the replaced keys", drop_replaced_keys(db, true)).await
}

/// Fills the key of the links still without one, [`BATCH`] at a time in primary-key order, each
/// batch its own transaction: no row stays locked longer than one batch's update.
async fn backfill(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let started = Instant::now();
    let (mut after, mut batches, mut filled) = (String::new(), 0u64, 0u64);
    // The longest a batch's row locks were held.
    let mut longest = std::time::Duration::ZERO;
    loop {
        // The batch's last id, or none when fewer than BATCH rows are left.
        let upper = db
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "SELECT id FROM \"{TABLE}\" WHERE id > $1 ORDER BY id LIMIT 1 OFFSET {}",
                    BATCH - 1
                ),
                [Value::from(after.clone())],
            ))
            .await?
            .map(|row| row.try_get::<String>("", "id"))
            .transpose()?;
        let bound = if upper.is_some() {
            "AND l.id <= $2"
        } else {
            ""
        };
        let mut values = vec![Value::from(after.clone())];
        values.extend(upper.clone().map(Value::from));
        let batch_started = Instant::now();
        let result = db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "UPDATE \"{TABLE}\" l SET organization_id = a.organization_id
                       FROM data_processing_activities a
                      WHERE a.id = l.activity_id AND l.organization_id IS NULL
                        AND l.id > $1 {bound}"
                ),
                values,
            ))
            .await?;
        longest = longest.max(batch_started.elapsed());
        batches += 1;
        filled += result.rows_affected();
        match upper {
            Some(id) => after = id,
            None => break,
        }
    }
    tracing::info!(
        batches,
        filled,
        elapsed_ms = started.elapsed().as_millis() as u64,
        longest_batch_ms = longest.as_millis() as u64,
        "backfilled the links' organization"
    );
    Ok(())
}

/// `CREATE OR REPLACE` the function and the trigger that fill a link's missing key from its
/// activity. `WHEN` keeps the function from running at all for a writer that sets the key.
async fn fill_trigger(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_unprepared(&format!(
        "CREATE OR REPLACE FUNCTION \"{FUNCTION}\"() RETURNS trigger LANGUAGE plpgsql
           SET search_path FROM CURRENT AS $$ BEGIN
           SELECT organization_id INTO NEW.organization_id
             FROM data_processing_activities WHERE id = NEW.activity_id;
           RETURN NEW;
         END $$;
         CREATE OR REPLACE TRIGGER \"{TRIGGER}\" BEFORE INSERT ON \"{TABLE}\"
           FOR EACH ROW WHEN (NEW.organization_id IS NULL) EXECUTE FUNCTION \"{FUNCTION}\"()"
    ))
    .await?;
    Ok(())
}

/// Adds the foreign key `name`. Online, unless it exists, `NOT VALID` (a brief lock, no scan),
/// then validated (a scan that blocks no writes). In a transaction, plainly: a script records
/// statements and can read nothing back.
async fn add_foreign_key(
    db: &(impl ConnectionTrait + TransactionTrait),
    name: &str,
    definition: &str,
    online: bool,
) -> Result<(), DbErr> {
    let add = format!("ALTER TABLE \"{TABLE}\" ADD CONSTRAINT \"{name}\" {definition}");
    if !online {
        db.execute_unprepared(&add).await?;
        return Ok(());
    }
    if !constraint_exists(db, name).await? {
        in_app_lock_order(db, "SHARE ROW EXCLUSIVE", &format!("{add} NOT VALID")).await?;
    }
    db.execute_unprepared(&format!(
        "ALTER TABLE \"{TABLE}\" VALIDATE CONSTRAINT \"{name}\""
    ))
    .await?;
    Ok(())
}

/// Runs `ddl`, which locks the links and their parents, in a transaction that first locks them
/// in `mode` in the application's order: parents (an activity or asset read, locked or written)
/// before links. `ALTER TABLE` alone locks the links first and then each parent, which deadlocks
/// with a write that holds a parent and waits for the links (seen: `sync`, and a replica of the
/// previous version creating an asset and linking it). Waiting in order is bounded by the
/// session's `lock_timeout` and retried by the runner.
async fn in_app_lock_order<C>(db: &C, mode: &str, ddl: &str) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!(
        "LOCK TABLE data_processing_activities, digital_assets IN {mode} MODE;
         LOCK TABLE \"{TABLE}\" IN {mode} MODE"
    ))
    .await?;
    txn.execute_unprepared(ddl).await?;
    txn.commit().await
}

/// Drops the single-column keys; online, in the application's lock order (dropping a foreign
/// key takes `ACCESS EXCLUSIVE` on both tables).
async fn drop_replaced_keys(
    db: &(impl ConnectionTrait + TransactionTrait),
    online: bool,
) -> Result<(), DbErr> {
    for (name, _) in REPLACED_KEYS {
        let drop = format!("ALTER TABLE \"{TABLE}\" DROP CONSTRAINT IF EXISTS \"{name}\"");
        if online {
            in_app_lock_order(db, "ACCESS EXCLUSIVE", &drop).await?;
        } else {
            db.execute_unprepared(&drop).await?;
        }
    }
    Ok(())
}

async fn constraint_exists(db: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    Ok(db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_constraint WHERE conname = $1
               AND conrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($2))",
            [name.into(), TABLE.into()],
        ))
        .await?
        .is_some())
}

async fn column_not_null(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    Ok(db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = $1
                AND column_name = 'organization_id' AND is_nullable = 'NO'",
            [TABLE.into()],
        ))
        .await?
        .is_some())
}

/// Runs `step`, logging how long it took.
async fn timed<T>(
    step: &str,
    future: impl std::future::Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    let started = Instant::now();
    let out = future.await?;
    tracing::info!(
        step,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "tenant key on links"
    );
    Ok(out)
}

/// SQLite: the column, its values, and three triggers standing in for the composite keys and
/// the PostgreSQL trigger: a link written without the key gets its activity's, and a link whose
/// key differs from its activity's or its asset's organization is refused.
async fn sqlite_up(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_unprepared(&format!(
        "ALTER TABLE \"{TABLE}\" ADD COLUMN \"organization_id\" TEXT;
         UPDATE \"{TABLE}\" SET organization_id =
           (SELECT a.organization_id FROM data_processing_activities a WHERE a.id = activity_id)"
    ))
    .await?;
    let mismatch = "NEW.organization_id IS NOT
           (SELECT organization_id FROM data_processing_activities WHERE id = NEW.activity_id)
        OR NEW.organization_id IS NOT
           (SELECT organization_id FROM digital_assets WHERE id = NEW.digital_asset_id)";
    let raise = format!("SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: {TRIGGER}')");
    db.execute_unprepared(&format!(
        "CREATE TRIGGER IF NOT EXISTS \"{TRIGGER}_insert\" BEFORE INSERT ON \"{TABLE}\"
         WHEN NEW.organization_id IS NOT NULL AND ({mismatch})
         BEGIN {raise}; END;
         CREATE TRIGGER IF NOT EXISTS \"{TRIGGER}_fill\" AFTER INSERT ON \"{TABLE}\"
         WHEN NEW.organization_id IS NULL
         BEGIN
           UPDATE \"{TABLE}\" SET organization_id =
             (SELECT organization_id FROM data_processing_activities WHERE id = NEW.activity_id)
           WHERE id = NEW.id;
         END;
         CREATE TRIGGER IF NOT EXISTS \"{TRIGGER}_update\"
         BEFORE UPDATE OF organization_id, activity_id, digital_asset_id ON \"{TABLE}\"
         WHEN NEW.organization_id IS NULL OR {mismatch}
         BEGIN {raise}; END"
    ))
    .await?;
    Ok(())
}
