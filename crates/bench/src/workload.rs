//! The workloads: what each request asks, as GraphQL for the API and as the fastest SQL found for
//! the raw limit, and how each answer is checked (both sides return the same JSON shape).

use clap::ValueEnum;
use serde_json::{Value, json};

use crate::data::{self, COUNTRIES, Size};

/// A named mix of requests.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A tenant's first 50 assets by name, with locations (service, country) and activities.
    List,
    /// One asset by id with the same relations.
    Get,
    /// A new asset with two locations.
    Create,
    /// A tenant's active locations in one country, with their assets.
    ByCountry,
    /// 80% reads (list 30%, get 40%, by-country 10%), 20% creates.
    Mixed,
    /// A seeded asset's description changed to a text never used before (every call writes).
    Update,
    /// `crossBorderTransfers(first: 50)` and `transferSummary`, half and half.
    Transfers,
    /// `digitalAssets(filter: { search }, first: 50)` for three digits of a random asset's
    /// number ([`search_text`]).
    Search,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Self::List,
        Self::Get,
        Self::ByCountry,
        Self::Transfers,
        Self::Create,
        Self::Update,
        Self::Mixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::List => "list",
            Self::Get => "get",
            Self::Create => "create",
            Self::ByCountry => "by-country",
            Self::Mixed => "mixed",
            Self::Update => "update",
            Self::Transfers => "transfers",
            Self::Search => "search",
        }
    }

    /// The next operation, drawn with `rng` (for organization `org`, or any); `serial` numbers
    /// creates and updates uniquely.
    pub fn next(self, size: &Size, org: Option<u32>, rng: &mut Rng, serial: u64) -> Op {
        let org = org.unwrap_or_else(|| rng.below(size.orgs));
        let kind = match self {
            Self::Mixed => match rng.below(10) {
                0..=2 => Self::List,
                3..=6 => Self::Get,
                7 => Self::ByCountry,
                _ => Self::Create,
            },
            other => other,
        };
        match kind {
            Self::List | Self::Mixed => Op::List { org },
            Self::Get => Op::Get {
                org,
                asset: data::asset(size, org, rng.below(size.assets)),
            },
            Self::ByCountry => Op::ByCountry {
                org,
                country: COUNTRIES[rng.below(COUNTRIES.len() as u32) as usize],
            },
            Self::Create => Op::Create { org, serial },
            Self::Update => Op::Update {
                org,
                asset: data::asset(size, org, rng.below(size.assets)),
                serial,
            },
            Self::Transfers => match rng.below(2) {
                0 => Op::TransferPage { org },
                _ => Op::TransferSummary { org },
            },
            Self::Search => Op::Search {
                org,
                text: search_text(size, org, rng.below(size.assets)),
            },
        }
    }
}

/// What `search` looks for, for asset `a` of organization `o`: the first three digits of its
/// number `n`, which the seed writes into its description (`Benchmark asset number n`) and url
/// (`https://asset-n.bench.invalid/`). With five-digit numbers (organizations 5 and up of the
/// default data set) it matches the hundred assets `n / 100 * 100` to `+ 99`, all of the same
/// organization (5% of its 2000), plus the few whose name (ten hex digits of an md5) holds the
/// same three digits; below 100, the end of `number n` (`r 7`, ` 42`).
pub fn search_text(size: &Size, org: u32, a: u32) -> String {
    let n = u64::from(org) * u64::from(size.assets) + u64::from(a);
    let digits = n.to_string();
    if digits.len() >= 3 {
        digits[..3].to_owned()
    } else {
        let tail = format!("er {digits}");
        tail[tail.len() - 3..].to_owned()
    }
}

/// Page size of `list`.
pub const PAGE: u32 = 50;

/// One request.
#[derive(Debug, Clone)]
pub enum Op {
    List {
        org: u32,
    },
    Get {
        org: u32,
        asset: String,
    },
    Create {
        org: u32,
        serial: u64,
    },
    ByCountry {
        org: u32,
        country: &'static str,
    },
    Update {
        org: u32,
        asset: String,
        serial: u64,
    },
    TransferPage {
        org: u32,
    },
    TransferSummary {
        org: u32,
    },
    Search {
        org: u32,
        text: String,
    },
}

