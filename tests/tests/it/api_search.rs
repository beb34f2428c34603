//! Finding assets: search, filters alone and combined, every ordering both ways across page
//! boundaries, cursors bound to their list, tenant isolation.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::api_assets::create_ok;
use crate::schema::migrated;
use crate::support::*;

const PAGE: &str = "query($f: DigitalAssetFilter, $o: DigitalAssetOrder, $first: Int, $after: String, $last: Int, $before: String) {
    digitalAssets(filter: $f, orderBy: $o, first: $first, after: $after, last: $last, before: $before) {
        nodes { id name type createdAt updatedAt }
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

async fn names(api: &Api, org: &Org, filter: Value) -> BTreeSet<String> {
    let answer = api
        .gql(&org.token, PAGE, json!({"f": filter, "first": 100}))
        .await;
    let list = &answer.data()["digitalAssets"];
    let names: BTreeSet<String> = list["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        list["totalCount"],
        names.len(),
        "totalCount counts the same filter"
    );
    names
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

const UPDATE: &str = "mutation($id: ID!, $i: UpdateDigitalAssetInput!) { updateDigitalAsset(id: $id, input: $i) { id } }";

/// Six assets of organization `a` with every filtered property varied, and one of `b`.
async fn inventory(api: &Api) -> (Org, Org, Vec<String>) {
    let (a, b) = (api.org("a").await, api.org("b").await);
    let de = json!({"service": "Frankfurt", "countryId": "DE", "locationRole": "HOSTING", "purposeText": "Hosting"});
    let us = json!({"service": "Virginia", "countryId": "US", "locationRole": "PROCESSING", "purposeText": "Support"});
    let us_inactive = json!({"service": "Old", "countryId": "US", "locationRole": "PROCESSING", "purposeText": "Old", "isActive": false});
    let inputs = [
        json!({"name": "crmsystem", "type": "CRM", "description": "Customer records of O'Brien & \"Partners\"", "integrationStatus": "CONNECTED", "technicalOwnerId": a.user, "locations": [de]}),
        json!({"name": "warehouse", "type": "DATABASE", "description": "100% of sales_data", "integrationStatus": "PENDING", "locations": [us]}),
        json!({"name": "mailer", "type": "MARKETING_TOOL", "url": "https://mail.example.com/zürich", "businessOwnerId": a.user, "locations": [us_inactive]}),
        json!({"name": "analytics", "type": "ANALYTICS_PLATFORM", "description": "Web stats 100 percent"}),
        json!({"name": "backups", "type": "DATABASE", "description": "Nightly copies", "integrationStatus": "FAILED", "locations": [de, us]}),
        json!({"name": "zentrale", "type": "CRM", "description": "Zürich office CRM"}),
    ];
    let mut ids = Vec::new();
    for input in inputs {
        ids.push(create_ok(api, &a, input).await);
    }
    create_ok(
        api,
        &b,
        json!({"name": "crmsystem", "type": "CRM", "description": "b's own CRM"}),
    )
    .await;
    // Linked to the first activity: crmsystem and backups.
    for id in [&ids[0], &ids[4]] {
        let answer = api
            .gql(&a.token, "mutation($a: ID!, $d: ID!) { linkAssetToActivity(activityId: $a, digitalAssetId: $d) }", json!({"a": a.activities[0], "d": id}))
            .await;
        answer.data();
    }
    (a, b, ids)
}

async fn each_filter_alone_and_combined(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let (a, b, ids) = inventory(&api).await;
    let cases = [
        (json!({"search": "crm"}), vec!["crmsystem", "zentrale"]),
        (json!({"search": "  CRM "}), vec!["crmsystem", "zentrale"]),
        (json!({"search": "o'brien"}), vec!["crmsystem"]),
        (json!({"search": "\"Partners\""}), vec!["crmsystem"]),
        (json!({"search": "100%"}), vec!["warehouse"]),
        (json!({"search": "%"}), vec!["warehouse"]),
        (json!({"search": "s_d"}), vec!["warehouse"]),
        (json!({"search": "_"}), vec!["warehouse"]),
        (json!({"search": "Zürich"}), vec!["mailer", "zentrale"]),
        (json!({"search": "mail.example"}), vec!["mailer"]),
        (
            json!({"search": ""}),
            vec![
                "analytics",
                "backups",
                "crmsystem",
                "mailer",
                "warehouse",
                "zentrale",
            ],
        ),
        (
            json!({"types": ["CRM", "DATABASE"]}),
            vec!["backups", "crmsystem", "warehouse", "zentrale"],
        ),
        (
            json!({"types": []}),
            vec![
                "analytics",
                "backups",
                "crmsystem",
                "mailer",
                "warehouse",
                "zentrale",
            ],
        ),
        (
            json!({"integrationStatuses": ["PENDING", "FAILED"]}),
            vec!["backups", "warehouse"],
        ),
        (
            json!({"processingCountryId": "US"}),
            vec!["backups", "warehouse"],
        ),
        (
            json!({"processingCountryId": "DE"}),
            vec!["backups", "crmsystem"],
        ),
        (
            json!({"activityId": a.activities[0]}),
            vec!["backups", "crmsystem"],
        ),
        (json!({"activityId": b.activities[0]}), vec![]),
        (json!({"ownerId": a.user}), vec!["crmsystem", "mailer"]),
        (json!({"transferRisk": "CRITICAL"}), vec![]),
        // Combined: AND.
        (
            json!({"search": "crm", "types": ["CRM"], "ownerId": a.user}),
            vec!["crmsystem"],
        ),
        (
            json!({"processingCountryId": "US", "integrationStatuses": ["FAILED"]}),
            vec!["backups"],
        ),
        (
            json!({"activityId": a.activities[0], "processingCountryId": "US", "types": ["DATABASE"]}),
            vec!["backups"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            names(&api, &a, filter.clone()).await,
            set(&expected),
            "{filter}"
        );
    }
    // updatedSince: only what changed at or after the time.
    let before = api
        .gql(
            &a.token,
            "{ digitalAssets(first: 100) { nodes { updatedAt } } }",
            json!({}),
        )
        .await;
    let newest = before.data()["digitalAssets"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["updatedAt"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    api.gql(
        &a.token,
        UPDATE,
        json!({"id": ids[3], "i": {"description": "changed"}}),
    )
    .await
    .data();
    let changed = api
        .gql(
            &a.token,
            "query($id: ID!) { digitalAsset(id: $id) { updatedAt } }",
            json!({"id": ids[3]}),
        )
        .await;
    let changed_at = changed.data()["digitalAsset"]["updatedAt"].clone();
    assert_eq!(
        names(&api, &a, json!({"updatedSince": changed_at})).await,
        set(&["analytics"])
    );
    assert!(
        names(&api, &a, json!({"updatedSince": newest}))
            .await
            .contains("analytics")
    );

    // Another organization's rows never match, by search or otherwise.
    assert_eq!(
        names(&api, &b, json!({"search": "crm"})).await,
        set(&["crmsystem"])
    );
    assert_eq!(names(&api, &b, json!({"search": "zürich"})).await, set(&[]));
    assert_eq!(names(&api, &b, json!({"ownerId": a.user})).await, set(&[]));

    // Refused with a code: too long a search, too many values, an unportable date.
    for filter in [
        json!({"search": "x".repeat(201)}),
        json!({"types": vec!["CRM"; 21]}),
        json!({"updatedSince": "0000-01-01T00:00:00Z"}),
    ] {
        let answer = api.gql(&a.token, PAGE, json!({"f": filter})).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    }
}

/// Pages through the whole list in `order` both ways, `size` at a time; every row once, in the
/// same order both ways, with page flags that tell the truth.
async fn walk(api: &Api, org: &Org, order: &Value, size: usize) -> Vec<Value> {
    let mut forward = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let answer = api
            .gql(
                &org.token,
                PAGE,
                json!({"o": order, "first": size, "after": after}),
            )
            .await;
        let list = answer.data()["digitalAssets"].clone();
        assert_eq!(
            list["pageInfo"]["hasPreviousPage"],
            pages > 0,
            "{order} forward page {pages}"
        );
        forward.extend(list["nodes"].as_array().unwrap().iter().cloned());
        pages += 1;
        if list["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = list["pageInfo"]["endCursor"].clone();
    }
    let mut backward = Vec::new();
    let mut before = Value::Null;
    let mut pages = 0;
    loop {
        let answer = api
            .gql(
                &org.token,
                PAGE,
                json!({"o": order, "last": size, "before": before}),
            )
            .await;
        let list = answer.data()["digitalAssets"].clone();
        assert_eq!(
            list["pageInfo"]["hasNextPage"],
            pages > 0,
            "{order} backward page {pages}"
        );
        let mut nodes = list["nodes"].as_array().unwrap().clone();
        nodes.extend(backward);
        backward = nodes;
        pages += 1;
        if list["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = list["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(forward, backward, "{order}: the same rows both ways");
    forward
}

async fn every_ordering_pages_both_ways(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let (a, _b, ids) = inventory(&api).await;
    // Changed in this order: updatedAt order is warehouse, zentrale, crmsystem, then the rest.
    for i in [1, 5, 0] {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        api.gql(
            &a.token,
            UPDATE,
            json!({"id": ids[i], "i": {"discoveredVia": "scan"}}),
        )
        .await
        .data();
    }
    let all = walk(&api, &a, &json!({}), 100).await;
    let key = |n: &Value, field: &str| n[field].as_str().unwrap().to_owned();
    for field in ["NAME", "CREATED_AT", "UPDATED_AT", "TYPE"] {
        let column = match field {
            "NAME" => "name",
            "CREATED_AT" => "createdAt",
            "UPDATED_AT" => "updatedAt",
            _ => "type",
        };
        let mut expected = all.clone();
        expected.sort_by_key(|n| (key(n, column), key(n, "id")));
        for direction in ["ASC", "DESC"] {
            if direction == "DESC" {
                expected.reverse();
            }
            let order = json!({"field": field, "direction": direction});
            for size in [1, 2, 4] {
                let got = walk(&api, &a, &order, size).await;
                let got_ids: Vec<&Value> = got.iter().map(|n| &n["id"]).collect();
                let want: Vec<&Value> = expected.iter().map(|n| &n["id"]).collect();
                assert_eq!(got_ids, want, "{order} by {size}");
            }
        }
    }
    let by_update: Vec<String> = walk(
        &api,
        &a,
        &json!({"field": "UPDATED_AT", "direction": "DESC"}),
        3,
    )
    .await
    .iter()
    .take(3)
    .map(|n| key(n, "name"))
    .collect();
    assert_eq!(by_update, ["crmsystem", "zentrale", "warehouse"]);
}

async fn a_cursor_is_valid_only_for_its_list(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let (a, b, _) = inventory(&api).await;
    let page = |vars: Value| {
        let api = &api;
        let token = a.token.clone();
        async move { api.gql(&token, PAGE, vars).await }
    };
    let first = page(json!({"first": 2})).await;
    let cursor = first.data()["digitalAssets"]["pageInfo"]["endCursor"].clone();
    // The same cursor works for its own list.
    page(json!({"first": 2, "after": cursor})).await.data();
    let misuse = [
        json!({"first": 2, "after": cursor, "o": {"field": "CREATED_AT"}}),
        json!({"first": 2, "after": cursor, "o": {"direction": "DESC"}}),
        json!({"first": 2, "after": cursor, "f": {"search": "a"}}),
        json!({"first": 2, "after": "bm90IGEgY3Vyc29y"}),
        json!({"first": 2, "after": "%%%"}),
        json!({"first": 2, "last": 2}),
        json!({"first": 2, "before": cursor}),
        json!({"before": cursor}),
        json!({"last": 0}),
        json!({"last": 101}),
    ];
    for vars in misuse {
        let answer = page(vars.clone()).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{vars}: {:#}", answer.body);
    }
    // Another organization's cursor shows nothing of a's: it pages b's own list.
    let answer = api
        .gql(&b.token, PAGE, json!({"first": 2, "after": cursor}))
        .await;
    let nodes = answer.data()["digitalAssets"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert!(nodes.iter().all(|n| n["name"] == "crmsystem"), "{nodes:?}");
}

on_both_backends!(
    each_filter_alone_and_combined,
    every_ordering_pages_both_ways,
    a_cursor_is_valid_only_for_its_list,
);

/// Every ordering reads a page from an index, with no sort (PostgreSQL's plan, sequential scans
/// disabled so that the few test rows do not make the planner prefer one).
#[tokio::test]
async fn every_ordering_and_the_search_are_served_by_an_index() {
    let Some((_db, conn)) = migrated(Backend::Postgres).await else {
        return;
    };
    exec(&conn, "SET enable_seqscan = off").await;
    for (column, index) in [
        ("name", "idx_digital_assets_org_name_id"),
        ("created_at", "idx_digital_assets_org_created_id"),
        ("updated_at", "idx_digital_assets_org_updated_id"),
        ("type", "idx_digital_assets_org_type_id"),
    ] {
        for direction in ["ASC", "DESC"] {
            let plan = strings(
                &conn,
                &format!(
                    "EXPLAIN SELECT id FROM digital_assets WHERE organization_id = 'o'
                     AND ({column}, id) > (SELECT {column}, id FROM digital_assets LIMIT 1)
                     ORDER BY {column} {direction}, id {direction} LIMIT 51"
                ),
            )
            .await
            .join("\n");
            assert!(plan.contains(index), "{column} {direction}:\n{plan}");
            assert!(!plan.contains("Sort"), "{column} {direction}:\n{plan}");
        }
    }
    // The search, on an organization of 50,000 assets of which a few match.
    exec(&conn, "RESET enable_seqscan").await;
    exec(
        &conn,
        "INSERT INTO organizations (id, name, slug) VALUES ('o', 'O', 'o')",
    )
    .await;
    exec(
        &conn,
        "INSERT INTO digital_assets (id, organization_id, name, type, description)
         SELECT 'a' || i, 'o', 'asset ' || i, 'API', CASE WHEN i % 1000 = 0 THEN 'our crm' ELSE 'plain' END
         FROM generate_series(1, 50000) i",
    )
    .await;
    // As autovacuum would: the GIN indexes' pending lists are merged, the statistics read.
    exec(&conn, "VACUUM ANALYZE digital_assets").await;
    let plan = strings(
        &conn,
        "EXPLAIN SELECT id FROM digital_assets WHERE organization_id = 'o'
         AND (name ILIKE '%crm%' OR description ILIKE '%crm%' OR url ILIKE '%crm%')",
    )
    .await
    .join("\n");
    for index in [
        "idx_digital_assets_name_trgm",
        "idx_digital_assets_description_trgm",
        "idx_digital_assets_url_trgm",
    ] {
        assert!(plan.contains(index), "{plan}");
    }
}
