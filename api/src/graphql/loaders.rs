//! Per-request DataLoaders: built for one request's tenant (never shared across tenants), they
//! batch every relation a query asks for into one query per relation and level; their batches
//! start when complete ([`Batched`], in `batched.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, Error};
use entity::{
    asset_processing_locations, countries, data_processing_activities, digital_assets, purposes,
    transfer_mechanisms, users,
};
use service::reference_cache::ReferenceCache;
use service::transfers::queries::{self as transfer_queries, RiskRules};
use service::transfers::{self, Assessment, Destination, DestinationStatus, Mechanism};
use service::{ServiceError, Tenant, activities, assets, locations, reference};
use tokio::sync::OnceCell;

pub use super::batched::{Batched, Dispatcher};
use super::guard::RequestGuard;
use super::history::{AuthorsLoader, ChangeDetailsLoader};
use crate::db::{Databases, Db};
use crate::error::GqlResult;

/// The request's loaders.
pub struct Loaders {
    dbs: Databases,
    guard: Arc<RequestGuard>,
    reference: Arc<ReferenceCache>,
    tenant: Tenant,
    /// The organization's headquarters country id, read once per request when an assessment
    /// needs it.
    headquarters: OnceCell<Option<String>>,
    /// Whether an asset holds personal data, by asset id (what a location's assessment needs
    /// of its asset); a list that already read it fills the cache.
    pub personal_data: DataLoader<PersonalDataLoader, HashMapCache>,
    pub locations: DataLoader<LocationsLoader>,
    pub activities: DataLoader<ActivitiesLoader>,
    pub assets: DataLoader<AssetLoader>,
    pub countries: DataLoader<CountryLoader>,
    pub mechanisms: DataLoader<MechanismLoader>,
    pub users: DataLoader<UserLoader>,
    pub purposes: DataLoader<PurposeLoader>,
    pub metadata: DataLoader<MetadataLoader>,
    pub change_details: DataLoader<ChangeDetailsLoader>,
    pub authors: DataLoader<AuthorsLoader>,
}

impl Loaders {
    /// Loaders for one request of `tenant`; run the request inside [`Batched`] with the
    /// returned dispatcher.
    pub fn new(
        dbs: &Databases,
        reference: &Arc<ReferenceCache>,
        tenant: &Tenant,
        guard: &Arc<RequestGuard>,
    ) -> (Self, Dispatcher) {
        let scoped = || Scoped {
            dbs: dbs.clone(),
            tenant: tenant.clone(),
            guard: guard.clone(),
        };
        let d = Dispatcher::default();
        let loaders = Self {
            dbs: dbs.clone(),
            guard: guard.clone(),
            reference: reference.clone(),
            tenant: tenant.clone(),
            headquarters: OnceCell::new(),
            personal_data: d.cached_loader(PersonalDataLoader(scoped())),
            locations: d.loader(LocationsLoader(scoped())),
            activities: d.loader(ActivitiesLoader(scoped())),
            assets: d.loader(AssetLoader(scoped())),
            countries: d.loader(CountryLoader(scoped())),
            mechanisms: d.loader(MechanismLoader(scoped())),
            users: d.loader(UserLoader(scoped())),
            purposes: d.loader(PurposeLoader(scoped())),
            metadata: d.loader(MetadataLoader(scoped())),
            change_details: d.loader(ChangeDetailsLoader(scoped())),
            authors: d.loader(AuthorsLoader(scoped())),
        };
        (loaders, d)
    }

    /// A country, from the reference cache (the database for one added since it was loaded).
    pub async fn country(&self, id: &str) -> Result<Option<Arc<countries::Model>>, Error> {
        if let Some(country) = self.reference.get(self.db()).await.gql()?.country(id) {
            return Ok(Some(country));
        }
        Ok(self.countries.load_one(id.to_owned()).await?.map(Arc::new))
    }

    /// A transfer mechanism, from the reference cache (or the database, as for countries).
    pub async fn mechanism(
        &self,
        id: &str,
    ) -> Result<Option<Arc<transfer_mechanisms::Model>>, Error> {
        if let Some(mechanism) = self.reference.get(self.db()).await.gql()?.mechanism(id) {
            return Ok(Some(mechanism));
        }
        Ok(self.mechanisms.load_one(id.to_owned()).await?.map(Arc::new))
    }