const LIST_QUERY: &str = "query List($first: Int!) { digitalAssets(first: $first) { nodes { id name processingLocations { service country { isoCode } } activities { name } } } }";
const GET_QUERY: &str = "query Get($id: ID!) { digitalAsset(id: $id) { id name processingLocations { service country { isoCode } } activities { name } } }";
// Created assets sort after the seeded ones ("Bench created" > "Asset") and their locations are
// in countries `by-country` never reads (AT, PH), so writes leave the read workloads' answers as
// they were.
const CREATE_MUTATION: &str = "mutation Create($input: CreateDigitalAssetInput!) { createDigitalAsset(input: $input) { id name processingLocations { id service country { isoCode } } } }";
// Only descriptions change, which no read workload asks for.
const UPDATE_MUTATION: &str = "mutation Update($id: ID!, $input: UpdateDigitalAssetInput!) { updateDigitalAsset(id: $id, input: $input) { id name description } }";
const TRANSFER_PAGE_QUERY: &str = "query Transfers($first: Int!) { crossBorderTransfers(first: $first) { totalCount nodes { id service country { isoCode } digitalAsset { name } transfer { risk legalBasis reasons } } } }";
const TRANSFER_SUMMARY_QUERY: &str =
    "query TransferSummary { transferSummary { country { isoCode } assets locations worstRisk } }";
const SEARCH_QUERY: &str = "query Search($text: String!, $first: Int!) { digitalAssets(filter: { search: $text }, first: $first) { totalCount nodes { id name } } }";
const BY_COUNTRY_QUERY: &str = "query ByCountry($country: ID!) { locationsByCountry(countryId: $country, isActive: true) { id service locationRole digitalAsset { id name } } }";

/// The relations of a page of assets (`page`: a CTE of `id, name` rows), batched per relation
/// and folded into JSON by PostgreSQL: one statement, one round trip, one text value.
fn assets_with_relations(page: &str, fold: &str) -> String {
    format!(
        "WITH page AS ({page}),
         locs AS (
           SELECT l.digital_asset_id,
                  json_agg(json_build_object('service', l.service, 'country', json_build_object('isoCode', c.iso_code))
                           ORDER BY l.created_at, l.id) AS j
           FROM asset_processing_locations l JOIN countries c ON c.id = l.country_id
           WHERE l.organization_id = $1 AND l.is_active AND l.digital_asset_id IN (SELECT id FROM page)
           GROUP BY l.digital_asset_id),
         acts AS (
           SELECT la.digital_asset_id, json_agg(json_build_object('name', a.name) ORDER BY a.name, a.id) AS j
           FROM data_processing_activity_digital_assets la
           JOIN data_processing_activities a ON a.id = la.activity_id AND a.organization_id = $1
           WHERE la.digital_asset_id IN (SELECT id FROM page)
           GROUP BY la.digital_asset_id),
         rows AS (
           SELECT p.name, p.id, json_build_object('id', p.id, 'name', p.name,
                    'processingLocations', coalesce(locs.j, '[]'), 'activities', coalesce(acts.j, '[]')) AS j
           FROM page p LEFT JOIN locs ON locs.digital_asset_id = p.id LEFT JOIN acts ON acts.digital_asset_id = p.id)
         {fold}"
    )
}

/// SQL of the raw limit, per operation kind; `$1` is always the organization.
pub fn raw_list_sql() -> String {
    assets_with_relations(
        &format!(
            "SELECT id, name FROM digital_assets WHERE organization_id = $1 ORDER BY name, id LIMIT {PAGE}"
        ),
        "SELECT coalesce(json_agg(j ORDER BY name, id), '[]')::text FROM rows",
    )
}

pub fn raw_get_sql() -> String {
    assets_with_relations(
        "SELECT id, name FROM digital_assets WHERE organization_id = $1 AND id = $2",
        "SELECT coalesce((SELECT j FROM rows), 'null')::text",
    )
}

