//! The HTTP surface: `POST /graphql`, `GET /graphql` (GraphiQL), `/healthz`, `/readyz`,
//! `/metrics`; a request id and a span per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::http::GraphiQLSource;
use migration::MigratorTrait;
use poem::error::ReadBodyError;
use poem::http::{HeaderValue, StatusCode};
use poem::web::{Data, Html};
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler};
use sea_orm::DatabaseConnection;
use serde_json::json;
use service::reference_cache::ReferenceCache;
use tracing::Instrument;

use crate::admission::{Admission, Refusal};
use crate::auth::Keys;
use crate::error::code;
use crate::graphql::guard::{RequestGuard, too_large};
use crate::graphql::{Batched, InventorySchema, Loaders};
use crate::metrics;
use crate::tenants::KnownOrganizations;

/// What every handler shares.
pub struct AppState {
    pub schema: InventorySchema,
    pub db: DatabaseConnection,
    pub keys: Keys,
    /// Countries and transfer mechanisms, read by most requests.
    pub reference: Arc<ReferenceCache>,
    /// Who executes now and who waits (MAX_CONCURRENT_REQUESTS, MAX_QUEUED_REQUESTS).
    pub admission: Arc<Admission>,
    /// Organizations tokens named and that exist.
    pub organizations: KnownOrganizations,
    /// Time and size limits of a request.
    pub limits: RequestLimits,
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
}

/// Largest request body: a create with many locations and 64 KiB metadata fits easily.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// How long a client told 503 should wait before retrying, in seconds.
const RETRY_AFTER_SECS: &str = "1";

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

/// 503 with `Retry-After`: the request was not run; sending it again later may succeed.
fn unavailable(code: &str, message: &str) -> Response {
    let mut resp = graphql_error(StatusCode::SERVICE_UNAVAILABLE, code, message);
    resp.headers_mut()
        .insert("retry-after", HeaderValue::from_static(RETRY_AFTER_SECS));
    resp
}

fn unauthenticated(message: &str) -> Response {
    let mut resp = graphql_error(StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED, message);
    resp.headers_mut()
        .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    resp
}

/// `POST /graphql`: authenticate, wait for a slot (bounded), read the body (bounded), check the
/// organization, execute (bounded), retry a read once whose database connection was lost.
#[handler]
async fn graphql(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let limits = state.limits;
    let deadline = Instant::now() + limits.request_timeout;
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let tenant = match state.keys.authenticate(header) {
        Ok(tenant) => tenant,
        Err(err) => return unauthenticated(&err.to_string()),
    };
    tracing::Span::current().record("org", tenant.organization_id.as_str());
    // Admitted before the body is read: a waiting request holds no body in memory.
    let _slot = match tokio::time::timeout_at(
        deadline.into(),
        state.admission.admit(&tenant.organization_id),
    )
    .await
    {
        Ok(Ok(slot)) => slot,
        Ok(Err(Refusal::QueueFull)) => {
            return unavailable(
                code::SERVICE_UNAVAILABLE,
                "too many requests are waiting; retry shortly",
            );
        }
        Err(_) => {
            return unavailable(
                code::TIMEOUT,
                "the request waited past REQUEST_TIMEOUT for its turn; retry shortly",
            );
        }
    };
    let bytes =
        match tokio::time::timeout(limits.body_timeout, body.into_bytes_limit(MAX_BODY)).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(ReadBodyError::PayloadTooLarge)) => {
                return graphql_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    code::BAD_USER_INPUT,
                    &format!("the request body is larger than {MAX_BODY} bytes"),
                );
            }
            Ok(Err(_)) => {
                return graphql_error(
                    StatusCode::BAD_REQUEST,
                    code::BAD_USER_INPUT,
                    "the request body could not be read",
                );
            }
            Err(_) => {
                let mut resp = graphql_error(
                    StatusCode::REQUEST_TIMEOUT,
                    code::BAD_USER_INPUT,
                    "the request body did not arrive within HTTP_BODY_TIMEOUT",
                );
                resp.headers_mut()
                    .insert("connection", HeaderValue::from_static("close"));
                return resp;
            }
        };
    match tokio::time::timeout_at(
        deadline.into(),
        state
            .organizations
            .exists(&state.db, &tenant.organization_id),
    )
    .await
    {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => {
            return unauthenticated(&format!(
                "the token's organization `{}` does not exist",
                tenant.organization_id
            ));
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot check the token's organization");
            return unavailable(
                code::SERVICE_UNAVAILABLE,
                "the database is unavailable; retry",
            );
        }
        Err(_) => return unavailable(code::TIMEOUT, "the request ran past REQUEST_TIMEOUT"),
    }
    for attempt in 0.. {
        let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                let message =
                    format!("the body must be a JSON GraphQL request ({{\"query\": …}}): {e}");
                return graphql_error(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, &message);
            }
        };
        let operation_name = request.operation_name.clone();
        let guard = Arc::new(RequestGuard::new(limits.response_budget));
        let (loaders, dispatcher) = Loaders::new(&state.db, &state.reference, &tenant, &guard);
        let execution = state.schema.execute(
            request
                .data(tenant.clone())
                .data(loaders)
                .data(guard.clone()),
        );
        let response =
            match tokio::time::timeout_at(deadline.into(), Batched::new(execution, dispatcher))
                .await
            {
                Ok(response) => response,
                Err(_) => {
                    return unavailable(code::TIMEOUT, "the request ran past REQUEST_TIMEOUT");
                }
            };
        if attempt == 0 && !guard.may_write() && connection_lost(&response) {
            // The pool still holds the other connections the failure may have hit (all of
            // them, after a failover): drop the dead ones, then run the read once more.
            tracing::warn!("a read lost its database connection: retrying it once");
            drop_dead_connections(&state.db).await;
            continue;
        }
        return answer(response, &guard, operation_name.as_deref());
    }
    unavailable(code::SERVICE_UNAVAILABLE, "retry")
}

