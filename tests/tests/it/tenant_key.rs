//! Migration 9, the tenant key on the junction: added to a populated table (backfilled in
//! batches), the database refusing a link between two organizations' rows, the foreign keys'
//! behaviour unchanged (see `foreign_keys`), `verify` clean, and the round trip down and up.

use sea_orm::DatabaseConnection;

use crate::support::*;

const M9: &str = "m20261129_000000_tenant_key_on_links";

/// More links than one backfill batch (1,000), so that the batches meet.
const LINKS_PER_ORG: i64 = 1250;

on_both_backends!(
    the_key_is_backfilled_on_a_populated_table_and_verify_is_clean,
    a_cross_organization_link_already_stored_stops_the_migration_before_any_change,
    down_and_up_round_trip_on_a_populated_table,
);

/// The trigger that fills the key for writers of the previous version is part of the schema
/// `verify` checks: dropped, or its function changed, it is reported.
#[tokio::test]
async fn verify_reports_a_missing_or_changed_key_filler() {
    let Some(db) = TestDb::migrated(Backend::Postgres).await else {
        return;
    };
    let conn = db.connect().await;
    exec(
        &conn,
        "CREATE OR REPLACE FUNCTION dpa_digital_assets_fill_organization() RETURNS trigger
         LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    )
    .await;
    let run = migration(&db.url, &["verify"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout.contains("trg_dpa_digital_assets_organization"),
        "{}",
        run.stdout
    );
    exec(
        &conn,
        "DROP TRIGGER trg_dpa_digital_assets_organization ON data_processing_activity_digital_assets",
    )
    .await;
    let run = migration(&db.url, &["verify"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout
            .contains("MISSING Trigger trg_dpa_digital_assets_organization"),
        "{}",
        run.stdout
    );
}

/// A database migrated up to migration 8, holding two organizations, each with an activity and
/// [`LINKS_PER_ORG`] linked assets.
async fn before_the_key(backend: Backend) -> Option<(TestDb, DatabaseConnection)> {
    let db = TestDb::new(backend).await?;
    migration(&db.url, &["up", "-n", "8"]).await.success();
    let conn = db.connect().await;
    for org in ["org-a", "org-b"] {
        exec(
            &conn,
            &format!(
                "INSERT INTO organizations (id, name, slug) VALUES ('{org}', '{org}', '{org}')"
            ),
        )
        .await;
        exec(
            &conn,
            &format!(
                "INSERT INTO data_processing_activities (id, organization_id, name)
                 VALUES ('{org}-act', '{org}', 'Payroll')"
            ),
        )
        .await;
        let assets: Vec<String> = (0..LINKS_PER_ORG)
            .map(|i| format!("('{org}-asset-{i:05}', '{org}', 'Asset {i}', 'DATABASE')"))
            .collect();
        exec(
            &conn,
            &format!(
                "INSERT INTO digital_assets (id, organization_id, name, type) VALUES {}",
                assets.join(", ")
            ),
        )
        .await;
        let links: Vec<String> = (0..LINKS_PER_ORG)
            .map(|i| format!("('{org}-link-{i:05}', '{org}-act', '{org}-asset-{i:05}')"))
            .collect();
        exec(
            &conn,
            &format!(
                "INSERT INTO data_processing_activity_digital_assets (id, activity_id, digital_asset_id)
                 VALUES {}",
                links.join(", ")
            ),
        )
        .await;
    }
    Some((db, conn))
}

/// How many links carry `org` as their key.
async fn keyed(conn: &DatabaseConnection, org: &str) -> i64 {
    scalar_i64(
        conn,
        &format!(
            "SELECT count(*) FROM data_processing_activity_digital_assets WHERE organization_id = '{org}'"
        ),
    )
    .await
}

/// After `up` on a populated table every link carries its organization, `verify` finds no drift
/// (the online path gives the schema the transactional one does), and the database refuses, even
/// from hand-written SQL, a link between two organizations' rows, whether the key names the
/// activity's organization or the asset's.
async fn the_key_is_backfilled_on_a_populated_table_and_verify_is_clean(backend: Backend) {
    let Some((db, conn)) = before_the_key(backend).await else {
        return;
    };
    migration(&db.url, &["up"]).await.success();
    assert_eq!(keyed(&conn, "org-a").await, LINKS_PER_ORG);
    assert_eq!(keyed(&conn, "org-b").await, LINKS_PER_ORG);
    // verify exits 1 on any drift.
    migration(&db.url, &["verify"]).await.success();

    for key in ["org-a", "org-b"] {
        let refused = exec_err(
            &conn,
            &format!(
                "INSERT INTO data_processing_activity_digital_assets
                 (id, organization_id, activity_id, digital_asset_id)
                 VALUES ('crossing', '{key}', 'org-a-act', 'org-b-asset-00000')"
            ),
        )
        .await;
        assert!(
            refused
                .as_deref()
                .is_some_and(|e| e.contains("foreign key") || e.contains("FOREIGN KEY")),
            "a cross-organization link keyed {key} was stored: {refused:?}"
        );
    }
    // Written without the key (by a replica of the previous version), it is refused too.
    let refused = exec_err(
        &conn,
        "INSERT INTO data_processing_activity_digital_assets (id, activity_id, digital_asset_id)
         VALUES ('crossing', 'org-a-act', 'org-b-asset-00000')",
    )
    .await;
    assert!(refused.is_some(), "a cross-organization link was stored");
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT count(*) FROM data_processing_activity_digital_assets WHERE id = 'crossing'"
        )
        .await,
        0
    );
}

