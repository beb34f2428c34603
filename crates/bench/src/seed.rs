//! `bench seed`: the deterministic data set, generated inside PostgreSQL with `generate_series`
//! (one statement per table, no rows cross the network).

use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use tracing::info;

use crate::BenchError;
use crate::data::{COUNTRIES, Kind, PURPOSES_PER_ORG, Size, USERS_PER_ORG, id_sql};

const ASSET_TYPES: &str = "ARRAY['ANALYTICS_PLATFORM','API','APPLICATION','CLOUD_SERVICE','CRM','DATABASE','ERP','FILE_STORAGE','MARKETING_TOOL','ON_PREMISE_SYSTEM','OTHER']";
const STATUSES: &str = "ARRAY['CONNECTED','FAILED','MANUAL_ONLY','NOT_INTEGRATED','PENDING']";
const ROLES: &str = "ARRAY['HOSTING','PROCESSING','BOTH']";
/// A location's transfer mechanism, by position (NULL: none recorded).
const MECHANISMS: &str = "ARRAY[NULL,'SCC','ADEQUACY','BCR']";

fn countries_array() -> String {
    let quoted: Vec<String> = COUNTRIES.iter().map(|c| format!("'{c}'")).collect();
    format!("ARRAY[{}]", quoted.join(","))
}

/// The statements that insert the data set, in dependency order.
pub fn statements(size: &Size) -> Vec<(&'static str, String)> {
    let Size {
        orgs,
        assets,
        locations,
        activities,
        links,
    } = *size;
    let users = USERS_PER_ORG;
    let countries = countries_array();
    let ncountries = COUNTRIES.len();
    let span = 2 * links + 1;
    let org_of = |n: &str, per: u32| id_sql(Kind::Organization, &format!("({n}) / {per}"));
    vec![
        (
            "organizations",
            format!(
                "INSERT INTO organizations (id, name, slug, headquarters_country_id)
                 SELECT {id}, 'Bench organization ' || o, 'bench-org-' || o, 'DE'
                 FROM generate_series(0, {last}) o",
                id = id_sql(Kind::Organization, "o"),
                last = i64::from(orgs) - 1,
            ),
        ),
        (
            "users",
            format!(
                "INSERT INTO users (id, organization_id, name, email)
                 SELECT {id}, {org}, 'User ' || n, 'user' || n || '@bench.invalid'
                 FROM generate_series(0, {last}) n",
                id = id_sql(Kind::User, "n"),
                org = org_of("n", users),
                last = i64::from(orgs) * i64::from(users) - 1,
            ),
        ),
        (
            "purposes",
            format!(
                "INSERT INTO purposes (id, organization_id, name, description)
                 SELECT {id}, {org}, 'Purpose ' || (n % {PURPOSES_PER_ORG}), 'Benchmark purpose ' || n
                 FROM generate_series(0, {last}) n",
                id = id_sql(Kind::Purpose, "n"),
                org = org_of("n", PURPOSES_PER_ORG),
                last = i64::from(orgs) * i64::from(PURPOSES_PER_ORG) - 1,
            ),
        ),
        (
            "data_processing_activities",
            format!(
                "INSERT INTO data_processing_activities (id, organization_id, name, description, status)
                 SELECT {id}, {org}, 'Activity ' || lpad((n % {activities})::text, 3, '0'),
                        'Processing activity ' || n, 'ACTIVE'
                 FROM generate_series(0, {last}) n",
                id = id_sql(Kind::Activity, "n"),
                org = org_of("n", activities),
                last = i64::from(orgs) * i64::from(activities) - 1,
            ),
        ),
        (
            "digital_assets",
            format!(
                "INSERT INTO digital_assets (id, organization_id, name, type, description,
                     primary_hosting_country_id, url, technical_owner_id, business_owner_id,
                     contains_personal_data, integration_status, discovered_via, metadata)
                 SELECT {id}, {org},
                        'Asset ' || substr(md5('asset' || n), 1, 10),
                        ({ASSET_TYPES})[1 + n % 11]::\"AssetType\",
                        'Benchmark asset number ' || n,
                        ({countries})[1 + n % {ncountries}],
                        'https://asset-' || n || '.bench.invalid/',
                        {tech}, {business},
                        n % 3 <> 0,
                        ({STATUSES})[1 + n % 5]::\"IntegrationStatus\",
                        'bench seed',
                        jsonb_build_object('tier', n % 4)
                 FROM generate_series(0, {last}) n",
                id = id_sql(Kind::Asset, "n"),
                org = org_of("n", assets),
                tech = id_sql(
                    Kind::User,
                    &format!("(n / {assets}) * {users} + n % {users}")
                ),
                business = id_sql(
                    Kind::User,
                    &format!("(n / {assets}) * {users} + (n / 3) % {users}")
                ),
                last = i64::from(orgs) * i64::from(assets) - 1,
            ),
        ),
        (
            "asset_processing_locations",
            format!(
                "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id,
                     service, purpose_id, purpose_text, country_id, location_role,
                     transfer_mechanism_id, is_active, created_at, updated_at)
                 SELECT {id}, {org}, {asset},
                        'Service ' || (m % {locations}),
                        CASE WHEN m % 2 = 0 THEN {purpose} END, 'Benchmark purpose',
                        ({countries})[1 + (m / {locations} * 7 + (m % {locations}) * 13) % {ncountries}],
                        ({ROLES})[1 + m % 3]::\"LocationRole\",
                        ({MECHANISMS})[1 + m % 4],
                        m % 10 <> 9,
                        timestamptz '2026-01-01 00:00:00+00' + (m % {locations}) * interval '1 second',
                        timestamptz '2026-01-01 00:00:00+00'
                 FROM generate_series(0, {last}) m",
                id = id_sql(Kind::Location, "m"),
                org = org_of("m", assets * locations),
                asset = id_sql(Kind::Asset, &format!("m / {locations}")),
                purpose = id_sql(
                    Kind::Purpose,
                    &format!("(m / ({assets} * {locations})) * {PURPOSES_PER_ORG} + m / 2 % {PURPOSES_PER_ORG}")
                ),
                last = i64::from(orgs) * i64::from(assets) * i64::from(locations) - 1,
            ),
        ),
        (
            "data_processing_activity_digital_assets",
            format!(
                "INSERT INTO data_processing_activity_digital_assets
                     (id, organization_id, activity_id, digital_asset_id)
                 SELECT {id}, {org}, {activity}, {asset}
                 FROM generate_series(0, {last}) n
                 JOIN generate_series(0, {top}) k ON k < n % {span}",
                id = id_sql(Kind::Link, &format!("n * {span} + k")),
                org = org_of("n", assets),
                activity = id_sql(
                    Kind::Activity,
                    &format!("(n / {assets}) * {activities} + (n * 7 + k) % {activities}")
                ),
                asset = id_sql(Kind::Asset, "n"),
                last = i64::from(orgs) * i64::from(assets) - 1,
                top = i64::from(span) - 2,
            ),
        ),
    ]
}

