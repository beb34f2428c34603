//! The HTTP surface: `/graphql` (GraphQL over HTTP, and GraphiQL for browsers), `/healthz`,
//! `/readyz`, `/metrics`; CORS, a request id and a span per request.

mod apq;
mod cors;
mod execute;
mod export;
pub mod graphiql;
mod graphql;

use std::sync::Arc;
use std::time::{Duration, Instant};

use migration::MigratorTrait;
use poem::http::{HeaderValue, StatusCode, header};
use poem::middleware::SetHeader;
use poem::web::Data;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use serde_json::json;
use service::reference_cache::ReferenceCache;
use tracing::Instrument;

use crate::admission::Admission;
use crate::auth::Keys;
use crate::db::Databases;
use crate::error::code;
use crate::graphql::InventorySchema;
use crate::metrics;
use crate::tenants::KnownOrganizations;

pub use apq::PersistedQueries;
pub use cors::CorsOrigins;
pub use export::ExportGate;

/// What every handler shares.
pub struct AppState {
    pub schema: InventorySchema,
    /// The primary, and the replica queries read from.
    pub dbs: Databases,
    pub keys: Keys,
    /// Countries and transfer mechanisms, read by most requests.
    pub reference: Arc<ReferenceCache>,
    /// Who executes now and who waits (MAX_CONCURRENT_REQUESTS, MAX_QUEUED_REQUESTS).
    pub admission: Arc<Admission>,
    /// Who is exporting now (MAX_CONCURRENT_EXPORTS).
    pub exports: Arc<ExportGate>,
    /// Organizations tokens named and that exist.
    pub organizations: KnownOrganizations,
    /// Time and size limits of a request.
    pub limits: RequestLimits,
    /// Automatic persisted queries: hash to query text, per organization.
    pub persisted: PersistedQueries,
    /// The GraphiQL page (with the demo token on the embedded default).
    pub graphiql: graphiql::Page,
}

/// What one GraphQL request may take.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// From headers to answer, waiting included.
    pub request_timeout: Duration,
    /// For the body to arrive.
    pub body_timeout: Duration,
    /// Values in one response.
    pub response_budget: usize,
    /// Operations in one batch.
    pub max_batch: usize,
}

/// Largest request body: a create with many locations and 64 KiB metadata fits easily.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// How long a client told 503 should wait before retrying, in seconds.
const RETRY_AFTER_SECS: &str = "1";

/// The routes with their middleware: CORS for the origins allowed (none: no CORS headers).
pub fn routes(state: Arc<AppState>, origins: &CorsOrigins) -> impl Endpoint + 'static {
    let routes = Route::new()
        .at(
            "/graphql",
            get(graphql::get)
                .post(graphql::post)
                // Answers are per tenant and per token: no shared cache may keep them.
                .with(SetHeader::new().overriding(header::CACHE_CONTROL, "no-store")),
        )
        .at("/export/digital-assets.csv", get(export::csv))
        .at("/export/digital-assets.json", get(export::json))
        .nest("/graphiql", graphiql::assets())
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics_text))
        .data(state);
    let routes = match origins.middleware() {
        // Every answer depends on the Origin when CORS is on, preflights included.
        Some(cors) => routes
            .with(cors)
            .around(|next, req| async move {
                let mut resp = next.call(req).await?.into_response();
                if !resp.headers().contains_key(header::VARY) {
                    resp.headers_mut()
                        .insert(header::VARY, HeaderValue::from_static("Origin"));
                }
                Ok(resp)
            })
            .boxed(),
        None => routes.boxed(),
    };
    routes.around(|next, req| async move { observe(next, req).await })
}

/// The id of the request being served: the client's `x-request-id`, else a new one.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// A span with a request id (the client's `x-request-id`, else a new one) around each request,
/// the id echoed in the response, and one log line with status and latency.
async fn observe<E: Endpoint>(next: Arc<E>, mut req: Request) -> poem::Result<Response> {
    metrics::request();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    // Recorded with every change the request makes (the change log's `requestId`).
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.uri().path(),
        org = tracing::field::Empty,
    );
    async move {
        let start = Instant::now();
        let mut resp = match next.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let status = resp.status().as_u16();
        tracing::info!(
            status,
            elapsed_ms = start.elapsed().as_secs_f64() * 1000.0,
            "served"
        );
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        Ok(resp)
    }
    .instrument(span)
    .await
}

pub(crate) fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

pub(crate) fn graphql_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"errors": [{"message": message, "extensions": {"code": code}}]}),
    )
}

/// 503 with `Retry-After`: the request was not run; sending it again later may succeed.
pub(crate) fn unavailable(code: &str, message: &str) -> Response {
    let mut resp = graphql_error(StatusCode::SERVICE_UNAVAILABLE, code, message);
    resp.headers_mut()
        .insert("retry-after", HeaderValue::from_static(RETRY_AFTER_SECS));
    resp
}

pub(crate) fn unauthenticated(message: &str) -> Response {
    let mut resp = graphql_error(StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED, message);
    resp.headers_mut()
        .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    resp
}

#[handler]
async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}))
}

/// Whether `db` answers a ping within [`execute::PING_TIMEOUT`]: a server that hangs must not
/// hang the probe.
async fn answers(db: &crate::db::Db) -> Result<(), String> {
    match tokio::time::timeout(execute::PING_TIMEOUT, db.pool().ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within the ping timeout".into()),
    }
}

/// Ready when the database answers with no migration pending. The read replica, when there is
/// one, is checked too and reported, but does not make the instance unready: every instance
/// shares it, so taking them all out of service would stop the mutations too, which the
/// primary still serves (queries answer SERVICE_UNAVAILABLE meanwhile).
#[handler]
async fn readyz(Data(state): Data<&Arc<AppState>>) -> Response {
    let unavailable = |reason: &str| {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "reason": reason}),
        )
    };
    if let Err(e) = answers(&state.dbs.primary).await {
        tracing::warn!(error = %e, "not ready: database unreachable");
        return unavailable("database unreachable");
    }
    let replica = match &state.dbs.replica {
        None => None,
        Some(replica) => Some(match answers(replica).await {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "degraded: read replica unreachable");
                "read replica unreachable"
            }
        }),
    };
    match migration::Migrator::get_pending_migrations_read_only(&state.dbs.primary).await {
        Ok(pending) if pending.is_empty() => match replica {
            Some(reason @ "read replica unreachable") => json_response(
                StatusCode::OK,
                json!({"status": "degraded", "reason": reason}),
            ),
            _ => json_response(StatusCode::OK, json!({"status": "ready"})),
        },
        Ok(pending) => {
            let names: Vec<&str> = pending.iter().map(|m| m.name()).collect();
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "unavailable", "reason": "migrations pending", "pending": names}),
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, "not ready: cannot read the migration history");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "unavailable", "reason": "migration history unreadable"}),
            )
        }
    }
}

#[handler]
async fn metrics_text(Data(state): Data<&Arc<AppState>>) -> Response {
    let mut body = metrics::render();
    if let Some(replica) = &state.dbs.replica {
        body.push_str(&metrics::render_replica(replica).await);
    }
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
