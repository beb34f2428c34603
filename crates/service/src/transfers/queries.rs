//! The tenant's processing locations with their Chapter V risk, computed by the database.
//!
//! The risk of a location depends only on its destination's status, its mechanism's kind and
//! whether its asset holds personal data, so [`RiskRules`] turns the reference data into id
//! lists and writes [`super::risk`]'s table as one SQL `CASE`: evaluated for every candidate row
//! by the database, it pages worst first (`ORDER BY risk DESC, id`), counts and aggregates
//! without sending rows it does not show, and the rules stay in one place. For an organization
//! of 2,000 assets × 3 locations that is a scan of its 6,000 locations (by the
//! `(organization_id, …)` indexes) with a CASE of a few hash-probed IN lists per row; the
//! alternative, reading all candidates into memory to assess and sort them, moves those 6,000
//! rows to the server on every page and needs a bound an organization could outgrow.
//!
//! Every statement starts from [`scope::find`]: the tenant's locations only, and their assets
//! must be the tenant's as well.

use entity::asset_processing_locations::{self as locations, Column as L, Entity as Locations};
use entity::data_processing_activity_digital_assets as links;
use entity::digital_assets::{self as assets, Column as A};
use entity::organizations;
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Func, Order, Query, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    QueryTrait, Select,
};

use super::TransferRisk;
pub use super::risk_rules::RiskRules;
use crate::in_list::padded;
use crate::{ServiceError, Tenant, activities, scope};

/// Which of the tenant's locations to consider.
#[derive(Debug, Clone, Default)]
pub struct TransferFilter {
    /// Only locations at least this exposed.
    pub min_risk: Option<TransferRisk>,
    pub country_id: Option<String>,
    pub digital_asset_id: Option<String>,
    /// Only locations of assets linked to this activity.
    pub activity_id: Option<String>,
    /// Deactivated locations too (otherwise active ones only).
    pub include_inactive: bool,
}

/// Where a page starts: after the location with this risk and id (the list's order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferCursor {
    pub risk: TransferRisk,
    pub id: String,
}

/// A location with its risk and whether its asset holds personal data.
#[derive(Debug, Clone)]
pub struct RiskedLocation {
    pub location: locations::Model,
    pub risk: TransferRisk,
    pub contains_personal_data: bool,
}

/// One page of locations, worst first.
#[derive(Debug, Clone)]
pub struct TransferPage {
    pub locations: Vec<RiskedLocation>,
    pub has_next_page: bool,
}

/// Largest page.
pub const MAX_PAGE: u64 = 100;

pub(super) const RISK: &str = "risk";
const PERSONAL: &str = "asset_contains_personal_data";
/// The derived table of candidates.
const CANDIDATES: &str = "candidates";

/// The tenant's locations (and their assets) that `filter` selects, without its minimum risk.
fn candidates(tenant: &Tenant, filter: &TransferFilter) -> Select<Locations> {
    let mut select = scope::find::<Locations>(tenant)
        .inner_join(assets::Entity)
        .filter(A::OrganizationId.eq(tenant.organization_id.as_str()));
    if !filter.include_inactive {
        select = select.filter(L::IsActive.eq(true));
    }
    if let Some(country) = &filter.country_id {
        select = select.filter(L::CountryId.eq(country.as_str()));
    }
    if let Some(asset) = &filter.digital_asset_id {
        select = select.filter(L::DigitalAssetId.eq(asset.as_str()));
    }
    if let Some(activity) = &filter.activity_id {
        select = select.filter(L::DigitalAssetId.in_subquery(linked_assets(tenant, activity)));
    }
    select
}

/// The tenant's assets linked to `activity_id`.
fn linked_assets(tenant: &Tenant, activity_id: &str) -> SelectStatement {
    Query::select()
        .column(links::Column::DigitalAssetId)
        .from(links::Entity)
        .and_where(Expr::col(links::Column::OrganizationId).eq(tenant.organization_id.as_str()))
        .and_where(Expr::col(links::Column::ActivityId).eq(activity_id))
        .to_owned()
}

/// `SELECT * FROM (<candidates with their risk>) AS candidates WHERE risk >= min`.
fn with_risk(
    tenant: &Tenant,
    rules: &RiskRules,
    filter: &TransferFilter,
    inner: impl FnOnce(Select<Locations>) -> Select<Locations>,
) -> SelectStatement {
    let inner = inner(candidates(tenant, filter))
        .expr_as(rules.expr(), RISK)
        .into_query();
    let mut outer = Query::select();
    outer.from_subquery(inner, Alias::new(CANDIDATES));
    if let Some(min) = filter.min_risk {
        outer.and_where(risk_col().gte(min.level()));
    }
    outer
}

