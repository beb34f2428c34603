//! The PostgreSQL advisory lock that lets any number of runners start at once: one migrates,
//! the others wait, then find nothing pending.

use std::future::Future;
use std::time::{Duration, Instant};

use sea_orm_migration::sea_orm::sqlx::{self, Connection, PgConnection};
use tracing::{info, warn};

use super::RunnerError;
use super::backoff::Backoff;

/// The lock's key: "dai-migr" in ASCII, so `pg_locks` shows what holds it.
pub const ADVISORY_LOCK_KEY: i64 = 0x6461_692d_6d69_6772;

/// A held session-level advisory lock on a connection of its own; released by `release`, or by
/// PostgreSQL when the process dies and its session ends.
#[derive(Debug)]
pub struct MigrationLock {
    conn: PgConnection,
}

impl MigrationLock {
    /// Takes the lock, polling `pg_try_advisory_lock` with backoff until `timeout`. A blocking
    /// `pg_advisory_lock` would wait inside a session that `CREATE INDEX CONCURRENTLY` of the
    /// holder must wait for in turn: a deadlock.
    pub async fn acquire(url: &str, timeout: Duration) -> Result<Self, RunnerError> {
        let never = || async { Ok(false) };
        match Self::acquire_unless(url, timeout, never).await? {
            Some(lock) => Ok(lock),
            None => Err(RunnerError::LockTimeout(timeout)),
        }
    }

    /// Like [`acquire`](Self::acquire), but between polls asks `done` whether the work is
    /// already done (another runner finished it), and then returns `None` without the lock.
    pub async fn acquire_unless<F, Fut>(
        url: &str,
        timeout: Duration,
        mut done: F,
    ) -> Result<Option<Self>, RunnerError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, RunnerError>>,
    {
        let mut conn = PgConnection::connect(url).await.map_err(db_err)?;
        let start = Instant::now();
        // Spread the pollers so they do not wake in step.
        let jitter = Duration::from_millis(u64::from(std::process::id() % 17));
        let mut backoff =
            Backoff::new(Duration::from_millis(25), Duration::from_millis(250)).with_jitter(jitter);
        let mut told = false;
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(ADVISORY_LOCK_KEY)
                .fetch_one(&mut conn)
                .await
                .map_err(db_err)?;
            if got {
                info!(waited = ?start.elapsed(), "migration lock taken");
                return Ok(Some(Self { conn }));
            }
            if start.elapsed() + backoff.delay() > timeout {
                let _ = conn.close().await;
                return Err(RunnerError::LockTimeout(timeout));
            }
            if !told {
                warn!("another migration runner holds the lock; waiting");
                told = true;
            }
            backoff.sleep().await;
            if done().await? {
                info!(waited = ?start.elapsed(), "another runner did the work");
                let _ = conn.close().await;
                return Ok(None);
            }
        }
    }

    /// Releases the lock and closes its connection.
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(ADVISORY_LOCK_KEY)
            .execute(&mut self.conn)
            .await;
        let _ = self.conn.close().await;
    }
}

pub(super) fn db_err(e: sqlx::Error) -> RunnerError {
    RunnerError::Db(sea_orm_migration::sea_orm::DbErr::Conn(
        sea_orm_migration::sea_orm::RuntimeErr::SqlxError(e.into()),
    ))
}
