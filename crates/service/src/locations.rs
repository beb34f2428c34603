//! Where an asset is hosted or processed: country, role, purpose and transfer mechanism.

use entity::asset_processing_locations::{self as locations, Column, Entity, Model};
use entity::digital_assets;
use entity::sea_orm_active_enums::LocationRole;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
};
use serde_json::Value as Json;

use crate::history::{self, Action, Change, EntityType};
use crate::in_list::padded;
use crate::reference::References;
use crate::scope::RowLock;
use crate::{ServiceError, Tenant, begin_write, new_id, scope, time, validate};

/// A location to add (to a new or an existing asset).
#[derive(Debug, Clone)]
pub struct NewLocation {
    pub service: String,
    pub country_id: String,
    pub location_role: LocationRole,
    pub purpose_id: Option<String>,
    pub purpose_text: Option<String>,
    pub transfer_mechanism_id: Option<String>,
    pub is_active: bool,
    pub metadata: Option<Json>,
}

/// Changes to a location: `None` keeps a field, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct LocationPatch {
    pub service: Option<String>,
    pub country_id: Option<String>,
    pub location_role: Option<LocationRole>,
    pub purpose_id: Option<Option<String>>,
    pub purpose_text: Option<Option<String>>,
    pub transfer_mechanism_id: Option<Option<String>>,
    pub is_active: Option<bool>,
    pub metadata: Option<Option<Json>>,
}

/// Validates `location` (its fields named under `prefix`, e.g. `locations[1].`), trims its
/// service, and adds its references to `refs`.
pub(crate) fn check_new(
    prefix: &str,
    location: &mut NewLocation,
    refs: &mut References,
) -> Result<(), ServiceError> {
    let field = |name: &str| format!("{prefix}{name}");
    location.service = validate::required_text(&field("service"), &location.service, 1, 500)?;
    validate::optional_text(&field("purposeText"), location.purpose_text.as_deref(), 500)?;
    validate::metadata(&field("metadata"), location.metadata.as_ref())?;
    require_purpose(
        prefix,
        location.purpose_id.as_deref(),
        location.purpose_text.as_deref(),
    )?;
    refs.countries
        .push((field("countryId"), location.country_id.clone()));
    if let Some(id) = &location.purpose_id {
        refs.purposes.push((field("purposeId"), id.clone()));
    }
    if let Some(id) = &location.transfer_mechanism_id {
        refs.mechanisms
            .push((field("transferMechanismId"), id.clone()));
    }
    Ok(())
}

/// A location states why data is there: a purpose of the organization, or a text.
fn require_purpose(prefix: &str, id: Option<&str>, text: Option<&str>) -> Result<(), ServiceError> {
    let has_text = text.is_some_and(|t| !t.trim().is_empty());
    if id.is_none() && !has_text {
        return Err(ServiceError::bad_input(
            &format!("{prefix}purposeId"),
            format!("{prefix}purposeId or {prefix}purposeText is required"),
        ));
    }
    Ok(())
}

