//! Digital assets: create (with locations, atomically), read, update, delete; lists in
//! [`listing`].

mod listing;

pub use listing::{
    AssetCursor, AssetFilter, AssetOrder, AssetPage, AssetRiskFilter, Direction, MAX_PAGE, Page,
    SortField, SortKey, count, list,
};

use entity::data_processing_activity_digital_assets as links;
use entity::digital_assets::{self as assets, Column, Entity, Model};
use entity::sea_orm_active_enums::{AssetType, IntegrationStatus};
use sea_orm::prelude::DateTimeWithTimeZone;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, TransactionSession, TransactionTrait,
};
use serde_json::Value as Json;

use crate::history::{self, Change, EntityType};
use crate::in_list::padded;
use crate::locations::{self, NewLocation, set_if};
use crate::reference::References;
use crate::scope::RowLock;
use crate::{ServiceError, Tenant, begin_write, new_id, scope, time, validate};

/// A digital asset to create, with its first locations.
#[derive(Debug, Clone)]
pub struct NewAsset {
    pub name: String,
    pub asset_type: AssetType,
    pub description: Option<String>,
    pub primary_hosting_country_id: Option<String>,
    pub url: Option<String>,
    pub technical_owner_id: Option<String>,
    pub business_owner_id: Option<String>,
    pub contains_personal_data: bool,
    pub integration_status: IntegrationStatus,
    pub last_scanned_at: Option<DateTimeWithTimeZone>,
    pub discovered_via: Option<String>,
    pub metadata: Option<Json>,
    pub locations: Vec<NewLocation>,
}

/// Changes to an asset: `None` keeps a field, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct AssetPatch {
    pub name: Option<String>,
    pub asset_type: Option<AssetType>,
    pub description: Option<Option<String>>,
    pub primary_hosting_country_id: Option<Option<String>>,
    pub url: Option<Option<String>>,
    pub technical_owner_id: Option<Option<String>>,
    pub business_owner_id: Option<Option<String>>,
    pub contains_personal_data: Option<bool>,
    pub integration_status: Option<IntegrationStatus>,
    pub last_scanned_at: Option<Option<DateTimeWithTimeZone>>,
    pub discovered_via: Option<Option<String>>,
    pub metadata: Option<Option<Json>>,
}

/// Validates the asset's own optional fields (shared by create and update).
fn check_texts(
    description: Option<&str>,
    url: Option<&str>,
    discovered_via: Option<&str>,
    metadata: Option<&Json>,
    last_scanned_at: Option<&DateTimeWithTimeZone>,
) -> Result<(), ServiceError> {
    validate::timestamp("lastScannedAt", last_scanned_at)?;
    validate::optional_text("description", description, 2000)?;
    validate::url("url", url)?;
    validate::optional_text("discoveredVia", discovered_via, 100)?;
    validate::metadata("metadata", metadata)
}

