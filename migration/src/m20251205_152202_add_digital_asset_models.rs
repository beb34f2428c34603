//! The runbook's migration: digital assets, their processing locations and their links to
//! data-processing activities, with the three enum types.

use sea_orm_migration::prelude::extension::postgres::Type;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::columns::{
    boolean, drop_table, enumeration, foreign_key, id_pk, index, json, text, text_null,
    timestamp_now, timestamp_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The enum types, named exactly as the runbook and clients expect, with their values in order.
pub const ENUMS: [(&str, &[&str]); 3] = [
    (
        "AssetType",
        &[
            "ANALYTICS_PLATFORM",
            "API",
            "APPLICATION",
            "CLOUD_SERVICE",
            "CRM",
            "DATABASE",
            "ERP",
            "FILE_STORAGE",
            "MARKETING_TOOL",
            "ON_PREMISE_SYSTEM",
            "OTHER",
        ],
    ),
    (
        "IntegrationStatus",
        &[
            "CONNECTED",
            "FAILED",
            "MANUAL_ONLY",
            "NOT_INTEGRATED",
            "PENDING",
        ],
    ),
    ("LocationRole", &["HOSTING", "PROCESSING", "BOTH"]),
];

/// The tables this migration creates, in creation order.
pub const TABLES: [&str; 3] = [
    "digital_assets",
    "data_processing_activity_digital_assets",
    "asset_processing_locations",
];

/// The nine secondary indexes and the junction's unique index: (name, table, columns, unique).
pub const INDEXES: [(&str, &str, &[&str], bool); 10] = [
    (
        "idx_digital_assets_organization_id",
        "digital_assets",
        &["organization_id"],
        false,
    ),
    (
        "idx_digital_assets_org_personal_data",
        "digital_assets",
        &["organization_id", "contains_personal_data"],
        false,
    ),
    (
        "idx_digital_assets_org_type",
        "digital_assets",
        &["organization_id", "type"],
        false,
    ),
    (
        "idx_digital_assets_org_hosting_country",
        "digital_assets",
        &["organization_id", "primary_hosting_country_id"],
        false,
    ),
    (
        "idx_dpa_digital_assets_activity_id",
        "data_processing_activity_digital_assets",
        &["activity_id"],
        false,
    ),
    (
        "idx_dpa_digital_assets_digital_asset_id",
        "data_processing_activity_digital_assets",
        &["digital_asset_id"],
        false,
    ),
    (
        "uq_dpa_digital_assets_activity_asset",
        "data_processing_activity_digital_assets",
        &["activity_id", "digital_asset_id"],
        true,
    ),
    (
        "idx_asset_locations_org_asset",
        "asset_processing_locations",
        &["organization_id", "digital_asset_id"],
        false,
    ),
    (
        "idx_asset_locations_org_country",
        "asset_processing_locations",
        &["organization_id", "country_id"],
        false,
    ),
    (
        "idx_asset_locations_org_mechanism",
        "asset_processing_locations",
        &["organization_id", "transfer_mechanism_id"],
        false,
    ),
];

/// The junction's asset reference blocks deleting a linked asset, yet is checked only at commit,
/// so an organization's deletion can cascade through its activities (and their links) and its
/// assets in one statement. With RESTRICT or immediate NO ACTION, PostgreSQL checks the link rows
/// before the activity cascade has removed them and refuses the organization's deletion.
const DEFERRED_ASSET_REFERENCE: &str = "CONSTRAINT fk_data_processing_activity_digital_assets_digital_asset_id \
     REFERENCES digital_assets (id) ON DELETE NO ACTION ON UPDATE NO ACTION DEFERRABLE INITIALLY DEFERRED";

fn values(name: &str) -> &'static [&'static str] {
    ENUMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .unwrap_or(&[])
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        if db == DbBackend::Postgres {
            for (name, variants) in ENUMS {
                manager
                    .create_type(
                        Type::create()
                            .as_enum(Alias::new(name))
                            .values(variants.iter().map(|v| Alias::new(*v)))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        let created = || timestamp_now(db, Alias::new("created_at"));
        let updated = || timestamp_now(db, Alias::new("updated_at"));

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("digital_assets"))
                    .col(id_pk())
                    .col(text(Alias::new("organization_id")))
                    .col(text(Alias::new("name")))
                    .col(enumeration(db, "type", "AssetType", values("AssetType")))
                    .col(text_null(Alias::new("description")))
                    .col(text_null(Alias::new("primary_hosting_country_id")))
                    .col(text_null(Alias::new("url")))
                    .col(text_null(Alias::new("technical_owner_id")))
                    .col(text_null(Alias::new("business_owner_id")))
                    .col(boolean(Alias::new("contains_personal_data"), false))
                    .col(
                        enumeration(
                            db,
                            "integration_status",
                            "IntegrationStatus",
                            values("IntegrationStatus"),
                        )
                        .default("NOT_INTEGRATED"),
                    )
                    .col(timestamp_null(Alias::new("last_scanned_at")))
                    .col(text_null(Alias::new("discovered_via")))
                    .col(json(Alias::new("metadata"), true))
                    .col(created())
                    .col(updated())
                    .foreign_key(&mut foreign_key(
                        "digital_assets",
                        "organization_id",
                        "organizations",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "digital_assets",
                        "primary_hosting_country_id",
                        "countries",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut foreign_key(
                        "digital_assets",
                        "technical_owner_id",
                        "users",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut foreign_key(
                        "digital_assets",
                        "business_owner_id",
                        "users",
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("data_processing_activity_digital_assets"))
                    .col(id_pk())
                    .col(text(Alias::new("activity_id")))
                    .col(text(Alias::new("digital_asset_id")).extra(DEFERRED_ASSET_REFERENCE))
                    .col(created())
                    .foreign_key(&mut foreign_key(
                        "data_processing_activity_digital_assets",
                        "activity_id",
                        "data_processing_activities",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("asset_processing_locations"))
                    .col(id_pk())
                    .col(text(Alias::new("organization_id")))
                    .col(text(Alias::new("digital_asset_id")))
                    .col(text(Alias::new("service")))
                    .col(text_null(Alias::new("purpose_id")))
                    .col(text_null(Alias::new("purpose_text")))
                    .col(text(Alias::new("country_id")))
                    .col(enumeration(
                        db,
                        "location_role",
                        "LocationRole",
                        values("LocationRole"),
                    ))
                    .col(text_null(Alias::new("transfer_mechanism_id")))
                    .col(boolean(Alias::new("is_active"), true))
                    .col(json(Alias::new("metadata"), true))
                    .col(created())
                    .col(updated())
                    .foreign_key(&mut foreign_key(
                        "asset_processing_locations",
                        "organization_id",
                        "organizations",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "asset_processing_locations",
                        "digital_asset_id",
                        "digital_assets",
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        "asset_processing_locations",
                        "purpose_id",
                        "purposes",
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(&mut foreign_key(
                        "asset_processing_locations",
                        "country_id",
                        "countries",
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut foreign_key(
                        "asset_processing_locations",
                        "transfer_mechanism_id",
                        "transfer_mechanisms",
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;

        for (name, table, columns, unique) in INDEXES {
            let mut stmt = index(name, table, columns);
            if unique {
                stmt.unique();
            }
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
            manager.drop_table(drop_table(table)).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            for (name, _) in ENUMS.iter().rev() {
                // The quoted, mixed-case names: the runbook's unquoted DROP TYPE folds them to
                // lower case and leaves the real types behind.
                manager
                    .drop_type(Type::drop().name(Alias::new(*name)).to_owned())
                    .await?;
            }
        }
        Ok(())
    }
}
