//! The GraphQL schema of DESIGN §4.

mod batched;
pub mod guard;
pub mod history;
mod inputs;
pub mod loaders;
mod mutation;
pub mod order;
mod query;
mod shape;
pub mod transfers;
pub mod types;

use std::sync::Arc;

use async_graphql::{Context, EmptySubscription, Schema, SchemaBuilder};
use service::Tenant;

use crate::db::{Databases, Db};

pub use loaders::{Batched, Loaders};
pub use mutation::Mutation;
pub use query::Query;

/// The schema type.
pub type InventorySchema = Schema<Query, Mutation, EmptySubscription>;

/// Deepest query accepted: GraphiQL's introspection query reaches 14.
pub const MAX_DEPTH: usize = 16;
/// The static cost of a field whose list has no page size: an asset's locations and
/// activities are assumed this long (the response budget counts the real lengths).
pub const ASSUMED_LIST_LEN: usize = 10;

/// The schema with its limits (`max_cost`: see MAX_QUERY_COST), before the server adds its
/// data.
pub fn builder(max_cost: usize) -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(max_cost)
}

/// The SDL, as `api schema` prints it.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}

/// The caller's tenant, put in the request by the HTTP layer.
pub(crate) fn tenant<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Tenant> {
    ctx.data::<Tenant>()
}

/// The database this request runs on: the primary for a request that may write, the read
/// replica (when there is one) for a query.
pub(crate) fn db<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Db> {
    let may_write = ctx
        .data_opt::<Arc<guard::RequestGuard>>()
        .is_none_or(|g| g.on_primary());
    Ok(ctx.data::<Databases>()?.for_operation(may_write))
}
