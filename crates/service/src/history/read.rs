//! Reading the change log: a page of the organization's entries, and what the GraphQL layer
//! loads of them in batches (their details' sizes, the details, the authors of assets).

use entity::change_log::{Column, Entity, Model};
use sea_orm::prelude::DateTimeWithTimeZone;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value as Json;

use super::{Action, EntityType};
use crate::{ServiceError, Tenant, scope};

/// Which entries to read (all given conditions hold).
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub entity_type: Option<EntityType>,
    pub action: Option<Action>,
    pub digital_asset_id: Option<String>,
    pub actor_id: Option<String>,
    /// Changed at or after.
    pub since: Option<DateTimeWithTimeZone>,
    /// Changed before.
    pub until: Option<DateTimeWithTimeZone>,
}

/// Where a page starts: after this entry, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeCursor {
    pub changed_at: DateTimeWithTimeZone,
    pub id: String,
}

/// One page of entries, newest first.
#[derive(Debug, Clone)]
pub struct ChangePage {
    pub entries: Vec<Model>,
    pub has_next_page: bool,
}

/// Largest page.
pub const MAX_PAGE: u64 = 100;

/// A page of the tenant's log matching `filter`, newest first: the asset's history and the time
/// range are served by indexes that lead with the organization (migration 7); the actor's
/// changes are kept from the organization's, read newest first (migration 10 dropped its index).
#[tracing::instrument(skip(db), fields(org = %tenant.organization_id))]
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    filter: &ChangeFilter,
    first: u64,
    after: Option<&ChangeCursor>,
) -> Result<ChangePage, ServiceError> {
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(ServiceError::bad_input(
            "first",
            format!("first must be 1 to {MAX_PAGE}"),
        ));
    }
    crate::validate::timestamp("filter.since", filter.since.as_ref())?;
    crate::validate::timestamp("filter.until", filter.until.as_ref())?;
    // In UTC, as stored: SQLite compares times as text.
    let since = filter.since.map(crate::time::utc);
    let until = filter.until.map(crate::time::utc);
    if let (Some(since), Some(until)) = (&filter.since, &filter.until)
        && since > until
    {
        return Err(ServiceError::bad_input(
            "filter.until",
            "until must not be before since",
        ));
    }
    // The documents stay out of the page (see `crate::metadata`): `details` reads them for the
    // entries whose fields a query asks for.
    let mut select = crate::metadata::without_all(
        scope::find::<Entity>(tenant),
        &[Column::Changes, Column::Snapshot],
        db.get_database_backend(),
    );
    if let Some(t) = filter.entity_type {
        select = select.filter(Column::EntityType.eq(t.as_str()));
    }
    if let Some(a) = filter.action {
        select = select.filter(Column::Action.eq(a.as_str()));
    }
    if let Some(id) = &filter.digital_asset_id {
        select = select.filter(Column::DigitalAssetId.eq(id.as_str()));
    }
    if let Some(actor) = &filter.actor_id {
        select = select.filter(Column::ActorId.eq(actor.as_str()));
    }
    if let Some(since) = since {
        select = select.filter(Column::ChangedAt.gte(since));
    }
    if let Some(until) = until {
        select = select.filter(Column::ChangedAt.lt(until));
    }
    if let Some(c) = after {
        select = select.filter(
            Expr::tuple([Expr::col(Column::ChangedAt), Expr::col(Column::Id)]).lt(Expr::tuple([
                Expr::val(crate::time::utc(c.changed_at)),
                Expr::val(c.id.as_str()),
            ])),
        );
    }
    let mut entries = select
        .order_by_desc(Column::ChangedAt)
        .order_by_desc(Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next_page = entries.len() as u64 > first;
    entries.truncate(first as usize);
    Ok(ChangePage {
        entries,
        has_next_page,
    })
}

/// An entry's id, `changes` and `snapshot`.
pub type EntryDetails = (String, Option<Json>, Option<Json>);

/// An asset's id, who created it and who last changed it.
pub type AssetAuthors = (String, Option<String>, Option<String>);

/// The stored size in bytes of each of the tenant's entries' `changes` and `snapshot` together,
/// as (id, bytes): what reading them will cost, known before reading them.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn detail_sizes(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<(String, i64)>, ServiceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let size = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => Expr::cust(
            "CAST(coalesce(octet_length(CAST(changes AS text)), 0) \
             + coalesce(octet_length(CAST(snapshot AS text)), 0) AS bigint)",
        ),
        _ => Expr::cust("coalesce(length(changes), 0) + coalesce(length(snapshot), 0)"),
    };
    Ok(scope::find::<Entity>(tenant)
        .select_only()
        .column(Column::Id)
        .expr(size)
        .filter(Column::Id.is_in(crate::in_list::padded(ids)))
        .into_tuple()
        .all(db)
        .await?)
}

/// The `changes` and `snapshot` of the tenant's entries among `ids`, as (id, changes, snapshot).
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn details(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<EntryDetails>, ServiceError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(scope::find::<Entity>(tenant)
        .select_only()
        .columns([Column::Id, Column::Changes, Column::Snapshot])
        .filter(Column::Id.is_in(crate::in_list::padded(ids)))
        .into_tuple()
        .all(db)
        .await?)
}

/// Who created and who last changed each of the tenant's assets among `asset_ids`, from the log:
/// (asset id, creator, last editor), one statement for any number of assets, two index-served
/// lookups per asset however long its history. An asset created before the log existed has no
/// creator; the last editor is the author of the newest entry about the asset itself (not its
/// locations or links), as `updatedAt` is the time of the asset's own last change.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn authors(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    asset_ids: &[String],
) -> Result<Vec<AssetAuthors>, ServiceError> {
    use entity::digital_assets;
    use sea_orm::sea_query::{Alias, Order, Query, SubQueryStatement};
    if asset_ids.is_empty() {
        return Ok(Vec::new());
    }
    let log = Alias::new("c");
    let actor = |creator: bool| {
        let order = if creator { Order::Asc } else { Order::Desc };
        let mut q = Query::select();
        q.column((log.clone(), Column::ActorId))
            .from_as(Entity, log.clone())
            .and_where(
                Expr::col((log.clone(), Column::OrganizationId))
                    .eq(tenant.organization_id.as_str()),
            )
            .and_where(
                Expr::col((log.clone(), Column::DigitalAssetId))
                    .equals((digital_assets::Entity, digital_assets::Column::Id)),
            )
            .and_where(
                Expr::col((log.clone(), Column::EntityType)).eq(EntityType::DigitalAsset.as_str()),
            )
            .order_by((log.clone(), Column::ChangedAt), order.clone())
            .order_by((log.clone(), Column::Id), order)
            .limit(1);
        if creator {
            q.and_where(Expr::col((log.clone(), Column::Action)).eq(Action::Created.as_str()));
        }
        Expr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(q)))
    };
    Ok(scope::find::<digital_assets::Entity>(tenant)
        .select_only()
        .column(digital_assets::Column::Id)
        .expr_as(actor(true), "created_by")
        .expr_as(actor(false), "updated_by")
        .filter(digital_assets::Column::Id.is_in(crate::in_list::padded(asset_ids)))
        .into_tuple()
        .all(db)
        .await?)
}
