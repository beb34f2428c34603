//! Tenant scoping, default-deny: the only way this crate reads, updates, deletes or inserts rows
//! of a tenant-owned table is through these helpers, which add `organization_id = <tenant>` (or
//! write it into each inserted row). Clippy holds the crate to it: `EntityTrait::find`,
//! `update_many`, `delete_many`, `insert` and `insert_many` are disallowed (`clippy.toml`), and
//! allowed only here, where the reference tables (countries, transfer mechanisms) are read, and
//! where the directory writes organizations, which are the tenants themselves.
#![allow(
    clippy::disallowed_methods,
    reason = "the one module that builds tenant-scoped statements"
)]

use entity::{
    asset_processing_locations, change_log, data_processing_activities,
    data_processing_activity_digital_assets, digital_assets, purposes, users,
};
use sea_orm::sea_query::{Query, ReturningClause};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DeleteMany, EntityTrait,
    FromQueryResult, Insert, InsertMany, Iterable, QueryFilter, QuerySelect, QueryTrait, Select,
    StatementBuilder, UpdateMany,
};

use crate::ServiceError;
use crate::history::Logged;

/// Who is calling: the token's organization and user (the token's `sub`, recorded as the actor
/// of every change), and the request being served, when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub organization_id: String,
    pub user_id: String,
    pub request_id: Option<String>,
}

impl Tenant {
    pub fn new(organization_id: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self {
            organization_id: organization_id.into(),
            user_id: user_id.into(),
            request_id: None,
        }
    }

    /// The same caller, serving request `id` (recorded with each change it makes).
    pub fn in_request(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }
}

/// A table whose rows belong to one organization.
pub trait TenantOwned: EntityTrait {
    /// What a row is called in messages ("digital asset").
    const NAME: &'static str;
    /// The column naming the owning organization.
    fn owner() -> Self::Column;
    /// The primary key.
    fn id() -> Self::Column;
}

macro_rules! tenant_owned {
    ($($module:ident => $name:literal),* $(,)?) => {$(
        impl TenantOwned for $module::Entity {
            const NAME: &'static str = $name;
            fn owner() -> Self::Column {
                $module::Column::OrganizationId
            }
            fn id() -> Self::Column {
                $module::Column::Id
            }
        }
    )*};
}

tenant_owned!(
    digital_assets => "digital asset",
    asset_processing_locations => "processing location",
    data_processing_activities => "data-processing activity",
    purposes => "purpose",
    users => "user",
    change_log => "change log entry",
    data_processing_activity_digital_assets => "link",
);

/// `SELECT … WHERE organization_id = tenant`.
pub fn find<E: TenantOwned>(tenant: &Tenant) -> Select<E> {
    E::find().filter(E::owner().eq(tenant.organization_id.as_str()))
}

/// `UPDATE … WHERE organization_id = tenant`.
pub fn update<E: TenantOwned>(tenant: &Tenant) -> UpdateMany<E> {
    E::update_many().filter(E::owner().eq(tenant.organization_id.as_str()))
}

/// `DELETE … WHERE organization_id = tenant`.
pub fn delete<E: TenantOwned>(tenant: &Tenant) -> DeleteMany<E> {
    E::delete_many().filter(E::owner().eq(tenant.organization_id.as_str()))
}

/// `INSERT` of one row of the tenant: its `organization_id` is the tenant's, whatever the caller
/// set.
pub fn insert<E, A>(tenant: &Tenant, mut row: A) -> Insert<A>
where
    E: TenantOwned,
    A: ActiveModelTrait<Entity = E>,
{
    row.set(E::owner(), tenant.organization_id.as_str().into());
    E::insert(row)
}

/// `INSERT` of rows of the tenant, each stamped as [`insert`] does.
pub fn insert_many<E, A>(tenant: &Tenant, rows: impl IntoIterator<Item = A>) -> InsertMany<A>
where
    E: TenantOwned,
    A: ActiveModelTrait<Entity = E>,
{
    E::insert_many(rows.into_iter().map(|mut row| {
        row.set(E::owner(), tenant.organization_id.as_str().into());
        row
    }))
}

/// One of the tenant's rows by id, or NOT_FOUND.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn get<E: TenantOwned>(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: &str,
) -> Result<E::Model, ServiceError> {
    find::<E>(tenant)
        .filter(E::id().eq(id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound(E::NAME))
}

/// How a row read inside a write transaction is locked until the transaction ends (PostgreSQL;
/// SQLite's write transactions are serialized whole, see [`crate::begin_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowLock {
    /// `FOR UPDATE`: the row is about to change, or decides a change of rows that hang off it.
    Exclusive,
    /// `FOR SHARE`: the row must keep existing (not be deleted) until the transaction ends.
    Shared,
}

/// One of the tenant's rows by id, locked as `lock` says, or NOT_FOUND.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn get_locked<E: TenantOwned>(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: &str,
    lock: RowLock,
) -> Result<E::Model, ServiceError> {
    let select = find::<E>(tenant).filter(E::id().eq(id));
    let select = match lock {
        RowLock::Exclusive => select.lock_exclusive(),
        RowLock::Shared => select.lock_shared(),
    };
    select.one(db).await?.ok_or(ServiceError::NotFound(E::NAME))
}

/// Applies `change` to one of the tenant's rows and returns it as stored, or NOT_FOUND; `log`,
/// the change's entries in the change log ([`crate::history::written_with`]), are written by
/// the same statement.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub(crate) async fn update_by_id<E, A>(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: &str,
    change: A,
    log: Option<Logged>,
) -> Result<E::Model, ServiceError>
where
    E: TenantOwned,
    A: ActiveModelTrait<Entity = E>,
{
    let mut statement = update::<E>(tenant)
        .set(change)
        .filter(E::id().eq(id))
        .into_query();
    statement.returning(every_column::<E>(db.get_database_backend()));
    if let Some(log) = log {
        statement.with_cte(log.into_clause());
    }
    returned::<E>(db, &statement)
        .await?
        .ok_or(ServiceError::NotFound(E::NAME))
}

/// Inserts one row of the tenant, stamped as [`insert`] does, and returns it as stored; `log`
/// as for [`update_by_id`].
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub(crate) async fn insert_returning<E, A>(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    row: A,
    log: Option<Logged>,
) -> Result<E::Model, ServiceError>
where
    E: TenantOwned,
    A: ActiveModelTrait<Entity = E>,
{
    let mut statement = insert(tenant, row).into_query();
    statement.returning(every_column::<E>(db.get_database_backend()));
    if let Some(log) = log {
        statement.with_cte(log.into_clause());
    }
    returned::<E>(db, &statement)
        .await?
        .ok_or_else(|| ServiceError::Internal(sea_orm::DbErr::RecordNotInserted))
}

/// `RETURNING` every column of `E`, read as sea-orm reads them (enums as text).
fn every_column<E: EntityTrait>(backend: DbBackend) -> ReturningClause {
    Query::returning().exprs(E::Column::iter().map(|c| c.select_as(c.into_returning_expr(backend))))
}

/// The row a statement with `RETURNING` [`every_column`] wrote, if it wrote one.
async fn returned<E: EntityTrait>(
    db: &impl ConnectionTrait,
    statement: &impl StatementBuilder,
) -> Result<Option<E::Model>, ServiceError> {
    let statement = statement.build(&db.get_database_backend());
    Ok(E::Model::find_by_statement(statement).one(db).await?)
}
