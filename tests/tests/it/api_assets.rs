//! Digital assets through the API: create, read, list, update, delete, validation.

use serde_json::{Value, json};

use crate::support::*;

pub const ASSET: &str = "id organizationId name type description primaryHostingCountryId
    primaryHostingCountry { isoCode gdprStatus } url technicalOwnerId technicalOwner { id name }
    businessOwnerId businessOwner { id } containsPersonalData integrationStatus lastScannedAt
    discoveredVia metadata createdAt updatedAt
    processingLocations { id service countryId country { isoCode } locationRole purposeId
      purpose { name } purposeText transferMechanismId transferMechanism { code } isActive metadata }
    activities { id name }";

pub async fn create(api: &Api, org: &Org, input: Value) -> Answer {
    let query = format!(
        "mutation($input: CreateDigitalAssetInput!) {{ createDigitalAsset(input: $input) {{ {ASSET} }} }}"
    );
    api.gql(&org.token, &query, json!({"input": input})).await
}

/// Creates an asset, panicking on errors; returns its id.
pub async fn create_ok(api: &Api, org: &Org, input: Value) -> String {
    let answer = create(api, org, input).await;
    answer.data()["createDigitalAsset"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn get(api: &Api, org: &Org, id: &str) -> Value {
    let query = format!("query($id: ID!) {{ digitalAsset(id: $id) {{ {ASSET} }} }}");
    api.gql(&org.token, &query, json!({"id": id})).await.data()["digitalAsset"].clone()
}

pub async fn count(api: &Api, table: &str) -> i64 {
    let conn = api.db.connect().await;
    let n = scalar_i64(&conn, &format!("SELECT count(*) FROM {table}")).await;
    conn.close().await.ok();
    n
}

fn location(service: &str, country: &str) -> Value {
    json!({"service": service, "countryId": country, "locationRole": "HOSTING", "purposeText": "Hosting"})
}

async fn creating_without_locations_applies_the_defaults(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let answer = create(&api, &org, json!({"name": "  Salesforce  ", "type": "CRM"})).await;
    let asset = &answer.data()["createDigitalAsset"];
    assert_eq!(asset["name"], "Salesforce", "names are trimmed");
    assert_eq!(asset["type"], "CRM");
    assert_eq!(asset["organizationId"], org.id.as_str());
    assert_eq!(asset["containsPersonalData"], false);
    assert_eq!(asset["integrationStatus"], "NOT_INTEGRATED");
    assert_eq!(asset["processingLocations"], json!([]));
    assert_eq!(asset["activities"], json!([]));
    assert_eq!(asset["description"], Value::Null);
    let id = asset["id"].as_str().unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(id).unwrap().get_version_num(),
        7,
        "ids are UUIDv7"
    );
    assert!(asset["createdAt"].as_str().is_some_and(|t| t.len() >= 20));
}

async fn creating_with_locations_returns_them_with_their_relations(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let input = json!({
        "name": "Customer DB", "type": "DATABASE", "description": "Orders and invoices",
        "primaryHostingCountryId": "DE", "url": "https://db.example.com/admin",
        "technicalOwnerId": org.user, "businessOwnerId": org.user, "containsPersonalData": true,
        "integrationStatus": "CONNECTED", "lastScannedAt": "2025-11-01T10:00:00+00:00",
        "discoveredVia": "aws-scanner", "metadata": {"engine": "postgres", "tags": ["prod"]},
        "locations": [
            {"service": "AWS RDS eu-central-1", "countryId": "DE", "locationRole": "HOSTING", "purposeId": org.purpose},
            {"service": "Support desk", "countryId": "US", "locationRole": "PROCESSING",
             "purposeText": "Customer support", "transferMechanismId": "SCC", "metadata": {"ticket": 1}}
        ]
    });
    let id = create_ok(&api, &org, input).await;
    let asset = get(&api, &org, &id).await;
    assert_eq!(asset["primaryHostingCountry"]["isoCode"], "DE");
    assert_eq!(
        asset["primaryHostingCountry"]["gdprStatus"],
        json!(["EU", "EEA"])
    );
    assert_eq!(asset["technicalOwner"]["name"], "User a");
    assert_eq!(asset["businessOwner"]["id"], org.user.as_str());
    assert_eq!(asset["integrationStatus"], "CONNECTED");
    assert_eq!(
        asset["metadata"],
        json!({"engine": "postgres", "tags": ["prod"]})
    );
    assert!(
        asset["lastScannedAt"]
            .as_str()
            .unwrap()
            .starts_with("2025-11-01T10:00:00")
    );
    let locations = asset["processingLocations"].as_array().unwrap();
    assert_eq!(locations.len(), 2);
    assert_eq!(
        locations[0]["service"], "AWS RDS eu-central-1",
        "oldest first"
    );
    assert_eq!(locations[0]["purpose"]["name"], "Purpose a");
    assert_eq!(locations[0]["isActive"], true, "isActive defaults to true");
    assert_eq!(locations[1]["country"]["isoCode"], "US");
    assert_eq!(locations[1]["transferMechanism"]["code"], "SCC");
    assert_eq!(locations[1]["metadata"], json!({"ticket": 1}));
}

async fn a_bad_location_rolls_back_the_whole_create(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let input = json!({"name": "X", "type": "API", "locations": [location("ok", "DE"), location("bad", "ZZ")]});
    let answer = create(&api, &org, input).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["field"],
        "locations[1].countryId"
    );
    assert_eq!(count(&api, "digital_assets").await, 0);
    assert_eq!(count(&api, "asset_processing_locations").await, 0);
}

