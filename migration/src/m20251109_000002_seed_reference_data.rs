//! Reference rows the foreign keys need: every ISO 3166-1 country with its GDPR status, and the
//! GDPR Chapter V transfer mechanisms. Inserted idempotently; `down` deletes exactly these rows.

use sea_orm_migration::prelude::*;

use crate::reference::{COUNTRIES_TSV, TRANSFER_MECHANISMS, countries, gdpr_status};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let rows = countries(COUNTRIES_TSV).map_err(DbErr::Migration)?;
        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("countries"))
            .columns(["id", "name", "iso_code", "iso_code3", "gdpr_status"].map(Alias::new));
        for country in &rows {
            let status = serde_json::json!(gdpr_status(country.iso_code));
            insert.values_panic([
                country.iso_code.into(),
                country.name.into(),
                country.iso_code.into(),
                country.iso_code3.into(),
                status.into(),
            ]);
        }
        insert.on_conflict(OnConflict::new().do_nothing().to_owned());
        manager.execute(insert).await?;

        let mut insert = Query::insert();
        insert
            .into_table(Alias::new("transfer_mechanisms"))
            .columns(
                [
                    "id",
                    "code",
                    "name",
                    "description",
                    "gdpr_article",
                    "category",
                    "is_derogation",
                    "requires_adequacy",
                    "requires_documentation",
                ]
                .map(Alias::new),
            );
        for m in TRANSFER_MECHANISMS {
            insert.values_panic([
                m.code.into(),
                m.code.into(),
                m.name.into(),
                m.description.into(),
                m.gdpr_article.into(),
                m.category.as_str().into(),
                m.is_derogation().into(),
                m.requires_adequacy().into(),
                m.requires_documentation.into(),
            ]);
        }
        insert.on_conflict(OnConflict::new().do_nothing().to_owned());
        manager.execute(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mechanisms = TRANSFER_MECHANISMS.iter().map(|m| m.code);
        manager
            .execute(
                Query::delete()
                    .from_table(Alias::new("transfer_mechanisms"))
                    .and_where(Expr::col(Alias::new("id")).is_in(mechanisms))
                    .take(),
            )
            .await?;
        let rows = countries(COUNTRIES_TSV).map_err(DbErr::Migration)?;
        manager
            .execute(
                Query::delete()
                    .from_table(Alias::new("countries"))
                    .and_where(Expr::col(Alias::new("id")).is_in(rows.iter().map(|c| c.iso_code)))
                    .take(),
            )
            .await
    }
}
