//! The change log: every mutation writes its rows in its own transaction, no-ops and refusals
//! write nothing, the log is tenant-scoped and pages newest first.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::api_assets::{count, create_ok};
use crate::support::*;

const ENTRY: &str = "id entityType entityId action digitalAssetId activityId actorId requestId
    changedAt changes { field old new } snapshot";

/// The organization's log (newest first), filtered by `filter`.
async fn log(api: &Api, org: &Org, filter: Value) -> Vec<Value> {
    let query = format!(
        "query($f: ChangeLogFilter) {{ changeLog(filter: $f, first: 100) {{ nodes {{ {ENTRY} }} pageInfo {{ hasNextPage }} }} }}"
    );
    let answer = api.gql(&org.token, &query, json!({"f": filter})).await;
    let log = &answer.data()["changeLog"];
    assert_eq!(log["pageInfo"]["hasNextPage"], false);
    log["nodes"].as_array().unwrap().clone()
}

/// Posts `query` with a request id.
async fn gql_in_request(api: &Api, org: &Org, request_id: &str, query: &str, vars: Value) -> Value {
    let auth = format!("Bearer {}", org.token);
    let body = json!({"query": query, "variables": vars}).to_string();
    let answer = api
        .post_raw(
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
                ("x-request-id", request_id),
            ],
            &body,
        )
        .await;
    answer.data().clone()
}

/// The `{field: [old, new]}` of an entry's changes.
fn changes(entry: &Value) -> serde_json::Map<String, Value> {
    entry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap().to_owned(),
                json!([c["old"], c["new"]]),
            )
        })
        .collect()
}

const UPDATE: &str = "mutation($id: ID!, $i: UpdateDigitalAssetInput!) { updateDigitalAsset(id: $id, input: $i) { id updatedAt } }";
const ADD: &str = "mutation($id: ID!, $l: [AssetProcessingLocationInput!]!) { addAssetProcessingLocations(digitalAssetId: $id, locations: $l) { id } }";
const UPDATE_LOCATION: &str = "mutation($id: ID!, $i: UpdateAssetProcessingLocationInput!) { updateAssetProcessingLocation(id: $id, input: $i) { id } }";
const DEACTIVATE: &str =
    "mutation($id: ID!) { deactivateAssetProcessingLocation(id: $id) { id isActive } }";
const LINK: &str =
    "mutation($a: ID!, $d: ID!) { linkAssetToActivity(activityId: $a, digitalAssetId: $d) }";
const UNLINK: &str =
    "mutation($a: ID!, $d: ID!) { unlinkAssetFromActivity(activityId: $a, digitalAssetId: $d) }";
const SYNC: &str = "mutation($a: ID!, $ids: [ID!]!) { syncActivityAssets(activityId: $a, digitalAssetIds: $ids) { id } }";
const DELETE: &str = "mutation($id: ID!) { deleteDigitalAsset(id: $id) { id } }";