/// Whether an error of `response` says the database connection was lost.
fn connection_lost(response: &async_graphql::Response) -> bool {
    response.errors.iter().any(|e| {
        e.extensions.as_ref().and_then(|x| x.get("code"))
            == Some(&async_graphql::Value::from(code::SERVICE_UNAVAILABLE))
    })
}

/// Pings every idle pooled connection and closes those that do not answer, so that the next
/// statements get live (or new) connections.
async fn drop_dead_connections(db: &DatabaseConnection) {
    use sea_orm::sqlx::Connection;
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let pool = db.get_postgres_connection_pool();
    let mut alive = Vec::new();
    while let Some(mut conn) = pool.try_acquire() {
        if conn.ping().await.is_ok() {
            alive.push(conn);
        } else {
            conn.close_on_drop();
        }
    }
}

/// The HTTP answer of an executed request: one error if it ran over its budget, every error
/// with a code, fields in the order of the query.
fn answer(
    mut response: async_graphql::Response,
    guard: &RequestGuard,
    operation_name: Option<&str>,
) -> Response {
    if guard.exceeded() {
        response = async_graphql::Response::from_errors(vec![
            too_large().into_server_error(async_graphql::Pos::default()),
        ]);
    }
    for error in &mut response.errors {
        classify(error);
    }
    if let Some(plan) = guard.plans().and_then(|p| p.get(operation_name)) {
        plan.apply(&mut response.data);
    }
    let mut resp = async_graphql_poem::GraphQLResponse::from(response).into_response();
    // Answers are per tenant and per token: no shared cache may keep them.
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    resp
}

/// Gives a code to an error that has none. Parse, validation and limit errors got theirs
/// (BAD_USER_INPUT) from the guard, and resolvers' errors from the service; what is left is
/// async-graphql's input coercion (the client's) or a fault of ours, logged and not described.
fn classify(error: &mut async_graphql::ServerError) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_some() {
        return;
    }
    let clients = [
        "Failed to parse",
        "Invalid value for argument",
        "Internal: Invalid",
    ];
    if clients.iter().any(|p| error.message.starts_with(p)) {
        extensions.set("code", code::BAD_USER_INPUT);
    } else {
        tracing::error!(error = %error.message, path = ?error.path, "unexpected error");
        extensions.set("code", code::INTERNAL_SERVER_ERROR);
        error.message = "internal server error".into();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(error: &async_graphql::ServerError) -> String {
        error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|c| c.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn only_the_clients_mistakes_are_bad_user_input() {
        let mut coercion = async_graphql::ServerError::new(
            "Failed to parse \"DateTime\": input contains invalid characters",
            None,
        );
        classify(&mut coercion);
        assert_eq!(code_of(&coercion), "\"BAD_USER_INPUT\"");
        let mut fault = async_graphql::ServerError::new("Data `Tenant` does not exist.", None);
        classify(&mut fault);
        assert_eq!(code_of(&fault), "\"INTERNAL_SERVER_ERROR\"");
        assert_eq!(
            fault.message, "internal server error",
            "the cause is not sent"
        );
        let mut coded = async_graphql::ServerError::new("digital asset not found", None);
        coded
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code::NOT_FOUND);
        classify(&mut coded);
        assert_eq!(code_of(&coded), "\"NOT_FOUND\"");
    }
}
