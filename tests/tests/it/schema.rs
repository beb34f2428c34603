//! `migration up` creates exactly the schema of DESIGN §2, and the runbook's SQL works on it.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::runbook;
use crate::support::*;

/// A database of `backend` migrated by the `migration` binary.
pub async fn migrated(backend: Backend) -> Option<(TestDb, DatabaseConnection)> {
    let db = TestDb::new(backend).await?;
    migration(&db.url, &["up"]).await.success();
    let conn = db.connect().await;
    Some((db, conn))
}

/// The runbook's Step 4 checklist as (check, count) pairs.
pub async fn runbook_counts(db: &DatabaseConnection) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for sql in runbook::statements(runbook::VERIFY_COUNTS) {
        let row = db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
            .await
            .expect("runbook query runs")
            .expect("one row");
        out.push((
            row.try_get("", "check_type").unwrap(),
            row.try_get("", "count").unwrap(),
        ));
    }
    out
}

/// The checklist's counts once every migration is applied: the runbook's own (13 indexes after
/// its migration), the five lookup indexes of m20261124_100000, and the three ordering and three
/// trigram indexes of m20261128_000000.
pub fn expected_counts() -> Vec<(String, i64)> {
    counts_with_indexes(25)
}

fn counts_with_indexes(indexes: i64) -> Vec<(String, i64)> {
    [
        ("Tables", 3),
        ("Enums", 3),
        ("Indexes", indexes),
        ("Foreign Keys", 11),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .to_vec()
}

#[tokio::test]
async fn runbook_verification_counts_3_tables_3_enums_13_indexes_11_foreign_keys() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    // The runbook's figures are those of its own migration, the third.
    migration(&db.url, &["up", "-n", "3"]).await.success();
    let conn = db.connect().await;
    assert_eq!(runbook_counts(&conn).await, counts_with_indexes(13));
    // The lookup, ordering and search indexes and the asset's (id, organization_id) key added
    // after it bring the count to 25; the junction's composite foreign keys replace its two
    // single-column ones, so there are still 11.
    migration(&db.url, &["up"]).await.success();
    assert_eq!(runbook_counts(&conn).await, expected_counts());
}

#[tokio::test]
async fn runbook_staging_listings_name_the_new_objects() {
    let Some((_db, conn)) = migrated(Backend::Postgres).await else {
        return;
    };
    let mut tables = strings(&conn, runbook::STAGING_TABLES).await;
    tables.sort();
    assert_eq!(
        tables,
        [
            "asset_processing_locations",
            "data_processing_activity_digital_assets",
            "digital_assets"
        ]
    );
    let mut enums = strings(&conn, runbook::STAGING_ENUMS).await;
    enums.sort();
    assert_eq!(enums, ["AssetType", "IntegrationStatus", "LocationRole"]);
    let mut indexes = strings(&conn, runbook::STAGING_INDEXES).await;
    indexes.sort();
    assert_eq!(
        indexes,
        [
            "asset_processing_locations_pkey",
            "digital_assets_pkey",
            "idx_asset_locations_digital_asset_id",
            "idx_asset_locations_org_asset",
            "idx_asset_locations_org_country",
            "idx_asset_locations_org_mechanism",
            "idx_asset_locations_purpose_id",
            "idx_digital_assets_business_owner_id",
            "idx_digital_assets_description_trgm",
            "idx_digital_assets_name_trgm",
            "idx_digital_assets_org_created_id",
            "idx_digital_assets_org_hosting_country",
            "idx_digital_assets_org_name_id",
            "idx_digital_assets_org_personal_data",
            "idx_digital_assets_org_type",
            "idx_digital_assets_org_type_id",
            "idx_digital_assets_org_updated_id",
            "idx_digital_assets_organization_id",
            "idx_digital_assets_technical_owner_id",
            "idx_digital_assets_url_trgm",
            "uq_digital_assets_id_organization",
        ]
    );
}

