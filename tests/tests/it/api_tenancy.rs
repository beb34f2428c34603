//! Tenant isolation: another organization using the first one's ids sees nothing, changes
//! nothing, and is never told the ids exist.

use serde_json::{Value, json};

use crate::api_assets::create_ok;
use crate::support::*;

/// Every row of the tenant-owned tables, as text: equal before and after means nothing changed.
async fn snapshot(api: &Api) -> Vec<String> {
    let conn = api.db.connect().await;
    let mut rows = Vec::new();
    for sql in [
        "SELECT id || '|' || name || '|' || CAST(updated_at AS TEXT) FROM digital_assets ORDER BY id",
        "SELECT id || '|' || service || '|' || CAST(is_active AS TEXT) || '|' || CAST(updated_at AS TEXT) FROM asset_processing_locations ORDER BY id",
        "SELECT activity_id || '|' || digital_asset_id FROM data_processing_activity_digital_assets ORDER BY 1",
    ] {
        rows.extend(strings(&conn, sql).await);
    }
    conn.close().await.ok();
    rows
}

async fn another_organization_cannot_see_or_change_anything(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let a = api.org("a").await;
    let b = api.org("b").await;
    let asset = create_ok(
        &api,
        &a,
        json!({"name": "Secret", "type": "CRM", "locations": [
            {"service": "s", "countryId": "DE", "locationRole": "HOSTING", "purposeId": a.purpose}
        ]}),
    )
    .await;
    let b_asset = create_ok(&api, &b, json!({"name": "Mine", "type": "API"})).await;
    let location: String = {
        let q = "query($id: ID!) { digitalAsset(id: $id) { processingLocations { id } } }";
        let answer = api.gql(&a.token, q, json!({"id": asset})).await;
        answer.data()["digitalAsset"]["processingLocations"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let link =
        "mutation($a: ID!, $d: ID!) { linkAssetToActivity(activityId: $a, digitalAssetId: $d) }";
    api.gql(&a.token, link, json!({"a": a.activities[0], "d": asset}))
        .await
        .data();
    let before = snapshot(&api).await;

    let (act, b_act) = (&a.activities[0], &b.activities[0]);
    let empty_or_null: Vec<(&str, Value, Value)> = vec![
        (
            "query($id: ID!) { digitalAsset(id: $id) { id } }",
            json!({"id": asset}),
            json!({"digitalAsset": null}),
        ),
        (
            "{ digitalAssets { totalCount nodes { id } } }",
            Value::Null,
            json!({"digitalAssets": {"totalCount": 1, "nodes": [{"id": b_asset}]}}),
        ),
        (
            "{ locationsByCountry(countryId: \"DE\") { id } }",
            Value::Null,
            json!({"locationsByCountry": []}),
        ),
        (
            "{ dataProcessingActivities { id } }",
            Value::Null,
            json!({"dataProcessingActivities": [{"id": b.activities[0]}, {"id": b.activities[1]}]}),
        ),
    ];
    for (query, vars, expected) in empty_or_null {
        let answer = api.gql(&b.token, query, vars).await;
        assert_eq!(answer.data(), &expected, "{query}");
    }
    let loc_input =
        json!([{"service": "x", "countryId": "DE", "locationRole": "HOSTING", "purposeText": "p"}]);
    let not_found: Vec<(&str, Value)> = vec![
        (
            "query($a: ID!) { assetsForActivity(activityId: $a) { id } }",
            json!({"a": act}),
        ),
        (
            "query($d: ID!) { activitiesForAsset(digitalAssetId: $d) { id } }",
            json!({"d": asset}),
        ),
        (
            "query($id: ID!) { assetProcessingLocations(digitalAssetId: $id, includeInactive: true) { id } }",
            json!({"id": asset}),
        ),
        (
            "mutation($id: ID!) { updateDigitalAsset(id: $id, input: {name: \"pwned\"}) { id } }",
            json!({"id": asset}),
        ),
        (
            "mutation($id: ID!) { deleteDigitalAsset(id: $id) { id } }",
            json!({"id": asset}),
        ),
        (
            "mutation($id: ID!, $l: [AssetProcessingLocationInput!]!) { addAssetProcessingLocations(digitalAssetId: $id, locations: $l) { id } }",
            json!({"id": asset, "l": loc_input}),
        ),
        (
            "mutation($id: ID!) { updateAssetProcessingLocation(id: $id, input: {service: \"pwned\"}) { id } }",
            json!({"id": location}),
        ),
        (
            "mutation($id: ID!) { deactivateAssetProcessingLocation(id: $id) { id } }",
            json!({"id": location}),
        ),
        (link, json!({"a": act, "d": asset})),
        (link, json!({"a": b_act, "d": asset})),
        (link, json!({"a": act, "d": b_asset})),
        (
            "mutation($a: ID!, $d: ID!) { unlinkAssetFromActivity(activityId: $a, digitalAssetId: $d) }",
            json!({"a": act, "d": asset}),
        ),
        (
            "mutation($a: ID!, $ids: [ID!]!) { syncActivityAssets(activityId: $a, digitalAssetIds: $ids) { id } }",
            json!({"a": act, "ids": []}),
        ),
        (
            "mutation($a: ID!, $ids: [ID!]!) { syncActivityAssets(activityId: $a, digitalAssetIds: $ids) { id } }",
            json!({"a": b_act, "ids": [asset]}),
        ),
    ];
    for (query, vars) in not_found {
        let answer = api.gql(&b.token, query, vars).await;
        assert_eq!(answer.code(), "NOT_FOUND", "{query}: {:#}", answer.body);
        assert!(
            !answer.message().contains(&a.id),
            "the owner is never named"
        );
    }
    // Referencing the other organization's user or purpose is unknown input.
    let answer = api
        .gql(&b.token, "mutation($o: ID!) { createDigitalAsset(input: {name: \"x\", type: API, technicalOwnerId: $o}) { id } }", json!({"o": a.user}))
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");

    assert_eq!(
        snapshot(&api).await,
        before,
        "the other organization changed nothing"
    );
    let answer = api
        .gql(
            &a.token,
            "query($id: ID!) { digitalAsset(id: $id) { name activities { id } } }",
            json!({"id": asset}),
        )
        .await;
    assert_eq!(
        answer.data()["digitalAsset"],
        json!({"name": "Secret", "activities": [{"id": act}]})
    );
}

on_both_backends!(another_organization_cannot_see_or_change_anything);
