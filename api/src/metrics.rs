//! Counters served on `/metrics` (Prometheus text format). The SQL statement count is what the
//! N+1 test and the benchmarks read: it must not grow with the page size.

use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::db::Db;

static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static FAILED_STATEMENTS: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Counts every statement the pool runs.
pub fn install(db: &mut sea_orm::DatabaseConnection) {
    db.set_metric_callback(|info| {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        if info.failed {
            FAILED_STATEMENTS.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// Counts one HTTP request.
pub fn request() {
    REQUESTS.fetch_add(1, Ordering::Relaxed);
}

/// The counters in Prometheus text format.
pub fn render() -> String {
    let mut out = String::new();
    for (name, help, value) in [
        (
            "inventory_db_statements_total",
            "SQL statements executed.",
            &STATEMENTS,
        ),
        (
            "inventory_db_statement_errors_total",
            "SQL statements that failed.",
            &FAILED_STATEMENTS,
        ),
        (
            "inventory_http_requests_total",
            "HTTP requests served.",
            &REQUESTS,
        ),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            value.load(Ordering::Relaxed)
        ));
    }
    out
}

/// How long `/metrics` waits for the replica's answer.
const REPLICA_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The read replica's lag in seconds: 0 when it streams from the primary and has replayed all
/// it received; else the time since the last transaction it replayed committed on the primary
/// (which, after the primary was idle, overstates: it errs towards the alarm). A replica cut
/// off from its primary has replayed all it received and is still behind: without a streaming
/// WAL receiver it counts as behind. `None` when it does not answer in time, or is no replica.
async fn replica_lag(replica: &Db) -> Option<f64> {
    let stmt = Statement::from_string(
        DbBackend::Postgres,
        "SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL
                     WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()
                          AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
                     THEN 0::float8
                     ELSE coalesce(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)::float8
                END AS lag",
    );
    let row = tokio::time::timeout(REPLICA_PROBE_TIMEOUT, replica.query_one_raw(stmt))
        .await
        .ok()?
        .ok()??;
    row.try_get::<Option<f64>>("", "lag").ok()?
}

/// The replica's gauges: whether it answered, and its lag.
pub async fn render_replica(replica: &Db) -> String {
    let lag = replica_lag(replica).await;
    let mut out = format!(
        "# HELP inventory_db_replica_up Whether the read replica answered as a replica.\n\
         # TYPE inventory_db_replica_up gauge\ninventory_db_replica_up {}\n",
        u8::from(lag.is_some())
    );
    if let Some(lag) = lag {
        out.push_str(&format!(
            "# HELP inventory_db_replica_lag_seconds How far the read replica's replay is behind \
             the primary (0 when it replayed all it received).\n\
             # TYPE inventory_db_replica_lag_seconds gauge\ninventory_db_replica_lag_seconds {lag}\n"
        ));
    }
    out
}
