//! Who holds up a migration that timed out waiting for a lock, so the error can name them: the
//! other sessions of the database with an open transaction, oldest first. A DDL statement waits
//! for the locks such sessions hold, and `CREATE INDEX CONCURRENTLY` also for every transaction
//! whose snapshot is older than its own.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use super::describe;

/// How many sessions the message names; the rest are counted.
const NAMED: usize = 5;

/// The sessions of `db`'s database (other than the one asking) with an open transaction, as one
/// line: `blocked by the sessions with an open transaction: pid 123 (idle in transaction for 40s,
/// application_name "psql"), …`.
pub async fn blockers(db: &impl ConnectionTrait) -> String {
    match sessions(db).await {
        Ok(sessions) if sessions.is_empty() => {
            "no other session has a transaction open now (the blocker has finished)".to_owned()
        }
        Ok(sessions) => {
            let mut named: Vec<String> = sessions.iter().take(NAMED).map(Session::line).collect();
            if sessions.len() > NAMED {
                named.push(format!("and {} more", sessions.len() - NAMED));
            }
            format!(
                "blocked by the sessions with an open transaction: {}",
                named.join(", ")
            )
        }
        Err(e) => format!(
            "the sessions holding it could not be listed ({})",
            describe(&e)
        ),
    }
}

struct Session {
    pid: i32,
    state: String,
    open_secs: i64,
    application_name: String,
}

impl Session {
    fn line(&self) -> String {
        format!(
            "pid {} ({}, transaction open {}s, application_name {:?})",
            self.pid, self.state, self.open_secs, self.application_name
        )
    }
}

async fn sessions(db: &impl ConnectionTrait) -> Result<Vec<Session>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pid, coalesce(state, 'unknown') AS state,
                    coalesce(extract(epoch FROM now() - xact_start)::bigint, 0) AS open_secs,
                    coalesce(application_name, '') AS application_name
             FROM pg_stat_activity
             WHERE datname = current_database() AND xact_start IS NOT NULL
               AND pid <> pg_backend_pid() AND backend_type = 'client backend'
             ORDER BY xact_start
             LIMIT 100",
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Session {
                pid: r.try_get("", "pid")?,
                state: r.try_get("", "state")?,
                open_secs: r.try_get("", "open_secs")?,
                application_name: r.try_get("", "application_name")?,
            })
        })
        .collect()
}
