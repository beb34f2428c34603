//! GDPR Chapter V (Art. 44–49): whether a processing location is a restricted transfer, on what
//! legal basis it may take place, and how exposed it is. Pure rules over reference facts (no
//! I/O), so that every combination can be tested as a table; [`queries`] runs them in SQL.
//!
//! The exporter is the organization in the EEA. Where its headquarters lie outside the EEA the
//! transfer is still assessed under the GDPR, and the assessment says so; the UK's and
//! Switzerland's own transfer regimes are out of scope.

use entity::{countries, transfer_mechanisms};

pub mod queries;
mod risk_rules;

/// How exposed a processing location is under Chapter V, from no restricted transfer to no
/// legal basis at all. Ordered: `Critical` is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransferRisk {
    /// Not a restricted transfer: the destination is in the EEA, or no personal data.
    None,
    /// Adequacy decision (Art. 45), or a safeguard where adequacy is partial.
    Low,
    /// Lawful with work to do: an Art. 46/47 safeguard to a non-adequate country (a transfer
    /// impact assessment is expected), or a partial adequacy decision alone.
    Medium,
    /// Only an Art. 49 derogation, meant for occasional transfers, for a systematic one.
    High,
    /// No legal basis: no mechanism, an inactive one, or ADEQUACY without a decision.
    Critical,
}

impl TransferRisk {
    /// Every level, lowest first.
    pub const ALL: [TransferRisk; 5] = [
        TransferRisk::None,
        TransferRisk::Low,
        TransferRisk::Medium,
        TransferRisk::High,
        TransferRisk::Critical,
    ];

    /// The level as a number, 0 (`None`) to 4 (`Critical`): how SQL orders and compares it.
    pub fn level(self) -> i32 {
        self as i32
    }

    /// The risk of a level number, if it is one.
    pub fn from_level(level: i64) -> Option<Self> {
        usize::try_from(level)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }
}

/// A machine-readable reason behind an assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The asset holds no personal data: Chapter V concerns personal data only.
    NoPersonalData,
    /// The destination is in the EEA: no transfer to a third country.
    DestinationInEea,
    /// An adequacy decision covers the destination (Art. 45).
    AdequacyDecision,
    /// The destination's adequacy decision covers only some recipients there.
    PartialAdequacy,
    /// An Art. 46/47 safeguard is recorded.
    AppropriateSafeguard,
    /// A transfer impact assessment is expected (a safeguard to a non-adequate country).
    TransferImpactAssessmentExpected,
    /// Only an Art. 49 derogation is recorded.
    DerogationOnly,
    /// No transfer mechanism is recorded.
    NoMechanism,
    /// The recorded mechanism is inactive.
    InactiveMechanism,
    /// ADEQUACY is recorded for a destination without an adequacy decision.
    AdequacyWithoutDecision,
    /// The recorded mechanism's category is none of adequacy, safeguard or derogation.
    UnrecognisedMechanism,
    /// The organization's headquarters lie outside the EEA; assessed under the GDPR anyway.
    ExporterOutsideEea,
}

/// What a destination country is under Chapter V.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationStatus {
    /// EU or EEA: not a third country.
    Eea,
    /// A third country with an adequacy decision covering it.
    Adequate,
    /// A third country whose adequacy decision covers only some recipients.
    PartiallyAdequate,
    /// A third country without an adequacy decision.
    ThirdCountry,
}

impl DestinationStatus {
    /// Every status.
    pub const ALL: [DestinationStatus; 4] = [
        DestinationStatus::Eea,
        DestinationStatus::Adequate,
        DestinationStatus::PartiallyAdequate,
        DestinationStatus::ThirdCountry,
    ];

    /// The status of a country row: its `gdpr_status` ("EU"/"EEA", "Adequate") and
    /// `adequacy_partial`. Anything else, including a malformed status, is a third country.
    pub fn of(country: &countries::Model) -> Self {
        let has = |wanted: &str| {
            country
                .gdpr_status
                .as_array()
                .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(wanted)))
        };
        if has("EEA") || has("EU") {
            DestinationStatus::Eea
        } else if has("Adequate") {
            if country.adequacy_partial {
                DestinationStatus::PartiallyAdequate
            } else {
                DestinationStatus::Adequate
            }
        } else {
            DestinationStatus::ThirdCountry
        }
    }
}

/// What the mechanism recorded on a location is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MechanismKind {
    /// None recorded.
    None,
    /// An active Art. 45 ADEQUACY mechanism.
    Adequacy,
    /// An active Art. 46/47 appropriate safeguard.
    Safeguard,
    /// An active Art. 49 derogation.
    Derogation,
    /// A mechanism marked inactive (whatever its category).
    Inactive,
    /// An active mechanism of a category these rules do not know.
    Unrecognised,
}

impl MechanismKind {
    /// Every kind.
    pub const ALL: [MechanismKind; 6] = [
        MechanismKind::None,
        MechanismKind::Adequacy,
        MechanismKind::Safeguard,
        MechanismKind::Derogation,
        MechanismKind::Inactive,
        MechanismKind::Unrecognised,
    ];