async fn every_validation_rule_answers_bad_user_input_and_writes_nothing(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let other = api.org("b").await;
    let base = |extra: Value| {
        let mut input = json!({"name": "Valid", "type": "API"});
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        input
    };
    let with_location = |loc: Value| base(json!({"locations": [loc]}));
    let cases: Vec<(&str, Value)> = vec![
        ("name", base(json!({"name": "   "}))),
        ("name", base(json!({"name": "x".repeat(256)}))),
        (
            "description",
            base(json!({"description": "d".repeat(2001)})),
        ),
        ("url", base(json!({"url": "ftp://example.com/file"}))),
        ("url", base(json!({"url": "example.com"}))),
        (
            "url",
            base(json!({"url": format!("https://example.com/{}", "p".repeat(2048))})),
        ),
        (
            "discoveredVia",
            base(json!({"discoveredVia": "v".repeat(101)})),
        ),
        ("metadata", base(json!({"metadata": [1, 2]}))),
        (
            "metadata",
            base(json!({"metadata": {"blob": "b".repeat(70 * 1024)}})),
        ),
        (
            "primaryHostingCountryId",
            base(json!({"primaryHostingCountryId": "XX"})),
        ),
        (
            "technicalOwnerId",
            base(json!({"technicalOwnerId": other.user})),
        ),
        (
            "businessOwnerId",
            base(json!({"businessOwnerId": "nobody"})),
        ),
        (
            "locations[0].service",
            with_location(
                json!({"service": " ", "countryId": "DE", "locationRole": "BOTH", "purposeText": "p"}),
            ),
        ),
        (
            "locations[0].service",
            with_location(
                json!({"service": "s".repeat(501), "countryId": "DE", "locationRole": "BOTH", "purposeText": "p"}),
            ),
        ),
        (
            "locations[0].purposeText",
            with_location(
                json!({"service": "s", "countryId": "DE", "locationRole": "BOTH", "purposeText": "p".repeat(501)}),
            ),
        ),
        (
            "locations[0].purposeId",
            with_location(json!({"service": "s", "countryId": "DE", "locationRole": "BOTH"})),
        ),
        (
            "locations[0].purposeId",
            with_location(
                json!({"service": "s", "countryId": "DE", "locationRole": "BOTH", "purposeId": other.purpose}),
            ),
        ),
        (
            "locations[0].transferMechanismId",
            with_location(
                json!({"service": "s", "countryId": "US", "locationRole": "BOTH", "purposeText": "p", "transferMechanismId": "NOPE"}),
            ),
        ),
        (
            "locations[0].metadata",
            with_location(
                json!({"service": "s", "countryId": "DE", "locationRole": "BOTH", "purposeText": "p", "metadata": "text"}),
            ),
        ),
    ];
    for (field, input) in cases {
        let answer = create(&api, &org, input).await;
        assert_eq!(
            answer.code(),
            "BAD_USER_INPUT",
            "{field}: {:#}",
            answer.body
        );
        assert_eq!(
            answer.body["errors"][0]["extensions"]["field"], field,
            "{:#}",
            answer.body
        );
        assert_eq!(answer.status, 200);
    }
    // Type errors are caught by GraphQL itself, and carry the same code.
    let answer = create(&api, &org, json!({"name": "x", "type": "SERVER"})).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    assert_eq!(count(&api, "digital_assets").await, 0);
    assert_eq!(count(&api, "asset_processing_locations").await, 0);
}

