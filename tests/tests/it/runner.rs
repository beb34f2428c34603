//! The `migration` runner as init containers and the runbook use it (DESIGN §3).

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::schema::{expected_counts, migrated, runbook_counts};
use crate::support::*;

const M3: &str = "m20251205_152202_add_digital_asset_models";
const M4: &str = "m20261124_100000_add_lookup_indexes";
const M5: &str = "m20261125_000000_require_location_purpose";
const M6: &str = "m20261126_000000_transfer_reference_data";
const M7: &str = "m20261127_000000_create_change_log";
const M8: &str = "m20261128_000000_asset_search_and_orderings";
const M9: &str = "m20261129_000000_tenant_key_on_links";
const M10: &str = "m20261130_000000_change_log_without_actor_index";

#[tokio::test]
async fn eight_concurrent_ups_on_an_empty_database_all_succeed_and_apply_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let start = Instant::now();
    let children: Vec<_> = (0..8).map(|_| spawn_migration(&db.url, &["up"])).collect();
    let mut runs = Vec::new();
    for child in children {
        runs.push(finish(child).await);
    }
    eprintln!(
        "8 concurrent `migration up`: {:?} wall time",
        start.elapsed()
    );
    for run in runs {
        run.success();
    }
    let conn = db.connect().await;
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM seaql_migrations").await,
        10
    );
    assert_eq!(runbook_counts(&conn).await, expected_counts());
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM countries").await,
        249
    );
    migration(&db.url, &["verify"]).await.success();
}