/// A new location of `asset_id` as the row to insert, with its change log entry.
pub(crate) fn new_row(
    tenant: &Tenant,
    asset_id: &str,
    location: NewLocation,
) -> (locations::ActiveModel, Change) {
    let now = time::now();
    let id = new_id();
    let row = locations::ActiveModel {
        id: Set(id.clone()),
        organization_id: Set(tenant.organization_id.clone()),
        digital_asset_id: Set(asset_id.to_owned()),
        service: Set(location.service),
        purpose_id: Set(location.purpose_id),
        purpose_text: Set(location.purpose_text),
        country_id: Set(location.country_id),
        location_role: Set(location.location_role),
        transfer_mechanism_id: Set(location.transfer_mechanism_id),
        is_active: Set(location.is_active),
        metadata: Set(location.metadata),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let log = Change::created(EntityType::ProcessingLocation, &id, asset_id, &row);
    (row, log)
}

/// Adds locations to one of the tenant's assets, all or none.
#[tracing::instrument(skip(db, locations), fields(org = %tenant.organization_id, count = locations.len()))]
pub async fn add<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &Tenant,
    asset_id: &str,
    mut locations: Vec<NewLocation>,
) -> Result<Vec<Model>, ServiceError> {
    validate::list_len(
        "locations",
        locations.len(),
        validate::MAX_LOCATIONS_PER_CALL,
    )?;
    let mut refs = References::default();
    for (i, location) in locations.iter_mut().enumerate() {
        check_new(&format!("locations[{i}]."), location, &mut refs)?;
    }
    let txn = begin_write(db).await?;
    // The asset must outlive the insert (a concurrent delete waits for this transaction).
    scope::get_locked::<digital_assets::Entity>(&txn, tenant, asset_id, RowLock::Shared).await?;
    refs.check(&txn, tenant).await?;
    let (rows, log): (Vec<_>, Vec<_>) = locations
        .into_iter()
        .map(|location| new_row(tenant, asset_id, location))
        .unzip();
    // The first insert writes every entry.
    let mut logged = history::written_with(&txn, tenant, log).await?;
    let mut added = Vec::with_capacity(rows.len());
    for row in rows {
        added.push(scope::insert_returning(&txn, tenant, row, logged.take()).await?);
    }
    txn.commit().await?;
    Ok(added)
}

/// Changes one of the tenant's locations.
#[tracing::instrument(skip(db, patch), fields(org = %tenant.organization_id))]
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &Tenant,
    id: &str,
    patch: LocationPatch,
) -> Result<Model, ServiceError> {
    // The purpose rule spans two fields, so it is decided on the row as stored, locked until
    // the change commits: two concurrent updates clearing one field each cannot both pass.
    let txn = begin_write(db).await?;
    let current = scope::get_locked::<Entity>(&txn, tenant, id, RowLock::Exclusive).await?;
    let mut refs = References::default();
    let mut change = locations::ActiveModel {
        updated_at: Set(time::now()),
        ..Default::default()
    };
    if let Some(service) = patch.service {
        change.service = Set(validate::required_text("service", &service, 1, 500)?);
    }
    if let Some(country) = patch.country_id {
        refs.countries.push(("countryId".into(), country.clone()));
        change.country_id = Set(country);
    }
    set_if(&mut change.location_role, patch.location_role);
    if let Some(purpose) = patch.purpose_id {
        if let Some(id) = &purpose {
            refs.purposes.push(("purposeId".into(), id.clone()));
        }
        change.purpose_id = Set(purpose);
    }
    if let Some(text) = patch.purpose_text {
        validate::optional_text("purposeText", text.as_deref(), 500)?;
        change.purpose_text = Set(text);
    }
    if let Some(mechanism) = patch.transfer_mechanism_id {
        if let Some(id) = &mechanism {
            refs.mechanisms
                .push(("transferMechanismId".into(), id.clone()));
        }
        change.transfer_mechanism_id = Set(mechanism);
    }
    set_if(&mut change.is_active, patch.is_active);
    if let Some(metadata) = patch.metadata {
        validate::metadata("metadata", metadata.as_ref())?;
        change.metadata = Set(metadata);
    }
    let purpose_id = match &change.purpose_id {
        sea_orm::ActiveValue::Set(v) => v.clone(),
        _ => current.purpose_id.clone(),
    };
    let purpose_text = match &change.purpose_text {
        sea_orm::ActiveValue::Set(v) => v.clone(),
        _ => current.purpose_text.clone(),
    };
    require_purpose("", purpose_id.as_deref(), purpose_text.as_deref())?;
    refs.check(&txn, tenant).await?;
    let saved = save_logged(&txn, tenant, &current, change, Action::Updated).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Applies `change` to `current` (locked) and logs it as `action`; when it would change
/// nothing, writes nothing (not even `updatedAt`) and returns `current`.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
async fn save_logged(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    current: &Model,
    change: locations::ActiveModel,
    action: Action,
) -> Result<Model, ServiceError> {
    let kind = EntityType::ProcessingLocation;
    let (id, asset) = (&current.id, &current.digital_asset_id);
    let Some(log) = Change::patched(kind, id, asset, current, &change) else {
        return Ok(current.clone());
    };
    let logged = history::written_with(db, tenant, vec![log.called(action)]).await?;
    scope::update_by_id::<Entity, _>(db, tenant, id, change, logged).await
}

/// Sets `field` when the patch gives a value (`None` keeps the stored one).
pub(crate) fn set_if<T>(field: &mut sea_orm::ActiveValue<T>, value: Option<T>)
where
    T: Into<sea_orm::Value>,
{
    if let Some(v) = value {
        *field = Set(v);
    }
}

/// Marks one of the tenant's locations inactive (idempotent: deactivating an inactive location
/// changes and logs nothing).
#[tracing::instrument(skip(db), fields(org = %tenant.organization_id))]
pub async fn deactivate<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &Tenant,
    id: &str,
) -> Result<Model, ServiceError> {
    let txn = begin_write(db).await?;
    let current = scope::get_locked::<Entity>(&txn, tenant, id, RowLock::Exclusive).await?;
    let change = locations::ActiveModel {
        is_active: Set(false),
        updated_at: Set(time::now()),
        ..Default::default()
    };
    let saved = save_logged(&txn, tenant, &current, change, Action::Deactivated).await?;
    txn.commit().await?;
    Ok(saved)
}