#[tokio::test]
async fn up_creates_exactly_the_designed_tables_types_and_foreign_keys() {
    let Some((_db, conn)) = migrated(Backend::Postgres).await else {
        return;
    };
    let tables = strings(
        &conn,
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .await;
    assert_eq!(
        tables,
        [
            "asset_processing_locations",
            "change_log",
            "countries",
            "data_processing_activities",
            "data_processing_activity_digital_assets",
            "digital_assets",
            "organizations",
            "purposes",
            "seaql_migrations",
            "transfer_mechanisms",
            "users",
        ]
    );
    let enums = strings(
        &conn,
        "SELECT t.typname || ':' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
         FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname ORDER BY 1",
    )
    .await;
    assert_eq!(
        enums,
        [
            "AssetType:ANALYTICS_PLATFORM,API,APPLICATION,CLOUD_SERVICE,CRM,DATABASE,ERP,FILE_STORAGE,MARKETING_TOOL,ON_PREMISE_SYSTEM,OTHER",
            "IntegrationStatus:CONNECTED,FAILED,MANUAL_ONLY,NOT_INTEGRATED,PENDING",
            "LocationRole:HOSTING,PROCESSING,BOTH",
        ]
    );
    // Every foreign key of the three tables with its ON DELETE action (a, r, c, n: no action,
    // restrict, cascade, set null) and whether it is deferred.
    let fks = strings(
        &conn,
        "SELECT conrelid::regclass::text || '.' || a.attname || ' -> ' || confrelid::regclass::text
                || ' ' || confdeltype::text || CASE WHEN condeferred THEN ' deferred' ELSE '' END
         FROM pg_constraint c
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE contype = 'f'
           AND conrelid::regclass::text IN ('digital_assets', 'asset_processing_locations',
                                            'data_processing_activity_digital_assets')
         ORDER BY 1",
    )
    .await;
    assert_eq!(
        fks,
        [
            "asset_processing_locations.country_id -> countries r",
            "asset_processing_locations.digital_asset_id -> digital_assets c",
            "asset_processing_locations.organization_id -> organizations c",
            "asset_processing_locations.purpose_id -> purposes n",
            "asset_processing_locations.transfer_mechanism_id -> transfer_mechanisms n",
            "data_processing_activity_digital_assets.activity_id -> data_processing_activities c",
            "data_processing_activity_digital_assets.digital_asset_id -> digital_assets a deferred",
            "digital_assets.business_owner_id -> users n",
            "digital_assets.organization_id -> organizations c",
            "digital_assets.primary_hosting_country_id -> countries n",
            "digital_assets.technical_owner_id -> users n",
        ]
    );
    // The column types clients and the runbook rely on.
    let types = strings(
        &conn,
        "SELECT table_name || '.' || column_name || ' ' || udt_name || ' ' || is_nullable
                || coalesce(' ' || column_default, '')
         FROM information_schema.columns
         WHERE table_name = 'digital_assets' AND column_name IN
               ('type', 'integration_status', 'metadata', 'created_at', 'contains_personal_data')
         ORDER BY column_name",
    )
    .await;
    assert_eq!(
        types,
        [
            "digital_assets.contains_personal_data bool NO false",
            "digital_assets.created_at timestamptz NO CURRENT_TIMESTAMP",
            "digital_assets.integration_status IntegrationStatus NO 'NOT_INTEGRATED'::\"IntegrationStatus\"",
            "digital_assets.metadata jsonb YES",
            "digital_assets.type AssetType NO",
        ]
    );
    // The change log belongs to its organization alone (deleting an asset or a user keeps its
    // history) and is stamped by the database's clock when each row is written.
    let log = strings(
        &conn,
        "SELECT conrelid::regclass::text || ' -> ' || confrelid::regclass::text || ' ' || confdeltype::text
         FROM pg_constraint WHERE contype = 'f' AND conrelid = 'change_log'::regclass
         UNION ALL
         SELECT 'changed_at ' || column_default FROM information_schema.columns
         WHERE table_name = 'change_log' AND column_name = 'changed_at'
         UNION ALL
         SELECT indexname FROM pg_indexes WHERE tablename = 'change_log' AND indexname LIKE 'idx_%'
         ORDER BY 1",
    )
    .await;
    assert_eq!(
        log,
        [
            "change_log -> organizations c",
            "changed_at clock_timestamp()",
            "idx_change_log_org_asset_time",
            "idx_change_log_org_time",
        ]
    );
}

#[tokio::test]
async fn runbook_smoke_tests_work_as_written() {
    let Some((_db, conn)) = migrated(Backend::Postgres).await else {
        return;
    };
    exec(
        &conn,
        "INSERT INTO organizations (id, name, slug) VALUES ('org-1', 'Acme', 'acme')",
    )
    .await;

    exec(&conn, runbook::SMOKE_INSERT).await;
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            runbook::SMOKE_SELECT,
        ))
        .await
        .unwrap()
        .expect("the smoke asset");
    assert_eq!(row.try_get::<String>("", "name").unwrap(), "Test Asset");
    exec(&conn, runbook::SMOKE_DELETE).await;

    let id: String = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            runbook::PROD_SMOKE_INSERT,
        ))
        .await
        .unwrap()
        .expect("RETURNING id")
        .try_get("", "id")
        .unwrap();
    assert!(id.starts_with("smoke-test-"));
    let select = runbook::PROD_SMOKE_SELECT.replace("$SMOKE_TEST_ID", &id);
    assert_eq!(strings(&conn, &select).await, std::slice::from_ref(&id));
    exec(
        &conn,
        &runbook::PROD_SMOKE_DELETE.replace("$SMOKE_TEST_ID", &id),
    )
    .await;
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM digital_assets").await,
        0
    );
}

