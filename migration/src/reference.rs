//! The reference data of migration 2, kept where a reviewer can check it against the official
//! lists: the countries in `data/iso3166-1.tsv`, their GDPR status from the lists below, and the
//! GDPR Chapter V transfer mechanisms.
//!
//! Seeded ids are the natural keys (`DE`, `SCC`), so clients and hand-written SQL can name them.
//!
//! Longer than most modules on purpose: it is data, each list beside the decision or article it
//! comes from and the tests that check the lists against each other; split, a reviewer would
//! have to hold several files side by side to check one country.

/// ISO 3166-1: alpha-2, alpha-3 and English short name of every officially assigned code.
pub const COUNTRIES_TSV: &str = include_str!("../data/iso3166-1.tsv");

/// The 27 member states of the European Union (EU and EEA).
pub const EU_MEMBERS: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// EEA members outside the EU, all three also EFTA members.
pub const EEA_EFTA_MEMBERS: [&str; 3] = ["IS", "LI", "NO"];

/// Countries covered by a European Commission adequacy decision under Art. 45 GDPR, Switzerland
/// included, as migration 2 seeded them (kept unchanged: an applied migration's data never
/// changes; later corrections are [`OUTERMOST_REGIONS_AND_ALAND`] and [`ADEQUATE_SINCE_SEED`],
/// applied by migration `m20261126_000000_transfer_reference_data`). Canada's covers commercial
/// organisations under PIPEDA and the United States' (EU-US Data Privacy Framework, 2023) only
/// certified recipients: a transfer to anyone else there still needs an Art. 46 safeguard.
pub const ADEQUATE: [&str; 15] = [
    "AD", "AR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ", "US", "UY",
];

/// The GDPR status of a country as migration 2 seeded it: one or more of "EU", "EEA", "EFTA",
/// "Adequate", "Third Country". [`corrected_gdpr_status`] is the status after the corrections.
pub fn gdpr_status(iso_code: &str) -> Vec<&'static str> {
    if EU_MEMBERS.contains(&iso_code) {
        vec!["EU", "EEA"]
    } else if EEA_EFTA_MEMBERS.contains(&iso_code) {
        vec!["EEA", "EFTA"]
    } else if iso_code == "CH" {
        vec!["EFTA", "Adequate"]
    } else if ADEQUATE.contains(&iso_code) {
        vec!["Adequate"]
    } else {
        vec!["Third Country"]
    }
}

/// The EU's outermost regions that have ISO 3166-1 codes of their own (French Guiana,
/// Guadeloupe, Martinique, Réunion, Mayotte, Saint-Martin: Art. 349 and 355(1) TFEU) and the
/// Åland Islands (Art. 355(4) TFEU): EU territory where the GDPR applies, which migration 2 seeded
/// as "Third Country". (The Canary Islands, the Azores and Madeira have no codes of their own.)
pub const OUTERMOST_REGIONS_AND_ALAND: [&str; 7] = ["GF", "GP", "MQ", "RE", "YT", "MF", "AX"];

/// Countries whose adequacy decision was adopted after migration 2's list was drawn up: seeded
/// as "Third Country", "Adequate" since.
pub const ADEQUATE_SINCE_SEED: [&str; 1] = ["BR"];

/// The GDPR status of a country after migration `m20261126_000000_transfer_reference_data`.
pub fn corrected_gdpr_status(iso_code: &str) -> Vec<&'static str> {
    if OUTERMOST_REGIONS_AND_ALAND.contains(&iso_code) {
        vec!["EU", "EEA"]
    } else if ADEQUATE_SINCE_SEED.contains(&iso_code) {
        vec!["Adequate"]
    } else {
        gdpr_status(iso_code)
    }
}

