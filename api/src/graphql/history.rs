//! The change log over GraphQL: `changeLog` for the organization, `DigitalAsset.history` for one
//! asset (its own changes and its locations' and links'), `createdBy` / `updatedBy`.

use std::collections::HashMap;

use async_graphql::connection::{CursorType, OpaqueCursor};
use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, Error, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, FixedOffset};
use entity::change_log;
use service::history::{self, Action, ChangeCursor, ChangeFilter, EntityType};

use super::guard::charge_list;
use super::loaders::{Loaders, Scoped};
use super::types::{DigitalAsset, PageInfo};
use super::{db, tenant};
use crate::error::{GqlResult, bad_input};

/// What kind of row a change is about.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
pub enum ChangeEntityType {
    /// A digital asset's own fields.
    DigitalAsset,
    /// One of an asset's processing locations.
    ProcessingLocation,
    /// A link between an asset and a data-processing activity.
    ActivityLink,
}

/// What happened.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
pub enum ChangeAction {
    /// Recorded (`changes` lists the values it was recorded with).
    Created,
    /// Changed (`changes` lists each changed field, before and after).
    Updated,
    /// Deleted (`snapshot` holds what it was).
    Deleted,
    /// A location taken out of use.
    Deactivated,
    /// An asset linked to an activity.
    Linked,
    /// An asset unlinked from an activity.
    Unlinked,
}

macro_rules! same_variants {
    ($api:ident, $service:ident { $($v:ident),* }) => {
        impl From<$api> for $service {
            fn from(v: $api) -> Self {
                match v { $($api::$v => $service::$v),* }
            }
        }
        impl From<$service> for $api {
            fn from(v: $service) -> Self {
                match v { $($service::$v => $api::$v),* }
            }
        }
    };
}

same_variants!(
    ChangeEntityType,
    EntityType {
        DigitalAsset,
        ProcessingLocation,
        ActivityLink
    }
);
same_variants!(
    ChangeAction,
    Action {
        Created,
        Updated,
        Deleted,
        Deactivated,
        Linked,
        Unlinked
    }
);

/// Which changes to list; every given field must match.
#[derive(InputObject, Default)]
pub struct ChangeLogFilter {
    /// Only changes of this kind of row.
    pub entity_type: Option<ChangeEntityType>,
    /// Only this kind of change (e.g. DELETED with DIGITAL_ASSET: the assets deleted).
    pub action: Option<ChangeAction>,
    /// Only changes of this asset, its locations and its links (also once it is deleted).
    pub digital_asset_id: Option<ID>,
    /// Only changes made by this user (the token's `sub`).
    pub actor_id: Option<ID>,
    /// Only changes made at or after this time.
    pub since: Option<DateTime<FixedOffset>>,
    /// Only changes made before this time.
    pub until: Option<DateTime<FixedOffset>>,
}

impl From<ChangeLogFilter> for ChangeFilter {
    fn from(f: ChangeLogFilter) -> Self {
        ChangeFilter {
            entity_type: f.entity_type.map(Into::into),
            action: f.action.map(Into::into),
            digital_asset_id: f.digital_asset_id.map(|id| id.0),
            actor_id: f.actor_id.map(|id| id.0),
            since: f.since,
            until: f.until,
        }
    }
}

/// One field of a change: its value before and after (JSON: text, number, boolean, enum name,
/// RFC 3339 time, or the metadata document; null when unset).
#[derive(SimpleObject)]
pub struct FieldChange {
    /// The field, as this API names it (`countryId`, `transferMechanismId`…).
    pub field: String,
    /// The value before (null for a created row, or a field that was unset).
    pub old: Option<Json<serde_json::Value>>,
    /// The value after (null for a cleared field).
    pub new: Option<Json<serde_json::Value>>,
}

/// One change of the organization's inventory: who made it, when, in which request, and what
/// it changed.
#[derive(Clone)]
pub struct ChangeLogEntry(pub change_log::Model);

