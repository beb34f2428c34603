//! The runner under the conditions that made it hang, lie or panic: long transactions in front
//! of an online index build, `psql -1` of the review script, degenerate arguments, database
//! errors as operators read them; and the database's own "purposeId or purposeText" rule.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};

use crate::schema::migrated;
use crate::support::*;

const M3: &str = "m20251205_152202_add_digital_asset_models";
const M5: &str = "m20261125_000000_require_location_purpose";
const M6: &str = "m20261126_000000_transfer_reference_data";
const M7: &str = "m20261127_000000_create_change_log";
const M8: &str = "m20261128_000000_asset_search_and_orderings";
const M9: &str = "m20261129_000000_tenant_key_on_links";
const M10: &str = "m20261130_000000_change_log_without_actor_index";
const RULE: &str = "chk_asset_locations_purpose";

/// No test here may take longer than this, whatever the runner does.
const BOUND: Duration = Duration::from_secs(30);

/// Runs `migration <args>`, killing it (and failing the test) past [`BOUND`].
async fn bounded(url: &str, args: &[&str]) -> (Run, Duration) {
    let start = Instant::now();
    match tokio::time::timeout(BOUND, migration(url, args)).await {
        Ok(run) => (run, start.elapsed()),
        Err(_) => panic!(
            "`migration {}` still running after {BOUND:?}",
            args.join(" ")
        ),
    }
}

/// A session of `conn`'s database idle in an open transaction, after running `statements`; with
/// its backend pid.
async fn idle_in_transaction(
    conn: &DatabaseConnection,
    statements: &[&str],
) -> (DatabaseTransaction, i64) {
    let txn = conn.begin().await.unwrap();
    for sql in statements {
        exec(&txn, sql).await;
    }
    let pid = scalar_i64(&txn, "SELECT pg_backend_pid()::bigint").await;
    (txn, pid)
}

/// Advisory locks held in this database (the migration lock is one).
async fn advisory_locks(conn: &DatabaseConnection) -> i64 {
    scalar_i64(
        conn,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .await
}

// 1. `up` is bounded by --ddl-lock-timeout on both paths, and names what blocked it.

/// What keeps `CREATE INDEX CONCURRENTLY` waiting: a transaction holding a snapshot (a report or
/// `pg_dump` in REPEATABLE READ) or one that wrote to the table and has not committed. (An idle
/// READ COMMITTED transaction holds no snapshot between statements, and does not.)
const INDEX_BUILD_BLOCKERS: [&[&str]; 2] = [
    &[
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "SELECT 1 FROM digital_assets LIMIT 1",
    ],
    &[
        "INSERT INTO organizations (id, name, slug) VALUES ('o', 'O', 'o')",
        "INSERT INTO digital_assets (id, organization_id, name, type) VALUES ('a', 'o', 'A', 'CRM')",
    ],
];

#[tokio::test]
async fn up_gives_up_on_an_index_build_behind_an_idle_transaction_and_names_the_session() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    migration(&db.url, &["up", "-n", "3"]).await.success();
    let conn = db.connect().await;
    for statements in INDEX_BUILD_BLOCKERS {
        let (blocker, pid) = idle_in_transaction(&conn, statements).await;
        let (run, took) = bounded(
            &db.url,
            &["up", "--ddl-lock-timeout", "1s", "--ddl-retries", "1"],
        )
        .await;
        assert_eq!(run.code, Some(6), "{statements:?}: {run:?}");
        assert!(took < Duration::from_secs(20), "took {took:?}");
        let error = run.stderr.lines().last().unwrap_or_default();
        assert!(error.starts_with("error: "), "{}", run.stderr);
        assert!(error.contains("lock timeout"), "{error}");
        assert!(error.contains(&format!("pid {pid}")), "{error}");
        assert!(error.contains("idle in transaction"), "{error}");
        assert!(!error.contains(" at line "), "{error}");
        // Seen while it waits, at the default log level.
        assert!(
            run.stderr.contains("WARN") && run.stderr.contains("retry"),
            "{}",
            run.stderr
        );
        assert_eq!(
            run.stderr
                .lines()
                .filter(|l| l.starts_with("error"))
                .count(),
            1
        );
        assert_eq!(advisory_locks(&conn).await, 0, "the migration lock is held");
        blocker.rollback().await.unwrap();
    }
    // The interrupted build left an invalid index behind: the next `up` rebuilds it.
    migration(&db.url, &["up"]).await.success();
    migration(&db.url, &["verify"]).await.success();
}

