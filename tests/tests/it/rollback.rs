//! `down` undoes exactly what `up` did, and the schema round-trips.

use sea_orm::DatabaseConnection;

use crate::schema::{expected_counts, migrated, runbook_counts};
use crate::support::*;

/// Tables other than the migration history, on either backend.
async fn user_tables(conn: &DatabaseConnection, backend: Backend) -> Vec<String> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND table_name <> 'seaql_migrations' ORDER BY 1"
        }
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT IN ('seaql_migrations') AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        }
    };
    strings(conn, sql).await
}

async fn enum_types(conn: &DatabaseConnection) -> i64 {
    scalar_i64(conn, "SELECT count(*) FROM pg_type WHERE typtype = 'e'").await
}

async fn down_of_the_asset_migration_keeps_the_reference_tables(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    // The change log's actor index, the links' tenant key, the search indexes, the change log,
    // the Chapter V reference data, the purpose rule, the lookup indexes, then the asset tables.
    migration(&db.url, &["down", "-n", "8"]).await.success();
    assert_eq!(
        user_tables(&conn, backend).await,
        [
            "countries",
            "data_processing_activities",
            "organizations",
            "purposes",
            "transfer_mechanisms",
            "users",
        ]
    );
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM countries").await,
        249
    );
    if backend == Backend::Postgres {
        assert_eq!(
            enum_types(&conn).await,
            0,
            "the enum types must go with their tables"
        );
    }
}

async fn up_down_up_round_trips(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    migration(&db.url, &["down", "-n", "8"]).await.success();
    migration(&db.url, &["up"]).await.success();
    if backend == Backend::Postgres {
        assert_eq!(runbook_counts(&conn).await, expected_counts());
    }
    assert_eq!(user_tables(&conn, backend).await.len(), 10);
    organization_with_an_asset(&conn).await;
}

/// Index names of the lookup-index migration that exist.
async fn lookup_indexes(conn: &DatabaseConnection, backend: Backend) -> Vec<String> {
    let names = "('idx_asset_locations_digital_asset_id', 'idx_asset_locations_purpose_id',
        'idx_digital_assets_technical_owner_id', 'idx_digital_assets_business_owner_id',
        'idx_digital_assets_org_name_id')";
    let sql = match backend {
        Backend::Postgres => format!(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' AND indexname IN {names} ORDER BY 1"
        ),
        Backend::Sqlite => format!(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN {names} ORDER BY 1"
        ),
    };
    strings(conn, &sql).await
}

async fn down_of_the_lookup_indexes_drops_exactly_them_and_up_rebuilds_them(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    assert_eq!(lookup_indexes(&conn, backend).await.len(), 5);
    organization_with_an_asset(&conn).await;
    // Dropping indexes (and the purpose rule, reference columns, change log, search indexes,
    // links' tenant key and the log's actor index applied after them) loses no rows: no --force.
    migration(&db.url, &["down", "-n", "7"]).await.success();
    assert!(lookup_indexes(&conn, backend).await.is_empty());
    assert_eq!(user_tables(&conn, backend).await.len(), 9);
    migration(&db.url, &["verify"]).await.success();
    // Rebuilt on a table that holds rows (CONCURRENTLY on PostgreSQL).
    migration(&db.url, &["up"]).await.success();
    assert_eq!(lookup_indexes(&conn, backend).await.len(), 5);
    migration(&db.url, &["verify"]).await.success();
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM digital_assets").await,
        1
    );
}

async fn down_all_the_way_leaves_an_empty_schema(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    migration(&db.url, &["down", "-n", "10"]).await.success();
    assert!(user_tables(&conn, backend).await.is_empty());
    migration(&db.url, &["up"]).await.success();
    exec(
        &conn,
        "INSERT INTO organizations (id, name, slug) VALUES ('o', 'O', 'o')",
    )
    .await;
    // Seeded reference rows go with their migration; an organization is data.
    let run = migration(&db.url, &["down", "-n", "10"]).await;
    assert_eq!(run.code, Some(7), "{run:?}");
    assert!(
        run.stderr.contains("organizations: 1 rows"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("countries"), "{}", run.stderr);
    assert_eq!(
        user_tables(&conn, backend).await.len(),
        10,
        "a refused rollback changes nothing"
    );
    migration(&db.url, &["down", "-n", "10", "--force"])
        .await
        .success();
    assert!(user_tables(&conn, backend).await.is_empty());
    if backend == Backend::Postgres {
        assert_eq!(enum_types(&conn).await, 0);
    }
}

async fn down_of_the_seed_removes_exactly_the_seeded_rows(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    exec(
        &conn,
        "INSERT INTO countries (id, name, iso_code, gdpr_status) VALUES ('test-zz', 'Testland', 'ZZ', '[\"Third Country\"]')",
    )
    .await;
    migration(&db.url, &["down", "-n", "9"]).await.success();
    assert_eq!(
        strings(&conn, "SELECT id FROM countries").await,
        ["test-zz"]
    );
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM transfer_mechanisms").await,
        0
    );
    migration(&db.url, &["up"]).await.success();
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM countries").await,
        250
    );
}

on_both_backends!(
    down_of_the_lookup_indexes_drops_exactly_them_and_up_rebuilds_them,
    down_of_the_asset_migration_keeps_the_reference_tables,
    up_down_up_round_trips,
    down_all_the_way_leaves_an_empty_schema,
    down_of_the_seed_removes_exactly_the_seeded_rows,
);
