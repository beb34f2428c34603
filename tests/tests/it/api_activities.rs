//! Links between activities and assets through the API.

use serde_json::{Value, json};

use crate::api_assets::{count, create_ok};
use crate::support::*;

const LINK: &str =
    "mutation($a: ID!, $d: ID!) { linkAssetToActivity(activityId: $a, digitalAssetId: $d) }";
const UNLINK: &str =
    "mutation($a: ID!, $d: ID!) { unlinkAssetFromActivity(activityId: $a, digitalAssetId: $d) }";
const SYNC: &str = "mutation($a: ID!, $ids: [ID!]!) { syncActivityAssets(activityId: $a, digitalAssetIds: $ids) { name } }";
const ASSETS_FOR: &str =
    "query($a: ID!) { assetsForActivity(activityId: $a) { name processingLocations { service } } }";
const ACTIVITIES_FOR: &str =
    "query($d: ID!) { activitiesForAsset(digitalAssetId: $d) { id name } }";

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn links_are_idempotent_and_both_directions_list_them(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let loc = |s: &str, active: bool| json!({"service": s, "countryId": "DE", "locationRole": "HOSTING", "purposeText": "p", "isActive": active});
    let crm = create_ok(
        &api,
        &org,
        json!({"name": "CRM", "type": "CRM", "locations": [loc("live", true), loc("old", false)]}),
    )
    .await;
    let db = create_ok(
        &api,
        &org,
        json!({"name": "Billing DB", "type": "DATABASE"}),
    )
    .await;
    let act = &org.activities[0];
    for _ in 0..2 {
        let answer = api.gql(&org.token, LINK, json!({"a": act, "d": crm})).await;
        assert_eq!(answer.data()["linkAssetToActivity"], true);
    }
    api.gql(&org.token, LINK, json!({"a": act, "d": db}))
        .await
        .data();
    api.gql(&org.token, LINK, json!({"a": org.activities[1], "d": crm}))
        .await
        .data();
    assert_eq!(
        count(&api, "data_processing_activity_digital_assets").await,
        3,
        "linking twice links once"
    );

    let answer = api.gql(&org.token, ASSETS_FOR, json!({"a": act})).await;
    let assets = &answer.data()["assetsForActivity"];
    assert_eq!(names(assets), ["Billing DB", "CRM"]);
    assert_eq!(
        assets[1]["processingLocations"],
        json!([{"service": "live"}]),
        "active locations only"
    );
    let answer = api.gql(&org.token, ACTIVITIES_FOR, json!({"d": crm})).await;
    assert_eq!(
        names(&answer.data()["activitiesForAsset"]),
        ["Activity 0 of a", "Activity 1 of a"]
    );
    let nested = api
        .gql(
            &org.token,
            "query($d: ID!) { digitalAsset(id: $d) { activities { name } } }",
            json!({"d": db}),
        )
        .await;
    assert_eq!(
        names(&nested.data()["digitalAsset"]["activities"]),
        ["Activity 0 of a"]
    );
    let all = api
        .gql(
            &org.token,
            "{ dataProcessingActivities { name organizationId status } }",
            Value::Null,
        )
        .await;
    assert_eq!(
        names(&all.data()["dataProcessingActivities"]),
        ["Activity 0 of a", "Activity 1 of a"]
    );
    assert_eq!(all.data()["dataProcessingActivities"][0]["status"], "DRAFT");

    for _ in 0..2 {
        let answer = api
            .gql(&org.token, UNLINK, json!({"a": act, "d": crm}))
            .await;
        assert_eq!(answer.data()["unlinkAssetFromActivity"], true);
    }
    let answer = api.gql(&org.token, ASSETS_FOR, json!({"a": act})).await;
    assert_eq!(names(&answer.data()["assetsForActivity"]), ["Billing DB"]);

    assert_eq!(
        api.gql(&org.token, LINK, json!({"a": "nope", "d": crm}))
            .await
            .code(),
        "NOT_FOUND"
    );
    assert_eq!(
        api.gql(&org.token, LINK, json!({"a": act, "d": "nope"}))
            .await
            .code(),
        "NOT_FOUND"
    );
    assert_eq!(
        api.gql(&org.token, ASSETS_FOR, json!({"a": "nope"}))
            .await
            .code(),
        "NOT_FOUND"
    );
    assert_eq!(
        api.gql(&org.token, ACTIVITIES_FOR, json!({"d": "nope"}))
            .await
            .code(),
        "NOT_FOUND"
    );
}

async fn sync_replaces_every_link_or_none(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let mut ids = Vec::new();
    for name in ["a1", "a2", "a3"] {
        ids.push(create_ok(&api, &org, json!({"name": name, "type": "API"})).await);
    }
    let act = &org.activities[0];
    api.gql(&org.token, LINK, json!({"a": act, "d": ids[0]}))
        .await
        .data();
    api.gql(
        &org.token,
        LINK,
        json!({"a": org.activities[1], "d": ids[0]}),
    )
    .await
    .data();

    let answer = api
        .gql(
            &org.token,
            SYNC,
            json!({"a": act, "ids": [ids[2], ids[1], ids[1]]}),
        )
        .await;
    assert_eq!(names(&answer.data()["syncActivityAssets"]), ["a2", "a3"]);
    let listed = api.gql(&org.token, ASSETS_FOR, json!({"a": act})).await;
    assert_eq!(names(&listed.data()["assetsForActivity"]), ["a2", "a3"]);

    // One unknown id: nothing changes.
    let answer = api
        .gql(
            &org.token,
            SYNC,
            json!({"a": act, "ids": [ids[0], "ghost"]}),
        )
        .await;
    assert_eq!(answer.code(), "NOT_FOUND", "{:#}", answer.body);
    let listed = api.gql(&org.token, ASSETS_FOR, json!({"a": act})).await;
    assert_eq!(names(&listed.data()["assetsForActivity"]), ["a2", "a3"]);

    let answer = api
        .gql(&org.token, SYNC, json!({"a": act, "ids": []}))
        .await;
    assert_eq!(answer.data()["syncActivityAssets"], json!([]));
    assert_eq!(
        count(&api, "data_processing_activity_digital_assets").await,
        1,
        "other activities keep their links"
    );
    assert_eq!(
        api.gql(&org.token, SYNC, json!({"a": "nope", "ids": []}))
            .await
            .code(),
        "NOT_FOUND"
    );
}

on_both_backends!(
    links_are_idempotent_and_both_directions_list_them,
    sync_replaces_every_link_or_none
);
