//! The directory as a JSON document (the file `api admin import` reads):
//!
//! ```json
//! { "organizations": [ {
//!     "slug": "acme", "name": "Acme GmbH", "headquarters": "DE",
//!     "users":      [ { "email": "ann@acme.example", "name": "Ann Example" } ],
//!     "purposes":   [ { "name": "Billing", "description": "Invoices", "active": true } ],
//!     "activities": [ { "name": "Payroll", "description": "Monthly pay", "status": "ACTIVE" } ]
//! } ] }
//! ```
//!
//! Only the keys (`slug`, `email`, a purpose's or activity's `name`) are required; an absent
//! field keeps what is stored, `null` clears one that may be empty (`headquarters`,
//! `description`). Unknown fields are refused: a misspelt one would otherwise be ignored in
//! silence. Every error names its place (`organizations[0].users[2].email`).

use serde_json::{Map, Value};

use super::{
    ActivitySpec, Directory, DirectoryError, Entry, Kind, Location, OrganizationRef,
    OrganizationSpec, PurposeSpec, UserSpec,
};
use crate::ServiceError;

const ORGANIZATION_FIELDS: &[&str] = &[
    "slug",
    "name",
    "headquarters",
    "users",
    "purposes",
    "activities",
];
const USER_FIELDS: &[&str] = &["email", "name"];
const PURPOSE_FIELDS: &[&str] = &["name", "description", "active"];
const ACTIVITY_FIELDS: &[&str] = &["name", "description", "status"];

/// Reads a directory document; the rules of its fields are checked by [`super::apply`].
pub fn parse(document: &str) -> Result<Directory, DirectoryError> {
    let root: Value = serde_json::from_str(document)
        .map_err(|e| error(Location::default(), format!("not valid JSON: {e}")))?;
    let root = object(&root, &Location::default(), &["organizations"])?;
    let organizations = match root.get("organizations") {
        Some(Value::Array(items)) => items,
        Some(other) => {
            let message = format!("must be an array, got {}", type_of(other));
            return Err(error(
                at_field(&Location::default(), "organizations"),
                message,
            ));
        }
        None => {
            let message = "missing: the document is { \"organizations\": [ … ] }";
            return Err(error(
                at_field(&Location::default(), "organizations"),
                message,
            ));
        }
    };
    let mut directory = Directory::default();
    for (i, item) in organizations.iter().enumerate() {
        let at = Location {
            entry: Some(i),
            ..Location::default()
        };
        let fields = object(item, &at, ORGANIZATION_FIELDS)?;
        let mut entry = Entry::new(OrganizationRef::Upsert(OrganizationSpec {
            slug: required(fields, "slug", &at)?,
            name: text(fields, "name", &at)?,
            headquarters: nullable_text(fields, "headquarters", &at)?,
        }));
        for (j, item) in list(fields, "users", &at)?.iter().enumerate() {
            let at = record(i, Kind::User, j);
            let fields = object(item, &at, USER_FIELDS)?;
            entry.users.push(UserSpec {
                email: required(fields, "email", &at)?,
                name: text(fields, "name", &at)?,
            });
        }
        for (j, item) in list(fields, "purposes", &at)?.iter().enumerate() {
            let at = record(i, Kind::Purpose, j);
            let fields = object(item, &at, PURPOSE_FIELDS)?;
            entry.purposes.push(PurposeSpec {
                name: required(fields, "name", &at)?,
                description: nullable_text(fields, "description", &at)?,
                active: boolean(fields, "active", &at)?,
            });
        }
        for (j, item) in list(fields, "activities", &at)?.iter().enumerate() {
            let at = record(i, Kind::Activity, j);
            let fields = object(item, &at, ACTIVITY_FIELDS)?;
            entry.activities.push(ActivitySpec {
                name: required(fields, "name", &at)?,
                description: nullable_text(fields, "description", &at)?,
                status: text(fields, "status", &at)?,
            });
        }
        directory.entries.push(entry);
    }
    Ok(directory)
}

fn record(entry: usize, kind: Kind, index: usize) -> Location {
    Location {
        entry: Some(entry),
        record: Some((kind, index)),
        field: None,
    }
}

fn at_field(at: &Location, field: &str) -> Location {
    Location {
        field: Some(field.to_owned()),
        ..at.clone()
    }
}

fn error(at: Location, message: impl Into<String>) -> DirectoryError {
    DirectoryError {
        error: ServiceError::BadInput {
            field: at.field.clone(),
            message: message.into(),
        },
        at,
    }
}

