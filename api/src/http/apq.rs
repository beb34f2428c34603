//! Automatic persisted queries (Apollo's protocol): a client sends only the SHA-256 of a query
//! it sent before (`extensions.persistedQuery.sha256Hash`), and the full text once, when told
//! `PERSISTED_QUERY_NOT_FOUND`. The texts are kept per organization (a tenant cannot learn that
//! another sent a query), in a cache bounded in entries and in the size of each text.
//!
//! The text is resolved here, before execution, so a persisted query is parsed, checked and
//! limited exactly like one sent in full.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::{ErrorExtensions, Request, Response};
use service::Tenant;
use sha2::{Digest, Sha256};

use super::execute::Done;
use crate::error::code;

/// Longest query text kept: larger documents are executed but not remembered.
const MAX_KEPT_QUERY: usize = 32 * 1024;

/// Query texts by (organization, hash), least recently used first out.
#[derive(Debug)]
pub struct PersistedQueries {
    texts: Mutex<lru::LruCache<(String, String), Arc<str>>>,
}

impl PersistedQueries {
    /// A cache of at most `entries` texts (at least one).
    pub fn new(entries: usize) -> Self {
        Self {
            texts: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(entries).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }
}

/// What a request with a persisted-query extension becomes.
pub(crate) enum Persisted {
    /// Ready to execute (its text known).
    Ready(Request),
    /// Answered without executing: unknown hash, mismatched hash, malformed extension.
    Refused(Done),
}

/// Resolves `request`'s persisted query, if it names one.
pub(crate) fn resolve(
    store: &PersistedQueries,
    tenant: &Tenant,
    mut request: Request,
) -> Persisted {
    let Some(extension) = request.extensions.remove("persistedQuery") else {
        return Persisted::Ready(request);
    };
    let hash = match serde_json::to_value(&extension)
        .ok()
        .filter(|v| v.get("version").and_then(|v| v.as_i64()) == Some(1))
        .and_then(|v| v.get("sha256Hash")?.as_str().map(str::to_ascii_lowercase))
    {
        Some(hash) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => hash,
        _ => {
            return refuse(
                code::BAD_USER_INPUT,
                "extensions.persistedQuery must be {\"version\": 1, \"sha256Hash\": \"<64 hex digits>\"}",
            );
        }
    };
    let key = (tenant.organization_id.clone(), hash);
    if request.query.is_empty() {
        let known = store
            .texts
            .lock()
            .ok()
            .and_then(|mut texts| texts.get(&key).cloned());
        return match known {
            Some(text) => {
                request.query = text.to_string();
                Persisted::Ready(request)
            }
            None => refuse(code::PERSISTED_QUERY_NOT_FOUND, "PersistedQueryNotFound"),
        };
    }
    let actual = format!("{:x}", Sha256::digest(request.query.as_bytes()));
    if actual != key.1 {
        return refuse(
            code::BAD_USER_INPUT,
            "provided sha does not match query: extensions.persistedQuery.sha256Hash must be the SHA-256 of `query`",
        );
    }
    if request.query.len() <= MAX_KEPT_QUERY
        && let Ok(mut texts) = store.texts.lock()
    {
        texts.put(key, Arc::from(request.query.as_str()));
    }
    Persisted::Ready(request)
}

fn refuse(code: &str, message: &str) -> Persisted {
    let error = super::execute::request_error(
        async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code)),
    );
    Persisted::Refused(Done {
        response: Response::from_errors(vec![error]),
        spent: 0,
        wrote: false,
        ran: false,
    })
}
