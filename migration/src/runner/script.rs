//! The SQL scripts of `sql up` and `sql down`: the statements a migration would run, obtained by
//! running the migration itself against a connection that records statements instead of
//! executing them (sea-orm's mock database).

use sea_orm_migration::sea_orm::{
    DbBackend, DbErr, MockDatabase, MockExecResult, Schema, TransactionTrait,
};
use sea_orm_migration::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm_migration::{MigrationTrait, SchemaManager, seaql_migrations};

use super::history::{last_applied, pending};
use super::{RunnerError, Target};

/// More statements than any migration runs: the mock answers each with "done".
const MAX_STATEMENTS: usize = 10_000;

/// The statements `migration`'s up (`up = true`) or down would run on `backend`, values inlined.
/// A migration that reads from the database cannot be recorded (the recorder has no rows).
async fn recorded(
    backend: DbBackend,
    migration: &dyn MigrationTrait,
    up: bool,
) -> Result<Vec<String>, DbErr> {
    let done = MockExecResult {
        last_insert_id: 0,
        rows_affected: 0,
    };
    let conn = MockDatabase::new(backend)
        .append_exec_results(std::iter::repeat_n(done, MAX_STATEMENTS))
        .into_connection();
    {
        // A migration that runs without a transaction (CREATE INDEX CONCURRENTLY) is recorded as
        // it runs inside one: the script is for `psql -1`, and inside a transaction such a
        // migration uses the plain statements.
        let txn = conn.begin().await?;
        let manager = SchemaManager::new(&txn);
        if up {
            migration.up(&manager).await?;
        } else {
            migration.down(&manager).await?;
        }
        drop(manager);
        txn.commit().await?;
    }
    // The log holds the recorder's own BEGIN and COMMIT around the migration's statements: left
    // in, `psql -1 -f` of the script warns, commits early and runs the rest outside any transaction.
    Ok(conn
        .into_transaction_log()
        .iter()
        .flat_map(|t| t.statements().iter().map(ToString::to_string))
        .filter(|sql| !is_transaction_control(sql))
        .collect())
}

/// Whether `sql` begins, ends or nests a transaction (what the recorder's transaction logs).
fn is_transaction_control(sql: &str) -> bool {
    let word = sql.split_whitespace().next().unwrap_or_default();
    ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
        .iter()
        .any(|w| word.eq_ignore_ascii_case(w))
}

/// The SQL script `up` would run for the pending migrations (all, or the first `num`), history
/// rows included, with no transaction statements: `psql -1 -f` of it migrates like `up`.
pub async fn sql_up(target: &Target, num: Option<u32>) -> Result<String, RunnerError> {
    let backend = target.backend();
    let pending = pending(&target.db, num).await?;
    let mut script = String::new();
    if !pending.is_empty() {
        let mut install = Schema::new(backend).create_table_from_entity(seaql_migrations::Entity);
        install.if_not_exists();
        script.push_str("-- migration history\n");
        script.push_str(&format!("{};\n", backend.build(&install)));
    }
    for migration in pending {
        script.push_str(&format!("\n-- {} (up)\n", migration.name()));
        if migration.use_transaction() == Some(false) && backend == DbBackend::Postgres {
            script.push_str(
                "-- `migration up` runs this one outside a transaction, online (indexes built or\n\
                 -- dropped CONCURRENTLY, constraints added NOT VALID then validated: writes\n\
                 -- continue); here it runs in the script's transaction, which blocks writes to\n\
                 -- its tables (and reads of a table whose index it drops) until the script commits.\n",
            );
        }
        for sql in recorded(backend, migration.as_ref(), true).await? {
            script.push_str(&format!("{sql};\n"));
        }
        let now = match backend {
            DbBackend::Postgres => Expr::cust("CAST(EXTRACT(EPOCH FROM now()) AS bigint)"),
            _ => Expr::cust("CAST(strftime('%s', 'now') AS INTEGER)"),
        };
        let history = Query::insert()
            .into_table(Alias::new("seaql_migrations"))
            .columns([Alias::new("version"), Alias::new("applied_at")])
            .values_panic([migration.name().into(), now])
            .to_owned();
        script.push_str(&format!("{};\n", backend.build(&history)));
    }
    Ok(script)
}

/// The SQL script `down` would run for the last `num` applied migrations, history included.
pub async fn sql_down(target: &Target, num: u32) -> Result<String, RunnerError> {
    let backend = target.backend();
    let mut script = String::new();
    for migration in last_applied(&target.db, num).await? {
        script.push_str(&format!("\n-- {} (down)\n", migration.name()));
        for sql in recorded(backend, migration.as_ref(), false).await? {
            script.push_str(&format!("{sql};\n"));
        }
        let history = Query::delete()
            .from_table(Alias::new("seaql_migrations"))
            .and_where(Expr::col(Alias::new("version")).eq(migration.name()))
            .to_owned();
        script.push_str(&format!("{};\n", backend.build(&history)));
    }
    Ok(script)
}

#[cfg(test)]
mod tests {
    use sea_orm_migration::MigratorTrait;

    use super::*;
    use crate::Migrator;

    /// The tables a migration's `down` drops, in order, read from the SQL it would run.
    async fn dropped_in_sql(backend: DbBackend, migration: &dyn MigrationTrait) -> Vec<String> {
        let mut tables = Vec::new();
        let statements = recorded(backend, migration, false).await;
        for sql in statements.unwrap_or_else(|e| panic!("{}: {e}", migration.name())) {
            let Some(rest) = sql.strip_prefix("DROP TABLE ") else {
                continue;
            };
            let rest = rest.strip_prefix("IF EXISTS ").unwrap_or(rest);
            let names = rest.split(" CASCADE").next().unwrap_or(rest);
            tables.extend(
                names
                    .split(',')
                    .map(|n| n.trim().trim_matches(|c| c == '"' || c == '`').to_owned()),
            );
        }
        tables
    }

    /// `down` counts the rows of the listed tables before dropping them: a table missing from a
    /// migration's list would be dropped with its rows, unchecked.
    #[tokio::test]
    async fn each_migration_lists_exactly_the_tables_its_down_drops() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            for migration in Migrator::migrations() {
                let listed: Vec<String> = Migrator::tables_dropped_by(migration.name())
                    .iter()
                    .rev()
                    .map(ToString::to_string)
                    .collect();
                assert_eq!(
                    dropped_in_sql(backend, migration.as_ref()).await,
                    listed,
                    "{} on {backend:?}",
                    migration.name()
                );
            }
        }
    }

    #[test]
    fn unknown_migrations_drop_no_tables() {
        assert!(Migrator::tables_dropped_by("m20990101_000000_unknown").is_empty());
    }
}
