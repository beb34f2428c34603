//! One export between batches: the next part of the file, read in keyset batches (see the
//! module above), each asset's locations assessed and written as rows.

use super::*;

/// The state of one export between batches.
pub(super) struct Export {
    pub(super) state: Arc<AppState>,
    pub(super) tenant: Tenant,
    pub(super) filter: AssetFilter,
    pub(super) reference: Arc<ReferenceData>,
    pub(super) headquarters: Option<String>,
    pub(super) cursor: Option<assets::AssetCursor>,
    pub(super) rows_written: u64,
    pub(super) finished: bool,
    /// The export's ticket, held until the last batch is written (or the client goes away).
    pub(super) _ticket: ExportTicket,
}

impl Export {
    /// The next part of the file: the header and the first batch, then one batch each; `None`
    /// once the last is written.
    pub(super) async fn next_chunk(
        &mut self,
        format: Format,
    ) -> Result<Option<Bytes>, ServiceError> {
        if self.finished {
            return Ok(None);
        }
        let first = self.cursor.is_none() && self.rows_written == 0;
        let page = assets::list(
            self.state.dbs.read(),
            &self.tenant,
            &self.filter,
            AssetOrder::default(),
            &Page::First(BATCH, self.cursor.clone()),
        )
        .await?;
        let rows = self.rows(&page.assets).await?;
        self.finished = !page.has_next_page;
        if let Some(last) = page.assets.last() {
            self.cursor = Some(assets::AssetCursor {
                key: AssetOrder::default().key_of(last),
                id: last.id.clone(),
            });
        }
        let count = rows.len() as u64;
        let mut out = Vec::with_capacity(rows.len() * 256);
        match format {
            Format::Csv => {
                let mut writer = ::csv::WriterBuilder::new()
                    .has_headers(first)
                    .from_writer(&mut out);
                if first && rows.is_empty() {
                    writer.serialize(Row::default()).ok();
                    // Only the header: the empty row was for it.
                    writer.flush().ok();
                    drop(writer);
                    if let Some(end) = out.iter().position(|b| *b == b'\n') {
                        out.truncate(end + 1);
                    }
                } else {
                    for row in rows {
                        writer.serialize(row.for_spreadsheets()).map_err(|e| {
                            ServiceError::Internal(sea_orm::DbErr::Custom(e.to_string()))
                        })?;
                    }
                    writer.flush().map_err(|e| {
                        ServiceError::Internal(sea_orm::DbErr::Custom(e.to_string()))
                    })?;
                }
            }
            Format::Json => {
                if first {
                    out.push(b'[');
                }
                for row in &rows {
                    if self.rows_written > 0 {
                        out.push(b',');
                    }
                    out.push(b'\n');
                    serde_json::to_writer(&mut out, row).map_err(|e| {
                        ServiceError::Internal(sea_orm::DbErr::Custom(e.to_string()))
                    })?;
                    self.rows_written += 1;
                }
                if self.finished {
                    out.extend_from_slice(b"\n]\n");
                }
            }
        }
        if format == Format::Csv {
            self.rows_written += count;
        }
        Ok(Some(Bytes::from(out)))
    }

    /// The rows of a batch of assets, in the batch's order, each asset's locations oldest first.
    async fn rows(&self, batch: &[digital_assets::Model]) -> Result<Vec<Row>, ServiceError> {
        let (db, tenant) = (self.state.dbs.read(), &self.tenant);
        let ids: Vec<String> = batch.iter().map(|a| a.id.clone()).collect();
        let mut by_asset: HashMap<String, Vec<locations::Model>> = HashMap::new();
        let all =
            location_service::for_assets(db, tenant, &ids, false, Some(LOCATIONS_PER_BATCH + 1))
                .await?;
        let one_at_a_time = all.len() as u64 > LOCATIONS_PER_BATCH;
        if !one_at_a_time {
            for l in all {
                by_asset
                    .entry(l.digital_asset_id.clone())
                    .or_default()
                    .push(l);
            }
        }
        let mut activity_names: HashMap<String, Vec<String>> = HashMap::new();
        for (asset, activity) in activities::activities_for_assets(db, tenant, &ids, None).await? {
            activity_names.entry(asset).or_default().push(activity.name);
        }
        let owner_ids: Vec<String> = batch
            .iter()
            .flat_map(|a| [a.technical_owner_id.clone(), a.business_owner_id.clone()])
            .flatten()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let owners: HashMap<String, String> = reference::users_by_ids(db, tenant, &owner_ids)
            .await?
            .into_iter()
            .map(|u| (u.id.clone(), format!("{} <{}>", u.name, u.email)))
            .collect();
        let mut rows = Vec::new();
        for asset in batch {
            let base = self.asset_row(asset, &owners, &activity_names);
            let mut wrote = false;
            if one_at_a_time {
                let mut after: Option<locations::Model> = None;
                loop {
                    let part = location_service::active_page(
                        db,
                        tenant,
                        &asset.id,
                        after.as_ref(),
                        LOCATIONS_PER_READ,
                    )
                    .await?;
                    let purposes = self.purposes(&part).await?;
                    for l in &part {
                        rows.push(self.location_row(&base, asset, l, &purposes)?);
                        wrote = true;
                    }
                    if (part.len() as u64) < LOCATIONS_PER_READ {
                        break;
                    }
                    after = part.into_iter().last();
                }
            } else if let Some(list) = by_asset.get(asset.id.as_str()) {
                let purposes = self.purposes(list).await?;
                for l in list {
                    rows.push(self.location_row(&base, asset, l, &purposes)?);
                    wrote = true;
                }
            }
            if !wrote {
                rows.push(base);
            }
        }
        Ok(rows)
    }