async fn every_mutation_is_logged_once_with_its_actor_and_request(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;

    // Create, with two locations: three entries, in one request.
    let create = "mutation($input: CreateDigitalAssetInput!) { createDigitalAsset(input: $input) { id processingLocations { id } } }";
    let created = gql_in_request(&api, &org, "req-create", create, json!({"input": {
        "name": "CRM", "type": "CRM", "containsPersonalData": true, "metadata": {"tier": 1},
        "locations": [
            {"service": "Frankfurt", "countryId": "DE", "locationRole": "HOSTING", "purposeId": org.purpose},
            {"service": "Support", "countryId": "US", "locationRole": "PROCESSING", "purposeText": "Support", "transferMechanismId": "SCC"}
        ]}}))
    .await;
    let asset = created["createDigitalAsset"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let support = created["createDigitalAsset"]["processingLocations"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let entries = log(&api, &org, json!({})).await;
    assert_eq!(entries.len(), 3, "{entries:#?}");
    for e in &entries {
        assert_eq!(e["action"], "CREATED");
        assert_eq!(e["actorId"], org.user.as_str());
        assert_eq!(e["requestId"], "req-create");
        assert_eq!(e["digitalAssetId"], asset.as_str());
    }
    let made = entries.last().unwrap();
    assert_eq!(made["entityType"], "DIGITAL_ASSET", "oldest last");
    let fields = changes(made);
    assert_eq!(fields["name"], json!([null, "CRM"]));
    assert_eq!(fields["type"], json!([null, "CRM"]));
    assert_eq!(fields["containsPersonalData"], json!([null, true]));
    assert_eq!(fields["metadata"], json!([null, {"tier": 1}]));
    assert!(
        !fields.contains_key("description"),
        "unset fields are not listed"
    );
    let location = changes(&entries[0]);
    assert_eq!(entries[0]["entityType"], "PROCESSING_LOCATION");
    assert_eq!(entries[0]["entityId"], support.as_str());
    assert_eq!(location["countryId"], json!([null, "US"]));
    assert_eq!(location["transferMechanismId"], json!([null, "SCC"]));

    // Update: only the fields that really change, before and after.
    let before = api
        .gql(
            &org.token,
            UPDATE,
            json!({"id": asset, "i": {"name": "CRM", "description": "Sales"}}),
        )
        .await;
    let updated_at = before.data()["updateDigitalAsset"]["updatedAt"].clone();
    let entries = log(&api, &org, json!({"action": "UPDATED"})).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        changes(&entries[0]),
        json!({"description": [null, "Sales"]})
            .as_object()
            .unwrap()
            .clone()
    );
    // An update that changes nothing writes nothing, not even updatedAt.
    let same = api
        .gql(
            &org.token,
            UPDATE,
            json!({"id": asset, "i": {"name": "CRM", "description": "Sales"}}),
        )
        .await;
    assert_eq!(same.data()["updateDigitalAsset"]["updatedAt"], updated_at);
    assert_eq!(log(&api, &org, json!({"action": "UPDATED"})).await.len(), 1);
    api.gql(
        &org.token,
        UPDATE,
        json!({"id": asset, "i": {"description": null, "metadata": {"tier": 2}}}),
    )
    .await
    .data();
    let entries = log(&api, &org, json!({"action": "UPDATED"})).await;
    assert_eq!(
        changes(&entries[0]),
        json!({"description": ["Sales", null], "metadata": [{"tier": 1}, {"tier": 2}]})
            .as_object()
            .unwrap()
            .clone()
    );

    // Locations: add, update, deactivate (twice: the second changes nothing).
    let added = api
        .gql(&org.token, ADD, json!({"id": asset, "l": [
            {"service": "Backup", "countryId": "IN", "locationRole": "BOTH", "purposeText": "Backups"}]}))
        .await;
    let backup = added.data()["addAssetProcessingLocations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    api.gql(
        &org.token,
        UPDATE_LOCATION,
        json!({"id": support, "i": {"countryId": "IE", "transferMechanismId": null}}),
    )
    .await
    .data();
    api.gql(
        &org.token,
        UPDATE_LOCATION,
        json!({"id": support, "i": {"countryId": "IE"}}),
    )
    .await
    .data();
    for _ in 0..2 {
        api.gql(&org.token, DEACTIVATE, json!({"id": backup}))
            .await
            .data();
    }
    let entries = log(&api, &org, json!({"entityType": "PROCESSING_LOCATION"})).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["DEACTIVATED", "UPDATED", "CREATED", "CREATED", "CREATED"]
    );
    assert_eq!(
        changes(&entries[0]),
        json!({"isActive": [true, false]})
            .as_object()
            .unwrap()
            .clone()
    );
    assert_eq!(entries[0]["entityId"], backup.as_str());
    assert_eq!(
        changes(&entries[1]),
        json!({"countryId": ["US", "IE"], "transferMechanismId": ["SCC", null]})
            .as_object()
            .unwrap()
            .clone()
    );

    // Links: link and unlink twice each (the second changes nothing), then a sync.
    let other = create_ok(&api, &org, json!({"name": "Mail", "type": "API"})).await;
    let activity = &org.activities[0];
    for _ in 0..2 {
        api.gql(&org.token, LINK, json!({"a": activity, "d": asset}))
            .await
            .data();
    }
    for _ in 0..2 {
        api.gql(&org.token, UNLINK, json!({"a": activity, "d": asset}))
            .await
            .data();
    }
    api.gql(
        &org.token,
        SYNC,
        json!({"a": activity, "ids": [asset, other]}),
    )
    .await
    .data();
    api.gql(
        &org.token,
        SYNC,
        json!({"a": activity, "ids": [asset, other]}),
    )
    .await
    .data();
    api.gql(&org.token, SYNC, json!({"a": activity, "ids": [other]}))
        .await
        .data();
    let entries = log(&api, &org, json!({"entityType": "ACTIVITY_LINK"})).await;
    let summary: Vec<(String, String)> = entries
        .iter()
        .map(|e| {
            assert_eq!(e["activityId"], activity.as_str());
            let who = if e["digitalAssetId"] == asset.as_str() {
                "crm"
            } else {
                "mail"
            };
            (e["action"].as_str().unwrap().to_owned(), who.to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("UNLINKED", "crm"),
        ("LINKED", "mail"),
        ("LINKED", "crm"),
        ("UNLINKED", "crm"),
        ("LINKED", "crm"),
    ]
    .iter()
    .map(|(a, w)| ((*a).to_owned(), (*w).to_owned()))
    .collect();
    // The sync's two links share one statement: their order between them is not asserted.
    let mut got = summary.clone();
    got[1..3].sort();
    let mut want = expected.clone();
    want[1..3].sort();
    assert_eq!(got, want, "{summary:?}");

    // Who: createdBy / updatedBy come from the log.
    let other_user = token_for(SECRET, &org.id, "user-b");
    let answer = api
        .gql(
            &other_user,
            UPDATE,
            json!({"id": asset, "i": {"url": "https://crm.example"}}),
        )
        .await;
    answer.data();
    let who = api
        .gql(
            &org.token,
            "query($id: ID!) { digitalAsset(id: $id) { createdBy updatedBy } }",
            json!({"id": asset}),
        )
        .await;
    assert_eq!(
        who.data()["digitalAsset"],
        json!({"createdBy": org.user, "updatedBy": "user-b"})
    );
    assert_eq!(log(&api, &org, json!({"actorId": "user-b"})).await.len(), 1);

    // Delete: the asset's last state and each location's stay in the log.
    api.gql(&org.token, UNLINK, json!({"a": activity, "d": other}))
        .await
        .data();
    gql_in_request(&api, &org, "req-delete", DELETE, json!({"id": asset})).await;
    let deleted = log(&api, &org, json!({"action": "DELETED"})).await;
    assert_eq!(
        deleted.len(),
        4,
        "the asset and its three locations: {deleted:#?}"
    );
    let gone = deleted
        .iter()
        .find(|e| e["entityType"] == "DIGITAL_ASSET")
        .unwrap();
    assert_eq!(gone["requestId"], "req-delete");
    assert_eq!(gone["snapshot"]["name"], "CRM");
    assert_eq!(gone["snapshot"]["url"], "https://crm.example");
    assert_eq!(gone["snapshot"]["metadata"], json!({"tier": 2}));
    assert_eq!(gone["snapshot"]["locationCount"], 3);
    assert_eq!(gone["changes"], json!([]));
    let services: Vec<&str> = deleted
        .iter()
        .filter(|e| e["entityType"] == "PROCESSING_LOCATION")
        .map(|e| e["snapshot"]["service"].as_str().unwrap())
        .collect();
    assert_eq!(services.len(), 3);
    assert!(services.contains(&"Frankfurt") && services.contains(&"Backup"));
    // The deleted asset's whole history stays findable by its id.
    let history = log(&api, &org, json!({"digitalAssetId": asset})).await;
    assert_eq!(history.len(), 17, "{history:#?}");

    // Deleting the organization deletes its log.
    let conn = api.db.connect().await;
    exec(
        &conn,
        &format!("DELETE FROM organizations WHERE id = '{}'", org.id),
    )
    .await;
    conn.close().await.ok();
    assert_eq!(count(&api, "change_log").await, 0);
}

async fn refused_and_failed_mutations_write_nothing(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let asset = create_ok(&api, &org, json!({"name": "CRM", "type": "CRM"})).await;
    let logged = count(&api, "change_log").await;
    assert_eq!(logged, 1);

    // Refusals: bad input, an unknown reference, a foreign id, a linked asset's deletion.
    let refused = [
        (UPDATE, json!({"id": asset, "i": {"name": ""}})),
        (
            UPDATE,
            json!({"id": asset, "i": {"primaryHostingCountryId": "XX"}}),
        ),
        (UPDATE, json!({"id": "nope", "i": {"name": "x"}})),
        (
            ADD,
            json!({"id": asset, "l": [{"service": "s", "countryId": "DE", "locationRole": "HOSTING"}]}),
        ),
        (LINK, json!({"a": "act-b-1", "d": asset})),
    ];
    for (query, vars) in refused {
        let answer = api.gql(&org.token, query, vars.clone()).await;
        assert!(
            answer.body["errors"].is_array(),
            "{vars}: {:#}",
            answer.body
        );
    }
    api.gql(
        &org.token,
        LINK,
        json!({"a": org.activities[0], "d": asset}),
    )
    .await
    .data();
    let answer = api.gql(&org.token, DELETE, json!({"id": asset})).await;
    assert_eq!(answer.code(), "CONFLICT");
    assert_eq!(count(&api, "change_log").await, logged + 1, "only the link");

    // A failure after the change (the log's own insert fails): the change is rolled back too.
    let conn = api.db.connect().await;
    match backend {
        Backend::Postgres => {
            exec(&conn, "CREATE FUNCTION refuse_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'forced failure'; END $$").await;
            exec(&conn, "CREATE TRIGGER refuse_log BEFORE INSERT ON change_log FOR EACH ROW EXECUTE FUNCTION refuse_log()").await;
        }
        Backend::Sqlite => {
            exec(&conn, "CREATE TRIGGER refuse_log BEFORE INSERT ON change_log BEGIN SELECT RAISE(ABORT, 'forced failure'); END").await;
        }
    }
    let logged = count(&api, "change_log").await;
    let writes = [
        (UPDATE, json!({"id": asset, "i": {"name": "Renamed"}})),
        (
            ADD,
            json!({"id": asset, "l": [{"service": "s", "countryId": "DE", "locationRole": "HOSTING", "purposeText": "p"}]}),
        ),
        (UNLINK, json!({"a": org.activities[0], "d": asset})),
        (SYNC, json!({"a": org.activities[1], "ids": [asset]})),
        (
            "mutation { createDigitalAsset(input: {name: \"New\", type: API}) { id } }",
            json!({}),
        ),
    ];
    for (query, vars) in writes {
        let answer = api.gql(&org.token, query, vars.clone()).await;
        assert_eq!(
            answer.code(),
            "INTERNAL_SERVER_ERROR",
            "{vars}: {:#}",
            answer.body
        );
        assert!(
            !answer.message().contains("forced"),
            "no database text reaches a client"
        );
    }
    assert_eq!(count(&api, "change_log").await, logged);
    assert_eq!(count(&api, "digital_assets").await, 1);
    assert_eq!(count(&api, "asset_processing_locations").await, 0);
    assert_eq!(
        count(&api, "data_processing_activity_digital_assets").await,
        1
    );
    let name = scalar_text(
        &conn,
        &format!("SELECT name FROM digital_assets WHERE id = '{asset}'"),
    )
    .await;
    assert_eq!(name, "CRM");
    conn.close().await.ok();
}

async fn scalar_text(conn: &impl sea_orm::ConnectionTrait, sql: &str) -> String {
    strings(conn, sql).await.into_iter().next().unwrap()
}

async fn the_log_is_tenant_scoped_and_pages_newest_first(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let (a, b) = (api.org("a").await, api.org("b").await);
    let asset = create_ok(&api, &a, json!({"name": "CRM", "type": "CRM"})).await;
    for i in 0..6 {
        api.gql(
            &a.token,
            UPDATE,
            json!({"id": asset, "i": {"description": format!("v{i}")}}),
        )
        .await
        .data();
    }
    create_ok(&api, &b, json!({"name": "B's", "type": "API"})).await;

    // Another organization sees none of it, by any path.
    assert_eq!(log(&api, &b, json!({})).await.len(), 1);
    assert_eq!(
        log(&api, &b, json!({"digitalAssetId": asset})).await.len(),
        0
    );
    assert_eq!(log(&api, &b, json!({"actorId": a.user})).await.len(), 0);
    let foreign = api
        .gql(
            &b.token,
            "query($id: ID!) { digitalAsset(id: $id) { history { nodes { id } } } }",
            json!({"id": asset}),
        )
        .await;
    assert_eq!(foreign.data()["digitalAsset"], Value::Null);

    // Pages of 3 through the asset's 7 entries, newest first, each once.
    let query = "query($id: ID!, $after: String) { digitalAsset(id: $id) { history(first: 3, after: $after) {
        nodes { id action changes { new } } pageInfo { hasNextPage hasPreviousPage endCursor } } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let answer = api
            .gql(&a.token, query, json!({"id": asset, "after": after}))
            .await;
        let page = answer.data()["digitalAsset"]["history"].clone();
        assert_eq!(page["pageInfo"]["hasPreviousPage"], !after.is_null());
        seen.extend(page["nodes"].as_array().unwrap().iter().cloned());
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let descriptions: Vec<Value> = seen
        .iter()
        .map(|e| e["changes"][0]["new"].clone())
        .collect();
    assert_eq!(
        descriptions,
        json!(["v5", "v4", "v3", "v2", "v1", "v0", "CRM"])
            .as_array()
            .unwrap()
            .clone()
    );
    assert_eq!(seen.last().unwrap()["action"], "CREATED");

    // Time windows, and refusals with a code.
    let all = log(&api, &a, json!({})).await;
    let newest = all[0]["changedAt"].as_str().unwrap();
    assert_eq!(log(&api, &a, json!({"since": newest})).await.len(), 1);
    assert_eq!(log(&api, &a, json!({"until": newest})).await.len(), 6);
    let bad = [
        json!({"f": {"since": newest, "until": "2000-01-01T00:00:00Z"}}),
        json!({"after": "not a cursor"}),
        json!({"first": 0}),
        json!({"first": 101}),
    ];
    for vars in bad {
        let answer = api
            .gql(&a.token, "query($f: ChangeLogFilter, $after: String, $first: Int) { changeLog(filter: $f, after: $after, first: $first) { nodes { id } } }", vars.clone())
            .await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{vars}: {:#}", answer.body);
    }
}

/// Concurrent updates of one asset: one entry each, in commit order, each entry's `old` the
/// previous entry's `new`.
async fn concurrent_updates_chain_in_commit_order(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let api = Arc::new(api);
    let org = api.org("a").await;
    let asset = create_ok(&api, &org, json!({"name": "v", "type": "API"})).await;
    let mut calls = Vec::new();
    for i in 0..24 {
        let (api, token, asset) = (api.clone(), org.token.clone(), asset.clone());
        calls.push(tokio::spawn(async move {
            let input = if i % 3 == 0 {
                json!({"name": format!("n{i}"), "description": format!("d{i}")})
            } else {
                json!({"description": format!("d{i}")})
            };
            api.gql(&token, UPDATE, json!({"id": asset, "i": input}))
                .await
        }));
    }
    let mut succeeded = 0;
    for call in calls {
        let answer = call.await.unwrap();
        if answer.body["errors"].is_null() {
            succeeded += 1;
        } else {
            assert!(
                ["LOCK_TIMEOUT", "CONFLICT"].contains(&answer.code()),
                "{:#}",
                answer.body
            );
        }
    }
    let mut entries = log(&api, &org, json!({"action": "UPDATED"})).await;
    assert_eq!(entries.len(), succeeded, "one entry per update");
    entries.reverse();
    let mut last = serde_json::Map::new();
    last.insert("name".into(), json!("v"));
    last.insert("description".into(), Value::Null);
    for entry in &entries {
        for (field, change) in changes(entry) {
            assert_eq!(change[0], last[&field], "{field} in {entry:#}");
            last.insert(field, change[1].clone());
        }
    }
    let stored = api
        .gql(
            &org.token,
            "query($id: ID!) { digitalAsset(id: $id) { name description } }",
            json!({"id": asset}),
        )
        .await;
    let stored = &stored.data()["digitalAsset"];
    assert_eq!(stored["name"], last["name"]);
    assert_eq!(stored["description"], last["description"]);
}

on_both_backends!(
    every_mutation_is_logged_once_with_its_actor_and_request,
    refused_and_failed_mutations_write_nothing,
    the_log_is_tenant_scoped_and_pages_newest_first,
    concurrent_updates_chain_in_commit_order,
);

/// The actor recorded is the token's `sub`: one the log could not store (a NUL byte, or too long
/// for an index entry) is refused when the token is read, not as a server fault at the first
/// write.
async fn a_sub_the_log_cannot_store_is_refused_at_the_door(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let create = "mutation { createDigitalAsset(input: {name: \"X\", type: API}) { id } }";
    for sub in ["a\u{0}b".to_owned(), "u".repeat(3000)] {
        let token = token_for(SECRET, &org.id, &sub);
        let answer = api.gql(&token, create, json!({})).await;
        assert_eq!(answer.code(), "UNAUTHENTICATED", "{:#}", answer.body);
        assert!(answer.message().contains("sub"), "{}", answer.message());
    }
    assert_eq!(count(&api, "digital_assets").await, 0);
    assert_eq!(count(&api, "change_log").await, 0);
}

on_both_backends!(a_sub_the_log_cannot_store_is_refused_at_the_door);

/// Change entries holding 64 KiB metadata documents: a page of them is refused by the response
/// budget from their stored size, before they are read, so memory stays flat. (A JSON array of
/// small numbers takes about 30 times its text's size once parsed: the attack review saw one
/// query of three aliased pages take the api from 95 MB to 1.36 GB.)
async fn a_page_of_large_changes_is_refused_before_it_is_read(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let zeros = vec![0; 32_000];
    let ones = vec![1; 32_000];
    let asset = create_ok(
        &api,
        &org,
        json!({"name": "Big", "type": "API", "metadata": {"a": zeros}}),
    )
    .await;
    for i in 0..40 {
        let metadata = if i % 2 == 0 {
            json!({"a": ones})
        } else {
            json!({"a": zeros})
        };
        api.gql(
            &org.token,
            UPDATE,
            json!({"id": asset, "i": {"metadata": metadata}}),
        )
        .await
        .data();
    }
    let (_, before) = api.memory_kib();
    let answer = api
        .gql(
            &org.token,
            "{ a: changeLog(first: 100) { nodes { changes { old new } } } b: changeLog(first: 100) { nodes { snapshot changes { field } } } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.code(), "RESPONSE_TOO_LARGE", "{}", answer.message());
    let (_, after) = api.memory_kib();
    let grown = after.saturating_sub(before) / 1024;
    assert!(grown < 64, "peak RSS grew by {grown} MiB");
    // A page that fits is answered: the first two entries.
    let answer = api
        .gql(
            &org.token,
            "{ changeLog(first: 2) { nodes { changes { field } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.data()["changeLog"]["nodes"][0]["changes"][0]["field"],
        "metadata"
    );
}

/// Times with an offset filter by the instant they name, on SQLite too (where times are text).
async fn time_filters_honour_offsets(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    create_ok(&api, &org, json!({"name": "Now", "type": "API"})).await;
    let now = chrono_like_now();
    // The same instants, written in UTC+05:00 and UTC−05:00.
    let hour_ago_east = shift(&now, -1, 5);
    let hour_ahead_west = shift(&now, 1, -5);
    let count = |filter: Value, query: &'static str, path: &'static str| {
        let api = &api;
        let token = org.token.clone();
        async move {
            let answer = api.gql(&token, query, json!({"f": filter})).await;
            answer.data()[path]["nodes"].as_array().unwrap().len()
        }
    };
    let assets = "query($f: DigitalAssetFilter) { digitalAssets(filter: $f) { nodes { id } } }";
    let log = "query($f: ChangeLogFilter) { changeLog(filter: $f) { nodes { id } } }";
    assert_eq!(
        count(
            json!({"updatedSince": hour_ago_east}),
            assets,
            "digitalAssets"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            json!({"updatedSince": hour_ahead_west}),
            assets,
            "digitalAssets"
        )
        .await,
        0
    );
    assert_eq!(
        count(json!({"since": hour_ago_east}), log, "changeLog").await,
        1
    );
    assert_eq!(
        count(json!({"since": hour_ahead_west}), log, "changeLog").await,
        0
    );
    assert_eq!(
        count(json!({"until": hour_ahead_west}), log, "changeLog").await,
        1
    );
    assert_eq!(
        count(json!({"until": hour_ago_east}), log, "changeLog").await,
        0
    );
}

/// Now, as whole seconds since the epoch (the tests have no date library).
fn chrono_like_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// RFC 3339 text of `now` + `hours`, written with a UTC offset of `offset` hours.
fn shift(now: &i64, hours: i64, offset: i64) -> String {
    let local = now + hours * 3600 + offset * 3600;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{sign}{:02}:00",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        offset.abs()
    )
}

/// A deleted asset's answer shows what it held, metadata included.
async fn a_deleted_asset_answers_with_its_metadata(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let asset = create_ok(
        &api,
        &org,
        json!({"name": "Gone", "type": "API", "metadata": {"k": "v"}}),
    )
    .await;
    let answer = api
        .gql(
            &org.token,
            "mutation($id: ID!) { deleteDigitalAsset(id: $id) { name metadata } }",
            json!({"id": asset}),
        )
        .await;
    assert_eq!(
        answer.data()["deleteDigitalAsset"],
        json!({"name": "Gone", "metadata": {"k": "v"}})
    );
}

on_both_backends!(
    a_page_of_large_changes_is_refused_before_it_is_read,
    time_filters_honour_offsets,
    a_deleted_asset_answers_with_its_metadata,
);

/// On PostgreSQL the log is written by the statement that makes the change (a data-modifying
/// CTE): a mutation runs as many statements as it would without the log.
#[tokio::test]
async fn on_postgres_the_log_takes_no_statement_of_its_own() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    // Loads the reference cache (countries, mechanisms), which would count below.
    create_ok(&api, &org, json!({"name": "warm-up", "type": "API"})).await;
    let statements = |query: &'static str, vars: Value| {
        let (api, token) = (&api, org.token.clone());
        async move {
            let before = api.statements().await;
            let answer = api.gql(&token, query, vars).await;
            assert!(answer.body["errors"].is_null(), "{:#}", answer.body);
            (api.statements().await - before, answer.data().clone())
        }
    };
    let create = "mutation($input: CreateDigitalAssetInput!) { createDigitalAsset(input: $input) { id processingLocations { id } } }";
    let (n, created) = statements(create, json!({"input": {"name": "CRM", "type": "CRM", "locations": [
        {"service": "Frankfurt", "countryId": "DE", "locationRole": "HOSTING", "purposeText": "Hosting"},
        {"service": "Support", "countryId": "PH", "locationRole": "PROCESSING", "purposeText": "Support", "transferMechanismId": "SCC"},
    ]}}))
    .await;
    // The countries and the mechanism checked, the asset (with the three entries), its two
    // locations, then the answer's locations.
    assert_eq!(n, 6, "statements of a create with two locations");
    let asset = created["createDigitalAsset"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let location = created["createDigitalAsset"]["processingLocations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The locked read, then the update.
    let (n, _) = statements(UPDATE, json!({"id": asset, "i": {"description": "d"}})).await;
    assert_eq!(n, 2, "statements of an asset's update");
    let (n, _) = statements(
        UPDATE_LOCATION,
        json!({"id": location, "i": {"service": "s"}}),
    )
    .await;
    assert_eq!(n, 2, "statements of a location's update");
    let (n, _) = statements(ADD, json!({"id": asset, "l": [
        {"service": "Paris", "countryId": "FR", "locationRole": "HOSTING", "purposeText": "Hosting"},
    ]}))
    .await;
    // The asset locked FOR SHARE, the country checked, then the location.
    assert_eq!(n, 3, "statements of adding a location");
    let entries = log(&api, &org, json!({"digitalAssetId": asset})).await;
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "CREATED", "UPDATED", "UPDATED", "CREATED", "CREATED", "CREATED"
        ]
    );
}

