//! Concurrent writes keep every invariant; blocked or failing work of one tenant does not stop
//! another's; killed database connections cost at most one failure each.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api_assets::create_ok;
use crate::support::*;

const SYNC: &str = "mutation($a: ID!, $ids: [ID!]!) { syncActivityAssets(activityId: $a, digitalAssetIds: $ids) { id } }";
const UPDATE_LOCATION: &str = "mutation($id: ID!, $input: UpdateAssetProcessingLocationInput!) {
    updateAssetProcessingLocation(id: $id, input: $input) { id purposeId purposeText } }";

/// Codes a client may see from a write that lost a race: retryable ones, never a server fault.
const RETRYABLE: [&str; 2] = ["CONFLICT", "LOCK_TIMEOUT"];

async fn linked(api: &Api, activity: &str) -> BTreeSet<String> {
    let conn = api.db.connect().await;
    let ids = strings(
        &conn,
        &format!(
            "SELECT digital_asset_id FROM data_processing_activity_digital_assets WHERE activity_id = '{activity}'"
        ),
    )
    .await;
    conn.close().await.ok();
    ids.into_iter().collect()
}

async fn concurrent_syncs_leave_exactly_one_callers_set(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let api = Arc::new(api);
    let org = api.org("a").await;
    let mut assets = Vec::new();
    for i in 0..30 {
        assets.push(create_ok(&api, &org, json!({"name": format!("a{i}"), "type": "API"})).await);
    }
    let activity = org.activities[0].clone();
    for trial in 0..5 {
        let sets: Vec<Vec<String>> = (0..12)
            .map(|caller| {
                (0..5)
                    .map(|k| assets[(caller * 7 + k * 3 + trial) % assets.len()].clone())
                    .collect()
            })
            .collect();
        let mut calls = Vec::new();
        for set in sets.clone() {
            let (api, token, activity) = (api.clone(), org.token.clone(), activity.clone());
            calls.push(tokio::spawn(async move {
                api.gql(&token, SYNC, json!({"a": activity, "ids": set}))
                    .await
            }));
        }
        let mut succeeded = Vec::new();
        for (call, set) in calls.into_iter().zip(&sets) {
            let answer = call.await.unwrap();
            if answer.body.get("errors").is_none() {
                succeeded.push(set.iter().cloned().collect::<BTreeSet<_>>());
            } else {
                assert!(RETRYABLE.contains(&answer.code()), "{:#}", answer.body);
            }
        }
        assert!(!succeeded.is_empty(), "trial {trial}: no sync succeeded");
        let now = linked(&api, &activity).await;
        assert!(
            succeeded.contains(&now),
            "trial {trial}: the links {now:?} are no caller's set"
        );
    }
}

