//! GraphQL input types and their conversion to the service's inputs. In updates an absent field
//! keeps its value and an explicit null clears a nullable one (and is refused for a required one).

use async_graphql::{Enum, ID, InputObject, Json, MaybeUndefined};
use chrono::{DateTime, FixedOffset};
use service::assets::{AssetFilter, AssetOrder, AssetPatch, Direction, NewAsset, SortField};
use service::locations::{LocationPatch, NewLocation};
use service::transfers::queries::TransferFilter;

use super::transfers::TransferRisk;
use super::types::{AssetType, IntegrationStatus, LocationRole};
use crate::error::bad_input;

type JsonValue = Json<serde_json::Value>;

/// Which assets to list; every given field must match. An empty list (`types: []`) filters
/// nothing.
#[derive(InputObject, Default)]
pub struct DigitalAssetFilter {
    /// Text anywhere in the name, the description or the url, case-insensitively (`%` and `_`
    /// match themselves; on SQLite only ASCII letters are matched case-insensitively). At most
    /// 200 characters; blank filters nothing.
    pub search: Option<String>,
    /// Only assets of this kind.
    #[graphql(name = "type")]
    pub asset_type: Option<AssetType>,
    /// Only assets of one of these kinds.
    pub types: Option<Vec<AssetType>>,
    /// Only assets in one of these integration states.
    pub integration_statuses: Option<Vec<IntegrationStatus>>,
    /// Only assets that do (or do not) hold personal data.
    pub contains_personal_data: Option<bool>,
    /// Only assets mainly hosted in this country.
    pub primary_hosting_country_id: Option<ID>,
    /// Only assets with an active processing location in this country.
    pub processing_country_id: Option<ID>,
    /// Only assets linked to this data-processing activity.
    pub activity_id: Option<ID>,
    /// Only assets this user owns (as technical or business owner).
    pub owner_id: Option<ID>,
    /// Only assets changed at or after this time.
    pub updated_since: Option<DateTime<FixedOffset>>,
    /// Only assets whose `transferRisk` (the worst over their active locations) is this one.
    pub transfer_risk: Option<TransferRisk>,
}

impl DigitalAssetFilter {
    /// The service's filter, without its transfer risk (which needs the reference data's
    /// rules), validated (`AssetFilter::checked`).
    pub fn into_service(self) -> Result<AssetFilter, async_graphql::Error> {
        AssetFilter {
            search: self.search,
            asset_type: self.asset_type.map(Into::into),
            types: self
                .types
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            integration_statuses: self
                .integration_statuses
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            contains_personal_data: self.contains_personal_data,
            primary_hosting_country_id: self.primary_hosting_country_id.map(|id| id.0),
            processing_country_id: self.processing_country_id.map(|id| id.0),
            activity_id: self.activity_id.map(|id| id.0),
            owner_id: self.owner_id.map(|id| id.0),
            updated_since: self.updated_since,
            transfer_risk: None,
        }
        .checked()
        .map_err(crate::error::to_graphql)
    }
}

/// What `digitalAssets` is ordered by; ties are broken by id.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Default)]
pub enum DigitalAssetSortField {
    /// The name.
    #[default]
    Name,
    /// When the asset was recorded.
    CreatedAt,
    /// When the asset was last changed.
    UpdatedAt,
    /// The kind of asset (in the order of `AssetType`).
    Type,
}

/// Ascending or descending.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq, Default)]
pub enum SortDirection {
    /// A to Z, oldest first.
    #[default]
    Asc,
    /// Z to A, newest first.
    Desc,
}

/// The order of `digitalAssets`.
#[derive(InputObject, Clone, Copy)]
pub struct DigitalAssetOrder {
    /// What to order by.
    #[graphql(default)]
    pub field: DigitalAssetSortField,
    /// Which way.
    #[graphql(default)]
    pub direction: SortDirection,
}

impl From<DigitalAssetOrder> for AssetOrder {
    fn from(o: DigitalAssetOrder) -> Self {
        AssetOrder {
            field: match o.field {
                DigitalAssetSortField::Name => SortField::Name,
                DigitalAssetSortField::CreatedAt => SortField::CreatedAt,
                DigitalAssetSortField::UpdatedAt => SortField::UpdatedAt,
                DigitalAssetSortField::Type => SortField::Type,
            },
            direction: match o.direction {
                SortDirection::Asc => Direction::Asc,
                SortDirection::Desc => Direction::Desc,
            },
        }
    }
}