#[Object]
impl ChangeLogEntry {
    /// Identifier.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// What kind of row changed.
    async fn entity_type(&self) -> Result<ChangeEntityType> {
        EntityType::parse(&self.0.entity_type)
            .map(Into::into)
            .ok_or_else(|| Error::new("unknown entity type in the change log"))
    }
    /// Id of the row that changed (the asset, the location or the link).
    async fn entity_id(&self) -> ID {
        ID(self.0.entity_id.clone())
    }
    /// What happened.
    async fn action(&self) -> Result<ChangeAction> {
        Action::parse(&self.0.action)
            .map(Into::into)
            .ok_or_else(|| Error::new("unknown action in the change log"))
    }
    /// Id of the asset the change belongs to (kept after the asset is deleted).
    async fn digital_asset_id(&self) -> ID {
        ID(self.0.digital_asset_id.clone())
    }
    /// The asset the change belongs to; null once it is deleted (`snapshot` of its DELETED
    /// entry holds what it was).
    async fn digital_asset(&self, ctx: &Context<'_>) -> Result<Option<DigitalAsset>> {
        Ok(Loaders::of(ctx)?
            .assets
            .load_one(self.0.digital_asset_id.clone())
            .await?
            .map(DigitalAsset))
    }
    /// Id of the activity, for a link.
    async fn activity_id(&self) -> Option<ID> {
        self.0.activity_id.clone().map(ID)
    }
    /// Who made the change: the `sub` of the token (kept after the user is deleted).
    async fn actor_id(&self) -> ID {
        ID(self.0.actor_id.clone())
    }
    /// The `x-request-id` of the request that made the change.
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    /// When the change was committed (the database's clock).
    async fn changed_at(&self) -> DateTime<FixedOffset> {
        self.0.changed_at
    }
    /// The fields changed, before and after; for a created row, the values it was created with.
    /// Empty for a deletion and a link.
    #[graphql(complexity = "DETAILS_COMPLEXITY")]
    async fn changes(&self, ctx: &Context<'_>) -> Result<Vec<FieldChange>> {
        let Some(changes) = details(ctx, &self.0.id).await?.0 else {
            return Ok(Vec::new());
        };
        let serde_json::Value::Array(items) = changes else {
            return Err(Error::new("malformed change in the change log"));
        };
        charge_list(ctx, items.len())?;
        Ok(items
            .into_iter()
            .map(|mut item| {
                let mut take = |key: &str| match item.get_mut(key).map(serde_json::Value::take) {
                    None | Some(serde_json::Value::Null) => None,
                    Some(value) => Some(value),
                };
                let field = take("field")
                    .and_then(|f| f.as_str().map(str::to_owned))
                    .unwrap_or_default();
                FieldChange {
                    field,
                    old: take("old").map(Json),
                    new: take("new").map(Json),
                }
            })
            .collect())
    }
    /// For a deletion, the row as it was (a deleted asset's also gives `locationCount`; each of
    /// its locations has a DELETED entry of its own).
    #[graphql(complexity = "DETAILS_COMPLEXITY")]
    async fn snapshot(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        Ok(details(ctx, &self.0.id).await?.1.map(Json))
    }
}

/// The static cost of `changes` and `snapshot`: they may hold metadata documents (64 KiB), so
/// a query may ask for them on one page of at most 100 entries, not on several (the response
/// budget then charges what they really hold).
const DETAILS_COMPLEXITY: usize = 64;

/// An entry's `changes` and `snapshot`, read with its page's other entries' (lists never carry
/// them; the loader charges them to the response budget by their stored size before reading).
async fn details(
    ctx: &Context<'_>,
    id: &str,
) -> Result<(Option<serde_json::Value>, Option<serde_json::Value>)> {
    Ok(Loaders::of(ctx)?
        .change_details
        .load_one(id.to_owned())
        .await?
        .unwrap_or_default())
}

/// Entries' `changes` and `snapshot`, by entry id.
pub struct ChangeDetailsLoader(pub(super) Scoped);

impl Loader<String> for ChangeDetailsLoader {
    type Value = (Option<serde_json::Value>, Option<serde_json::Value>);
    type Error = Error;

    async fn load(&self, ids: &[String]) -> Result<HashMap<String, Self::Value>, Error> {
        // Charged before they are read: what a page of documents costs in memory is paid for
        // by the request that asks, or refused.
        let sizes = history::detail_sizes(self.0.db(), self.0.tenant(), ids)
            .await
            .gql()?;
        self.0.charge(super::loaders::documents_cost(
            sizes.iter().map(|(_, bytes)| *bytes),
        ))?;
        let rows = history::details(self.0.db(), self.0.tenant(), ids)
            .await
            .gql()?;
        Ok(rows
            .into_iter()
            .map(|(id, changes, snapshot)| (id, (changes, snapshot)))
            .collect())
    }
}

/// Who created and who last changed each asset, by asset id.
pub struct AuthorsLoader(pub(super) Scoped);

impl Loader<String> for AuthorsLoader {
    type Value = (Option<String>, Option<String>);
    type Error = Error;

