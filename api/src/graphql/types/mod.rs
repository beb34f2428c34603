//! The GraphQL output types of DESIGN §4, one module per domain type. Relations resolve through
//! the request's loaders, so a nested field costs one batched query per level, whatever the page
//! size.

mod asset;
mod location;
mod page;
mod reference;

use async_graphql::Enum;

pub use asset::DigitalAsset;
pub use location::AssetProcessingLocation;
pub use page::{CursorScope, DigitalAssetConnection, DigitalAssetEdge, PageInfo};
pub use reference::{Country, DataProcessingActivity, Purpose, TransferMechanism, User};

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
