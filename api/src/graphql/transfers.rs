//! GDPR Chapter V in the API: the assessment of a location, the organization's cross-border
//! transfers worst first, and where its data goes per destination country. The rules are the
//! service's (`service::transfers`); this module only shapes them.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{CursorType, OpaqueCursor};
use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use service::transfers::queries::{
    self, CountrySummary, RiskRules, TransferCursor, TransferFilter,
};
use service::transfers::{self, Assessment};
use tokio::sync::OnceCell;

use super::guard::charge_list;
use super::inputs::CrossBorderTransferFilter;
use super::loaders::Loaders;
use super::types::{AssetProcessingLocation, Country, PageInfo, TransferMechanism};
use super::{db, tenant};
use crate::error::{GqlResult, bad_input};

/// How exposed a processing location is under GDPR Chapter V (Art. 44–49), from "not a
/// restricted transfer" to "no legal basis". Ordered: NONE < LOW < MEDIUM < HIGH < CRITICAL.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "service::transfers::TransferRisk")]
pub enum TransferRisk {
    /// Not a restricted transfer: the destination is in the EEA (EU, Iceland, Liechtenstein,
    /// Norway), or the asset holds no personal data (Chapter V concerns personal data only).
    None,
    /// A lawful transfer with nothing left to do: the destination has an adequacy decision
    /// (Art. 45), or its decision is partial and an Art. 46 safeguard is also recorded.
    Low,
    /// Lawful, with work to do: an Art. 46/47 safeguard to a country without an adequacy
    /// decision (a transfer impact assessment is expected), or a partial adequacy decision
    /// alone (confirm the recipient is covered: e.g. its EU-US Data Privacy Framework
    /// certification, or that it falls under Canada's PIPEDA).
    Medium,
    /// Only an Art. 49 derogation: derogations cover occasional, non-repetitive transfers, and a
    /// processing location is systematic by nature.
    High,
    /// No Chapter V basis: personal data goes to a country without an adequacy decision with no
    /// mechanism, an inactive one, or ADEQUACY recorded although the country has no decision.
    Critical,
}

/// A machine-readable reason behind a transfer assessment.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "service::transfers::Reason")]
pub enum TransferReason {
    /// The asset holds no personal data: Chapter V concerns personal data only (risk NONE).
    NoPersonalData,
    /// The destination is in the EEA: not a transfer to a third country (risk NONE).
    DestinationInEea,
    /// An adequacy decision covers the destination (Art. 45; risk LOW).
    AdequacyDecision,
    /// The destination's adequacy decision covers only some recipients there (the country's
    /// `adequacy.scope` says which): MEDIUM unless an Art. 46 safeguard is also recorded.
    PartialAdequacy,
    /// An Art. 46/47 appropriate safeguard is recorded (SCC, BCR, code of conduct,
    /// certification, ad hoc clauses, administrative arrangement, public-authority instrument).
    AppropriateSafeguard,
    /// The safeguard goes to a country without an adequacy decision: a transfer impact
    /// assessment is expected.
    TransferImpactAssessmentExpected,
    /// Only an Art. 49 derogation is recorded, for a systematic transfer.
    DerogationOnly,
    /// No transfer mechanism is recorded (risk CRITICAL outside adequacy).
    NoMechanism,
    /// The recorded mechanism is inactive, so it cannot be relied on.
    InactiveMechanism,
    /// ADEQUACY is recorded, but the destination has no adequacy decision (risk CRITICAL).
    AdequacyWithoutDecision,
    /// The recorded mechanism's category is none of ADEQUACY, APPROPRIATE_SAFEGUARD or
    /// DEROGATION (a reference row added by hand), so it cannot be relied on.
    UnrecognisedMechanism,
    /// The organization's headquarters lie outside the EEA: the transfer is still assessed
    /// under the GDPR for its EEA operations (the UK's and Switzerland's own regimes are not
    /// assessed).
    ExporterOutsideEea,
}

/// Whether a processing location is a restricted transfer under GDPR Chapter V, on what legal
/// basis it takes place, and how exposed it is.
pub struct TransferAssessment(pub Assessment);