async fn reference_data_is_seeded(backend: Backend) {
    let Some((_db, conn)) = migrated(backend).await else {
        return;
    };
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM countries").await,
        249
    );
    let status =
        |code: &str| format!("SELECT gdpr_status FROM countries WHERE iso_code = '{code}'");
    let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
    for (code, expected) in [
        ("DE", r#"["EU","EEA"]"#),
        ("NO", r#"["EEA","EFTA"]"#),
        ("CH", r#"["EFTA","Adequate"]"#),
        ("JP", r#"["Adequate"]"#),
        ("CN", r#"["Third Country"]"#),
    ] {
        let text = match backend {
            Backend::Postgres => {
                strings(
                    &conn,
                    &status(code).replace("gdpr_status", "gdpr_status::text"),
                )
                .await
            }
            Backend::Sqlite => strings(&conn, &status(code)).await,
        };
        assert_eq!(json(&text[0]), json(expected), "{code}");
    }
    let eu = match backend {
        Backend::Postgres => "SELECT count(*) FROM countries WHERE gdpr_status @> '[\"EU\"]'",
        Backend::Sqlite => {
            "SELECT count(*) FROM countries, json_each(countries.gdpr_status) WHERE json_each.value = 'EU'"
        }
    };
    // The 27 member states and, since migration 6, the outermost regions with codes of their own
    // and Åland.
    assert_eq!(scalar_i64(&conn, eu).await, 34);
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM transfer_mechanisms").await,
        17
    );
    assert_eq!(
        strings(
            &conn,
            "SELECT code FROM transfer_mechanisms WHERE id = 'SCC'"
        )
        .await,
        ["SCC"]
    );
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT count(*) FROM transfer_mechanisms WHERE is_derogation"
        )
        .await,
        8
    );
}

async fn seeding_keeps_rows_that_already_exist(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    migration(&db.url, &["up", "-n", "1"]).await.success();
    let conn = db.connect().await;
    exec(
        &conn,
        "INSERT INTO countries (id, name, iso_code, gdpr_status) VALUES ('DE', 'Deutschland', 'DE', '[\"EU\",\"EEA\"]')",
    )
    .await;
    migration(&db.url, &["up"]).await.success();
    assert_eq!(
        strings(&conn, "SELECT name FROM countries WHERE id = 'DE'").await,
        ["Deutschland"]
    );
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM countries").await,
        249
    );
}

async fn invalid_enum_values_are_refused(backend: Backend) {
    let Some((_db, conn)) = migrated(backend).await else {
        return;
    };
    exec(
        &conn,
        "INSERT INTO organizations (id, name, slug) VALUES ('org-1', 'Acme', 'acme')",
    )
    .await;
    let bad_type = "INSERT INTO digital_assets (id, organization_id, name, type) VALUES ('a', 'org-1', 'x', 'Server')";
    assert!(
        exec_err(&conn, bad_type).await.is_some(),
        "type 'Server' accepted"
    );
    let bad_status = "INSERT INTO digital_assets (id, organization_id, name, type, integration_status) VALUES ('a', 'org-1', 'x', 'API', 'BROKEN')";
    assert!(
        exec_err(&conn, bad_status).await.is_some(),
        "status 'BROKEN' accepted"
    );
    let lower = "INSERT INTO digital_assets (id, organization_id, name, type) VALUES ('a', 'org-1', 'x', 'database')";
    assert!(
        exec_err(&conn, lower).await.is_some(),
        "lower-case 'database' accepted"
    );
    exec(&conn, "INSERT INTO digital_assets (id, organization_id, name, type) VALUES ('a', 'org-1', 'x', 'API')").await;
    assert_eq!(
        strings(
            &conn,
            "SELECT CAST(integration_status AS TEXT) FROM digital_assets"
        )
        .await,
        ["NOT_INTEGRATED"]
    );
    let bad_role = "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, country_id, location_role) VALUES ('l', 'org-1', 'a', 's', 'DE', 'NOWHERE')";
    assert!(
        exec_err(&conn, bad_role).await.is_some(),
        "role 'NOWHERE' accepted"
    );
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM asset_processing_locations").await,
        0
    );
}

/// Migration 10 drops the change log's index on the actor, its `down` builds it again, and the
/// `sql up` script (meant for `psql -1`) drops it in a form a transaction accepts.
async fn migration_10_drops_the_actor_index_and_down_restores_it(backend: Backend) {
    let Some((db, conn)) = migrated(backend).await else {
        return;
    };
    let sql = match backend {
        Backend::Postgres => {
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_change_log_org_actor_time'"
        }
        Backend::Sqlite => {
            "SELECT count(*) FROM sqlite_master
             WHERE type = 'index' AND name = 'idx_change_log_org_actor_time'"
        }
    };
    assert_eq!(scalar_i64(&conn, sql).await, 0, "dropped by up");
    migration(&db.url, &["down"]).await.success();
    assert_eq!(scalar_i64(&conn, sql).await, 1, "built again by down");
    migration(&db.url, &["verify"]).await.success();
    let script = migration(&db.url, &["sql", "up"]).await.success().stdout;
    assert!(
        script.contains("DROP INDEX IF EXISTS \"idx_change_log_org_actor_time\""),
        "{script}"
    );
    assert!(!script.contains("DROP INDEX CONCURRENTLY"), "{script}");
    migration(&db.url, &["up"]).await.success();
    assert_eq!(scalar_i64(&conn, sql).await, 0, "dropped again by up");
    migration(&db.url, &["verify"]).await.success();
}

on_both_backends!(
    reference_data_is_seeded,
    seeding_keeps_rows_that_already_exist,
    invalid_enum_values_are_refused,
    migration_10_drops_the_actor_index_and_down_restores_it,
);
