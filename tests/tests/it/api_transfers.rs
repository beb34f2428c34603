//! GDPR Chapter V through the API (issue 11): the corrected reference data, the assessment of
//! every destination × mechanism × personal-data combination, the cross-border list, the
//! summaries, the `transferRisk` filter, tenant isolation and the statements a page costs.

use serde_json::{Value, json};

use crate::support::*;

const ASSESSMENT: &str = "transfer { risk restricted legalBasis reasons explanation }";

/// A mechanism that exists but is no longer active (none of the seeded ones is).
const INACTIVE: &str = "test-inactive-scc";

async fn add_inactive_mechanism(api: &Api) {
    let conn = api.db.connect().await;
    exec(
        &conn,
        &format!(
            "INSERT INTO transfer_mechanisms (id, code, name, description, gdpr_article, category,
               is_derogation, requires_adequacy, requires_documentation, is_active)
             VALUES ('{INACTIVE}', 'SCC_2010', 'Standard contractual clauses (2010)',
               'Repealed clauses.', 'Art. 46(2)(c)', 'APPROPRIATE_SAFEGUARD', false, false, true, false)"
        ),
    )
    .await;
    conn.close().await.ok();
}

/// Creates an asset with `locations`; returns its id and the answer's locations.
async fn asset_with(
    api: &Api,
    org: &Org,
    name: &str,
    personal: bool,
    locations: Value,
) -> (String, Vec<Value>) {
    let query = format!(
        "mutation($i: CreateDigitalAssetInput!) {{ createDigitalAsset(input: $i) {{ id
           processingLocations(includeInactive: true) {{ id countryId transferMechanismId {ASSESSMENT} }} }} }}"
    );
    let answer = api
        .gql(
            &org.token,
            &query,
            json!({"i": {"name": name, "type": "DATABASE", "containsPersonalData": personal, "locations": locations}}),
        )
        .await;
    let asset = &answer.data()["createDigitalAsset"];
    (
        asset["id"].as_str().unwrap().to_owned(),
        asset["processingLocations"].as_array().unwrap().clone(),
    )
}

fn location(service: &str, country: &str, mechanism: Option<&str>) -> Value {
    json!({"service": service, "countryId": country, "locationRole": "HOSTING",
           "purposeText": "Hosting", "transferMechanismId": mechanism})
}

async fn the_corrected_reference_data_is_served(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let answer = api
        .gql(
            &org.token,
            "{ countries { isoCode gdprStatus adequacy { decision partial scope } } }",
            json!({}),
        )
        .await;
    let countries = answer.data()["countries"].as_array().unwrap().clone();
    let by_code = |code: &str| {
        countries
            .iter()
            .find(|c| c["isoCode"] == code)
            .unwrap_or_else(|| panic!("{code} missing"))
            .clone()
    };
    for code in ["GF", "GP", "MQ", "RE", "YT", "MF", "AX", "FR", "DE"] {
        let c = by_code(code);
        assert_eq!(c["gdprStatus"], json!(["EU", "EEA"]), "{code}");
        assert_eq!(c["adequacy"], Value::Null, "{code}");
    }
    let brazil = by_code("BR");
    assert_eq!(brazil["gdprStatus"], json!(["Adequate"]));
    assert_eq!(
        brazil["adequacy"]["decision"],
        "Commission Implementing Decision (EU) 2026/179"
    );
    assert_eq!(brazil["adequacy"]["partial"], false);
    for (code, decision) in [
        ("US", "Commission Implementing Decision (EU) 2023/1795"),
        ("CA", "Commission Decision 2002/2/EC"),
    ] {
        let c = by_code(code);
        assert_eq!(c["adequacy"]["decision"], decision, "{code}");
        assert_eq!(c["adequacy"]["partial"], true, "{code}");
        assert!(
            c["adequacy"]["scope"].as_str().unwrap().contains("confirm"),
            "{code}: a partial decision says what to confirm"
        );
    }
    let adequate: Vec<&str> = countries
        .iter()
        .filter(|c| c["adequacy"].is_object())
        .map(|c| c["isoCode"].as_str().unwrap())
        .collect();
    let mut adequate = adequate;
    adequate.sort_unstable();
    assert_eq!(
        adequate,
        [
            "AD", "AR", "BR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ",
            "US", "UY"
        ]
    );
    assert_eq!(by_code("CH")["gdprStatus"], json!(["EFTA", "Adequate"]));
    assert_eq!(by_code("CN")["gdprStatus"], json!(["Third Country"]));
    assert_eq!(by_code("CN")["adequacy"], Value::Null);

    // The rows themselves, for SQL reports.
    let conn = api.db.connect().await;
    assert_eq!(
        strings(
            &conn,
            "SELECT id FROM countries WHERE adequacy_partial ORDER BY id"
        )
        .await,
        ["CA", "US"]
    );
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT count(*) FROM countries WHERE adequacy_decision IS NOT NULL"
        )
        .await,
        16
    );
}

