//! `bench paths`: the schema's own limits, the statements whose speed depends on indexes rather
//! than on our code: deletes that cascade or set null through foreign keys, and the list's
//! order. Each runs inside a transaction that is rolled back, so the data set is unchanged.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use crate::BenchError;
use crate::data::{self, Size};
use crate::stats::Samples;

/// One measured path.
#[derive(Debug)]
pub struct PathTiming {
    pub name: &'static str,
    pub ms: Samples,
}

/// Statements whose cost the indexes decide; `{n}` numbers the run, so each deletes other rows.
fn paths(size: &Size, n: u32) -> Vec<(&'static str, Vec<String>)> {
    let org = n % size.orgs;
    // Assets whose global number is a multiple of 2·links+1 have no activity link (see the
    // seed), so they can be deleted.
    let span = u64::from(2 * size.links + 1);
    let first = u64::from(org) * u64::from(size.assets);
    let base = first.div_ceil(span) * span;
    let free = (first + u64::from(size.assets))
        .saturating_sub(base)
        .div_ceil(span)
        .max(1);
    let free_asset = data::id(data::Kind::Asset, base + span * (u64::from(n) % free));
    vec![
        (
            "delete an asset (cascades to its locations)",
            vec![format!(
                "DELETE FROM digital_assets WHERE id = '{free_asset}'"
            )],
        ),
        (
            "delete a user (owners set to null)",
            vec![format!(
                "DELETE FROM users WHERE id = '{}'",
                data::user(org, n % data::USERS_PER_ORG)
            )],
        ),
        (
            "delete a purpose (locations' purpose set to null)",
            vec![format!(
                "DELETE FROM purposes WHERE id = '{}'",
                data::purpose(org, n % data::PURPOSES_PER_ORG)
            )],
        ),
        (
            "an asset's locations, by asset id alone",
            vec![format!(
                "SELECT * FROM asset_processing_locations WHERE digital_asset_id = '{}'",
                data::asset(size, org, n % size.assets)
            )],
        ),
        (
            "a tenant's first 51 assets by name",
            vec![format!(
                "SELECT * FROM digital_assets WHERE organization_id = '{}' ORDER BY name, id LIMIT 51",
                data::org(org)
            )],
        ),
        (
            "delete an organization (cascades to everything it owns)",
            vec![
                // The deferred link check runs at commit; here it must run before the rollback.
                "SET CONSTRAINTS ALL IMMEDIATE".into(),
                format!("DELETE FROM organizations WHERE id = '{}'", data::org(org)),
            ],
        ),
    ]
}

/// Runs each path `runs` times (within `budget` per path: slow paths stop early).
pub async fn measure(
    db: &DatabaseConnection,
    size: &Size,
    runs: u32,
    budget: Duration,
) -> Result<Vec<PathTiming>, BenchError> {
    let count = paths(size, 0).len();
    let mut out = Vec::new();
    for index in 0..count {
        let mut samples = Vec::new();
        let started = Instant::now();
        let mut name = "";
        for n in 0..runs {
            let (path_name, statements) = paths(size, n).swap_remove(index);
            name = path_name;
            let txn = db.begin().await?;
            txn.execute_unprepared("SET LOCAL statement_timeout = '300s'")
                .await?;
            let t = Instant::now();
            for sql in &statements {
                txn.execute_unprepared(sql).await?;
            }
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
            txn.rollback().await?;
            if started.elapsed() > budget {
                break;
            }
        }
        out.push(PathTiming {
            name,
            ms: Samples::new(samples),
        });
    }
    Ok(out)
}
