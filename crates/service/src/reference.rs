//! Reference data (countries, transfer mechanisms) and the tenant's users and purposes, looked up
//! in batches; and the existence checks of referenced ids.

use std::collections::HashSet;

use entity::{countries, purposes, transfer_mechanisms, users};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::{ServiceError, Tenant, scope};

/// Every active country, by name.
pub async fn countries(db: &impl ConnectionTrait) -> Result<Vec<countries::Model>, ServiceError> {
    Ok(countries::Entity::find()
        .filter(countries::Column::IsActive.eq(true))
        .order_by_asc(countries::Column::Name)
        .all(db)
        .await?)
}

/// Every active transfer mechanism, adequacy first, then safeguards, then derogations.
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

pub async fn countries_by_ids(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<countries::Model>, ServiceError> {
    Ok(countries::Entity::find()
        .filter(countries::Column::Id.is_in(ids))
        .all(db)
        .await?)
}

pub async fn transfer_mechanisms_by_ids(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<transfer_mechanisms::Model>, ServiceError> {
    Ok(transfer_mechanisms::Entity::find()
        .filter(transfer_mechanisms::Column::Id.is_in(ids))
        .all(db)
        .await?)
}

/// The tenant's users among `ids`.
pub async fn users_by_ids(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<users::Model>, ServiceError> {
    Ok(scope::find::<users::Entity>(tenant)
        .filter(users::Column::Id.is_in(ids))
        .all(db)
        .await?)
}

/// The tenant's purposes among `ids`.
pub async fn purposes_by_ids(
    db: &impl ConnectionTrait,
    tenant: &Tenant,
    ids: &[String],
) -> Result<Vec<purposes::Model>, ServiceError> {
    Ok(scope::find::<purposes::Entity>(tenant)
        .filter(purposes::Column::Id.is_in(ids))
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
        if !self.countries.is_empty() {
            let found = ids_in(
                countries::Entity::find()
                    .select_only()
                    .column(countries::Column::Id)
                    .filter(countries::Column::Id.is_in(unique(&self.countries))),
                db,
            )
            .await?;
            missing(&self.countries, &found, "country")?;
        }
        if !self.mechanisms.is_empty() {
            let found = ids_in(
                transfer_mechanisms::Entity::find()
                    .select_only()
                    .column(transfer_mechanisms::Column::Id)
                    .filter(transfer_mechanisms::Column::Id.is_in(unique(&self.mechanisms))),
                db,
            )
            .await?;
            missing(&self.mechanisms, &found, "transfer mechanism")?;
        }
        if !self.users.is_empty() {
            let found = ids_in(
                scope::find::<users::Entity>(tenant)
                    .select_only()
                    .column(users::Column::Id)
                    .filter(users::Column::Id.is_in(unique(&self.users))),
                db,
            )
            .await?;
            missing(&self.users, &found, "user")?;
        }
        if !self.purposes.is_empty() {
            let found = ids_in(
                scope::find::<purposes::Entity>(tenant)
                    .select_only()
                    .column(purposes::Column::Id)
                    .filter(purposes::Column::Id.is_in(unique(&self.purposes))),
                db,
            )
            .await?;
            missing(&self.purposes, &found, "purpose")?;
        }
        Ok(())
    }
}

fn unique(refs: &[(String, String)]) -> Vec<String> {
    let set: HashSet<&String> = refs.iter().map(|(_, id)| id).collect();
    set.into_iter().cloned().collect()
}

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
