//! Processing locations through the API.

use serde_json::{Value, json};

use crate::api_assets::{count, create_ok};
use crate::support::*;

const LOCATION: &str = "id service countryId locationRole purposeId purposeText transferMechanismId isActive metadata digitalAsset { name }";

async fn locations_are_added_updated_deactivated_and_listed(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let asset = create_ok(&api, &org, json!({"name": "CRM", "type": "CRM"})).await;
    let add = format!(
        "mutation($id: ID!, $l: [AssetProcessingLocationInput!]!) {{ addAssetProcessingLocations(digitalAssetId: $id, locations: $l) {{ {LOCATION} }} }}"
    );
    let answer = api
        .gql(&org.token, &add, json!({"id": asset, "l": [
            {"service": "Frankfurt", "countryId": "DE", "locationRole": "HOSTING", "purposeId": org.purpose},
            {"service": "Support", "countryId": "US", "locationRole": "PROCESSING", "purposeText": "Support", "transferMechanismId": "SCC"},
            {"service": "Backup", "countryId": "DE", "locationRole": "BOTH", "purposeText": "Backups", "isActive": false}
        ]}))
        .await;
    let added = answer.data()["addAssetProcessingLocations"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(added.len(), 3);
    assert_eq!(added[0]["digitalAsset"]["name"], "CRM");
    let support = added[1]["id"].as_str().unwrap().to_owned();

    // An invalid batch adds nothing.
    let bad = api
        .gql(
            &org.token,
            &add,
            json!({"id": asset, "l": [
                {"service": "ok", "countryId": "DE", "locationRole": "HOSTING", "purposeText": "p"},
                {"service": "no purpose", "countryId": "DE", "locationRole": "HOSTING"}
            ]}),
        )
        .await;
    assert_eq!(bad.code(), "BAD_USER_INPUT");
    assert_eq!(
        bad.body["errors"][0]["extensions"]["field"],
        "locations[1].purposeId"
    );
    assert_eq!(count(&api, "asset_processing_locations").await, 3);

    let update = format!(
        "mutation($id: ID!, $i: UpdateAssetProcessingLocationInput!) {{ updateAssetProcessingLocation(id: $id, input: $i) {{ {LOCATION} }} }}"
    );
    let answer = api.gql(&org.token, &update, json!({"id": support, "i": {"service": "Support EU", "transferMechanismId": null, "countryId": "IE"}})).await;
    let updated = &answer.data()["updateAssetProcessingLocation"];
    assert_eq!(updated["service"], "Support EU");
    assert_eq!(updated["countryId"], "IE");
    assert_eq!(updated["transferMechanismId"], Value::Null);
    assert_eq!(updated["purposeText"], "Support", "absent fields are kept");
    assert_eq!(updated["locationRole"], "PROCESSING");
    let answer = api
        .gql(
            &org.token,
            &update,
            json!({"id": support, "i": {"purposeText": null}}),
        )
        .await;
    assert_eq!(
        answer.code(),
        "BAD_USER_INPUT",
        "a location keeps a purpose: {:#}",
        answer.body
    );
    let answer = api
        .gql(
            &org.token,
            &update,
            json!({"id": support, "i": {"countryId": "XX"}}),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    let answer = api
        .gql(
            &org.token,
            &update,
            json!({"id": "nope", "i": {"service": "x"}}),
        )
        .await;
    assert_eq!(answer.code(), "NOT_FOUND");

    let deactivate = format!(
        "mutation($id: ID!) {{ deactivateAssetProcessingLocation(id: $id) {{ {LOCATION} }} }}"
    );
    let answer = api
        .gql(&org.token, &deactivate, json!({"id": support}))
        .await;
    assert_eq!(
        answer.data()["deactivateAssetProcessingLocation"]["isActive"],
        false
    );
    api.gql(&org.token, &deactivate, json!({"id": support}))
        .await
        .data();

    let services = |a: &Answer, path: &str| -> Vec<String> {
        a.data()[path]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["service"].as_str().unwrap().to_owned())
            .collect()
    };
    let q = "query($id: ID!, $all: Boolean) { assetProcessingLocations(digitalAssetId: $id, includeInactive: $all) { service } }";
    assert_eq!(
        services(
            &api.gql(&org.token, q, json!({"id": asset})).await,
            "assetProcessingLocations"
        ),
        ["Frankfurt"]
    );
    assert_eq!(
        services(
            &api.gql(&org.token, q, json!({"id": asset, "all": true}))
                .await,
            "assetProcessingLocations"
        ),
        ["Frankfurt", "Support EU", "Backup"]
    );
    let nested = "query($id: ID!) { digitalAsset(id: $id) { active: processingLocations { service } all: processingLocations(includeInactive: true) { service } } }";
    let answer = api.gql(&org.token, nested, json!({"id": asset})).await;
    assert_eq!(
        answer.data()["digitalAsset"]["active"],
        json!([{"service": "Frankfurt"}])
    );
    assert_eq!(
        answer.data()["digitalAsset"]["all"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let by_country = "query($c: ID!, $a: Boolean) { locationsByCountry(countryId: $c, isActive: $a) { service } }";
    assert_eq!(
        services(
            &api.gql(&org.token, by_country, json!({"c": "DE"})).await,
            "locationsByCountry"
        ),
        ["Frankfurt", "Backup"]
    );
    assert_eq!(
        services(
            &api.gql(&org.token, by_country, json!({"c": "DE", "a": true}))
                .await,
            "locationsByCountry"
        ),
        ["Frankfurt"]
    );
    assert_eq!(
        services(
            &api.gql(&org.token, by_country, json!({"c": "DE", "a": false}))
                .await,
            "locationsByCountry"
        ),
        ["Backup"]
    );
    assert_eq!(
        services(
            &api.gql(&org.token, by_country, json!({"c": "IE", "a": false}))
                .await,
            "locationsByCountry"
        ),
        ["Support EU"]
    );
}

on_both_backends!(locations_are_added_updated_deactivated_and_listed);
