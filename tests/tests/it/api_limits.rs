//! What one request may cost and what it may store: query cost and the response budget, JSON
//! nesting, NUL bytes, list sizes, unknown organizations, and the codes of client and server
//! errors. Each of these was an attack that worked.

use serde_json::{Value, json};

use crate::api_assets::{count, create, create_ok};
use crate::api_graphql_http::urlencode;
use crate::support::*;

/// `{"a":{"a":…{"a":1}…}}` nested `depth` levels, as a GraphQL literal.
fn nested_literal(depth: usize) -> String {
    let mut value = String::from("1");
    for _ in 0..depth {
        value = format!("{{a: {value}}}");
    }
    value
}

/// Inserts `n` locations of `asset` in Germany (PostgreSQL only: generate_series).
async fn many_locations(api: &Api, org: &Org, asset: &str, n: usize) {
    let conn = api.db.connect().await;
    exec(
        &conn,
        &format!(
            "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, \
             purpose_text, country_id, location_role) SELECT 'loc-' || g, '{}', '{asset}', \
             'service ' || g, 'p', 'DE', 'HOSTING' FROM generate_series(1, {n}) g",
            org.id
        ),
    )
    .await;
    conn.close().await.ok();
}

#[tokio::test]
async fn a_response_past_its_budget_stops_with_a_code_and_memory_stays_flat() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let other = api.org("b").await;
    let asset = create_ok(&api, &org, json!({"name": "Big", "type": "DATABASE"})).await;
    many_locations(&api, &org, &asset, 40_000).await;
    let (idle_rss, _) = api.memory_kib();

    // One list whose rows the document cannot show: 40,000 locations of one asset.
    let query = "{ digitalAssets(first: 1) { nodes { processingLocations { service country { name isoCode } } } } }";
    let answer = api.gql(&org.token, query, Value::Null).await;
    assert_eq!(answer.code(), "RESPONSE_TOO_LARGE", "{:#}", answer.body);
    assert!(
        answer.message().contains("RESPONSE_BUDGET"),
        "says how to raise it: {}",
        answer.message()
    );
    assert_eq!(
        answer.body["errors"].as_array().unwrap().len(),
        1,
        "one error, not one per field"
    );
    assert_eq!(answer.body["data"], Value::Null);
    let (_, peak) = api.memory_kib();
    assert!(
        peak < idle_rss + 64 * 1024,
        "peak RSS {peak} KiB vs {idle_rss} KiB idle"
    );

    // Another tenant is served.
    let answer = api
        .gql(
            &other.token,
            "{ digitalAssets { totalCount } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.data()["digitalAssets"]["totalCount"], 0);
    // The same query on a small list is served.
    let small = create_ok(
        &api,
        &other,
        json!({"name": "Small", "type": "API", "locations": [
        {"service": "s", "countryId": "FR", "locationRole": "HOSTING", "purposeText": "p"}]}),
    )
    .await;
    let answer = api.gql(&other.token, query, Value::Null).await;
    assert_eq!(
        answer.data()["digitalAssets"]["nodes"][0]["processingLocations"][0]["country"]["isoCode"],
        "FR",
        "{small}"
    );
}

#[tokio::test]
async fn the_cost_of_a_query_multiplies_by_its_list_sizes_and_aliases() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let alias = |i: usize| {
        format!(
            "a{i}: digitalAssets(first: 100) {{ nodes {{ processingLocations {{ country {{ name }} }} }} }}"
        )
    };
    // The organization is checked by the first request (then remembered).
    api.gql(
        &org.token,
        "{ dataProcessingActivities { id } }",
        Value::Null,
    )
    .await
    .data();
    // 60 aliases of a page of 100 assets with their locations: refused before it runs.
    let query = format!("{{ {} }}", (0..60).map(alias).collect::<Vec<_>>().join(" "));
    let before = api.statements().await;
    let answer = api.gql(&org.token, &query, Value::Null).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    assert!(answer.message().contains("complex"), "{}", answer.message());
    assert_eq!(api.statements().await, before, "nothing ran");
    // Fragments count like inline selections.
    let query = format!(
        "{{ {} }} fragment L on DigitalAsset {{ processingLocations {{ country {{ name }} }} }}",
        (0..60)
            .map(|i| format!("a{i}: digitalAssets(first: 100) {{ nodes {{ ...L }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(
        api.gql(&org.token, &query, Value::Null).await.code(),
        "BAD_USER_INPUT"
    );
    // An ordinary page is well inside the limit.
    let query = "{ digitalAssets(first: 100) { totalCount nodes { id name type primaryHostingCountry { name }
        technicalOwner { name } processingLocations { service country { isoCode name } transferMechanism { code }
        purpose { name } } activities { name } } } }";
    api.gql(&org.token, query, Value::Null).await.data();
}