/// The expected assessment of one combination with personal data.
struct Expected {
    risk: &'static str,
    basis: Option<&'static str>,
    reasons: &'static [&'static str],
}

const fn e(
    risk: &'static str,
    basis: Option<&'static str>,
    reasons: &'static [&'static str],
) -> Expected {
    Expected {
        risk,
        basis,
        reasons,
    }
}

/// The destinations: EEA, adequate, partially adequate, third country.
const DESTINATIONS: [&str; 4] = ["DE", "JP", "US", "CN"];
/// The mechanism categories: none, adequacy, safeguard, derogation, inactive.
const MECHANISMS: [Option<&str>; 5] = [
    None,
    Some("ADEQUACY"),
    Some("SCC"),
    Some("EXPLICIT_CONSENT"),
    Some(INACTIVE),
];

/// Destination × mechanism, for personal data, in the order of the constants above.
#[rustfmt::skip]
const TABLE: [[Expected; 5]; 4] = [
    // DE, in the EEA
    [
        e("NONE", None, &["DESTINATION_IN_EEA"]),
        e("NONE", None, &["DESTINATION_IN_EEA"]),
        e("NONE", None, &["DESTINATION_IN_EEA"]),
        e("NONE", None, &["DESTINATION_IN_EEA"]),
        e("NONE", None, &["DESTINATION_IN_EEA"]),
    ],
    // JP, adequate
    [
        e("LOW", Some("Art. 45"), &["ADEQUACY_DECISION"]),
        e("LOW", Some("Art. 45"), &["ADEQUACY_DECISION"]),
        e("LOW", Some("Art. 45"), &["ADEQUACY_DECISION"]),
        e("LOW", Some("Art. 45"), &["ADEQUACY_DECISION"]),
        e("LOW", Some("Art. 45"), &["ADEQUACY_DECISION", "INACTIVE_MECHANISM"]),
    ],
    // US, partially adequate (EU-US Data Privacy Framework)
    [
        e("MEDIUM", Some("Art. 45"), &["PARTIAL_ADEQUACY"]),
        e("MEDIUM", Some("Art. 45"), &["PARTIAL_ADEQUACY"]),
        e("LOW", Some("Art. 46(2)(c)"), &["PARTIAL_ADEQUACY", "APPROPRIATE_SAFEGUARD"]),
        e("MEDIUM", Some("Art. 45"), &["PARTIAL_ADEQUACY", "DEROGATION_ONLY"]),
        e("MEDIUM", Some("Art. 45"), &["PARTIAL_ADEQUACY", "INACTIVE_MECHANISM"]),
    ],
    // CN, a third country
    [
        e("CRITICAL", None, &["NO_MECHANISM"]),
        e("CRITICAL", None, &["ADEQUACY_WITHOUT_DECISION"]),
        e("MEDIUM", Some("Art. 46(2)(c)"), &["APPROPRIATE_SAFEGUARD", "TRANSFER_IMPACT_ASSESSMENT_EXPECTED"]),
        e("HIGH", Some("Art. 49(1)(a)"), &["DEROGATION_ONLY"]),
        e("CRITICAL", None, &["INACTIVE_MECHANISM"]),
    ],
];