/// A European Commission adequacy decision (Art. 45(3) GDPR, or Art. 25(6) of Directive 95/46/EC
/// for those adopted before the GDPR, kept in force by Art. 45(9) GDPR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdequacyDecision {
    /// The country's ISO 3166-1 alpha-2 code (the seeded country's id).
    pub iso_code: &'static str,
    /// The decision, as the Official Journal names it.
    pub decision: &'static str,
    /// Whether the decision covers only some recipients in the country: a transfer to anyone
    /// else there needs an Art. 46 safeguard.
    pub partial: bool,
    /// Who the decision covers, in one sentence (for a partial one: what to confirm).
    pub scope: &'static str,
}

/// The adequacy decisions in force, one per country, checked against the European Commission's
/// list ("Adequacy decisions", commission.europa.eu, law › data protection › international
/// dimension) and the Official Journal. Partial are those the Commission's list itself qualifies:
/// Canada ("commercial organisations") and the United States ("commercial organisations
/// participating in the EU-US Data Privacy Framework"). Japan's and Korea's decisions exclude
/// some recipients too (named in their scope) but the list does not qualify them, and transfers
/// to businesses there are covered. Not a country, hence not here: the European Patent
/// Organisation, the first international organisation with an adequacy decision (15 July 2025).
/// Sources, per decision, in the migration's documentation.
pub const ADEQUACY_DECISIONS: [AdequacyDecision; 16] = [
    AdequacyDecision {
        iso_code: "AD",
        decision: "Commission Decision 2010/625/EU",
        partial: false,
        scope: "Recipients in Andorra; the Commission's list names no restriction.",
    },
    AdequacyDecision {
        iso_code: "AR",
        decision: "Commission Decision 2003/490/EC",
        partial: false,
        scope: "Recipients in Argentina; the Commission's list names no restriction.",
    },
    AdequacyDecision {
        iso_code: "BR",
        decision: "Commission Implementing Decision (EU) 2026/179",
        partial: false,
        scope: "Public and private recipients in Brazil subject to the LGPD (Lei Geral de Proteção de Dados).",
    },
    AdequacyDecision {
        iso_code: "CA",
        decision: "Commission Decision 2002/2/EC",
        partial: true,
        scope: "Only recipients subject to PIPEDA (organisations handling personal information in the course of commercial activities): confirm the recipient and the processing fall under PIPEDA, as Canadian public bodies and non-commercial activities are not covered.",
    },
    AdequacyDecision {
        iso_code: "CH",
        decision: "Commission Decision 2000/518/EC",
        partial: false,
        scope: "Recipients in Switzerland; the Commission's list names no restriction.",
    },
    AdequacyDecision {
        iso_code: "FO",
        decision: "Commission Decision 2010/146/EU",
        partial: false,
        scope: "Recipients in the Faroe Islands; the Commission's list names no restriction.",
    },
    AdequacyDecision {
        iso_code: "GB",
        decision: "Commission Implementing Decision (EU) 2021/1772, renewed on 19 December 2025",
        partial: false,
        scope: "Recipients in the United Kingdom; the renewed decision applies until 27 December 2031.",
    },
    AdequacyDecision {
        iso_code: "GG",
        decision: "Commission Decision 2003/821/EC",
        partial: false,
        scope: "Recipients in the Bailiwick of Guernsey; the Commission's list names no restriction.",
    },
    AdequacyDecision {
        iso_code: "IL",
        decision: "Commission Decision 2011/61/EU",
        partial: false,
        scope: "Recipients in Israel; the Commission's list names no restriction.",
    },
    AdequacyDecision {
        iso_code: "IM",
        decision: "Commission Decision 2004/411/EC",
        partial: false,
        scope: "Recipients in the Isle of Man; the Commission's list names no restriction.",
    },
    AdequacyDecision {
        iso_code: "JE",
        decision: "Commission Decision 2008/393/EC",
        partial: false,
        scope: "Recipients in the Bailiwick of Jersey; the Commission's list names no restriction.",
    },
    AdequacyDecision {
        iso_code: "JP",
        decision: "Commission Implementing Decision (EU) 2019/419",
        partial: false,
        scope: "Business operators subject to the Act on the Protection of Personal Information, with the Supplementary Rules for data from the EU; Japanese public bodies are not covered.",
    },
    AdequacyDecision {
        iso_code: "KR",
        decision: "Commission Implementing Decision (EU) 2022/254",
        partial: false,
        scope: "Commercial and public recipients subject to the Personal Information Protection Act, except personal credit information for entities supervised by the Financial Services Commission and data for religious organisations' missionary work or political parties' nominations.",
    },
    AdequacyDecision {
        iso_code: "NZ",
        decision: "Commission Implementing Decision 2013/65/EU",
        partial: false,
        scope: "Recipients in New Zealand; the Commission's list names no restriction.",
    },
    AdequacyDecision {
        iso_code: "US",
        decision: "Commission Implementing Decision (EU) 2023/1795",
        partial: true,
        scope: "Only organisations certified under the EU-US Data Privacy Framework: confirm the recipient's active certification on the Data Privacy Framework List (dataprivacyframework.gov).",
    },
    AdequacyDecision {
        iso_code: "UY",
        decision: "Commission Implementing Decision 2012/484/EU",
        partial: false,
        scope: "Recipients in Uruguay; the Commission's list names no restriction.",
    },
];