    /// The database the request reads from (see [`Databases::for_operation`]).
    fn db(&self) -> &Db {
        self.dbs.for_operation(self.guard.on_primary())
    }

    /// The loaders of the request being resolved.
    pub fn of<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Loaders> {
        ctx.data::<Loaders>()
    }

    /// The Chapter V risk rules over the reference cache's snapshot.
    pub async fn risk_rules(&self) -> Result<Arc<RiskRules>, Error> {
        Ok(self.reference.get(self.db()).await.gql()?.risk_rules())
    }

    /// The name of the organization's headquarters country, when recorded and outside the EEA
    /// (one statement per request, when first asked).
    pub async fn headquarters_outside_eea(&self) -> Result<Option<String>, Error> {
        let id = self
            .headquarters
            .get_or_try_init(|| async {
                transfer_queries::headquarters_country_id(self.db(), &self.tenant)
                    .await
                    .gql()
            })
            .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        Ok(self
            .country(id)
            .await?
            .filter(|c| DestinationStatus::of(c) != DestinationStatus::Eea)
            .map(|c| c.name.clone()))
    }

    /// The Chapter V assessment of `location`, whose asset does (or does not) hold personal
    /// data: reference data from the cache, the headquarters once per request.
    pub async fn assess(
        &self,
        location: &asset_processing_locations::Model,
        contains_personal_data: bool,
    ) -> Result<Assessment, Error> {
        let country = self
            .country(&location.country_id)
            .await?
            .ok_or_else(|| crate::error::to_graphql(ServiceError::NotFound("country")))?;
        let mechanism = match &location.transfer_mechanism_id {
            Some(id) => self.mechanism(id).await?,
            None => None,
        };
        let headquarters = self.headquarters_outside_eea().await?;
        Ok(transfers::assess(&transfers::Transfer {
            destination: Destination::of(&country),
            mechanism: Mechanism::of(mechanism.as_deref()),
            contains_personal_data,
            headquarters_outside_eea: headquarters.as_deref(),
        }))
    }
}

/// What every loader needs: the pool, the tenant it loads for, and the request's budget.
pub struct Scoped {
    dbs: Databases,
    tenant: Tenant,
    guard: Arc<RequestGuard>,
}

impl Scoped {
    /// The database the request reads from (see [`Databases::for_operation`]).
    pub(super) fn db(&self) -> &Db {
        self.dbs.for_operation(self.guard.on_primary())
    }

    pub(super) fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// Takes `n` from the request's response budget (RESPONSE_TOO_LARGE past it).
    pub(super) fn charge(&self, n: usize) -> Result<(), Error> {
        self.guard.charge(n)
    }

    /// Rows a list may fetch: one more than the response budget can show, so that a list too
    /// long to show is known without reading all of it.
    fn row_limit(&self) -> u64 {
        shown_rows(&self.guard) as u64 + 1
    }

    /// RESPONSE_TOO_LARGE when the budget cannot show `rows`.
    fn within_budget(&self, rows: usize) -> Result<(), Error> {
        if rows > shown_rows(&self.guard) {
            return Err(self.guard.overrun());
        }
        Ok(())
    }
}

/// The most rows the rest of the budget can show: each costs at least 2 (the row and one field).
fn shown_rows(guard: &RequestGuard) -> usize {
    guard.remaining() / 2
}

/// The row limit of a root list: one more than the request's budget can show.
pub fn row_limit(ctx: &Context<'_>) -> async_graphql::Result<Option<u64>> {
    Ok(ctx
        .data_opt::<Arc<RequestGuard>>()
        .map(|g| shown_rows(g) as u64 + 1))
}

/// Which locations of an asset to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssetLocationsKey {
    pub asset_id: String,
    pub include_inactive: bool,
}

/// An asset's processing locations, oldest first.
pub struct LocationsLoader(Scoped);