#[tokio::test]
async fn metadata_nested_deeper_than_32_levels_is_refused_on_every_write_path() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let id = create_ok(
        &api,
        &org,
        json!({"name": "A", "type": "API", "locations": [
        {"service": "s", "countryId": "DE", "locationRole": "HOSTING", "purposeText": "p"}]}),
    )
    .await;
    let location = api
        .gql(
            &org.token,
            "query($id: ID!) { assetProcessingLocations(digitalAssetId: $id) { id } }",
            json!({"id": id}),
        )
        .await
        .data()["assetProcessingLocations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let loc = |meta: &str| {
        format!(
            "{{service: \"s\", countryId: \"DE\", locationRole: HOSTING, purposeText: \"p\", metadata: {meta}}}"
        )
    };
    for depth in [33, 130] {
        let meta = nested_literal(depth);
        let writes = [
            format!(
                "mutation {{ createDigitalAsset(input: {{name: \"B\", type: API, metadata: {meta}}}) {{ id }} }}"
            ),
            format!(
                "mutation {{ createDigitalAsset(input: {{name: \"B\", type: API, locations: [{}]}}) {{ id }} }}",
                loc(&meta)
            ),
            format!(
                "mutation {{ updateDigitalAsset(id: \"{id}\", input: {{metadata: {meta}}}) {{ id }} }}"
            ),
            format!(
                "mutation {{ addAssetProcessingLocations(digitalAssetId: \"{id}\", locations: [{}]) {{ id }} }}",
                loc(&meta)
            ),
            format!(
                "mutation {{ updateAssetProcessingLocation(id: \"{location}\", input: {{metadata: {meta}}}) {{ id }} }}"
            ),
        ];
        for write in &writes {
            let answer = api.gql(&org.token, write, Value::Null).await;
            assert_eq!(
                answer.code(),
                "BAD_USER_INPUT",
                "depth {depth}: {:#}",
                answer.body
            );
            let field = answer.body["errors"][0]["extensions"]["field"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert!(field.ends_with("metadata"), "{field}");
            assert!(answer.message().contains("32"), "{}", answer.message());
        }
    }
    assert_eq!(count(&api, "digital_assets").await, 1, "nothing written");
    assert_eq!(count(&api, "asset_processing_locations").await, 1);
    // What is accepted reads back: 32 levels, on an asset and a location.
    let meta = nested_literal(32);
    let answer = api
        .gql(
            &org.token,
            &format!(
                "mutation {{ updateDigitalAsset(id: \"{id}\", input: {{metadata: {meta}}}) {{ id }} }}"
            ),
            Value::Null,
        )
        .await;
    answer.data();
    let answer = api
        .gql(
            &org.token,
            "{ digitalAssets { nodes { metadata processingLocations { metadata } } } }",
            Value::Null,
        )
        .await;
    let mut value = &answer.data()["digitalAssets"]["nodes"][0]["metadata"];
    for _ in 0..32 {
        value = &value["a"];
    }
    assert_eq!(value, &json!(1));
}