fn risk_col() -> Expr {
    Expr::col((Alias::new(CANDIDATES), Alias::new(RISK)))
}

fn candidate_col(name: &str) -> Expr {
    Expr::col((Alias::new(CANDIDATES), Alias::new(name)))
}

pub(super) fn risk_of(row: &sea_orm::QueryResult) -> Result<TransferRisk, ServiceError> {
    let level: i32 = row.try_get("", RISK)?;
    TransferRisk::from_level(level.into()).ok_or_else(|| {
        ServiceError::Internal(sea_orm::DbErr::Custom(format!(
            "risk level {level} out of range"
        )))
    })
}

/// A page of the tenant's locations that `filter` selects, worst first, then by id.
#[tracing::instrument(skip(db, rules), fields(org = %tenant.organization_id))]
pub async fn page(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    rules: &RiskRules,
    filter: &TransferFilter,
    first: u64,
    after: Option<&TransferCursor>,
) -> Result<TransferPage, ServiceError> {
    if !(1..=MAX_PAGE).contains(&first) {
        return Err(ServiceError::bad_input(
            "first",
            format!("first must be 1 to {MAX_PAGE}"),
        ));
    }
    let mut select = with_risk(tenant, rules, filter, |s| {
        s.column_as(A::ContainsPersonalData, PERSONAL)
    });
    select.column(Asterisk);
    if let Some(c) = after {
        let level = c.risk.level();
        select.and_where(
            risk_col().lt(level).or(risk_col()
                .eq(level)
                .and(candidate_col("id").gt(c.id.as_str()))),
        );
    }
    select
        .order_by_expr(risk_col(), Order::Desc)
        .order_by_expr(candidate_col("id"), Order::Asc)
        .limit(first + 1);
    let rows = db.query_all(&select).await?;
    let mut locations = Vec::with_capacity(rows.len());
    for row in &rows {
        locations.push(RiskedLocation {
            location: locations::Model::from_query_result(row, "")?,
            risk: risk_of(row)?,
            contains_personal_data: row.try_get("", PERSONAL)?,
        });
    }
    let has_next_page = locations.len() as u64 > first;
    locations.truncate(first as usize);
    Ok(TransferPage {
        locations,
        has_next_page,
    })
}

/// How many of the tenant's locations `filter` selects (asked for apart from the page).
#[tracing::instrument(skip(db, rules), fields(org = %tenant.organization_id))]
pub async fn count(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    rules: &RiskRules,
    filter: &TransferFilter,
) -> Result<u64, ServiceError> {
    let mut select = with_risk(tenant, rules, filter, |s| s.select_only().column(L::Id));
    select.expr_as(Func::count(Expr::cust("*")), Alias::new("n"));
    let n: i64 = match db.query_one(&select).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or_default())
}

/// Where the tenant's data goes, per destination country.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountrySummary {
    pub country_id: String,
    /// Distinct assets with a location there.
    pub assets: u64,
    pub locations: u64,
    pub worst: TransferRisk,
    /// Locations per risk level, by [`TransferRisk::level`].
    pub by_risk: [u64; 5],
}

#[derive(Debug, FromQueryResult)]
struct CountryRow {
    country_id: String,
    assets: i64,
    locations: i64,
    worst: i32,
    n0: i64,
    n1: i64,
    n2: i64,
    n3: i64,
    n4: i64,
}

fn non_negative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