async fn status_exit_code_reports_pending_migrations(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let run = migration(&db.url, &["status", "--exit-code"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains("0 applied, 10 pending"),
        "{}",
        run.stdout
    );
    // Reading the status creates nothing.
    migration(&db.url, &["up", "-n", "2"]).await.success();
    let run = migration(&db.url, &["status", "--exit-code", "--json"]).await;
    assert_eq!(run.code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["pending"], 8);
    assert_eq!(json["migrations"][2]["name"], M3);
    assert_eq!(json["migrations"][2]["applied"], false);
    migration(&db.url, &["up"]).await.success();
    migration(&db.url, &["status", "--exit-code"])
        .await
        .success();
    // Without --exit-code, pending migrations are information, not failure.
    migration(&db.url, &["down"]).await.success();
    migration(&db.url, &["status"]).await.success();
}

async fn verify_passes_on_a_fresh_schema(backend: Backend) {
    let Some((db, _conn)) = migrated(backend).await else {
        return;
    };
    let run = migration(&db.url, &["verify"]).await.success();
    assert!(
        run.stdout.contains("OK: the live schema matches"),
        "{}",
        run.stdout
    );
    let json: serde_json::Value = serde_json::from_str(
        &migration(&db.url, &["verify", "--json"])
            .await
            .success()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["drift"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn verify_names_a_dropped_index_an_added_enum_value_and_a_changed_foreign_key() {
    let Some((db, conn)) = migrated(Backend::Postgres).await else {
        return;
    };
    exec(&conn, "DROP INDEX idx_digital_assets_org_type").await;
    let run = migration(&db.url, &["verify"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout
            .contains("MISSING Index idx_digital_assets_org_type"),
        "{}",
        run.stdout
    );

    exec(
        &conn,
        "CREATE INDEX idx_digital_assets_org_type ON digital_assets (organization_id, type)",
    )
    .await;
    exec(&conn, "ALTER TYPE \"AssetType\" ADD VALUE 'MAINFRAME'").await;
    let run = migration(&db.url, &["verify"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout.contains("DIFFERS EnumType AssetType"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("OTHER, MAINFRAME`"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("idx_digital_assets_org_type"),
        "restored index still flagged"
    );

    exec(
        &conn,
        "ALTER TABLE asset_processing_locations DROP CONSTRAINT fk_asset_processing_locations_country_id,
         ADD CONSTRAINT fk_asset_processing_locations_country_id FOREIGN KEY (country_id)
         REFERENCES countries (id) ON DELETE CASCADE",
    )
    .await;
    let run = migration(&db.url, &["verify", "--json"]).await;
    assert_eq!(run.code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let fk = json["drift"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["object"] == "fk_asset_processing_locations_country_id")
        .expect("the changed foreign key is named");
    assert_eq!(fk["problem"], "differs");
    assert!(fk["found"].as_str().unwrap().contains("ON DELETE CASCADE"));
}

#[tokio::test]
async fn verify_flags_an_invalid_index() {
    let Some((db, conn)) = migrated(Backend::Postgres).await else {
        return;
    };
    exec(&conn, "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_digital_assets_org_type'::regclass").await;
    let run = migration(&db.url, &["verify"]).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stdout
            .contains("INVALID Index idx_digital_assets_org_type"),
        "{}",
        run.stdout
    );
}

async fn sql_up_prints_the_migration_and_changes_nothing(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let run = migration(&db.url, &["sql", "up"]).await.success();
    if backend == Backend::Postgres {
        assert!(
            run.stdout
                .contains("CREATE TYPE \"AssetType\" AS ENUM ('ANALYTICS_PLATFORM'"),
            "{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("CREATE TABLE \"digital_assets\""));
    assert!(run.stdout.contains(&format!("-- {M3} (up)")));
    let conn = db.connect().await;
    let tables = match backend {
        Backend::Postgres => {
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        }
        Backend::Sqlite => "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
    };
    assert_eq!(
        scalar_i64(&conn, tables).await,
        0,
        "sql up must not touch the database"
    );
    // Once applied, nothing is left to print; `sql down` prints the rollback.
    migration(&db.url, &["up"]).await.success();
    assert_eq!(
        migration(&db.url, &["sql", "up"])
            .await
            .success()
            .stdout
            .trim(),
        "-- nothing to run"
    );
    let down = migration(&db.url, &["sql", "down", "-n", "7"])
        .await
        .success()
        .stdout;
    assert!(
        down.contains("DROP INDEX IF EXISTS \"idx_digital_assets_org_name_id\""),
        "{down}"
    );
    let down = migration(&db.url, &["sql", "down", "-n", "8"])
        .await
        .success()
        .stdout;
    assert!(
        down.contains("DROP TABLE \"asset_processing_locations\""),
        "{down}"
    );
    if backend == Backend::Postgres {
        assert!(down.contains("DROP TYPE \"AssetType\""), "{down}");
    }
    migration(&db.url, &["verify"]).await.success();
}

async fn down_refuses_to_drop_tables_holding_rows_unless_forced(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    organization_with_an_asset(&conn).await;
    // The change log's actor index, the links' tenant key, the search indexes, the change log,
    // the reference columns, the purpose rule and the lookup indexes would go first (no rows),
    // then the asset tables.
    let run = migration(&db.url, &["down", "-n", "8"]).await;
    assert_eq!(run.code, Some(7), "{run:?}");
    assert!(
        run.stderr.contains("digital_assets: 1 rows"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM digital_assets").await,
        1
    );
    migration(&db.url, &["status", "--exit-code"])
        .await
        .success();

    let run = migration(&db.url, &["down", "-n", "8", "--force", "--json"])
        .await
        .success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["rolled_back"][0], M10);
    assert_eq!(json["rolled_back"][1], M9);
    assert_eq!(json["rolled_back"][2], M8);
    assert_eq!(json["rolled_back"][3], M7);
    assert_eq!(json["rolled_back"][4], M6);
    assert_eq!(json["rolled_back"][5], M5);
    assert_eq!(json["rolled_back"][6], M4);
    assert_eq!(json["rolled_back"][7], M3);
    assert_eq!(
        migration(&db.url, &["status", "--exit-code"]).await.code,
        Some(1)
    );
}

async fn resolve_records_a_migration_without_running_it(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    migration(&db.url, &["resolve", "--rolled-back", M3])
        .await
        .success();
    assert_eq!(
        migration(&db.url, &["status", "--exit-code"]).await.code,
        Some(1)
    );
    // Nothing was dropped: this is the runbook's "relation already exists" recovery.
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM digital_assets").await,
        0
    );
    let run = migration(&db.url, &["up"]).await;
    assert_eq!(
        run.code,
        Some(6),
        "re-running an applied migration must fail: {run:?}"
    );
    assert!(
        run.stderr.contains(M3) && run.stderr.contains("rolled back"),
        "{}",
        run.stderr
    );
    migration(&db.url, &["resolve", "--applied", M3])
        .await
        .success();
    migration(&db.url, &["status", "--exit-code"])
        .await
        .success();
    let again = migration(&db.url, &["resolve", "--applied", M3])
        .await
        .success();
    assert!(again.stdout.contains("already"), "{}", again.stdout);
    let unknown = migration(&db.url, &["resolve", "--applied", "m20990101_000000_nope"]).await;
    assert_eq!(unknown.code, Some(7));
    assert!(
        unknown.stderr.contains("not a migration of this binary"),
        "{}",
        unknown.stderr
    );
}

async fn smoke_runs_the_runbook_test_and_leaves_nothing_behind(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    let run = migration(&db.url, &["smoke"]).await;
    assert_eq!(run.code, Some(7), "{run:?}");
    assert!(
        run.stderr.contains("no organization exists"),
        "{}",
        run.stderr
    );
    exec(
        &conn,
        "INSERT INTO organizations (id, name, slug) VALUES ('o', 'O', 'o')",
    )
    .await;
    let run = migration(&db.url, &["smoke", "--json"]).await.success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["smoke"]["steps"],
        serde_json::json!(["insert", "read", "delete", "rollback"])
    );
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM digital_assets").await,
        0
    );
}

async fn destructive_commands_need_yes(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    exec(
        &conn,
        "INSERT INTO organizations (id, name, slug) VALUES ('o', 'O', 'o')",
    )
    .await;
    for command in ["fresh", "refresh", "reset"] {
        let run = migration(&db.url, &[command]).await;
        assert_eq!(run.code, Some(7), "{command}: {run:?}");
        assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    }
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM organizations").await,
        1
    );
    migration(&db.url, &["reset", "--yes"]).await.success();
    assert_eq!(
        migration(&db.url, &["status", "--exit-code"]).await.code,
        Some(1)
    );
    migration(&db.url, &["fresh", "--yes"]).await.success();
    migration(&db.url, &["verify"]).await.success();
}

on_both_backends!(
    status_exit_code_reports_pending_migrations,
    verify_passes_on_a_fresh_schema,
    sql_up_prints_the_migration_and_changes_nothing,
    down_refuses_to_drop_tables_holding_rows_unless_forced,
    resolve_records_a_migration_without_running_it,
    smoke_runs_the_runbook_test_and_leaves_nothing_behind,
    destructive_commands_need_yes,
);

#[tokio::test]
async fn an_unreachable_database_fails_after_the_wait_timeout_with_a_clear_message() {
    let start = Instant::now();
    let run = migration(
        "postgres://postgres@127.0.0.1:1/none",
        &["up", "--wait-timeout", "2"],
    )
    .await;
    let took = start.elapsed();
    assert_eq!(run.code, Some(4), "{run:?}");
    assert!(
        run.stderr
            .starts_with("error: database unreachable after waiting 2s"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"));
    assert!(
        took >= Duration::from_millis(1500),
        "gave up before the timeout: {took:?}"
    );
    assert!(
        took < Duration::from_secs(30),
        "kept waiting far past the timeout: {took:?}"
    );
}

#[tokio::test]
async fn a_bad_url_is_a_configuration_error() {
    let run = migration("mysql://root@127.0.0.1/x", &["status"]).await;
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(
        run.stderr
            .contains("unsupported database URL scheme `mysql`"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn up_gives_up_when_another_runner_holds_the_lock_past_the_lock_timeout() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let holder = db.connect().await;
    let key = migration::runner::ADVISORY_LOCK_KEY;
    exec(&holder, &format!("SELECT pg_advisory_lock({key})")).await;
    let run = migration(&db.url, &["up", "--lock-timeout", "1s"]).await;
    assert_eq!(run.code, Some(5), "{run:?}");
    assert!(run.stderr.contains("migration lock"), "{}", run.stderr);
    holder.close().await.ok();
    migration(&db.url, &["up"]).await.success();
}

#[tokio::test]
async fn a_migration_blocked_by_a_long_transaction_times_out_retries_and_rolls_back() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    migration(&db.url, &["up", "-n", "2"]).await.success();
    let blocker = db.connect().await;
    // A long transaction that wrote to organizations: the new foreign keys must wait for it.
    let txn = sea_orm::TransactionTrait::begin(&blocker).await.unwrap();
    txn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        "INSERT INTO organizations (id, name, slug) VALUES ('o', 'O', 'o')",
    ))
    .await
    .unwrap();
    let run = migration(
        &db.url,
        &["up", "--ddl-lock-timeout", "200ms", "--ddl-retries", "2"],
    )
    .await;
    assert_eq!(run.code, Some(6), "{run:?}");
    assert!(
        run.stderr.contains(M3) && run.stderr.contains("lock timeout"),
        "{}",
        run.stderr
    );
    txn.rollback().await.unwrap();
    let conn = db.connect().await;
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT count(*) FROM pg_type WHERE typname = 'AssetType'"
        )
        .await,
        0,
        "the failed migration must leave nothing behind"
    );
    migration(&db.url, &["up"]).await.success();
    migration(&db.url, &["verify"]).await.success();
}

#[tokio::test]
async fn up_rebuilds_a_lookup_index_that_an_interrupted_concurrent_build_left_invalid() {
    let Some((db, conn)) = migrated(Backend::Postgres).await else {
        return;
    };
    // What a CREATE INDEX CONCURRENTLY killed halfway leaves: the index, marked invalid, and
    // no history row for its migration.
    exec(&conn, "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_digital_assets_org_name_id'::regclass").await;
    migration(&db.url, &["resolve", "--rolled-back", M4])
        .await
        .success();
    assert_eq!(migration(&db.url, &["verify"]).await.code, Some(1));
    migration(&db.url, &["up"]).await.success();
    migration(&db.url, &["verify"]).await.success();
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM pg_index WHERE NOT indisvalid").await,
        0
    );
}

#[tokio::test]
async fn killing_up_mid_migration_and_rerunning_it_leaves_a_correct_schema() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let conn = db.connect().await;
    for delay_ms in [30, 80, 150, 300] {
        let mut child = spawn_migration(&db.url, &["up"]);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        child.start_kill().ok();
        let _ = child.wait().await;
        migration(&db.url, &["up"]).await.success();
        migration(&db.url, &["verify"]).await.success();
        assert_eq!(runbook_counts(&conn).await, expected_counts());
        migration(&db.url, &["reset", "--yes"]).await.success();
    }
}

#[tokio::test]
async fn log_format_json_writes_json_lines_to_stderr_and_keeps_stdout_for_the_answer() {
    let db = TestDb::sqlite();
    let out = tokio::process::Command::new(binary("migration"))
        .args(["-v", "up", "--json"])
        .env("DATABASE_URL", &db.url)
        .env("LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let answer: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(answer["applied"].as_array().map(Vec::len), Some(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty(), "-v logs progress");
    for line in lines {
        let log: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(
            log["level"].is_string() && log["fields"].is_object(),
            "{line}"
        );
    }
}