    async fn load(&self, ids: &[String]) -> Result<HashMap<String, Self::Value>, Error> {
        let rows = history::authors(self.0.db(), self.0.tenant(), ids)
            .await
            .gql()?;
        Ok(rows
            .into_iter()
            .map(|(id, created, updated)| (id, (created, updated)))
            .collect())
    }
}

/// Who created `asset` and who last changed it, from the log (batched over the page).
pub async fn authors(ctx: &Context<'_>, asset: &str) -> Result<(Option<ID>, Option<ID>)> {
    let (created, updated) = Loaders::of(ctx)?
        .authors
        .load_one(asset.to_owned())
        .await?
        .unwrap_or_default();
    Ok((created.map(ID), updated.map(ID)))
}

/// `(changedAt, id)` of an entry, base64-encoded: where the next page starts.
type EntryCursor = OpaqueCursor<(DateTime<FixedOffset>, String)>;

/// One page of the change log, newest first.
pub struct ChangeLogConnection {
    nodes: Vec<ChangeLogEntry>,
    has_next_page: bool,
    has_previous_page: bool,
}

impl ChangeLogConnection {
    fn cursor(entry: &ChangeLogEntry) -> String {
        OpaqueCursor((entry.0.changed_at, entry.0.id.clone())).encode_cursor()
    }
}

/// One page of the change log, newest first (Relay cursor connection).
#[Object]
impl ChangeLogConnection {
    /// The entries of the page with their cursors.
    async fn edges(&self, ctx: &Context<'_>) -> Result<Vec<ChangeLogEdge>> {
        charge_list(ctx, self.nodes.len())?;
        Ok(self
            .nodes
            .iter()
            .map(|n| ChangeLogEdge {
                cursor: Self::cursor(n),
                node: n.clone(),
            })
            .collect())
    }
    /// The entries of the page.
    async fn nodes(&self, ctx: &Context<'_>) -> Result<&[ChangeLogEntry]> {
        charge_list(ctx, self.nodes.len())?;
        Ok(&self.nodes)
    }
    /// Where the page is in the log.
    async fn page_info(&self) -> PageInfo {
        PageInfo::of(
            &self.nodes,
            self.has_next_page,
            self.has_previous_page,
            Self::cursor,
        )
    }
}

/// An entry and its cursor.
#[derive(SimpleObject)]
pub struct ChangeLogEdge {
    /// Pass as `after` to continue after this entry.
    pub cursor: String,
    /// The entry.
    pub node: ChangeLogEntry,
}

/// A page of the tenant's log matching `filter`: the shared body of `changeLog` and
/// `DigitalAsset.history`.
pub async fn page(
    ctx: &Context<'_>,
    filter: ChangeFilter,
    first: Option<i32>,
    after: Option<String>,
) -> Result<ChangeLogConnection> {
    let first = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=history::MAX_PAGE as i32).contains(&first) {
        return Err(bad_input(
            "first",
            format!("first must be 1 to {}, got {first}", history::MAX_PAGE),
        ));
    }
    let after = match after {
        None => None,
        Some(text) => {
            let (changed_at, id) = EntryCursor::decode_cursor(&text)
                .map_err(|_| bad_input("after", "after is not a cursor of the change log"))?
                .0;
            Some(ChangeCursor { changed_at, id })
        }
    };
    let page = history::list(
        db(ctx)?,
        tenant(ctx)?,
        &filter,
        first as u64,
        after.as_ref(),
    )
    .await
    .gql()?;
    Ok(ChangeLogConnection {
        nodes: page.entries.into_iter().map(ChangeLogEntry).collect(),
        has_next_page: page.has_next_page,
        has_previous_page: after.is_some(),
    })
}

/// Page size when `first` is not given.
pub const DEFAULT_PAGE: i32 = 20;

/// The change log.
#[derive(Default)]
pub struct HistoryQuery;

#[Object]
impl HistoryQuery {
    /// The organization's changes to its assets, their locations and their links, newest
    /// first (kept until the organization is deleted; deleted assets' changes included).
    #[graphql(
        complexity = "first.unwrap_or(DEFAULT_PAGE).clamp(1, 100) as usize * child_complexity + 1"
    )]
    async fn change_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<ChangeLogFilter>,
        #[graphql(desc = "Page size, 1 to 100.", default_with = "Some(DEFAULT_PAGE)")]
        first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<ChangeLogConnection> {
        page(ctx, filter.unwrap_or_default().into(), first, after).await
    }
}
