//! Every foreign key behaves as DESIGN §2 says, on PostgreSQL and on SQLite.

use sea_orm::DatabaseConnection;

use crate::schema::migrated;
use crate::support::*;

/// One organization with a user, a purpose, an activity, and an asset that has a location and is
/// linked to the activity; plus an unlinked asset with a location.
const FIXTURE: &[&str] = &[
    "INSERT INTO organizations (id, name, slug, headquarters_country_id) VALUES ('org-1', 'Acme', 'acme', 'DE')",
    "INSERT INTO users (id, organization_id, name, email) VALUES ('user-1', 'org-1', 'Ada', 'ada@acme.test')",
    "INSERT INTO purposes (id, organization_id, name) VALUES ('purpose-1', 'org-1', 'Payroll')",
    "INSERT INTO data_processing_activities (id, organization_id, name) VALUES ('act-1', 'org-1', 'Payroll processing')",
    "INSERT INTO digital_assets (id, organization_id, name, type, primary_hosting_country_id, technical_owner_id, business_owner_id)
     VALUES ('asset-1', 'org-1', 'HR database', 'DATABASE', 'DE', 'user-1', 'user-1')",
    "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, purpose_id, country_id, location_role, transfer_mechanism_id)
     VALUES ('loc-1', 'org-1', 'asset-1', 'Backups', 'purpose-1', 'US', 'HOSTING', 'SCC')",
    "INSERT INTO data_processing_activity_digital_assets (id, activity_id, digital_asset_id) VALUES ('link-1', 'act-1', 'asset-1')",
    "INSERT INTO digital_assets (id, organization_id, name, type) VALUES ('asset-2', 'org-1', 'Wiki', 'APPLICATION')",
    "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, purpose_text, country_id, location_role)
     VALUES ('loc-2', 'org-1', 'asset-2', 'Hosting', 'Internal docs', 'IE', 'BOTH')",
];

async fn with_fixture(backend: Backend) -> Option<(TestDb, DatabaseConnection)> {
    let (db, conn) = migrated(backend).await?;
    for sql in FIXTURE {
        exec(&conn, sql).await;
    }
    Some((db, conn))
}

async fn count(conn: &DatabaseConnection, table: &str) -> i64 {
    scalar_i64(conn, &format!("SELECT count(*) FROM {table}")).await
}

on_both_backends!(
    deleting_an_organization_cascades_through_linked_assets_and_activities,
    deleting_an_asset_deletes_its_locations,
    deleting_a_linked_asset_is_refused,
    deleting_a_country_used_by_a_location_is_refused,
    deleting_a_user_purpose_or_mechanism_clears_the_reference,
    a_link_written_without_its_key_gets_its_activitys_organization,
    a_link_between_two_organizations_is_refused,
);

/// The fixture writes its link without `organization_id`, as a replica of the version before
/// the key did during a rolling deployment: the database fills it in.
async fn a_link_written_without_its_key_gets_its_activitys_organization(backend: Backend) {
    let Some((_db, conn)) = with_fixture(backend).await else {
        return;
    };
    assert_eq!(
        strings(
            &conn,
            "SELECT organization_id FROM data_processing_activity_digital_assets"
        )
        .await,
        ["org-1"]
    );
}

/// However it is written, a link between one organization's activity and another's asset is
/// refused, and nothing is stored.
async fn a_link_between_two_organizations_is_refused(backend: Backend) {
    let Some((_db, conn)) = with_fixture(backend).await else {
        return;
    };
    exec(
        &conn,
        "INSERT INTO organizations (id, name, slug) VALUES ('org-2', 'Other', 'other')",
    )
    .await;
    exec(&conn, "INSERT INTO data_processing_activities (id, organization_id, name) VALUES ('act-2', 'org-2', 'Theirs')").await;
    for key in ["NULL", "'org-1'", "'org-2'"] {
        let sql = format!(
            "INSERT INTO data_processing_activity_digital_assets (id, organization_id, activity_id, digital_asset_id)
             VALUES ('crossing', {key}, 'act-2', 'asset-2')"
        );
        assert!(exec_err(&conn, &sql).await.is_some(), "stored: {sql}");
    }
    assert_eq!(
        count(
            &conn,
            "data_processing_activity_digital_assets WHERE id = 'crossing'"
        )
        .await,
        0
    );
}

