//! The directory: organizations and their users, purposes and data-processing activities,
//! created or updated idempotently by their natural keys (an organization's slug, a user's
//! e-mail, a purpose's or activity's name within its organization). What `api admin` runs on.
//!
//! [`apply`] takes a whole [`Directory`] and applies it in one transaction: any error, from a
//! malformed e-mail to an e-mail another organization's user already has, writes nothing and
//! names where the offending record sits ([`Location`]). Applying the same directory again
//! changes no row and reports every record [`Outcome::Unchanged`].

mod document;
mod rules;
mod upsert;

use sea_orm::{ConnectionTrait, DbErr, TransactionSession, TransactionTrait};
use serde::Serialize;

pub use document::parse;
pub use rules::ACTIVITY_STATUSES;

use crate::{ServiceError, Tenant, begin_write};

/// A kind of record the directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Organization,
    User,
    Purpose,
    Activity,
}

impl Kind {
    /// The word for it in messages and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Organization => "organization",
            Kind::User => "user",
            Kind::Purpose => "purpose",
            Kind::Activity => "activity",
        }
    }

    /// The list of a document's organization that holds records of this kind.
    pub fn list(self) -> &'static str {
        match self {
            Kind::Organization => "organizations",
            Kind::User => "users",
            Kind::Purpose => "purposes",
            Kind::Activity => "activities",
        }
    }
}

/// What applying one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// One record as applied.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub outcome: Outcome,
    pub kind: Kind,
    /// The natural key as stored: slug, e-mail or name.
    pub key: String,
    pub id: String,
    pub organization_id: String,
    /// The fields an update changed (empty otherwise).
    pub changed: Vec<&'static str>,
}

/// An organization, found by `slug`. A `None` field keeps what is stored (a create needs
/// `name`); `headquarters: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct OrganizationSpec {
    pub slug: String,
    pub name: Option<String>,
    /// A country id (ISO 3166-1 alpha-2, e.g. `DE`).
    pub headquarters: Option<Option<String>>,
}

/// A user of the entry's organization, found by e-mail (case-insensitively; stored in lower
/// case).
#[derive(Debug, Clone, Default)]
pub struct UserSpec {
    pub email: String,
    /// Required to create; `None` keeps the stored name.
    pub name: Option<String>,
}

/// A purpose of the entry's organization, found by name.
#[derive(Debug, Clone, Default)]
pub struct PurposeSpec {
    pub name: String,
    /// `Some(None)` (or an empty text) clears it.
    pub description: Option<Option<String>>,
    /// Default on create: active.
    pub active: Option<bool>,
}

/// A data-processing activity of the entry's organization, found by name.
#[derive(Debug, Clone, Default)]
pub struct ActivitySpec {
    pub name: String,
    /// `Some(None)` (or an empty text) clears it.
    pub description: Option<Option<String>>,
    /// One of [`ACTIVITY_STATUSES`]; default on create: `DRAFT`.
    pub status: Option<String>,
}

/// The organization an entry is about.
#[derive(Debug, Clone)]
pub enum OrganizationRef {
    /// Created or updated by slug.
    Upsert(OrganizationSpec),
    /// An existing organization, by slug or id, left as it is.
    Existing(String),
}

/// One organization and the records of it to create or update.
#[derive(Debug, Clone)]
pub struct Entry {
    pub organization: OrganizationRef,
    pub users: Vec<UserSpec>,
    pub purposes: Vec<PurposeSpec>,
    pub activities: Vec<ActivitySpec>,
}

impl Entry {
    /// An entry of `organization` alone.
    pub fn new(organization: OrganizationRef) -> Self {
        Self {
            organization,
            users: Vec::new(),
            purposes: Vec::new(),
            activities: Vec::new(),
        }
    }
}

/// Everything one [`apply`] writes.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub entries: Vec<Entry>,
}

/// Where in a directory an error sits: `organizations[0].users[2].email` in a document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The entry (`organizations[i]`).
    pub entry: Option<usize>,
    /// The record within the entry (`users[j]`); `None` for the organization itself.
    pub record: Option<(Kind, usize)>,
    /// The field, named as in a document (`email`).
    pub field: Option<String>,
}

impl Location {
    fn field(name: &str) -> Self {
        Self {
            field: Some(name.to_owned()),
            ..Self::default()
        }
    }

