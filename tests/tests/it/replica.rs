//! `DATABASE_READ_URL` against a real streaming replica of the test server: queries read the
//! replica, mutations (and the reads of their answers) the primary; `/readyz` and `/metrics`
//! watch the replica; with the replica gone, queries fail clearly and mutations go on.

use serde_json::json;

use crate::support::replica::Replica;
use crate::support::*;

const CREATE: &str = "mutation($input: CreateDigitalAssetInput!) {
    createDigitalAsset(input: $input) { id name processingLocations { service country { id } } }
}";

const NAMES: &str = "{ digitalAssets(first: 100) { nodes { name } } }";

/// A replica, and an api on a migrated database whose queries read the replica's copy of it.
async fn api_with_replica() -> Option<(Replica, Api)> {
    let replica = Replica::start().await?;
    let db = TestDb::migrated(Backend::Postgres).await?;
    let name = db
        .url
        .rsplit('/')
        .next()
        .expect("a database name")
        .to_owned();
    replica.wait_for_database(&name).await;
    let read = replica.url(&name);
    let api = Api::on_with(db, &[("DATABASE_READ_URL", &read)]).await;
    Some((replica, api))
}

fn input(name: &str) -> serde_json::Value {
    json!({"input": {
        "name": name, "type": "DATABASE",
        "locations": [{
            "service": "Hosting", "countryId": "US", "locationRole": "HOSTING",
            "purposeText": "Payroll"
        }]
    }})
}

async fn names(api: &Api, token: &str) -> Vec<String> {
    let answer = api.gql(token, NAMES, json!({})).await;
    answer.data()["digitalAssets"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// The replica's lag as `/metrics` reports it, if it does.
async fn lag(api: &Api) -> Option<f64> {
    let (status, body) = api.get("/metrics").await;
    assert_eq!(status, 200, "{body}");
    body.lines()
        .find_map(|l| l.strip_prefix("inventory_db_replica_lag_seconds "))
        .map(|v| v.parse().expect("a number"))
}

/// With the replica's replay paused, a mutation answers what it wrote (read on the primary), a
/// query does not see it yet (read on the replica), `/metrics` shows the lag; once replay
/// resumes, the query sees it.
#[tokio::test]
async fn queries_read_the_replica_and_mutations_answer_from_the_primary() {
    let Some((replica, api)) = api_with_replica().await else {
        return;
    };
    let org = api.org("replica").await;
    replica.caught_up().await;
    assert_eq!(names(&api, &org.token).await, Vec::<String>::new());
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"ready\""), "{body}");
    // Other tests write to the same server meanwhile: a few milliseconds, not none.
    let caught_up = lag(&api).await.expect("the lag");
    assert!(caught_up < 5.0, "lag {caught_up}");

    replica.pause_replay().await;
    let created = api.gql(&org.token, CREATE, input("Payroll DB")).await;
    let asset = &created.data()["createDigitalAsset"];
    assert_eq!(asset["name"], "Payroll DB", "{created:?}");
    assert_eq!(asset["processingLocations"][0]["country"]["id"], "US");
    assert_eq!(
        names(&api, &org.token).await,
        Vec::<String>::new(),
        "a query read the primary"
    );
    // Once the replica has received the mutation's WAL (streaming is quick, not instant), it
    // holds what it cannot replay: behind.
    let mut behind = 0.0;
    for _ in 0..50 {
        behind = lag(&api).await.expect("the lag, while replay is paused");
        if behind > 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(behind > 0.0, "lag {behind}");

    // In a batch, an operation after a mutation reads the primary: it sees what the mutation
    // wrote, while the replica is still paused.
    let batch = json!([
        {"query": CREATE, "variables": input("Batch written")},
        {"query": NAMES},
    ]);
    let auth = format!("Bearer {}", org.token);
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let answers = api.post_raw(&headers, &batch.to_string()).await;
    let seen = answers.body[1]["data"]["digitalAssets"]["nodes"].to_string();
    assert!(seen.contains("Batch written"), "{:#}", answers.body);

    replica.resume_replay().await;
    replica.caught_up().await;
    assert_eq!(
        names(&api, &org.token).await,
        ["Batch written", "Payroll DB"]
    );
}

/// With the replica stopped, a query fails with a code a client can act on (and no database
/// text), `/readyz` stays ready but says the instance is degraded and why (every instance shares
/// the replica: taking them all out of service would stop the mutations too), `/metrics` reports
/// the replica down, and mutations keep working on the primary.
#[tokio::test]
async fn with_the_replica_gone_queries_fail_clearly_and_mutations_go_on() {
    let Some((replica, api)) = api_with_replica().await else {
        return;
    };
    let org = api.org("gone").await;
    replica.caught_up().await;
    assert_eq!(names(&api, &org.token).await, Vec::<String>::new());
    replica.stop().await;

    let answer = api.gql(&org.token, NAMES, json!({})).await;
    assert_eq!(answer.code(), "SERVICE_UNAVAILABLE", "{answer:?}");
    assert!(!answer.message().contains("sqlx"), "{answer:?}");
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("degraded") && body.contains("read replica unreachable"),
        "{body}"
    );
    let (_, metrics) = api.get("/metrics").await;
    assert!(metrics.contains("inventory_db_replica_up 0"), "{metrics}");

    let created = api.gql(&org.token, CREATE, input("Still writable")).await;
    assert_eq!(
        created.data()["createDigitalAsset"]["name"],
        "Still writable",
        "{created:?}"
    );
}
