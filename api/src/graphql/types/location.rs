//! Processing locations.

use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, FixedOffset};
use entity::asset_processing_locations;

use super::*;
use crate::graphql::loaders::Loaders;
use crate::graphql::transfers::TransferAssessment;

/// A place where an asset's data is hosted or processed, and on what legal basis it gets there.
pub struct AssetProcessingLocation(pub asset_processing_locations::Model);

#[Object]
impl AssetProcessingLocation {
    /// Identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The organization that owns the location.
    async fn organization_id(&self) -> ID {
        ID(self.0.organization_id.clone())
    }
    /// Id of the asset.
    async fn digital_asset_id(&self) -> ID {
        ID(self.0.digital_asset_id.clone())
    }
    /// The asset.
    async fn digital_asset(&self, ctx: &Context<'_>) -> Result<DigitalAsset> {
        Loaders::of(ctx)?
            .assets
            .load_one(self.0.digital_asset_id.clone())
            .await?
            .map(DigitalAsset)
            .ok_or_else(|| {
                crate::error::to_graphql(service::ServiceError::NotFound("digital asset"))
            })
    }
    /// The service or provider at this location (e.g. "AWS eu-west-1").
    async fn service(&self) -> &str {
        &self.0.service
    }
    /// Id of the organization's purpose for this location.
    async fn purpose_id(&self) -> Option<ID> {
        self.0.purpose_id.clone().map(ID)
    }
    /// The organization's purpose for this location.
    async fn purpose(&self, ctx: &Context<'_>) -> Result<Option<Purpose>> {
        let Some(id) = &self.0.purpose_id else {
            return Ok(None);
        };
        Ok(Loaders::of(ctx)?
            .purposes
            .load_one(id.clone())
            .await?
            .map(Purpose::from))
    }
    /// The purpose in words, where no purpose record is referenced.
    async fn purpose_text(&self) -> Option<&str> {
        self.0.purpose_text.as_deref()
    }
    /// Id of the country.
    async fn country_id(&self) -> ID {
        ID(self.0.country_id.clone())
    }
    /// The country.
    async fn country(&self, ctx: &Context<'_>) -> Result<Country> {
        Loaders::of(ctx)?
            .country(&self.0.country_id)
            .await?
            .map(Country::from)
            .ok_or_else(|| crate::error::to_graphql(service::ServiceError::NotFound("country")))
    }
    /// Hosting, processing or both.
    async fn location_role(&self) -> LocationRole {
        self.0.location_role.into()
    }
    /// Id of the Chapter V transfer mechanism, for a transfer outside the EEA.
    async fn transfer_mechanism_id(&self) -> Option<ID> {
        self.0.transfer_mechanism_id.clone().map(ID)
    }
    /// The Chapter V transfer mechanism, for a transfer outside the EEA.
    async fn transfer_mechanism(&self, ctx: &Context<'_>) -> Result<Option<TransferMechanism>> {
        let Some(id) = &self.0.transfer_mechanism_id else {
            return Ok(None);
        };
        Ok(Loaders::of(ctx)?
            .mechanism(id)
            .await?
            .map(TransferMechanism::from))
    }
    /// Whether the location is in use (deactivated ones are kept as history).
    async fn is_active(&self) -> bool {
        self.0.is_active
    }
    /// Whether the location is a restricted transfer under GDPR Chapter V, on what legal basis,
    /// and how exposed it is (an inactive location is assessed as if it were in use).
    async fn transfer(&self, ctx: &Context<'_>) -> Result<TransferAssessment> {
        let loaders = Loaders::of(ctx)?;
        let personal = loaders
            .personal_data
            .load_one(self.0.digital_asset_id.clone())
            .await?
            .ok_or_else(|| {
                crate::error::to_graphql(service::ServiceError::NotFound("digital asset"))
            })?;
        Ok(TransferAssessment(loaders.assess(&self.0, personal).await?))
    }
    /// Free-form JSON object, up to 64 KiB (costs one unit of the response budget per 16 bytes).
    async fn metadata(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        crate::graphql::loaders::metadata(
            ctx,
            service::metadata::Owner::Location,
            &self.0.id,
            self.0.metadata.as_ref(),
        )
        .await
    }
    /// When the location was recorded.
    async fn created_at(&self) -> DateTime<FixedOffset> {
        self.0.created_at
    }
    /// When the location was last changed.
    async fn updated_at(&self) -> DateTime<FixedOffset> {
        self.0.updated_at
    }
}
