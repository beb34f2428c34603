//! The GraphQL output types of DESIGN §4. Relations resolve through the request's loaders, so a
//! nested field costs one batched query per level, whatever the page size.

use std::sync::Arc;

use async_graphql::connection::{CursorType, OpaqueCursor};
use async_graphql::{Context, Enum, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, FixedOffset};
use entity::{
    asset_processing_locations, countries, data_processing_activities, digital_assets, purposes,
    transfer_mechanisms, users,
};

use service::transfers;

use super::guard::charge_list;
use super::loaders::{AssetLocationsKey, Loaders};
use super::transfers::{CountryAdequacy, TransferAssessment, TransferRisk};
use crate::error::GqlResult;

/// What kind of system a digital asset is.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::sea_orm_active_enums::AssetType")]
pub enum AssetType {
    /// Product or web analytics (e.g. Google Analytics).
    AnalyticsPlatform,
    /// An API the organization operates or consumes.
    Api,
    /// A business application.
    Application,
    /// A cloud service not covered by a more specific kind.
    CloudService,
    /// Customer relationship management.
    Crm,
    /// A database.
    Database,
    /// Enterprise resource planning.
    Erp,
    /// File storage or sharing.
    FileStorage,
    /// Marketing automation, newsletters, advertising.
    MarketingTool,
    /// A system run on the organization's own premises.
    OnPremiseSystem,
    /// Anything else.
    Other,
}

/// Whether the asset is connected for automatic discovery.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::sea_orm_active_enums::IntegrationStatus")]
pub enum IntegrationStatus {
    /// Connected and scanned automatically.
    Connected,
    /// The last connection attempt failed.
    Failed,
    /// Maintained by hand only.
    ManualOnly,
    /// Not connected.
    NotIntegrated,
    /// Being connected.
    Pending,
}

