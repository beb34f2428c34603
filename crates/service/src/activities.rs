//! Data-processing activities and their links to digital assets.

use std::collections::HashSet;

use entity::data_processing_activities::{self as activities, Column, Entity, Model};
use entity::data_processing_activity_digital_assets as links;
use entity::digital_assets;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionSession, TransactionTrait,
};

use crate::history::{self, Action, Change};
use crate::in_list::padded;
use crate::scope::RowLock;
use crate::{ServiceError, Tenant, begin_write, new_id, scope, time, validate};

/// The tenant's activities, by name.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn list(db: &impl ConnectionTrait, tenant: &Tenant) -> Result<Vec<Model>, ServiceError> {
    Ok(scope::find::<Entity>(tenant)
        .order_by_asc(Column::Name)
        .order_by_asc(Column::Id)
        .all(db)
        .await?)
}

/// One of the tenant's activities, or NOT_FOUND.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn get(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: &str,
) -> Result<Model, ServiceError> {
    scope::get::<Entity>(db, tenant, id).await
}

/// Locks the activity (FOR UPDATE: every change of its links goes one at a time, so a sync
/// replaces exactly what the previous change left) and the asset (FOR SHARE: it cannot be
/// deleted meanwhile); NOT_FOUND unless both are the tenant's.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
async fn lock_both(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    activity_id: &str,
    asset_id: &str,
) -> Result<(), ServiceError> {
    scope::get_locked::<Entity>(db, tenant, activity_id, RowLock::Exclusive).await?;
    scope::get_locked::<digital_assets::Entity>(db, tenant, asset_id, RowLock::Shared).await?;
    Ok(())
}

