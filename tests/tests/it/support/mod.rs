//! Shared test fixtures: throw-away databases on both backends, the built binaries, and the
//! servers some tests put around the database (a streaming replica, PgBouncer).

pub mod api;
pub mod bin;
pub mod browser;
pub mod db;
pub mod pgbouncer;
pub mod replica;

pub use api::*;
pub use bin::*;
pub use db::*;
