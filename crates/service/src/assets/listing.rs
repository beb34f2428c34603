//! Listing assets: filters (combined with AND, each scoped to the tenant), orderings, and keyset
//! paging both ways. Every ordering is `(key, id)` and is read from an index that leads with the
//! organization (migrations 4 and 8), forwards or backwards; a cursor is the `(key, id)` of a row.

use std::sync::Arc;

use entity::data_processing_activity_digital_assets as links;
use entity::digital_assets::{Column, Entity, Model};
use entity::sea_orm_active_enums::{AssetType, IntegrationStatus};
use entity::{asset_processing_locations as locations, digital_assets};
use sea_orm::prelude::DateTimeWithTimeZone;
use sea_orm::sea_query::extension::postgres::PgExpr;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, Query, SimpleExpr};
use sea_orm::{
    ActiveEnum, ColumnTrait, Condition, ConnectionTrait, DbBackend, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};

use super::lean;
use crate::transfers::TransferRisk;
use crate::transfers::queries::{self, RiskRules};
use crate::{ServiceError, Tenant, scope, validate};

/// Which assets to list; every given field must match. An empty list (`types: []`) filters
/// nothing, as an empty multi-select in a frontend means.
#[derive(Debug, Clone, Default)]
pub struct AssetFilter {
    /// A case-insensitive substring of the name, the description or the url.
    pub search: Option<String>,
    pub asset_type: Option<AssetType>,
    pub types: Vec<AssetType>,
    pub integration_statuses: Vec<IntegrationStatus>,
    pub contains_personal_data: Option<bool>,
    pub primary_hosting_country_id: Option<String>,
    /// Assets with an active location in this country.
    pub processing_country_id: Option<String>,
    /// Assets linked to this activity.
    pub activity_id: Option<String>,
    /// Assets this user owns (technical or business owner).
    pub owner_id: Option<String>,
    /// Assets changed at or after this time.
    pub updated_since: Option<DateTimeWithTimeZone>,
    /// Only assets whose transfer risk (the worst over their active locations) is this one.
    pub transfer_risk: Option<AssetRiskFilter>,
}

/// A transfer risk to match, with the rules that compute it.
#[derive(Debug, Clone)]
pub struct AssetRiskFilter {
    pub risk: TransferRisk,
    pub rules: Arc<RiskRules>,
}

/// Longest search text.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Most values in one of the filter's lists (there are fewer kinds than this).
pub const MAX_FILTER_VALUES: usize = 20;

impl AssetFilter {
    /// Validates the filter and trims its search (an empty search filters nothing).
    pub fn checked(mut self) -> Result<Self, ServiceError> {
        if let Some(text) = self.search.take() {
            let text = text.trim();
            if text.chars().count() > MAX_SEARCH_CHARS {
                return Err(ServiceError::bad_input(
                    "filter.search",
                    format!("search must be at most {MAX_SEARCH_CHARS} characters"),
                ));
            }
            self.search = (!text.is_empty()).then(|| text.to_owned());
        }
        for (field, len) in [
            ("filter.types", self.types.len()),
            (
                "filter.integrationStatuses",
                self.integration_statuses.len(),
            ),
        ] {
            if len > MAX_FILTER_VALUES {
                return Err(ServiceError::bad_input(
                    field,
                    format!("{field} takes at most {MAX_FILTER_VALUES} values"),
                ));
            }
        }
        validate::timestamp("filter.updatedSince", self.updated_since.as_ref())?;
        // In UTC, as stored: SQLite compares times as text.
        self.updated_since = self.updated_since.map(crate::time::utc);
        self.types.sort_by_key(|t| format!("{t:?}"));
        self.types.dedup();
        self.integration_statuses.sort_by_key(|s| format!("{s:?}"));
        self.integration_statuses.dedup();
        Ok(self)
    }

    /// A text that differs whenever two filters select differently (a cursor is valid only for
    /// the filter it was issued with).
    pub fn fingerprint(&self) -> String {
        let risk = self.transfer_risk.as_ref().map(|r| r.risk);
        let mut text = format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            self.search,
            self.asset_type,
            self.types,
            self.integration_statuses,
            self.contains_personal_data,
            self.primary_hosting_country_id,
            self.processing_country_id,
            self.activity_id,
            self.owner_id,
            self.updated_since.map(|t| t.to_rfc3339()),
            risk,
        );
        // FNV-1a: short, and the same in every build (cursors outlive a deployment).
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in text.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        text.clear();
        format!("{hash:016x}")
    }
}