/// The tenant's active locations (of the assets linked to `activity_id`, if given) per
/// destination country, worst first, then by country id: one statement.
#[tracing::instrument(skip(db, rules), fields(org = %tenant.organization_id))]
pub async fn summary(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    rules: &RiskRules,
    activity_id: Option<&str>,
) -> Result<Vec<CountrySummary>, ServiceError> {
    let filter = TransferFilter {
        activity_id: activity_id.map(str::to_owned),
        ..Default::default()
    };
    let mut per_country = with_risk(tenant, rules, &filter, |s| {
        s.select_only()
            .column(L::CountryId)
            .column(L::DigitalAssetId)
    });
    let country = candidate_col("country_id");
    per_country
        .expr_as(country.clone(), Alias::new("country_id"))
        .expr_as(
            Func::count_distinct(candidate_col("digital_asset_id")),
            Alias::new("assets"),
        )
        .expr_as(Func::count(Expr::cust("*")), Alias::new("locations"))
        .expr_as(risk_col().max(), Alias::new("worst"));
    for risk in TransferRisk::ALL {
        // COUNT skips the NULL of the other levels.
        let at: Expr = Expr::case(risk_col().eq(risk.level()), Expr::cust("1")).into();
        per_country.expr_as(at.count(), Alias::new(format!("n{}", risk.level())));
    }
    per_country.add_group_by([country]);
    let rows = CountryRow::find_by_statement(db.get_database_backend().build(&per_country))
        .all(db)
        .await?;
    let mut out: Vec<CountrySummary> = rows
        .into_iter()
        .map(|r| CountrySummary {
            country_id: r.country_id,
            assets: non_negative(r.assets),
            locations: non_negative(r.locations),
            worst: TransferRisk::from_level(r.worst.into()).unwrap_or(TransferRisk::Critical),
            by_risk: [r.n0, r.n1, r.n2, r.n3, r.n4].map(non_negative),
        })
        .collect();
    out.sort_by(|a, b| {
        b.worst
            .cmp(&a.worst)
            .then_with(|| a.country_id.cmp(&b.country_id))
    });
    Ok(out)
}

/// The transfer mechanisms recorded on the tenant's active locations (of the assets linked to
/// `activity_id`, if given), as distinct (country id, mechanism id) pairs: what a summary
/// names for its Article 30 documentation, read only when asked for.
#[tracing::instrument(skip(db), fields(org = %tenant.organization_id))]
pub async fn mechanisms_per_country(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    activity_id: Option<&str>,
) -> Result<Vec<(String, String)>, ServiceError> {
    let filter = TransferFilter {
        activity_id: activity_id.map(str::to_owned),
        ..Default::default()
    };
    Ok(candidates(tenant, &filter)
        .select_only()
        .column(L::CountryId)
        .column(L::TransferMechanismId)
        .filter(L::TransferMechanismId.is_not_null())
        .distinct()
        .into_tuple()
        .all(db)
        .await?)
}

/// [`summary`] for one of the tenant's activities; NOT_FOUND for another organization's.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn for_activity(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    rules: &RiskRules,
    activity_id: &str,
) -> Result<Vec<CountrySummary>, ServiceError> {
    activities::get(db, tenant, activity_id).await?;
    summary(db, tenant, rules, Some(activity_id)).await
}

/// The condition "the asset's transfer risk (the worst over its active locations; `None`
/// without any) is `risk`" on `digital_assets`, for the tenant's assets.
pub fn asset_risk_is(tenant: &Tenant, rules: &RiskRules, risk: TransferRisk) -> Expr {
    let worst = |having: Expr| -> SelectStatement {
        let mut select = candidates(tenant, &TransferFilter::default())
            .select_only()
            .column(L::DigitalAssetId)
            .into_query();
        select.add_group_by([Expr::col((Locations, L::DigitalAssetId))]);
        select.and_having(having);
        select
    };
    let worst_level = || Expr::expr(rules.expr()).max();
    if risk == TransferRisk::None {
        Expr::col((assets::Entity, A::Id)).not_in_subquery(worst(worst_level().gt(0)))
    } else {
        Expr::col((assets::Entity, A::Id)).in_subquery(worst(worst_level().eq(risk.level())))
    }
}

/// Whether each of the tenant's assets among `ids` holds personal data, as (id, flag) pairs.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn personal_data(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<(String, bool)>, ServiceError> {
    Ok(scope::find::<assets::Entity>(tenant)
        .select_only()
        .column(A::Id)
        .column(A::ContainsPersonalData)
        .filter(A::Id.is_in(padded(ids)))
        .into_tuple()
        .all(db)
        .await?)
}

/// The id of the tenant's headquarters country, when one is recorded (an assessment says when
/// it lies outside the EEA).
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn headquarters_country_id(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
) -> Result<Option<String>, ServiceError> {
    let headquarters: Option<Option<String>> =
        organizations::Entity::find_by_id(tenant.organization_id.as_str())
            .select_only()
            .column(organizations::Column::HeadquartersCountryId)
            .into_tuple()
            .one(db)
            .await?;
    Ok(headquarters.flatten())
}
