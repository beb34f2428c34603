//! Clients' JSON documents (`metadata`, up to 64 KiB each) stay out of lists and batches: rows
//! are read with `metadata` NULL, and the documents are read by id for the rows whose field a
//! query asks for (each asked field is charged to the request's response budget first), so
//! how many documents one request reads is bounded, however long the lists.

use entity::{asset_processing_locations as locations, digital_assets as assets};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IdenStatic, Iterable, QueryFilter,
    QuerySelect, Select,
};
use serde_json::Value as Json;

use crate::in_list::padded;
use crate::{ServiceError, Tenant, scope};

/// `select` with every column but `metadata`, which comes back NULL.
pub(crate) fn without<E: EntityTrait>(
    select: Select<E>,
    metadata: E::Column,
    backend: DbBackend,
) -> Select<E> {
    without_all(select, &[metadata], backend)
}

/// `select` with every column but the JSON columns `documents`, which come back NULL.
pub(crate) fn without_all<E: EntityTrait>(
    select: Select<E>,
    documents: &[E::Column],
    backend: DbBackend,
) -> Select<E> {
    let skipped = |c: &E::Column| documents.iter().any(|d| d.as_str() == c.as_str());
    let mut select = select
        .select_only()
        .columns(E::Column::iter().filter(|c| !skipped(c)));
    for document in documents {
        select = select.expr_as(null_json(backend), document.as_str());
    }
    select
}

/// A NULL of the JSON column's type (PostgreSQL decodes by type, even a NULL).
fn null_json(backend: DbBackend) -> SimpleExpr {
    match backend {
        DbBackend::Postgres => Expr::cust("CAST(NULL AS jsonb)"),
        _ => Expr::cust("NULL"),
    }
}

/// Whose `metadata` to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    Asset,
    Location,
}

/// The stored size in bytes of the `metadata` of the tenant's assets (or locations) among `ids`,
/// as (id, bytes): what reading them will cost, known before reading them.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn sizes(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    owner: Owner,
    ids: &[String],
) -> Result<Vec<(String, i64)>, ServiceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let size = match db.get_database_backend() {
        DbBackend::Postgres => {
            Expr::cust("CAST(coalesce(octet_length(CAST(metadata AS text)), 0) AS bigint)")
        }
        _ => Expr::cust("coalesce(length(metadata), 0)"),
    };
    let rows = match owner {
        Owner::Asset => {
            scope::find::<assets::Entity>(tenant)
                .select_only()
                .column(assets::Column::Id)
                .expr(size)
                .filter(assets::Column::Id.is_in(padded(ids)))
                .into_tuple()
                .all(db)
                .await?
        }
        Owner::Location => {
            scope::find::<locations::Entity>(tenant)
                .select_only()
                .column(locations::Column::Id)
                .expr(size)
                .filter(locations::Column::Id.is_in(padded(ids)))
                .into_tuple()
                .all(db)
                .await?
        }
    };
    Ok(rows)
}

/// The `metadata` of the tenant's assets (or locations) among `ids`, as (id, document).
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn of(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    owner: Owner,
    ids: &[String],
) -> Result<Vec<(String, Option<Json>)>, ServiceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = match owner {
        Owner::Asset => {
            scope::find::<assets::Entity>(tenant)
                .select_only()
                .columns([assets::Column::Id, assets::Column::Metadata])
                .filter(assets::Column::Id.is_in(padded(ids)))
                .into_tuple::<(String, Option<Json>)>()
                .all(db)
                .await?
        }
        Owner::Location => {
            scope::find::<locations::Entity>(tenant)
                .select_only()
                .columns([locations::Column::Id, locations::Column::Metadata])
                .filter(locations::Column::Id.is_in(padded(ids)))
                .into_tuple::<(String, Option<Json>)>()
                .all(db)
                .await?
        }
    };
    Ok(rows)
}
