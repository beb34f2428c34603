//! A page of digital assets and its cursors.

use async_graphql::connection::{CursorType, OpaqueCursor};
use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::DateTime;
use entity::digital_assets;

use super::*;
use crate::error::GqlResult;
use crate::graphql::guard::charge_list;

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
        PageInfo::of(
            &self.nodes,
            self.has_next_page,
            self.has_previous_page,
            |n| self.cursor(n),
        )
    }
    /// Assets matching the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count = service::assets::count(
            crate::graphql::db(ctx)?,
            crate::graphql::tenant(ctx)?,
            &self.filter,
        )
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

impl PageInfo {
    /// The page info of `nodes`, their cursors made by `cursor`.
    pub fn of<T>(
        nodes: &[T],
        has_next_page: bool,
        has_previous_page: bool,
        cursor: impl Fn(&T) -> String,
    ) -> Self {
        Self {
            has_next_page,
            has_previous_page,
            start_cursor: nodes.first().map(&cursor),
            end_cursor: nodes.last().map(&cursor),
        }
    }
}