const RISKS: [&str; 5] = ["NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"];

fn level(risk: &str) -> usize {
    RISKS.iter().position(|r| *r == risk).unwrap()
}

async fn every_destination_mechanism_and_personal_data_combination_is_assessed(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    add_inactive_mechanism(&api).await;
    let org = api.org("a").await;
    // One asset per combination, with that one location: its transferRisk is the location's.
    let mut expected_risk = Vec::new();
    for (d, country) in DESTINATIONS.iter().enumerate() {
        for (m, mechanism) in MECHANISMS.iter().enumerate() {
            for personal in [true, false] {
                let name = format!("{country}-{}-{personal}", mechanism.unwrap_or("none"));
                let (_, locations) = asset_with(
                    &api,
                    &org,
                    &name,
                    personal,
                    json!([location("svc", country, *mechanism)]),
                )
                .await;
                let t = &locations[0]["transfer"];
                let (risk, basis, reasons): (&str, Option<&str>, Vec<&str>) = if personal {
                    let want = &TABLE[d][m];
                    (want.risk, want.basis, want.reasons.to_vec())
                } else if *country == "DE" {
                    ("NONE", None, vec!["DESTINATION_IN_EEA", "NO_PERSONAL_DATA"])
                } else {
                    ("NONE", None, vec!["NO_PERSONAL_DATA"])
                };
                assert_eq!(t["risk"], risk, "{name}: {t}");
                assert_eq!(t["legalBasis"], json!(basis), "{name}: {t}");
                assert_eq!(t["reasons"], json!(reasons), "{name}: {t}");
                assert_eq!(t["restricted"], risk != "NONE", "{name}: {t}");
                let explanation = t["explanation"].as_str().unwrap();
                assert!(explanation.ends_with('.'), "{name}: {explanation}");
                expected_risk.push((name, risk));
            }
        }
    }

    // The database computes the same risk: the asset filter finds exactly the expected assets
    // for each level, and the cross-border list holds each location at its level, worst first.
    for risk in RISKS {
        let answer = api
            .gql(
                &org.token,
                "query($r: TransferRisk) { digitalAssets(first: 100, filter: {transferRisk: $r}) {
                   totalCount nodes { name transferRisk } } }",
                json!({"r": risk}),
            )
            .await;
        let page = &answer.data()["digitalAssets"];
        let mut names: Vec<String> = page["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                assert_eq!(n["transferRisk"], risk, "{n}");
                n["name"].as_str().unwrap().to_owned()
            })
            .collect();
        names.sort();
        let mut want: Vec<String> = expected_risk
            .iter()
            .filter(|(_, r)| *r == risk)
            .map(|(n, _)| n.clone())
            .collect();
        want.sort();
        assert_eq!(names, want, "transferRisk {risk}");
        assert_eq!(page["totalCount"], want.len(), "transferRisk {risk}");
    }
    let query = format!(
        "query($after: String) {{ crossBorderTransfers(first: 7, after: $after, filter: {{minRisk: NONE}}) {{
           totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ digitalAsset {{ name }} {ASSESSMENT} }} }} }}"
    );
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let answer = api.gql(&org.token, &query, json!({"after": after})).await;
        let list = &answer.data()["crossBorderTransfers"];
        assert_eq!(list["totalCount"], expected_risk.len());
        for node in list["nodes"].as_array().unwrap() {
            seen.push((
                node["digitalAsset"]["name"].as_str().unwrap().to_owned(),
                node["transfer"]["risk"].as_str().unwrap().to_owned(),
            ));
        }
        if list["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = list["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen.len(), expected_risk.len(), "every location once");
    assert!(
        seen.windows(2).all(|w| level(&w[0].1) >= level(&w[1].1)),
        "worst first: {seen:?}"
    );
    for (name, risk) in &expected_risk {
        assert!(seen.contains(&(name.clone(), (*risk).to_owned())), "{name}");
    }
    // Each minimum risk counts the locations at or above it.
    for min in RISKS {
        let answer = api
            .gql(
                &org.token,
                "query($m: TransferRisk) { crossBorderTransfers(filter: {minRisk: $m}) { totalCount } }",
                json!({"m": min}),
            )
            .await;
        let want = expected_risk
            .iter()
            .filter(|(_, r)| level(r) >= level(min))
            .count();
        assert_eq!(
            answer.data()["crossBorderTransfers"]["totalCount"],
            want,
            "minRisk {min}"
        );
    }
}

