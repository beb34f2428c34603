//! A demo organization with realistic assets, locations and activities, so that a newcomer's
//! first `cargo run -p api` has something to query.
#![allow(
    clippy::disallowed_methods,
    reason = "creates the demo organization, the tenant itself, and its first rows"
)]

use entity::sea_orm_active_enums::{AssetType, IntegrationStatus, LocationRole};
use entity::{organizations, purposes, users};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionSession, TransactionTrait,
};

use crate::assets::{self, NewAsset};
use crate::locations::NewLocation;
use crate::{ServiceError, Tenant, activities, new_id, time};

/// The demo organization's slug.
pub const SLUG: &str = "acme-demo";

/// The demo tenant: created when the database holds no organization, found again when it is
/// the demo database; `None` for a database with other organizations.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ensure<C: ConnectionTrait + TransactionTrait>(
    db: &C,
) -> Result<Option<Tenant>, ServiceError> {
    if let Some(org) = organizations::Entity::find()
        .filter(organizations::Column::Slug.eq(SLUG))
        .one(db)
        .await?
    {
        let user = users::Entity::find()
            .filter(users::Column::OrganizationId.eq(org.id.as_str()))
            .one(db)
            .await?;
        return Ok(Some(Tenant::new(
            org.id,
            user.map(|u| u.id).unwrap_or_default(),
        )));
    }
    if organizations::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    let txn = db.begin().await?;
    let tenant = seed(&txn).await?;
    txn.commit().await?;
    Ok(Some(tenant))
}

#[tracing::instrument(level = "debug", skip_all)]
async fn seed<C: ConnectionTrait + TransactionTrait>(db: &C) -> Result<Tenant, ServiceError> {
    let now = time::now();
    let org_id = new_id();
    organizations::Entity::insert(organizations::ActiveModel {
        id: Set(org_id.clone()),
        name: Set("Acme Health GmbH (demo)".into()),
        slug: Set(SLUG.into()),
        headquarters_country_id: Set(Some("DE".into())),
        settings: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    let user = |name: &str, email: &str| users::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(Some(org_id.clone())),
        name: Set(name.into()),
        email: Set(email.into()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let dpo = user("Dana Weber (DPO)", "dpo@acme-demo.example");
    let it = user("Tom Becker (IT)", "it@acme-demo.example");
    let (dpo_id, it_id) = (dpo.id.clone().unwrap(), it.id.clone().unwrap());
    users::Entity::insert_many([dpo, it])
        .exec_without_returning(db)
        .await?;
    let tenant = Tenant::new(org_id.clone(), dpo_id.clone());

    let purpose = |name: &str| purposes::ActiveModel {
        id: Set(new_id()),
        organization_id: Set(org_id.clone()),
        name: Set(name.into()),
        description: Set(None),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let crm = purpose("Customer relationship management");
    let payroll = purpose("Payroll and HR administration");
    let (crm_id, payroll_id) = (crm.id.clone().unwrap(), payroll.id.clone().unwrap());
    purposes::Entity::insert_many([crm, payroll])
        .exec_without_returning(db)
        .await?;

    let support = activities::new_activity(
        &tenant,
        "Customer support",
        "Answering customer requests by e-mail and phone.",
        "ACTIVE",
    );
    let hr = activities::new_activity(
        &tenant,
        "Payroll processing",
        "Monthly payroll of employees.",
        "ACTIVE",
    );
    let marketing = activities::new_activity(
        &tenant,
        "Newsletter marketing",
        "E-mail newsletters to subscribed customers.",
        "DRAFT",
    );
    let ids = [
        support.id.clone().unwrap(),
        hr.id.clone().unwrap(),
        marketing.id.clone().unwrap(),
    ];
    entity::data_processing_activities::Entity::insert_many([support, hr, marketing])
        .exec_without_returning(db)
        .await?;

    let loc = |service: &str,
               country: &str,
               role,
               purpose: Option<&String>,
               text: Option<&str>,
               mechanism: Option<&str>| NewLocation {
        service: service.into(),
        country_id: country.into(),
        location_role: role,
        purpose_id: purpose.cloned(),
        purpose_text: text.map(Into::into),
        transfer_mechanism_id: mechanism.map(Into::into),
        is_active: true,
        metadata: None,
    };
    let asset = |name: &str, t, url: &str, country: &str, personal: bool, locations| NewAsset {
        name: name.into(),
        asset_type: t,
        description: None,
        primary_hosting_country_id: Some(country.into()),
        url: Some(url.into()),
        technical_owner_id: Some(it_id.clone()),
        business_owner_id: Some(dpo_id.clone()),
        contains_personal_data: personal,
        integration_status: IntegrationStatus::ManualOnly,
        last_scanned_at: None,
        discovered_via: Some("demo data".into()),
        metadata: None,
        locations,
    };
    let mut retired = loc(
        "Legacy EU region",
        "NL",
        LocationRole::Hosting,
        None,
        Some("Mailing lists before 2024"),
        None,
    );
    retired.is_active = false;
    let specs = vec![
        (
            asset(
                "Salesforce Sales Cloud",
                AssetType::Crm,
                "https://acme-demo.my.salesforce.com",
                "DE",
                true,
                vec![
                    loc(
                        "Hyperforce EU (Frankfurt)",
                        "DE",
                        LocationRole::Hosting,
                        Some(&crm_id),
                        None,
                        None,
                    ),
                    loc(
                        "Global support (follow-the-sun)",
                        "US",
                        LocationRole::Processing,
                        Some(&crm_id),
                        None,
                        Some("SCC"),
                    ),
                ],
            ),
            vec![0],
        ),
        (
            asset(
                "Customer database",
                AssetType::Database,
                "https://db.acme-demo.example",
                "IE",
                true,
                vec![loc(
                    "AWS RDS eu-west-1",
                    "IE",
                    LocationRole::Both,
                    Some(&crm_id),
                    None,
                    None,
                )],
            ),
            vec![0],
        ),
        (
            asset(
                "Personio",
                AssetType::Application,
                "https://acme-demo.personio.de",
                "DE",
                true,
                vec![loc(
                    "Personio cloud (Frankfurt)",
                    "DE",
                    LocationRole::Both,
                    Some(&payroll_id),
                    None,
                    None,
                )],
            ),
            vec![1],
        ),
        (
            asset(
                "Mailchimp",
                AssetType::MarketingTool,
                "https://mailchimp.com",
                "US",
                true,
                vec![
                    loc(
                        "Intuit data centres",
                        "US",
                        LocationRole::Both,
                        None,
                        Some("Newsletter delivery"),
                        Some("ADEQUACY"),
                    ),
                    retired,
                ],
            ),
            vec![2],
        ),
        (
            asset(
                "Google Analytics 4",
                AssetType::AnalyticsPlatform,
                "https://analytics.google.com",
                "US",
                true,
                vec![loc(
                    "Google Cloud",
                    "US",
                    LocationRole::Processing,
                    None,
                    Some("Website analytics"),
                    Some("SCC"),
                )],
            ),
            vec![2],
        ),
        (
            asset(
                "Team wiki",
                AssetType::Application,
                "https://wiki.acme-demo.example",
                "DE",
                false,
                vec![loc(
                    "Hetzner Nuremberg",
                    "DE",
                    LocationRole::Hosting,
                    None,
                    Some("Internal documentation"),
                    None,
                )],
            ),
            vec![],
        ),
    ];
    for (spec, linked) in specs {
        let created = assets::create(db, &tenant, spec).await?;
        for i in linked {
            activities::link(db, &tenant, &ids[i], &created.id).await?;
        }
    }
    Ok(tenant)
}