/// Inserts the data set into `db` (migrated, and holding no organizations yet), in one
/// transaction, then refreshes the planner's statistics.
pub async fn seed(db: &DatabaseConnection, size: &Size) -> Result<(), BenchError> {
    if size.orgs == 0 || size.assets == 0 || size.activities == 0 {
        return Err(BenchError::Input(
            "--orgs, --assets and --activities must be at least 1".into(),
        ));
    }
    if 2 * size.links >= size.activities {
        return Err(BenchError::Input(format!(
            "--links {} needs more than {} activities per organization (each asset links to up to twice the average, all distinct)",
            size.links,
            2 * size.links
        )));
    }
    let existing = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) AS n FROM organizations",
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0);
    if existing > 0 {
        return Err(BenchError::Input(format!(
            "the database already holds {existing} organizations: seed a fresh one (`bench seed --recreate`)"
        )));
    }
    let start = Instant::now();
    let txn = db.begin().await?;
    for (table, sql) in statements(size) {
        let t = Instant::now();
        let done = txn.execute_unprepared(&sql).await?;
        info!(
            table,
            rows = done.rows_affected(),
            ms = t.elapsed().as_millis() as u64,
            "seeded"
        );
    }
    txn.commit().await?;
    db.execute_unprepared("VACUUM ANALYZE").await?;
    info!(seconds = start.elapsed().as_secs_f64(), "seed done");
    Ok(())
}