pub const RAW_BY_COUNTRY_SQL: &str = "SELECT coalesce(json_agg(json_build_object('id', l.id, 'service', l.service,
        'locationRole', l.location_role, 'digitalAsset', json_build_object('id', a.id, 'name', a.name))
        ORDER BY l.created_at, l.id), '[]')::text
     FROM asset_processing_locations l JOIN digital_assets a ON a.id = l.digital_asset_id AND a.organization_id = $1
     WHERE l.organization_id = $1 AND l.country_id = $2 AND l.is_active";

/// `$1` organization, `$2` asset id, `$3` name, `$4`/`$5` location ids.
pub const RAW_CREATE_SQL: &str = "WITH a AS (
       INSERT INTO digital_assets (id, organization_id, name, type) VALUES ($2, $1, $3, 'DATABASE') RETURNING id, name),
     l AS (
       INSERT INTO asset_processing_locations (id, organization_id, digital_asset_id, service, purpose_text,
           country_id, location_role, transfer_mechanism_id, created_at)
       SELECT v.id, $1, a.id, v.service, 'Benchmark purpose', v.country, v.role::\"LocationRole\", v.mechanism,
              clock_timestamp()
       FROM a, (VALUES ($4, 'Hosting', 'AT', 'HOSTING', NULL), ($5, 'Support', 'PH', 'PROCESSING', 'SCC'))
            AS v(id, service, country, role, mechanism)
       RETURNING id, service, country_id, created_at)
     SELECT json_build_object('id', a.id, 'name', a.name, 'processingLocations',
         (SELECT json_agg(json_build_object('id', l.id, 'service', l.service, 'country', json_build_object('isoCode', c.iso_code))
                 ORDER BY l.created_at, l.id)
          FROM l JOIN countries c ON c.id = l.country_id))::text
     FROM a";

/// `search`: `$1` organization, `$2` the `ILIKE` pattern (`%text%`); the first page by name,
/// then id (the API's default order), and the total.
pub const RAW_SEARCH_SQL: &str = "WITH m AS (
       SELECT id, name FROM digital_assets
       WHERE organization_id = $1 AND (name ILIKE $2 OR description ILIKE $2 OR url ILIKE $2)),
     page AS (SELECT id, name FROM m ORDER BY name, id LIMIT 50)
     SELECT json_build_object('totalCount', (SELECT count(*) FROM m), 'nodes',
         coalesce((SELECT json_agg(json_build_object('id', id, 'name', name) ORDER BY name, id) FROM page), '[]'))::text";

/// `$1` organization, `$2` asset id, `$3` the new description.
pub const RAW_UPDATE_SQL: &str = "UPDATE digital_assets SET description = $3, updated_at = now()
     WHERE organization_id = $1 AND id = $2
     RETURNING json_build_object('id', id, 'name', name, 'description', description)::text";

/// The organization's active locations with their Chapter V risk (0 NONE to 4 CRITICAL), the
/// rules of `service::transfers::risk` written over the reference tables themselves: each
/// country's status (0 EEA, 1 adequate, 2 partially adequate, 3 third country) and each
/// mechanism's kind (0 none, 1 adequacy, 2 safeguard, 3 derogation, 4 inactive, 5 other) are
/// worked out once per reference row, not once per location (a third of the time of a summary).
const RAW_RISKED: &str = "dest AS MATERIALIZED (
       SELECT id, iso_code,
              CASE WHEN gdpr_status ?| array['EU','EEA'] THEN 0
                   WHEN gdpr_status ? 'Adequate' THEN CASE WHEN adequacy_partial THEN 2 ELSE 1 END
                   ELSE 3 END AS status
       FROM countries),
     mech AS MATERIALIZED (
       SELECT id, gdpr_article AS article,
              CASE WHEN NOT is_active THEN 4 WHEN category = 'ADEQUACY' THEN 1
                   WHEN category = 'APPROPRIATE_SAFEGUARD' THEN 2 WHEN category = 'DEROGATION' THEN 3
                   ELSE 5 END AS kind
       FROM transfer_mechanisms),
     risked AS (
       SELECT l.id, l.service, l.country_id, l.digital_asset_id, l.transfer_mechanism_id, d.iso_code,
              a.name AS asset_name, a.contains_personal_data AS personal, m.article, d.status,
              coalesce(m.kind, 0) AS kind,
              CASE WHEN NOT a.contains_personal_data OR d.status = 0 THEN 0
                   WHEN d.status = 1 THEN 1
                   WHEN d.status = 2 THEN CASE WHEN m.kind = 2 THEN 1 ELSE 2 END
                   ELSE CASE m.kind WHEN 2 THEN 2 WHEN 3 THEN 3 ELSE 4 END END AS risk
       FROM asset_processing_locations l
       JOIN digital_assets a ON a.id = l.digital_asset_id AND a.organization_id = $1
       JOIN dest d ON d.id = l.country_id
       LEFT JOIN mech m ON m.id = l.transfer_mechanism_id
       WHERE l.organization_id = $1 AND l.is_active)";

