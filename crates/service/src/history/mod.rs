//! The change log: what changed in the inventory, who changed it, when, and what it was before.
//!
//! Every mutation of an asset, a location or a link records its changes here, inside the
//! transaction that makes the change, after the locks the change takes: a refused or failed
//! change leaves no row, and two changes of one row are logged in the order they commit (the
//! database stamps `changed_at` when the row is written, see migration 7). A call that changes
//! nothing records nothing. Creates and updates hand their entries to the statement that makes
//! the change ([`written_with`]: on PostgreSQL that statement writes them too); the rest, and
//! SQLite, write them with [`record`].
//!
//! An entry's `changes` lists the fields that changed, `{field, old, new}`, field names as the
//! API spells them; a created row lists the values it was created with (`old` null). A deleted
//! asset keeps its last state, with its locations, in `snapshot`.

use entity::change_log;
use sea_orm::sea_query::{Alias, CommonTableExpression, InsertStatement, Value, WithClause};
use sea_orm::{
    ActiveModelTrait, ActiveValue,
    ActiveValue::{NotSet, Set},
    ConnectionTrait, DbBackend, EntityTrait, IdenStatic, Iterable, ModelTrait, QueryTrait,
};
use serde_json::{Value as Json, json};

use crate::{ServiceError, Tenant, new_id, scope};

mod read;

pub use read::{
    AssetAuthors, ChangeCursor, ChangeFilter, ChangePage, EntryDetails, MAX_PAGE, authors,
    detail_sizes, details, list,
};

/// What kind of row an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityType {
    DigitalAsset,
    ProcessingLocation,
    ActivityLink,
}

/// What happened to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Created,
    Updated,
    Deleted,
    Deactivated,
    Linked,
    Unlinked,
}

macro_rules! stored_as {
    ($type:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $type {
            /// The value stored in the log (and the GraphQL enum's name).
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }

            /// The value a log row holds; `None` for a value no migration allows.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)* _ => None }
            }
        }
    };
}

stored_as!(EntityType {
    DigitalAsset => "DIGITAL_ASSET",
    ProcessingLocation => "PROCESSING_LOCATION",
    ActivityLink => "ACTIVITY_LINK",
});

stored_as!(Action {
    Created => "CREATED",
    Updated => "UPDATED",
    Deleted => "DELETED",
    Deactivated => "DEACTIVATED",
    Linked => "LINKED",
    Unlinked => "UNLINKED",
});

/// One entry to write.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    entity_type: EntityType,
    entity_id: String,
    digital_asset_id: String,
    activity_id: Option<String>,
    action: Action,
    changes: Option<Json>,
    snapshot: Option<Json>,
}

/// Columns every row has that no one edits: not listed as changes.
const BOOKKEEPING: [&str; 5] = [
    "id",
    "organization_id",
    "digital_asset_id",
    "created_at",
    "updated_at",
];

/// The columns of `E` a person edits.
fn editable<E: EntityTrait>() -> impl Iterator<Item = E::Column> {
    E::Column::iter().filter(|c| !BOOKKEEPING.contains(&c.as_str()))
}

