//! Refusing a transaction-mode connection pooler: the runner needs a session of its own.

use sea_orm_migration::sea_orm::sqlx::{self, Connection, Executor, PgConnection, Row};

use super::RunnerError;
use super::lock::db_err;

/// Refuses `url` when it is not a session of its own: behind a transaction-mode pooler
/// (PgBouncer's `pool_mode = transaction`) each statement may run on another server connection,
/// so the session-level advisory lock would stay on a connection other clients then share, and
/// the driver's named prepared statements would meet other clients' ones.
///
/// One connection reads its backend's pid, a second reads its own inside a transaction (which
/// pins its server), then the first reads its pid again. On a real session the first's two pids
/// agree and differ from the second's. A pooler that hands the server the first just released to
/// the next client (PgBouncer's default, `server_round_robin = 0`) shows that pid to the second
/// connection, or moves the first to another server: refused. This finds the usual set-up, not
/// every one: hence MIGRATION_DATABASE_URL. Simple-protocol queries only, so the probe itself
/// works behind any pooler.
pub async fn refuse_transaction_pooler(url: &str) -> Result<(), RunnerError> {
    async fn pid(conn: &mut PgConnection) -> Result<i32, RunnerError> {
        let row = conn
            .fetch_one(sqlx::raw_sql("SELECT pg_backend_pid()"))
            .await
            .map_err(db_err)?;
        row.try_get::<i32, _>(0).map_err(db_err)
    }
    let mut conn = PgConnection::connect(url).await.map_err(db_err)?;
    let mut other = PgConnection::connect(url).await.map_err(db_err)?;
    let first = pid(&mut conn).await?;
    other
        .execute(sqlx::raw_sql("BEGIN"))
        .await
        .map_err(db_err)?;
    let others = pid(&mut other).await?;
    let again = pid(&mut conn).await?;
    let _ = other.execute(sqlx::raw_sql("ROLLBACK")).await;
    let _ = other.close().await;
    let _ = conn.close().await;
    if others == first || again != first {
        return Err(RunnerError::Config(
            "the database URL goes through a connection pooler in transaction mode: the \
             runner needs a session of its own (its advisory lock, its prepared statements). \
             Set MIGRATION_DATABASE_URL (or pass -u) to a direct connection to the primary"
                .into(),
        ));
    }
    Ok(())
}
