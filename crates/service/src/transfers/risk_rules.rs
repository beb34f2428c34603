//! [`RiskRules`]: the Chapter V risk table of [`super::risk`] over the reference data, written
//! as one SQL `CASE` that the database evaluates for every candidate location (see
//! [`super::queries`] for why in SQL).

use entity::asset_processing_locations::{Column as L, Entity as Locations};
use entity::digital_assets::{self as assets, Column as A};
use entity::{countries, transfer_mechanisms};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};

use super::{DestinationStatus, MechanismKind, risk};

/// The reference data the risk depends on, as sorted id lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskRules {
    eea: Vec<String>,
    adequate: Vec<String>,
    partially_adequate: Vec<String>,
    adequacy: Vec<String>,
    safeguards: Vec<String>,
    derogations: Vec<String>,
    inactive: Vec<String>,
}

/// A country or mechanism id the snapshot the rules were built from does not know (one added
/// since) counts as a third country, or as a mechanism of an unrecognised category: the
/// stricter answer, until the next snapshot.
impl RiskRules {
    pub fn new<'a>(
        countries: impl IntoIterator<Item = &'a countries::Model>,
        mechanisms: impl IntoIterator<Item = &'a transfer_mechanisms::Model>,
    ) -> Self {
        let mut rules = RiskRules::default();
        for country in countries {
            let list = match DestinationStatus::of(country) {
                DestinationStatus::Eea => &mut rules.eea,
                DestinationStatus::Adequate => &mut rules.adequate,
                DestinationStatus::PartiallyAdequate => &mut rules.partially_adequate,
                DestinationStatus::ThirdCountry => continue,
            };
            list.push(country.id.clone());
        }
        for mechanism in mechanisms {
            let list = match MechanismKind::of(Some(mechanism)) {
                MechanismKind::Adequacy => &mut rules.adequacy,
                MechanismKind::Safeguard => &mut rules.safeguards,
                MechanismKind::Derogation => &mut rules.derogations,
                MechanismKind::Inactive => &mut rules.inactive,
                MechanismKind::None | MechanismKind::Unrecognised => continue,
            };
            list.push(mechanism.id.clone());
        }
        for list in [
            &mut rules.eea,
            &mut rules.adequate,
            &mut rules.partially_adequate,
            &mut rules.adequacy,
            &mut rules.safeguards,
            &mut rules.derogations,
            &mut rules.inactive,
        ] {
            list.sort_unstable();
        }
        rules
    }

    /// The risk level (0 to 4, [`TransferRisk::level`]) of a row of `asset_processing_locations`
    /// joined with its `digital_assets` row, as an SQL expression.
    pub fn expr(&self) -> Expr {
        let personal = Expr::col((assets::Entity, A::ContainsPersonalData)).eq(true);
        match (self.matrix(true), self.matrix(false)) {
            (with, without) if with == without => with.into_expr(),
            (with, without) => Expr::case(personal, with.into_expr())
                .finally(without.into_expr())
                .into(),
        }
    }

    /// The risk by destination status, for personal data or not.
    fn matrix(&self, personal: bool) -> Choice<Choice<i32>> {
        let country = || Expr::col((Locations, L::CountryId));
        let rows = [
            (
                country().is_in(constants(&self.eea)),
                DestinationStatus::Eea,
            ),
            (
                country().is_in(constants(&self.adequate)),
                DestinationStatus::Adequate,
            ),
            (
                country().is_in(constants(&self.partially_adequate)),
                DestinationStatus::PartiallyAdequate,
            ),
        ];
        Choice::of(
            rows.into_iter()
                .map(|(when, status)| (when, self.row(status, personal)))
                .collect(),
            self.row(DestinationStatus::ThirdCountry, personal),
        )
    }

    /// The risk by mechanism kind, for one destination status.
    fn row(&self, status: DestinationStatus, personal: bool) -> Choice<i32> {
        let mechanism = || Expr::col((Locations, L::TransferMechanismId));
        let level = |kind| risk(status, kind, personal).level();
        let kinds = [
            (mechanism().is_null(), MechanismKind::None),
            (
                mechanism().is_in(constants(&self.adequacy)),
                MechanismKind::Adequacy,
            ),
            (
                mechanism().is_in(constants(&self.safeguards)),
                MechanismKind::Safeguard,
            ),
            (
                mechanism().is_in(constants(&self.derogations)),
                MechanismKind::Derogation,
            ),
            (
                mechanism().is_in(constants(&self.inactive)),
                MechanismKind::Inactive,
            ),
        ];
        Choice::of(
            kinds
                .into_iter()
                .map(|(when, kind)| (when, level(kind)))
                .collect(),
            level(MechanismKind::Unrecognised),
        )
    }
}