/// Organization `a`'s fixture: asset A (personal data) in CN without mechanism, the US under
/// SCC, JP and DE; asset B (personal data) in CN under SCC and, deactivated, in CN without
/// mechanism; asset C (no personal data) in CN. A is linked to the first activity, B to the
/// second.
struct Fixture {
    a: String,
    b: String,
    c: String,
}

async fn fixture(api: &Api, org: &Org) -> Fixture {
    let (a, _) = asset_with(
        api,
        org,
        "A",
        true,
        json!([
            location("a-cn", "CN", None),
            location("a-us", "US", Some("SCC")),
            location("a-jp", "JP", None),
            location("a-de", "DE", None)
        ]),
    )
    .await;
    let mut inactive = location("b-cn-old", "CN", None);
    inactive["isActive"] = json!(false);
    let (b, _) = asset_with(
        api,
        org,
        "B",
        true,
        json!([location("b-cn", "CN", Some("SCC")), inactive]),
    )
    .await;
    let (c, _) = asset_with(api, org, "C", false, json!([location("c-cn", "CN", None)])).await;
    let link =
        "mutation($a: ID!, $d: ID!) { linkAssetToActivity(activityId: $a, digitalAssetId: $d) }";
    for (activity, asset) in [(&org.activities[0], &a), (&org.activities[1], &b)] {
        api.gql(&org.token, link, json!({"a": activity, "d": asset}))
            .await
            .data();
    }
    Fixture { a, b, c }
}

/// The services of `crossBorderTransfers(filter: …)`, in order, and its total.
async fn transfers(api: &Api, org: &Org, filter: Value) -> (Vec<String>, Value) {
    let answer = api
        .gql(
            &org.token,
            "query($f: CrossBorderTransferFilter) { crossBorderTransfers(filter: $f) {
               totalCount nodes { service transfer { risk } } } }",
            json!({"f": filter}),
        )
        .await;
    let list = &answer.data()["crossBorderTransfers"];
    let services = list["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["service"].as_str().unwrap().to_owned())
        .collect();
    (services, list["totalCount"].clone())
}