#[tokio::test]
/// Fields are named as validation names them: inside the `input` argument by their path in
/// it, other arguments by their own name.
async fn nul_bytes_anywhere_are_bad_user_input_naming_the_field() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let id = create_ok(&api, &org, json!({"name": "A", "type": "API"})).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "query($id: ID!) { digitalAsset(id: $id) { id } }",
            json!({"id": "a\u{0}b"}),
            "id",
        ),
        (
            r#"{ digitalAsset(id: "a\u0000b") { id } }"#,
            Value::Null,
            "id",
        ),
        (
            r#"{ digitalAssets(filter: {primaryHostingCountryId: "D\u0000E"}) { totalCount } }"#,
            Value::Null,
            "filter.primaryHostingCountryId",
        ),
        (
            "mutation($input: CreateDigitalAssetInput!) { createDigitalAsset(input: $input) { id } }",
            json!({"input": {"name": "x\u{0}y", "type": "API"}}),
            "name",
        ),
        (
            "mutation($input: CreateDigitalAssetInput!) { createDigitalAsset(input: $input) { id } }",
            json!({"input": {"name": "ok", "type": "API", "metadata": {"k\u{0}": 1}}}),
            "metadata",
        ),
        (
            "mutation($input: CreateDigitalAssetInput!) { createDigitalAsset(input: $input) { id } }",
            json!({"input": {"name": "ok", "type": "API", "locations": [
                {"service": "s\u{0}", "countryId": "DE", "locationRole": "HOSTING", "purposeText": "p"}]}}),
            "locations[0].service",
        ),
        (
            "mutation($id: ID!) { updateDigitalAsset(id: $id, input: {description: \"a\\u0000\"}) { id } }",
            json!({"id": id}),
            "description",
        ),
    ];
    for (query, variables, field) in cases {
        let answer = api.gql(&org.token, query, variables).await;
        assert_eq!(
            answer.code(),
            "BAD_USER_INPUT",
            "{query}: {:#}",
            answer.body
        );
        assert_eq!(
            answer.body["errors"][0]["extensions"]["field"], field,
            "{query}: {:#}",
            answer.body
        );
    }
    assert_eq!(count(&api, "digital_assets").await, 1, "nothing written");
    assert_eq!(
        crate::api_assets::get(&api, &org, &id).await["description"],
        Value::Null
    );
}

#[tokio::test]
async fn list_arguments_have_documented_maximums() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let id = create_ok(&api, &org, json!({"name": "A", "type": "API"})).await;
    let ids: Vec<String> = (0..40_000).map(|i| format!("x{i}")).collect();
    let answer = api
        .gql(
            &org.token,
            "mutation($a: ID!, $ids: [ID!]!) { syncActivityAssets(activityId: $a, digitalAssetIds: $ids) { id } }",
            json!({"a": org.activities[0], "ids": ids}),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    assert_eq!(
        answer.body["errors"][0]["extensions"]["field"],
        "digitalAssetIds"
    );
    assert!(answer.message().contains("1000"), "{}", answer.message());

    let location =
        json!({"service": "s", "countryId": "DE", "locationRole": "HOSTING", "purposeText": "p"});
    let many = vec![location; 101];
    let answer = api
        .gql(
            &org.token,
            "mutation($id: ID!, $l: [AssetProcessingLocationInput!]!) { addAssetProcessingLocations(digitalAssetId: $id, locations: $l) { id } }",
            json!({"id": id, "l": many}),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    assert_eq!(answer.body["errors"][0]["extensions"]["field"], "locations");
    let answer = create(
        &api,
        &org,
        json!({"name": "B", "type": "API", "locations": many}),
    )
    .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    assert_eq!(answer.body["errors"][0]["extensions"]["field"], "locations");
    assert_eq!(count(&api, "asset_processing_locations").await, 0);
}

#[tokio::test]
async fn a_token_for_an_unknown_organization_is_told_so_and_known_ones_cost_no_extra_statement() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let ghost = token_for(SECRET, "org-that-does-not-exist", "user-x");
    for query in [
        "{ digitalAssets { totalCount } }",
        "mutation { createDigitalAsset(input: {name: \"A\", type: API}) { id } }",
    ] {
        let answer = api.gql(&ghost, query, Value::Null).await;
        assert_eq!(answer.status, 401, "{:#}", answer.body);
        assert_eq!(answer.code(), "UNAUTHENTICATED");
        assert!(
            answer.message().contains("org-that-does-not-exist")
                && answer.message().contains("organization"),
            "{}",
            answer.message()
        );
    }
    let query = "{ dataProcessingActivities { id } }";
    api.gql(&org.token, query, Value::Null).await.data();
    let before = api.statements().await;
    for _ in 0..5 {
        api.gql(&org.token, query, Value::Null).await.data();
    }
    assert_eq!(
        api.statements().await - before,
        5,
        "one statement a request"
    );
}

#[tokio::test]
async fn malformed_tokens_are_told_what_is_wrong() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let sign = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let cases = [
        ("not.a.token".to_owned(), "base64"),
        ("onlyonepart".to_owned(), "three"),
        (sign(json!({"sub": "u", "exp": exp})), "`org_id`"),
        (
            sign(json!({"sub": "u", "org_id": 7, "exp": exp})),
            "`org_id`",
        ),
        (sign(json!({"org_id": "o", "exp": exp})), "`sub`"),
    ];
    for (token, says) in cases {
        let answer = api
            .post_raw(
                &[
                    ("authorization", &format!("Bearer {token}")),
                    ("content-type", "application/json"),
                ],
                r#"{"query": "{ dataProcessingActivities { id } }"}"#,
            )
            .await;
        assert_eq!(answer.code(), "UNAUTHENTICATED");
        assert!(
            answer.message().contains(says),
            "{token}: `{}` should mention {says}",
            answer.message()
        );
    }
}