/// `ids` as SQL literals, not parameters: the lists are the rules' own constants (reference data,
/// escaped by the query builder), so that PostgreSQL plans them as constant arrays, probed by
/// hash, in a prepared statement's generic plan too. As parameters, the generic plan it
/// switches to after five executions compared each row with every id in turn: a summary of
/// 6,000 locations took 45 to 60 ms instead of 12.
fn constants(ids: &[String]) -> impl Iterator<Item = Expr> + '_ {
    ids.iter().map(|id| Expr::Constant(id.as_str().into()))
}

/// A CASE whose branches are values of `T`, collapsed to the value when every branch has it.
#[derive(Debug, Clone, PartialEq)]
enum Choice<T> {
    Value(T),
    Case(Vec<(Expr, T)>, T),
}

impl<T: PartialEq> Choice<T> {
    /// The choice among `branches`, whose conditions must exclude each other: a branch giving
    /// the `otherwise` value is left out, as the ELSE gives it too.
    fn of(branches: Vec<(Expr, T)>, otherwise: T) -> Self {
        let branches: Vec<(Expr, T)> = branches
            .into_iter()
            .filter(|(_, v)| *v != otherwise)
            .collect();
        if branches.is_empty() {
            Choice::Value(otherwise)
        } else {
            Choice::Case(branches, otherwise)
        }
    }
}

trait IntoExpr {
    fn into_expr(self) -> Expr;
}

impl IntoExpr for i32 {
    fn into_expr(self) -> Expr {
        // A literal, not a parameter: the levels are the rules' own constants.
        Expr::cust(self.to_string())
    }
}

