//! What the attacks need in the database: many locations on one asset, and a row locked from
//! outside the API.

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tracing::info;

use super::COST_ORG;
use crate::BenchError;
use crate::data::{self, Kind};

/// Holds a row lock on `asset` in an open transaction on one connection, as another
/// application sharing the database might, until the transaction is rolled back.
pub(super) async fn lock_asset(
    db: &DatabaseConnection,
    asset: &str,
) -> Result<DatabaseTransaction, BenchError> {
    let txn = db.begin().await?;
    let locked = txn
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT id FROM digital_assets WHERE id = $1 FOR UPDATE",
            [asset.into()],
        ))
        .await?;
    if locked.is_none() {
        return Err(BenchError::Input(format!(
            "asset {asset} is not in the database: seed it with the same size"
        )));
    }
    Ok(txn)
}

/// Adds `n` locations to organization 1's first asset by name (the first `digitalAssets`
/// answers), in one statement.
pub(super) async fn add_locations(db: &DatabaseConnection, n: u32) -> Result<(), BenchError> {
    let org = data::org(COST_ORG);
    let sql = format!(
        "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service,
             purpose_text, country_id, location_role)
         SELECT {id}, '{org}',
                (SELECT id FROM digital_assets WHERE organization_id = '{org}' ORDER BY name, id LIMIT 1),
                'Abuse service ' || n, 'Abuse purpose', 'AT', 'HOSTING'
         FROM generate_series(0, {last}) n",
        id = data::id_sql(Kind::Abuse, "n"),
        last = i64::from(n) - 1,
    );
    let added = db.execute_unprepared(&sql).await?.rows_affected();
    info!(locations = added, "added to one asset of organization 1");
    Ok(())
}

/// Removes the rows `add_locations` added (also those a crashed run left).
pub(super) async fn remove_added_rows(db: &DatabaseConnection) -> Result<(), BenchError> {
    let prefix = data::id(Kind::Abuse, 0);
    let prefix = &prefix[..prefix.len() - 12];
    db.execute_unprepared(&format!(
        "DELETE FROM asset_processing_locations WHERE id LIKE '{prefix}%'"
    ))
    .await?;
    Ok(())
}

pub(super) async fn count(db: &DatabaseConnection, sql: &str) -> Result<i64, BenchError> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}
