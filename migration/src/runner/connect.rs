//! Connecting, and waiting for a database that is still starting (init containers start first).

use std::time::{Duration, Instant};

use sea_orm_migration::sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use tracing::warn;

use super::backoff::Backoff;
use super::{RunnerError, describe};

/// A connected database and the URL it came from (the lock needs a connection of its own).
#[derive(Debug, Clone)]
pub struct Target {
    pub db: DatabaseConnection,
    pub url: String,
}

impl Target {
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }
}

/// Connects to `url`, retrying with backoff until `wait` has passed.
pub async fn connect(url: &str, wait: Duration) -> Result<Target, RunnerError> {
    let scheme = url.split(':').next().unwrap_or_default();
    if !matches!(scheme, "postgres" | "postgresql" | "sqlite") {
        return Err(RunnerError::Config(format!(
            "unsupported database URL scheme `{scheme}`: use postgres://… or sqlite://…"
        )));
    }
    let start = Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        // Each probe is bounded by what is left of the wait: sqlx's own connect retries until
        // its acquire timeout, which would overrun a short --wait-timeout.
        let remaining = wait.saturating_sub(start.elapsed());
        let bound = remaining.clamp(Duration::from_millis(250), Duration::from_secs(10));
        // The pool that answered is the one kept: each new connection costs a TLS handshake
        // (about 85 ms with sqlx's rustls here, most of a migration run).
        let err = match Database::connect(options(url, bound)).await {
            Ok(db) => match db.ping().await {
                Ok(()) => {
                    if db.get_database_backend() == DbBackend::Postgres {
                        super::pooler::refuse_transaction_pooler(url).await?;
                    }
                    return Ok(Target {
                        db,
                        url: url.to_owned(),
                    });
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        if start.elapsed() + backoff.delay() >= wait {
            return Err(RunnerError::Unreachable {
                waited: wait,
                last: describe(&err),
            });
        }
        warn!(error = %describe(&err), retry_in = ?backoff.delay(), "database not reachable yet");
        backoff.sleep().await;
    }
}

fn options(url: &str, timeout: Duration) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(4)
        .min_connections(0)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        .sqlx_logging_level(log::LevelFilter::Debug)
        .map_sqlx_sqlite_opts(|o| o.create_if_missing(true));
    opts
}
