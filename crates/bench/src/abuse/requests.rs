//! What each attack is and sends.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;

use super::{AbuseArgs, Attack, COST_ORG, LOCK_ORG};
use crate::BenchError;
use crate::attacks::{About, Expect, Tally};
use crate::data;

impl Attack {
    pub(super) fn tally(self, args: &AbuseArgs) -> Arc<Tally> {
        let (what, from, clients, expected) = match self {
            Self::Complex => (
                "60 × `digitalAssets(first: 100)` with locations and countries",
                "organization 1",
                args.cost_clients,
                "BAD_USER_INPUT, too complex",
            ),
            Self::Budget => (
                "`digitalAssets(first: 1)` whose asset has the added locations",
                "organization 1",
                args.cost_clients,
                "RESPONSE_TOO_LARGE",
            ),
            Self::Blocked => (
                "`updateDigitalAsset` of a row locked by another transaction",
                "organization 2",
                args.blocked,
                "LOCK_TIMEOUT, or 503 + Retry-After",
            ),
            Self::Bodies => (
                "the same update, its body padded to `--body-bytes`",
                "organization 2",
                args.big_bodies,
                "LOCK_TIMEOUT, BAD_USER_INPUT, or 503 + Retry-After",
            ),
            Self::Idle => (
                "connections that send nothing, reopened when closed",
                "anonymous",
                args.idle,
                "closed by the API",
            ),
            Self::Slowloris => (
                "connections sending a header byte a second",
                "anonymous",
                args.slowloris,
                "closed by the API",
            ),
        };
        let number = match self {
            Self::Complex | Self::Budget => 1,
            Self::Blocked | Self::Bodies => 6,
            Self::Idle | Self::Slowloris => 7,
        };
        Tally::new(About {
            number,
            name: self.name(),
            what,
            from,
            clients,
            expected,
        })
    }

    /// The request an attack sends (its organization, body and expected answers); `None` for
    /// the attacks on connections.
    pub(super) fn request(
        self,
        args: &AbuseArgs,
    ) -> Result<Option<(u32, Bytes, Expect)>, BenchError> {
        let asset = data::asset(&args.size, LOCK_ORG, 0);
        let locked = |codes| Expect {
            codes,
            message: None,
            shed: true,
        };
        let (org, body, expect) = match self {
            Self::Complex => (
                COST_ORG,
                json!({ "query": too_complex_query() }),
                Expect {
                    codes: &["BAD_USER_INPUT"],
                    message: Some("too complex"),
                    shed: false,
                },
            ),
            Self::Budget => (
                COST_ORG,
                json!({ "query": TOO_LARGE_QUERY }),
                Expect {
                    codes: &["RESPONSE_TOO_LARGE"],
                    message: None,
                    shed: false,
                },
            ),
            Self::Blocked => (
                LOCK_ORG,
                json!({ "query": UPDATE_MUTATION, "variables": {"id": asset} }),
                locked(&["LOCK_TIMEOUT"]),
            ),
            Self::Bodies => (
                LOCK_ORG,
                json!({ "query": PAD_MUTATION, "variables": {"id": asset, "pad": "x".repeat(args.body_bytes)} }),
                locked(&["LOCK_TIMEOUT", "BAD_USER_INPUT"]),
            ),
            Self::Idle | Self::Slowloris => return Ok(None),
        };
        Ok(Some((org, json_body(&body)?, expect)))
    }
}

const TOO_LARGE_QUERY: &str = "query Big { digitalAssets(first: 1) { nodes { processingLocations { service country { name isoCode } } } } }";
const UPDATE_MUTATION: &str = "mutation Touch($id: ID!) { updateDigitalAsset(id: $id, input: {discoveredVia: \"bench abuse\"}) { id } }";
const PAD_MUTATION: &str = "mutation Pad($id: ID!, $pad: String) { updateDigitalAsset(id: $id, input: {description: $pad}) { id } }";

/// 60 aliases of a page of 100 assets with their locations' countries: far over the cost limit.
fn too_complex_query() -> String {
    let fields: Vec<String> = (0..60)
        .map(|n| {
            format!(
                "a{n}: digitalAssets(first: 100) {{ nodes {{ processingLocations {{ country {{ name }} }} }} }}"
            )
        })
        .collect();
    format!("query Costly {{ {} }}", fields.join(" "))
}

fn json_body(value: &serde_json::Value) -> Result<Bytes, BenchError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| BenchError::Setup(e.to_string()))
}
