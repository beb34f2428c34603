//! Which organizations exist, remembered: a token names its organization, and one that does
//! not exist (deleted, or a typo in a hand-made token) is told so instead of reading empty
//! lists and failing every write with a misleading "retry". Known organizations are kept for a
//! while, so that the check costs no statement per request in steady state.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use service::ServiceError;

/// Most organizations remembered; past it the memory starts over (bounded however many
/// tokens for distinct organizations arrive).
const MAX_REMEMBERED: usize = 100_000;

/// Organizations seen to exist, with when they were checked.
#[derive(Debug)]
pub struct KnownOrganizations {
    ttl: Duration,
    seen: Mutex<HashMap<String, Instant>>,
}

impl KnownOrganizations {
    /// Remembers each organization for `ttl` (how long a deleted organization's tokens may
    /// still be let through to find nothing).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `id` exists: from memory when checked within the time to live, else asked.
    pub async fn exists(&self, db: &impl ConnectionTrait, id: &str) -> Result<bool, ServiceError> {
        if let Ok(seen) = self.seen.lock()
            && seen.get(id).is_some_and(|at| at.elapsed() < self.ttl)
        {
            return Ok(true);
        }
        let exists = service::reference::organization_exists(db, id).await?;
        if exists && let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= MAX_REMEMBERED {
                seen.clear();
            }
            seen.insert(id.to_owned(), Instant::now());
        }
        Ok(exists)
    }
}
