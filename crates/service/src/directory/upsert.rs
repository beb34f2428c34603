//! Creating or updating one record of the directory, found by its natural key.
//!
//! Purposes and activities have no key the database holds (their names are not unique), so two
//! runs creating the same name at once would both insert. The organization's row is therefore
//! read `FOR NO KEY UPDATE` first: directory changes of one organization go one at a time,
//! while inserts that merely reference the organization (its assets, through their foreign key)
//! go on. On SQLite the write transaction itself serializes them ([`crate::begin_write`]).
#![allow(
    clippy::disallowed_methods,
    reason = "the directory writes organizations, the tenants themselves, and names the organization in every statement on their users, purposes and activities; countries are reference data"
)]

use entity::{countries, data_processing_activities as activities, organizations, purposes, users};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QuerySelect, SqlErr,
};

use super::rules::ACTIVITY_STATUSES;
use super::{
    ActivitySpec, Change, DirectoryError, Kind, Location, OrganizationSpec, Outcome, PurposeSpec,
    UserSpec,
};
use crate::{ServiceError, Tenant, new_id, scope, time};

/// Creates or updates the organization of `spec.slug`.
pub(super) async fn organization(
    db: &impl ConnectionTrait,
    spec: &OrganizationSpec,
) -> Result<(organizations::Model, Change), DirectoryError> {
    let headquarters = match &spec.headquarters {
        Some(Some(id)) => Some(Some(country(db, id).await?)),
        other => other.clone(),
    };
    let existing = organizations::Entity::find()
        .filter(organizations::Column::Slug.eq(spec.slug.as_str()))
        .lock(LockType::NoKeyUpdate)
        .one(db)
        .await?;
    let now = time::now();
    let Some(mut org) = existing else {
        let Some(name) = &spec.name else {
            return Err(DirectoryError::bad_input(
                "name",
                format!(
                    "organization `{}` does not exist yet: give its name to create it",
                    spec.slug
                ),
            ));
        };
        let org = organizations::Model {
            id: new_id(),
            name: name.clone(),
            slug: spec.slug.clone(),
            headquarters_country_id: headquarters.flatten(),
            settings: None,
            created_at: now,
            updated_at: now,
        };
        organizations::Entity::insert(organizations::ActiveModel::from(org.clone()))
            .exec_without_returning(db)
            .await
            .map_err(|e| {
                unique_violation(e, "slug", || {
                    format!(
                        "organization `{}` was created by another run meanwhile; retry",
                        spec.slug
                    )
                })
            })?;
        let change = change(
            Outcome::Created,
            Kind::Organization,
            &org.slug,
            &org.id,
            &org.id,
        );
        return Ok((org, change));
    };
    let mut update = organizations::ActiveModel::default();
    let mut changed = Vec::new();
    if let Some(name) = spec.name.as_ref().filter(|n| **n != org.name) {
        update.name = Set(name.clone());
        org.name = name.clone();
        changed.push("name");
    }
    if let Some(country) = headquarters.filter(|c| *c != org.headquarters_country_id) {
        update.headquarters_country_id = Set(country.clone());
        org.headquarters_country_id = country;
        changed.push("headquarters");
    }
    if !changed.is_empty() {
        update.updated_at = Set(now);
        org.updated_at = now;
        organizations::Entity::update_many()
            .set(update)
            .filter(organizations::Column::Id.eq(org.id.as_str()))
            .exec(db)
            .await?;
    }
    let mut change = change(
        outcome(&changed),
        Kind::Organization,
        &org.slug,
        &org.id,
        &org.id,
    );
    change.changed = changed;
    Ok((org, change))
}