/// Whether a processing location is a restricted transfer under GDPR Chapter V, on what legal
/// basis it takes place, and how exposed it is.
#[Object]
impl TransferAssessment {
    /// How exposed the location is.
    async fn risk(&self) -> TransferRisk {
        self.0.risk.into()
    }
    /// Whether Chapter V applies: personal data to a country outside the EEA.
    async fn restricted(&self) -> bool {
        self.0.restricted
    }
    /// The article the transfer relies on, e.g. "Art. 45" or "Art. 46(2)(c)"; null where
    /// Chapter V does not apply or no lawful basis is recorded.
    async fn legal_basis(&self) -> Option<&str> {
        self.0.legal_basis.as_deref()
    }
    /// Why, as codes.
    #[graphql(complexity = "crate::graphql::ASSUMED_LIST_LEN * child_complexity + 1")]
    async fn reasons(&self, ctx: &Context<'_>) -> Result<Vec<TransferReason>> {
        charge_list(ctx, self.0.reasons.len())?;
        Ok(self.0.reasons.iter().map(|r| (*r).into()).collect())
    }
    /// Why, in one sentence a privacy officer can read.
    async fn explanation(&self) -> &str {
        &self.0.explanation
    }
}

/// The adequacy decision (Art. 45) covering a country.
#[derive(SimpleObject)]
pub struct CountryAdequacy {
    /// The European Commission's decision, e.g. "Commission Implementing Decision (EU)
    /// 2023/1795".
    pub decision: String,
    /// Whether the decision covers only some recipients in the country (a transfer to anyone
    /// else there needs an Art. 46 safeguard).
    pub partial: bool,
    /// Who the decision covers; for a partial one, what to confirm.
    pub scope: Option<String>,
}

/// `(risk level, location id)`, base64-encoded: where the next page starts.
type TransferPageCursor = OpaqueCursor<(i32, String)>;

/// One page of assessed processing locations, worst first (Relay cursor connection).
pub struct CrossBorderTransferConnection {
    nodes: Vec<(transfers::TransferRisk, AssetProcessingLocation)>,
    has_next_page: bool,
    has_previous_page: bool,
    rules: Arc<RiskRules>,
    filter: TransferFilter,
}

fn cursor(risk: transfers::TransferRisk, id: &str) -> String {
    OpaqueCursor((risk.level(), id.to_owned())).encode_cursor()
}

/// One page of assessed processing locations, worst first (Relay cursor connection).
#[Object]
impl CrossBorderTransferConnection {
    /// The locations of the page with their cursors.
    async fn edges(&self, ctx: &Context<'_>) -> Result<Vec<CrossBorderTransferEdge>> {
        charge_list(ctx, self.nodes.len())?;
        Ok(self
            .nodes
            .iter()
            .map(|(risk, node)| CrossBorderTransferEdge {
                cursor: cursor(*risk, &node.0.id),
                node: AssetProcessingLocation(node.0.clone()),
            })
            .collect())
    }
    /// The locations of the page, worst first, then by id.
    async fn nodes(&self, ctx: &Context<'_>) -> Result<Vec<AssetProcessingLocation>> {
        charge_list(ctx, self.nodes.len())?;
        Ok(self
            .nodes
            .iter()
            .map(|(_, node)| AssetProcessingLocation(node.0.clone()))
            .collect())
    }
    /// Where the page is in the list.
    async fn page_info(&self) -> PageInfo {
        PageInfo::of(
            &self.nodes,
            self.has_next_page,
            self.has_previous_page,
            |(risk, n)| cursor(*risk, &n.0.id),
        )
    }
    /// Locations matching the filter, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count = queries::count(db(ctx)?, tenant(ctx)?, &self.rules, &self.filter)
            .await
            .gql()?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }
}

/// An assessed location and its cursor.
#[derive(SimpleObject)]
pub struct CrossBorderTransferEdge {
    /// Pass as `after` to continue after this location.
    pub cursor: String,
    /// The location (its `transfer` field is the assessment).
    pub node: AssetProcessingLocation,
}

