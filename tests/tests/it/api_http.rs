//! The HTTP surface: authentication, limits, batching, health and the embedded default.

use serde_json::{Value, json};

use crate::support::*;

const ALG_NONE: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyLWEiLCJvcmdfaWQiOiJvcmctYSIsImV4cCI6NDEwMjQ0NDgwMH0.";

fn sign(claims: Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_or_missing_tokens_get_401_unauthenticated() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = r#"{"query": "{ digitalAssets { totalCount } }"}"#;
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("not bearer", Some(format!("Basic {}", org.token))),
        ("garbage", Some("Bearer not.a.token".into())),
        (
            "bad signature",
            Some(format!(
                "Bearer {}",
                token_for("another-secret-entirely", &org.id, &org.user)
            )),
        ),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                sign(
                    json!({"sub": org.user, "org_id": org.id, "exp": now - 3600}),
                    SECRET
                )
            )),
        ),
        ("alg none", Some(format!("Bearer {ALG_NONE}"))),
        (
            "no org_id",
            Some(format!(
                "Bearer {}",
                sign(json!({"sub": org.user, "exp": now + 3600}), SECRET)
            )),
        ),
        (
            "no exp",
            Some(format!(
                "Bearer {}",
                sign(json!({"sub": org.user, "org_id": org.id}), SECRET)
            )),
        ),
    ];
    for (case, header) in cases {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(h) = &header {
            headers.push(("authorization", h.as_str()));
        }
        let answer = api.post_raw(&headers, body).await;
        assert_eq!(answer.status, 401, "{case}: {:#}", answer.body);
        assert_eq!(answer.code(), "UNAUTHENTICATED", "{case}");
        assert!(answer.body.get("data").is_none(), "{case}");
    }
    let ok = api
        .post_raw(
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {}", org.token)),
            ],
            body,
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.data()["digitalAssets"]["totalCount"], 0);
}

