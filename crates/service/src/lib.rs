//! The tenant-scoped domain layer: digital assets, their processing locations and their links to
//! data-processing activities. Every function takes a connection (or a transaction) and the
//! caller's [`Tenant`]; every read or write of a tenant-owned table goes through [`scope`].

pub mod activities;
pub mod assets;
mod batch;
pub mod demo;
mod error;
pub mod locations;
pub mod reference;
pub mod reference_cache;
pub mod scope;
mod time;
pub mod validate;

pub use error::ServiceError;
pub use scope::Tenant;

/// A new id: UUIDv7, so ids sort by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