async fn concurrent_updates_cannot_clear_both_purpose_fields(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let api = Arc::new(api);
    let org = api.org("a").await;
    let id = create_ok(&api, &org, json!({"name": "A", "type": "API"})).await;
    for trial in 0..15 {
        let added = api
            .gql(
                &org.token,
                "mutation($id: ID!, $l: [AssetProcessingLocationInput!]!) { addAssetProcessingLocations(digitalAssetId: $id, locations: $l) { id } }",
                json!({"id": id, "l": [{"service": format!("s{trial}"), "countryId": "DE", "locationRole": "HOSTING",
                    "purposeId": org.purpose, "purposeText": "Because"}]}),
            )
            .await;
        let location = added.data()["addAssetProcessingLocations"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let clear = |field: &str| {
            let (api, token, location) = (api.clone(), org.token.clone(), location.clone());
            let input = json!({ field: null });
            tokio::spawn(async move {
                api.gql(
                    &token,
                    UPDATE_LOCATION,
                    json!({"id": location, "input": input}),
                )
                .await
            })
        };
        let (a, b) = (clear("purposeId"), clear("purposeText"));
        let answers = [a.await.unwrap(), b.await.unwrap()];
        let ok = answers
            .iter()
            .filter(|a| a.body.get("errors").is_none())
            .count();
        for answer in answers.iter().filter(|a| a.body.get("errors").is_some()) {
            assert!(
                ["BAD_USER_INPUT", "CONFLICT", "LOCK_TIMEOUT"].contains(&answer.code()),
                "{:#}",
                answer.body
            );
        }
        assert!(ok >= 1, "trial {trial}: {answers:?}");
        let conn = api.db.connect().await;
        let broken = scalar_i64(
            &conn,
            "SELECT count(*) FROM asset_processing_locations WHERE purpose_id IS NULL AND purpose_text IS NULL",
        )
        .await;
        conn.close().await.ok();
        assert_eq!(broken, 0, "trial {trial}: both cleared ({answers:?})");
    }
}

on_both_backends!(
    concurrent_syncs_leave_exactly_one_callers_set,
    concurrent_updates_cannot_clear_both_purpose_fields
);

/// Opens a transaction that holds `asset`'s row lock until the returned transaction is
/// dropped (rolled back).
async fn hold_row_lock(api: &Api, asset: &str) -> sea_orm::DatabaseTransaction {
    use sea_orm::TransactionTrait;
    let txn = api.db.connect().await.begin().await.unwrap();
    exec(
        &txn,
        &format!("SELECT id FROM digital_assets WHERE id = '{asset}' FOR UPDATE"),
    )
    .await;
    txn
}

#[tokio::test]
async fn writes_blocked_on_a_row_lock_do_not_starve_another_tenant_and_time_out_retryably() {
    let Some(db) = TestDb::migrated(Backend::Postgres).await else {
        return;
    };
    let api = Arc::new(
        Api::on_with(
            db,
            &[("MAX_CONCURRENT_REQUESTS", "4"), ("DB_LOCK_TIMEOUT", "20s")],
        )
        .await,
    );
    let (a, b) = (api.org("a").await, api.org("b").await);
    let asset = create_ok(&api, &a, json!({"name": "Locked", "type": "API"})).await;
    create_ok(&api, &b, json!({"name": "Free", "type": "API"})).await;
    // Each request's organization is checked once; do it before the lock.
    api.gql(&b.token, "{ digitalAssets { totalCount } }", Value::Null)
        .await
        .data();
    let blocker = hold_row_lock(&api, &asset).await;
    let mut writes = Vec::new();
    for i in 0..8 {
        let (api, token, asset) = (api.clone(), a.token.clone(), asset.clone());
        writes.push(tokio::spawn(async move {
            api.gql(
                &token,
                "mutation($id: ID!, $n: String!) { updateDigitalAsset(id: $id, input: {name: $n}) { id } }",
                json!({"id": asset, "n": format!("n{i}")}),
            )
            .await
        }));
    }
    // Wait until the writes are queued behind the lock.
    let conn = api.db.connect().await;
    for _ in 0..100 {
        let waiting = scalar_i64(
            &conn,
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .await;
        if waiting >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Another organization's read is answered while they wait.
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        api.gql(
            &b.token,
            "{ digitalAssets { nodes { name } } }",
            Value::Null,
        ),
    )
    .await
    .expect("another tenant's read is not starved by blocked writes");
    assert_eq!(read.data()["digitalAssets"]["nodes"][0]["name"], "Free");
    assert!(
        writes.iter().all(|w| !w.is_finished()),
        "the writes are still blocked"
    );
    drop(blocker);
    for write in writes {
        let answer = write.await.unwrap();
        if answer.body.get("errors").is_some() {
            assert!(RETRYABLE.contains(&answer.code()), "{:#}", answer.body);
        }
    }
    conn.close().await.ok();
}

#[tokio::test]
async fn a_lock_timeout_is_a_retryable_error_with_its_own_code() {
    let Some(db) = TestDb::migrated(Backend::Postgres).await else {
        return;
    };
    let api = Api::on_with(db, &[("DB_LOCK_TIMEOUT", "300ms")]).await;
    let a = api.org("a").await;
    let asset = create_ok(&api, &a, json!({"name": "Locked", "type": "API"})).await;
    let blocker = hold_row_lock(&api, &asset).await;
    for query in [
        "mutation($id: ID!) { updateDigitalAsset(id: $id, input: {name: \"x\"}) { id } }",
        "mutation($id: ID!) { deleteDigitalAsset(id: $id) { id } }",
    ] {
        let answer = api.gql(&a.token, query, json!({"id": asset})).await;
        assert_eq!(answer.code(), "LOCK_TIMEOUT", "{:#}", answer.body);
        assert_eq!(answer.body["errors"][0]["extensions"]["retryable"], true);
    }
    drop(blocker);
    let answer = api
        .gql(
            &a.token,
            "mutation($id: ID!) { updateDigitalAsset(id: $id, input: {name: \"x\"}) { name } }",
            json!({"id": asset}),
        )
        .await;
    assert_eq!(answer.data()["updateDigitalAsset"]["name"], "x");
}

#[tokio::test]
async fn requests_beyond_the_queue_get_503_with_retry_after() {
    let Some(db) = TestDb::migrated(Backend::Postgres).await else {
        return;
    };
    let api = Arc::new(
        Api::on_with(
            db,
            &[
                ("MAX_CONCURRENT_REQUESTS", "2"),
                ("MAX_QUEUED_REQUESTS", "2"),
                ("DB_LOCK_TIMEOUT", "20s"),
            ],
        )
        .await,
    );
    let a = api.org("a").await;
    let asset = create_ok(&api, &a, json!({"name": "Locked", "type": "API"})).await;
    let blocker = hold_row_lock(&api, &asset).await;
    let mut writes = Vec::new();
    for _ in 0..8 {
        let (api, token, asset) = (api.clone(), a.token.clone(), asset.clone());
        writes.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(format!("{}/graphql", api.base))
                .bearer_auth(token)
                .json(&json!({"query": "mutation($id: ID!) { updateDigitalAsset(id: $id, input: {name: \"x\"}) { id } }",
                    "variables": {"id": asset}}))
                .send()
                .await
                .unwrap();
            let retry_after = resp.headers().get("retry-after").is_some();
            (resp.status().as_u16(), retry_after)
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(blocker);
    let mut refused = 0;
    for write in writes {
        let (status, retry_after) = write.await.unwrap();
        if status == 503 {
            assert!(retry_after, "a 503 says when to retry");
            refused += 1;
        } else {
            assert_eq!(status, 200);
        }
    }
    assert!(
        refused >= 1,
        "more requests than executing + queued were accepted"
    );
}

#[tokio::test]
async fn waiting_request_bodies_do_not_hold_memory() {
    let Some(api) = Api::start_with(
        Backend::Postgres,
        &[("MAX_CONCURRENT_REQUESTS", "1"), ("DB_LOCK_TIMEOUT", "20s")],
    )
    .await
    else {
        return;
    };
    let api = Arc::new(api);
    let a = api.org("a").await;
    let asset = create_ok(&api, &a, json!({"name": "Locked", "type": "API"})).await;
    let (rss_before, _) = api.memory_kib();
    let blocker = hold_row_lock(&api, &asset).await;
    // One write holds the only permit; 20 requests of nearly 2 MB wait behind it.
    let first = {
        let (api, token, asset) = (api.clone(), a.token.clone(), asset.clone());
        tokio::spawn(async move {
            api.gql(
                &token,
                "mutation($id: ID!) { updateDigitalAsset(id: $id, input: {name: \"x\"}) { id } }",
                json!({"id": asset}),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let big = "x".repeat(1_900_000);
    let mut waiting = Vec::new();
    for _ in 0..20 {
        let (api, token, big) = (api.clone(), a.token.clone(), big.clone());
        waiting.push(tokio::spawn(async move {
            api.gql(
                &token,
                "query($pad: String) { dataProcessingActivities { id } }",
                json!({"pad": big}),
            )
            .await
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_waiting, _) = api.memory_kib();
    drop(blocker);
    first.await.unwrap();
    for w in waiting {
        w.await.unwrap();
    }
    assert!(
        rss_waiting < rss_before + 64 * 1024,
        "RSS {rss_before} KiB before, {rss_waiting} KiB with 20 large requests waiting"
    );
}

async fn kill_connections(api: &Api) -> i64 {
    let conn = api.db.connect().await;
    let killed = scalar_i64(
        &conn,
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()) t",
    )
    .await;
    conn.close().await.ok();
    killed
}

#[tokio::test]
async fn killed_database_connections_cost_no_failure_when_idle_and_at_most_one_each_under_load() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let api = Arc::new(api);
    let org = api.org("a").await;
    create_ok(&api, &org, json!({"name": "A", "type": "API"})).await;
    let query = "{ digitalAssets { totalCount nodes { name activities { name } processingLocations { service } } } }";
    // Open several pooled connections, then kill them all while idle.
    let mut warm = Vec::new();
    for _ in 0..8 {
        let (api, token) = (api.clone(), org.token.clone());
        warm.push(tokio::spawn(async move {
            api.gql(&token, query, Value::Null).await
        }));
    }
    for w in warm {
        w.await.unwrap().data();
    }
    let killed = kill_connections(&api).await;
    assert!(killed >= 2, "killed {killed}");
    for i in 0..20 {
        let answer = api.gql(&org.token, query, Value::Null).await;
        assert!(
            answer.body.get("errors").is_none(),
            "request {i} after killing idle connections: {:#}",
            answer.body
        );
    }
    // Under load: 8 clients, connections killed twice while they run.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (api, token, stop) = (api.clone(), org.token.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = api.gql(&token, query, Value::Null).await;
                if answer.body.get("errors").is_none() {
                    ok += 1;
                } else {
                    failed += 1;
                }
            }
            (ok, failed)
        }));
    }
    let mut killed = 0;
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        killed += kill_connections(&api).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for c in clients {
        let (o, f) = c.await.unwrap();
        ok += o;
        failed += f;
    }
    eprintln!("under load: {ok} ok, {failed} failed, {killed} connections killed");
    assert!(ok > 0);
    assert!(
        failed <= killed,
        "{failed} failures for {killed} killed connections"
    );
}