/// Which processing locations `crossBorderTransfers` lists; every given field must match.
#[derive(InputObject, Default)]
pub struct CrossBorderTransferFilter {
    /// Only locations at least this exposed; NONE lists every location, EEA ones included.
    #[graphql(default_with = "Some(TransferRisk::Low)")]
    pub min_risk: Option<TransferRisk>,
    /// Only locations in this country.
    pub country_id: Option<ID>,
    /// Only this asset's locations.
    pub digital_asset_id: Option<ID>,
    /// Only locations of assets linked to this data-processing activity.
    pub activity_id: Option<ID>,
    /// Deactivated locations too (by default only active ones are assessed).
    #[graphql(default_with = "Some(false)")]
    pub include_inactive: Option<bool>,
}

impl From<CrossBorderTransferFilter> for TransferFilter {
    fn from(f: CrossBorderTransferFilter) -> Self {
        TransferFilter {
            min_risk: Some(f.min_risk.unwrap_or(TransferRisk::Low).into()),
            country_id: f.country_id.map(|id| id.0),
            digital_asset_id: f.digital_asset_id.map(|id| id.0),
            activity_id: f.activity_id.map(|id| id.0),
            include_inactive: f.include_inactive.unwrap_or(false),
        }
    }
}

/// A new digital asset, with its first processing locations.
#[derive(InputObject)]
pub struct CreateDigitalAssetInput {
    /// 1 to 255 characters after trimming.
    pub name: String,
    /// What kind of system it is.
    #[graphql(name = "type")]
    pub asset_type: AssetType,
    /// At most 2000 characters.
    pub description: Option<String>,
    /// An existing country.
    pub primary_hosting_country_id: Option<ID>,
    /// An absolute http(s) URL of at most 2048 characters.
    pub url: Option<String>,
    /// A user of the organization.
    pub technical_owner_id: Option<ID>,
    /// A user of the organization.
    pub business_owner_id: Option<ID>,
    /// Whether the asset holds or processes personal data.
    #[graphql(default_with = "Some(false)")]
    pub contains_personal_data: Option<bool>,
    /// Whether the asset is connected for automatic discovery.
    #[graphql(default_with = "Some(IntegrationStatus::NotIntegrated)")]
    pub integration_status: Option<IntegrationStatus>,
    /// When the asset was last scanned.
    pub last_scanned_at: Option<DateTime<FixedOffset>>,
    /// How the asset was found; at most 100 characters.
    pub discovered_via: Option<String>,
    /// A JSON object of at most 64 KiB.
    pub metadata: Option<JsonValue>,
    /// Locations created with the asset, in the same transaction.
    pub locations: Option<Vec<AssetProcessingLocationInput>>,
}

impl From<CreateDigitalAssetInput> for NewAsset {
    fn from(i: CreateDigitalAssetInput) -> Self {
        NewAsset {
            name: i.name,
            asset_type: i.asset_type.into(),
            description: i.description,
            primary_hosting_country_id: i.primary_hosting_country_id.map(|id| id.0),
            url: i.url,
            technical_owner_id: i.technical_owner_id.map(|id| id.0),
            business_owner_id: i.business_owner_id.map(|id| id.0),
            contains_personal_data: i.contains_personal_data.unwrap_or(false),
            integration_status: i
                .integration_status
                .unwrap_or(IntegrationStatus::NotIntegrated)
                .into(),
            last_scanned_at: i.last_scanned_at,
            discovered_via: i.discovered_via,
            metadata: i.metadata.map(|j| j.0),
            locations: i
                .locations
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
        }
    }
}

/// Changes to a digital asset: every field optional; an explicit null clears a nullable field.
#[derive(InputObject, Default)]
pub struct UpdateDigitalAssetInput {
    /// 1 to 255 characters after trimming.
    pub name: MaybeUndefined<String>,
    /// What kind of system it is.
    #[graphql(name = "type")]
    pub asset_type: MaybeUndefined<AssetType>,
    /// At most 2000 characters.
    pub description: MaybeUndefined<String>,
    /// An existing country.
    pub primary_hosting_country_id: MaybeUndefined<ID>,
    /// An absolute http(s) URL of at most 2048 characters.
    pub url: MaybeUndefined<String>,
    /// A user of the organization.
    pub technical_owner_id: MaybeUndefined<ID>,
    /// A user of the organization.
    pub business_owner_id: MaybeUndefined<ID>,
    /// Whether the asset holds or processes personal data.
    pub contains_personal_data: MaybeUndefined<bool>,
    /// Whether the asset is connected for automatic discovery.
    pub integration_status: MaybeUndefined<IntegrationStatus>,
    /// When the asset was last scanned.
    pub last_scanned_at: MaybeUndefined<DateTime<FixedOffset>>,
    /// How the asset was found; at most 100 characters.
    pub discovered_via: MaybeUndefined<String>,
    /// A JSON object of at most 64 KiB.
    pub metadata: MaybeUndefined<JsonValue>,
}