impl<T: IntoExpr> IntoExpr for Choice<T> {
    fn into_expr(self) -> Expr {
        match self {
            Choice::Value(v) => v.into_expr(),
            Choice::Case(branches, otherwise) => {
                let mut case = CaseStatement::new();
                for (when, then) in branches {
                    case = case.case(when, then.into_expr());
                }
                case.finally(otherwise.into_expr()).into()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    // Fixtures fail by panicking: that is how a test reports.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use sea_orm::{ConnectionTrait, Database, DbBackend};

    use sea_orm::sea_query::{Alias, Query};

    use super::super::queries::{RISK, risk_of};
    use super::*;

    fn rules() -> RiskRules {
        let ids = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        RiskRules {
            eea: ids(&["FR"]),
            adequate: ids(&["JP"]),
            partially_adequate: ids(&["US"]),
            adequacy: ids(&["ADEQUACY"]),
            safeguards: ids(&["SCC"]),
            derogations: ids(&["CONSENT"]),
            inactive: ids(&["OLD"]),
        }
    }

    /// A country of each status and a mechanism id of each kind, as [`rules`] knows them.
    const DESTINATIONS: [(&str, DestinationStatus); 4] = [
        ("FR", DestinationStatus::Eea),
        ("JP", DestinationStatus::Adequate),
        ("US", DestinationStatus::PartiallyAdequate),
        ("CN", DestinationStatus::ThirdCountry),
    ];
    const MECHANISMS: [(Option<&str>, MechanismKind); 6] = [
        (None, MechanismKind::None),
        (Some("ADEQUACY"), MechanismKind::Adequacy),
        (Some("SCC"), MechanismKind::Safeguard),
        (Some("CONSENT"), MechanismKind::Derogation),
        (Some("OLD"), MechanismKind::Inactive),
        (Some("HANDSHAKE"), MechanismKind::Unrecognised),
    ];

    #[tokio::test]
    async fn the_sql_case_computes_the_risk_table_for_every_combination() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        for sql in [
            "CREATE TABLE digital_assets (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, contains_personal_data BOOLEAN NOT NULL)",
            "CREATE TABLE asset_processing_locations (id TEXT PRIMARY KEY, organization_id TEXT NOT NULL, digital_asset_id TEXT NOT NULL, country_id TEXT NOT NULL, transfer_mechanism_id TEXT, is_active BOOLEAN NOT NULL)",
            "INSERT INTO digital_assets VALUES ('personal', 'o', TRUE), ('other', 'o', FALSE)",
        ] {
            db.execute_unprepared(sql).await.unwrap();
        }
        let mut expected = Vec::new();
        for (country, status) in DESTINATIONS {
            for (mechanism, kind) in MECHANISMS {
                for asset in ["personal", "other"] {
                    let id = format!("{country}-{}-{asset}", mechanism.unwrap_or("none"));
                    let mechanism = mechanism.map_or("NULL".to_owned(), |m| format!("'{m}'"));
                    db.execute_unprepared(&format!(
                        "INSERT INTO asset_processing_locations VALUES ('{id}', 'o', '{asset}', '{country}', {mechanism}, TRUE)"
                    ))
                    .await
                    .unwrap();
                    expected.push((id, risk(status, kind, asset == "personal")));
                }
            }
        }
        let select = Query::select()
            .column((Locations, L::Id))
            .expr_as(rules().expr(), Alias::new(RISK))
            .from(Locations)
            .inner_join(
                assets::Entity,
                Expr::col((Locations, L::DigitalAssetId)).equals((assets::Entity, A::Id)),
            )
            .to_owned();
        let rows = db.query_all(&select).await.unwrap();
        assert_eq!(rows.len(), expected.len());
        for row in rows {
            let id: String = row.try_get("", "id").unwrap();
            let (_, want) = expected.iter().find(|(e, _)| *e == id).unwrap();
            assert_eq!(risk_of(&row).unwrap(), *want, "{id}");
        }
    }

    #[test]
    fn rules_sort_countries_and_mechanisms_by_their_kind() {
        let country = |id: &str, status: &[&str], partial: bool| countries::Model {
            id: id.into(),
            name: id.into(),
            iso_code: id.into(),
            iso_code3: None,
            gdpr_status: serde_json::json!(status),
            is_active: true,
            created_at: Default::default(),
            updated_at: Default::default(),
            adequacy_decision: None,
            adequacy_partial: partial,
            adequacy_scope: None,
        };
        let mechanism = |id: &str, category: &str, active: bool| transfer_mechanisms::Model {
            id: id.into(),
            code: id.into(),
            name: id.into(),
            description: String::new(),
            gdpr_article: String::new(),
            category: category.into(),
            is_derogation: false,
            requires_adequacy: false,
            requires_documentation: false,
            is_active: active,
            created_at: Default::default(),
            updated_at: Default::default(),
        };
        let countries = [
            country("FR", &["EU", "EEA"], false),
            country("NO", &["EEA", "EFTA"], false),
            country("JP", &["Adequate"], false),
            country("US", &["Adequate"], true),
            country("CN", &["Third Country"], false),
        ];
        let mechanisms = [
            mechanism("ADEQUACY", "ADEQUACY", true),
            mechanism("SCC", "APPROPRIATE_SAFEGUARD", true),
            mechanism("BCR", "APPROPRIATE_SAFEGUARD", true),
            mechanism("CONSENT", "DEROGATION", true),
            mechanism("OLD", "APPROPRIATE_SAFEGUARD", false),
            mechanism("HANDSHAKE", "GENTLEMEN", true),
        ];
        let rules = RiskRules::new(&countries, &mechanisms);
        let ids = |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };
        assert_eq!(
            rules,
            RiskRules {
                eea: ids(&["FR", "NO"]),
                adequate: ids(&["JP"]),
                partially_adequate: ids(&["US"]),
                adequacy: ids(&["ADEQUACY"]),
                safeguards: ids(&["BCR", "SCC"]),
                derogations: ids(&["CONSENT"]),
                inactive: ids(&["OLD"]),
            }
        );
        // Branches that give the ELSE value are left out (the conditions exclude each other).
        let sql = DbBackend::Postgres
            .build(&Query::select().expr(rules.expr()).to_owned())
            .to_string();
        assert_eq!(sql.matches("CASE").count(), 4, "{sql}");
        assert!(!sql.contains("IS NULL"), "{sql}");
    }
}