#[tokio::test]
async fn malformed_requests_are_the_clients_and_say_so() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let auth = format!("Bearer {}", org.token);
    let answer = api
        .post_raw(
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            "{not json",
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    let answer = api
        .gql(&org.token, "{ digitalAssets { nope } }", Value::Null)
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    let answer = api.gql(&org.token, "{ digitalAssets(", Value::Null).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_query_nested_25_levels_is_refused_and_graphiql_introspection_is_not() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    // digitalAssets > nodes > (processingLocations > digitalAsset) × 12 > id: 27 levels.
    let mut query = String::from("id");
    for _ in 0..12 {
        query = format!("processingLocations {{ digitalAsset {{ {query} }} }}");
    }
    let query = format!("{{ digitalAssets {{ nodes {{ {query} }} }} }}");
    let answer = api.gql(&org.token, &query, Value::Null).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    // Every deep path of this schema runs through lists, whose sizes multiply the cost: such
    // a query is over both limits, and the cost is checked first.
    assert!(
        answer.message().contains("nested too deep") || answer.message().contains("too complex"),
        "{}",
        answer.message()
    );

    let answer = api.gql(&org.token, INTROSPECTION, Value::Null).await;
    let types = answer.data()["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "DigitalAsset"));
}

#[tokio::test]
async fn nested_relations_cost_the_same_statements_for_10_and_100_assets() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let conn = api.db.connect().await;
    let assets: Vec<String> = (0..120)
        .map(|i| {
            format!(
                "('asset-{i:03}', '{}', 'Asset {i:03}', 'DATABASE', 'DE', '{}')",
                org.id, org.user
            )
        })
        .collect();
    exec(&conn, &format!("INSERT INTO digital_assets (id, organization_id, name, type, primary_hosting_country_id, technical_owner_id) VALUES {}", assets.join(","))).await;
    let locations: Vec<String> = (0..120)
        .flat_map(|i| {
            let org = org.id.clone();
            [(0, "DE", "NULL"), (1, "US", "'SCC'")].map(move |(n, c, m)| {
                format!("('loc-{i:03}-{n}', '{org}', 'asset-{i:03}', 'svc {n}', 'p', '{c}', 'HOSTING', {m})")
            })
        })
        .collect();
    exec(&conn, &format!("INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, purpose_text, country_id, location_role, transfer_mechanism_id) VALUES {}", locations.join(","))).await;
    let links: Vec<String> = (0..120)
        .map(|i| {
            format!(
                "('link-{i:03}', '{}', 'asset-{i:03}')",
                org.activities[i % 2]
            )
        })
        .collect();
    exec(&conn, &format!("INSERT INTO data_processing_activity_digital_assets (id, activity_id, digital_asset_id) VALUES {}", links.join(","))).await;

    let query = "query($n: Int) { digitalAssets(first: $n) { totalCount nodes { name
        primaryHostingCountry { isoCode } technicalOwner { name }
        processingLocations { service country { isoCode } transferMechanism { code } }
        activities { name } } } }";
    // The first request loads the reference cache (countries, transfer mechanisms).
    api.gql(&org.token, query, json!({"n": 1})).await;
    let mut counts = Vec::new();
    for n in [10, 100] {
        let before = api.statements().await;
        let answer = api.gql(&org.token, query, json!({"n": n})).await;
        let nodes = answer.data()["digitalAssets"]["nodes"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(nodes.len(), n);
        assert_eq!(
            nodes[n - 1]["processingLocations"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(nodes[n - 1]["activities"].as_array().unwrap().len(), 1);
        counts.push(api.statements().await - before);
    }
    eprintln!(
        "SQL statements per list request: 10 assets {}, 100 assets {}",
        counts[0], counts[1]
    );
    assert_eq!(
        counts[0], counts[1],
        "statements must not grow with the page size"
    );
    // The page, its total, owners, locations and activities; countries and mechanisms come
    // from the reference cache.
    assert_eq!(counts[1], 5, "statements for one list request");

    // The benchmark's list (no total, no owners): three statements.
    let before = api.statements().await;
    let answer = api
        .gql(
            &org.token,
            "{ digitalAssets(first: 50) { nodes { id name processingLocations { service country { isoCode } } activities { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.data()["digitalAssets"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    assert_eq!(api.statements().await - before, 3);
}

#[tokio::test]
async fn a_country_added_by_hand_after_the_reference_snapshot_is_still_found() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    // A location's country: the first one loads the in-memory snapshot of countries.
    let create = |country: &str| {
        format!(
            "mutation {{ createDigitalAsset(input: {{name: \"A {country}\", type: DATABASE, locations: [{{service: \"s\", countryId: \"{country}\", locationRole: HOSTING, purposeText: \"p\"}}]}}) {{ processingLocations {{ country {{ name }} }} }} }}"
        )
    };
    let answer = api.gql(&org.token, &create("DE"), json!({})).await;
    assert_eq!(
        answer.data()["createDigitalAsset"]["processingLocations"][0]["country"]["name"],
        "Germany"
    );
    let conn = api.db.connect().await;
    exec(&conn, "INSERT INTO countries (id, name, iso_code, gdpr_status) VALUES ('test-xt', 'Testland', 'XT', '[\"Third Country\"]')").await;
    let answer = api.gql(&org.token, &create("test-xt"), json!({})).await;
    assert_eq!(
        answer.data()["createDigitalAsset"]["processingLocations"][0]["country"]["name"],
        "Testland"
    );
}

#[tokio::test]
async fn readyz_is_503_until_migrations_are_applied_and_healthz_is_always_200() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let url = db.url.clone();
    let api = Api::on(db).await;
    assert_eq!(api.get("/healthz").await.0, 200);
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("migrations pending"), "{body}");
    migration(&url, &["up"]).await.success();
    let (status, body) = api.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let conn = api.db.connect().await;
    assert_eq!(
        scalar_i64(&conn, "SELECT count(*) FROM organizations").await,
        0,
        "the server never seeds PostgreSQL"
    );
    let (status, metrics) = api.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("inventory_db_statements_total "),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_embedded_default_migrates_seeds_and_prints_a_working_token() {
    let dir = std::env::temp_dir().join(format!(
        "dai_test_embedded_{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let token_of = |banner: &str| {
        banner
            .split("Bearer ")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the banner prints a token")
            .to_owned()
    };
    let query = json!({"query": "{ digitalAssets { totalCount nodes { name processingLocations { country { isoCode } } activities { name } } } }"});
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (child, base, banner) = start_api(&[], Some(&dir)).await;
        assert!(banner.contains("GraphiQL:"), "{banner}");
        let token = token_of(&banner);
        let body: Value = client
            .post(format!("{base}/graphql"))
            .bearer_auth(&token)
            .json(&query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["data"]["digitalAssets"]["totalCount"], 6, "{body:#}");
        let graphiql = client.get(format!("{base}/graphql")).send().await.unwrap();
        assert_eq!(graphiql.status().as_u16(), 200);
        assert!(
            graphiql
                .text()
                .await
                .unwrap()
                .to_lowercase()
                .contains("graphiql")
        );
        // A token printed by an earlier start still works: the secret was kept.
        for earlier in &tokens {
            let body: Value = client
                .post(format!("{base}/graphql"))
                .bearer_auth(earlier)
                .json(&query)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(body["data"]["digitalAssets"]["totalCount"], 6, "{body:#}");
        }
        tokens.push(token);
        drop(child);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // The second start found the demo data and the secret: no second demo organization, and
    // both tokens name the same organization and user.
    let claims = |token: &str| -> Value {
        use base64::Engine;
        let payload = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let (first, second) = (claims(&tokens[0]), claims(&tokens[1]));
    assert_eq!(first["org_id"], second["org_id"]);
    assert_eq!(first["sub"], second["sub"]);
    let db = sea_orm::Database::connect(format!(
        "sqlite://{}",
        dir.join("data/inventory.db").display()
    ))
    .await
    .unwrap();
    assert_eq!(
        scalar_i64(&db, "SELECT count(*) FROM organizations").await,
        1
    );
    db.close().await.ok();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn responses_carry_the_request_id() {
    let Some(api) = Api::start(Backend::Sqlite).await else {
        return;
    };
    let resp = reqwest::Client::new()
        .get(format!("{}/healthz", api.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-me-42");
    let resp = reqwest::get(format!("{}/healthz", api.base)).await.unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
}

/// GraphiQL's introspection query (graphql-js `getIntrospectionQuery`).
const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name }
  subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } } }
fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description
  args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue } interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }";

