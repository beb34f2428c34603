//! Tenant scoping, default-deny: the only way this crate reads, updates or deletes rows of a
//! tenant-owned table is through these helpers, which add `organization_id = <tenant>`.

use entity::{
    asset_processing_locations, data_processing_activities, digital_assets, purposes, users,
};
use sea_orm::{ColumnTrait, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};

/// Who is calling: the token's organization and user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub organization_id: String,
    pub user_id: String,
}

impl Tenant {
    pub fn new(organization_id: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self {
            organization_id: organization_id.into(),
            user_id: user_id.into(),
        }
    }
}

/// A table whose rows belong to one organization.
pub trait TenantOwned: EntityTrait {
    /// The column naming the owning organization.
    fn owner() -> Self::Column;
}

macro_rules! tenant_owned {
    ($($module:ident),*) => {$(
        impl TenantOwned for $module::Entity {
            fn owner() -> Self::Column {
                $module::Column::OrganizationId
            }
        }
    )*};
}

tenant_owned!(
    digital_assets,
    asset_processing_locations,
    data_processing_activities,
    purposes,
    users
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
