// Fixtures fail by panicking: that is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{DateTime, FixedOffset};
use entity::{countries, transfer_mechanisms};

use super::*;
use DestinationStatus as D;
use MechanismKind as M;
use Reason as R;
use TransferRisk as T;

fn epoch() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00+00:00").unwrap()
}

fn country(
    id: &str,
    name: &str,
    status: &[&str],
    decision: Option<(&str, bool)>,
) -> countries::Model {
    countries::Model {
        id: id.into(),
        name: name.into(),
        iso_code: id.into(),
        iso_code3: None,
        gdpr_status: serde_json::json!(status),
        is_active: true,
        created_at: epoch(),
        updated_at: epoch(),
        adequacy_decision: decision.map(|(d, _)| d.to_owned()),
        adequacy_partial: decision.is_some_and(|(_, partial)| partial),
        adequacy_scope: decision.map(|(_, partial)| {
            if partial {
                "Only organisations certified under the EU-US Data Privacy Framework: confirm the recipient's active certification.".to_owned()
            } else {
                "Recipients in the country.".to_owned()
            }
        }),
    }
}

/// A country of each destination status.
fn destination(status: DestinationStatus) -> countries::Model {
    match status {
        D::Eea => country("FR", "France", &["EU", "EEA"], None),
        D::Adequate => country(
            "JP",
            "Japan",
            &["Adequate"],
            Some(("Commission Implementing Decision (EU) 2019/419", false)),
        ),
        D::PartiallyAdequate => country(
            "US",
            "United States",
            &["Adequate"],
            Some(("Commission Implementing Decision (EU) 2023/1795", true)),
        ),
        D::ThirdCountry => country("CN", "China", &["Third Country"], None),
    }
}

fn mechanism(
    code: &str,
    article: &str,
    category: &str,
    active: bool,
) -> transfer_mechanisms::Model {
    transfer_mechanisms::Model {
        id: code.into(),
        code: code.into(),
        name: code.into(),
        description: String::new(),
        gdpr_article: article.into(),
        category: category.into(),
        is_derogation: category == "DEROGATION",
        requires_adequacy: category == "ADEQUACY",
        requires_documentation: true,
        is_active: active,
        created_at: epoch(),
        updated_at: epoch(),
    }
}

/// A mechanism of each kind (`None` for no mechanism).
fn recorded(kind: MechanismKind) -> Option<transfer_mechanisms::Model> {
    match kind {
        M::None => None,
        M::Adequacy => Some(mechanism("ADEQUACY", "Art. 45", "ADEQUACY", true)),
        M::Safeguard => Some(mechanism(
            "SCC",
            "Art. 46(2)(c)",
            "APPROPRIATE_SAFEGUARD",
            true,
        )),
        M::Derogation => Some(mechanism(
            "EXPLICIT_CONSENT",
            "Art. 49(1)(a)",
            "DEROGATION",
            true,
        )),
        M::Inactive => Some(mechanism(
            "SCC_2010",
            "Art. 46(2)(c)",
            "APPROPRIATE_SAFEGUARD",
            false,
        )),
        M::Unrecognised => Some(mechanism("HANDSHAKE", "none", "GENTLEMEN", true)),
    }
}

/// No full stop inside `text` ends a sentence: none is followed by a space and a capital
/// ("Art. 46" is one sentence).
fn one_sentence(text: &str) -> bool {
    !text
        .as_bytes()
        .windows(3)
        .any(|w| w[0] == b'.' && w[1] == b' ' && w[2].is_ascii_uppercase())
}

fn assessed(status: DestinationStatus, kind: MechanismKind, personal: bool) -> Assessment {
    let country = destination(status);
    let mechanism = recorded(kind);
    assess(&Transfer {
        destination: Destination::of(&country),
        mechanism: Mechanism::of(mechanism.as_ref()),
        contains_personal_data: personal,
        headquarters_outside_eea: None,
    })
}

/// One row of the table: destination, mechanism, risk, legal basis, reasons.
type Row = (
    DestinationStatus,
    MechanismKind,
    TransferRisk,
    Option<&'static str>,
    &'static [Reason],
);