async fn raw_response(api: &Api, token: &str, query: &str) -> String {
    reqwest::Client::new()
        .post(format!("{}/graphql", api.base))
        .bearer_auth(token)
        .json(&json!({"query": query}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn response_fields_follow_the_order_of_the_query() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    create_ok(
        &api,
        &org,
        json!({"name": "A", "type": "API", "url": "https://a.example"}),
    )
    .await;
    let text = raw_response(
        &api,
        &org.token,
        "{ zz: digitalAssets { totalCount nodes { url type name id } pageInfo { hasNextPage } } aa: dataProcessingActivities { name id } }",
    )
    .await;
    let position = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle} in {text}"))
    };
    let order = [
        "\"zz\"",
        "\"totalCount\"",
        "\"url\"",
        "\"type\"",
        "\"name\"",
        "\"id\"",
        "\"pageInfo\"",
        "\"aa\"",
    ];
    for pair in order.windows(2) {
        assert!(position(pair[0]) < position(pair[1]), "{pair:?} in {text}");
    }
}

#[tokio::test]
async fn locations_of_an_unknown_or_foreign_asset_are_not_found_like_its_activities() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let other = api.org("b").await;
    let theirs = create_ok(&api, &other, json!({"name": "T", "type": "API"})).await;
    for id in [theirs.as_str(), "nope"] {
        for query in [
            "query($id: ID!) { assetProcessingLocations(digitalAssetId: $id) { id } }",
            "query($id: ID!) { activitiesForAsset(digitalAssetId: $id) { id } }",
        ] {
            let answer = api.gql(&org.token, query, json!({"id": id})).await;
            assert_eq!(
                answer.code(),
                "NOT_FOUND",
                "{query} {id}: {:#}",
                answer.body
            );
            assert_eq!(answer.message(), "digital asset not found");
        }
    }
}

#[tokio::test]
async fn large_documents_are_read_only_when_asked_and_counted_by_size() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let asset = create_ok(&api, &org, json!({"name": "Big", "type": "DATABASE"})).await;
    let conn = api.db.connect().await;
    // 2,000 locations each carrying a 32 KB document: 64 MB in the database.
    exec(
        &conn,
        &format!(
            "INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, \
             purpose_text, country_id, location_role, metadata) SELECT 'loc-' || g, '{}', '{asset}', \
             's' || g, 'p', 'DE', 'HOSTING', jsonb_build_object('blob', repeat('x', 32000)) \
             FROM generate_series(1, 2000) g",
            org.id
        ),
    )
    .await;
    conn.close().await.ok();
    let (idle, _) = api.memory_kib();
    let ids = "query($id: ID!) { digitalAsset(id: $id) { processingLocations { id service } } }";
    let answer = api.gql(&org.token, ids, json!({"id": asset})).await;
    assert_eq!(
        answer.data()["digitalAsset"]["processingLocations"]
            .as_array()
            .unwrap()
            .len(),
        2000
    );
    let with = "query($id: ID!) { digitalAsset(id: $id) { processingLocations { id metadata } } }";
    let answer = api.gql(&org.token, with, json!({"id": asset})).await;
    assert_eq!(answer.code(), "RESPONSE_TOO_LARGE", "{:#}", answer.body);
    let (_, peak) = api.memory_kib();
    assert!(peak < idle + 64 * 1024, "peak {peak} KiB, idle {idle} KiB");
}

