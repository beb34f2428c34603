//! Shared test fixtures: throw-away databases on both backends and the built binaries.

pub mod api;
pub mod bin;
pub mod browser;
pub mod db;

pub use api::*;
pub use bin::*;
pub use db::*;