/// Destination × mechanism for personal data: risk, legal basis, reasons.
#[rustfmt::skip]
const PERSONAL_DATA: [Row; 24] = [
    (D::Eea, M::None, T::None, None, &[R::DestinationInEea]),
    (D::Eea, M::Adequacy, T::None, None, &[R::DestinationInEea]),
    (D::Eea, M::Safeguard, T::None, None, &[R::DestinationInEea]),
    (D::Eea, M::Derogation, T::None, None, &[R::DestinationInEea]),
    (D::Eea, M::Inactive, T::None, None, &[R::DestinationInEea]),
    (D::Eea, M::Unrecognised, T::None, None, &[R::DestinationInEea]),
    (D::Adequate, M::None, T::Low, Some("Art. 45"), &[R::AdequacyDecision]),
    (D::Adequate, M::Adequacy, T::Low, Some("Art. 45"), &[R::AdequacyDecision]),
    (D::Adequate, M::Safeguard, T::Low, Some("Art. 45"), &[R::AdequacyDecision]),
    (D::Adequate, M::Derogation, T::Low, Some("Art. 45"), &[R::AdequacyDecision]),
    (D::Adequate, M::Inactive, T::Low, Some("Art. 45"), &[R::AdequacyDecision, R::InactiveMechanism]),
    (D::Adequate, M::Unrecognised, T::Low, Some("Art. 45"), &[R::AdequacyDecision]),
    (D::PartiallyAdequate, M::None, T::Medium, Some("Art. 45"), &[R::PartialAdequacy]),
    (D::PartiallyAdequate, M::Adequacy, T::Medium, Some("Art. 45"), &[R::PartialAdequacy]),
    (D::PartiallyAdequate, M::Safeguard, T::Low, Some("Art. 46(2)(c)"), &[R::PartialAdequacy, R::AppropriateSafeguard]),
    (D::PartiallyAdequate, M::Derogation, T::Medium, Some("Art. 45"), &[R::PartialAdequacy, R::DerogationOnly]),
    (D::PartiallyAdequate, M::Inactive, T::Medium, Some("Art. 45"), &[R::PartialAdequacy, R::InactiveMechanism]),
    (D::PartiallyAdequate, M::Unrecognised, T::Medium, Some("Art. 45"), &[R::PartialAdequacy, R::UnrecognisedMechanism]),
    (D::ThirdCountry, M::None, T::Critical, None, &[R::NoMechanism]),
    (D::ThirdCountry, M::Adequacy, T::Critical, None, &[R::AdequacyWithoutDecision]),
    (D::ThirdCountry, M::Safeguard, T::Medium, Some("Art. 46(2)(c)"), &[R::AppropriateSafeguard, R::TransferImpactAssessmentExpected]),
    (D::ThirdCountry, M::Derogation, T::High, Some("Art. 49(1)(a)"), &[R::DerogationOnly]),
    (D::ThirdCountry, M::Inactive, T::Critical, None, &[R::InactiveMechanism]),
    (D::ThirdCountry, M::Unrecognised, T::Critical, None, &[R::UnrecognisedMechanism]),
];

#[test]
fn every_destination_and_mechanism_with_personal_data_is_assessed_as_the_table_says() {
    for (status, kind, risk, basis, reasons) in PERSONAL_DATA {
        let case = format!("{status:?} × {kind:?}");
        let a = assessed(status, kind, true);
        assert_eq!(a.risk, risk, "{case}");
        assert_eq!(a.legal_basis.as_deref(), basis, "{case}");
        assert_eq!(a.reasons, reasons, "{case}");
        assert_eq!(a.restricted, status != D::Eea, "{case}");
        assert_eq!(
            super::risk(status, kind, true),
            risk,
            "{case}: the SQL's table agrees"
        );
    }
    // Every combination is in the table once.
    for status in DestinationStatus::ALL {
        for kind in MechanismKind::ALL {
            let rows = PERSONAL_DATA
                .iter()
                .filter(|(s, k, ..)| *s == status && *k == kind)
                .count();
            assert_eq!(rows, 1, "{status:?} × {kind:?}");
        }
    }
}

#[test]
fn without_personal_data_nothing_is_a_restricted_transfer_and_the_reason_says_so() {
    for status in DestinationStatus::ALL {
        for kind in MechanismKind::ALL {
            let case = format!("{status:?} × {kind:?}");
            let a = assessed(status, kind, false);
            assert_eq!(a.risk, T::None, "{case}");
            assert!(!a.restricted, "{case}");
            assert_eq!(a.legal_basis, None, "{case}");
            let expected: &[Reason] = if status == D::Eea {
                &[R::DestinationInEea, R::NoPersonalData]
            } else {
                &[R::NoPersonalData]
            };
            assert_eq!(a.reasons, expected, "{case}");
            assert!(
                a.explanation.contains("no personal data"),
                "{case}: {}",
                a.explanation
            );
            assert_eq!(super::risk(status, kind, false), T::None, "{case}");
        }
    }
}

