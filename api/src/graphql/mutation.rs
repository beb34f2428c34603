//! Mutations, split by domain and merged into one root.

use async_graphql::{Context, ID, MergedObject, Object, Result};
use service::{activities, assets, locations};

use super::guard::charge_list;
use super::inputs::{
    AssetProcessingLocationInput, CreateDigitalAssetInput, UpdateAssetProcessingLocationInput,
    UpdateDigitalAssetInput,
};
use super::types::{AssetProcessingLocation, DigitalAsset};
use super::{db, tenant};
use crate::error::GqlResult;

/// The root mutation.
#[derive(MergedObject, Default)]
pub struct Mutation(AssetMutation, LocationMutation, ActivityMutation);

/// Digital assets.
#[derive(Default)]
pub struct AssetMutation;

#[Object]
impl AssetMutation {
    /// Creates an asset and its locations, all or nothing.
    async fn create_digital_asset(
        &self,
        ctx: &Context<'_>,
        input: CreateDigitalAssetInput,
    ) -> Result<DigitalAsset> {
        Ok(DigitalAsset(
            assets::create(db(ctx)?, tenant(ctx)?, input.into())
                .await
                .gql()?,
        ))
    }

    /// Changes an asset: absent fields are kept, null clears a nullable field.
    async fn update_digital_asset(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateDigitalAssetInput,
    ) -> Result<DigitalAsset> {
        let patch = input.into_patch()?;
        Ok(DigitalAsset(
            assets::update(db(ctx)?, tenant(ctx)?, &id, patch)
                .await
                .gql()?,
        ))
    }

    /// Deletes an asset and its locations; CONFLICT while activities use it.
    async fn delete_digital_asset(&self, ctx: &Context<'_>, id: ID) -> Result<DigitalAsset> {
        Ok(DigitalAsset(
            assets::delete(db(ctx)?, tenant(ctx)?, &id).await.gql()?,
        ))
    }
}

/// Processing locations.
#[derive(Default)]
pub struct LocationMutation;

#[Object]
impl LocationMutation {
    /// Adds locations to an asset, all or nothing.
    async fn add_asset_processing_locations(
        &self,
        ctx: &Context<'_>,
        digital_asset_id: ID,
        locations: Vec<AssetProcessingLocationInput>,
    ) -> Result<Vec<AssetProcessingLocation>> {
        let new = locations.into_iter().map(Into::into).collect();
        let added = locations::add(db(ctx)?, tenant(ctx)?, &digital_asset_id, new)
            .await
            .gql()?;
        charge_list(ctx, added.len())?;
        Ok(added.into_iter().map(AssetProcessingLocation).collect())
    }

    /// Changes a location: absent fields are kept, null clears a nullable field.
    async fn update_asset_processing_location(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAssetProcessingLocationInput,
    ) -> Result<AssetProcessingLocation> {
        let patch = input.into_patch()?;
        Ok(AssetProcessingLocation(
            locations::update(db(ctx)?, tenant(ctx)?, &id, patch)
                .await
                .gql()?,
        ))
    }

    /// Marks a location inactive (kept as history).
    async fn deactivate_asset_processing_location(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<AssetProcessingLocation> {
        Ok(AssetProcessingLocation(
            locations::deactivate(db(ctx)?, tenant(ctx)?, &id)
                .await
                .gql()?,
        ))
    }
}

/// Links between activities and assets.
#[derive(Default)]
pub struct ActivityMutation;

#[Object]
impl ActivityMutation {
    /// Links an asset to an activity; true once linked (linking again is no error).
    async fn link_asset_to_activity(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
        digital_asset_id: ID,
    ) -> Result<bool> {
        activities::link(db(ctx)?, tenant(ctx)?, &activity_id, &digital_asset_id)
            .await
            .gql()?;
        Ok(true)
    }

    /// Unlinks an asset from an activity; true once unlinked (unlinking again is no error).
    async fn unlink_asset_from_activity(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
        digital_asset_id: ID,
    ) -> Result<bool> {
        activities::unlink(db(ctx)?, tenant(ctx)?, &activity_id, &digital_asset_id)
            .await
            .gql()?;
        Ok(true)
    }

    /// Makes these exactly the activity's assets, all or nothing; returns them by name.
    async fn sync_activity_assets(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
        digital_asset_ids: Vec<ID>,
    ) -> Result<Vec<DigitalAsset>> {
        let ids: Vec<String> = digital_asset_ids.into_iter().map(|id| id.0).collect();
        let list = activities::sync(db(ctx)?, tenant(ctx)?, &activity_id, &ids)
            .await
            .gql()?;
        charge_list(ctx, list.len())?;
        Ok(list.into_iter().map(DigitalAsset).collect())
    }
}