impl Loader<AssetLocationsKey> for LocationsLoader {
    type Value = Vec<asset_processing_locations::Model>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[AssetLocationsKey],
    ) -> Result<HashMap<AssetLocationsKey, Self::Value>, Error> {
        let mut out: HashMap<AssetLocationsKey, Self::Value> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        // One query per variant asked for (usually only the active-only one).
        for include_inactive in [false, true] {
            let ids: Vec<String> = keys
                .iter()
                .filter(|k| k.include_inactive == include_inactive)
                .map(|k| k.asset_id.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let shown = shown_rows(&self.0.guard);
            if ids
                .iter()
                .any(|id| oversized::known(&self.0.tenant, id, include_inactive, shown))
            {
                return Err(self.0.guard.overrun());
            }
            let rows = locations::for_assets(
                self.0.db(),
                &self.0.tenant,
                &ids,
                include_inactive,
                Some(self.0.row_limit()),
            )
            .await
            .gql()?;
            if rows.len() > shown {
                oversized::remember(&self.0.tenant, &ids, include_inactive, &rows);
            }
            self.0.within_budget(rows.len())?;
            for row in rows {
                let key = AssetLocationsKey {
                    asset_id: row.digital_asset_id.clone(),
                    include_inactive,
                };
                out.entry(key).or_default().push(row);
            }
        }
        Ok(out)
    }
}

/// The activities an asset is linked to, by name.
pub struct ActivitiesLoader(Scoped);

impl Loader<String> for ActivitiesLoader {
    type Value = Vec<data_processing_activities::Model>;
    type Error = Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Error> {
        let mut out: HashMap<String, Self::Value> =
            keys.iter().map(|k| (k.clone(), Vec::new())).collect();
        let rows = activities::activities_for_assets(
            self.0.db(),
            &self.0.tenant,
            keys,
            Some(self.0.row_limit()),
        )
        .await
        .gql()?;
        self.0.within_budget(rows.len())?;
        for (asset_id, activity) in rows {
            out.entry(asset_id).or_default().push(activity);
        }
        Ok(out)
    }
}