async fn cross_border_transfers_list_worst_first_and_filter(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let f = fixture(&api, &org).await;

    // By default: active locations at LOW or worse; LOW ones in id (creation) order.
    let (all, total) = transfers(&api, &org, Value::Null).await;
    assert_eq!(all, ["a-cn", "b-cn", "a-us", "a-jp"]);
    assert_eq!(total, 4);
    let (high, total) = transfers(&api, &org, json!({"minRisk": "HIGH"})).await;
    assert_eq!((high, total), (vec!["a-cn".to_owned()], json!(1)));
    let (cn, total) = transfers(&api, &org, json!({"minRisk": "NONE", "countryId": "CN"})).await;
    assert_eq!(cn, ["a-cn", "b-cn", "c-cn"]);
    assert_eq!(total, 3);
    let (of_a, _) = transfers(&api, &org, json!({"digitalAssetId": f.a})).await;
    assert_eq!(of_a, ["a-cn", "a-us", "a-jp"]);
    let (of_b, _) = transfers(&api, &org, json!({"digitalAssetId": f.b})).await;
    assert_eq!(of_b, ["b-cn"]);
    let (of_c, total) = transfers(&api, &org, json!({"digitalAssetId": f.c})).await;
    assert!(of_c.is_empty(), "no personal data, no restricted transfer");
    assert_eq!(total, 0);
    let (first_activity, _) = transfers(&api, &org, json!({"activityId": org.activities[0]})).await;
    assert_eq!(first_activity, ["a-cn", "a-us", "a-jp"]);
    let (with_inactive, total) = transfers(&api, &org, json!({"includeInactive": true})).await;
    assert_eq!(with_inactive.len(), 5);
    assert!(with_inactive[..2].contains(&"b-cn-old".to_owned()));
    assert_eq!(total, 5);

    // Page by page, one at a time.
    let query = "query($after: String) { crossBorderTransfers(first: 1, after: $after) {
        edges { cursor node { service } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let mut after = Value::Null;
    let mut pages = Vec::new();
    loop {
        let answer = api.gql(&org.token, query, json!({"after": after})).await;
        let list = answer.data()["crossBorderTransfers"].clone();
        let edges = list["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 1);
        assert_eq!(list["pageInfo"]["endCursor"], edges[0]["cursor"]);
        assert_eq!(list["pageInfo"]["startCursor"], edges[0]["cursor"]);
        assert_eq!(list["pageInfo"]["hasPreviousPage"], !after.is_null());
        pages.push(edges[0]["node"]["service"].as_str().unwrap().to_owned());
        if list["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = list["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, all);

    // Bad input is refused, naming the argument.
    for (first, after, field) in [
        (json!(0), Value::Null, "first"),
        (json!(101), Value::Null, "first"),
        (json!(10), json!("not a cursor"), "after"),
    ] {
        let answer = api
            .gql(
                &org.token,
                "query($n: Int, $a: String) { crossBorderTransfers(first: $n, after: $a) { totalCount } }",
                json!({"n": first, "a": after}),
            )
            .await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{}", answer.body);
        assert_eq!(answer.body["errors"][0]["extensions"]["field"], field);
    }
    // A cursor of another list is not one of this list.
    let assets = api
        .gql(
            &org.token,
            "{ digitalAssets(first: 1) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let foreign = assets.data()["digitalAssets"]["pageInfo"]["endCursor"].clone();
    let answer = api
        .gql(
            &org.token,
            "query($a: String) { crossBorderTransfers(after: $a) { totalCount } }",
            json!({"a": foreign}),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{}", answer.body);

    // Each asset's transferRisk is the worst of its active locations.
    let answer = api
        .gql(
            &org.token,
            "{ digitalAssets { nodes { name transferRisk } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        answer.data()["digitalAssets"]["nodes"],
        json!([
            {"name": "A", "transferRisk": "CRITICAL"},
            {"name": "B", "transferRisk": "MEDIUM"},
            {"name": "C", "transferRisk": "NONE"}
        ])
    );
}

/// `[(isoCode, assets, locations, worstRisk, [none, low, medium, high, critical], [codes])]`.
fn summary_rows(list: &Value) -> Vec<Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let c = &s["riskCounts"];
            json!([
                s["country"]["isoCode"],
                s["assets"],
                s["locations"],
                s["worstRisk"],
                [c["none"], c["low"], c["medium"], c["high"], c["critical"]],
                s["mechanisms"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["code"].clone())
                    .collect::<Vec<_>>()
            ])
        })
        .collect()
}

const SUMMARY: &str = "country { isoCode name } assets locations worstRisk
    riskCounts { none low medium high critical } mechanisms { code }";

async fn transfer_summary_and_activity_transfers_aggregate_per_country(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    fixture(&api, &org).await;
    let answer = api
        .gql(
            &org.token,
            &format!("{{ transferSummary {{ {SUMMARY} }} }}"),
            json!({}),
        )
        .await;
    // Worst first, then by country name; the deactivated location counts nowhere.
    assert_eq!(
        summary_rows(&answer.data()["transferSummary"]),
        [
            json!(["CN", 3, 3, "CRITICAL", [1, 0, 1, 0, 1], ["SCC"]]),
            json!(["JP", 1, 1, "LOW", [0, 1, 0, 0, 0], []]),
            json!(["US", 1, 1, "LOW", [0, 1, 0, 0, 0], ["SCC"]]),
            json!(["DE", 1, 1, "NONE", [1, 0, 0, 0, 0], []]),
        ]
    );

    let query = format!("query($a: ID!) {{ activityTransfers(activityId: $a) {{ {SUMMARY} }} }}");
    let first = api
        .gql(&org.token, &query, json!({"a": org.activities[0]}))
        .await;
    assert_eq!(
        summary_rows(&first.data()["activityTransfers"]),
        [
            json!(["CN", 1, 1, "CRITICAL", [0, 0, 0, 0, 1], []]),
            json!(["JP", 1, 1, "LOW", [0, 1, 0, 0, 0], []]),
            json!(["US", 1, 1, "LOW", [0, 1, 0, 0, 0], ["SCC"]]),
            json!(["DE", 1, 1, "NONE", [1, 0, 0, 0, 0], []]),
        ]
    );
    let second = api
        .gql(&org.token, &query, json!({"a": org.activities[1]}))
        .await;
    assert_eq!(
        summary_rows(&second.data()["activityTransfers"]),
        [json!(["CN", 1, 1, "MEDIUM", [0, 0, 1, 0, 0], ["SCC"]])]
    );
    let unknown = api.gql(&org.token, &query, json!({"a": "nope"})).await;
    assert_eq!(unknown.code(), "NOT_FOUND");
}

async fn another_organizations_assets_never_appear(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let a = api.org("a").await;
    let b = api.org("b").await;
    fixture(&api, &a).await;
    let summary = format!("{{ transferSummary {{ {SUMMARY} }} }}");
    let before = api.gql(&a.token, &summary, json!({})).await.data().clone();
    let (before_list, before_total) = transfers(&api, &a, json!({"minRisk": "NONE"})).await;

    // Organization b sends personal data everywhere without a mechanism.
    let (b_asset, _) = asset_with(
        &api,
        &b,
        "B's",
        true,
        json!([
            location("b1", "CN", None),
            location("b2", "RU", None),
            location("b3", "US", None)
        ]),
    )
    .await;
    let link =
        "mutation($a: ID!, $d: ID!) { linkAssetToActivity(activityId: $a, digitalAssetId: $d) }";
    api.gql(&b.token, link, json!({"a": b.activities[0], "d": b_asset}))
        .await
        .data();

    assert_eq!(api.gql(&a.token, &summary, json!({})).await.data(), &before);
    assert_eq!(
        transfers(&api, &a, json!({"minRisk": "NONE"})).await,
        (before_list, before_total)
    );
    // b's ids in a's filters match nothing, and b's activity is not found for a.
    assert_eq!(
        transfers(&api, &a, json!({"digitalAssetId": b_asset})).await,
        (vec![], json!(0))
    );
    assert_eq!(
        transfers(&api, &a, json!({"activityId": b.activities[0]})).await,
        (vec![], json!(0))
    );
    let query = format!("query($a: ID!) {{ activityTransfers(activityId: $a) {{ {SUMMARY} }} }}");
    let answer = api
        .gql(&a.token, &query, json!({"a": b.activities[0]}))
        .await;
    assert_eq!(answer.code(), "NOT_FOUND");
    let critical = api
        .gql(
            &a.token,
            "{ digitalAssets(filter: {transferRisk: CRITICAL}) { totalCount nodes { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        critical.data()["digitalAssets"],
        json!({"totalCount": 1, "nodes": [{"name": "A"}]})
    );
    // And b sees only its own.
    let answer = api.gql(&b.token, &summary, json!({})).await;
    let rows = summary_rows(&answer.data()["transferSummary"]);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r[1] == 1), "{rows:?}");
}

