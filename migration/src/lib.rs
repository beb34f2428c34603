//! The schema of the digital-asset inventory as sea-orm migrations.

pub use sea_orm_migration::prelude::*;

mod columns;
mod online_index;
pub mod reference;

pub mod m20251109_000001_create_reference_tables;
pub mod m20251109_000002_seed_reference_data;
pub mod m20251205_152202_add_digital_asset_models;
pub mod m20261124_100000_add_lookup_indexes;
pub mod m20261125_000000_require_location_purpose;
pub mod m20261126_000000_transfer_reference_data;

/// Applies the migrations of this crate, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20251109_000001_create_reference_tables::Migration),
            Box::new(m20251109_000002_seed_reference_data::Migration),
            Box::new(m20251205_152202_add_digital_asset_models::Migration),
            Box::new(m20261124_100000_add_lookup_indexes::Migration),
            Box::new(m20261125_000000_require_location_purpose::Migration),
            Box::new(m20261126_000000_transfer_reference_data::Migration),
        ]
    }
}

pub mod cli;
pub mod runner;
pub mod telemetry;