    /// The kind of a mechanism row (`None` for no mechanism).
    pub fn of(mechanism: Option<&transfer_mechanisms::Model>) -> Self {
        match mechanism {
            None => MechanismKind::None,
            Some(m) if !m.is_active => MechanismKind::Inactive,
            Some(m) => match m.category.as_str() {
                "ADEQUACY" => MechanismKind::Adequacy,
                "APPROPRIATE_SAFEGUARD" => MechanismKind::Safeguard,
                "DEROGATION" => MechanismKind::Derogation,
                _ => MechanismKind::Unrecognised,
            },
        }
    }
}

/// The risk of a transfer: the whole rule set, as one table. [`assess`] explains it and
/// [`queries`] computes it in SQL from this same function.
pub fn risk(
    destination: DestinationStatus,
    mechanism: MechanismKind,
    contains_personal_data: bool,
) -> TransferRisk {
    use DestinationStatus as D;
    use MechanismKind as M;
    if !contains_personal_data {
        return TransferRisk::None;
    }
    match (destination, mechanism) {
        (D::Eea, _) => TransferRisk::None,
        (D::Adequate, _) => TransferRisk::Low,
        (D::PartiallyAdequate, M::Safeguard) => TransferRisk::Low,
        (D::PartiallyAdequate, _) => TransferRisk::Medium,
        (D::ThirdCountry, M::Safeguard) => TransferRisk::Medium,
        (D::ThirdCountry, M::Derogation) => TransferRisk::High,
        (D::ThirdCountry, M::None | M::Adequacy | M::Inactive | M::Unrecognised) => {
            TransferRisk::Critical
        }
    }
}

/// The destination of a transfer.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    pub name: &'a str,
    pub status: DestinationStatus,
    /// The adequacy decision, where there is one.
    pub decision: Option<&'a str>,
    /// Who the decision covers (for a partial one, what to confirm).
    pub scope: Option<&'a str>,
}

impl<'a> Destination<'a> {
    pub fn of(country: &'a countries::Model) -> Self {
        Self {
            name: &country.name,
            status: DestinationStatus::of(country),
            decision: country.adequacy_decision.as_deref(),
            scope: country.adequacy_scope.as_deref(),
        }
    }
}

/// The mechanism recorded on a location.
#[derive(Debug, Clone, Copy)]
pub struct Mechanism<'a> {
    pub kind: MechanismKind,
    pub code: &'a str,
    /// The GDPR article, e.g. "Art. 46(2)(c)".
    pub article: &'a str,
}

impl<'a> Mechanism<'a> {
    /// No mechanism recorded.
    pub const NONE: Mechanism<'static> = Mechanism {
        kind: MechanismKind::None,
        code: "",
        article: "",
    };

    pub fn of(mechanism: Option<&'a transfer_mechanisms::Model>) -> Self {
        match mechanism {
            None => Mechanism::NONE,
            Some(m) => Self {
                kind: MechanismKind::of(Some(m)),
                code: &m.code,
                article: &m.gdpr_article,
            },
        }
    }
}

/// Everything an assessment depends on.
#[derive(Debug, Clone, Copy)]
pub struct Transfer<'a> {
    pub destination: Destination<'a>,
    pub mechanism: Mechanism<'a>,
    /// Whether the asset holds personal data.
    pub contains_personal_data: bool,
    /// The name of the organization's headquarters country, when it is recorded and outside
    /// the EEA.
    pub headquarters_outside_eea: Option<&'a str>,
}

/// The assessment of one processing location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub risk: TransferRisk,
    /// Whether Chapter V applies: personal data to a country outside the EEA.
    pub restricted: bool,
    /// The article the transfer relies on ("Art. 45", "Art. 46(2)(c)"); none where Chapter V
    /// does not apply or nothing lawful is recorded.
    pub legal_basis: Option<String>,
    pub reasons: Vec<Reason>,
    /// One sentence a privacy officer can read.
    pub explanation: String,
}