/// `value` as an object holding no key but `allowed`.
fn object<'a>(
    value: &'a Value,
    at: &Location,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, DirectoryError> {
    let Value::Object(fields) = value else {
        let message = format!("must be an object, got {}", type_of(value));
        return Err(error(at.clone(), message));
    };
    if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        let message = format!("unknown field (known: {})", allowed.join(", "));
        return Err(error(at_field(at, unknown), message));
    }
    Ok(fields)
}

/// An optional array (absent: empty).
fn list<'a>(
    fields: &'a Map<String, Value>,
    key: &str,
    at: &Location,
) -> Result<&'a [Value], DirectoryError> {
    match fields.get(key) {
        None => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => {
            let message = format!("must be an array, got {}", type_of(other));
            Err(error(at_field(at, key), message))
        }
    }
}

fn required(
    fields: &Map<String, Value>,
    key: &str,
    at: &Location,
) -> Result<String, DirectoryError> {
    text(fields, key, at)?.ok_or_else(|| error(at_field(at, key), "missing"))
}

/// An optional text; `null` is not a text.
fn text(
    fields: &Map<String, Value>,
    key: &str,
    at: &Location,
) -> Result<Option<String>, DirectoryError> {
    match fields.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => {
            let message = format!("must be a string, got {}", type_of(other));
            Err(error(at_field(at, key), message))
        }
    }
}

/// An optional text that `null` clears.
fn nullable_text(
    fields: &Map<String, Value>,
    key: &str,
    at: &Location,
) -> Result<Option<Option<String>>, DirectoryError> {
    match fields.get(key) {
        Some(Value::Null) => Ok(Some(None)),
        _ => Ok(text(fields, key, at)?.map(Some)),
    }
}

fn boolean(
    fields: &Map<String, Value>,
    key: &str,
    at: &Location,
) -> Result<Option<bool>, DirectoryError> {
    match fields.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => {
            let message = format!("must be true or false, got {}", type_of(other));
            Err(error(at_field(at, key), message))
        }
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(text: &str) -> (String, String) {
        let err = parse(text).unwrap_err();
        (err.at.path(), err.to_string())
    }

    #[test]
    fn a_full_document_is_read_with_absent_and_null_told_apart() {
        let directory = parse(
            r#"{"organizations": [{"slug": "acme", "name": "Acme", "headquarters": null,
                "users": [{"email": "ann@acme.example"}],
                "purposes": [{"name": "Billing", "description": null, "active": false}],
                "activities": [{"name": "Payroll", "status": "ACTIVE"}]}]}"#,
        )
        .unwrap();
        let entry = &directory.entries[0];
        let OrganizationRef::Upsert(org) = &entry.organization else {
            panic!("an upsert")
        };
        assert_eq!(org.headquarters, Some(None), "null clears");
        assert_eq!(entry.users[0].name, None, "absent keeps");
        assert_eq!(entry.purposes[0].description, Some(None));
        assert_eq!(entry.purposes[0].active, Some(false));
        assert_eq!(entry.activities[0].description, None);
        assert_eq!(entry.activities[0].status.as_deref(), Some("ACTIVE"));
    }

    #[test]
    fn errors_name_their_place() {
        let (path, message) =
            path_of(r#"{"organizations": [{"slug": "a", "users": [{}, {"email": 1}]}]}"#);
        assert_eq!(path, "organizations[0].users[0].email");
        assert_eq!(message, "missing");
        let (path, _) = path_of(
            r#"{"organizations": [{"slug": "a", "users": [{"email": "x@y.z"}, {"email": 1}]}]}"#,
        );
        assert_eq!(path, "organizations[0].users[1].email");
        let (path, message) = path_of(r#"{"organizations": [{"slug": "a", "nmae": "A"}]}"#);
        assert_eq!(path, "organizations[0].nmae");
        assert!(message.starts_with("unknown field"), "{message}");
        let (path, _) = path_of(r#"{"organizations": [{"slug": "a", "activities": {}}]}"#);
        assert_eq!(path, "organizations[0].activities");
        let (path, _) = path_of(r#"{"orgs": []}"#);
        assert_eq!(path, "orgs");
        let (path, _) = path_of(r#"{}"#);
        assert_eq!(path, "organizations");
        let (path, message) = path_of("{\"organizations\": [\n{\"slug\": \"a\"\n\"name\": 1}]}");
        assert_eq!(path, "");
        assert!(message.contains("line 3"), "{message}");
    }
}