/// A time is stored to the microsecond: the log records what was stored, so an entry's `new`
/// is what a read answers and the next entry's `old`.
async fn the_log_records_times_as_stored(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let asset = create_ok(&api, &org, json!({"name": "t", "type": "API"})).await;
    for at in [
        "2026-03-04T05:06:07.123456789+02:00",
        "2026-03-04T05:06:07.1234564+02:00",
    ] {
        let answer = api
            .gql(
                &org.token,
                UPDATE,
                json!({"id": asset, "i": {"lastScannedAt": at}}),
            )
            .await;
        assert!(answer.body["errors"].is_null(), "{:#}", answer.body);
    }
    let read = api
        .gql(
            &org.token,
            "query($id: ID!) { digitalAsset(id: $id) { lastScannedAt } }",
            json!({"id": asset}),
        )
        .await;
    let stored = read.data()["digitalAsset"]["lastScannedAt"].clone();
    let entries = log(&api, &org, json!({"action": "UPDATED"})).await;
    // The second time differs from the first only below the microsecond: no change, no entry.
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let change = &changes(&entries[0])["lastScannedAt"];
    assert_eq!(change[0], Value::Null);
    let (logged, stored) = (change[1].as_str().unwrap(), stored.as_str().unwrap());
    assert_eq!(
        utc_micros(logged),
        utc_micros(stored),
        "{logged} against {stored}"
    );
    assert_eq!(utc_micros(stored), "2026-03-04T03:06:07.123456");
}

/// An RFC 3339 time as `YYYY-MM-DDTHH:MM:SS.ffffff` in UTC, for comparing instants written
/// with different offsets or digits.
fn utc_micros(t: &str) -> String {
    sea_orm::prelude::DateTimeWithTimeZone::parse_from_rfc3339(t)
        .unwrap()
        .naive_utc()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

on_both_backends!(the_log_records_times_as_stored);