/// Links an asset to an activity, both the tenant's; linking twice is no error.
#[tracing::instrument(skip(db), fields(org = %tenant.organization_id))]
pub async fn link<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &Tenant,
    activity_id: &str,
    asset_id: &str,
) -> Result<(), ServiceError> {
    let txn = begin_write(db).await?;
    lock_both(&txn, tenant, activity_id, asset_id).await?;
    if link_between(&txn, tenant, activity_id, asset_id)
        .await?
        .is_none()
    {
        insert_links(&txn, tenant, activity_id, vec![asset_id.to_owned()]).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The link between an activity and an asset, if there is one (read under the activity's lock,
/// so it stays true until the transaction ends).
#[tracing::instrument(level = "debug", skip_all)]
async fn link_between(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    activity_id: &str,
    asset_id: &str,
) -> Result<Option<links::Model>, ServiceError> {
    Ok(scope::find::<links::Entity>(tenant)
        .filter(links::Column::ActivityId.eq(activity_id))
        .filter(links::Column::DigitalAssetId.eq(asset_id))
        .one(db)
        .await?)
}

/// Unlinks an asset from an activity, both the tenant's; unlinking twice is no error.
#[tracing::instrument(skip(db), fields(org = %tenant.organization_id))]
pub async fn unlink<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &Tenant,
    activity_id: &str,
    asset_id: &str,
) -> Result<(), ServiceError> {
    let txn = begin_write(db).await?;
    lock_both(&txn, tenant, activity_id, asset_id).await?;
    if let Some(link) = link_between(&txn, tenant, activity_id, asset_id).await? {
        delete_links(&txn, tenant, vec![link]).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Makes `asset_ids` exactly the activity's assets, in one transaction: any unknown (or another
/// organization's) id changes nothing. Concurrent syncs of one activity apply one after the
/// other (the activity row is locked), so the links end as exactly one caller's set. Returns
/// the assets, by name.
#[tracing::instrument(skip(db, asset_ids), fields(org = %tenant.organization_id, count = asset_ids.len()))]
pub async fn sync<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    tenant: &Tenant,
    activity_id: &str,
    asset_ids: &[String],
) -> Result<Vec<digital_assets::Model>, ServiceError> {
    validate::list_len("digitalAssetIds", asset_ids.len(), validate::MAX_SYNC_IDS)?;
    let wanted: Vec<String> = {
        let mut seen = HashSet::new();
        asset_ids
            .iter()
            .filter(|id| seen.insert(*id))
            .cloned()
            .collect()
    };
    let txn = begin_write(db).await?;
    scope::get_locked::<Entity>(&txn, tenant, activity_id, RowLock::Exclusive).await?;
    let mut assets = crate::assets::by_ids_locked(&txn, tenant, &wanted).await?;
    if assets.len() != wanted.len() {
        return Err(ServiceError::NotFound("digital asset"));
    }
    let existing = scope::find::<links::Entity>(tenant)
        .filter(links::Column::ActivityId.eq(activity_id))
        .all(&txn)
        .await?;
    let kept: HashSet<&str> = existing
        .iter()
        .map(|l| l.digital_asset_id.as_str())
        .collect();
    let added: Vec<String> = wanted
        .iter()
        .filter(|id| !kept.contains(id.as_str()))
        .cloned()
        .collect();
    let wanted: HashSet<&str> = wanted.iter().map(String::as_str).collect();
    let removed = existing
        .into_iter()
        .filter(|l| !wanted.contains(l.digital_asset_id.as_str()))
        .collect();
    delete_links(&txn, tenant, removed).await?;
    insert_links(&txn, tenant, activity_id, added).await?;
    txn.commit().await?;
    assets.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    Ok(assets)
}

/// Links the activity to each of `asset_ids` (none linked yet: the caller holds the activity's
/// lock and read its links) and logs each link.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
async fn insert_links(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    activity_id: &str,
    asset_ids: Vec<String>,
) -> Result<(), ServiceError> {
    if asset_ids.is_empty() {
        return Ok(());
    }
    let now = time::now();
    let rows: Vec<links::ActiveModel> = asset_ids
        .into_iter()
        .map(|asset_id| links::ActiveModel {
            id: Set(new_id()),
            organization_id: Set(tenant.organization_id.clone()),
            activity_id: Set(activity_id.to_owned()),
            digital_asset_id: Set(asset_id),
            created_at: Set(now),
        })
        .collect();
    let log = rows
        .iter()
        .map(|row| {
            let (id, asset) = (row.id.as_ref(), row.digital_asset_id.as_ref());
            Change::link(Action::Linked, id, asset, activity_id)
        })
        .collect();
    scope::insert_many(tenant, rows)
        .exec_without_returning(db)
        .await?;
    history::record(db, tenant, log).await
}

/// Removes `links` (read under the activity's lock) and logs each.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
async fn delete_links(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    links: Vec<links::Model>,
) -> Result<(), ServiceError> {
    if links.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = links.iter().map(|l| l.id.clone()).collect();
    // In chunks: an activity may have more links than a statement may have parameters.
    for chunk in ids.chunks(history::ROWS_PER_STATEMENT) {
        scope::delete::<links::Entity>(tenant)
            .filter(links::Column::Id.is_in(padded(chunk)))
            .exec(db)
            .await?;
    }
    let log = links
        .iter()
        .map(|l| Change::link(Action::Unlinked, &l.id, &l.digital_asset_id, &l.activity_id))
        .collect();
    history::record(db, tenant, log).await
}

/// The assets linked to one of the tenant's activities, by name.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn assets_for_activity(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    activity_id: &str,
) -> Result<Vec<digital_assets::Model>, ServiceError> {
    get(db, tenant, activity_id).await?;
    let assets = crate::metadata::without(
        scope::find::<digital_assets::Entity>(tenant),
        digital_assets::Column::Metadata,
        db.get_database_backend(),
    );
    Ok(assets
        .inner_join(links::Entity)
        .filter(links::Column::OrganizationId.eq(tenant.organization_id.as_str()))
        .filter(links::Column::ActivityId.eq(activity_id))
        .order_by_asc(digital_assets::Column::Name)
        .order_by_asc(digital_assets::Column::Id)
        .all(db)
        .await?)
}

/// The activities one of the tenant's assets is linked to, by name.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn activities_for_asset(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    asset_id: &str,
) -> Result<Vec<Model>, ServiceError> {
    scope::get::<digital_assets::Entity>(db, tenant, asset_id).await?;
    Ok(
        activities_for_assets(db, tenant, &[asset_id.to_owned()], None)
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect(),
    )
}

/// For each of `asset_ids`, the tenant's activities it is linked to, as (asset id, activity)
/// pairs by activity name: one statement for any number of assets; at most `limit` pairs when
/// given.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn activities_for_assets(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    asset_ids: &[String],
    limit: Option<u64>,
) -> Result<Vec<(String, Model)>, ServiceError> {
    let rows = scope::find::<Entity>(tenant)
        .find_also_related(links::Entity)
        .filter(links::Column::OrganizationId.eq(tenant.organization_id.as_str()))
        .filter(links::Column::DigitalAssetId.is_in(padded(asset_ids)))
        .order_by_asc(Column::Name)
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(activity, link)| link.map(|l| (l.digital_asset_id, activity)))
        .collect())
}

/// A new activity of the tenant (activities are managed elsewhere; the demo data uses this).
pub fn new_activity(
    tenant: &Tenant,
    name: &str,
    description: &str,
    status: &str,
) -> activities::ActiveModel {
    let now = time::now();
    activities::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(tenant.organization_id.clone()),
        name: Set(name.to_owned()),
        description: Set(Some(description.to_owned())),
        status: Set(status.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    }
}
