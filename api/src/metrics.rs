//! Counters served on `/metrics` (Prometheus text format). The SQL statement count is what the
//! N+1 test and the benchmarks read: it must not grow with the page size.

use std::sync::atomic::{AtomicU64, Ordering};

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