/// Locations as lists show them: without `metadata` (see [`crate::metadata`]).
fn lean(select: sea_orm::Select<Entity>, db: &impl ConnectionTrait) -> sea_orm::Select<Entity> {
    crate::metadata::without(select, Column::Metadata, db.get_database_backend())
}

/// One of the tenant's locations.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn get(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: &str,
) -> Result<Model, ServiceError> {
    scope::get::<Entity>(db, tenant, id).await
}

/// The locations of one of the tenant's assets, oldest first; NOT_FOUND for an asset that is
/// not the tenant's.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn for_asset(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    asset_id: &str,
    include_inactive: bool,
) -> Result<Vec<Model>, ServiceError> {
    scope::get::<digital_assets::Entity>(db, tenant, asset_id).await?;
    for_assets(db, tenant, &[asset_id.to_owned()], include_inactive, None).await
}

/// The locations of the tenant's assets among `asset_ids`, oldest first; at most `limit` rows
/// when given (a caller with a budget asks for one more than it can take, to know it overran).
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn for_assets(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    asset_ids: &[String],
    include_inactive: bool,
    limit: Option<u64>,
) -> Result<Vec<Model>, ServiceError> {
    let mut select = lean(scope::find::<Entity>(tenant), db)
        .filter(Column::DigitalAssetId.is_in(padded(asset_ids)));
    if !include_inactive {
        select = select.filter(Column::IsActive.eq(true));
    }
    Ok(select
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// One of the tenant's assets' active locations after `after` (`created_at`, id), oldest first,
/// at most `limit`: how an export reads an asset with very many locations a part at a time.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn active_page(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    asset_id: &str,
    after: Option<&Model>,
    limit: u64,
) -> Result<Vec<Model>, ServiceError> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    let mut select = lean(scope::find::<Entity>(tenant), db)
        .filter(Column::DigitalAssetId.eq(asset_id))
        .filter(Column::IsActive.eq(true));
    if let Some(last) = after {
        select = select.filter(
            Expr::tuple([Expr::col(Column::CreatedAt), Expr::col(Column::Id)]).gt(Expr::tuple([
                Expr::val(last.created_at),
                Expr::val(last.id.as_str()),
            ])),
        );
    }
    Ok(select
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}

/// The tenant's locations in a country, oldest first; `is_active` filters when given.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn by_country(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    country_id: &str,
    is_active: Option<bool>,
    limit: Option<u64>,
) -> Result<Vec<Model>, ServiceError> {
    let mut select =
        lean(scope::find::<Entity>(tenant), db).filter(Column::CountryId.eq(country_id));
    if let Some(active) = is_active {
        select = select.filter(Column::IsActive.eq(active));
    }
    Ok(select
        .order_by_asc(Column::CreatedAt)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
