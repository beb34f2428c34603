//! Indexes the first schema lacked, found by measuring (docs/BENCHMARKS.md, "The schema's own
//! limits"): every index on `asset_processing_locations` leads with `organization_id`, so the
//! cascade from a deleted asset and a lookup by asset alone scanned the table; deleting a user or
//! a purpose scanned for the rows pointing at it; and the asset list sorted a whole tenant's
//! assets to return one page. Built without blocking writes (see `online_index`).

use sea_orm_migration::prelude::*;

use crate::online_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The indexes: name, table, columns.
pub const INDEXES: [(&str, &str, &[&str]); 5] = [
    (
        "idx_asset_locations_digital_asset_id",
        "asset_processing_locations",
        &["digital_asset_id"],
    ),
    (
        "idx_asset_locations_purpose_id",
        "asset_processing_locations",
        &["purpose_id"],
    ),
    (
        "idx_digital_assets_technical_owner_id",
        "digital_assets",
        &["technical_owner_id"],
    ),
    (
        "idx_digital_assets_business_owner_id",
        "digital_assets",
        &["business_owner_id"],
    ),
    (
        // The list's order (name, then id) within a tenant: a page is read, not sorted.
        "idx_digital_assets_org_name_id",
        "digital_assets",
        &["organization_id", "name", "id"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// CREATE INDEX CONCURRENTLY cannot run in a transaction.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            online_index::create(manager, name, table, columns).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES.iter().rev() {
            online_index::drop(manager, name, table).await?;
        }
        Ok(())
    }
}