const RISK_NAMES: &str = "(ARRAY['NONE','LOW','MEDIUM','HIGH','CRITICAL'])";

/// `crossBorderTransfers(first: 50)` (active locations at LOW or worse, worst first, then by id,
/// with their total, counted by a window over the same rows: faster than a second scan or a
/// materialized `risked`), assessed as `service::transfers::assess` does: one statement.
pub fn raw_transfer_page_sql() -> String {
    format!(
        "WITH {RAW_RISKED},
         hq AS (
           SELECT coalesce(NOT (hc.gdpr_status ?| array['EU','EEA']), false) AS outside
           FROM organizations o LEFT JOIN countries hc ON hc.id = o.headquarters_country_id
           WHERE o.id = $1),
         page AS (
           SELECT *, count(*) OVER () AS total FROM risked WHERE risk >= 1
           ORDER BY risk DESC, id LIMIT {PAGE})
         SELECT json_build_object('totalCount', coalesce(max(total), 0), 'nodes', coalesce(json_agg(
           json_build_object('id', id, 'service', service, 'country', json_build_object('isoCode', iso_code),
             'digitalAsset', json_build_object('name', asset_name),
             'transfer', json_build_object('risk', {RISK_NAMES}[risk + 1],
               'legalBasis', CASE WHEN status = 0 OR NOT personal THEN NULL
                                  WHEN status = 1 THEN 'Art. 45'
                                  WHEN status = 2 THEN CASE WHEN kind = 2 THEN article ELSE 'Art. 45' END
                                  WHEN kind IN (2, 3) THEN article END,
               'reasons', CASE WHEN status = 0 THEN CASE WHEN personal THEN ARRAY['DESTINATION_IN_EEA']
                                                         ELSE ARRAY['DESTINATION_IN_EEA','NO_PERSONAL_DATA'] END
                               WHEN NOT personal THEN ARRAY['NO_PERSONAL_DATA']
                               WHEN status = 1 THEN CASE WHEN kind = 4 THEN ARRAY['ADEQUACY_DECISION','INACTIVE_MECHANISM']
                                                         ELSE ARRAY['ADEQUACY_DECISION'] END
                               WHEN status = 2 THEN ARRAY['PARTIAL_ADEQUACY'] || CASE kind
                                   WHEN 2 THEN ARRAY['APPROPRIATE_SAFEGUARD'] WHEN 3 THEN ARRAY['DEROGATION_ONLY']
                                   WHEN 4 THEN ARRAY['INACTIVE_MECHANISM'] WHEN 5 THEN ARRAY['UNRECOGNISED_MECHANISM']
                                   ELSE ARRAY[]::text[] END
                               ELSE CASE kind WHEN 0 THEN ARRAY['NO_MECHANISM'] WHEN 1 THEN ARRAY['ADEQUACY_WITHOUT_DECISION']
                                   WHEN 2 THEN ARRAY['APPROPRIATE_SAFEGUARD','TRANSFER_IMPACT_ASSESSMENT_EXPECTED']
                                   WHEN 3 THEN ARRAY['DEROGATION_ONLY'] WHEN 4 THEN ARRAY['INACTIVE_MECHANISM']
                                   ELSE ARRAY['UNRECOGNISED_MECHANISM'] END
                          END || CASE WHEN (SELECT outside FROM hq) THEN ARRAY['EXPORTER_OUTSIDE_EEA']
                                      ELSE ARRAY[]::text[] END))
           ORDER BY risk DESC, id), '[]'))::text
         FROM page"
    )
}

