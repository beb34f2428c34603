//! Reference data (countries, transfer mechanisms) and the tenant's users and purposes, looked up
//! in batches; and the existence checks of referenced ids.
#![allow(
    clippy::disallowed_methods,
    reason = "countries and transfer mechanisms are reference data, shared by every tenant, and an organization is looked up by its own id; users and purposes go through the scope"
)]

use std::collections::HashSet;

use entity::{countries, organizations, purposes, transfer_mechanisms, users};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::in_list::padded;
use crate::{ServiceError, Tenant, scope};

/// Every active country, by name.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn countries(db: &impl ConnectionTrait) -> Result<Vec<countries::Model>, ServiceError> {
    Ok(countries::Entity::find()
        .filter(countries::Column::IsActive.eq(true))
        .order_by_asc(countries::Column::Name)
        .all(db)
        .await?)
}

/// Every active transfer mechanism, adequacy first, then safeguards, then derogations.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn transfer_mechanisms(
    db: &impl ConnectionTrait,
) -> Result<Vec<transfer_mechanisms::Model>, ServiceError> {
    Ok(transfer_mechanisms::Entity::find()
        .filter(transfer_mechanisms::Column::IsActive.eq(true))
        .order_by_asc(transfer_mechanisms::Column::IsDerogation)
        .order_by_asc(transfer_mechanisms::Column::GdprArticle)
        .order_by_asc(transfer_mechanisms::Column::Code)
        .all(db)
        .await?)
}

/// Whether the organization exists (a token's `org_id` may name one that does not).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn organization_exists(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<bool, ServiceError> {
    Ok(organizations::Entity::find()
        .select_only()
        .column(organizations::Column::Id)
        .filter(organizations::Column::Id.eq(id))
        .into_tuple::<String>()
        .one(db)
        .await?
        .is_some())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn countries_by_ids(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<countries::Model>, ServiceError> {
    Ok(countries::Entity::find()
        .filter(countries::Column::Id.is_in(padded(ids)))
        .all(db)
        .await?)
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn transfer_mechanisms_by_ids(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<transfer_mechanisms::Model>, ServiceError> {
    Ok(transfer_mechanisms::Entity::find()
        .filter(transfer_mechanisms::Column::Id.is_in(padded(ids)))
        .all(db)
        .await?)
}

/// The tenant's users among `ids`.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn users_by_ids(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<users::Model>, ServiceError> {
    Ok(scope::find::<users::Entity>(tenant)
        .filter(users::Column::Id.is_in(padded(ids)))
        .all(db)
        .await?)
}

/// The tenant's purposes among `ids`.
#[tracing::instrument(level = "debug", skip_all, fields(org = %tenant.organization_id))]
pub async fn purposes_by_ids(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<purposes::Model>, ServiceError> {
    Ok(scope::find::<purposes::Entity>(tenant)
        .filter(purposes::Column::Id.is_in(padded(ids)))
        .all(db)
        .await?)
}

/// The ids an input refers to, each with the field that names it (for the error message).
#[derive(Debug, Default)]
pub struct References {
    pub countries: Vec<(String, String)>,
    pub mechanisms: Vec<(String, String)>,
    pub users: Vec<(String, String)>,
    pub purposes: Vec<(String, String)>,
}

impl References {
    /// Checks, with one query per kind present, that every referenced country and mechanism
    /// exists and every user and purpose belongs to the tenant; the first miss is BAD_USER_INPUT.
    pub async fn check(
        &self,
        db: &impl ConnectionTrait,
        tenant: &Tenant,
    ) -> Result<(), ServiceError> {
        let countries = countries::Entity::find();
        check_ids(
            db,
            countries,
            countries::Column::Id,
            &self.countries,
            "country",
        )
        .await?;
        let mechanisms = transfer_mechanisms::Entity::find();
        check_ids(
            db,
            mechanisms,
            transfer_mechanisms::Column::Id,
            &self.mechanisms,
            "transfer mechanism",
        )
        .await?;
        let users = scope::find::<users::Entity>(tenant);
        check_ids(db, users, users::Column::Id, &self.users, "user").await?;
        let purposes = scope::find::<purposes::Entity>(tenant);
        check_ids(
            db,
            purposes,
            purposes::Column::Id,
            &self.purposes,
            "purpose",
        )
        .await
    }
}

/// BAD_USER_INPUT naming the first of `refs` that `select` (already scoped where it must be)
/// does not find by `id`; one query, none when `refs` is empty.
#[tracing::instrument(level = "debug", skip_all)]
async fn check_ids<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: sea_orm::Select<E>,
    id: E::Column,
    refs: &[(String, String)],
    what: &str,
) -> Result<(), ServiceError> {
    if refs.is_empty() {
        return Ok(());
    }
    let found = ids_in(
        select
            .select_only()
            .column(id)
            .filter(id.is_in(padded(&unique(refs)))),
        db,
    )
    .await?;
    missing(refs, &found, what)
}

fn unique(refs: &[(String, String)]) -> Vec<String> {
    let set: HashSet<&String> = refs.iter().map(|(_, id)| id).collect();
    set.into_iter().cloned().collect()
}

#[tracing::instrument(level = "debug", skip_all)]
async fn ids_in<E: EntityTrait>(
    select: sea_orm::Select<E>,
    db: &impl ConnectionTrait,
) -> Result<HashSet<String>, ServiceError> {
    Ok(select
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect())
}

fn missing(
    refs: &[(String, String)],
    found: &HashSet<String>,
    what: &str,
) -> Result<(), ServiceError> {
    match refs.iter().find(|(_, id)| !found.contains(id)) {
        Some((field, id)) => Err(ServiceError::bad_input(
            field,
            format!("{field}: unknown {what} `{id}`"),
        )),
        None => Ok(()),
    }
}
