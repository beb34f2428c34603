//! The runbook's smoke test: create a digital asset for an existing organization, read it back,
//! delete it; all inside a transaction that is rolled back, so nothing stays behind.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait, Value};

use super::{RunnerError, Target};

/// What the smoke test did.
#[derive(Debug, serde::Serialize)]
pub struct SmokeReport {
    pub organization_id: String,
    pub asset_id: String,
    pub steps: Vec<&'static str>,
}

/// Runs the smoke test; refuses when no organization exists.
pub async fn smoke(target: &Target) -> Result<SmokeReport, RunnerError> {
    let backend = target.backend();
    let txn = target.db.begin().await?;
    // The statements are written with `$n` placeholders; SQLite takes `?`.
    let stmt = |sql: &str, values: Vec<Value>| {
        let sql = match backend {
            DbBackend::Sqlite => sql.replace("$1", "?").replace("$2", "?"),
            _ => sql.to_owned(),
        };
        Statement::from_sql_and_values(backend, sql, values)
    };
    let org = txn
        .query_one_raw(stmt(
            "SELECT id FROM organizations ORDER BY id LIMIT 1",
            vec![],
        ))
        .await?
        .map(|row| row.try_get::<String>("", "id"))
        .transpose()?;
    let Some(organization_id) = org else {
        return Err(RunnerError::Refused(
            "no organization exists: the smoke test needs one to own its test asset".into(),
        ));
    };
    let asset_id = format!("smoke-test-{}", uuid_like());
    let mut steps = Vec::new();
    txn.execute_raw(stmt(
        "INSERT INTO digital_assets (id, organization_id, name, type, contains_personal_data) \
         VALUES ($1, $2, 'Smoke Test Asset', 'DATABASE', false)",
        vec![asset_id.clone().into(), organization_id.clone().into()],
    ))
    .await?;
    steps.push("insert");
    let read = txn
        .query_one_raw(stmt(
            "SELECT name FROM digital_assets WHERE id = $1",
            vec![asset_id.clone().into()],
        ))
        .await?
        .map(|row| row.try_get::<String>("", "name"))
        .transpose()?;
    if read.as_deref() != Some("Smoke Test Asset") {
        return Err(RunnerError::Refused(format!(
            "smoke test: could not read back {asset_id}"
        )));
    }
    steps.push("read");
    let deleted = txn
        .execute_raw(stmt(
            "DELETE FROM digital_assets WHERE id = $1",
            vec![asset_id.clone().into()],
        ))
        .await?;
    if deleted.rows_affected() != 1 {
        return Err(RunnerError::Refused(format!(
            "smoke test: could not delete {asset_id}"
        )));
    }
    steps.push("delete");
    txn.rollback().await?;
    steps.push("rollback");
    Ok(SmokeReport {
        organization_id,
        asset_id,
        steps,
    })
}

/// A unique enough suffix without another dependency: time and process id.
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}