async fn mutations_accept_a_third_country_location_without_mechanism_and_show_it_critical(
    backend: Backend,
) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let (asset, _) = asset_with(&api, &org, "CRM", true, json!([])).await;
    let add = format!(
        "mutation($id: ID!, $l: [AssetProcessingLocationInput!]!) {{
           addAssetProcessingLocations(digitalAssetId: $id, locations: $l) {{ id transferMechanismId {ASSESSMENT} }} }}"
    );
    let answer = api
        .gql(
            &org.token,
            &add,
            json!({"id": asset, "l": [location("Support", "IN", None)]}),
        )
        .await;
    let added = &answer.data()["addAssetProcessingLocations"][0];
    assert_eq!(added["transferMechanismId"], Value::Null, "stored as given");
    assert_eq!(added["transfer"]["risk"], "CRITICAL");
    assert_eq!(added["transfer"]["reasons"], json!(["NO_MECHANISM"]));
    assert!(
        added["transfer"]["explanation"]
            .as_str()
            .unwrap()
            .contains("India"),
        "{}",
        added["transfer"]
    );
    let id = added["id"].as_str().unwrap().to_owned();

    let update = format!(
        "mutation($id: ID!, $i: UpdateAssetProcessingLocationInput!) {{
           updateAssetProcessingLocation(id: $id, input: $i) {{ {ASSESSMENT} }} }}"
    );
    let answer = api
        .gql(
            &org.token,
            &update,
            json!({"id": id, "i": {"transferMechanismId": "BCR"}}),
        )
        .await;
    let t = &answer.data()["updateAssetProcessingLocation"]["transfer"];
    assert_eq!(t["risk"], "MEDIUM");
    assert_eq!(t["legalBasis"], "Art. 46(2)(b), Art. 47");

    let risk = "query($id: ID!) { digitalAsset(id: $id) { transferRisk } }";
    let answer = api.gql(&org.token, risk, json!({"id": asset})).await;
    assert_eq!(answer.data()["digitalAsset"]["transferRisk"], "MEDIUM");
    // A deactivated location is still assessed when asked for, but no longer counts.
    let deactivate = format!(
        "mutation($id: ID!) {{ deactivateAssetProcessingLocation(id: $id) {{ isActive {ASSESSMENT} }} }}"
    );
    let answer = api.gql(&org.token, &deactivate, json!({"id": id})).await;
    let deactivated = &answer.data()["deactivateAssetProcessingLocation"];
    assert_eq!(deactivated["isActive"], false);
    assert_eq!(deactivated["transfer"]["risk"], "MEDIUM");
    let answer = api.gql(&org.token, risk, json!({"id": asset})).await;
    assert_eq!(answer.data()["digitalAsset"]["transferRisk"], "NONE");
}