async fn text_with_quotes_sql_and_emoji_round_trips_unchanged(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let name = "O'Brien \"DB\"; DROP TABLE digital_assets; -- 🔐✨";
    let description =
        "Robert'); DELETE FROM organizations;--\n\ttabs \\ backslash ünïcödé 日本語 👩‍💻";
    let metadata = json!({"q": "' OR 1=1 --", "emoji": "🚀", "nested": {"a": [1, "two", null]}});
    let id = create_ok(
        &api,
        &org,
        json!({"name": name, "type": "OTHER", "description": description, "metadata": metadata}),
    )
    .await;
    let asset = get(&api, &org, &id).await;
    assert_eq!(asset["name"], name);
    assert_eq!(asset["description"], description);
    assert_eq!(asset["metadata"], metadata);
    assert_eq!(count(&api, "organizations").await, 1);
}

async fn listing_filters_orders_and_pages(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    for (name, t, personal, country) in [
        ("delta", "CRM", true, "DE"),
        ("alpha", "DATABASE", true, "FR"),
        ("echo", "DATABASE", false, "DE"),
        ("charlie", "API", false, "US"),
        ("bravo", "DATABASE", true, "DE"),
    ] {
        create_ok(&api, &org, json!({"name": name, "type": t, "containsPersonalData": personal, "primaryHostingCountryId": country})).await;
    }
    let list = |filter: Value, first: i64, after: Value| {
        let api = &api;
        let token = org.token.clone();
        async move {
            api.gql(
                &token,
                "query($f: DigitalAssetFilter, $first: Int, $after: String) { digitalAssets(filter: $f, first: $first, after: $after) {
                    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
                    edges { cursor node { name } } nodes { name } } }",
                json!({"f": filter, "first": first, "after": after}),
            )
            .await
        }
    };
    let names = |a: &Answer| -> Vec<String> {
        a.data()["digitalAssets"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = list(Value::Null, 50, Value::Null).await;
    assert_eq!(names(&all), ["alpha", "bravo", "charlie", "delta", "echo"]);
    assert_eq!(all.data()["digitalAssets"]["totalCount"], 5);
    assert_eq!(
        names(&list(json!({"type": "DATABASE"}), 50, Value::Null).await),
        ["alpha", "bravo", "echo"]
    );
    assert_eq!(
        names(&list(json!({"containsPersonalData": false}), 50, Value::Null).await),
        ["charlie", "echo"]
    );
    assert_eq!(
        names(&list(json!({"primaryHostingCountryId": "DE"}), 50, Value::Null).await),
        ["bravo", "delta", "echo"]
    );
    assert_eq!(
        names(&list(json!({"type": "DATABASE", "containsPersonalData": true, "primaryHostingCountryId": "DE"}), 50, Value::Null).await),
        ["bravo"]
    );

    // Pages of two: alpha bravo | charlie delta | echo.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let page = list(Value::Null, 2, after.clone()).await;
        let conn = &page.data()["digitalAssets"];
        assert_eq!(conn["totalCount"], 5, "totalCount counts every page");
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], pages > 0);
        assert_eq!(conn["edges"][0]["cursor"], conn["pageInfo"]["startCursor"]);
        seen.extend(names(&page));
        pages += 1;
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);

    for first in [0, 101, -1] {
        let answer = list(Value::Null, first, Value::Null).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "first = {first}");
    }
    let answer = list(Value::Null, 2, json!("not-a-cursor")).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    assert_eq!(answer.body["errors"][0]["extensions"]["field"], "after");
}

