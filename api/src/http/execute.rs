//! Executing one GraphQL operation for HTTP: its loaders, budget and deadline, the retry of a
//! read whose database connection was lost, and its answer's errors shaped (every error with a
//! code, database text never sent).

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use sea_orm::DatabaseConnection;
use service::Tenant;

use super::graphql::MediaType;
use super::{AppState, unavailable};
use crate::error::code;
use crate::graphql::guard::{self, RequestGuard, too_large};
use crate::graphql::{Batched, Loaders};

/// An executed operation and what its answer needs.
pub(crate) struct Done {
    pub response: async_graphql::Response,
    /// What it took of the response budget.
    pub spent: usize,
    /// Whether it may have written (a mutation).
    pub wrote: bool,
    /// Whether it was executed (not refused by parsing, validation or a limit first).
    pub ran: bool,
}

impl Done {
    /// The HTTP answer: with `application/graphql-response+json`, a request that could not run
    /// (syntax, validation, limits: no data) is a 400, as the draft asks.
    pub(crate) fn write(self, media: MediaType) -> Response {
        let status = if media == MediaType::GraphqlResponse && !self.ran {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        let mut resp = async_graphql_poem::GraphQLResponse::from(self.response).into_response();
        resp.set_status(status);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(media.content_type()),
        );
        resp
    }
}

/// Errors that came before execution: no data, and no error of a field.
fn not_run(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

/// Executes one operation within the deadline (on the primary when `on_primary`, else where
/// [`crate::db::Databases::for_operation`] says); a read whose database connection was lost is
/// run once more after the dead pooled connections are dropped, if the deadline allows.
pub(super) async fn run(
    state: &AppState,
    tenant: &Tenant,
    request: async_graphql::Request,
    deadline: Instant,
    budget: usize,
    on_primary: bool,
) -> Result<Done, Response> {
    let mut request = Some(request);
    let mut retry = None;
    for attempt in 0..2 {
        let Some(this) = request.take().or_else(|| retry.take()) else {
            break;
        };
        if attempt == 0 {
            retry = Some(copy(&this));
        }
        let operation_name = this.operation_name.clone();
        let guard = Arc::new(RequestGuard::new(budget));
        if on_primary {
            guard.pin_to_primary();
        }
        let mut this = this;
        // Parsed and checked here, before the schema validates and runs it (see
        // `RequestGuard::inspect`); the schema uses the parsed document as it is.
        let checked = guard::parse(&this.query).and_then(|document| {
            guard.inspect(&document, &this.variables)?;
            Ok(document)
        });
        match checked {
            Ok(document) => this.set_parsed_query(document),
            Err(error) => {
                let response = async_graphql::Response::from_errors(vec![error]);
                return Ok(Done {
                    wrote: guard.may_write(),
                    ran: false,
                    spent: 0,
                    response: finish(response, &guard, operation_name.as_deref(), false),
                });
            }
        }
        let (loaders, dispatcher) = Loaders::new(&state.dbs, &state.reference, tenant, &guard);
        let execution = state
            .schema
            .execute(this.data(tenant.clone()).data(loaders).data(guard.clone()));
        let response =
            match tokio::time::timeout_at(deadline.into(), Batched::new(execution, dispatcher))
                .await
            {
                Ok(response) => response,
                Err(_) => {
                    return Err(unavailable(
                        code::TIMEOUT,
                        "the request ran past REQUEST_TIMEOUT",
                    ));
                }
            };
        if attempt == 0 && !guard.may_write() && connection_lost(&response) {
            // The pool still holds the other connections the failure may have hit (all of
            // them, after a failover): drop the dead ones, then run the read once more.
            tracing::warn!("a read lost its database connection: retrying it once");
            let pool = state.dbs.for_operation(guard.on_primary()).pool();
            // A server that hangs (rather than refusing) must not hold the request past its
            // deadline: each ping is bounded, and so is the whole sweep.
            if tokio::time::timeout_at(deadline.into(), drop_dead_connections(pool))
                .await
                .is_err()
            {
                break;
            }
            continue;
        }
        // A request stopped by the response budget ran (a mutation's change stays).
        let ran = guard.exceeded() || !not_run(&response);
        return Ok(Done {
            wrote: guard.may_write(),
            ran,
            spent: budget.saturating_sub(guard.remaining()),
            response: finish(response, &guard, operation_name.as_deref(), ran),
        });
    }
    Err(unavailable(code::SERVICE_UNAVAILABLE, "retry"))
}

/// The same operation, for a second run (a request's own data is added at execution).
fn copy(request: &async_graphql::Request) -> async_graphql::Request {
    let mut copy =
        async_graphql::Request::new(request.query.clone()).variables(request.variables.clone());
    copy.operation_name = request.operation_name.clone();
    copy.extensions = request.extensions.clone();
    copy
}

/// Whether an error of `response` says the database connection was lost.
fn connection_lost(response: &async_graphql::Response) -> bool {
    response.errors.iter().any(|e| {
        e.extensions.as_ref().and_then(|x| x.get("code"))
            == Some(&async_graphql::Value::from(code::SERVICE_UNAVAILABLE))
    })
}

/// How long a pooled connection may take to answer a ping before it counts as dead.
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(1);

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
        let answered = tokio::time::timeout(PING_TIMEOUT, conn.ping()).await;
        if matches!(answered, Ok(Ok(()))) {
            alive.push(conn);
        } else {
            conn.close_on_drop();
        }
    }
}