/// Locations per risk level.
#[derive(SimpleObject)]
pub struct TransferRiskCounts {
    /// Locations at NONE.
    pub none: i32,
    /// Locations at LOW.
    pub low: i32,
    /// Locations at MEDIUM.
    pub medium: i32,
    /// Locations at HIGH.
    pub high: i32,
    /// Locations at CRITICAL.
    pub critical: i32,
}

fn int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Where the organization's data goes, for one destination country: its active processing
/// locations there and their risk.
pub struct CountryTransferSummary {
    summary: CountrySummary,
    country: Arc<entity::countries::Model>,
    mechanisms: Arc<SummaryMechanisms>,
}

/// The mechanisms per country of one summary list, read with one statement when the first of
/// its rows asks for them.
struct SummaryMechanisms {
    activity_id: Option<String>,
    by_country: OnceCell<HashMap<String, Vec<String>>>,
}

/// Where the organization's data goes, for one destination country: its active processing
/// locations there and their risk.
#[Object]
impl CountryTransferSummary {
    /// The destination country.
    async fn country(&self) -> Country {
        Country::from(self.country.clone())
    }
    /// Assets with an active location there.
    async fn assets(&self) -> i32 {
        int(self.summary.assets)
    }
    /// Active locations there.
    async fn locations(&self) -> i32 {
        int(self.summary.locations)
    }
    /// The worst risk of those locations.
    async fn worst_risk(&self) -> TransferRisk {
        self.summary.worst.into()
    }
    /// Those locations per risk level.
    async fn risk_counts(&self) -> TransferRiskCounts {
        let n = |risk: transfers::TransferRisk| int(self.summary.by_risk[risk.level() as usize]);
        TransferRiskCounts {
            none: n(transfers::TransferRisk::None),
            low: n(transfers::TransferRisk::Low),
            medium: n(transfers::TransferRisk::Medium),
            high: n(transfers::TransferRisk::High),
            critical: n(transfers::TransferRisk::Critical),
        }
    }
    /// The transfer mechanisms recorded on those locations (for the Article 30 record's
    /// documentation of safeguards), by code.
    #[graphql(complexity = "20 * child_complexity + 1")]
    async fn mechanisms(&self, ctx: &Context<'_>) -> Result<Vec<TransferMechanism>> {
        let by_country = self
            .mechanisms
            .by_country
            .get_or_try_init(|| async {
                let pairs = queries::mechanisms_per_country(
                    db(ctx)?,
                    tenant(ctx)?,
                    self.mechanisms.activity_id.as_deref(),
                )
                .await
                .gql()?;
                let mut by_country: HashMap<String, Vec<String>> = HashMap::new();
                for (country, mechanism) in pairs {
                    by_country.entry(country).or_default().push(mechanism);
                }
                Ok::<_, async_graphql::Error>(by_country)
            })
            .await?;
        let ids = by_country
            .get(&self.summary.country_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let loaders = Loaders::of(ctx)?;
        let mut list = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = loaders.mechanism(id).await? {
                list.push(m);
            }
        }
        list.sort_by(|a, b| a.code.cmp(&b.code));
        charge_list(ctx, list.len())?;
        Ok(list.into_iter().map(TransferMechanism::from).collect())
    }
}

/// The summaries with their countries, worst first, then by country name.
async fn with_countries(
    loaders: &Loaders,
    summaries: Vec<CountrySummary>,
    activity_id: Option<String>,
) -> Result<Vec<CountryTransferSummary>> {
    let mechanisms = Arc::new(SummaryMechanisms {
        activity_id,
        by_country: OnceCell::new(),
    });
    let mut out = Vec::with_capacity(summaries.len());
    for summary in summaries {
        let Some(country) = loaders.country(&summary.country_id).await? else {
            continue;
        };
        out.push(CountryTransferSummary {
            summary,
            country,
            mechanisms: mechanisms.clone(),
        });
    }
    out.sort_by(|a, b| {
        b.summary
            .worst
            .cmp(&a.summary.worst)
            .then_with(|| a.country.name.cmp(&b.country.name))
    });
    Ok(out)
}