/// Organization `$1`'s active locations per risk level (what `transfers` has to assess).
pub fn raw_risk_counts_sql() -> String {
    format!(
        "WITH {RAW_RISKED}
         SELECT {RISK_NAMES}[risk + 1], count(*) FROM risked GROUP BY risk ORDER BY risk"
    )
}

/// Organization `$1`'s active locations of personal data in third countries without an
/// adequacy decision, per mechanism recorded.
pub fn raw_third_country_mechanisms_sql() -> String {
    format!(
        "WITH {RAW_RISKED}
         SELECT coalesce(transfer_mechanism_id, 'none'), count(*) FROM risked
         WHERE status = 3 AND personal GROUP BY 1 ORDER BY 1"
    )
}

/// `transferSummary`: per destination country of the active locations, worst first, then by
/// country name (compared as the API does, byte by byte): one statement.
pub fn raw_transfer_summary_sql() -> String {
    format!(
        "WITH {RAW_RISKED},
         per AS (
           SELECT country_id, count(DISTINCT digital_asset_id) AS assets, count(*) AS locations,
                  max(risk) AS worst
           FROM risked GROUP BY country_id)
         SELECT coalesce(json_agg(json_build_object('country', json_build_object('isoCode', c.iso_code),
             'assets', per.assets, 'locations', per.locations, 'worstRisk', {RISK_NAMES}[per.worst + 1])
           ORDER BY per.worst DESC, c.name COLLATE \"C\"), '[]')::text
         FROM per JOIN countries c ON c.id = per.country_id"
    )
}

impl Op {
    pub fn org(&self) -> u32 {
        match self {
            Op::List { org }
            | Op::Get { org, .. }
            | Op::Create { org, .. }
            | Op::ByCountry { org, .. }
            | Op::Update { org, .. }
            | Op::TransferPage { org }
            | Op::TransferSummary { org }
            | Op::Search { org, .. } => *org,
        }
    }

    /// What kind of request it is (latencies are also kept per kind).
    pub fn kind(&self) -> &'static str {
        match self {
            Op::List { .. } => "list",
            Op::Get { .. } => "get",
            Op::Create { .. } => "create",
            Op::ByCountry { .. } => "by-country",
            Op::Update { .. } => "update",
            Op::TransferPage { .. } => "crossBorderTransfers",
            Op::TransferSummary { .. } => "transferSummary",
            Op::Search { .. } => "search",
        }
    }

    /// The description an update sets: a text no earlier call used, so every call writes.
    pub fn update_text(serial: u64) -> String {
        format!("Bench updated {serial}")
    }

    /// The GraphQL request body.
    pub fn graphql(&self) -> Value {
        match self {
            Op::List { .. } => json!({"query": LIST_QUERY, "variables": {"first": PAGE}}),
            Op::Get { asset, .. } => json!({"query": GET_QUERY, "variables": {"id": asset}}),
            Op::ByCountry { country, .. } => {
                json!({"query": BY_COUNTRY_QUERY, "variables": {"country": country}})
            }
            Op::Create { serial, .. } => json!({"query": CREATE_MUTATION, "variables": {"input": {
                "name": format!("Bench created {serial}"),
                "type": "DATABASE",
                "locations": [
                    {"service": "Hosting", "countryId": "AT", "locationRole": "HOSTING", "purposeText": "Benchmark purpose"},
                    {"service": "Support", "countryId": "PH", "locationRole": "PROCESSING", "purposeText": "Benchmark purpose", "transferMechanismId": "SCC"}
                ]
            }}}),
            Op::Update { asset, serial, .. } => json!({"query": UPDATE_MUTATION, "variables": {
                "id": asset,
                "input": {"description": Op::update_text(*serial)}
            }}),
            Op::TransferPage { .. } => {
                json!({"query": TRANSFER_PAGE_QUERY, "variables": {"first": PAGE}})
            }
            Op::TransferSummary { .. } => json!({"query": TRANSFER_SUMMARY_QUERY}),
            Op::Search { text, .. } => {
                json!({"query": SEARCH_QUERY, "variables": {"text": text, "first": PAGE}})
            }
        }
    }

    /// Checks the `data` of a GraphQL answer (or the raw JSON, which has the same shape as the
    /// field's value).
    pub fn check(&self, size: &Size, value: &Value) -> Result<(), String> {
        match self {
            Op::List { .. } => {
                let nodes = value
                    .as_array()
                    .ok_or_else(|| format!("list: not an array: {}", short(value)))?;
                let want = PAGE.min(size.assets) as usize;
                if nodes.len() != want {
                    return Err(format!("list: {} assets, expected {want}", nodes.len()));
                }
                nodes.iter().try_for_each(check_asset)
            }
            Op::Get { asset, .. } => {
                check_asset(value)?;
                if value["id"] != asset.as_str() {
                    return Err(format!("get: asked {asset}, got {}", short(value)));
                }
                Ok(())
            }
            Op::Create { .. } => {
                let locations = value["processingLocations"].as_array().map_or(0, Vec::len);
                if value["id"].is_string() && locations == 2 {
                    Ok(())
                } else {
                    Err(format!("create: unexpected answer {}", short(value)))
                }
            }
            Op::ByCountry { .. } => {
                let rows = value
                    .as_array()
                    .ok_or_else(|| format!("by-country: not an array: {}", short(value)))?;
                match rows.iter().find(|r| !r["digitalAsset"]["name"].is_string()) {
                    Some(bad) => Err(format!("by-country: row without its asset: {}", short(bad))),
                    None => Ok(()),
                }
            }
            Op::Update { asset, serial, .. } => {
                if value["id"] == asset.as_str()
                    && value["name"].is_string()
                    && value["description"] == Op::update_text(*serial).as_str()
                {
                    Ok(())
                } else {
                    Err(format!(
                        "update: asked {asset} with serial {serial}, got {}",
                        short(value)
                    ))
                }
            }
            Op::TransferPage { .. } => check_transfer_page(value),
            Op::TransferSummary { .. } => check_transfer_summary(value),
            Op::Search { org, text } => check_search(size, *org, text, value),
        }
    }

    /// The field of `data` this operation's answer is in.
    pub fn data_path(&self) -> &'static [&'static str] {
        match self {
            Op::List { .. } => &["digitalAssets", "nodes"],
            Op::Get { .. } => &["digitalAsset"],
            Op::Create { .. } => &["createDigitalAsset"],
            Op::ByCountry { .. } => &["locationsByCountry"],
            Op::Update { .. } => &["updateDigitalAsset"],
            Op::TransferPage { .. } => &["crossBorderTransfers"],
            Op::TransferSummary { .. } => &["transferSummary"],
            Op::Search { .. } => &["digitalAssets"],
        }
    }
}

