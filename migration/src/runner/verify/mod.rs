//! `verify`: compares the live schema with what the applied migrations define. The expectation is
//! not a hand-kept list: the applied migrations are run again, into a scratch schema inside a
//! transaction that is rolled back (PostgreSQL) or into an in-memory database (SQLite), and the
//! two catalogs are compared object by object.
//!
//! This module holds the report and the comparison; `postgres` and `sqlite` read each backend's
//! catalog.

mod postgres;
mod sqlite;

use std::collections::BTreeMap;

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use serde::Serialize;

use super::{RunnerError, Target, statuses};

/// One kind of schema object, as counted in the checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Table,
    Column,
    EnumType,
    Index,
    ForeignKey,
    /// Primary keys and unique constraints.
    Constraint,
    /// CHECK constraints (PostgreSQL; SQLite's are part of their table's definition).
    Check,
    /// Triggers: on SQLite those that enforce the rules a CHECK cannot be added for; on
    /// PostgreSQL the links' key filler (migration 9), with its function's body.
    Trigger,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Table,
        Kind::Column,
        Kind::EnumType,
        Kind::Index,
        Kind::ForeignKey,
        Kind::Constraint,
        Kind::Check,
        Kind::Trigger,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Table => "Tables",
            Kind::Column => "Columns",
            Kind::EnumType => "Enum types",
            Kind::Index => "Indexes",
            Kind::ForeignKey => "Foreign keys",
            Kind::Constraint => "Constraints",
            Kind::Check => "Checks",
            Kind::Trigger => "Triggers",
        }
    }
}

/// A schema snapshot: (kind, name) → canonical definition.
type Catalog = BTreeMap<(Kind, String), String>;

/// How a live object differs from what the applied migrations define; serialized in lower case
/// (`missing`, `unexpected`, `differs`, `invalid`), printed in upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Problem {
    /// Defined by the migrations, absent from the live schema.
    Missing,
    /// In the live schema, defined by no applied migration.
    Unexpected,
    /// In both, with different definitions.
    Differs,
    /// A live index an interrupted `CREATE INDEX CONCURRENTLY` left unusable.
    Invalid,
}

impl Problem {
    /// The name as it appears in the JSON report.
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::Missing => "missing",
            Problem::Unexpected => "unexpected",
            Problem::Differs => "differs",
            Problem::Invalid => "invalid",
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One difference between the live schema and the applied migrations.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    pub kind: Kind,
    pub object: String,
    pub problem: Problem,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

/// The checklist line of one kind: how many objects were expected and how many are live.
#[derive(Debug, Clone, Serialize)]
pub struct CheckLine {
    pub kind: Kind,
    pub label: &'static str,
    pub expected: usize,
    pub live: usize,
    /// Objects of this kind that are missing, unexpected, different or invalid.
    pub drift: usize,
}

/// What `verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub backend: &'static str,
    pub applied: Vec<String>,
    pub pending: Vec<String>,
    pub checklist: Vec<CheckLine>,
    /// The runbook's Step 4 counts over the three digital-asset tables (PostgreSQL).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runbook: Vec<(String, i64)>,
    pub drift: Vec<Drift>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.drift.is_empty()
    }
}

/// Verifies the live schema against the applied migrations.
pub async fn verify(target: &Target) -> Result<VerifyReport, RunnerError> {
    let status = statuses(&target.db).await?;
    let applied: Vec<String> = status
        .iter()
        .filter(|(_, a)| *a)
        .map(|(n, _)| n.clone())
        .collect();
    let pending: Vec<String> = status
        .iter()
        .filter(|(_, a)| !*a)
        .map(|(n, _)| n.clone())
        .collect();
    let (expected, live) = match target.backend() {
        DbBackend::Postgres => postgres::catalogs(target, &applied).await?,
        _ => sqlite::catalogs(target, &applied).await?,
    };
    let mut drift = Vec::new();
    for (key, want) in &expected {
        match live.get(key) {
            None => drift.push(diff(key, Problem::Missing, Some(want), None)),
            Some(have) if have != want => {
                drift.push(diff(key, Problem::Differs, Some(want), Some(have)))
            }
            Some(_) => {}
        }
    }
    for (key, have) in &live {
        if key.0 == Kind::Index && have.ends_with(" INVALID") {
            drift.push(diff(key, Problem::Invalid, None, Some(have)));
        }
        if !expected.contains_key(key) {
            drift.push(diff(key, Problem::Unexpected, None, Some(have)));
        }
    }
    let count = |c: &Catalog, kind| c.keys().filter(|(k, _)| *k == kind).count();
    let checklist = Kind::ALL
        .iter()
        .map(|&kind| CheckLine {
            kind,
            label: kind.label(),
            expected: count(&expected, kind),
            live: count(&live, kind),
            drift: drift.iter().filter(|d| d.kind == kind).count(),
        })
        .filter(|line| line.expected + line.live > 0)
        .collect();
    let runbook = match target.backend() {
        DbBackend::Postgres => postgres::runbook_counts(&target.db).await?,
        _ => Vec::new(),
    };
    let backend = match target.backend() {
        DbBackend::Postgres => "postgres",
        _ => "sqlite",
    };
    Ok(VerifyReport {
        backend,
        applied,
        pending,
        checklist,
        runbook,
        drift,
    })
}

fn diff(
    key: &(Kind, String),
    problem: Problem,
    want: Option<&String>,
    have: Option<&String>,
) -> Drift {
    Drift {
        kind: key.0,
        object: key.1.clone(),
        problem,
        expected: want.cloned(),
        found: have.cloned(),
    }
}

/// The first `width` columns of every row, as text.
pub(super) async fn text_rows(
    db: &impl ConnectionTrait,
    stmt: Statement,
    width: usize,
) -> Result<Vec<Vec<String>>, DbErr> {
    db.query_all_raw(stmt)
        .await?
        .iter()
        .map(|r| {
            (0..width)
                .map(|i| r.try_get_by_index::<String>(i))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn problems_serialize_as_the_names_the_report_has_always_used() {
        for (problem, name) in [
            (Problem::Missing, "missing"),
            (Problem::Unexpected, "unexpected"),
            (Problem::Differs, "differs"),
            (Problem::Invalid, "invalid"),
        ] {
            assert_eq!(serde_json::to_value(problem).ok(), Some(json!(name)));
            assert_eq!(problem.to_string(), name);
        }
    }
}
