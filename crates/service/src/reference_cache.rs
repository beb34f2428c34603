//! Countries and transfer mechanisms held in memory. They are reference data (seeded by
//! migrations, a few hundred rows) read by nearly every request that shows a location, so a
//! request reads them from here instead of the database. A snapshot is reloaded when older than
//! its time-to-live; an id the snapshot lacks (a row added since) is for the caller to look up
//! in the database.
#![allow(
    clippy::disallowed_methods,
    reason = "countries and transfer mechanisms are reference data, shared by every tenant"
)]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use entity::{countries, transfer_mechanisms};
use sea_orm::{ConnectionTrait, EntityTrait};

use crate::ServiceError;
use crate::transfers::queries::RiskRules;

/// One load of the reference tables.
#[derive(Debug)]
pub struct ReferenceData {
    loaded_at: Instant,
    countries: HashMap<String, Arc<countries::Model>>,
    mechanisms: HashMap<String, Arc<transfer_mechanisms::Model>>,
    /// The Chapter V rules over this snapshot, built when first asked for.
    risk_rules: OnceLock<Arc<RiskRules>>,
}

impl ReferenceData {
    pub fn country(&self, id: &str) -> Option<Arc<countries::Model>> {
        self.countries.get(id).cloned()
    }

    pub fn mechanism(&self, id: &str) -> Option<Arc<transfer_mechanisms::Model>> {
        self.mechanisms.get(id).cloned()
    }

    /// The risk rules of Chapter V over these countries and mechanisms, as SQL needs them.
    pub fn risk_rules(&self) -> Arc<RiskRules> {
        self.risk_rules
            .get_or_init(|| {
                Arc::new(RiskRules::new(
                    self.countries.values().map(Arc::as_ref),
                    self.mechanisms.values().map(Arc::as_ref),
                ))
            })
            .clone()
    }
}

/// The current snapshot, shared by all requests.
#[derive(Debug)]
pub struct ReferenceCache {
    ttl: Duration,
    current: RwLock<Option<Arc<ReferenceData>>>,
    /// Held while loading, so that concurrent requests wait for one load instead of each loading.
    loading: tokio::sync::Mutex<()>,
}

impl ReferenceCache {
    /// A cache whose snapshots live `ttl` (how long a change made by hand may go unseen).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            current: RwLock::new(None),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn fresh(&self) -> Option<Arc<ReferenceData>> {
        let current = self.current.read().ok()?;
        current
            .as_ref()
            .filter(|d| d.loaded_at.elapsed() < self.ttl)
            .cloned()
    }

    /// The current snapshot, loaded from `db` when there is none or it has expired.
    pub async fn get(&self, db: &impl ConnectionTrait) -> Result<Arc<ReferenceData>, ServiceError> {
        if let Some(data) = self.fresh() {
            return Ok(data);
        }
        let _loading = self.loading.lock().await;
        if let Some(data) = self.fresh() {
            return Ok(data);
        }
        let data = Arc::new(ReferenceData {
            loaded_at: Instant::now(),
            countries: countries::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id.clone(), Arc::new(c)))
                .collect(),
            mechanisms: transfer_mechanisms::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|m| (m.id.clone(), Arc::new(m)))
                .collect(),
            risk_rules: OnceLock::new(),
        });
        if let Ok(mut current) = self.current.write() {
            *current = Some(data.clone());
        }
        Ok(data)
    }
}