    /// The path of a document: `organizations[0].users[2].email`.
    pub fn path(&self) -> String {
        let mut parts = Vec::new();
        if let Some(i) = self.entry {
            parts.push(format!("organizations[{i}]"));
        }
        if let Some((kind, j)) = self.record {
            parts.push(format!("{}[{j}]", kind.list()));
        }
        if let Some(field) = &self.field {
            parts.push(field.clone());
        }
        parts.join(".")
    }
}

/// Why a directory was not applied (nothing of it was written), and where.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct DirectoryError {
    pub at: Location,
    #[source]
    pub error: ServiceError,
}

impl DirectoryError {
    /// Invalid input in `field`.
    fn bad_input(field: &str, message: impl Into<String>) -> Self {
        Self {
            at: Location::field(field),
            error: ServiceError::bad_input(field, message),
        }
    }

    /// The error as found in record `record` of entry `entry`.
    fn within(mut self, entry: usize, record: Option<(Kind, usize)>) -> Self {
        self.at.entry = Some(entry);
        self.at.record = record;
        self
    }
}

impl From<ServiceError> for DirectoryError {
    fn from(error: ServiceError) -> Self {
        let field = match &error {
            ServiceError::BadInput { field, .. } => field.clone(),
            _ => None,
        };
        Self {
            at: Location {
                field,
                ..Location::default()
            },
            error,
        }
    }
}

impl From<DbErr> for DirectoryError {
    fn from(err: DbErr) -> Self {
        ServiceError::from(err).into()
    }
}

/// `directory` with every field checked and in its stored form, without a database: the checks
/// [`apply`] starts with, for callers that want to refuse bad input before connecting.
pub fn check(directory: Directory) -> Result<Directory, DirectoryError> {
    rules::normalize(directory)
}

/// Applies `directory` in one transaction, committed when `commit` (else rolled back: a dry
/// run that reports what would change). Returns one [`Change`] per record, in order: each
/// entry's organization, then its users, purposes and activities.
#[tracing::instrument(skip_all, fields(entries = directory.entries.len(), commit))]
pub async fn apply<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    directory: Directory,
    commit: bool,
) -> Result<Vec<Change>, DirectoryError> {
    let directory = rules::normalize(directory)?;
    let txn = begin_write(db).await?;
    let mut changes = Vec::new();
    for (i, entry) in directory.entries.iter().enumerate() {
        let organization = match &entry.organization {
            OrganizationRef::Upsert(spec) => {
                let (organization, change) = upsert::organization(&txn, spec)
                    .await
                    .map_err(|e| e.within(i, None))?;
                changes.push(change);
                organization
            }
            OrganizationRef::Existing(key) => upsert::existing_organization(&txn, key)
                .await
                .map_err(|e| e.within(i, None))?,
        };
        // The directory acts for no user: only the organization scopes what it reads and writes.
        let tenant = Tenant::new(organization.id.clone(), String::new());
        for (j, spec) in entry.users.iter().enumerate() {
            let change = upsert::user(&txn, &tenant, &organization.slug, spec)
                .await
                .map_err(|e| e.within(i, Some((Kind::User, j))))?;
            changes.push(change);
        }
        for (j, spec) in entry.purposes.iter().enumerate() {
            let change = upsert::purpose(&txn, &tenant, spec)
                .await
                .map_err(|e| e.within(i, Some((Kind::Purpose, j))))?;
            changes.push(change);
        }
        for (j, spec) in entry.activities.iter().enumerate() {
            let change = upsert::activity(&txn, &tenant, spec)
                .await
                .map_err(|e| e.within(i, Some((Kind::Activity, j))))?;
            changes.push(change);
        }
    }
    if commit {
        txn.commit().await?;
    } else {
        txn.rollback().await?;
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_render_as_document_paths() {
        let at = Location {
            entry: Some(0),
            record: Some((Kind::User, 2)),
            field: Some("email".into()),
        };
        assert_eq!(at.path(), "organizations[0].users[2].email");
        let at = Location {
            entry: Some(1),
            record: None,
            field: Some("slug".into()),
        };
        assert_eq!(at.path(), "organizations[1].slug");
        assert_eq!(Location::field("organizations").path(), "organizations");
        assert_eq!(Location::default().path(), "");
    }
}