/// A field that cannot be cleared: absent keeps it, null is refused.
fn required<T>(field: &str, v: MaybeUndefined<T>) -> async_graphql::Result<Option<T>> {
    match v {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(bad_input(field, format!("{field} cannot be null"))),
        MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

/// A field that can be cleared: absent keeps it, null clears it.
fn nullable<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v))),
    }
}

impl UpdateDigitalAssetInput {
    pub fn into_patch(self) -> async_graphql::Result<AssetPatch> {
        Ok(AssetPatch {
            name: required("name", self.name)?,
            asset_type: required("type", self.asset_type)?.map(Into::into),
            description: nullable(self.description, |v| v),
            primary_hosting_country_id: nullable(self.primary_hosting_country_id, |id| id.0),
            url: nullable(self.url, |v| v),
            technical_owner_id: nullable(self.technical_owner_id, |id| id.0),
            business_owner_id: nullable(self.business_owner_id, |id| id.0),
            contains_personal_data: required("containsPersonalData", self.contains_personal_data)?,
            integration_status: required("integrationStatus", self.integration_status)?
                .map(Into::into),
            last_scanned_at: nullable(self.last_scanned_at, |v| v),
            discovered_via: nullable(self.discovered_via, |v| v),
            metadata: nullable(self.metadata, |j| j.0),
        })
    }
}

/// A processing location to add.
#[derive(InputObject)]
pub struct AssetProcessingLocationInput {
    /// The service or provider at this location; 1 to 500 characters.
    pub service: String,
    /// An existing country.
    pub country_id: ID,
    /// Hosting, processing or both.
    pub location_role: LocationRole,
    /// A purpose of the organization (this or purposeText is required).
    pub purpose_id: Option<ID>,
    /// The purpose in words; at most 500 characters (this or purposeId is required).
    pub purpose_text: Option<String>,
    /// An existing Chapter V transfer mechanism.
    pub transfer_mechanism_id: Option<ID>,
    /// Whether the location is in use.
    #[graphql(default_with = "Some(true)")]
    pub is_active: Option<bool>,
    /// A JSON object of at most 64 KiB.
    pub metadata: Option<JsonValue>,
}

impl From<AssetProcessingLocationInput> for NewLocation {
    fn from(i: AssetProcessingLocationInput) -> Self {
        NewLocation {
            service: i.service,
            country_id: i.country_id.0,
            location_role: i.location_role.into(),
            purpose_id: i.purpose_id.map(|id| id.0),
            purpose_text: i.purpose_text,
            transfer_mechanism_id: i.transfer_mechanism_id.map(|id| id.0),
            is_active: i.is_active.unwrap_or(true),
            metadata: i.metadata.map(|j| j.0),
        }
    }
}

/// Changes to a processing location: every field optional; an explicit null clears a nullable
/// field.
#[derive(InputObject, Default)]
pub struct UpdateAssetProcessingLocationInput {
    /// 1 to 500 characters.
    pub service: MaybeUndefined<String>,
    /// An existing country.
    pub country_id: MaybeUndefined<ID>,
    /// Hosting, processing or both.
    pub location_role: MaybeUndefined<LocationRole>,
    /// A purpose of the organization.
    pub purpose_id: MaybeUndefined<ID>,
    /// The purpose in words; at most 500 characters.
    pub purpose_text: MaybeUndefined<String>,
    /// An existing Chapter V transfer mechanism.
    pub transfer_mechanism_id: MaybeUndefined<ID>,
    /// Whether the location is in use.
    pub is_active: MaybeUndefined<bool>,
    /// A JSON object of at most 64 KiB.
    pub metadata: MaybeUndefined<JsonValue>,
}

impl UpdateAssetProcessingLocationInput {
    pub fn into_patch(self) -> async_graphql::Result<LocationPatch> {
        Ok(LocationPatch {
            service: required("service", self.service)?,
            country_id: required("countryId", self.country_id)?.map(|id| id.0),
            location_role: required("locationRole", self.location_role)?.map(Into::into),
            purpose_id: nullable(self.purpose_id, |id| id.0),
            purpose_text: nullable(self.purpose_text, |v| v),
            transfer_mechanism_id: nullable(self.transfer_mechanism_id, |id| id.0),
            is_active: required("isActive", self.is_active)?,
            metadata: nullable(self.metadata, |j| j.0),
        })
    }
}