/// Declares a loader of records by id.
macro_rules! by_id {
    ($(#[$doc:meta])* $name:ident => $model:ty, |$s:ident, $ids:ident| $fetch:expr) => {
        $(#[$doc])*
        pub struct $name(Scoped);

        impl Loader<String> for $name {
            type Value = $model;
            type Error = Error;

            async fn load(&self, $ids: &[String]) -> Result<HashMap<String, $model>, Error> {
                let $s = &self.0;
                let rows = $fetch.await.gql()?;
                Ok(rows.into_iter().map(|m| (m.id.clone(), m)).collect())
            }
        }
    };
}

by_id!(
    /// The tenant's assets by id.
    AssetLoader => digital_assets::Model, |s, ids| assets::by_ids(s.db(), &s.tenant, ids)
);
by_id!(
    /// Countries by id.
    CountryLoader => countries::Model, |s, ids| reference::countries_by_ids(s.db(), ids)
);
by_id!(
    /// Transfer mechanisms by id.
    MechanismLoader => transfer_mechanisms::Model, |s, ids| reference::transfer_mechanisms_by_ids(s.db(), ids)
);
by_id!(
    /// The tenant's users by id.
    UserLoader => users::Model, |s, ids| reference::users_by_ids(s.db(), &s.tenant, ids)
);
by_id!(
    /// The tenant's purposes by id.
    PurposeLoader => purposes::Model, |s, ids| reference::purposes_by_ids(s.db(), &s.tenant, ids)
);

/// Whether each of the tenant's assets holds personal data.
pub struct PersonalDataLoader(Scoped);

impl Loader<String> for PersonalDataLoader {
    type Value = bool;
    type Error = Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, bool>, Error> {
        let rows = transfer_queries::personal_data(self.0.db(), &self.0.tenant, keys)
            .await
            .gql()?;
        Ok(rows.into_iter().collect())
    }
}

/// What one `metadata` field costs of the response budget before its document is read; the
/// loader then charges the documents of the level by their stored size.
pub const METADATA_COST: usize = 1;

/// Stored bytes of clients' JSON documents per unit of the response budget. Small: parsed, a
/// JSON array of small numbers takes about 30 times its text, so the budget (50,000 units by
/// default) lets one request read at most ~800 KB of documents, ~25 MB once parsed.
pub const DOCUMENT_BYTES_PER_UNIT: usize = 16;

/// What documents of `sizes` bytes cost of the budget (1 each, and one per 16 stored bytes).
pub fn documents_cost(sizes: impl IntoIterator<Item = i64>) -> usize {
    sizes.into_iter().fold(0_usize, |sum, bytes| {
        sum.saturating_add(
            1 + usize::try_from(bytes).unwrap_or(usize::MAX) / DOCUMENT_BYTES_PER_UNIT,
        )
    })
}

/// The `metadata` of one asset or location: read by id with the other documents of its level
/// (lists never carry them; see `service::metadata`), charged by their stored size before they
/// are read.
/// `known` is the document when the row at hand already holds it (a row read whole, as a
/// mutation's answer is; after a delete, the only copy left).
pub async fn metadata(
    ctx: &Context<'_>,
    owner: service::metadata::Owner,
    id: &str,
    known: Option<&serde_json::Value>,
) -> async_graphql::Result<Option<async_graphql::Json<serde_json::Value>>> {
    if let Some(guard) = ctx.data_opt::<Arc<RequestGuard>>() {
        guard.charge(METADATA_COST)?;
    }
    if let Some(document) = known {
        return Ok(Some(async_graphql::Json(document.clone())));
    }
    let document = Loaders::of(ctx)?
        .metadata
        .load_one((owner, id.to_owned()))
        .await?
        .flatten();
    Ok(document.map(async_graphql::Json))
}

/// Clients' JSON documents by owner and id.
pub struct MetadataLoader(Scoped);

impl Loader<(service::metadata::Owner, String)> for MetadataLoader {
    type Value = Option<serde_json::Value>;
    type Error = Error;

    async fn load(
        &self,
        keys: &[(service::metadata::Owner, String)],
    ) -> Result<HashMap<(service::metadata::Owner, String), Self::Value>, Error> {
        use service::metadata::Owner;
        let mut out = HashMap::with_capacity(keys.len());
        for owner in [Owner::Asset, Owner::Location] {
            let ids: Vec<String> = keys
                .iter()
                .filter(|(o, _)| *o == owner)
                .map(|(_, id)| id.clone())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let sizes = service::metadata::sizes(self.0.db(), &self.0.tenant, owner, &ids)
                .await
                .gql()?;
            self.0
                .charge(documents_cost(sizes.into_iter().map(|(_, bytes)| bytes)))?;
            for (id, document) in service::metadata::of(self.0.db(), &self.0.tenant, owner, &ids)
                .await
                .gql()?
            {
                out.insert((owner, id), document);
            }
        }
        Ok(out)
    }
}

/// Assets whose location lists were too long to show, remembered for a minute: a client that
/// asks again (and again) for a list past its budget is refused without reading its rows once
/// more. Reading up to the budget's worth of rows to find out costs a whole list's work; an
/// abusive tenant repeating it held half the CPU.
mod oversized {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    use std::time::{Duration, Instant};

    use entity::asset_processing_locations::Model;
    use service::Tenant;

    const TTL: Duration = Duration::from_secs(60);
    const MAX_REMEMBERED: usize = 10_000;

    type Key = (String, String, bool);

    /// (organization, asset, inactive included) → at least this many rows, since when.
    static LISTS: LazyLock<Mutex<HashMap<Key, (usize, Instant)>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));

    /// Whether `asset`'s list is known to hold more rows than `shown`.
    pub fn known(tenant: &Tenant, asset: &str, include_inactive: bool, shown: usize) -> bool {
        let key = (
            tenant.organization_id.clone(),
            asset.to_owned(),
            include_inactive,
        );
        LISTS.lock().is_ok_and(|lists| {
            lists
                .get(&key)
                .is_some_and(|(rows, at)| at.elapsed() < TTL && *rows > shown)
        })
    }

    /// Remembers the assets of an overrun: each that alone fetched more than half of `rows`.
    pub fn remember(tenant: &Tenant, assets: &[String], include_inactive: bool, rows: &[Model]) {
        let Ok(mut lists) = LISTS.lock() else {
            return;
        };
        if lists.len() >= MAX_REMEMBERED {
            lists.clear();
        }
        for asset in assets {
            let fetched = rows.iter().filter(|r| r.digital_asset_id == *asset).count();
            if fetched * 2 > rows.len() {
                let key = (
                    tenant.organization_id.clone(),
                    asset.clone(),
                    include_inactive,
                );
                lists.insert(key, (fetched, Instant::now()));
            }
        }
    }
}
