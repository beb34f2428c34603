//! The flat reference types: built from their rows, no resolvers.

use std::sync::Arc;

use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, FixedOffset};
use entity::{countries, data_processing_activities, purposes, transfer_mechanisms, users};

use crate::graphql::transfers::CountryAdequacy;

/// A country (ISO 3166-1) with its status under the GDPR.
#[derive(SimpleObject)]
pub struct Country {
    /// Identifier (the seeded countries use their alpha-2 code, e.g. `DE`).
    pub id: ID,
    /// English short name.
    pub name: String,
    /// ISO 3166-1 alpha-2 code.
    pub iso_code: String,
    /// ISO 3166-1 alpha-3 code.
    pub iso_code3: Option<String>,
    /// The adequacy decision (Art. 45) covering the country; null without one.
    pub adequacy: Option<CountryAdequacy>,
    /// Any of "EU", "EEA", "EFTA", "Adequate", "Third Country".
    pub gdpr_status: Vec<String>,
}

impl From<&countries::Model> for Country {
    fn from(c: &countries::Model) -> Self {
        Self {
            id: ID(c.id.clone()),
            name: c.name.clone(),
            iso_code: c.iso_code.clone(),
            iso_code3: c.iso_code3.clone(),
            adequacy: c.adequacy_decision.clone().map(|decision| CountryAdequacy {
                decision,
                partial: c.adequacy_partial,
                scope: c.adequacy_scope.clone(),
            }),
            gdpr_status: match &c.gdpr_status {
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
        }
    }
}

impl From<Arc<countries::Model>> for Country {
    fn from(c: Arc<countries::Model>) -> Self {
        Self::from(c.as_ref())
    }
}

/// A GDPR Chapter V mechanism that makes a transfer outside the EEA lawful.
#[derive(SimpleObject)]
pub struct TransferMechanism {
    /// Identifier (the seeded mechanisms use their code, e.g. `SCC`).
    pub id: ID,
    /// Stable code, e.g. `SCC`.
    pub code: String,
    /// Name.
    pub name: String,
    /// What it is and when it applies.
    pub description: String,
    /// The GDPR article, e.g. "Art. 46(2)(c)".
    pub gdpr_article: String,
    /// ADEQUACY, APPROPRIATE_SAFEGUARD or DEROGATION.
    pub category: String,
    /// Whether it is an Art. 49 derogation (for occasional transfers only).
    pub is_derogation: bool,
}

impl From<&transfer_mechanisms::Model> for TransferMechanism {
    fn from(m: &transfer_mechanisms::Model) -> Self {
        Self {
            id: ID(m.id.clone()),
            code: m.code.clone(),
            name: m.name.clone(),
            description: m.description.clone(),
            gdpr_article: m.gdpr_article.clone(),
            category: m.category.clone(),
            is_derogation: m.is_derogation,
        }
    }
}

impl From<Arc<transfer_mechanisms::Model>> for TransferMechanism {
    fn from(m: Arc<transfer_mechanisms::Model>) -> Self {
        Self::from(m.as_ref())
    }
}

/// A data-processing activity of the organization's Article 30 record.
#[derive(SimpleObject)]
pub struct DataProcessingActivity {
    /// Identifier.
    pub id: ID,
    /// The organization that owns the activity.
    pub organization_id: ID,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Status, e.g. DRAFT or ACTIVE.
    pub status: String,
    /// When the activity was recorded.
    pub created_at: DateTime<FixedOffset>,
    /// When the activity was last changed.
    pub updated_at: DateTime<FixedOffset>,
}

impl From<data_processing_activities::Model> for DataProcessingActivity {
    fn from(a: data_processing_activities::Model) -> Self {
        Self {
            id: ID(a.id),
            organization_id: ID(a.organization_id),
            name: a.name,
            description: a.description,
            status: a.status,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A purpose the organization processes data for.
#[derive(SimpleObject)]
pub struct Purpose {
    /// Identifier.
    pub id: ID,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

impl From<purposes::Model> for Purpose {
    fn from(p: purposes::Model) -> Self {
        Self {
            id: ID(p.id),
            name: p.name,
            description: p.description,
        }
    }
}

/// A user of the organization.
#[derive(SimpleObject)]
pub struct User {
    /// Identifier.
    pub id: ID,
    /// Name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

impl From<users::Model> for User {
    fn from(u: users::Model) -> Self {
        Self {
            id: ID(u.id),
            name: u.name,
            email: u.email,
        }
    }
}
