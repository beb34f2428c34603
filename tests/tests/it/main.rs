//! Black-box tests of the built binaries against real PostgreSQL and SQLite databases.
//! PostgreSQL tests skip (saying so) when no server is reachable, except in CI where they fail.
// Fixtures and assertions fail by panicking: that is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Declares, for each `async fn name(backend: Backend)`, the tests `name::on_postgres` and
/// `name::on_sqlite`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::support::Backend;
            #[tokio::test]
            async fn on_postgres() { super::$name(Backend::Postgres).await }
            #[tokio::test]
            async fn on_sqlite() { super::$name(Backend::Sqlite).await }
        }
    )*};
}

mod support;

mod api_activities;
mod api_admin;
mod api_assets;
mod api_concurrency;
mod api_connections;
mod api_export;
mod api_graphql_http;
mod api_history;
mod api_http;
mod api_limits;
mod api_locations;
mod api_search;
mod api_tenancy;
mod api_transfers;
mod browser;
mod deploy;
mod foreign_keys;
mod pooler;
mod replica;
mod rollback;
mod runbook;
mod runner;
mod runner_hardening;
mod schema;
mod tenant_key;
