//! The export: every column of a known data set read back from the CSV, the JSON the same, the
//! filter as query parameters, batches that neither skip nor repeat, another organization's rows
//! never, formulas neutralized, refusals with a code.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::api_assets::create_ok;
use crate::support::*;

/// The CSV's records as maps from column to value, and its header.
fn parse_csv(text: &str) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            header
                .iter()
                .cloned()
                .zip(r.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

const COLUMNS: [&str; 23] = [
    "asset_id",
    "asset_name",
    "asset_type",
    "asset_description",
    "asset_url",
    "contains_personal_data",
    "integration_status",
    "technical_owner",
    "business_owner",
    "activities",
    "location_id",
    "location_service",
    "country_code",
    "country_name",
    "country_status",
    "location_role",
    "purpose",
    "transfer_mechanism",
    "transfer_risk",
    "legal_basis",
    "transfer_reasons",
    "transfer_explanation",
    "asset_updated_at",
];

async fn the_csv_reads_back_column_by_column(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let (a, b) = (api.org("a").await, api.org("b").await);
    let crm = create_ok(&api, &a, json!({
        "name": "CRM", "type": "CRM", "description": "Sales, \"key\" accounts\nsecond line",
        "url": "https://crm.example", "containsPersonalData": true, "integrationStatus": "CONNECTED",
        "technicalOwnerId": a.user, "businessOwnerId": a.user,
        "locations": [
            {"service": "Frankfurt", "countryId": "DE", "locationRole": "HOSTING", "purposeId": a.purpose},
            {"service": "Support", "countryId": "IN", "locationRole": "PROCESSING", "purposeText": "Support", "transferMechanismId": "SCC"},
            {"service": "Old", "countryId": "IN", "locationRole": "PROCESSING", "purposeText": "Old", "isActive": false}
        ]})).await;
    create_ok(
        &api,
        &a,
        json!({"name": "=HYPERLINK(\"http://evil\")", "type": "OTHER"}),
    )
    .await;
    create_ok(&api, &b, json!({"name": "B's secret", "type": "CRM"})).await;
    api.gql(
        &a.token,
        "mutation($a: ID!, $d: ID!) { linkAssetToActivity(activityId: $a, digitalAssetId: $d) }",
        json!({"a": a.activities[0], "d": crm}),
    )
    .await
    .data();

    let (status, headers, body) = api
        .get_with_token(&a.token, "/export/digital-assets.csv")
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"digital-assets-20")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let (header, rows) = parse_csv(&body);
    assert_eq!(header, COLUMNS);
    // The CRM's two active locations, oldest first, and the other asset's row without one (where
    // "=HYPERLINK…" sorts depends on the database's collation).
    assert_eq!(rows.len(), 3, "{body}");
    let (formula, crm_rows): (Vec<_>, Vec<_>) =
        rows.iter().partition(|r| r["asset_type"] == "OTHER");
    assert_eq!(
        formula[0]["asset_name"], "'=HYPERLINK(\"http://evil\")",
        "formulas are neutralized"
    );
    assert_eq!(formula[0]["location_id"], "");
    let (de, india) = (crm_rows[0], crm_rows[1]);
    let expected_asset = [
        ("asset_id", crm.as_str()),
        ("asset_name", "CRM"),
        ("asset_type", "CRM"),
        ("asset_description", "Sales, \"key\" accounts\nsecond line"),
        ("asset_url", "https://crm.example"),
        ("contains_personal_data", "true"),
        ("integration_status", "CONNECTED"),
        ("technical_owner", "User a <a@example.com>"),
        ("business_owner", "User a <a@example.com>"),
        ("activities", "Activity 0 of a"),
    ];
    for row in [de, india] {
        for (column, value) in expected_asset {
            assert_eq!(row[column], value, "{column}");
        }
        assert!(row["asset_updated_at"].starts_with("20"), "{row:?}");
    }
    let expected = [
        (
            de,
            [
                ("location_service", "Frankfurt"),
                ("country_code", "DE"),
                ("country_name", "Germany"),
                ("country_status", "EEA"),
                ("location_role", "HOSTING"),
                ("purpose", "Purpose a"),
                ("transfer_mechanism", ""),
                ("transfer_risk", "NONE"),
                ("legal_basis", ""),
                ("transfer_reasons", "DESTINATION_IN_EEA"),
            ],
        ),
        (
            india,
            [
                ("location_service", "Support"),
                ("country_code", "IN"),
                ("country_name", "India"),
                ("country_status", "THIRD_COUNTRY"),
                ("location_role", "PROCESSING"),
                ("purpose", "Support"),
                ("transfer_mechanism", "SCC"),
                ("transfer_risk", "MEDIUM"),
                ("legal_basis", "Art. 46(2)(c)"),
                (
                    "transfer_reasons",
                    "APPROPRIATE_SAFEGUARD; TRANSFER_IMPACT_ASSESSMENT_EXPECTED",
                ),
            ],
        ),
    ];
    for (row, columns) in expected {
        for (column, value) in columns {
            assert_eq!(row[column], value, "{column}");
        }
        assert!(!row["location_id"].is_empty());
    }
    assert!(india["transfer_explanation"].contains("India"), "{india:?}");
    assert!(
        !body.contains("B's secret"),
        "another organization's rows never appear"
    );

    // The JSON holds the same rows, the formula as typed.
    let (status, _, body) = api
        .get_with_token(&a.token, "/export/digital-assets.json")
        .await;
    assert_eq!(status, 200);
    let json: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(json.len(), 3);
    let other = json.iter().find(|r| r["asset_type"] == "OTHER").unwrap();
    assert_eq!(other["asset_name"], "=HYPERLINK(\"http://evil\")");
    let india = json.iter().find(|r| r["country_code"] == "IN").unwrap();
    assert_eq!(india["transfer_risk"], "MEDIUM");
    assert_eq!(india["contains_personal_data"], true);

    // The filter, as digitalAssets takes it.
    for (query, names) in [
        ("?types=CRM", vec!["CRM", "CRM"]),
        (
            "?search=sales&containsPersonalData=true",
            vec!["CRM", "CRM"],
        ),
        ("?types=OTHER,API", vec!["=HYPERLINK(\"http://evil\")"]),
        ("?processingCountryId=US", vec![]),
        ("?transferRisk=MEDIUM", vec!["CRM", "CRM"]),
    ] {
        let (status, _, body) = api
            .get_with_token(&a.token, &format!("/export/digital-assets.json{query}"))
            .await;
        assert_eq!(status, 200, "{query}: {body}");
        let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
        let got: Vec<&str> = rows
            .iter()
            .map(|r| r["asset_name"].as_str().unwrap())
            .collect();
        assert_eq!(got, names, "{query}");
    }
    // An empty result is the header alone (CSV) or [] (JSON).
    let (_, _, body) = api
        .get_with_token(
            &a.token,
            "/export/digital-assets.csv?search=nothing-matches",
        )
        .await;
    assert_eq!(body.lines().count(), 1, "{body}");
    let (_, _, body) = api
        .get_with_token(
            &a.token,
            "/export/digital-assets.json?search=nothing-matches",
        )
        .await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!([]));

    // Refusals, with a code, before anything is sent.
    for query in [
        "?bogus=1",
        "?types=NOPE",
        "?updatedSince=yesterday",
        "?transferRisk=SOME",
    ] {
        let (status, _, body) = api
            .get_with_token(&a.token, &format!("/export/digital-assets.csv{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains("BAD_USER_INPUT"), "{body}");
    }
    let (status, body) = api.get("/export/digital-assets.csv").await;
    assert_eq!(status, 401, "{body}");
}

/// 250 assets (more than two batches), some with locations: every row once, in name order.
async fn the_export_pages_through_batches(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let a = api.org("a").await;
    let conn = api.db.connect().await;
    let mut values = Vec::new();
    for i in 0..250 {
        values.push(format!("('e{i:03}', '{}', 'asset {i:03}', 'API')", a.id));
    }
    exec(
        &conn,
        &format!(
            "INSERT INTO digital_assets (id, organization_id, name, type) VALUES {}",
            values.join(", ")
        ),
    )
    .await;
    let mut locations = Vec::new();
    for i in (0..250).step_by(50) {
        for k in 0..2 {
            locations.push(format!(
                "('l{i:03}{k}', '{}', 'e{i:03}', 'svc {k}', 'p', 'DE', 'HOSTING')",
                a.id
            ));
        }
    }
    exec(
        &conn,
        &format!(
            "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, purpose_text, country_id, location_role) VALUES {}",
            locations.join(", ")
        ),
    )
    .await;
    conn.close().await.ok();
    let (status, _, body) = api
        .get_with_token(&a.token, "/export/digital-assets.csv")
        .await;
    assert_eq!(status, 200);
    let (_, rows) = parse_csv(&body);
    assert_eq!(
        rows.len(),
        255,
        "250 assets, five of them with two locations"
    );
    let names: Vec<&str> = rows.iter().map(|r| r["asset_name"].as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "in name order");
    let mut distinct = sorted.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 250, "every asset, none twice");
}