/// A link joining two organizations' rows (only hand-written SQL can have stored one) has no
/// right key: `up` refuses, says how to find it, and leaves the schema as it was.
async fn a_cross_organization_link_already_stored_stops_the_migration_before_any_change(
    backend: Backend,
) {
    let Some((db, conn)) = before_the_key(backend).await else {
        return;
    };
    exec(
        &conn,
        "INSERT INTO data_processing_activity_digital_assets (id, activity_id, digital_asset_id)
         VALUES ('crossing', 'org-a-act', 'org-b-asset-00000')",
    )
    .await;
    let run = migration(&db.url, &["up"]).await;
    assert_ne!(run.code, Some(0), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("1 rows of data_processing_activity_digital_assets link an activity")
            && run.stderr.contains("SELECT l.id FROM"),
        "{}",
        run.stderr
    );
    // Migration 9 and the one after it.
    let status = migration(&db.url, &["status"]).await.success();
    assert!(status.stdout.contains("2 pending"), "{}", status.stdout);
    let columns = match backend {
        Backend::Postgres => {
            "SELECT count(*) FROM information_schema.columns
             WHERE table_name = 'data_processing_activity_digital_assets' AND column_name = 'organization_id'"
        }
        Backend::Sqlite => {
            "SELECT count(*) FROM pragma_table_info('data_processing_activity_digital_assets')
             WHERE name = 'organization_id'"
        }
    };
    assert_eq!(scalar_i64(&conn, columns).await, 0, "the column was added");

    exec(
        &conn,
        "DELETE FROM data_processing_activity_digital_assets WHERE id = 'crossing'",
    )
    .await;
    migration(&db.url, &["up"]).await.success();
}

/// `down` takes the key away and gives back the single-column foreign keys (a linked asset still
/// cannot be deleted); `up` again restores it; `verify` is clean at both ends.
async fn down_and_up_round_trip_on_a_populated_table(backend: Backend) {
    let Some((db, conn)) = before_the_key(backend).await else {
        return;
    };
    migration(&db.url, &["up", "-n", "1"]).await.success();
    let down = migration(&db.url, &["down"]).await.success();
    assert!(down.stdout.contains(M9), "{}", down.stdout);
    let status = migration(&db.url, &["status"]).await.success();
    assert!(status.stdout.contains("2 pending"), "{}", status.stdout);
    // verify exits 1 on any drift.
    migration(&db.url, &["verify"]).await.success();
    assert!(
        exec_err(
            &conn,
            "DELETE FROM digital_assets WHERE id = 'org-a-asset-00000'"
        )
        .await
        .is_some(),
        "a linked asset was deleted after down"
    );
    migration(&db.url, &["up"]).await.success();
    assert_eq!(keyed(&conn, "org-a").await, LINKS_PER_ORG);
    // verify exits 1 on any drift.
    migration(&db.url, &["verify"]).await.success();
}