#[tokio::test]
async fn huge_documents_of_aliases_and_aliased_introspection_are_refused_before_validation() {
    let Some(api) = Api::start(Backend::Sqlite).await else {
        return;
    };
    let org = api.org("a").await;
    let aliases = format!(
        "{{ {} }}",
        (0..3000)
            .map(|i| format!("a{i}: __typename"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let answer = api.gql(&org.token, &aliases, Value::Null).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    assert!(
        answer.message().contains("2000 fields"),
        "{}",
        answer.message()
    );
    let fan = "fragment F on __Type { f0: fields { name } f1: fields { name } } { __schema { types { ...F } } }";
    let answer = api.gql(&org.token, fan, Value::Null).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    assert!(answer.message().contains("aliased"), "{}", answer.message());
}

#[tokio::test]
async fn numbers_and_dates_that_cannot_be_read_back_are_refused() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let answer = api
        .gql(
            &org.token,
            "mutation { createDigitalAsset(input: {name: \"n\", type: OTHER, metadata: {f: 1.7976931348623157e308}}) { id } }",
            Value::Null,
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
    assert_eq!(answer.body["errors"][0]["extensions"]["field"], "metadata");
    // The last second of year 9999, a leap second, is year 10000 once stored.
    for at in ["-5000-01-01T00:00:00Z", "9999-12-31T23:59:60Z"] {
        let answer = api
            .gql(
                &org.token,
                &format!("mutation {{ createDigitalAsset(input: {{name: \"n\", type: OTHER, lastScannedAt: \"{at}\"}}) {{ id }} }}"),
                Value::Null,
            )
            .await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{at}: {:#}", answer.body);
    }
    assert_eq!(count(&api, "digital_assets").await, 0);
    let answer = api
        .post_raw(
            &[
                ("authorization", &format!("Bearer {}", org.token)),
                ("content-type", "application/json"),
            ],
            r#"{"query": "query A { __typename } query B { __typename }", "operationName": "C"}"#,
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
}

/// Metadata documents are charged by their stored size before they are read: a page of large
/// documents (arrays of small numbers, ~30 times their text once parsed) is refused with peak
/// RSS flat, instead of being parsed first.
async fn large_metadata_documents_are_charged_before_they_are_read(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let zeros = vec![0; 32_000];
    for i in 0..60 {
        create_ok(
            &api,
            &org,
            json!({"name": format!("doc {i:02}"), "type": "API", "metadata": {"a": zeros}}),
        )
        .await;
    }
    let (_, before) = api.memory_kib();
    let answer = api
        .gql(
            &org.token,
            "{ a: digitalAssets(first: 100) { nodes { metadata } } b: digitalAssets(first: 100) { nodes { metadata } } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.code(), "RESPONSE_TOO_LARGE", "{}", answer.message());
    let (_, after) = api.memory_kib();
    let grown = after.saturating_sub(before) / 1024;
    assert!(grown < 64, "peak RSS grew by {grown} MiB");
    // Small documents are read as before.
    let answer = api
        .gql(
            &org.token,
            "{ digitalAssets(first: 3) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.data()["digitalAssets"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

on_both_backends!(large_metadata_documents_are_charged_before_they_are_read);

/// Documents whose shape made the parser, the answer's field order or the executor recurse or
/// expand without bound: each ended the whole process (a stack overflow, or memory past any
/// cap) for every tenant. Each is now the client's error, and the server goes on answering.
#[tokio::test]
async fn documents_that_recurse_or_fan_out_without_bound_are_refused_and_the_server_lives() {
    let Some(api) = Api::start(Backend::Sqlite).await else {
        return;
    };
    let org = api.org("a").await;
    // `{root} fragment P0 { ...P1 } … fragment P{links} { __typename }`.
    let chain = |root: &str, prefix: &str, links: usize| {
        let mut q = format!("{root} ");
        for i in 0..links {
            q += &format!("fragment {prefix}{i} on Query {{ ...{prefix}{} }} ", i + 1);
        }
        q + &format!("fragment {prefix}{links} on Query {{ __typename }}")
    };
    let fan_out = {
        let mut q = String::from("{ ...F7 } fragment F0 on Query { __typename } ");
        for l in 1..=7 {
            let spreads = format!("...F{} ", l - 1).repeat(10);
            q += &format!("fragment F{l} on Query {{ {spreads}}} ");
        }
        q
    };
    let tower = {
        let mut q = String::from("{ ...T28 } fragment T0 on Query { ...nope } ");
        for l in 1..=28 {
            q += &format!("fragment T{l} on Query {{ ...T{0} ...T{0} }} ", l - 1);
        }
        q
    };
    let documents = [
        (
            "a fragment spreading itself",
            "{ ...F } fragment F on Query { ...F }".to_owned(),
            "spreads itself",
        ),
        (
            "a chain of 30,000 fragments",
            chain("{ ...F0 }", "F", 30_000),
            "levels deep",
        ),
        (
            "a list nested 2,000 levels",
            format!(
                "{{ digitalAssets(filter: {{types: {}CRM{}}}) {{ totalCount }} }}",
                "[".repeat(2000),
                "]".repeat(2000)
            ),
            "levels deep",
        ),
        (
            "an input object nested 2,000 levels",
            format!(
                "{{ digitalAssets(filter: {}{}) {{ totalCount }} }}",
                "{search: ".repeat(2000),
                "}".repeat(2000)
            ),
            "levels deep",
        ),
        (
            "ten million __typename through fragments",
            fan_out,
            "expanded",
        ),
        (
            "a chain of 10,000 fragments no operation uses",
            chain("{ __typename }", "U", 10_000),
            "levels deep",
        ),
        (
            "2^28 spreads of fragments expanding to nothing",
            tower,
            "expanded",
        ),
        (
            "a list nested 3,000 levels behind an unclosed block string",
            format!(
                "{{ a(x: [\"\"\"x\", {}1{}]) }}",
                "[".repeat(3000),
                "]".repeat(3000)
            ),
            "levels deep",
        ),
    ];
    for (what, query, says) in documents {
        let answer = api.gql(&org.token, &query, Value::Null).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{what}: {:#}", answer.body);
        assert!(
            answer.message().contains(says),
            "{what}: {}",
            answer.message()
        );
        let (status, _) = api.get("/healthz").await;
        assert_eq!(status, 200, "{what}: the server must still be up");
    }
    // A query by GET is parsed first to see whether it is a mutation: bounded the same way.
    let deep = format!("{{ a(x: {}1{}) }}", "[".repeat(2000), "]".repeat(2000));
    let path = format!("/graphql?query={}", urlencode(&deep));
    let (status, _, body) = api.get_with_token(&org.token, &path).await;
    assert!(body.contains("BAD_USER_INPUT"), "a GET: {status} {body}");
    let (status, _) = api.get("/healthz").await;
    assert_eq!(status, 200, "a GET: the server must still be up");
    let answer = api
        .gql(&org.token, "{ digitalAssets { totalCount } }", Value::Null)
        .await;
    assert_eq!(answer.data()["digitalAssets"]["totalCount"], 0);
}

/// Variables left out or of the wrong shape are found by async-graphql as the field runs; they
/// are the client's mistakes, not server faults.
#[tokio::test]
async fn missing_and_misshapen_variables_are_bad_user_input() {
    let Some(api) = Api::start(Backend::Sqlite).await else {
        return;
    };
    let org = api.org("a").await;
    let cases = [
        (
            "query($id: ID!) { digitalAsset(id: $id) { id } }",
            json!({}),
        ),
        (
            "mutation($i: CreateDigitalAssetInput!) { createDigitalAsset(input: $i) { id } }",
            json!({"i": "abc"}),
        ),
        (
            "mutation($id: ID!, $d: DateTime) { updateDigitalAsset(id: $id, input: {lastScannedAt: $d}) { id } }",
            json!({"id": "x", "d": 12345}),
        ),
    ];
    for (query, variables) in cases {
        let answer = api.gql(&org.token, query, variables).await;
        assert_eq!(
            answer.code(),
            "BAD_USER_INPUT",
            "{query}: {:#}",
            answer.body
        );
    }
}

/// Each root field reads on its own: an operation may select 100 of them, however they are
/// written (aliases, fragments spread many times).
#[tokio::test]
async fn an_operation_selects_at_most_100_root_fields() {
    let Some(api) = Api::start(Backend::Sqlite).await else {
        return;
    };
    let org = api.org("a").await;
    let totals = |n: usize| {
        (0..n)
            .map(|i| format!("c{i}: digitalAssets(first: 1) {{ totalCount }} "))
            .collect::<String>()
    };
    let answer = api
        .gql(&org.token, &format!("{{ {} }}", totals(100)), Value::Null)
        .await;
    assert!(answer.body["errors"].is_null(), "{:#}", answer.body);
    let fanned = format!(
        "{{ ...X }} fragment X on Query {{ {} }} fragment E on Query {{ {} }}",
        "...E ".repeat(900),
        totals(10)
    );
    for query in [format!("{{ {} }}", totals(101)), fanned] {
        let answer = api.gql(&org.token, &query, Value::Null).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#}", answer.body);
        assert!(
            answer.message().contains("root fields"),
            "{}",
            answer.message()
        );
    }
}