/// A response as sent: one error if it ran over its budget, every error with a code (the
/// errors of a request that did not run, `ran` false, are the client's), fields in the order
/// of the query.
fn finish(
    mut response: async_graphql::Response,
    guard: &RequestGuard,
    operation_name: Option<&str>,
    ran: bool,
) -> async_graphql::Response {
    if guard.exceeded() {
        response = async_graphql::Response::from_errors(vec![request_error(too_large())]);
    }
    for error in &mut response.errors {
        classify(error, !ran);
    }
    if let Some(plan) = guard.plans().and_then(|p| p.get(operation_name)) {
        plan.apply(&mut response.data);
    }
    response
}

/// Gives a code to an error that has none. Parse errors and the guard's limits got theirs
/// (BAD_USER_INPUT) before execution, and resolvers' errors from the service; an error of a
/// request that did not run (`before_execution`: validation, depth and cost limits, an unknown
/// operation) is the client's, and so is async-graphql's input coercion; what is left is a fault
/// of ours, logged and not described.
fn classify(error: &mut async_graphql::ServerError, before_execution: bool) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_some() {
        return;
    }
    if before_execution {
        extensions.set("code", code::BAD_USER_INPUT);
        return;
    }
    let clients = [
        "Failed to parse",
        "Invalid value for argument",
        // A variable the operation declares but the request leaves out, or of the wrong shape
        // for an input object or a custom scalar: found by async-graphql as the field runs.
        "Variable ",
        "Expected input type",
        "Internal: Invalid",
        "Unknown operation named",
        "Operation name required",
        "Subscription",
    ];
    if clients.iter().any(|p| error.message.starts_with(p)) {
        extensions.set("code", code::BAD_USER_INPUT);
    } else {
        tracing::error!(error = %error.message, path = ?error.path, "unexpected error");
        extensions.set("code", code::INTERNAL_SERVER_ERROR);
        error.message = "internal server error".into();
    }
}

/// A request-level error (no location in the document: it concerns the whole operation).
pub(crate) fn request_error(error: async_graphql::Error) -> async_graphql::ServerError {
    let mut server = async_graphql::ServerError::new(error.message, None);
    server.extensions = error.extensions;
    server
}

/// A batch member's answer that holds only an error.
pub(super) fn error_answer(code: &str, message: &str) -> async_graphql::Response {
    use async_graphql::ErrorExtensions;
    let error = async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code));
    async_graphql::Response::from_errors(vec![request_error(error)])
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
        classify(&mut coercion, false);
        assert_eq!(code_of(&coercion), "\"BAD_USER_INPUT\"");
        let mut validation =
            async_graphql::ServerError::new("Unknown field \"x\" on type \"Query\".", None);
        classify(&mut validation, true);
        assert_eq!(code_of(&validation), "\"BAD_USER_INPUT\"");
        let mut fault = async_graphql::ServerError::new("Data `Tenant` does not exist.", None);
        classify(&mut fault, false);
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
        classify(&mut coded, true);
        assert_eq!(code_of(&coded), "\"NOT_FOUND\"");
    }

    #[test]
    fn the_accept_header_chooses_the_media_type() {
        use MediaType::*;
        assert_eq!(MediaType::negotiate(None), Some(Json));
        assert_eq!(MediaType::negotiate(Some("*/*")), Some(Json));
        assert_eq!(
            MediaType::negotiate(Some("application/graphql-response+json")),
            Some(GraphqlResponse)
        );
        assert_eq!(
            MediaType::negotiate(Some(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(GraphqlResponse)
        );
        assert_eq!(
            MediaType::negotiate(Some(
                "application/json, application/graphql-response+json;q=0.5"
            )),
            Some(Json)
        );
        assert_eq!(MediaType::negotiate(Some("text/plain")), None);
        assert_eq!(MediaType::negotiate(Some("application/json;q=0")), None);
    }
}
