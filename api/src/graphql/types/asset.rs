//! Digital assets.

use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, FixedOffset};
use entity::digital_assets;
use service::transfers;

use super::*;
use crate::graphql::guard::charge_list;
use crate::graphql::loaders::{AssetLocationsKey, Loaders};
use crate::graphql::transfers::TransferRisk;

/// A system that holds or processes data: a database, a SaaS tool, an API…
#[derive(Clone)]
pub struct DigitalAsset(pub digital_assets::Model);

#[Object]
impl DigitalAsset {
    /// Identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The organization that owns the asset.
    async fn organization_id(&self) -> ID {
        ID(self.0.organization_id.clone())
    }
    /// Name, unique in meaning to the organization.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What kind of system it is.
    #[graphql(name = "type")]
    async fn asset_type(&self) -> AssetType {
        self.0.r#type.into()
    }
    /// Free-text description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Id of the country the asset is mainly hosted in.
    async fn primary_hosting_country_id(&self) -> Option<ID> {
        self.0.primary_hosting_country_id.clone().map(ID)
    }
    /// The country the asset is mainly hosted in.
    async fn primary_hosting_country(&self, ctx: &Context<'_>) -> Result<Option<Country>> {
        let Some(id) = &self.0.primary_hosting_country_id else {
            return Ok(None);
        };
        Ok(Loaders::of(ctx)?.country(id).await?.map(Country::from))
    }
    /// Where the asset is reached (an absolute http(s) URL).
    async fn url(&self) -> Option<&str> {
        self.0.url.as_deref()
    }
    /// Id of the user responsible for the system.
    async fn technical_owner_id(&self) -> Option<ID> {
        self.0.technical_owner_id.clone().map(ID)
    }
    /// The user responsible for the system.
    async fn technical_owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, self.0.technical_owner_id.as_ref()).await
    }
    /// Id of the user accountable for the data.
    async fn business_owner_id(&self) -> Option<ID> {
        self.0.business_owner_id.clone().map(ID)
    }
    /// The user accountable for the data.
    async fn business_owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        user(ctx, self.0.business_owner_id.as_ref()).await
    }
    /// Whether the asset holds or processes personal data.
    async fn contains_personal_data(&self) -> bool {
        self.0.contains_personal_data
    }
    /// Whether the asset is connected for automatic discovery.
    async fn integration_status(&self) -> IntegrationStatus {
        self.0.integration_status.into()
    }
    /// When the asset was last scanned.
    async fn last_scanned_at(&self) -> Option<DateTime<FixedOffset>> {
        self.0.last_scanned_at
    }
    /// How the asset was found (a scanner, an import, by hand…).
    async fn discovered_via(&self) -> Option<&str> {
        self.0.discovered_via.as_deref()
    }
    /// Free-form JSON object, up to 64 KiB (costs one unit of the response budget per 16 bytes).
    async fn metadata(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        crate::graphql::loaders::metadata(
            ctx,
            service::metadata::Owner::Asset,
            &self.0.id,
            self.0.metadata.as_ref(),
        )
        .await
    }
    /// When the asset was recorded.
    async fn created_at(&self) -> DateTime<FixedOffset> {
        self.0.created_at
    }
    /// When the asset was last changed.
    async fn updated_at(&self) -> DateTime<FixedOffset> {
        self.0.updated_at
    }
    /// Who recorded the asset (the `sub` of their token), from the change log; null for an
    /// asset recorded before the log existed.
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<ID>> {
        Ok(crate::graphql::history::authors(ctx, &self.0.id).await?.0)
    }
    /// Who last changed the asset's own fields (as `updatedAt`), from the change log.
    async fn updated_by(&self, ctx: &Context<'_>) -> Result<Option<ID>> {
        Ok(crate::graphql::history::authors(ctx, &self.0.id).await?.1)
    }
    /// The asset's changes, its locations' and its links', newest first.
    // One statement per asset (not batched): priced so that a query asks for at most a few
    // hundred histories (the attack review made 6,200 statements with aliased lists).
    #[graphql(
        complexity = "first.unwrap_or(crate::graphql::history::DEFAULT_PAGE).clamp(1, 100) as usize * child_complexity + 50"
    )]
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size, 1 to 100.",
            default_with = "Some(crate::graphql::history::DEFAULT_PAGE)"
        )]
        first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<crate::graphql::history::ChangeLogConnection> {
        let filter = service::history::ChangeFilter {
            digital_asset_id: Some(self.0.id.clone()),
            ..Default::default()
        };
        crate::graphql::history::page(ctx, filter, first, after).await
    }
    /// Where the asset is hosted or processed, oldest first.
    #[graphql(complexity = "crate::graphql::ASSUMED_LIST_LEN * child_complexity + 1")]
    async fn processing_locations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Include deactivated locations.", default_with = "Some(false)")]
        include_inactive: Option<bool>,
    ) -> Result<Vec<AssetProcessingLocation>> {
        let key = AssetLocationsKey {
            asset_id: self.0.id.clone(),
            include_inactive: include_inactive.unwrap_or(false),
        };
        let list = Loaders::of(ctx)?
            .locations
            .load_one(key)
            .await?
            .unwrap_or_default();
        charge_list(ctx, list.len())?;
        Ok(list.into_iter().map(AssetProcessingLocation).collect())
    }
    /// The worst GDPR Chapter V transfer risk over the asset's active locations; NONE without
    /// any, or when the asset holds no personal data.
    async fn transfer_risk(&self, ctx: &Context<'_>) -> Result<TransferRisk> {
        if !self.0.contains_personal_data {
            return Ok(TransferRisk::None);
        }
        let loaders = Loaders::of(ctx)?;
        let key = AssetLocationsKey {
            asset_id: self.0.id.clone(),
            include_inactive: false,
        };
        let list = loaders.locations.load_one(key).await?.unwrap_or_default();
        let mut risks = Vec::with_capacity(list.len());
        for location in &list {
            let country = loaders.country(&location.country_id).await?;
            let mechanism = match &location.transfer_mechanism_id {
                Some(id) => loaders.mechanism(id).await?,
                None => None,
            };
            let destination = country.as_deref().map_or(
                transfers::DestinationStatus::ThirdCountry,
                transfers::DestinationStatus::of,
            );
            let kind = transfers::MechanismKind::of(mechanism.as_deref());
            risks.push(transfers::risk(destination, kind, true));
        }
        Ok(transfers::worst(risks).into())
    }
    /// The data-processing activities that use the asset, by name.
    #[graphql(complexity = "crate::graphql::ASSUMED_LIST_LEN * child_complexity + 1")]
    async fn activities(&self, ctx: &Context<'_>) -> Result<Vec<DataProcessingActivity>> {
        let list = Loaders::of(ctx)?
            .activities
            .load_one(self.0.id.clone())
            .await?
            .unwrap_or_default();
        charge_list(ctx, list.len())?;
        Ok(list.into_iter().map(DataProcessingActivity::from).collect())
    }
}

/// The organization's user `id` (batched with the request's other users), if any.
async fn user(ctx: &Context<'_>, id: Option<&String>) -> Result<Option<User>> {
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(Loaders::of(ctx)?
        .users
        .load_one(id.clone())
        .await?
        .map(User::from))
}