#[tokio::test]
async fn a_transactional_migration_that_keeps_timing_out_names_the_blocking_session() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    migration(&db.url, &["up", "-n", "2"]).await.success();
    let conn = db.connect().await;
    // It wrote to organizations: the new foreign keys must wait for it.
    let (blocker, pid) = idle_in_transaction(
        &conn,
        &["INSERT INTO organizations (id, name, slug) VALUES ('o', 'O', 'o')"],
    )
    .await;
    let (run, _) = bounded(
        &db.url,
        &["up", "--ddl-lock-timeout", "200ms", "--ddl-retries", "1"],
    )
    .await;
    assert_eq!(run.code, Some(6), "{run:?}");
    let error = run.stderr.lines().last().unwrap_or_default();
    assert!(
        error.contains(M3) && error.contains("rolled back"),
        "{error}"
    );
    assert!(error.contains(&format!("pid {pid}")), "{error}");
    assert!(!error.contains(" at line "), "{error}");
    blocker.rollback().await.unwrap();
    migration(&db.url, &["up"]).await.success();
}

// 2. The review script is one transaction under `psql -1`.

#[tokio::test]
async fn the_sql_up_script_runs_as_one_transaction_under_psql() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let script = migration(&db.url, &["sql", "up"]).await.success().stdout;
    // No statement of its own opens or ends a transaction (a `DO $$ BEGIN … END $$` block's
    // BEGIN is PL/pgSQL's, not one).
    assert!(
        !script.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with("BEGIN") || l.starts_with("COMMIT")
        }),
        "{script}"
    );
    let file = temp_file("sql", &script);
    let out = tokio::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f"])
        .arg(&file)
        .arg(&db.url)
        .output()
        .await
        .expect("psql is installed");
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("WARNING"), "{stderr}");
    migration(&db.url, &["status", "--exit-code"])
        .await
        .success();
    migration(&db.url, &["verify"]).await.success();
}

#[tokio::test]
async fn the_sql_up_script_runs_as_one_transaction_under_sqlite3() {
    let db = TestDb::sqlite();
    let script = migration(&db.url, &["sql", "up"]).await.success().stdout;
    let path = db
        .url
        .trim_start_matches("sqlite://")
        .trim_end_matches("?mode=rwc");
    let out = tokio::process::Command::new("sqlite3")
        .args(["-bail", path])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = out else {
        eprintln!("SKIPPED: no sqlite3 command");
        return;
    };
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        let wrapped = format!("PRAGMA foreign_keys = ON;\nBEGIN;\n{script}\nCOMMIT;\n");
        stdin.write_all(wrapped.as_bytes()).await.unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{stderr}");
    migration(&db.url, &["status", "--exit-code"])
        .await
        .success();
    migration(&db.url, &["verify"]).await.success();
}

