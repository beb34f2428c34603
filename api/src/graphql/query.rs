//! Queries, split by domain and merged into one root.

use async_graphql::{Context, ID, MergedObject, Object, Result};
use service::assets;
use service::{activities, locations, reference};

use super::guard::charge_list;
use super::history::HistoryQuery;
use super::inputs::{DigitalAssetFilter, DigitalAssetOrder};
use super::loaders::Loaders;
use super::transfers::TransferQuery;
use super::types::{
    AssetProcessingLocation, Country, CursorScope, DataProcessingActivity, DigitalAsset,
    DigitalAssetConnection, TransferMechanism,
};
use super::{db, tenant};
use crate::error::{GqlResult, bad_input};

/// The root query.
#[derive(MergedObject, Default)]
pub struct Query(
    AssetQuery,
    LocationQuery,
    ActivityQuery,
    ReferenceQuery,
    TransferQuery,
    HistoryQuery,
);

/// Digital assets.
#[derive(Default)]
pub struct AssetQuery;

#[Object]
impl AssetQuery {
    /// One of the organization's assets; null when absent (or another organization's).
    async fn digital_asset(&self, ctx: &Context<'_>, id: ID) -> Result<Option<DigitalAsset>> {
        Ok(assets::get(db(ctx)?, tenant(ctx)?, &id)
            .await
            .gql()?
            .map(DigitalAsset))
    }

    /// The organization's assets matching `filter`, in `orderBy`'s order (name by default), a
    /// page at a time: `first` (default 50) after a cursor, or `last` before one. A cursor is
    /// valid only for the ordering and filter it was issued with.
    #[graphql(
        complexity = "first.or(last).unwrap_or(50).clamp(1, 100) as usize * child_complexity + 1"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn digital_assets(
        &self,
        ctx: &Context<'_>,
        filter: Option<DigitalAssetFilter>,
        order_by: Option<DigitalAssetOrder>,
        #[graphql(desc = "Page size from the start or from `after`, 1 to 100 (default 50).")]
        first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Page size from the end or from `before`, 1 to 100.")] last: Option<i32>,
        #[graphql(desc = "The `startCursor` of the next page.")] before: Option<String>,
    ) -> Result<DigitalAssetConnection> {
        let order: assets::AssetOrder = order_by.map(Into::into).unwrap_or_default();
        let filter = filter.unwrap_or_default();
        let transfer_risk = filter.transfer_risk;
        let mut filter = filter.into_service()?;
        if let Some(risk) = transfer_risk {
            filter.transfer_risk = Some(assets::AssetRiskFilter {
                risk: risk.into(),
                rules: Loaders::of(ctx)?.risk_rules().await?,
            });
        }
        let scope = CursorScope::new(order, &filter);
        let size = |name: &str, n: i32| {
            if (1..=assets::MAX_PAGE as i32).contains(&n) {
                Ok(n as u64)
            } else {
                Err(bad_input(
                    name,
                    format!("{name} must be 1 to {}, got {n}", assets::MAX_PAGE),
                ))
            }
        };
        let page = match (first, after, last, before) {
            (first, after, None, None) => assets::Page::First(
                size("first", first.unwrap_or(50))?,
                after.map(|c| scope.decode("after", &c)).transpose()?,
            ),
            (None, None, Some(last), before) => assets::Page::Last(
                size("last", last)?,
                before.map(|c| scope.decode("before", &c)).transpose()?,
            ),
            (None, None, None, Some(_)) => {
                return Err(bad_input(
                    "last",
                    "before needs last: the page size to read back",
                ));
            }
            _ => {
                return Err(bad_input(
                    "first",
                    "page forwards with first and after, or backwards with last and before",
                ));
            }
        };
        let page = assets::list(db(ctx)?, tenant(ctx)?, &filter, order, &page)
            .await
            .gql()?;
        Ok(DigitalAssetConnection {
            nodes: page.assets.into_iter().map(DigitalAsset).collect(),
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            filter,
            scope,
        })
    }
}

/// Processing locations.
#[derive(Default)]
pub struct LocationQuery;