/// Creates an asset and its locations in one transaction.
#[tracing::instrument(skip(db, input), fields(org = %tenant.organization_id))]
pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &Tenant,
    mut input: NewAsset,
) -> Result<Model, ServiceError> {
    let name = validate::required_text("name", &input.name, 1, 255)?;
    validate::list_len(
        "locations",
        input.locations.len(),
        validate::MAX_LOCATIONS_PER_CALL,
    )?;
    check_texts(
        input.description.as_deref(),
        input.url.as_deref(),
        input.discovered_via.as_deref(),
        input.metadata.as_ref(),
        input.last_scanned_at.as_ref(),
    )?;
    let mut refs = References::default();
    if let Some(id) = &input.primary_hosting_country_id {
        refs.countries
            .push(("primaryHostingCountryId".into(), id.clone()));
    }
    for (field, id) in [
        ("technicalOwnerId", &input.technical_owner_id),
        ("businessOwnerId", &input.business_owner_id),
    ] {
        if let Some(id) = id {
            refs.users.push((field.into(), id.clone()));
        }
    }
    for (i, location) in input.locations.iter_mut().enumerate() {
        locations::check_new(&format!("locations[{i}]."), location, &mut refs)?;
    }

    let now = time::now();
    let id = new_id();
    let txn = begin_write(db).await?;
    refs.check(&txn, tenant).await?;
    let row = assets::ActiveModel {
        id: Set(id.clone()),
        organization_id: Set(tenant.organization_id.clone()),
        name: Set(name),
        r#type: Set(input.asset_type),
        description: Set(input.description),
        primary_hosting_country_id: Set(input.primary_hosting_country_id),
        url: Set(input.url),
        technical_owner_id: Set(input.technical_owner_id),
        business_owner_id: Set(input.business_owner_id),
        contains_personal_data: Set(input.contains_personal_data),
        integration_status: Set(input.integration_status),
        // In UTC, as every stored time (SQLite keeps the text it is given).
        last_scanned_at: Set(input.last_scanned_at.map(time::stored)),
        discovered_via: Set(input.discovered_via),
        metadata: Set(input.metadata),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let (locations, location_log): (Vec<_>, Vec<_>) = input
        .locations
        .into_iter()
        .map(|location| locations::new_row(tenant, &id, location))
        .unzip();
    let mut log = vec![Change::created(EntityType::DigitalAsset, &id, &id, &row)];
    log.extend(location_log);
    let logged = history::written_with(&txn, tenant, log).await?;
    let asset = scope::insert_returning(&txn, tenant, row, logged).await?;
    for location in locations {
        scope::insert(tenant, location)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(asset)
}

/// One of the tenant's assets, if it exists.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn get(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: &str,
) -> Result<Option<Model>, ServiceError> {
    Ok(lean(scope::find::<Entity>(tenant), db)
        .filter(Column::Id.eq(id))
        .one(db)
        .await?)
}

/// Assets as lists show them: without `metadata` (see [`crate::metadata`]).
pub(crate) fn lean(select: Select<Entity>, db: &impl ConnectionTrait) -> Select<Entity> {
    crate::metadata::without(select, Column::Metadata, db.get_database_backend())
}

/// The tenant's assets among `ids` (any order).
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn by_ids(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<Model>, ServiceError> {
    Ok(lean(scope::find::<Entity>(tenant), db)
        .filter(Column::Id.is_in(padded(ids)))
        .all(db)
        .await?)
}

/// The tenant's assets among `ids`, locked FOR SHARE until the transaction ends (so none is
/// deleted while the caller links it).
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub(crate) async fn by_ids_locked(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<Model>, ServiceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(lean(scope::find::<Entity>(tenant), db)
        .filter(Column::Id.is_in(padded(ids)))
        .lock_shared()
        .all(db)
        .await?)
}

/// Changes one of the tenant's assets.
#[tracing::instrument(skip(db, patch), fields(org = %tenant.organization_id))]
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &Tenant,
    id: &str,
    patch: AssetPatch,
) -> Result<Model, ServiceError> {
    // Locked first: an unknown id is NOT_FOUND before any validation error, and concurrent
    // updates of one asset apply one after the other.
    let txn = begin_write(db).await?;
    let current = scope::get_locked::<Entity>(&txn, tenant, id, RowLock::Exclusive).await?;
    check_texts(
        patch.description.as_ref().and_then(Option::as_deref),
        patch.url.as_ref().and_then(Option::as_deref),
        patch.discovered_via.as_ref().and_then(Option::as_deref),
        patch.metadata.as_ref().and_then(Option::as_ref),
        patch.last_scanned_at.as_ref().and_then(Option::as_ref),
    )?;
    let mut refs = References::default();
    let mut change = assets::ActiveModel {
        updated_at: Set(time::now()),
        ..Default::default()
    };
    if let Some(name) = patch.name {
        change.name = Set(validate::required_text("name", &name, 1, 255)?);
    }
    if let Some(Some(id)) = &patch.primary_hosting_country_id {
        refs.countries
            .push(("primaryHostingCountryId".into(), id.clone()));
    }
    for (field, value) in [
        ("technicalOwnerId", &patch.technical_owner_id),
        ("businessOwnerId", &patch.business_owner_id),
    ] {
        if let Some(Some(id)) = value {
            refs.users.push((field.into(), id.clone()));
        }
    }
    set_if(&mut change.r#type, patch.asset_type);
    set_if(&mut change.description, patch.description);
    set_if(
        &mut change.primary_hosting_country_id,
        patch.primary_hosting_country_id,
    );
    set_if(&mut change.url, patch.url);
    set_if(&mut change.technical_owner_id, patch.technical_owner_id);
    set_if(&mut change.business_owner_id, patch.business_owner_id);
    set_if(
        &mut change.contains_personal_data,
        patch.contains_personal_data,
    );
    set_if(&mut change.integration_status, patch.integration_status);
    set_if(
        &mut change.last_scanned_at,
        patch.last_scanned_at.map(|t| t.map(time::stored)),
    );
    set_if(&mut change.discovered_via, patch.discovered_via);
    set_if(&mut change.metadata, patch.metadata);
    refs.check(&txn, tenant).await?;
    let Some(log) = Change::patched(EntityType::DigitalAsset, id, id, &current, &change) else {
        // Nothing changes: nothing is written, not even `updatedAt`.
        return Ok(current);
    };
    let logged = history::written_with(&txn, tenant, vec![log]).await?;
    let saved = scope::update_by_id::<Entity, _>(&txn, tenant, id, change, logged).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Deletes one of the tenant's assets and its locations; CONFLICT while it is linked to
/// activities. Returns the asset as it was.
#[tracing::instrument(skip(db), fields(org = %tenant.organization_id))]
pub async fn delete<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &Tenant,
    id: &str,
) -> Result<Model, ServiceError> {
    // Locked: a concurrent link (which locks the asset FOR SHARE) waits, so the count below
    // stays true until the delete commits.
    let txn = begin_write(db).await?;
    let asset = scope::get_locked::<Entity>(&txn, tenant, id, RowLock::Exclusive).await?;
    let linked = scope::find::<links::Entity>(tenant)
        .filter(links::Column::DigitalAssetId.eq(id))
        .count(&txn)
        .await?;
    if linked > 0 {
        let noun = if linked == 1 {
            "activity"
        } else {
            "activities"
        };
        return Err(ServiceError::Conflict(format!(
            "the digital asset is linked to {linked} data-processing {noun}; unlink it before deleting it"
        )));
    }
    log_deletion(&txn, tenant, &asset).await?;
    scope::delete::<Entity>(tenant)
        .filter(Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(asset)
}

/// Logs the deletion of `asset` and of each of its locations, each with its last state: the
/// locations in batches, so memory stays flat however many an asset has.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
async fn log_deletion(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    asset: &Model,
) -> Result<(), ServiceError> {
    use entity::asset_processing_locations as locs;
    // Small: each location may hold a 64 KiB document, which parsed takes up to ~30 times that.
    const BATCH: u64 = 10;
    let mut count = 0_u64;
    let mut after: Option<(DateTimeWithTimeZone, String)> = None;
    loop {
        let mut select = scope::find::<locs::Entity>(tenant)
            .filter(locs::Column::DigitalAssetId.eq(asset.id.as_str()));
        if let Some((created_at, id)) = &after {
            select = select.filter(
                Expr::tuple([
                    Expr::col(locs::Column::CreatedAt),
                    Expr::col(locs::Column::Id),
                ])
                .gt(Expr::tuple([
                    Expr::val(*created_at),
                    Expr::val(id.as_str()),
                ])),
            );
        }
        // Locked: a concurrent update of a location lands before the snapshot, or finds the
        // location deleted; never after it, with the log saying otherwise.
        let batch = select
            .order_by_asc(locs::Column::CreatedAt)
            .order_by_asc(locs::Column::Id)
            .limit(BATCH)
            .lock_exclusive()
            .all(db)
            .await?;
        let Some(last) = batch.last() else { break };
        after = Some((last.created_at, last.id.clone()));
        count += batch.len() as u64;
        let full = batch.len() as u64 == BATCH;
        let log = batch
            .iter()
            .map(|l| {
                Change::deleted(
                    EntityType::ProcessingLocation,
                    &l.id,
                    &asset.id,
                    history::snapshot(l).into(),
                )
            })
            .collect();
        history::record(db, tenant, log).await?;
        if !full {
            break;
        }
    }
    let mut snapshot = history::snapshot(asset);
    snapshot.insert("locationCount".into(), count.into());
    let log = Change::deleted(
        EntityType::DigitalAsset,
        &asset.id,
        &asset.id,
        snapshot.into(),
    );
    history::record(db, tenant, vec![log]).await
}