/// What a list is ordered by (then by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    #[default]
    Name,
    CreatedAt,
    UpdatedAt,
    Type,
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// A list's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AssetOrder {
    pub field: SortField,
    pub direction: Direction,
}

impl AssetOrder {
    /// A name for the order (`NAME:ASC`), for cursors.
    pub fn tag(&self) -> String {
        format!("{:?}:{:?}", self.field, self.direction).to_uppercase()
    }

    fn column(&self) -> Column {
        match self.field {
            SortField::Name => Column::Name,
            SortField::CreatedAt => Column::CreatedAt,
            SortField::UpdatedAt => Column::UpdatedAt,
            SortField::Type => Column::Type,
        }
    }

    /// The sort key of `asset` in this order.
    pub fn key_of(&self, asset: &Model) -> SortKey {
        match self.field {
            SortField::Name => SortKey::Text(asset.name.clone()),
            SortField::CreatedAt => SortKey::Time(asset.created_at),
            SortField::UpdatedAt => SortKey::Time(asset.updated_at),
            SortField::Type => SortKey::Type(asset.r#type),
        }
    }
}

/// A row's value of the ordering column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    Text(String),
    Time(DateTimeWithTimeZone),
    Type(AssetType),
}

impl SortKey {
    fn expr(&self) -> SimpleExpr {
        match self {
            SortKey::Text(t) => Expr::val(t.as_str()),
            SortKey::Time(t) => Expr::val(crate::time::utc(*t)),
            SortKey::Type(t) => t.as_enum(),
        }
    }

    /// Whether the key is of the kind `field` orders by.
    fn fits(&self, field: SortField) -> bool {
        matches!(
            (self, field),
            (SortKey::Text(_), SortField::Name)
                | (
                    SortKey::Time(_),
                    SortField::CreatedAt | SortField::UpdatedAt
                )
                | (SortKey::Type(_), SortField::Type)
        )
    }
}

/// A row a page starts after (forwards) or ends before (backwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetCursor {
    pub key: SortKey,
    pub id: String,
}

/// Which page: the first `n` rows after a cursor, or the last `n` before one.
#[derive(Debug, Clone)]
pub enum Page {
    First(u64, Option<AssetCursor>),
    Last(u64, Option<AssetCursor>),
}