#[Object]
impl LocationQuery {
    /// An asset's locations, oldest first; NOT_FOUND for an asset that is not the
    /// organization's.
    #[graphql(complexity = "crate::graphql::ASSUMED_LIST_LEN * child_complexity + 1")]
    async fn asset_processing_locations(
        &self,
        ctx: &Context<'_>,
        digital_asset_id: ID,
        #[graphql(desc = "Include deactivated locations.", default_with = "Some(false)")]
        include_inactive: Option<bool>,
    ) -> Result<Vec<AssetProcessingLocation>> {
        let list = locations::for_asset(
            db(ctx)?,
            tenant(ctx)?,
            &digital_asset_id,
            include_inactive.unwrap_or(false),
        )
        .await
        .gql()?;
        charge_list(ctx, list.len())?;
        Ok(list.into_iter().map(AssetProcessingLocation).collect())
    }

    /// The organization's locations in a country, oldest first.
    #[graphql(complexity = "100 * child_complexity + 1")]
    async fn locations_by_country(
        &self,
        ctx: &Context<'_>,
        country_id: ID,
        #[graphql(
            desc = "Only active (true) or only inactive (false) locations; both when absent."
        )]
        is_active: Option<bool>,
    ) -> Result<Vec<AssetProcessingLocation>> {
        let limit = super::loaders::row_limit(ctx)?;
        let list = locations::by_country(db(ctx)?, tenant(ctx)?, &country_id, is_active, limit)
            .await
            .gql()?;
        charge_list(ctx, list.len())?;
        Ok(list.into_iter().map(AssetProcessingLocation).collect())
    }
}

/// Activities and their assets.
#[derive(Default)]
pub struct ActivityQuery;

#[Object]
impl ActivityQuery {
    /// The assets an activity of the organization uses, by name.
    #[graphql(complexity = "100 * child_complexity + 1")]
    async fn assets_for_activity(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
    ) -> Result<Vec<DigitalAsset>> {
        let list = activities::assets_for_activity(db(ctx)?, tenant(ctx)?, &activity_id)
            .await
            .gql()?;
        charge_list(ctx, list.len())?;
        Ok(list.into_iter().map(DigitalAsset).collect())
    }

    /// The activities that use one of the organization's assets, by name.
    #[graphql(complexity = "crate::graphql::ASSUMED_LIST_LEN * child_complexity + 1")]
    async fn activities_for_asset(
        &self,
        ctx: &Context<'_>,
        digital_asset_id: ID,
    ) -> Result<Vec<DataProcessingActivity>> {
        let list = activities::activities_for_asset(db(ctx)?, tenant(ctx)?, &digital_asset_id)
            .await
            .gql()?;
        charge_list(ctx, list.len())?;
        Ok(list.into_iter().map(DataProcessingActivity::from).collect())
    }

    /// The organization's data-processing activities, by name.
    #[graphql(complexity = "100 * child_complexity + 1")]
    async fn data_processing_activities(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<DataProcessingActivity>> {
        let list = activities::list(db(ctx)?, tenant(ctx)?).await.gql()?;
        charge_list(ctx, list.len())?;
        Ok(list.into_iter().map(DataProcessingActivity::from).collect())
    }
}

/// Reference data shared by all organizations.
#[derive(Default)]
pub struct ReferenceQuery;

#[Object]
impl ReferenceQuery {
    /// Every country, by name.
    #[graphql(complexity = "250 * child_complexity + 1")]
    async fn countries(&self, ctx: &Context<'_>) -> Result<Vec<Country>> {
        let list = reference::countries(db(ctx)?).await.gql()?;
        charge_list(ctx, list.len())?;
        Ok(list.into_iter().map(|c| Country::from(&c)).collect())
    }

    /// Every GDPR Chapter V transfer mechanism.
    #[graphql(complexity = "20 * child_complexity + 1")]
    async fn transfer_mechanisms(&self, ctx: &Context<'_>) -> Result<Vec<TransferMechanism>> {
        let list = reference::transfer_mechanisms(db(ctx)?).await.gql()?;
        charge_list(ctx, list.len())?;
        Ok(list
            .into_iter()
            .map(|m| TransferMechanism::from(&m))
            .collect())
    }
}