async fn headquarters_outside_the_eea_are_named_and_change_no_risk(backend: Backend) {
    let Some(api) = Api::start(backend).await else {
        return;
    };
    let org = api.org("a").await;
    let conn = api.db.connect().await;
    exec(
        &conn,
        &format!(
            "UPDATE organizations SET headquarters_country_id = 'GB' WHERE id = '{}'",
            org.id
        ),
    )
    .await;
    let (_, locations) = asset_with(
        &api,
        &org,
        "CRM",
        true,
        json!([location("x", "CN", Some("SCC")), location("y", "FR", None)]),
    )
    .await;
    for l in &locations {
        let t = &l["transfer"];
        assert_eq!(
            t["reasons"].as_array().unwrap().last().unwrap(),
            "EXPORTER_OUTSIDE_EEA",
            "{t}"
        );
        let explanation = t["explanation"].as_str().unwrap();
        assert!(explanation.contains("United Kingdom"), "{explanation}");
        assert!(explanation.contains("UK and Swiss"), "{explanation}");
    }
    assert_eq!(locations[0]["transfer"]["risk"], "MEDIUM");
    assert_eq!(locations[1]["transfer"]["risk"], "NONE");

    // Headquarters in the EEA (Åland, since migration 6) are not mentioned.
    exec(
        &conn,
        &format!(
            "UPDATE organizations SET headquarters_country_id = 'AX' WHERE id = '{}'",
            org.id
        ),
    )
    .await;
    let answer = api
        .gql(
            &org.token,
            &format!("{{ crossBorderTransfers {{ nodes {{ {ASSESSMENT} }} }} }}"),
            json!({}),
        )
        .await;
    let t = &answer.data()["crossBorderTransfers"]["nodes"][0]["transfer"];
    assert_eq!(
        t["reasons"],
        json!([
            "APPROPRIATE_SAFEGUARD",
            "TRANSFER_IMPACT_ASSESSMENT_EXPECTED"
        ])
    );
    conn.close().await.ok();
}