on_both_backends!(
    the_csv_reads_back_column_by_column,
    the_export_pages_through_batches
);

/// A NUL byte in a parameter is refused before anything is sent (as GraphQL refuses it).
async fn a_nul_in_a_parameter_is_refused(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let a = api.org("a").await;
    create_ok(&api, &a, json!({"name": "CRM", "type": "CRM"})).await;
    for query in [
        "?search=%00",
        "?activityId=%00",
        "?ownerId=x%00",
        "?primaryHostingCountryId=%00",
    ] {
        let (status, _, body) = api
            .get_with_token(&a.token, &format!("/export/digital-assets.csv{query}"))
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains("BAD_USER_INPUT"), "{body}");
    }
}

on_both_backends!(a_nul_in_a_parameter_is_refused);

/// An export streams without a request slot: with one slot, another organization's query is
/// answered while an export is open and unread; a second export of the same organization waits
/// its turn (503), as does a third organization's past MAX_CONCURRENT_EXPORTS.
#[tokio::test]
async fn an_open_export_takes_no_request_slot() {
    let Some(db) = TestDb::migrated(Backend::Postgres).await else {
        return;
    };
    let api = Api::on_with(
        db,
        &[
            ("MAX_CONCURRENT_REQUESTS", "1"),
            ("MAX_CONCURRENT_EXPORTS", "1"),
        ],
    )
    .await;
    let (a, b) = (api.org("a").await, api.org("b").await);
    let conn = api.db.connect().await;
    exec(
        &conn,
        &format!(
            "INSERT INTO digital_assets (id, organization_id, name, type, description)
             SELECT 'e' || i, '{}', 'asset ' || i, 'API', repeat('x', 2000) FROM generate_series(1, 10000) i",
            a.id
        ),
    )
    .await;
    conn.close().await.ok();
    let client = reqwest::Client::new();
    let open = client
        .get(format!("{}/export/digital-assets.csv", api.base))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    // The body is left unread: the export is streaming (its socket full), holding its ticket.
    let started = std::time::Instant::now();
    let answer = api
        .gql(&b.token, "{ digitalAssets { totalCount } }", json!({}))
        .await;
    assert_eq!(answer.data()["digitalAssets"]["totalCount"], 0);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for token in [&a.token, &b.token] {
        let (status, _, body) = api
            .get_with_token(token, "/export/digital-assets.csv")
            .await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("export"), "{body}");
    }
    // Read to the end: every row, and the ticket is free again.
    let text = open.text().await.unwrap();
    assert_eq!(text.lines().count(), 10_001);
    let (status, _, _) = api
        .get_with_token(&b.token, "/export/digital-assets.csv")
        .await;
    assert_eq!(status, 200);
}

/// The process's THP flag (`THP_enabled` in /proc/<pid>/status: 0 once it turned them off).
fn huge_pages_allowed(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let flag = status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .expect("THP_enabled in /proc/<pid>/status (Linux 5.0 or later)");
    flag.trim() == "1"
}

/// The API turns transparent huge pages off for itself: mimalloc asks for them on its arenas,
/// and with them the first export of a fresh process grew its RSS by 52 MiB instead of about
/// 20 (docs/BENCHMARKS.md, "Memory"). `MIMALLOC_ALLOW_THP`, when set, leaves the choice to
/// mimalloc.
#[tokio::test]
async fn the_api_runs_without_transparent_huge_pages() {
    // The flag is inherited: a runner that has it off already would pass whatever the API does.
    assert!(
        huge_pages_allowed(std::process::id()),
        "the test process runs with transparent huge pages off: this test cannot tell"
    );
    let api = Api::start(Backend::Sqlite).await.expect("SQLite");
    assert!(!huge_pages_allowed(api.pid()));
    let api = Api::start_with(Backend::Sqlite, &[("MIMALLOC_ALLOW_THP", "1")])
        .await
        .expect("SQLite");
    assert!(huge_pages_allowed(api.pid()), "the operator's choice");
}
