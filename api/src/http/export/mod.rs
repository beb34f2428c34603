//! `GET /export/digital-assets.csv` and `.json`: the organization's inventory as a file for its
//! Article 30 record, one row per asset and active processing location (an asset without one has
//! a row with the location's columns empty), with the country's GDPR status, the transfer
//! assessment, the owners and the linked activities.
//!
//! The filter is `digitalAssets`'s, as query parameters (lists comma-separated: `types=CRM,API`);
//! an unknown parameter is refused, so that a typo never exports more than was asked. Rows are
//! read in keyset batches of [`BATCH`] assets (by name, then id) and written to the client batch by
//! batch, so memory stays flat however large the organization; an asset with very many locations
//! is read [`LOCATIONS_PER_READ`] locations at a time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use chrono::Utc;
use entity::{asset_processing_locations as locations, digital_assets};
use futures_util::stream;
use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, handler};
use serde::{Deserialize, Serialize};
use service::assets::{self, AssetFilter, AssetOrder, AssetRiskFilter, Page};
use service::reference_cache::ReferenceData;
use service::transfers::{
    self, Destination, DestinationStatus, Mechanism, TransferRisk, queries as transfer_queries,
};
use service::{ServiceError, Tenant, activities, locations as location_service, reference};

use self::batches::Export;
use super::graphql::admit_tenant;
use super::{AppState, graphql_error};
use crate::error::code;

mod batches;

/// Who exports now: at most `max` exports at once, and one per organization.
pub struct ExportGate {
    max: usize,
    running: Mutex<HashSet<String>>,
}

/// One running export; leaving frees its place.
struct ExportTicket {
    gate: Arc<ExportGate>,
    organization: String,
}

impl ExportGate {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            running: Mutex::new(HashSet::new()),
        })
    }

    fn enter(self: &Arc<Self>, organization: &str) -> Result<ExportTicket, &'static str> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if running.contains(organization) {
            return Err("an export of this organization is already running; retry once it ends");
        }
        if running.len() >= self.max {
            return Err("too many exports are running (MAX_CONCURRENT_EXPORTS); retry shortly");
        }
        running.insert(organization.to_owned());
        Ok(ExportTicket {
            gate: self.clone(),
            organization: organization.to_owned(),
        })
    }
}

impl Drop for ExportTicket {
    fn drop(&mut self) {
        self.gate
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.organization);
    }
}

/// Assets read per batch.
const BATCH: u64 = 50;
/// Locations one read may bring back for a batch; past it, the batch's assets are read one at a
/// time, their locations [`LOCATIONS_PER_READ`] at a time.
const LOCATIONS_PER_BATCH: u64 = 5_000;
const LOCATIONS_PER_READ: u64 = 1_000;

/// One row of the export: the documented columns, in order.
#[derive(Debug, Serialize, Default, Clone)]
struct Row {
    asset_id: String,
    asset_name: String,
    asset_type: String,
    asset_description: String,
    asset_url: String,
    contains_personal_data: bool,
    integration_status: String,
    technical_owner: String,
    business_owner: String,
    activities: String,
    location_id: String,
    location_service: String,
    country_code: String,
    country_name: String,
    country_status: String,
    location_role: String,
    purpose: String,
    transfer_mechanism: String,
    transfer_risk: String,
    legal_basis: String,
    transfer_reasons: String,
    transfer_explanation: String,
    asset_updated_at: String,
}

/// The query parameters: `digitalAssets`'s filter.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Params {
    search: Option<String>,
    #[serde(rename = "type")]
    asset_type: Option<String>,
    types: Option<String>,
    integration_statuses: Option<String>,
    contains_personal_data: Option<bool>,
    primary_hosting_country_id: Option<String>,
    processing_country_id: Option<String>,
    activity_id: Option<String>,
    owner_id: Option<String>,
    updated_since: Option<String>,
    transfer_risk: Option<String>,
}

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

#[handler]
pub(crate) async fn csv(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    export(req, state, Format::Csv).await
}

#[handler]
pub(crate) async fn json(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    export(req, state, Format::Json).await
}

fn bad_input(message: &str) -> Response {
    graphql_error(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, message)
}