/// What happens to data at a location.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "entity::sea_orm_active_enums::LocationRole")]
pub enum LocationRole {
    /// Data is stored there.
    Hosting,
    /// Data is processed (accessed, computed on) there.
    Processing,
    /// Data is both stored and processed there.
    Both,
}

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
        Ok(Loaders::of(ctx)?.country(id).await?.map(Country))
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
        let Some(id) = &self.0.technical_owner_id else {
            return Ok(None);
        };
        Ok(Loaders::of(ctx)?
            .users
            .load_one(id.clone())
            .await?
            .map(User))
    }
    /// Id of the user accountable for the data.
    async fn business_owner_id(&self) -> Option<ID> {
        self.0.business_owner_id.clone().map(ID)
    }
    /// The user accountable for the data.
    async fn business_owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = &self.0.business_owner_id else {
            return Ok(None);
        };
        Ok(Loaders::of(ctx)?
            .users
            .load_one(id.clone())
            .await?
            .map(User))
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
    /// Free-form JSON object (costs 256 of the response budget: it may hold 64 KiB).
    async fn metadata(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        super::loaders::metadata(ctx, service::metadata::Owner::Asset, &self.0.id).await
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
        Ok(super::history::authors(ctx, &self.0.id).await?.0)
    }
    /// Who last changed the asset's own fields (as `updatedAt`), from the change log.
    async fn updated_by(&self, ctx: &Context<'_>) -> Result<Option<ID>> {
        Ok(super::history::authors(ctx, &self.0.id).await?.1)
    }
    /// The asset's changes, its locations' and its links', newest first.
    #[graphql(
        complexity = "first.unwrap_or(super::history::DEFAULT_PAGE).clamp(1, 100) as usize * child_complexity + 1"
    )]
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Page size, 1 to 100.",
            default_with = "Some(super::history::DEFAULT_PAGE)"
        )]
        first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<super::history::ChangeLogConnection> {
        let filter = service::history::ChangeFilter {
            digital_asset_id: Some(self.0.id.clone()),
            ..Default::default()
        };
        super::history::page(ctx, filter, first, after).await
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
        Ok(list.into_iter().map(DataProcessingActivity).collect())
    }
}

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
            .map(Purpose))
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
            .map(Country)
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
            .map(TransferMechanism))
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
    /// Free-form JSON object (costs 256 of the response budget: it may hold 64 KiB).
    async fn metadata(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        super::loaders::metadata(ctx, service::metadata::Owner::Location, &self.0.id).await
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

/// A country (ISO 3166-1) with its status under the GDPR.
pub struct Country(pub Arc<countries::Model>);

#[Object]
impl Country {
    /// Identifier (the seeded countries use their alpha-2 code, e.g. `DE`).
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// English short name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// ISO 3166-1 alpha-2 code.
    async fn iso_code(&self) -> &str {
        &self.0.iso_code
    }
    /// ISO 3166-1 alpha-3 code.
    async fn iso_code3(&self) -> Option<&str> {
        self.0.iso_code3.as_deref()
    }
    /// The adequacy decision (Art. 45) covering the country; null without one.
    async fn adequacy(&self) -> Option<CountryAdequacy> {
        let decision = self.0.adequacy_decision.clone()?;
        Some(CountryAdequacy {
            decision,
            partial: self.0.adequacy_partial,
            scope: self.0.adequacy_scope.clone(),
        })
    }
    /// Any of "EU", "EEA", "EFTA", "Adequate", "Third Country".
    async fn gdpr_status(&self) -> Vec<String> {
        match &self.0.gdpr_status {
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A GDPR Chapter V mechanism that makes a transfer outside the EEA lawful.
pub struct TransferMechanism(pub Arc<transfer_mechanisms::Model>);

#[Object]
impl TransferMechanism {
    /// Identifier (the seeded mechanisms use their code, e.g. `SCC`).
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Stable code, e.g. `SCC`.
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// What it is and when it applies.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// The GDPR article, e.g. "Art. 46(2)(c)".
    async fn gdpr_article(&self) -> &str {
        &self.0.gdpr_article
    }
    /// ADEQUACY, APPROPRIATE_SAFEGUARD or DEROGATION.
    async fn category(&self) -> &str {
        &self.0.category
    }
    /// Whether it is an Art. 49 derogation (for occasional transfers only).
    async fn is_derogation(&self) -> bool {
        self.0.is_derogation
    }
}

/// A data-processing activity of the organization's Article 30 record.
pub struct DataProcessingActivity(pub data_processing_activities::Model);

#[Object]
impl DataProcessingActivity {
    /// Identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The organization that owns the activity.
    async fn organization_id(&self) -> ID {
        ID(self.0.organization_id.clone())
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Status, e.g. DRAFT or ACTIVE.
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// When the activity was recorded.
    async fn created_at(&self) -> DateTime<FixedOffset> {
        self.0.created_at
    }
    /// When the activity was last changed.
    async fn updated_at(&self) -> DateTime<FixedOffset> {
        self.0.updated_at
    }
}

/// A purpose the organization processes data for.
pub struct Purpose(pub purposes::Model);

#[Object]
impl Purpose {
    /// Identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Description.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
}

/// A user of the organization.
pub struct User(pub users::Model);

#[Object]
impl User {
    /// Identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// E-mail address.
    async fn email(&self) -> &str {
        &self.0.email
    }
}

/// One page of digital assets (Relay cursor connection).
pub struct DigitalAssetConnection {
    pub nodes: Vec<DigitalAsset>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    /// What the page was drawn from, for `totalCount`.
    pub filter: service::assets::AssetFilter,
    /// The ordering and filter the page's cursors are valid for.
    pub scope: CursorScope,
}

/// `(ordering, filter fingerprint, sort key, id)` of an asset, base64-encoded.
type AssetCursor = OpaqueCursor<(String, String, String, String)>;

/// What a cursor of `digitalAssets` is bound to: the ordering and the filter it was issued
/// with (another list's cursor is BAD_USER_INPUT, not a silently wrong page).
pub struct CursorScope {
    order: service::assets::AssetOrder,
    tag: String,
    fingerprint: String,
}

impl CursorScope {
    pub fn new(order: service::assets::AssetOrder, filter: &service::assets::AssetFilter) -> Self {
        Self {
            order,
            tag: order.tag(),
            fingerprint: filter.fingerprint(),
        }
    }

    fn encode(&self, asset: &digital_assets::Model) -> String {
        use service::assets::SortKey;
        let key = match self.order.key_of(asset) {
            SortKey::Text(t) => t,
            SortKey::Time(t) => t.to_rfc3339(),
            SortKey::Type(t) => format!("{t:?}"),
        };
        OpaqueCursor((
            self.tag.clone(),
            self.fingerprint.clone(),
            key,
            asset.id.clone(),
        ))
        .encode_cursor()
    }

    /// The cursor `text` given as `field`, if it is one of this list's.
    pub fn decode(
        &self,
        field: &str,
        text: &str,
    ) -> async_graphql::Result<service::assets::AssetCursor> {
        use service::assets::{SortField, SortKey};
        let not_ours = || {
            crate::error::bad_input(
                field,
                format!("{field} is not a cursor of this list (its ordering and filter)"),
            )
        };
        let (tag, fingerprint, key, id) =
            AssetCursor::decode_cursor(text).map_err(|_| not_ours())?.0;
        if tag != self.tag || fingerprint != self.fingerprint {
            return Err(not_ours());
        }
        let key = match self.order.field {
            SortField::Name => SortKey::Text(key),
            SortField::CreatedAt | SortField::UpdatedAt => {
                SortKey::Time(DateTime::parse_from_rfc3339(&key).map_err(|_| not_ours())?)
            }
            SortField::Type => SortKey::Type(
                <entity::sea_orm_active_enums::AssetType as sea_orm::Iterable>::iter()
                    .find(|t| format!("{t:?}") == key)
                    .ok_or_else(not_ours)?,
            ),
        };
        Ok(service::assets::AssetCursor { key, id })
    }
}

impl DigitalAssetConnection {
    fn cursor(&self, asset: &DigitalAsset) -> String {
        self.scope.encode(&asset.0)
    }
}

// Every field resolves on demand: cursors are encoded and the total counted only when asked.
/// One page of digital assets (Relay cursor connection).
#[Object]
impl DigitalAssetConnection {
    /// The assets of the page with their cursors.
    async fn edges(&self, ctx: &Context<'_>) -> Result<Vec<DigitalAssetEdge>> {
        charge_list(ctx, self.nodes.len())?;
        Ok(self
            .nodes
            .iter()
            .map(|n| DigitalAssetEdge {
                cursor: self.cursor(n),
                node: n.clone(),
            })
            .collect())
    }
    /// The assets of the page.
    async fn nodes(&self, ctx: &Context<'_>) -> Result<&[DigitalAsset]> {
        charge_list(ctx, self.nodes.len())?;
        Ok(&self.nodes)
    }
    /// Where the page is in the list.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            start_cursor: self.nodes.first().map(|n| self.cursor(n)),
            end_cursor: self.nodes.last().map(|n| self.cursor(n)),
        }
    }
    /// Assets matching the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count = service::assets::count(super::db(ctx)?, super::tenant(ctx)?, &self.filter)
            .await
            .gql()?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

/// An asset and its cursor.
#[derive(SimpleObject)]
pub struct DigitalAssetEdge {
    /// Pass as `after` to continue after this asset.
    pub cursor: String,
    /// The asset.
    pub node: DigitalAsset,
}

/// Where a page is in the list.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether more items follow this page.
    pub has_next_page: bool,
    /// Whether items precede this page.
    pub has_previous_page: bool,
    /// Cursor of the page's first item.
    pub start_cursor: Option<String>,
    /// Cursor of the page's last item.
    pub end_cursor: Option<String>,
}