/// One page of assets, in the list's order.
#[derive(Debug, Clone)]
pub struct AssetPage {
    pub assets: Vec<Model>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

/// Largest page.
pub const MAX_PAGE: u64 = 100;

/// The tenant's assets matching `filter`, unordered.
fn matching(tenant: &Tenant, filter: &AssetFilter, backend: DbBackend) -> Select<Entity> {
    let mut select = scope::find::<Entity>(tenant);
    if let Some(text) = &filter.search {
        select = select.filter(search(text, backend));
    }
    if let Some(t) = filter.asset_type {
        select = select.filter(Column::Type.eq(t));
    }
    if !filter.types.is_empty() {
        select = select.filter(Column::Type.is_in(filter.types.iter().copied()));
    }
    if !filter.integration_statuses.is_empty() {
        select = select
            .filter(Column::IntegrationStatus.is_in(filter.integration_statuses.iter().copied()));
    }
    if let Some(p) = filter.contains_personal_data {
        select = select.filter(Column::ContainsPersonalData.eq(p));
    }
    if let Some(c) = &filter.primary_hosting_country_id {
        select = select.filter(Column::PrimaryHostingCountryId.eq(c.as_str()));
    }
    if let Some(country) = &filter.processing_country_id {
        let mut located = Query::select();
        located
            .expr(Expr::val(1))
            .from(locations::Entity)
            .and_where(
                Expr::col((locations::Entity, locations::Column::OrganizationId))
                    .eq(tenant.organization_id.as_str()),
            )
            .and_where(
                Expr::col((locations::Entity, locations::Column::DigitalAssetId))
                    .equals((digital_assets::Entity, Column::Id)),
            )
            .and_where(
                Expr::col((locations::Entity, locations::Column::CountryId)).eq(country.as_str()),
            )
            .and_where(Expr::col((locations::Entity, locations::Column::IsActive)).eq(true));
        select = select.filter(Expr::exists(located));
    }
    if let Some(activity) = &filter.activity_id {
        let mut linked = Query::select();
        linked
            .expr(Expr::val(1))
            .from(links::Entity)
            .and_where(
                Expr::col((links::Entity, links::Column::OrganizationId))
                    .eq(tenant.organization_id.as_str()),
            )
            .and_where(Expr::col((links::Entity, links::Column::ActivityId)).eq(activity.as_str()))
            .and_where(
                Expr::col((links::Entity, links::Column::DigitalAssetId))
                    .equals((digital_assets::Entity, Column::Id)),
            );
        select = select.filter(Expr::exists(linked));
    }
    if let Some(owner) = &filter.owner_id {
        select = select.filter(
            Condition::any()
                .add(Column::TechnicalOwnerId.eq(owner.as_str()))
                .add(Column::BusinessOwnerId.eq(owner.as_str())),
        );
    }
    if let Some(since) = filter.updated_since {
        select = select.filter(Column::UpdatedAt.gte(since));
    }
    if let Some(r) = &filter.transfer_risk {
        select = select.filter(queries::asset_risk_is(tenant, &r.rules, r.risk));
    }
    select
}

/// `text` anywhere in the name, the description or the url, case-insensitively, `%`, `_` and
/// `\` taken literally. PostgreSQL: `ILIKE`, served by the trigram index (migration 8);
/// SQLite: `LIKE`, whose case-insensitivity covers ASCII letters only.
fn search(text: &str, backend: DbBackend) -> Condition {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    let mut any = Condition::any();
    for column in [Column::Name, Column::Description, Column::Url] {
        any = any.add(match backend {
            // Backslash is PostgreSQL's default escape character.
            DbBackend::Postgres => Expr::col(column).ilike(LikeExpr::new(pattern.clone())),
            _ => Expr::col(column).like(LikeExpr::new(pattern.clone()).escape('\\')),
        });
    }
    any
}

/// Rows strictly after (`after = true`) or before `cursor` in the order `column`, `direction`.
fn beyond(column: Column, direction: Direction, cursor: &AssetCursor, after: bool) -> SimpleExpr {
    let row = Expr::tuple([Expr::col(column), Expr::col(Column::Id)]);
    let at = Expr::tuple([cursor.key.expr(), Expr::val(cursor.id.as_str())]);
    match (direction == Direction::Asc) == after {
        true => row.gt(at),
        false => row.lt(at),
    }
}

/// A page of the tenant's assets matching `filter`, in `order` then by id.
#[tracing::instrument(skip(db), fields(org = %tenant.organization_id))]
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    filter: &AssetFilter,
    order: AssetOrder,
    page: &Page,
) -> Result<AssetPage, ServiceError> {
    let (size, cursor, forwards) = match page {
        Page::First(n, c) => (*n, c.as_ref(), true),
        Page::Last(n, c) => (*n, c.as_ref(), false),
    };
    let name = if forwards { "first" } else { "last" };
    if !(1..=MAX_PAGE).contains(&size) {
        return Err(ServiceError::bad_input(
            name,
            format!("{name} must be 1 to {MAX_PAGE}"),
        ));
    }
    if let Some(c) = cursor
        && !c.key.fits(order.field)
    {
        return Err(ServiceError::bad_input(
            if forwards { "after" } else { "before" },
            "the cursor is not of this ordering",
        ));
    }
    let backend = db.get_database_backend();
    let column = order.column();
    // Backwards, the rows before the cursor are read in the reverse order, then turned round.
    let read_order = match (order.direction, forwards) {
        (Direction::Asc, true) | (Direction::Desc, false) => Order::Asc,
        _ => Order::Desc,
    };
    let mut select = lean(matching(tenant, filter, backend), db);
    if let Some(c) = cursor {
        select = select.filter(beyond(column, order.direction, c, forwards));
    }
    let mut assets = select
        .order_by(column, read_order.clone())
        .order_by(Column::Id, read_order)
        .limit(size + 1)
        .all(db)
        .await?;
    let more = assets.len() as u64 > size;
    assets.truncate(size as usize);
    if !forwards {
        assets.reverse();
    }
    // Whether rows lie on the cursor's other side (one indexed row read, only for a cursor).
    let behind = match cursor {
        None => false,
        Some(c) => matching(tenant, filter, backend)
            .select_only()
            .column(Column::Id)
            .filter(beyond(column, order.direction, c, !forwards).not())
            .limit(1)
            .into_tuple::<String>()
            .one(db)
            .await?
            .is_some(),
    };
    let (has_next_page, has_previous_page) = if forwards {
        (more, behind)
    } else {
        (behind, more)
    };
    Ok(AssetPage {
        assets,
        has_next_page,
        has_previous_page,
    })
}

/// How many of the tenant's assets match `filter` (asked for apart from the page, so that a
/// client that does not show the total does not pay for it).
#[tracing::instrument(skip(db), fields(org = %tenant.organization_id))]
pub async fn count(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    filter: &AssetFilter,
) -> Result<u64, ServiceError> {
    Ok(matching(tenant, filter, db.get_database_backend())
        .count(db)
        .await?)
}
