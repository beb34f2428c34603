//! The change log: one row per change of a digital asset, a processing location or a link to an
//! activity, written by the service in the same transaction as the change (Art. 5(2): the
//! controller must be able to show what its record of processing said, and since when).
//!
//! The log belongs to the organization (`ON DELETE CASCADE`: deleting an organization still
//! removes everything it owns) and to nothing else: the asset, location, activity and actor it
//! names are kept as text without foreign keys, so deleting an asset or a user keeps its history.
//!
//! `changed_at` defaults to the database's own clock at the moment of the insert
//! (`clock_timestamp()`, not the transaction's start): the service writes a row after taking the
//! locks its change needs, so two changes of one row are stamped in the order they commit, on
//! however many API replicas. SQLite (one process, writers serialized) stamps RFC 3339 text, as
//! every other timestamp there.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::columns::{drop_table, foreign_key, id_pk, index, json, text, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The table this migration creates.
pub const TABLES: [&str; 1] = ["change_log"];

/// What changed, as stored (the GraphQL enum `ChangeEntityType` spells the same values).
pub const ENTITY_TYPES: [&str; 3] = ["DIGITAL_ASSET", "PROCESSING_LOCATION", "ACTIVITY_LINK"];

/// How it changed (the GraphQL enum `ChangeAction`).
pub const ACTIONS: [&str; 6] = [
    "CREATED",
    "UPDATED",
    "DELETED",
    "DEACTIVATED",
    "LINKED",
    "UNLINKED",
];

/// The indexes: "this asset's history, newest first", "the organization's changes since T", and
/// "what this person changed" (each read backwards for newest first).
pub const INDEXES: [(&str, &[&str]); 3] = [
    (
        "idx_change_log_org_asset_time",
        &["organization_id", "digital_asset_id", "changed_at", "id"],
    ),
    (
        "idx_change_log_org_time",
        &["organization_id", "changed_at", "id"],
    ),
    (
        "idx_change_log_org_actor_time",
        &["organization_id", "actor_id", "changed_at", "id"],
    ),
];

/// A TEXT column limited to `values` (a CHECK on both backends: new values need no type change).
fn one_of(name: &str, values: &[&str]) -> ColumnDef {
    text(Alias::new(name))
        .check((
            format!("ck_change_log_{name}"),
            Expr::col(Alias::new(name)).is_in(values.iter().copied()),
        ))
        .take()
}

/// `changed_at`: the database's clock when the row is written (see the module's comment).
fn changed_at(backend: DbBackend) -> ColumnDef {
    let default = match backend {
        DbBackend::Sqlite => Expr::cust("(strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))"),
        _ => Expr::cust("clock_timestamp()"),
    };
    ColumnDef::new(Alias::new("changed_at"))
        .timestamp_with_time_zone()
        .not_null()
        .default(default)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("change_log"))
                    .col(id_pk())
                    .col(text(Alias::new("organization_id")))
                    .col(one_of("entity_type", &ENTITY_TYPES))
                    .col(text(Alias::new("entity_id")))
                    .col(text(Alias::new("digital_asset_id")))
                    .col(text_null(Alias::new("activity_id")))
                    .col(one_of("action", &ACTIONS))
                    .col(text(Alias::new("actor_id")))
                    .col(text_null(Alias::new("request_id")))
                    .col(changed_at(backend))
                    .col(json(Alias::new("changes"), true))
                    .col(json(Alias::new("snapshot"), true))
                    .foreign_key(&mut foreign_key(
                        "change_log",
                        "organization_id",
                        "organizations",
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        // A new, empty table: its indexes are built at once, without CONCURRENTLY.
        for (name, columns) in INDEXES {
            manager
                .create_index(index(name, "change_log", columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop_table("change_log")).await
    }
}