/// An existing organization by slug or id, locked like [`organization`] locks it.
pub(super) async fn existing_organization(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<organizations::Model, DirectoryError> {
    let mut found = organizations::Entity::find()
        .filter(
            Condition::any()
                .add(organizations::Column::Slug.eq(key))
                .add(organizations::Column::Id.eq(key)),
        )
        .lock(LockType::NoKeyUpdate)
        .all(db)
        .await?;
    match found.len() {
        0 => Err(DirectoryError::bad_input(
            "org",
            format!("no organization has the slug or id `{key}`"),
        )),
        1 => Ok(found.remove(0)),
        _ => Err(DirectoryError::bad_input(
            "org",
            format!(
                "`{key}` is the slug of one organization and the id of another: give the other's slug"
            ),
        )),
    }
}

/// Creates or updates the tenant's user of `spec.email` (found case-insensitively).
pub(super) async fn user(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    slug: &str,
    spec: &UserSpec,
) -> Result<Change, DirectoryError> {
    let mut found = scope::find::<users::Entity>(tenant)
        .filter(
            Expr::from(Func::lower(Expr::col(users::Column::Email)))
                .eq(Func::lower(Expr::val(spec.email.as_str()))),
        )
        .all(db)
        .await?;
    if found.len() > 1 {
        return Err(DirectoryError::bad_input(
            "email",
            format!(
                "{} users of `{slug}` have the e-mail `{}` in different cases: delete all but one first",
                found.len(),
                spec.email
            ),
        ));
    }
    let now = time::now();
    let Some(user) = found.pop() else {
        let Some(name) = &spec.name else {
            return Err(DirectoryError::bad_input(
                "name",
                format!(
                    "user `{}` does not exist yet: give its name to create it",
                    spec.email
                ),
            ));
        };
        let id = new_id();
        users::Entity::insert(users::ActiveModel {
            id: Set(id.clone()),
            organization_id: Set(Some(tenant.organization_id.clone())),
            name: Set(name.clone()),
            email: Set(spec.email.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(db)
        .await
        .map_err(|e| taken_email(e, &spec.email))?;
        return Ok(change(
            Outcome::Created,
            Kind::User,
            &spec.email,
            &id,
            &tenant.organization_id,
        ));
    };
    let mut update = users::ActiveModel::default();
    let mut changed = Vec::new();
    if spec.email != user.email {
        update.email = Set(spec.email.clone());
        changed.push("email");
    }
    if let Some(name) = spec.name.as_ref().filter(|n| **n != user.name) {
        update.name = Set(name.clone());
        changed.push("name");
    }
    save(
        db,
        tenant,
        &user.id,
        update,
        &changed,
        |u: &mut users::ActiveModel| u.updated_at = Set(now),
    )
    .await
    .map_err(|e| taken_email(e, &spec.email))?;
    let mut change = change(
        outcome(&changed),
        Kind::User,
        &spec.email,
        &user.id,
        &tenant.organization_id,
    );
    change.changed = changed;
    Ok(change)
}

/// Creates or updates the tenant's purpose named `spec.name`.
pub(super) async fn purpose(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    spec: &PurposeSpec,
) -> Result<Change, DirectoryError> {
    let found = scope::find::<purposes::Entity>(tenant)
        .filter(purposes::Column::Name.eq(spec.name.as_str()))
        .all(db)
        .await?;
    let now = time::now();
    let Some(purpose) = single(found, Kind::Purpose, &spec.name)? else {
        let id = new_id();
        purposes::Entity::insert(purposes::ActiveModel {
            id: Set(id.clone()),
            organization_id: Set(tenant.organization_id.clone()),
            name: Set(spec.name.clone()),
            description: Set(spec.description.clone().flatten()),
            is_active: Set(spec.active.unwrap_or(true)),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(db)
        .await?;
        return Ok(change(
            Outcome::Created,
            Kind::Purpose,
            &spec.name,
            &id,
            &tenant.organization_id,
        ));
    };
    let mut update = purposes::ActiveModel::default();
    let mut changed = Vec::new();
    if let Some(description) = spec
        .description
        .as_ref()
        .filter(|d| **d != purpose.description)
    {
        update.description = Set(description.clone());
        changed.push("description");
    }
    if let Some(active) = spec.active.filter(|a| *a != purpose.is_active) {
        update.is_active = Set(active);
        changed.push("active");
    }
    save(
        db,
        tenant,
        &purpose.id,
        update,
        &changed,
        |p: &mut purposes::ActiveModel| p.updated_at = Set(now),
    )
    .await?;
    let mut change = change(
        outcome(&changed),
        Kind::Purpose,
        &spec.name,
        &purpose.id,
        &tenant.organization_id,
    );
    change.changed = changed;
    Ok(change)
}

/// Creates or updates the tenant's data-processing activity named `spec.name`.
pub(super) async fn activity(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    spec: &ActivitySpec,
) -> Result<Change, DirectoryError> {
    let found = scope::find::<activities::Entity>(tenant)
        .filter(activities::Column::Name.eq(spec.name.as_str()))
        .all(db)
        .await?;
    let now = time::now();
    let Some(activity) = single(found, Kind::Activity, &spec.name)? else {
        let id = new_id();
        activities::Entity::insert(activities::ActiveModel {
            id: Set(id.clone()),
            organization_id: Set(tenant.organization_id.clone()),
            name: Set(spec.name.clone()),
            description: Set(spec.description.clone().flatten()),
            status: Set(spec
                .status
                .clone()
                .unwrap_or_else(|| ACTIVITY_STATUSES[0].to_owned())),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(db)
        .await?;
        return Ok(change(
            Outcome::Created,
            Kind::Activity,
            &spec.name,
            &id,
            &tenant.organization_id,
        ));
    };
    let mut update = activities::ActiveModel::default();
    let mut changed = Vec::new();
    if let Some(description) = spec
        .description
        .as_ref()
        .filter(|d| **d != activity.description)
    {
        update.description = Set(description.clone());
        changed.push("description");
    }
    if let Some(status) = spec.status.as_ref().filter(|s| **s != activity.status) {
        update.status = Set(status.clone());
        changed.push("status");
    }
    save(
        db,
        tenant,
        &activity.id,
        update,
        &changed,
        |a: &mut activities::ActiveModel| a.updated_at = Set(now),
    )
    .await?;
    let mut change = change(
        outcome(&changed),
        Kind::Activity,
        &spec.name,
        &activity.id,
        &tenant.organization_id,
    );
    change.changed = changed;
    Ok(change)
}

/// Writes `update` to the tenant's row `id` when anything changed (and only then: an unchanged
/// record keeps its `updated_at`).
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
async fn save<E, A>(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    id: &str,
    mut update: A,
    changed: &[&'static str],
    stamp: impl FnOnce(&mut A),
) -> Result<(), DbErr>
where
    E: scope::TenantOwned,
    A: sea_orm::ActiveModelTrait<Entity = E>,
{
    if changed.is_empty() {
        return Ok(());
    }
    stamp(&mut update);
    scope::update::<E>(tenant)
        .set(update)
        .filter(E::id().eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The one row of `found`, `None` for none; more than one name the same record, which the
/// directory cannot tell apart.
fn single<M>(mut found: Vec<M>, kind: Kind, name: &str) -> Result<Option<M>, DirectoryError> {
    if found.len() > 1 {
        return Err(DirectoryError::bad_input(
            "name",
            format!(
                "{} {} of this organization are named `{name}`: rename or delete all but one first",
                found.len(),
                kind.list(),
            ),
        ));
    }
    Ok(found.pop())
}

/// The country of `id` (or of its upper-case form: `de` is `DE`).
#[tracing::instrument(level = "debug", skip_all)]
async fn country(db: &impl ConnectionTrait, id: &str) -> Result<String, DirectoryError> {
    let upper = id.to_ascii_uppercase();
    let found = countries::Entity::find()
        .filter(countries::Column::Id.is_in([id, upper.as_str()]))
        .all(db)
        .await?;
    found
        .iter()
        .find(|c| c.id == id)
        .or_else(|| found.first())
        .map(|c| c.id.clone())
        .ok_or_else(|| {
            DirectoryError::bad_input(
                "headquarters",
                format!("no country has the id `{id}`: use an ISO 3166-1 alpha-2 code such as DE"),
            )
        })
}

/// The organization's own users were searched first: a unique violation on `email` means a
/// user of another organization holds the address (users.email is unique across them all).
fn taken_email(err: DbErr, email: &str) -> DirectoryError {
    unique_violation(err, "email", || {
        format!(
            "`{email}` is already the e-mail of a user of another organization: an address \
             belongs to one user only, across all organizations"
        )
    })
}

/// A unique violation as the conflict `message` says it, in `field`; other errors as usual.
fn unique_violation(err: DbErr, field: &str, message: impl FnOnce() -> String) -> DirectoryError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => DirectoryError {
            at: Location {
                field: Some(field.to_owned()),
                ..Location::default()
            },
            error: ServiceError::Conflict(message()),
        },
        _ => err.into(),
    }
}

fn outcome(changed: &[&'static str]) -> Outcome {
    if changed.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    }
}

fn change(outcome: Outcome, kind: Kind, key: &str, id: &str, organization_id: &str) -> Change {
    Change {
        outcome,
        kind,
        key: key.to_owned(),
        id: id.to_owned(),
        organization_id: organization_id.to_owned(),
        changed: Vec::new(),
    }
}