async fn updating_keeps_absent_fields_and_clears_explicit_nulls(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let id = create_ok(&api, &org, json!({
        "name": "Wiki", "type": "APPLICATION", "description": "Docs", "url": "https://wiki.example.com",
        "primaryHostingCountryId": "DE", "metadata": {"a": 1}, "technicalOwnerId": org.user
    }))
    .await;
    let before = get(&api, &org, &id).await;
    let update = |input: Value| {
        let (api, token, id) = (&api, org.token.clone(), id.clone());
        async move {
            let query = format!(
                "mutation($id: ID!, $input: UpdateDigitalAssetInput!) {{ updateDigitalAsset(id: $id, input: $input) {{ {ASSET} }} }}"
            );
            api.gql(&token, &query, json!({"id": id, "input": input}))
                .await
        }
    };
    let answer = update(
        json!({"description": null, "url": null, "metadata": null, "containsPersonalData": true}),
    )
    .await;
    let after = &answer.data()["updateDigitalAsset"];
    assert_eq!(after["description"], Value::Null);
    assert_eq!(after["url"], Value::Null);
    assert_eq!(after["metadata"], Value::Null);
    assert_eq!(after["containsPersonalData"], true);
    assert_eq!(after["name"], "Wiki", "absent fields are kept");
    assert_eq!(after["primaryHostingCountryId"], "DE");
    assert_eq!(after["technicalOwnerId"], org.user.as_str());
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert_ne!(after["updatedAt"], before["updatedAt"]);

    let answer = update(
        json!({"name": "  Team wiki ", "type": "FILE_STORAGE", "primaryHostingCountryId": null}),
    )
    .await;
    assert_eq!(answer.data()["updateDigitalAsset"]["name"], "Team wiki");
    assert_eq!(answer.data()["updateDigitalAsset"]["type"], "FILE_STORAGE");
    assert_eq!(
        answer.data()["updateDigitalAsset"]["primaryHostingCountryId"],
        Value::Null
    );

    for (input, field) in [
        (json!({"name": null}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"url": "mailto:x@example.com"}), "url"),
        (json!({"technicalOwnerId": "ghost"}), "technicalOwnerId"),
        (
            json!({"containsPersonalData": null}),
            "containsPersonalData",
        ),
    ] {
        let answer = update(input).await;
        assert_eq!(
            answer.code(),
            "BAD_USER_INPUT",
            "{field}: {:#}",
            answer.body
        );
        assert_eq!(answer.body["errors"][0]["extensions"]["field"], field);
    }
    assert_eq!(
        get(&api, &org, &id).await["name"],
        "Team wiki",
        "a refused update changes nothing"
    );

    let query = "mutation { updateDigitalAsset(id: \"nope\", input: {name: \"x\"}) { id } }";
    assert_eq!(
        api.gql(&org.token, query, Value::Null).await.code(),
        "NOT_FOUND"
    );
}

async fn deleting_cascades_locations_and_is_refused_while_linked(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let lone = create_ok(&api, &org, json!({"name": "Lone", "type": "API", "locations": [location("a", "DE"), location("b", "FR")]})).await;
    let linked = create_ok(
        &api,
        &org,
        json!({"name": "Linked", "type": "API", "locations": [location("c", "DE")]}),
    )
    .await;
    for act in &org.activities {
        let q = "mutation($a: ID!, $d: ID!) { linkAssetToActivity(activityId: $a, digitalAssetId: $d) }";
        api.gql(&org.token, q, json!({"a": act, "d": linked}))
            .await
            .data();
    }
    let delete = |id: String| {
        let (api, token) = (&api, org.token.clone());
        async move {
            api.gql(
                &token,
                "mutation($id: ID!) { deleteDigitalAsset(id: $id) { id name } }",
                json!({"id": id}),
            )
            .await
        }
    };
    let answer = delete(lone.clone()).await;
    assert_eq!(answer.data()["deleteDigitalAsset"]["name"], "Lone");
    assert_eq!(
        count(&api, "asset_processing_locations").await,
        1,
        "its locations went with it"
    );
    assert_eq!(get(&api, &org, &lone).await, Value::Null);

    let answer = delete(linked.clone()).await;
    assert_eq!(answer.code(), "CONFLICT", "{:#}", answer.body);
    assert!(
        answer
            .message()
            .contains("linked to 2 data-processing activities"),
        "{}",
        answer.message()
    );
    assert_eq!(count(&api, "digital_assets").await, 1);
    assert_eq!(count(&api, "asset_processing_locations").await, 1);

    assert_eq!(delete("nope".into()).await.code(), "NOT_FOUND");
}

on_both_backends!(
    creating_without_locations_applies_the_defaults,
    creating_with_locations_returns_them_with_their_relations,
    a_bad_location_rolls_back_the_whole_create,
    every_validation_rule_answers_bad_user_input_and_writes_nothing,
    text_with_quotes_sql_and_emoji_round_trips_unchanged,
    listing_filters_orders_and_pages,
    updating_keeps_absent_fields_and_clears_explicit_nulls,
    deleting_cascades_locations_and_is_refused_while_linked,
);