async fn deleting_an_organization_cascades_through_linked_assets_and_activities(backend: Backend) {
    let Some((_db, conn)) = with_fixture(backend).await else {
        return;
    };
    exec(&conn, "DELETE FROM organizations WHERE id = 'org-1'").await;
    for table in [
        "digital_assets",
        "asset_processing_locations",
        "data_processing_activities",
        "data_processing_activity_digital_assets",
        "purposes",
    ] {
        assert_eq!(count(&conn, table).await, 0, "{table} kept rows");
    }
    assert_eq!(count(&conn, "users WHERE organization_id IS NULL").await, 1);
}

async fn deleting_an_asset_deletes_its_locations(backend: Backend) {
    let Some((_db, conn)) = with_fixture(backend).await else {
        return;
    };
    exec(&conn, "DELETE FROM digital_assets WHERE id = 'asset-2'").await;
    assert_eq!(
        strings(&conn, "SELECT id FROM asset_processing_locations").await,
        ["loc-1"]
    );
}

async fn deleting_a_linked_asset_is_refused(backend: Backend) {
    let Some((_db, conn)) = with_fixture(backend).await else {
        return;
    };
    let err = exec_err(&conn, "DELETE FROM digital_assets WHERE id = 'asset-1'").await;
    assert!(err.is_some_and(|e| e.to_lowercase().contains("foreign key")));
    assert_eq!(count(&conn, "digital_assets WHERE id = 'asset-1'").await, 1);
    assert_eq!(
        count(&conn, "asset_processing_locations WHERE id = 'loc-1'").await,
        1
    );
    // Once unlinked, it goes.
    exec(
        &conn,
        "DELETE FROM data_processing_activity_digital_assets WHERE id = 'link-1'",
    )
    .await;
    exec(&conn, "DELETE FROM digital_assets WHERE id = 'asset-1'").await;
    assert_eq!(count(&conn, "digital_assets WHERE id = 'asset-1'").await, 0);
}

async fn deleting_a_country_used_by_a_location_is_refused(backend: Backend) {
    let Some((_db, conn)) = with_fixture(backend).await else {
        return;
    };
    assert!(
        exec_err(&conn, "DELETE FROM countries WHERE id = 'US'")
            .await
            .is_some()
    );
    assert_eq!(count(&conn, "countries WHERE id = 'US'").await, 1);
    // A country only named as an asset's hosting country is released (SET NULL).
    exec(&conn, "DELETE FROM countries WHERE id = 'DE'").await;
    assert_eq!(
        count(
            &conn,
            "digital_assets WHERE primary_hosting_country_id IS NULL"
        )
        .await,
        2
    );
    assert_eq!(
        count(&conn, "organizations WHERE headquarters_country_id IS NULL").await,
        1
    );
}

async fn deleting_a_user_purpose_or_mechanism_clears_the_reference(backend: Backend) {
    let Some((_db, conn)) = with_fixture(backend).await else {
        return;
    };
    exec(&conn, "DELETE FROM users WHERE id = 'user-1'").await;
    assert_eq!(
        count(
            &conn,
            "digital_assets WHERE technical_owner_id IS NULL AND business_owner_id IS NULL"
        )
        .await,
        2
    );
    // loc-1 states its purpose only by purpose-1, which the database's purpose rule would refuse
    // to clear (runner_hardening.rs tests that); with a text as well, the purpose can go.
    exec(
        &conn,
        "UPDATE asset_processing_locations SET purpose_text = 'Payroll' WHERE id = 'loc-1'",
    )
    .await;
    exec(&conn, "DELETE FROM purposes WHERE id = 'purpose-1'").await;
    exec(&conn, "DELETE FROM transfer_mechanisms WHERE id = 'SCC'").await;
    assert_eq!(
        count(&conn, "asset_processing_locations WHERE id = 'loc-1' AND purpose_id IS NULL AND transfer_mechanism_id IS NULL").await,
        1
    );
}