/// `primary_hosting_country_id` → `primaryHostingCountryId`.
fn api_name(column: &str) -> String {
    let mut out = String::with_capacity(column.len());
    let mut upper = false;
    for ch in column.chars() {
        if ch == '_' {
            upper = true;
        } else if upper {
            out.extend(ch.to_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// A column's value as the API shows it: enums by name, timestamps in RFC 3339.
fn to_json(value: &Value) -> Json {
    match value {
        Value::ChronoDateTimeWithTimeZone(Some(t)) => Json::String(t.to_rfc3339()),
        other => sea_orm::sea_query::value::sea_value_to_json_value(other),
    }
}

fn field_change(field: &str, old: &Json, new: &Json) -> Json {
    json!({ "field": field, "old": old, "new": new })
}

impl Change {
    /// A row created as `row` says: its fields that are set and not null, `old` null. Built from
    /// the row about to be inserted, so that the entry can be written by the same statement: a
    /// column left to its database default is not listed, so callers set every column.
    pub(crate) fn created<A: ActiveModelTrait>(
        entity_type: EntityType,
        entity_id: &str,
        digital_asset_id: &str,
        row: &A,
    ) -> Self {
        let changes = editable::<A::Entity>()
            .filter_map(|column| match row.get(column) {
                ActiveValue::Set(value) | ActiveValue::Unchanged(value) => {
                    let value = to_json(&value);
                    (!value.is_null())
                        .then(|| field_change(&api_name(column.as_str()), &Json::Null, &value))
                }
                ActiveValue::NotSet => None,
            })
            .collect();
        Self::new(entity_type, entity_id, digital_asset_id, Action::Created)
            .with_changes(Json::Array(changes))
    }

    /// A row about to be changed from `current` as `change` sets: the fields whose value it
    /// changes; `None` when it changes none (the caller then writes nothing, not even
    /// `updatedAt`). Only those fields are turned into JSON: no row is copied.
    pub(crate) fn patched<A: ActiveModelTrait>(
        entity_type: EntityType,
        entity_id: &str,
        digital_asset_id: &str,
        current: &<A::Entity as EntityTrait>::Model,
        change: &A,
    ) -> Option<Self> {
        let changes: Vec<Json> = editable::<A::Entity>()
            .filter_map(|column| match change.get(column) {
                ActiveValue::Set(new) => {
                    let old = current.get(column);
                    (new != old).then(|| {
                        field_change(&api_name(column.as_str()), &to_json(&old), &to_json(&new))
                    })
                }
                _ => None,
            })
            .collect();
        if changes.is_empty() {
            return None;
        }
        Some(
            Self::new(entity_type, entity_id, digital_asset_id, Action::Updated)
                .with_changes(Json::Array(changes)),
        )
    }

    /// The same change, called `action` (a location's deactivation is an update of one field).
    pub(crate) fn called(mut self, action: Action) -> Self {
        self.action = action;
        self
    }

    /// A row deleted; `snapshot` is what it was.
    pub(crate) fn deleted(
        entity_type: EntityType,
        entity_id: &str,
        digital_asset_id: &str,
        snapshot: Json,
    ) -> Self {
        let mut change = Self::new(entity_type, entity_id, digital_asset_id, Action::Deleted);
        change.snapshot = Some(snapshot);
        change
    }

    /// A link between an asset and an activity made (`Linked`) or removed (`Unlinked`).
    pub(crate) fn link(action: Action, link_id: &str, asset_id: &str, activity_id: &str) -> Self {
        let mut change = Self::new(EntityType::ActivityLink, link_id, asset_id, action);
        change.activity_id = Some(activity_id.to_owned());
        change
    }

    fn new(
        entity_type: EntityType,
        entity_id: &str,
        digital_asset_id: &str,
        action: Action,
    ) -> Self {
        Self {
            entity_type,
            entity_id: entity_id.to_owned(),
            digital_asset_id: digital_asset_id.to_owned(),
            activity_id: None,
            action,
            changes: None,
            snapshot: None,
        }
    }

    fn with_changes(mut self, changes: Json) -> Self {
        self.changes = Some(changes);
        self
    }
}

/// A row's state as JSON, for a snapshot: every column but the organization, API names.
pub(crate) fn snapshot<M: ModelTrait>(model: &M) -> serde_json::Map<String, Json> {
    <M::Entity as EntityTrait>::Column::iter()
        .filter(|c| c.as_str() != "organization_id")
        .map(|c| (api_name(c.as_str()), to_json(&model.get(c))))
        .collect()
}

/// Most rows one statement writes: a change of thousands of links is logged in several, each far
/// below the parameter limits (SQLite 32,766, PostgreSQL 65,535; 12 per row).
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// Writes `changes` as the tenant's, by its user, in its request (one statement per
/// [`ROWS_PER_STATEMENT`]; none when `changes` is empty).
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub(crate) async fn record(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    mut changes: Vec<Change>,
) -> Result<(), ServiceError> {
    let backend = db.get_database_backend();
    while !changes.is_empty() {
        let rest = changes.split_off(changes.len().min(ROWS_PER_STATEMENT));
        db.execute(&insert(backend, tenant, changes)).await?;
        changes = rest;
    }
    Ok(())
}

/// The change log's entries of one mutation, for the statement that makes the change to write
/// (see [`written_with`]); only this module builds one, so a statement of `scope` carries no
/// other SQL.
#[derive(Debug)]
pub(crate) struct Logged(WithClause);

impl Logged {
    /// The `WITH` clause that inserts the entries.
    pub(crate) fn into_clause(self) -> WithClause {
        self.0
    }
}

/// Writes `changes` with the statement that makes them. On PostgreSQL it returns them for that
/// statement to carry as a `WITH` clause (a data-modifying CTE, run once and in full whatever
/// the statement does with it): the log costs the mutation no statement and no round trip of
/// its own. Elsewhere (SQLite has no data-modifying CTEs), or when they are more than one
/// statement writes, it writes them here, and the caller runs its statement as it is.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub(crate) async fn written_with(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    changes: Vec<Change>,
) -> Result<Option<Logged>, ServiceError> {
    let backend = db.get_database_backend();
    if changes.is_empty() {
        return Ok(None);
    }
    if backend != DbBackend::Postgres || changes.len() > ROWS_PER_STATEMENT {
        record(db, tenant, changes).await?;
        return Ok(None);
    }
    let logged = CommonTableExpression::new()
        .query(insert(backend, tenant, changes))
        .table_name(Alias::new("logged"))
        .to_owned();
    Ok(Some(Logged(WithClause::new().cte(logged).to_owned())))
}

/// The `INSERT` of `changes` (at most [`ROWS_PER_STATEMENT`]).
fn insert(backend: DbBackend, tenant: &Tenant, changes: Vec<Change>) -> InsertStatement {
    // PostgreSQL: the database's clock (migration 7). SQLite (one process, writers serialized):
    // the service's, written as the driver writes every time it binds, so that a cursor's time
    // compares with the stored text as the instant it is (the column default's millisecond text
    // does not: `…:57.000` against a bound `…:57`).
    let changed_at = match backend {
        DbBackend::Sqlite => Set(crate::time::now()),
        _ => NotSet,
    };
    let rows = changes.into_iter().map(|c| change_log::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(tenant.organization_id.clone()),
        entity_type: Set(c.entity_type.as_str().to_owned()),
        entity_id: Set(c.entity_id),
        digital_asset_id: Set(c.digital_asset_id),
        activity_id: Set(c.activity_id),
        action: Set(c.action.as_str().to_owned()),
        actor_id: Set(tenant.user_id.clone()),
        request_id: Set(tenant.request_id.clone()),
        changed_at: changed_at.clone(),
        changes: Set(c.changes),
        snapshot: Set(c.snapshot),
    });
    scope::insert_many(tenant, rows).into_query()
}

#[cfg(test)]
mod tests {
    use entity::asset_processing_locations::Model as Location;
    use entity::sea_orm_active_enums::LocationRole;

    use super::*;

    fn location() -> Location {
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z").unwrap();
        Location {
            id: "l".into(),
            organization_id: "o".into(),
            digital_asset_id: "a".into(),
            service: "Support".into(),
            purpose_id: None,
            purpose_text: Some("Support".into()),
            country_id: "US".into(),
            location_role: LocationRole::Processing,
            transfer_mechanism_id: Some("SCC".into()),
            is_active: true,
            metadata: Some(json!({"a": [1, 2]})),
            created_at: t,
            updated_at: t,
        }
    }

    #[test]
    fn columns_are_named_as_the_api_names_fields() {
        assert_eq!(api_name("transfer_mechanism_id"), "transferMechanismId");
        assert_eq!(api_name("type"), "type");
    }

    #[test]
    fn a_creation_lists_the_set_fields_in_api_form() {
        let row = sea_orm::IntoActiveModel::into_active_model(location());
        let change = Change::created(EntityType::ProcessingLocation, "l", "a", &row);
        let fields: Vec<&str> = change
            .changes
            .as_ref()
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "service",
                "purposeText",
                "countryId",
                "locationRole",
                "transferMechanismId",
                "isActive",
                "metadata"
            ],
            "unset and bookkeeping columns are not changes"
        );
        let changes = change.changes.unwrap();
        assert_eq!(
            changes[3],
            json!({"field": "locationRole", "old": null, "new": "PROCESSING"})
        );
    }

    #[test]
    fn an_update_lists_only_what_changed_and_none_when_nothing_did() {
        let current = location();
        let patched = |change: &entity::asset_processing_locations::ActiveModel| {
            Change::patched(EntityType::ProcessingLocation, "l", "a", &current, change)
        };
        let mut change = entity::asset_processing_locations::ActiveModel {
            updated_at: Set(crate::time::now()),
            country_id: Set("US".into()),
            ..Default::default()
        };
        assert!(patched(&change).is_none(), "bookkeeping and equal values");
        change.transfer_mechanism_id = Set(None);
        change.metadata = Set(Some(json!({"a": [1, 3]})));
        let entry = patched(&change).unwrap();
        assert_eq!(entry.action, Action::Updated);
        assert_eq!(
            entry.changes.unwrap(),
            json!([
                {"field": "transferMechanismId", "old": "SCC", "new": null},
                {"field": "metadata", "old": {"a": [1, 2]}, "new": {"a": [1, 3]}}
            ])
        );
    }

    #[test]
    fn the_stored_names_round_trip() {
        for action in [
            Action::Created,
            Action::Updated,
            Action::Deleted,
            Action::Deactivated,
            Action::Linked,
            Action::Unlinked,
        ] {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
        for kind in [
            EntityType::DigitalAsset,
            EntityType::ProcessingLocation,
            EntityType::ActivityLink,
        ] {
            assert_eq!(EntityType::parse(kind.as_str()), Some(kind));
        }
    }
}
