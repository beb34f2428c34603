//! The HTTP surface: `POST /graphql`, `GET /graphql` (GraphiQL), `/healthz`, `/readyz`,
//! `/metrics`; a request id and a span per request.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::http::GraphiQLSource;
use migration::MigratorTrait;
use poem::http::{HeaderValue, StatusCode};
use poem::web::{Data, Html};
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use sea_orm::DatabaseConnection;
use serde_json::json;
use service::reference_cache::ReferenceCache;
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::auth::Keys;
use crate::error::code;
use crate::graphql::{Batched, InventorySchema, Loaders};
use crate::metrics;

/// What every handler shares.
pub struct AppState {
    pub schema: InventorySchema,
    pub db: DatabaseConnection,
    pub keys: Keys,
    /// Countries and transfer mechanisms, read by most requests.
    pub reference: Arc<ReferenceCache>,
    /// Permits to execute a GraphQL request (MAX_CONCURRENT_REQUESTS).
    pub executions: Arc<Semaphore>,
}

/// Largest request body: a create with many locations and 64 KiB metadata fits easily.
const MAX_BODY: usize = 2 * 1024 * 1024;

/// The routes with their middleware.
pub fn routes(state: Arc<AppState>) -> impl Endpoint {
    Route::new()
        .at("/graphql", get(graphiql).post(graphql))
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz))
        .at("/metrics", get(metrics_text))
        .data(state)
        .around(|next, req| async move { observe(next, req).await })
}

/// A span with a request id (the client's `x-request-id`, else a new one) around each request,
/// the id echoed in the response, and one log line with status and latency.
async fn observe<E: Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    metrics::request();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
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

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

fn graphql_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"errors": [{"message": message, "extensions": {"code": code}}]}),
    )
}

#[handler]
async fn graphql(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let tenant = match state.keys.authenticate(header) {
        Ok(tenant) => tenant,
        Err(err) => {
            let mut resp = graphql_error(
                StatusCode::UNAUTHORIZED,
                code::UNAUTHENTICATED,
                &err.to_string(),
            );
            resp.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
            return resp;
        }
    };
    let bytes = match body.into_bytes_limit(MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return graphql_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::BAD_USER_INPUT,
                "request body too large or unreadable",
            );
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            let message =
                format!("the body must be a JSON GraphQL request ({{\"query\": …}}): {e}");
            return graphql_error(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, &message);
        }
    };
    tracing::Span::current().record("org", tenant.organization_id.as_str());
    // The semaphore is never closed, so acquiring only waits.
    let _permit = state.executions.acquire().await.ok();
    let (loaders, dispatcher) = Loaders::new(&state.db, &state.reference, &tenant);
    let execution = state.schema.execute(request.data(tenant).data(loaders));
    let mut response = Batched::new(execution, dispatcher).await;
    // async-graphql's own errors (syntax, validation, limits, argument types) carry no code:
    // they are the client's.
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", code::BAD_USER_INPUT);
        }
    }
    async_graphql_poem::GraphQLResponse::from(response).into_response()
}

#[handler]
async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("Digital-asset inventory")
            .finish(),
    )
}

#[handler]
async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}))
}

/// Ready when the database answers and no migration is pending.
#[handler]
async fn readyz(Data(state): Data<&Arc<AppState>>) -> Response {
    if let Err(e) = state.db.ping().await {
        tracing::warn!(error = %e, "not ready: database unreachable");
        return json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "reason": "database unreachable"}),
        );
    }
    match migration::Migrator::get_pending_migrations_read_only(&state.db).await {
        Ok(pending) if pending.is_empty() => {
            json_response(StatusCode::OK, json!({"status": "ready"}))
        }
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
async fn metrics_text() -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(metrics::render())
}
