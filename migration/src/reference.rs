//! The reference data of migration 2, kept where a reviewer can check it against the official
//! lists: the countries in `data/iso3166-1.tsv`, their GDPR status from the lists below, and the
//! GDPR Chapter V transfer mechanisms.
//!
//! Seeded ids are the natural keys (`DE`, `SCC`), so clients and hand-written SQL can name them.

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
/// included. Canada's covers commercial organisations under PIPEDA and the United States' (EU-US
/// Data Privacy Framework, 2023) only certified recipients: a transfer to anyone else there still
/// needs an Art. 46 safeguard.
pub const ADEQUATE: [&str; 15] = [
    "AD", "AR", "CA", "CH", "FO", "GB", "GG", "IL", "IM", "JE", "JP", "KR", "NZ", "US", "UY",
];

/// The GDPR status of a country: one or more of "EU", "EEA", "EFTA", "Adequate", "Third Country".
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
        for code in EU_MEMBERS.iter().chain(&EEA_EFTA_MEMBERS).chain(&ADEQUATE) {
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