fn check_asset(asset: &Value) -> Result<(), String> {
    let ok = asset["id"].is_string()
        && asset["name"].is_string()
        && asset["processingLocations"]
            .as_array()
            .is_some_and(|l| l.iter().all(|l| l["country"]["isoCode"].is_string()))
        && asset["activities"].is_array();
    if ok {
        Ok(())
    } else {
        Err(format!("asset without its relations: {}", short(asset)))
    }
}

/// The level of a `TransferRisk` name (0 NONE to 4 CRITICAL).
fn risk_level(value: &Value) -> Option<usize> {
    const RISKS: [&str; 5] = ["NONE", "LOW", "MEDIUM", "HIGH", "CRITICAL"];
    RISKS.iter().position(|r| value.as_str() == Some(*r))
}

/// Whether `levels` never rises (worst first).
fn worst_first(levels: &[usize]) -> bool {
    levels.windows(2).all(|w| w[0] >= w[1])
}

/// A page of active locations at LOW or worse, worst first, each assessed; as long as the
/// total allows.
fn check_transfer_page(value: &Value) -> Result<(), String> {
    let total = value["totalCount"]
        .as_u64()
        .ok_or_else(|| format!("crossBorderTransfers: no totalCount: {}", short(value)))?;
    let nodes = value["nodes"]
        .as_array()
        .ok_or_else(|| format!("crossBorderTransfers: no nodes: {}", short(value)))?;
    let want = total.min(u64::from(PAGE)) as usize;
    if nodes.len() != want {
        return Err(format!(
            "crossBorderTransfers: {} locations of {total}, expected {want}",
            nodes.len()
        ));
    }
    let mut levels = Vec::with_capacity(nodes.len());
    for node in nodes {
        let transfer = &node["transfer"];
        let level = risk_level(&transfer["risk"]).filter(|&l| l >= 1);
        let ok = node["id"].is_string()
            && node["service"].is_string()
            && node["country"]["isoCode"].is_string()
            && node["digitalAsset"]["name"].is_string()
            && (transfer["legalBasis"].is_string() || transfer["legalBasis"].is_null())
            && transfer["reasons"]
                .as_array()
                .is_some_and(|r| !r.is_empty() && r.iter().all(Value::is_string));
        match level {
            Some(level) if ok => levels.push(level),
            _ => {
                return Err(format!(
                    "crossBorderTransfers: not an assessed location at LOW or worse: {}",
                    short(node)
                ));
            }
        }
    }
    if worst_first(&levels) {
        Ok(())
    } else {
        Err("crossBorderTransfers: not worst first".into())
    }
}

