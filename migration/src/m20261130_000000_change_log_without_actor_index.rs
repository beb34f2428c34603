//! The change log loses its index on the actor (`idx_change_log_org_actor_time`, migration 7).
//!
//! Every change writes one log entry per changed row, and each entry was four B-tree insertions:
//! the primary key, "this asset's history", "the organization's changes since T", and "what this
//! person changed". The last served only `changeLog(filter: { actorId })`, a rare audit read, and
//! was the log's largest index (65 of its 181 MB at 237,000 entries, docs/BENCHMARKS.md); the
//! writes, which every mutation pays, are the log's cost to bound (at most 15% of create's and
//! update's throughput). A filter on the actor now walks the organization's changes newest first
//! (`idx_change_log_org_time`) and keeps that actor's: pages keep their order and size, but
//! finding them reads past other people's changes, up to the whole log for an actor with few
//! (a `since` bounds it; so does the statement timeout). `down` builds the index again.
//!
//! Dropped without blocking writes (`DROP INDEX CONCURRENTLY`, see `online_index`).

use sea_orm_migration::prelude::*;

use crate::online_index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The index this migration drops: name, columns (as migration 7 built it).
pub const DROPPED: (&str, &[&str]) = (
    "idx_change_log_org_actor_time",
    &["organization_id", "actor_id", "changed_at", "id"],
);

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// DROP and CREATE INDEX CONCURRENTLY cannot run in a transaction.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        online_index::drop(manager, DROPPED.0, "change_log").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        online_index::create(manager, DROPPED.0, "change_log", DROPPED.1).await
    }
}
