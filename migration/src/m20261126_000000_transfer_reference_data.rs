//! Chapter V reference data, corrected and completed (issue 11):
//!
//! - The EU's outermost regions with ISO codes of their own (GF, GP, MQ, RE, YT, MF) and the
//!   Åland Islands (AX) are EU territory where the GDPR applies: "EU" + "EEA", where migration 2
//!   seeded "Third Country".
//! - Brazil has had an adequacy decision since 26 January 2026: "Adequate".
//! - Each adequate country records its decision in three new columns of `countries`:
//!   `adequacy_decision` (the decision's name), `adequacy_partial` (the decision covers only some
//!   recipients there, e.g. certified ones) and `adequacy_scope` (who it covers: for a partial
//!   one, what to confirm). Columns rather than a table in code, so that SQL reports and the
//!   runbook's queries see what the API sees, and a later decision is one more data migration
//!   like this one; the values are [`crate::reference::ADEQUACY_DECISIONS`].
//!
//! A status is changed only on rows that still hold the value it replaces (a row edited by hand
//! keeps the edit), and `down` changes back only rows that still hold this migration's value,
//! then drops the three columns: what was there before is there again. `updated_at` is left as
//! it was, for the same reason.
//!
//! Sources (checked for this migration; reference material, not legal advice):
//! - The European Commission's page "Adequacy decisions" (commission.europa.eu › law › data
//!   protection › international dimension): Andorra, Argentina, Canada (commercial
//!   organisations), Faroe Islands, Guernsey, Israel, Isle of Man, Japan, Jersey, New Zealand,
//!   Republic of Korea, Switzerland, the United Kingdom, the United States (commercial
//!   organisations participating in the EU-US Data Privacy Framework) and Uruguay.
//! - EUR-Lex, Commission Implementing Decision (EU) 2016/2295, which names the eleven decisions
//!   adopted under Directive 95/46/EC (2000/518/EC, 2002/2/EC, 2003/490/EC, 2003/821/EC,
//!   2004/411/EC, 2008/393/EC, 2010/146/EU, 2010/625/EU, 2011/61/EU, 2012/484/EU, 2013/65/EU),
//!   and the Official Journal entries of 2002/2/EC (Canada, PIPEDA), 2010/625/EU (Andorra) and
//!   2013/65/EU (New Zealand).
//! - Commission Implementing Decision (EU) 2019/419, Article 1 (Japan: business operators under
//!   the APPI with the Supplementary Rules), via legislation.gov.uk's copy of the EU text.
//! - Korea (adopted 17 December 2021, exclusions): the Luxembourg CNPD's and eucrim's notes of
//!   the adoption; the number (EU) 2022/254 from secondary sources only.
//! - Commission Implementing Decision (EU) 2023/1795 of 10 July 2023 (EU-US Data Privacy
//!   Framework: organisations on the Data Privacy Framework List).
//! - United Kingdom: Implementing Decision (EU) 2021/1772 (the LED decision being 2021/1773);
//!   renewed on 19 December 2025 until 27 December 2031 (DPO Centre, Brussels Times, ITPro);
//!   the renewal decision's number could not be sourced, so none is recorded.
//! - Brazil: Commission Implementing Decision (EU) 2026/179 of 26 January 2026, published in the
//!   Official Journal on 28 January 2026 (europalov.no, the Norwegian government's EEA register),
//!   corroborated by CMS, TozziniFreire and Deleporte Wentz.
//! - European Patent Organisation (decision of 15 July 2025): an international organisation, not
//!   a country, so it has no row here.

use sea_orm_migration::prelude::*;

use crate::reference::{
    ADEQUACY_DECISIONS, ADEQUATE_SINCE_SEED, OUTERMOST_REGIONS_AND_ALAND, gdpr_status,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLE: &str = "countries";
/// The decision's name, e.g. "Commission Implementing Decision (EU) 2023/1795".
pub const DECISION: &str = "adequacy_decision";
/// Whether the decision covers only some recipients in the country.
pub const PARTIAL: &str = "adequacy_partial";
/// Who the decision covers, in one sentence.
pub const SCOPE: &str = "adequacy_scope";

fn col(name: &str) -> Alias {
    Alias::new(name)
}

/// The status changes: (country ids, status before, status after).
fn status_changes() -> [(Vec<&'static str>, serde_json::Value, serde_json::Value); 2] {
    let seeded = |codes: &[&'static str]| -> serde_json::Value {
        // Every code of a group was seeded with the same status (checked by a unit test).
        serde_json::json!(gdpr_status(codes[0]))
    };
    [
        (
            OUTERMOST_REGIONS_AND_ALAND.to_vec(),
            seeded(&OUTERMOST_REGIONS_AND_ALAND),
            serde_json::json!(["EU", "EEA"]),
        ),
        (
            ADEQUATE_SINCE_SEED.to_vec(),
            seeded(&ADEQUATE_SINCE_SEED),
            serde_json::json!(["Adequate"]),
        ),
    ]
}

/// `UPDATE countries SET gdpr_status = to WHERE id IN ids AND gdpr_status = from`.
fn set_status(
    ids: &[&'static str],
    from: &serde_json::Value,
    to: &serde_json::Value,
) -> UpdateStatement {
    Query::update()
        .table(col(TABLE))
        .value(col("gdpr_status"), to.clone())
        .and_where(Expr::col(col("id")).is_in(ids.iter().copied()))
        .and_where(Expr::col(col("gdpr_status")).eq(from.clone()))
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for column in [
            ColumnDef::new(col(DECISION)).text().null().take(),
            ColumnDef::new(col(PARTIAL))
                .boolean()
                .not_null()
                .default(false)
                .take(),
            ColumnDef::new(col(SCOPE)).text().null().take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(col(TABLE))
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for (ids, from, to) in status_changes() {
            manager.execute(set_status(&ids, &from, &to)).await?;
        }
        for d in ADEQUACY_DECISIONS {
            manager
                .execute(
                    Query::update()
                        .table(col(TABLE))
                        .value(col(DECISION), d.decision)
                        .value(col(PARTIAL), d.partial)
                        .value(col(SCOPE), d.scope)
                        .and_where(Expr::col(col("id")).eq(d.iso_code))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (ids, from, to) in status_changes() {
            manager.execute(set_status(&ids, &to, &from)).await?;
        }
        for column in [SCOPE, PARTIAL, DECISION] {
            manager
                .alter_table(
                    Table::alter()
                        .table(col(TABLE))
                        .drop_column(col(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_group_of_corrected_countries_was_seeded_with_one_status() {
        for group in [&OUTERMOST_REGIONS_AND_ALAND[..], &ADEQUATE_SINCE_SEED[..]] {
            for code in group {
                assert_eq!(gdpr_status(code), gdpr_status(group[0]), "{code}");
            }
        }
    }
}
