//! Behind a real PgBouncer in transaction mode: the api with `DATABASE_POOLER=transaction` runs
//! the benchmark's `mixed` workload without an error (and without the setting it does not), and
//! the migration runner refuses the pooler and works on `MIGRATION_DATABASE_URL`.

use crate::support::pgbouncer::PgBouncer;
use crate::support::*;

/// Organizations and assets of the small data set the workload runs on.
const ORGS: &str = "3";
const ASSETS: &str = "100";

/// A fresh database seeded by `bench seed` with the small data set.
async fn seeded() -> Option<TestDb> {
    let db = TestDb::new(Backend::Postgres).await?;
    let out = tokio::process::Command::new(binary("bench"))
        .args([
            "--database-url",
            &db.url,
            "seed",
            "--orgs",
            ORGS,
            "--assets",
            ASSETS,
        ])
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run bench seed");
    Run::from(out).success();
    Some(db)
}

/// The database's name, the last segment of its URL.
fn name(db: &TestDb) -> &str {
    db.url.rsplit('/').next().expect("a database name")
}

/// Runs 1,500 requests of `mixed` (80% reads, 20% creates) at 16 connections against `api`.
async fn mixed(api: &Api) -> Run {
    let out = tokio::process::Command::new(binary("bench"))
        .args(["--database-url", &api.db.url, "load", "--api", &api.addr()])
        .args([
            "--secret",
            SECRET,
            "--workload",
            "mixed",
            "--connections",
            "16",
        ])
        .args(["--warmup", "0", "--requests", "1500"])
        .args(["--orgs", ORGS, "--assets", ASSETS])
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run bench load");
    Run::from(out)
}

/// With the setting, every request of the workload succeeds through PgBouncer (4 server
/// connections for 16 clients, so server connections change hands all the time).
#[tokio::test]
async fn the_mixed_workload_through_pgbouncer_in_transaction_mode_has_no_error() {
    let Some(bouncer) = PgBouncer::shared().await else {
        return;
    };
    let Some(db) = seeded().await else {
        return;
    };
    let url = bouncer.url(name(&db));
    let api = Api::on_with(
        db,
        &[("DATABASE_URL", &url), ("DATABASE_POOLER", "transaction")],
    )
    .await;
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let run = mixed(&api).await;
    assert!(
        run.code == Some(0) && run.stdout.contains(" 0 errors"),
        "stdout:\n{}\nstderr:\n{}\npgbouncer:\n{}",
        run.stdout,
        run.stderr,
        bouncer.log()
    );
}

/// Without it, the same workload fails: what the setting is for, and proof that the pooler in
/// front really hands server connections from one client to another.
#[tokio::test]
async fn without_the_setting_the_same_workload_fails() {
    let Some(bouncer) = PgBouncer::shared().await else {
        return;
    };
    let Some(db) = seeded().await else {
        return;
    };
    let url = bouncer.url(name(&db));
    // Its log would be thousands of errors (and the driver's panics on rows of another
    // client's statement): the outcome is what counts.
    let api = Api::on_with(
        db,
        &[
            ("DATABASE_URL", &url),
            ("RUST_LOG", "off"),
            ("RUST_BACKTRACE", "0"),
        ],
    )
    .await;
    let run = mixed(&api).await;
    assert_ne!(run.code, Some(0), "{}", run.stdout);
    assert!(run.stderr.contains("requests failed"), "{}", run.stderr);
}

/// The runner refuses a URL that leads to the pooler (its lock needs a session), says what to
/// do, and migrates with MIGRATION_DATABASE_URL set to the primary while DATABASE_URL still
/// names the pooler, as in the Kubernetes manifests.
#[tokio::test]
async fn the_runner_refuses_the_pooler_and_uses_migration_database_url() {
    // A PgBouncer of its own: no other client's traffic decides which server it is handed.
    let Some(bouncer) = PgBouncer::start().await else {
        return;
    };
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let pooled = bouncer.url(name(&db));
    let run = migration(&pooled, &["up"]).await;
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(
        run.stderr.contains("connection pooler in transaction mode")
            && run.stderr.contains("MIGRATION_DATABASE_URL"),
        "{}",
        run.stderr
    );
    let conn = db.connect().await;
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'seaql_migrations'"
        )
        .await,
        0,
        "the refused run created the history table"
    );

    let out = tokio::process::Command::new(binary("migration"))
        .arg("up")
        .env("DATABASE_URL", &pooled)
        .env("MIGRATION_DATABASE_URL", &db.url)
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("run migration");
    Run::from(out).success();
    let status = migration(&db.url, &["status", "--exit-code"]).await;
    assert_eq!(status.code, Some(0), "{status:?}");
}