/// One country of the ISO 3166-1 list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country<'a> {
    pub iso_code: &'a str,
    pub iso_code3: &'a str,
    pub name: &'a str,
}

/// Parses the tab-separated country list, skipping `#` comments; a malformed line is an error
/// naming its line number.
pub fn countries(tsv: &str) -> Result<Vec<Country<'_>>, String> {
    tsv.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|(n, line)| {
            let mut fields = line.split('\t');
            match (fields.next(), fields.next(), fields.next(), fields.next()) {
                (Some(a2), Some(a3), Some(name), None) if a2.len() == 2 && a3.len() == 3 => {
                    Ok(Country {
                        iso_code: a2,
                        iso_code3: a3,
                        name,
                    })
                }
                _ => Err(format!(
                    "iso3166-1.tsv line {}: expected `A2<TAB>A3<TAB>name`",
                    n + 1
                )),
            }
        })
        .collect()
}

/// How a transfer mechanism legitimises a transfer under Chapter V.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Art. 45: the destination itself is adequate.
    Adequacy,
    /// Art. 46: appropriate safeguards provided by the exporter.
    AppropriateSafeguard,
    /// Art. 49: derogations for specific situations.
    Derogation,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Adequacy => "ADEQUACY",
            Category::AppropriateSafeguard => "APPROPRIATE_SAFEGUARD",
            Category::Derogation => "DEROGATION",
        }
    }
}

/// A GDPR Chapter V transfer mechanism.
#[derive(Debug, Clone, Copy)]
pub struct TransferMechanism {
    pub code: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub gdpr_article: &'static str,
    pub category: Category,
    /// Whether the exporter must keep documentation (a transfer impact assessment, an
    /// authorisation, the record of the derogation's conditions).
    pub requires_documentation: bool,
}

impl TransferMechanism {
    pub fn is_derogation(&self) -> bool {
        self.category == Category::Derogation
    }

    pub fn requires_adequacy(&self) -> bool {
        self.category == Category::Adequacy
    }
}

use Category::{Adequacy, AppropriateSafeguard, Derogation};