#[test]
fn each_explanation_is_one_sentence_naming_the_destination() {
    for status in DestinationStatus::ALL {
        for kind in MechanismKind::ALL {
            for personal in [true, false] {
                let a = assessed(status, kind, personal);
                let name = destination(status).name;
                let case = format!("{status:?} × {kind:?} × {personal}: {}", a.explanation);
                assert!(a.explanation.contains(&name), "{case}");
                assert!(a.explanation.ends_with('.'), "{case}");
                assert!(one_sentence(&a.explanation), "{case}");
                assert!(a.explanation.starts_with(char::is_uppercase), "{case}");
            }
        }
    }
}

#[test]
fn explanations_say_what_to_do() {
    let partial = assessed(D::PartiallyAdequate, M::None, true);
    assert!(
        partial
            .explanation
            .contains("confirm the recipient's active certification"),
        "{}",
        partial.explanation
    );
    assert!(
        partial.explanation.contains("2023/1795"),
        "{}",
        partial.explanation
    );
    let safeguard = assessed(D::ThirdCountry, M::Safeguard, true);
    assert!(
        safeguard.explanation.contains("transfer impact assessment"),
        "{}",
        safeguard.explanation
    );
    let derogation = assessed(D::ThirdCountry, M::Derogation, true);
    assert!(
        derogation.explanation.contains("occasional"),
        "{}",
        derogation.explanation
    );
    let inactive = assessed(D::ThirdCountry, M::Inactive, true);
    assert!(
        inactive.explanation.contains("SCC_2010 is inactive"),
        "{}",
        inactive.explanation
    );
}

#[test]
fn an_exporter_headquartered_outside_the_eea_is_still_assessed_under_the_gdpr() {
    let china = destination(D::ThirdCountry);
    let scc = recorded(M::Safeguard);
    let a = assess(&Transfer {
        destination: Destination::of(&china),
        mechanism: Mechanism::of(scc.as_ref()),
        contains_personal_data: true,
        headquarters_outside_eea: Some("United Kingdom"),
    });
    assert_eq!(a.risk, T::Medium, "the risk does not change");
    assert_eq!(
        a.reasons,
        [
            R::AppropriateSafeguard,
            R::TransferImpactAssessmentExpected,
            R::ExporterOutsideEea
        ]
    );
    assert!(
        a.explanation.contains("United Kingdom"),
        "{}",
        a.explanation
    );
    assert!(a.explanation.contains("UK and Swiss"), "{}", a.explanation);
    assert!(one_sentence(&a.explanation), "{}", a.explanation);
}

#[test]
fn destination_status_follows_the_country_row() {
    assert_eq!(DestinationStatus::of(&destination(D::Eea)), D::Eea);
    assert_eq!(
        DestinationStatus::of(&country("NO", "Norway", &["EEA", "EFTA"], None)),
        D::Eea
    );
    assert_eq!(
        DestinationStatus::of(&country("GF", "French Guiana", &["EU", "EEA"], None)),
        D::Eea
    );
    assert_eq!(
        DestinationStatus::of(&country(
            "CH",
            "Switzerland",
            &["EFTA", "Adequate"],
            Some(("2000/518/EC", false))
        )),
        D::Adequate
    );
    assert_eq!(
        DestinationStatus::of(&destination(D::PartiallyAdequate)),
        D::PartiallyAdequate
    );
    assert_eq!(
        DestinationStatus::of(&destination(D::ThirdCountry)),
        D::ThirdCountry
    );
    let mut malformed = destination(D::Eea);
    malformed.gdpr_status = serde_json::json!("EU");
    assert_eq!(DestinationStatus::of(&malformed), D::ThirdCountry);
}

#[test]
fn an_inactive_mechanism_counts_as_inactive_whatever_its_category() {
    for category in ["ADEQUACY", "APPROPRIATE_SAFEGUARD", "DEROGATION", "OTHER"] {
        let m = mechanism("X", "Art. 46", category, false);
        assert_eq!(MechanismKind::of(Some(&m)), M::Inactive, "{category}");
    }
    assert_eq!(MechanismKind::of(None), M::None);
    for kind in MechanismKind::ALL {
        assert_eq!(MechanismKind::of(recorded(kind).as_ref()), kind);
    }
}

#[test]
fn risk_levels_are_ordered_and_round_trip_through_their_numbers() {
    for (i, risk) in TransferRisk::ALL.iter().enumerate() {
        assert_eq!(risk.level(), i as i32);
        assert_eq!(TransferRisk::from_level(i as i64), Some(*risk));
    }
    assert_eq!(TransferRisk::from_level(5), None);
    assert_eq!(TransferRisk::from_level(-1), None);
    assert!(T::Critical > T::High && T::High > T::Medium && T::Medium > T::Low && T::Low > T::None);
    assert_eq!(worst([T::Low, T::Critical, T::Medium]), T::Critical);
    assert_eq!(worst([]), T::None);
}
