//! The tenant-scoped domain layer: digital assets, their processing locations and their links to
//! data-processing activities. Every function takes a connection (or a transaction) and the
//! caller's [`Tenant`]; every read or write of a tenant-owned table goes through [`scope`].

pub mod activities;
pub mod assets;
pub mod demo;
pub mod directory;
mod error;
pub mod history;
mod in_list;
pub mod locations;
pub mod metadata;
pub mod reference;
pub mod reference_cache;
pub mod scope;
pub mod time;
pub mod transfers;
pub mod validate;

pub use error::{ServiceError, is_connection_lost};
pub use scope::Tenant;

/// A new id: UUIDv7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`): a deferred transaction that read first and then writes fails with "database is
/// locked" when another writer went ahead, instead of waiting its turn. On PostgreSQL the rows a
/// write decides on are locked with [`scope::get_locked`].
#[tracing::instrument(level = "debug", skip_all)]
pub(crate) async fn begin_write<C>(db: &C) -> Result<C::Transaction, ServiceError>
where
    C: sea_orm::ConnectionTrait + sea_orm::TransactionTrait,
{
    let options = sea_orm::TransactionOptions {
        sqlite_transaction_mode: (db.get_database_backend() == sea_orm::DbBackend::Sqlite)
            .then_some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    Ok(db.begin_with_options(options).await?)
}