/// One row per destination country, worst first, at least one location each.
fn check_transfer_summary(value: &Value) -> Result<(), String> {
    let rows = value
        .as_array()
        .filter(|rows| !rows.is_empty())
        .ok_or_else(|| format!("transferSummary: no countries: {}", short(value)))?;
    let mut levels = Vec::with_capacity(rows.len());
    for row in rows {
        let assets = row["assets"].as_u64().unwrap_or(0);
        let locations = row["locations"].as_u64().unwrap_or(0);
        match risk_level(&row["worstRisk"]) {
            Some(level)
                if row["country"]["isoCode"].is_string() && 1 <= assets && assets <= locations =>
            {
                levels.push(level);
            }
            _ => return Err(format!("transferSummary: bad row {}", short(row))),
        }
    }
    if worst_first(&levels) {
        Ok(())
    } else {
        Err("transferSummary: not worst first".into())
    }
}

/// A page of the organization's assets, as long as the total allows, the total at least the
/// assets whose number holds `text` (there is always one: the text was cut from such a number).
fn check_search(size: &Size, org: u32, text: &str, value: &Value) -> Result<(), String> {
    let total = value["totalCount"]
        .as_u64()
        .ok_or_else(|| format!("search {text:?}: no totalCount: {}", short(value)))?;
    let nodes = value["nodes"]
        .as_array()
        .ok_or_else(|| format!("search {text:?}: no nodes: {}", short(value)))?;
    let want = total.min(u64::from(PAGE)) as usize;
    if total == 0 || nodes.len() != want {
        return Err(format!(
            "search {text:?}: {} assets of {total}, expected {want} and at least one",
            nodes.len()
        ));
    }
    let first = u64::from(org) * u64::from(size.assets);
    let own = |id: &str| {
        id.strip_prefix("00000004-0000-7000-8000-")
            .and_then(|n| u64::from_str_radix(n, 16).ok())
            .is_some_and(|n| (first..first + u64::from(size.assets)).contains(&n))
    };
    match nodes
        .iter()
        .find(|n| !(n["id"].as_str().is_some_and(own) && n["name"].is_string()))
    {
        Some(bad) => Err(format!(
            "search {text:?}: not an asset of organization {org}: {}",
            short(bad)
        )),
        None => Ok(()),
    }
}

