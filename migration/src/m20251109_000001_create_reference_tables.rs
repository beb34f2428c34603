//! The tables the digital-asset schema references: countries, organizations, users, purposes,
//! transfer mechanisms and data-processing activities.

use sea_orm_migration::prelude::*;

use crate::columns::{
    boolean, boolean_required, drop_table, foreign_key, id_pk, index, json, text, text_null,
    timestamp_now,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables in creation order; `down` drops them in reverse.
pub const TABLES: [&str; 6] = [
    "countries",
    "organizations",
    "users",
    "purposes",
    "transfer_mechanisms",
    "data_processing_activities",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_database_backend();
        let created = || timestamp_now(db, Alias::new("created_at"));
        let updated = || timestamp_now(db, Alias::new("updated_at"));

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("countries"))
                    .col(id_pk())
                    .col(text(Alias::new("name")))
                    .col(text(Alias::new("iso_code")).unique_key())
                    .col(text_null(Alias::new("iso_code3")).unique_key())
                    .col(json(Alias::new("gdpr_status"), false))
                    .col(boolean(Alias::new("is_active"), true))
                    .col(created())
                    .col(updated())
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("organizations"))
                    .col(id_pk())
                    .col(text(Alias::new("name")))
                    .col(text(Alias::new("slug")).unique_key())
                    .col(text_null(Alias::new("headquarters_country_id")))
                    .col(json(Alias::new("settings"), true))
                    .col(created())
                    .col(updated())
                    .foreign_key(&mut foreign_key(
                        "organizations",
                        "headquarters_country_id",
                        "countries",
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("users"))
                    .col(id_pk())
                    .col(text_null(Alias::new("organization_id")))
                    .col(text(Alias::new("name")))
                    .col(text(Alias::new("email")).unique_key())
                    .col(created())
                    .col(updated())
                    .foreign_key(&mut foreign_key(
                        "users",
                        "organization_id",
                        "organizations",
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("purposes"))
                    .col(id_pk())
                    .col(text(Alias::new("organization_id")))
                    .col(text(Alias::new("name")))
                    .col(text_null(Alias::new("description")))
                    .col(boolean(Alias::new("is_active"), true))
                    .col(created())
                    .col(updated())
                    .foreign_key(&mut foreign_key(
                        "purposes",
                        "organization_id",
                        "organizations",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("transfer_mechanisms"))
                    .col(id_pk())
                    .col(text(Alias::new("code")).unique_key())
                    .col(text(Alias::new("name")))
                    .col(text(Alias::new("description")))
                    .col(text(Alias::new("gdpr_article")))
                    .col(text(Alias::new("category")))
                    .col(boolean_required(Alias::new("is_derogation")))
                    .col(boolean_required(Alias::new("requires_adequacy")))
                    .col(boolean_required(Alias::new("requires_documentation")))
                    .col(boolean(Alias::new("is_active"), true))
                    .col(created())
                    .col(updated())
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Alias::new("data_processing_activities"))
                    .col(id_pk())
                    .col(text(Alias::new("organization_id")))
                    .col(text(Alias::new("name")))
                    .col(text_null(Alias::new("description")))
                    .col(text(Alias::new("status")).default("DRAFT"))
                    .col(created())
                    .col(updated())
                    .foreign_key(&mut foreign_key(
                        "data_processing_activities",
                        "organization_id",
                        "organizations",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;

        // Tenant look-ups and the cascades of an organization's deletion.
        for (name, table, column) in INDEXES {
            manager.create_index(index(name, table, &[column])).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES.iter().rev() {
            manager.drop_table(drop_table(table)).await?;
        }
        Ok(())
    }
}

/// The secondary indexes of the reference tables (their unique and primary keys aside).
pub const INDEXES: [(&str, &str, &str); 3] = [
    ("idx_users_organization_id", "users", "organization_id"),
    (
        "idx_purposes_organization_id",
        "purposes",
        "organization_id",
    ),
    (
        "idx_data_processing_activities_organization_id",
        "data_processing_activities",
        "organization_id",
    ),
];