on_both_backends!(
    the_corrected_reference_data_is_served,
    every_destination_mechanism_and_personal_data_combination_is_assessed,
    cross_border_transfers_list_worst_first_and_filter,
    transfer_summary_and_activity_transfers_aggregate_per_country,
    another_organizations_assets_never_appear,
    mutations_accept_a_third_country_location_without_mechanism_and_show_it_critical,
    headquarters_outside_the_eea_are_named_and_change_no_risk,
);

#[tokio::test]
async fn assessed_pages_cost_the_same_statements_for_10_and_100_locations() {
    let Some(api) = Api::start(Backend::Postgres).await else {
        return;
    };
    let org = api.org("a").await;
    let conn = api.db.connect().await;
    let assets: Vec<String> = (0..120)
        .map(|i| {
            format!(
                "('asset-{i:03}', '{}', 'Asset {i:03}', 'DATABASE', true)",
                org.id
            )
        })
        .collect();
    exec(&conn, &format!("INSERT INTO digital_assets (id, organization_id, name, type, contains_personal_data) VALUES {}", assets.join(","))).await;
    let locations: Vec<String> = (0..120)
        .flat_map(|i| {
            let org = org.id.clone();
            [(0, "CN", "NULL"), (1, "US", "'SCC'")].map(move |(n, c, m)| {
                format!("('loc-{i:03}-{n}', '{org}', 'asset-{i:03}', 'svc {n}', 'p', '{c}', 'HOSTING', {m})")
            })
        })
        .collect();
    exec(&conn, &format!("INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, purpose_text, country_id, location_role, transfer_mechanism_id) VALUES {}", locations.join(","))).await;
    conn.close().await.ok();

    let cost = |query: &'static str| {
        let api = &api;
        let org = &org;
        async move {
            // The first request loads the reference cache.
            api.gql(&org.token, query, json!({"n": 1})).await.data();
            let mut counts = Vec::new();
            for n in [10, 100] {
                let before = api.statements().await;
                let answer = api.gql(&org.token, query, json!({"n": n})).await;
                answer.data();
                counts.push(api.statements().await - before);
            }
            counts
        }
    };
    let list = cost(
        "query($n: Int) { crossBorderTransfers(first: $n) { totalCount nodes { service
           country { isoCode adequacy { partial } } transferMechanism { code }
           transfer { risk legalBasis reasons explanation }
           digitalAsset { name transferRisk } } } }",
    )
    .await;
    eprintln!(
        "SQL statements per crossBorderTransfers page: 10 locations {}, 100 locations {}",
        list[0], list[1]
    );
    assert_eq!(
        list[0], list[1],
        "statements must not grow with the page size"
    );
    // The page, its total, the headquarters, the page's assets and their active locations.
    assert_eq!(list[1], 5, "statements for one page");

    let assets = cost(
        "query($n: Int) { digitalAssets(first: $n, filter: {transferRisk: CRITICAL}) { totalCount
           nodes { transferRisk processingLocations { transfer { risk explanation } } } } }",
    )
    .await;
    eprintln!(
        "SQL statements per digitalAssets page with transfers: 10 assets {}, 100 assets {}",
        assets[0], assets[1]
    );
    assert_eq!(
        assets[0], assets[1],
        "statements must not grow with the page size"
    );

    let before = api.statements().await;
    let answer = api
        .gql(
            &org.token,
            &format!("{{ transferSummary {{ {SUMMARY} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        summary_rows(&answer.data()["transferSummary"]),
        [
            json!(["CN", 120, 120, "CRITICAL", [0, 0, 0, 0, 120], []]),
            json!(["US", 120, 120, "LOW", [0, 120, 0, 0, 0], ["SCC"]]),
        ]
    );
    assert_eq!(
        api.statements().await - before,
        2,
        "the summary is one statement, its mechanisms one more"
    );
    let before = api.statements().await;
    let answer = api
        .gql(
            &org.token,
            "{ transferSummary { country { isoCode } worstRisk } }",
            json!({}),
        )
        .await;
    answer.data();
    assert_eq!(
        api.statements().await - before,
        1,
        "a summary without mechanisms"
    );
}
