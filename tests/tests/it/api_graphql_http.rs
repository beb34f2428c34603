//! GraphQL over HTTP as frontends expect it: CORS, GET queries, the response media types,
//! automatic persisted queries, batches and caching headers.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::*;

async fn send(
    api: &Api,
    method: reqwest::Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new().request(method, format!("{}{path_and_query}", api.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(body) = body {
        req = req.body(body);
    }
    req.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn preflights_are_answered_for_allowed_origins_only() {
    let Some(api) = Api::start_with(
        Backend::Sqlite,
        &[(
            "CORS_ALLOWED_ORIGINS",
            "http://localhost:*,https://app.example.com",
        )],
    )
    .await
    else {
        return;
    };
    let org = api.org("a").await;
    async fn preflight(api: &Api, origin: &str) -> reqwest::Response {
        send(
            api,
            reqwest::Method::OPTIONS,
            "/graphql",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, content-type, x-request-id",
                ),
            ],
            None,
        )
        .await
    }
    for origin in ["http://localhost:3000", "https://app.example.com"] {
        let resp = preflight(&api, origin).await;
        assert!(resp.status().is_success(), "{origin}: {}", resp.status());
        assert_eq!(header(&resp, "access-control-allow-origin"), origin);
        let methods = header(&resp, "access-control-allow-methods").to_lowercase();
        assert!(
            methods.contains("post") && methods.contains("get"),
            "{methods}"
        );
        let headers = header(&resp, "access-control-allow-headers").to_lowercase();
        for h in ["authorization", "content-type", "x-request-id"] {
            assert!(headers.contains(h), "{h} in {headers}");
        }
        assert_eq!(header(&resp, "access-control-max-age"), "600");
        assert!(header(&resp, "vary").to_lowercase().contains("origin"));
    }
    for origin in [
        "https://evil.example",
        "http://localhost",
        "https://app.example.com:8443",
    ] {
        let resp = preflight(&api, origin).await;
        assert_eq!(header(&resp, "access-control-allow-origin"), "", "{origin}");
    }
    // The request itself carries the header for an allowed origin.
    let resp = send(
        &api,
        reqwest::Method::POST,
        "/graphql",
        &[
            ("origin", "http://localhost:3000"),
            ("authorization", &format!("Bearer {}", org.token)),
            ("content-type", "application/json"),
        ],
        Some(json!({"query": "{ dataProcessingActivities { id } }"}).to_string()),
    )
    .await;
    assert_eq!(
        header(&resp, "access-control-allow-origin"),
        "http://localhost:3000"
    );
    assert!(header(&resp, "access-control-expose-headers").contains("x-request-id"));
}

#[tokio::test]
async fn without_allowed_origins_no_cors_header_is_sent() {
    let Some(api) = Api::start(Backend::Sqlite).await else {
        return;
    };
    let resp = send(
        &api,
        reqwest::Method::OPTIONS,
        "/graphql",
        &[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
        ],
        None,
    )
    .await;
    assert_eq!(header(&resp, "access-control-allow-origin"), "");
}

#[tokio::test]
async fn get_runs_queries_refuses_mutations_and_serves_graphiql_to_browsers() {
    let Some(api) = Api::start(Backend::Sqlite).await else {
        return;
    };
    let org = api.org("a").await;
    let auth = format!("Bearer {}", org.token);
    let query = "/graphql?query=query%20A(%24n%3A%20Int)%20%7B%20digitalAssets(first%3A%20%24n)%20%7B%20totalCount%20%7D%20%7D&variables=%7B%22n%22%3A%205%7D&operationName=A";
    let resp = send(
        &api,
        reqwest::Method::GET,
        query,
        &[("authorization", &auth), ("accept", "application/json")],
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "cache-control"), "no-store");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["digitalAssets"]["totalCount"], 0, "{body}");

    let mutation = "/graphql?query=mutation%20%7B%20createDigitalAsset(input%3A%20%7Bname%3A%20%22x%22%2C%20type%3A%20API%7D)%20%7B%20id%20%7D%20%7D";
    let resp = send(
        &api,
        reqwest::Method::GET,
        mutation,
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(resp.status(), 405);
    assert_eq!(header(&resp, "allow"), "POST");
    assert_eq!(crate::api_assets::count(&api, "digital_assets").await, 0);

    let resp = send(
        &api,
        reqwest::Method::GET,
        "/graphql",
        &[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("text/html"));
    let csp = header(&resp, "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let page = resp.text().await.unwrap();
    assert!(
        !page.contains("unpkg") && !page.contains("https://"),
        "no third-party host"
    );
    let script = page
        .split("src=\"")
        .nth(2)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let resp = send(&api, reqwest::Method::GET, &script, &[], None).await;
    assert_eq!(resp.status(), 200, "{script}");
    assert!(header(&resp, "cache-control").contains("immutable"));
    assert!(resp.text().await.unwrap().len() > 10_000, "a real bundle");
}

#[tokio::test]
async fn the_response_media_type_follows_accept() {
    let Some(api) = Api::start(Backend::Sqlite).await else {
        return;
    };
    let org = api.org("a").await;
    let auth = format!("Bearer {}", org.token);
    async fn post(api: &Api, auth: &str, accept: &str, query: &str) -> reqwest::Response {
        send(
            api,
            reqwest::Method::POST,
            "/graphql",
            &[
                ("authorization", auth),
                ("content-type", "application/json"),
                ("accept", accept),
            ],
            Some(json!({"query": query}).to_string()),
        )
        .await
    }
    let grj = "application/graphql-response+json";
    let ok = post(&api, &auth, grj, "{ dataProcessingActivities { id } }").await;
    assert_eq!(ok.status(), 200);
    assert!(header(&ok, "content-type").starts_with(grj));
    for bad in ["{ nope }", "{ digitalAssets("] {
        assert_eq!(post(&api, &auth, grj, bad).await.status(), 400, "{bad}");
        let legacy = post(&api, &auth, "application/json", bad).await;
        assert_eq!(legacy.status(), 200, "{bad}");
        assert!(header(&legacy, "content-type").starts_with("application/json"));
    }
    let field_error = post(
        &api,
        &auth,
        grj,
        "{ activitiesForAsset(digitalAssetId: \"nope\") { id } }",
    )
    .await;
    assert_eq!(
        field_error.status(),
        200,
        "an execution error is not a request error"
    );
    assert_eq!(
        post(
            &api,
            &auth,
            "text/plain",
            "{ dataProcessingActivities { id } }"
        )
        .await
        .status(),
        406
    );
}

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn automatic_persisted_queries_hit_miss_and_refuse_a_wrong_hash() {
    let Some(api) = Api::start(Backend::Sqlite).await else {
        return;
    };
    let (a, b) = (api.org("a").await, api.org("b").await);
    let query = "{ dataProcessingActivities { name } }";
    let hash = sha256(query);
    let persisted = |h: &str| json!({"persistedQuery": {"version": 1, "sha256Hash": h}});
    let post = |token: &str, body: Value| {
        let token = token.to_owned();
        let api = &api;
        async move {
            api.post_raw(
                &[
                    ("authorization", &format!("Bearer {token}")),
                    ("content-type", "application/json"),
                ],
                &body.to_string(),
            )
            .await
        }
    };
    let miss = post(&a.token, json!({"extensions": persisted(&hash)})).await;
    assert_eq!(miss.code(), "PERSISTED_QUERY_NOT_FOUND", "{:#}", miss.body);
    assert_eq!(miss.message(), "PersistedQueryNotFound");
    let wrong = post(
        &a.token,
        json!({"query": query, "extensions": persisted(&sha256("other"))}),
    )
    .await;
    assert_eq!(wrong.code(), "BAD_USER_INPUT");
    let register = post(
        &a.token,
        json!({"query": query, "extensions": persisted(&hash)}),
    )
    .await;
    assert_eq!(
        register.data()["dataProcessingActivities"][0]["name"],
        "Activity 0 of a"
    );
    let hit = post(&a.token, json!({"extensions": persisted(&hash)})).await;
    assert_eq!(
        hit.data()["dataProcessingActivities"][0]["name"],
        "Activity 0 of a"
    );
    // Per organization: another tenant cannot tell that this query was sent.
    let other = post(&b.token, json!({"extensions": persisted(&hash)})).await;
    assert_eq!(other.code(), "PERSISTED_QUERY_NOT_FOUND");
    // Over GET too (Apollo's useGETForHashedQueries).
    let url = format!(
        "/graphql?extensions={}",
        urlencode(&persisted(&hash).to_string())
    );
    let resp = send(
        &api,
        reqwest::Method::GET,
        &url,
        &[("authorization", &format!("Bearer {}", a.token))],
        None,
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["data"]["dataProcessingActivities"][0]["name"], "Activity 0 of a",
        "{body}"
    );
}

/// `text` as a URL's query component.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn batches_are_capped_and_each_operation_is_limited_as_if_alone() {
    let Some(api) = Api::start_with(Backend::Sqlite, &[("MAX_BATCH_OPERATIONS", "3")]).await else {
        return;
    };
    let org = api.org("a").await;
    let auth = format!("Bearer {}", org.token);
    let heavy = format!(
        "{{ {} }}",
        (0..60)
            .map(|i| format!("a{i}: digitalAssets(first: 100) {{ nodes {{ processingLocations {{ country {{ name }} }} }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let batch = json!([
        {"query": "{ dataProcessingActivities { name } }"},
        {"query": heavy},
        {"query": "query($id: ID!) { activitiesForAsset(digitalAssetId: $id) { id } }", "variables": {"id": "nope"}},
    ]);
    let resp = send(
        &api,
        reqwest::Method::POST,
        "/graphql",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(batch.to_string()),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "cache-control"), "no-store");
    let answers: Value = resp.json().await.unwrap();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 3);
    assert_eq!(
        answers[0]["data"]["dataProcessingActivities"][0]["name"],
        "Activity 0 of a"
    );
    assert_eq!(
        answers[1]["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    assert!(
        answers[1]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex")
    );
    assert_eq!(answers[2]["errors"][0]["extensions"]["code"], "NOT_FOUND");

    let four = Value::Array(vec![
        json!({"query": "{ dataProcessingActivities { id } }"});
        4
    ]);
    let resp = send(
        &api,
        reqwest::Method::POST,
        "/graphql",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        Some(four.to_string()),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("MAX_BATCH_OPERATIONS")
    );
}

#[tokio::test]
async fn a_batch_shares_one_response_budget() {
    let Some(api) = Api::start_with(Backend::Sqlite, &[("RESPONSE_BUDGET", "200")]).await else {
        return;
    };
    let org = api.org("a").await;
    let conn = api.db.connect().await;
    let rows: Vec<String> = (0..40)
        .map(|i| format!("('asset-{i:02}', '{}', 'Asset {i:02}', 'API')", org.id))
        .collect();
    exec(
        &conn,
        &format!(
            "INSERT INTO digital_assets (id, organization_id, name, type) VALUES {}",
            rows.join(",")
        ),
    )
    .await;
    conn.close().await.ok();
    // 40 assets × (the node, id, name): 120 values, within 200 alone.
    let query = "{ digitalAssets(first: 40) { nodes { id name } } }";
    api.gql(&org.token, query, Value::Null).await.data();
    let batch = Value::Array(vec![json!({ "query": query }); 3]);
    let resp = send(
        &api,
        reqwest::Method::POST,
        "/graphql",
        &[
            ("authorization", &format!("Bearer {}", org.token)),
            ("content-type", "application/json"),
        ],
        Some(batch.to_string()),
    )
    .await;
    let answers: Value = resp.json().await.unwrap();
    assert_eq!(
        answers[0]["data"]["digitalAssets"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        40
    );
    for later in [1, 2] {
        assert_eq!(
            answers[later]["errors"][0]["extensions"]["code"], "RESPONSE_TOO_LARGE",
            "{answers:#}"
        );
    }
}