fn short(value: &Value) -> String {
    let mut text = value.to_string();
    if text.len() > 200 {
        let mut cut = 200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// A small deterministic generator (SplitMix64): each connection draws its own sequence.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` ≥ 1).
    pub fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n.max(1))) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_use_countries_that_by_country_never_reads() {
        for country in ["AT", "PH"] {
            assert!(!COUNTRIES.contains(&country));
            assert!(RAW_CREATE_SQL.contains(&format!("'{country}'")));
        }
        let create = Op::Create { org: 0, serial: 1 }.graphql().to_string();
        assert!(create.contains("\"AT\"") && create.contains("\"PH\""));
    }

    #[test]
    fn transfer_answers_must_be_assessed_and_worst_first() {
        let node = |risk: &str| {
            json!({"id": "l", "service": "s", "country": {"isoCode": "IN"}, "digitalAsset": {"name": "a"},
                   "transfer": {"risk": risk, "legalBasis": null, "reasons": ["NO_MECHANISM"]}})
        };
        let page = |risks: &[&str], total: usize| {
            let nodes: Vec<Value> = risks.iter().map(|r| node(r)).collect();
            Op::TransferPage { org: 0 }.check(
                &Size {
                    orgs: 1,
                    assets: 1,
                    locations: 1,
                    activities: 3,
                    links: 1,
                },
                &json!({"totalCount": total, "nodes": nodes}),
            )
        };
        assert!(page(&["CRITICAL", "MEDIUM", "LOW"], 3).is_ok());
        assert!(page(&["MEDIUM", "CRITICAL"], 2).is_err(), "not worst first");
        assert!(page(&["NONE"], 1).is_err(), "below LOW");
        assert!(page(&["LOW"], 2).is_err(), "fewer than the total allows");
        let summary = |rows: Value| check_transfer_summary(&rows);
        let row = |risk: &str, assets: u32, locations: u32| json!({"country": {"isoCode": "IN"}, "assets": assets, "locations": locations, "worstRisk": risk});
        assert!(summary(json!([row("CRITICAL", 2, 3), row("NONE", 1, 1)])).is_ok());
        assert!(summary(json!([row("NONE", 1, 1), row("LOW", 1, 1)])).is_err());
        assert!(
            summary(json!([row("LOW", 2, 1)])).is_err(),
            "more assets than locations"
        );
        assert!(summary(json!([])).is_err());
    }

    #[test]
    fn search_texts_are_three_characters_of_the_description() {
        let size = Size {
            orgs: 50,
            assets: 2000,
            locations: 3,
            activities: 20,
            links: 5,
        };
        assert_eq!(search_text(&size, 10, 345), "203");
        assert_eq!(search_text(&size, 0, 7), "r 7");
        assert_eq!(search_text(&size, 0, 42), " 42");
        for (o, a) in [(0, 7), (0, 42), (0, 999), (3, 5), (49, 1999)] {
            let n = o * 2000 + a;
            let text = search_text(&size, o, a);
            assert_eq!(text.len(), 3);
            assert!(format!("Benchmark asset number {n}").contains(&text));
        }
        let node = |n: u64| json!({"id": data::id(data::Kind::Asset, n), "name": "Asset x"});
        let op = Op::Search {
            org: 1,
            text: "200".into(),
        };
        assert!(
            op.check(&size, &json!({"totalCount": 1, "nodes": [node(2001)]}))
                .is_ok()
        );
        assert!(
            op.check(&size, &json!({"totalCount": 1, "nodes": [node(1)]}))
                .is_err(),
            "another organization's asset"
        );
        assert!(
            op.check(&size, &json!({"totalCount": 2, "nodes": [node(2001)]}))
                .is_err()
        );
        assert!(
            op.check(&size, &json!({"totalCount": 0, "nodes": []}))
                .is_err()
        );
    }

    #[test]
    fn draws_stay_in_range() {
        let mut rng = Rng::new(7);
        assert!((0..10_000).all(|_| rng.below(30) < 30));
    }
}