/// Art. 45, every Art. 46 safeguard and every Art. 49 derogation.
pub const TRANSFER_MECHANISMS: [TransferMechanism; 17] = [
    TransferMechanism {
        code: "ADEQUACY",
        name: "Adequacy decision",
        description: "Transfer to a country, territory or sector the European Commission has found to ensure an adequate level of protection.",
        gdpr_article: "Art. 45",
        category: Adequacy,
        requires_documentation: false,
    },
    TransferMechanism {
        code: "PUBLIC_AUTHORITY_INSTRUMENT",
        name: "Legally binding instrument between public authorities",
        description: "A legally binding and enforceable instrument between public authorities or bodies.",
        gdpr_article: "Art. 46(2)(a)",
        category: AppropriateSafeguard,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "BCR",
        name: "Binding corporate rules",
        description: "Binding corporate rules approved by the competent supervisory authority, for transfers within a group of undertakings.",
        gdpr_article: "Art. 46(2)(b), Art. 47",
        category: AppropriateSafeguard,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "SCC",
        name: "Standard contractual clauses",
        description: "Standard data protection clauses adopted by the European Commission (Decision (EU) 2021/914), with a transfer impact assessment.",
        gdpr_article: "Art. 46(2)(c)",
        category: AppropriateSafeguard,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "SA_SCC",
        name: "Supervisory authority standard clauses",
        description: "Standard data protection clauses adopted by a supervisory authority and approved by the Commission.",
        gdpr_article: "Art. 46(2)(d)",
        category: AppropriateSafeguard,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "CODE_OF_CONDUCT",
        name: "Approved code of conduct",
        description: "An approved code of conduct with binding and enforceable commitments of the recipient.",
        gdpr_article: "Art. 46(2)(e), Art. 40",
        category: AppropriateSafeguard,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "CERTIFICATION",
        name: "Approved certification mechanism",
        description: "An approved certification mechanism with binding and enforceable commitments of the recipient.",
        gdpr_article: "Art. 46(2)(f), Art. 42",
        category: AppropriateSafeguard,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "AD_HOC_CLAUSES",
        name: "Ad hoc contractual clauses",
        description: "Contractual clauses authorised by the competent supervisory authority.",
        gdpr_article: "Art. 46(3)(a)",
        category: AppropriateSafeguard,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "ADMINISTRATIVE_ARRANGEMENT",
        name: "Administrative arrangement between public authorities",
        description: "Provisions in administrative arrangements between public authorities, authorised by the competent supervisory authority.",
        gdpr_article: "Art. 46(3)(b)",
        category: AppropriateSafeguard,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "EXPLICIT_CONSENT",
        name: "Explicit consent",
        description: "The data subject explicitly consented to the transfer after being informed of its possible risks.",
        gdpr_article: "Art. 49(1)(a)",
        category: Derogation,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "CONTRACT_WITH_DATA_SUBJECT",
        name: "Performance of a contract with the data subject",
        description: "The transfer is necessary for a contract between the data subject and the controller, or for pre-contractual measures at the data subject's request.",
        gdpr_article: "Art. 49(1)(b)",
        category: Derogation,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "CONTRACT_IN_INTEREST_OF_DATA_SUBJECT",
        name: "Contract in the interest of the data subject",
        description: "The transfer is necessary for a contract concluded in the interest of the data subject between the controller and another person.",
        gdpr_article: "Art. 49(1)(c)",
        category: Derogation,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "PUBLIC_INTEREST",
        name: "Important reasons of public interest",
        description: "The transfer is necessary for important reasons of public interest recognised in Union or Member State law.",
        gdpr_article: "Art. 49(1)(d)",
        category: Derogation,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "LEGAL_CLAIMS",
        name: "Legal claims",
        description: "The transfer is necessary for the establishment, exercise or defence of legal claims.",
        gdpr_article: "Art. 49(1)(e)",
        category: Derogation,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "VITAL_INTERESTS",
        name: "Vital interests",
        description: "The transfer is necessary to protect the vital interests of the data subject or of others, where the data subject cannot give consent.",
        gdpr_article: "Art. 49(1)(f)",
        category: Derogation,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "PUBLIC_REGISTER",
        name: "Public register",
        description: "The transfer is made from a register which under Union or Member State law is intended to provide information to the public.",
        gdpr_article: "Art. 49(1)(g)",
        category: Derogation,
        requires_documentation: true,
    },
    TransferMechanism {
        code: "COMPELLING_LEGITIMATE_INTERESTS",
        name: "Compelling legitimate interests",
        description: "A non-repetitive transfer of a limited number of data subjects, necessary for compelling legitimate interests, with the supervisory authority and the data subject informed.",
        gdpr_article: "Art. 49(1), second subparagraph",
        category: Derogation,
        requires_documentation: true,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_country_list_has_every_iso_3166_code_once() {
        let list = countries(COUNTRIES_TSV).expect("the shipped list parses");
        assert_eq!(list.len(), 249);
        let mut a2: Vec<_> = list.iter().map(|c| c.iso_code).collect();
        a2.sort_unstable();
        a2.dedup();
        assert_eq!(a2.len(), 249);
        let mut a3: Vec<_> = list.iter().map(|c| c.iso_code3).collect();
        a3.sort_unstable();
        a3.dedup();
        assert_eq!(a3.len(), 249);
    }

    #[test]
    fn every_status_list_names_countries_of_the_list() {
        let list = countries(COUNTRIES_TSV).expect("the shipped list parses");
        let corrected = OUTERMOST_REGIONS_AND_ALAND
            .iter()
            .chain(&ADEQUATE_SINCE_SEED);
        for code in EU_MEMBERS
            .iter()
            .chain(&EEA_EFTA_MEMBERS)
            .chain(&ADEQUATE)
            .chain(corrected)
        {
            assert!(list.iter().any(|c| c.iso_code == *code), "{code} missing");
        }
    }

    #[test]
    fn statuses_follow_the_treaties() {
        assert_eq!(gdpr_status("DE"), ["EU", "EEA"]);
        assert_eq!(gdpr_status("NO"), ["EEA", "EFTA"]);
        assert_eq!(gdpr_status("CH"), ["EFTA", "Adequate"]);
        assert_eq!(gdpr_status("JP"), ["Adequate"]);
        assert_eq!(gdpr_status("CN"), ["Third Country"]);
    }

    #[test]
    fn corrections_make_the_outermost_regions_eu_and_brazil_adequate() {
        for code in OUTERMOST_REGIONS_AND_ALAND {
            assert_eq!(gdpr_status(code), ["Third Country"], "{code} as seeded");
            assert_eq!(corrected_gdpr_status(code), ["EU", "EEA"], "{code}");
        }
        assert_eq!(gdpr_status("BR"), ["Third Country"]);
        assert_eq!(corrected_gdpr_status("BR"), ["Adequate"]);
        assert_eq!(corrected_gdpr_status("FR"), ["EU", "EEA"]);
        assert_eq!(corrected_gdpr_status("US"), ["Adequate"]);
        assert_eq!(corrected_gdpr_status("CN"), ["Third Country"]);
    }

    #[test]
    fn every_adequate_country_has_exactly_one_decision_and_no_other_has_one() {
        let adequate: Vec<&str> = ADEQUATE
            .iter()
            .chain(&ADEQUATE_SINCE_SEED)
            .copied()
            .collect();
        for code in &adequate {
            let decisions = ADEQUACY_DECISIONS
                .iter()
                .filter(|d| d.iso_code == *code)
                .count();
            assert_eq!(decisions, 1, "{code}");
        }
        assert_eq!(ADEQUACY_DECISIONS.len(), adequate.len());
        for d in ADEQUACY_DECISIONS {
            assert!(corrected_gdpr_status(d.iso_code).contains(&"Adequate"));
            assert!(d.decision.contains("Decision"), "{}", d.iso_code);
            // The scope is quoted inside an assessment's one-sentence explanation.
            assert!(d.scope.ends_with('.'), "{}", d.iso_code);
            let sentences = d
                .scope
                .as_bytes()
                .windows(3)
                .filter(|w| w[0] == b'.' && w[1] == b' ' && w[2].is_ascii_uppercase());
            assert_eq!(sentences.count(), 0, "{}", d.iso_code);
        }
        let partial: Vec<&str> = ADEQUACY_DECISIONS
            .iter()
            .filter(|d| d.partial)
            .map(|d| d.iso_code)
            .collect();
        assert_eq!(partial, ["CA", "US"]);
    }

    #[test]
    fn a_malformed_line_is_reported_with_its_number() {
        let err = countries("# c\nDE\tDEU\tGermany\nXX only\n").unwrap_err();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn mechanism_codes_are_unique() {
        let mut codes: Vec<_> = TRANSFER_MECHANISMS.iter().map(|m| m.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), TRANSFER_MECHANISMS.len());
    }
}