#[tokio::test]
async fn a_database_failure_is_answered_without_database_text() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let conn = api.db.connect().await;
    // Break the schema under the running server.
    exec(
        &conn,
        "ALTER TABLE digital_assets RENAME COLUMN url TO url_moved",
    )
    .await;
    let answer = api
        .gql(
            &org.token,
            "{ digitalAssets { totalCount nodes { url } } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.code(), "INTERNAL_SERVER_ERROR", "{:#}", answer.body);
    assert_eq!(answer.message(), "internal server error");
    let error = &answer.body["errors"][0];
    let text = format!("{} {}", error["message"], error["extensions"]).to_lowercase();
    for leak in [
        "column",
        "url_moved",
        "digital_assets",
        "sqlx",
        "postgres",
        "select",
        "exist",
    ] {
        assert!(!text.contains(leak), "`{leak}` leaked: {text}");
    }
}

#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    migration(&db.url, &["up"]).await.success();
    let (mut child, base, _) = start_api(
        &[("DATABASE_URL", &db.url), ("AUTH_JWT_SECRET", SECRET)],
        None,
    )
    .await;
    assert_eq!(
        reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let pid = child.id().expect("a running server").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(15), child.wait())
        .await
        .expect("stops within 15 s")
        .unwrap();
    assert!(status.success(), "{status:?}");
}