    /// The names of the purposes `list` refers to, by id (one statement).
    async fn purposes(
        &self,
        list: &[locations::Model],
    ) -> Result<HashMap<String, String>, ServiceError> {
        let ids: Vec<String> = list
            .iter()
            .filter_map(|l| l.purpose_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        Ok(
            reference::purposes_by_ids(self.state.dbs.read(), &self.tenant, &ids)
                .await?
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect(),
        )
    }

    fn asset_row(
        &self,
        asset: &digital_assets::Model,
        owners: &HashMap<String, String>,
        activity_names: &HashMap<String, Vec<String>>,
    ) -> Row {
        let owner = |id: &Option<String>| {
            id.as_ref()
                .and_then(|id| owners.get(id).cloned())
                .unwrap_or_default()
        };
        Row {
            asset_id: asset.id.clone(),
            asset_name: asset.name.clone(),
            asset_type: api_name(asset.r#type),
            asset_description: asset.description.clone().unwrap_or_default(),
            asset_url: asset.url.clone().unwrap_or_default(),
            contains_personal_data: asset.contains_personal_data,
            integration_status: api_name(asset.integration_status),
            technical_owner: owner(&asset.technical_owner_id),
            business_owner: owner(&asset.business_owner_id),
            activities: activity_names
                .get(&asset.id)
                .map(|names| names.join("; "))
                .unwrap_or_default(),
            asset_updated_at: asset.updated_at.to_rfc3339(),
            ..Row::default()
        }
    }

    fn location_row(
        &self,
        base: &Row,
        asset: &digital_assets::Model,
        location: &locations::Model,
        purposes: &HashMap<String, String>,
    ) -> Result<Row, ServiceError> {
        let country = self
            .reference
            .country(&location.country_id)
            .ok_or(ServiceError::NotFound("country"))?;
        let mechanism = location
            .transfer_mechanism_id
            .as_ref()
            .and_then(|id| self.reference.mechanism(id));
        let assessment = transfers::assess(&transfers::Transfer {
            destination: Destination::of(&country),
            mechanism: Mechanism::of(mechanism.as_deref()),
            contains_personal_data: asset.contains_personal_data,
            headquarters_outside_eea: self.headquarters.as_deref(),
        });
        // The purpose record's name, else the purpose in words.
        let purpose = location
            .purpose_id
            .as_ref()
            .and_then(|id| purposes.get(id).cloned())
            .or_else(|| location.purpose_text.clone())
            .unwrap_or_default();
        Ok(Row {
            location_id: location.id.clone(),
            location_service: location.service.clone(),
            country_code: country.iso_code.clone(),
            country_name: country.name.clone(),
            country_status: api_name(DestinationStatus::of(&country)),
            location_role: api_name(location.location_role),
            purpose,
            transfer_mechanism: mechanism.map(|m| m.code.clone()).unwrap_or_default(),
            transfer_risk: api_name(assessment.risk),
            legal_basis: assessment.legal_basis.unwrap_or_default(),
            transfer_reasons: assessment
                .reasons
                .iter()
                .map(api_name)
                .collect::<Vec<_>>()
                .join("; "),
            transfer_explanation: assessment.explanation,
            ..base.clone()
        })
    }
}

impl Row {
    /// The row with every text that a spreadsheet would take for a formula (`=`, `+`, `-`, `@`,
    /// tab, carriage return first) prefixed with `'`: a CSV export is opened in spreadsheets, and
    /// a name another user typed must not run there (OWASP "CSV injection"). JSON keeps the text.
    /// Only the texts that need it are copied: a batch's rows are not made twice.
    fn for_spreadsheets(mut self) -> Row {
        fn make_safe(text: &mut String) {
            if let Some('=' | '+' | '-' | '@' | '\t' | '\r') = text.chars().next() {
                text.insert(0, '\'');
            }
        }
        for text in [
            &mut self.asset_id,
            &mut self.asset_name,
            &mut self.asset_description,
            &mut self.asset_url,
            &mut self.technical_owner,
            &mut self.business_owner,
            &mut self.activities,
            &mut self.location_id,
            &mut self.location_service,
            &mut self.purpose,
        ] {
            make_safe(text);
        }
        self
    }
}
