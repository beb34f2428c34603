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
pub mod m20261127_000000_create_change_log;
pub mod m20261128_000000_asset_search_and_orderings;
pub mod m20261129_000000_tenant_key_on_links;
pub mod m20261130_000000_change_log_without_actor_index;

/// Applies the migrations of this crate, in order.
#[derive(Debug)]
pub struct Migrator;

/// Each migration, in order, with the tables its `down` drops, in the order `up` creates them
/// (`down` drops them in reverse). `down` refuses to drop a table that holds rows: listing the
/// tables here makes every new migration state them, and a test checks each list against the SQL
/// the migration's `down` runs.
fn migrations_and_their_tables() -> Vec<(Box<dyn MigrationTrait>, &'static [&'static str])> {
    vec![
        (
            Box::new(m20251109_000001_create_reference_tables::Migration),
            &m20251109_000001_create_reference_tables::TABLES,
        ),
        (
            Box::new(m20251109_000002_seed_reference_data::Migration),
            &[],
        ),
        (
            Box::new(m20251205_152202_add_digital_asset_models::Migration),
            &m20251205_152202_add_digital_asset_models::TABLES,
        ),
        (
            Box::new(m20261124_100000_add_lookup_indexes::Migration),
            &[],
        ),
        (
            Box::new(m20261125_000000_require_location_purpose::Migration),
            &[],
        ),
        (
            Box::new(m20261126_000000_transfer_reference_data::Migration),
            &[],
        ),
        (
            Box::new(m20261127_000000_create_change_log::Migration),
            &m20261127_000000_create_change_log::TABLES,
        ),
        (
            Box::new(m20261128_000000_asset_search_and_orderings::Migration),
            &[],
        ),
        (
            Box::new(m20261129_000000_tenant_key_on_links::Migration),
            &[],
        ),
        (
            Box::new(m20261130_000000_change_log_without_actor_index::Migration),
            &[],
        ),
    ]
}

impl Migrator {
    /// The tables the `down` of migration `name` drops, in the order its `up` creates them
    /// (`down` drops them in reverse); empty when it drops none, or `name` is not a migration.
    pub fn tables_dropped_by(name: &str) -> &'static [&'static str] {
        migrations_and_their_tables()
            .into_iter()
            .find(|(migration, _)| migration.name() == name)
            .map_or(&[], |(_, tables)| tables)
    }
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        migrations_and_their_tables()
            .into_iter()
            .map(|(migration, _)| migration)
            .collect()
    }
}

pub mod cli;
pub mod runner;