/// A file in the temporary directory holding `text`.
fn temp_file(ext: &str, text: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("dai_test_{}.{ext}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, text).unwrap();
    path
}

// 3. `-n 0` is refused, before connecting.

async fn a_count_of_zero_is_a_usage_error_and_applies_nothing(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    for args in [
        &["up", "-n", "0"][..],
        &["down", "-n", "0"],
        &["sql", "up", "-n", "0"],
        &["sql", "down", "--num", "0"],
    ] {
        let run = migration(&db.url, args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(run.stderr.contains("0"), "{}", run.stderr);
        assert!(!run.stdout.contains("up to date"), "{}", run.stdout);
    }
    assert_eq!(
        migration(&db.url, &["status", "--exit-code"]).await.code,
        Some(1),
        "nothing may be applied"
    );
}

#[tokio::test]
async fn a_count_of_zero_is_refused_without_connecting() {
    let (run, took) = bounded("postgres://postgres@127.0.0.1:1/none", &["up", "-n", "0"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        took < Duration::from_secs(5),
        "it tried to connect: {took:?}"
    );
}

// 4. Each destructive command does what it says.

async fn refresh_rolls_everything_back_and_applies_it_again(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    organization_with_an_asset(&conn).await;
    let run = migration(&db.url, &["refresh", "--yes", "--json"])
        .await
        .success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["command"], "refresh");
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM organizations").await,
        0
    );
    migration(&db.url, &["status", "--exit-code"])
        .await
        .success();
    migration(&db.url, &["verify"]).await.success();
}

// 5. Durations.

#[tokio::test]
async fn an_overflowing_duration_is_a_usage_error_not_a_panic() {
    for args in [
        &["status", "--wait-timeout", "999999999999999999m"][..],
        &["status", "--lock-timeout", "99999999999999999999"],
        &["status", "--ddl-lock-timeout", "0"],
        &["status", "--ddl-lock-timeout", "30d"],
        &["status", "--wait-timeout", "soon"],
    ] {
        let (run, _) = bounded("postgres://postgres@127.0.0.1:1/none", args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(run.stderr.contains(args[1]), "{}", run.stderr);
    }
}

#[tokio::test]
async fn durations_take_seconds_by_default_and_human_units() {
    let db = TestDb::sqlite();
    for value in ["90", "90s", "500ms", "2m", "1m 30s", "1h"] {
        migration(&db.url, &["status", "--wait-timeout", value])
            .await
            .success();
    }
}

// 6. Database errors as the server wrote them.

async fn a_failed_migration_reports_the_server_message_without_its_source_line(backend: Backend) {
    let Some((db, _conn)) = migrated(backend).await else {
        return;
    };
    migration(&db.url, &["resolve", "--rolled-back", M3])
        .await
        .success();
    let run = migration(&db.url, &["up"]).await;
    assert_eq!(run.code, Some(6), "{run:?}");
    let error = run.stderr.lines().last().unwrap_or_default();
    assert!(error.contains(M3), "{error}");
    assert!(error.contains("already exists"), "{error}");
    assert!(!error.contains(" at line "), "{error}");
    if backend == Backend::Postgres {
        // "type "AssetType" already exists": duplicate_object.
        assert!(error.contains("(SQLSTATE 42710)"), "{error}");
    }
    assert!(!error.contains("Execution Error"), "{error}");
}

// 7. A migration recorded by a newer binary.

async fn an_unknown_applied_migration_is_named_and_not_a_database_error(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    exec(
        &conn,
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20990101_000000_from_the_future', 0)",
    )
    .await;
    for command in ["status", "up", "verify"] {
        let run = migration(&db.url, &[command]).await;
        assert_eq!(run.code, Some(6), "{command}: {run:?}");
        assert!(
            run.stderr.starts_with(
                "error: the database records migration m20990101_000000_from_the_future"
            ),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("database error"), "{}", run.stderr);
        assert!(!run.stderr.contains("Custom Error"), "{}", run.stderr);
    }
}

// 8. The database holds the "purposeId or purposeText" rule.

/// An organization with a purpose, an asset linked to an activity, and a location that states its
/// purpose only by `purpose_id`.
const ORGANIZATION: &[&str] = &[
    "INSERT INTO organizations (id, name, slug) VALUES ('o', 'O', 'o')",
    "INSERT INTO purposes (id, organization_id, name) VALUES ('p', 'o', 'Payroll')",
    "INSERT INTO data_processing_activities (id, organization_id, name) VALUES ('act', 'o', 'Payroll')",
    "INSERT INTO digital_assets (id, organization_id, name, type) VALUES ('a', 'o', 'HR', 'DATABASE')",
    "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, purpose_id, country_id, location_role)
     VALUES ('by-id', 'o', 'a', 'Backups', 'p', 'DE', 'HOSTING')",
    "INSERT INTO data_processing_activity_digital_assets (id, activity_id, digital_asset_id) VALUES ('link', 'act', 'a')",
];

async fn with_organization(backend: Backend) -> Option<(TestDb, DatabaseConnection)> {
    let (db, conn) = migrated(backend).await?;
    for sql in ORGANIZATION {
        exec(&conn, sql).await;
    }
    Some((db, conn))
}

fn location(id: &str, purpose_id: &str, purpose_text: &str) -> String {
    format!(
        "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, purpose_id, purpose_text, country_id, location_role)
         VALUES ('{id}', 'o', 'a', 'S', {purpose_id}, {purpose_text}, 'DE', 'BOTH')"
    )
}

async fn locations(conn: &DatabaseConnection) -> Vec<String> {
    strings(
        conn,
        "SELECT id FROM asset_processing_locations ORDER BY id",
    )
    .await
}

async fn a_location_without_a_purpose_is_refused_by_the_database(backend: Backend) {
    let Some((_db, conn)) = with_organization(backend).await else {
        return;
    };
    for (id, purpose_id, text) in [
        ("none", "NULL", "NULL"),
        ("empty", "NULL", "''"),
        ("blank", "NULL", "'   '"),
    ] {
        let err = exec_err(&conn, &location(id, purpose_id, text)).await;
        assert!(
            err.as_deref().is_some_and(|e| e.contains(RULE)),
            "{id}: {err:?}"
        );
    }
    exec(&conn, &location("text", "NULL", "' Payroll '")).await;
    exec(&conn, &location("both", "'p'", "'Payroll'")).await;
    for update in [
        "UPDATE asset_processing_locations SET purpose_id = NULL WHERE id = 'by-id'",
        "UPDATE asset_processing_locations SET purpose_text = ' ' WHERE id = 'text'",
        "UPDATE asset_processing_locations SET purpose_id = NULL, purpose_text = NULL WHERE id = 'both'",
    ] {
        let err = exec_err(&conn, update).await;
        assert!(
            err.as_deref().is_some_and(|e| e.contains(RULE)),
            "{update}: {err:?}"
        );
    }
    // Either half of the rule is enough.
    exec(
        &conn,
        "UPDATE asset_processing_locations SET purpose_id = NULL WHERE id = 'both'",
    )
    .await;
    exec(
        &conn,
        "UPDATE asset_processing_locations SET purpose_text = NULL, purpose_id = 'p' WHERE id = 'text'",
    )
    .await;
    assert_eq!(locations(&conn).await, ["both", "by-id", "text"]);
}

async fn deleting_a_purpose_a_location_relies_on_is_refused_but_its_organization_goes(
    backend: Backend,
) {
    let Some((_db, conn)) = with_organization(backend).await else {
        return;
    };
    // The purpose's ON DELETE SET NULL would leave `by-id` without a purpose.
    let err = exec_err(&conn, "DELETE FROM purposes WHERE id = 'p'").await;
    assert!(err.as_deref().is_some_and(|e| e.contains(RULE)), "{err:?}");
    assert_eq!(scalar_i64(&conn, "SELECT count(*) FROM purposes").await, 1);
    // With a text as well, the purpose goes and the location keeps its text.
    exec(
        &conn,
        "UPDATE asset_processing_locations SET purpose_text = 'Payroll' WHERE id = 'by-id'",
    )
    .await;
    exec(&conn, "DELETE FROM purposes WHERE id = 'p'").await;
    assert_eq!(
        strings(
            &conn,
            "SELECT purpose_text FROM asset_processing_locations WHERE purpose_id IS NULL"
        )
        .await,
        ["Payroll"]
    );

    // The organization's deletion cascades through its purposes, assets, locations and links.
    exec(
        &conn,
        "INSERT INTO organizations (id, name, slug) VALUES ('o2', 'O2', 'o2')",
    )
    .await;
    for sql in ORGANIZATION.iter().skip(1) {
        let sql = sql
            .replace("'o'", "'o2'")
            .replace("'p'", "'p2'")
            .replace("'act'", "'act2'")
            .replace("'a'", "'a2'")
            .replace("'by-id'", "'by-id2'")
            .replace("'link'", "'link2'");
        exec(&conn, &sql).await;
    }
    exec(&conn, "DELETE FROM organizations WHERE id = 'o2'").await;
    for table in [
        "purposes",
        "digital_assets",
        "asset_processing_locations",
        "data_processing_activities",
        "data_processing_activity_digital_assets",
    ] {
        assert_eq!(
            scalar_i64(
                &conn,
                &format!("SELECT count(*) FROM {table} WHERE id LIKE '%2'")
            )
            .await,
            0,
            "{table} kept o2's rows"
        );
    }
    exec(&conn, "DELETE FROM organizations WHERE id = 'o'").await;
    assert!(locations(&conn).await.is_empty());
}

async fn the_purpose_rule_round_trips_through_down_and_up(backend: Backend) {
    let Some((db, conn)) = with_organization(backend).await else {
        return;
    };
    // The change log's actor index, the links' tenant key, the search indexes, the change log
    // and the Chapter V reference data (applied after the rule) go first.
    let run = migration(&db.url, &["down", "-n", "6", "--json"])
        .await
        .success();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        json["rolled_back"],
        serde_json::json!([M10, M9, M8, M7, M6, M5])
    );
    // Down removed exactly the rule: verify finds nothing unexpected, and the rule is gone.
    migration(&db.url, &["verify"]).await.success();
    exec(&conn, &location("none", "NULL", "NULL")).await;
    exec(
        &conn,
        "DELETE FROM asset_processing_locations WHERE id = 'none'",
    )
    .await;
    migration(&db.url, &["up"]).await.success();
    migration(&db.url, &["verify"]).await.success();
    assert!(
        exec_err(&conn, &location("none", "NULL", "NULL"))
            .await
            .is_some()
    );
}

async fn up_of_the_purpose_rule_refuses_rows_that_break_it_and_changes_nothing(backend: Backend) {
    let Some((db, conn)) = with_organization(backend).await else {
        return;
    };
    migration(&db.url, &["down", "-n", "6"]).await.success();
    exec(&conn, &location("none", "NULL", "NULL")).await;
    exec(&conn, &location("blank", "NULL", "' '")).await;
    let run = migration(&db.url, &["up"]).await;
    assert_eq!(run.code, Some(6), "{run:?}");
    let error = run.stderr.lines().last().unwrap_or_default();
    assert!(error.contains(M5), "{error}");
    assert!(error.contains("2 rows"), "{error}");
    assert!(
        error.contains("SELECT id FROM asset_processing_locations WHERE"),
        "{error}"
    );
    // Nothing changed: the rows are there, the rule is not, and the schema is as before.
    assert_eq!(locations(&conn).await, ["blank", "by-id", "none"]);
    migration(&db.url, &["verify"]).await.success();
    assert_eq!(
        migration(&db.url, &["status", "--exit-code"]).await.code,
        Some(1)
    );
    // Once fixed, it applies.
    exec(
        &conn,
        "UPDATE asset_processing_locations SET purpose_text = 'Unknown' WHERE id IN ('none', 'blank')",
    )
    .await;
    migration(&db.url, &["up"]).await.success();
    migration(&db.url, &["verify"]).await.success();
}

async fn verify_reports_a_dropped_or_changed_purpose_rule(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    let run = migration(&db.url, &["verify"]).await.success();
    let label = match backend {
        Backend::Postgres => "Checks",
        Backend::Sqlite => "Triggers",
    };
    assert!(run.stdout.contains(label), "{}", run.stdout);
    let (drop, weaker) = match backend {
        Backend::Postgres => (
            format!("ALTER TABLE asset_processing_locations DROP CONSTRAINT {RULE}"),
            format!(
                "ALTER TABLE asset_processing_locations ADD CONSTRAINT {RULE}
                 CHECK (purpose_id IS NOT NULL OR purpose_text IS NOT NULL)"
            ),
        ),
        Backend::Sqlite => (
            format!("DROP TRIGGER {RULE}_insert"),
            format!(
                "CREATE TRIGGER {RULE}_insert BEFORE INSERT ON asset_processing_locations
                 WHEN NEW.purpose_id IS NULL AND NEW.purpose_text IS NULL
                 BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {RULE}'); END"
            ),
        ),
    };
    exec(&conn, &drop).await;
    let run = migration(&db.url, &["verify"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stdout.contains("MISSING"), "{}", run.stdout);
    assert!(run.stdout.contains(RULE), "{}", run.stdout);

    exec(&conn, &weaker).await;
    let run = migration(&db.url, &["verify", "--json"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let drift = json["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert_eq!(drift[0]["problem"], "differs");
    assert!(
        drift[0]["object"].as_str().unwrap().starts_with(RULE),
        "{drift:?}"
    );
}

on_both_backends!(
    a_count_of_zero_is_a_usage_error_and_applies_nothing,
    refresh_rolls_everything_back_and_applies_it_again,
    a_failed_migration_reports_the_server_message_without_its_source_line,
    an_unknown_applied_migration_is_named_and_not_a_database_error,
    a_location_without_a_purpose_is_refused_by_the_database,
    deleting_a_purpose_a_location_relies_on_is_refused_but_its_organization_goes,
    the_purpose_rule_round_trips_through_down_and_up,
    up_of_the_purpose_rule_refuses_rows_that_break_it_and_changes_nothing,
    verify_reports_a_dropped_or_changed_purpose_rule,
);