async fn export(req: &Request, state: &Arc<AppState>, format: Format) -> Response {
    let params: Params = match req.params() {
        Ok(p) => p,
        Err(e) => return bad_input(&format!("the query parameters are not a filter: {e}")),
    };
    // As GraphQL refuses it: no text the database cannot hold (or, SQLite, would match oddly).
    if req
        .uri()
        .query()
        .is_some_and(|q| q.contains("%00") || q.contains('\0'))
    {
        return bad_input("a query parameter holds a NUL character");
    }
    let deadline = Instant::now() + state.limits.request_timeout;
    // A request slot for the set-up only; the stream holds an export ticket instead, so that
    // exports, however slowly they are read, never take the slots GraphQL requests need.
    let (tenant, slot) = match admit_tenant(req, state, deadline).await {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let ticket = match state.exports.enter(&tenant.organization_id) {
        Ok(t) => t,
        Err(message) => return super::unavailable(code::SERVICE_UNAVAILABLE, message),
    };
    let prepared = async {
        let filter = filter(params, state).await?;
        let reference = state.reference.get(state.dbs.read()).await?;
        let headquarters = transfer_queries::headquarters_country_id(state.dbs.read(), &tenant)
            .await?
            .and_then(|id| reference.country(&id))
            .filter(|c| DestinationStatus::of(c) != DestinationStatus::Eea)
            .map(|c| c.name.clone());
        Ok::<_, ServiceError>(Export {
            state: state.clone(),
            tenant,
            filter,
            reference,
            headquarters,
            cursor: None,
            rows_written: 0,
            finished: false,
            _ticket: ticket,
        })
    };
    let prepared = prepared.await;
    drop(slot);
    let export = match prepared {
        Ok(e) => e,
        Err(ServiceError::BadInput { message, .. }) => return bad_input(&message),
        Err(e) => {
            let error = crate::error::to_graphql(e);
            return graphql_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL_SERVER_ERROR,
                &error.message,
            );
        }
    };
    let date = Utc::now().format("%Y-%m-%d");
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let body = stream::unfold(Some(export), move |state| async move {
        let mut export = state?;
        match export.next_chunk(format).await {
            Ok(Some(bytes)) => Some((Ok::<_, std::io::Error>(bytes), Some(export))),
            Ok(None) => None,
            Err(e) => {
                // Headers are sent: the only way left to say it failed is to end the body short.
                tracing::error!(error = %e, rows = export.rows_written, "the export failed");
                Some((Err(std::io::Error::other("the export failed")), None))
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .content_type(content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"digital-assets-{date}.{extension}\""),
        )
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from_bytes_stream(body))
}

/// The service's filter from the parameters, validated as `digitalAssets` validates it.
async fn filter(params: Params, state: &Arc<AppState>) -> Result<AssetFilter, ServiceError> {
    fn parse<T: Copy>(
        field: &str,
        text: &str,
        values: impl Iterator<Item = T>,
        name: impl Fn(T) -> String,
    ) -> Result<T, ServiceError> {
        let mut values = values;
        values.find(|v| name(*v) == text).ok_or_else(|| {
            ServiceError::bad_input(field, format!("{field}: `{text}` is not one of its values"))
        })
    }
    fn list<T: Copy>(
        field: &str,
        text: Option<&str>,
        values: impl Iterator<Item = T> + Clone,
        name: impl Fn(T) -> String + Copy,
    ) -> Result<Vec<T>, ServiceError> {
        let Some(text) = text else {
            return Ok(Vec::new());
        };
        let items: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        items
            .into_iter()
            .map(|t| parse(field, t, values.clone(), name))
            .collect()
    }
    use entity::sea_orm_active_enums::{AssetType, IntegrationStatus};
    use sea_orm::Iterable;
    let asset_type = params
        .asset_type
        .as_deref()
        .map(|t| parse("type", t, AssetType::iter(), api_name))
        .transpose()?;
    let types = list("types", params.types.as_deref(), AssetType::iter(), |v| {
        api_name(v)
    })?;
    let integration_statuses = list(
        "integrationStatuses",
        params.integration_statuses.as_deref(),
        IntegrationStatus::iter(),
        api_name,
    )?;
    let updated_since = params
        .updated_since
        .as_deref()
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t).map_err(|_| {
                ServiceError::bad_input("updatedSince", "updatedSince must be an RFC 3339 time")
            })
        })
        .transpose()?;
    let risks = [
        TransferRisk::None,
        TransferRisk::Low,
        TransferRisk::Medium,
        TransferRisk::High,
        TransferRisk::Critical,
    ];
    let transfer_risk = match params.transfer_risk.as_deref() {
        None => None,
        Some(text) => {
            let risk = parse("transferRisk", text, risks.into_iter(), api_name)?;
            let rules = state.reference.get(state.dbs.read()).await?.risk_rules();
            Some(AssetRiskFilter { risk, rules })
        }
    };
    AssetFilter {
        search: params.search,
        asset_type,
        types,
        integration_statuses,
        contains_personal_data: params.contains_personal_data,
        primary_hosting_country_id: params.primary_hosting_country_id,
        processing_country_id: params.processing_country_id,
        activity_id: params.activity_id,
        owner_id: params.owner_id,
        updated_since,
        transfer_risk,
    }
    .checked()
}

/// An enum value as the API names it: `NoPersonalData` → `NO_PERSONAL_DATA`.
fn api_name(value: impl std::fmt::Debug) -> String {
    screaming(&format!("{value:?}"))
}

/// `NoPersonalData` → `NO_PERSONAL_DATA` (the GraphQL enums' spelling).
fn screaming(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(ch.to_uppercase());
    }
    out
}