/// GDPR Chapter V: where personal data leaves the EEA, on what basis, and where that basis is
/// missing or weak.
#[derive(Default)]
pub struct TransferQuery;

#[Object]
impl TransferQuery {
    /// The organization's processing locations with their transfer assessment, worst risk
    /// first, then by id, a page at a time. Active locations at LOW or worse unless the filter
    /// says otherwise; an id of another organization matches nothing.
    #[graphql(complexity = "first.unwrap_or(50).clamp(1, 100) as usize * child_complexity + 1")]
    async fn cross_border_transfers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which locations; active ones at LOW or worse when absent.")]
        filter: Option<CrossBorderTransferFilter>,
        #[graphql(desc = "Page size, 1 to 100.", default_with = "Some(50)")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<CrossBorderTransferConnection> {
        let first = first.unwrap_or(50);
        if !(1..=queries::MAX_PAGE as i32).contains(&first) {
            return Err(bad_input(
                "first",
                format!("first must be 1 to {}, got {first}", queries::MAX_PAGE),
            ));
        }
        let after = match after {
            None => None,
            Some(text) => {
                let not_a_cursor = || bad_input("after", "after is not a cursor of this list");
                let (level, id) = TransferPageCursor::decode_cursor(&text)
                    .map_err(|_| not_a_cursor())?
                    .0;
                let risk =
                    transfers::TransferRisk::from_level(level.into()).ok_or_else(not_a_cursor)?;
                Some(TransferCursor { risk, id })
            }
        };
        let filter: TransferFilter = filter.unwrap_or_default().into();
        let loaders = Loaders::of(ctx)?;
        let rules = loaders.risk_rules().await?;
        let page = queries::page(
            db(ctx)?,
            tenant(ctx)?,
            &rules,
            &filter,
            first as u64,
            after.as_ref(),
        )
        .await
        .gql()?;
        // The page read each asset's personal-data flag: the assessments need not read it again.
        loaders
            .personal_data
            .feed_many(page.locations.iter().map(|l| {
                (
                    l.location.digital_asset_id.clone(),
                    l.contains_personal_data,
                )
            }))
            .await;
        Ok(CrossBorderTransferConnection {
            nodes: page
                .locations
                .into_iter()
                .map(|l| (l.risk, AssetProcessingLocation(l.location)))
                .collect(),
            has_next_page: page.has_next_page,
            has_previous_page: after.is_some(),
            rules,
            filter,
        })
    }

    /// Where the organization's data goes, per destination country of its active locations
    /// (EEA ones included, at NONE): assets, locations, worst risk and locations per risk
    /// level, worst first, then by country name.
    #[graphql(complexity = "250 * child_complexity + 1")]
    async fn transfer_summary(&self, ctx: &Context<'_>) -> Result<Vec<CountryTransferSummary>> {
        let loaders = Loaders::of(ctx)?;
        let rules = loaders.risk_rules().await?;
        let summaries = queries::summary(db(ctx)?, tenant(ctx)?, &rules, None)
            .await
            .gql()?;
        let list = with_countries(loaders, summaries, None).await?;
        charge_list(ctx, list.len())?;
        Ok(list)
    }

    /// What `transferSummary` answers, for the assets linked to one of the organization's
    /// activities, so its Article 30 entry can name its transfers; NOT_FOUND for another
    /// organization's activity.
    #[graphql(complexity = "250 * child_complexity + 1")]
    async fn activity_transfers(
        &self,
        ctx: &Context<'_>,
        activity_id: ID,
    ) -> Result<Vec<CountryTransferSummary>> {
        let loaders = Loaders::of(ctx)?;
        let rules = loaders.risk_rules().await?;
        let summaries = queries::for_activity(db(ctx)?, tenant(ctx)?, &rules, &activity_id)
            .await
            .gql()?;
        let list = with_countries(loaders, summaries, Some(activity_id.0)).await?;
        charge_list(ctx, list.len())?;
        Ok(list)
    }
}