/// Assesses one transfer.
pub fn assess(t: &Transfer<'_>) -> Assessment {
    use DestinationStatus as D;
    use MechanismKind as M;
    let risk = risk(
        t.destination.status,
        t.mechanism.kind,
        t.contains_personal_data,
    );
    let country = t.destination.name;
    let decision = t.destination.decision.unwrap_or("an adequacy decision");
    let (code, article) = (t.mechanism.code, t.mechanism.article);
    let mut reasons = Vec::new();
    let (legal_basis, explanation): (Option<String>, String) = match (
        t.destination.status,
        t.mechanism.kind,
    ) {
        (D::Eea, _) => {
            reasons.push(Reason::DestinationInEea);
            let sentence = if t.contains_personal_data {
                format!(
                    "{country} is in the EEA, so the data stays where the GDPR applies and Chapter V does not restrict it"
                )
            } else {
                reasons.push(Reason::NoPersonalData);
                format!(
                    "{country} is in the EEA and the asset holds no personal data, so Chapter V does not apply"
                )
            };
            (None, sentence)
        }
        _ if !t.contains_personal_data => {
            reasons.push(Reason::NoPersonalData);
            (
                None,
                format!(
                    "The asset holds no personal data, so its location in {country} is not a transfer Chapter V restricts (it concerns personal data only)"
                ),
            )
        }
        (D::Adequate, kind) => {
            reasons.push(Reason::AdequacyDecision);
            if kind == M::Inactive {
                reasons.push(Reason::InactiveMechanism);
            }
            (
                Some("Art. 45".to_owned()),
                format!(
                    "{country} is covered by an adequacy decision ({decision}), so the transfer needs no further safeguard"
                ),
            )
        }
        (D::PartiallyAdequate, M::Safeguard) => {
            reasons.extend([Reason::PartialAdequacy, Reason::AppropriateSafeguard]);
            (
                Some(article.to_owned()),
                format!(
                    "{code} ({article}) covers the transfer to {country} wherever its partial adequacy decision ({decision}) does not"
                ),
            )
        }
        (D::PartiallyAdequate, kind) => {
            reasons.push(Reason::PartialAdequacy);
            let recorded = match kind {
                M::Derogation => {
                    reasons.push(Reason::DerogationOnly);
                    format!(
                        "; the recorded derogation {code} ({article}) does not suit a systematic transfer"
                    )
                }
                M::Inactive => {
                    reasons.push(Reason::InactiveMechanism);
                    format!("; the recorded mechanism {code} is inactive")
                }
                M::Unrecognised => {
                    reasons.push(Reason::UnrecognisedMechanism);
                    format!("; the recorded mechanism {code} has an unrecognised category")
                }
                _ => String::new(),
            };
            let scope = t
                .destination
                .scope
                .unwrap_or("only some recipients: confirm the recipient is covered");
            (
                Some("Art. 45".to_owned()),
                format!(
                    "The adequacy decision for {country} ({decision}) covers {}, or record an Art. 46 safeguard{recorded}",
                    lowercase_first(scope.trim_end_matches('.'))
                ),
            )
        }
        (D::ThirdCountry, M::Safeguard) => {
            reasons.extend([
                Reason::AppropriateSafeguard,
                Reason::TransferImpactAssessmentExpected,
            ]);
            (
                Some(article.to_owned()),
                format!(
                    "{code} ({article}) makes the transfer to {country} lawful, but {country} has no adequacy decision, so a transfer impact assessment is expected"
                ),
            )
        }
        (D::ThirdCountry, M::Derogation) => {
            reasons.push(Reason::DerogationOnly);
            (
                Some(article.to_owned()),
                format!(
                    "{code} ({article}) is an Art. 49 derogation for occasional, non-repetitive transfers, while a processing location in {country} is systematic: record an Art. 46 safeguard"
                ),
            )
        }
        (D::ThirdCountry, M::None) => {
            reasons.push(Reason::NoMechanism);
            (
                None,
                format!(
                    "{country} has no adequacy decision and no transfer mechanism is recorded, so the transfer lacks a Chapter V basis"
                ),
            )
        }
        (D::ThirdCountry, M::Inactive) => {
            reasons.push(Reason::InactiveMechanism);
            (
                None,
                format!(
                    "The recorded mechanism {code} is inactive and {country} has no adequacy decision, so the transfer lacks a Chapter V basis"
                ),
            )
        }
        (D::ThirdCountry, M::Adequacy) => {
            reasons.push(Reason::AdequacyWithoutDecision);
            (
                None,
                format!(
                    "{code} is recorded but {country} has no adequacy decision, so the transfer lacks a Chapter V basis"
                ),
            )
        }
        (D::ThirdCountry, M::Unrecognised) => {
            reasons.push(Reason::UnrecognisedMechanism);
            (
                None,
                format!(
                    "The recorded mechanism {code} has an unrecognised category and {country} has no adequacy decision, so the transfer cannot be shown to have a Chapter V basis"
                ),
            )
        }
    };
    let mut explanation = explanation;
    if let Some(headquarters) = t.headquarters_outside_eea {
        reasons.push(Reason::ExporterOutsideEea);
        explanation.push_str(&format!(
            "; assessed under the GDPR for the organization's EEA operations although its headquarters ({headquarters}) lie outside the EEA (UK and Swiss transfer rules are not assessed)"
        ));
    }
    explanation.push('.');
    Assessment {
        risk,
        restricted: risk != TransferRisk::None,
        legal_basis,
        reasons,
        explanation,
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The worst of `risks`; `None` for none at all (an asset without active locations transfers
/// nothing).
pub fn worst(risks: impl IntoIterator<Item = TransferRisk>) -> TransferRisk {
    risks.into_iter().max().unwrap_or(TransferRisk::None)
}

#[cfg(test)]
mod tests;
