//! GraphQL over HTTP (the GraphQL-over-HTTP draft, with Apollo's conventions): `POST /graphql`
//! with one operation or a batch (a JSON array), `GET /graphql?query=…` for queries, automatic
//! persisted queries, and answers as `application/json` or `application/graphql-response+json`
//! as the client's `Accept` asks.
//!
//! Each request: authenticate, wait for a slot (bounded), read the body (bounded), check the
//! organization, execute each operation with its own cost limit and response budget (bounded
//! by the request's deadline; `execute.rs`), and send the answer in pieces.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse};
use poem::error::ReadBodyError;
use poem::http::{HeaderValue, StatusCode, header};
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};
use serde::Deserialize;
use service::Tenant;

use super::apq::{self, Persisted};
use super::execute::{error_answer, request_error, run};
use super::{AppState, MAX_BODY, graphql_error, unauthenticated, unavailable};
use crate::admission::{Refusal, Slot};
use crate::error::code;
use crate::graphql::guard::too_large;

/// How an answer is written, as the client's `Accept` header asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaType {
    /// `application/json`: GraphQL errors with HTTP 200 (what clients before the draft expect).
    Json,
    /// `application/graphql-response+json`: a request that could not run is a 4xx.
    GraphqlResponse,
}

impl MediaType {
    const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

    /// The best type the `accept` header allows (`None`: none we can write, HTTP 406). No header,
    /// `*/*` and `application/*` get `application/json`.
    pub(crate) fn negotiate(accept: Option<&str>) -> Option<Self> {
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
            return Some(Self::Json);
        };
        let mut best: Option<(f32, Self)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            let kind = match mime.as_str() {
                Self::GRAPHQL_RESPONSE => Self::GraphqlResponse,
                "application/json" | "application/*" | "*/*" => Self::Json,
                _ => continue,
            };
            let better = match best {
                None => true,
                Some((bq, bkind)) => {
                    q > bq || (q == bq && kind == Self::GraphqlResponse && bkind == Self::Json)
                }
            };
            if better {
                best = Some((q, kind));
            }
        }
        best.map(|(_, kind)| kind)
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json; charset=utf-8",
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// `GET /graphql` parameters.
#[derive(Debug, Default, Deserialize)]
struct GetParams {
    query: Option<String>,
    variables: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    extensions: Option<String>,
}

/// `GET /graphql`: GraphiQL for a browser asking for HTML, else the query in the URL
/// (mutations are refused: 405).
#[handler]
pub(crate) async fn get(req: &Request, Data(state): Data<&Arc<AppState>>) -> Response {
    let params: GetParams = match req.params() {
        Ok(p) => p,
        Err(_) => return bad_request("the query string is not valid URL encoding"),
    };
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    // A browser navigating here (it asks for HTML, even with `?query=` from a shared GraphiQL
    // link), or a request with nothing to run, gets GraphiQL.
    let wants_html = accept.is_some_and(|a| a.contains("text/html"));
    if wants_html || (params.query.is_none() && params.extensions.is_none()) {
        return state.graphiql.response();
    }
    let Some(media) = MediaType::negotiate(accept) else {
        return not_acceptable();
    };
    let deadline = Instant::now() + state.limits.request_timeout;
    let (tenant, slot) = match admit_tenant(req, state, deadline).await {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let mut request = async_graphql::Request::new(params.query.unwrap_or_default());
    request.operation_name = params.operation_name;
    if let Some(text) = params.variables {
        match serde_json::from_str(&text) {
            Ok(v) => request.variables = v,
            Err(e) => return bad_request(&format!("`variables` must be a JSON object: {e}")),
        }
    }
    if let Some(text) = params.extensions {
        match serde_json::from_str(&text) {
            Ok(v) => request.extensions = v,
            Err(e) => return bad_request(&format!("`extensions` must be a JSON object: {e}")),
        }
    }
    let request = match apq::resolve(&state.persisted, &tenant, request) {
        Persisted::Ready(r) => r,
        Persisted::Refused(resp) => return resp.write(media),
    };
    if is_mutation(&request) {
        let mut resp = graphql_error(
            StatusCode::METHOD_NOT_ALLOWED,
            code::BAD_USER_INPUT,
            "mutations are sent with POST (GET is for queries)",
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    let answer = answer_one(state, &tenant, request, deadline, media).await;
    hold_until_sent(answer, slot).await
}

/// Runs one operation with the whole response budget and writes its answer.
async fn answer_one(
    state: &AppState,
    tenant: &Tenant,
    request: async_graphql::Request,
    deadline: Instant,
    media: MediaType,
) -> Response {
    let budget = state.limits.response_budget;
    match run(state, tenant, request, deadline, budget, false).await {
        Ok(done) => done.write(media),
        Err(resp) => resp,
    }
}

/// `POST /graphql`: one operation (a JSON object) or a batch (a JSON array).
#[handler]
pub(crate) async fn post(req: &Request, body: Body, Data(state): Data<&Arc<AppState>>) -> Response {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let Some(media) = MediaType::negotiate(accept) else {
        return not_acceptable();
    };
    let deadline = Instant::now() + state.limits.request_timeout;
    let (tenant, slot) = match admit_tenant(req, state, deadline).await {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let bytes = match read_body(body, state).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    let batch: BatchRequest = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return bad_request(&format!(
                "the body must be a JSON GraphQL request ({{\"query\": …}}) or an array of them: {e}"
            ));
        }
    };
    drop(bytes);
    let answer = match batch {
        BatchRequest::Single(request) => match apq::resolve(&state.persisted, &tenant, request) {
            Persisted::Ready(r) => answer_one(state, &tenant, r, deadline, media).await,
            Persisted::Refused(resp) => resp.write(media),
        },
        BatchRequest::Batch(requests) => {
            if requests.is_empty() || requests.len() > state.limits.max_batch {
                return bad_request(&format!(
                    "a batch holds 1 to {} operations (MAX_BATCH_OPERATIONS), got {}",
                    state.limits.max_batch,
                    requests.len()
                ));
            }
            // One after the other, each costed and coded as if sent alone, within the request's
            // deadline. The response budget is the batch's: the answers are held together until
            // the last one, so ten operations must not build ten budgets' worth of memory.
            // Operations that ran keep their answers: one that stops at the deadline does not
            // turn the whole batch into an error after earlier ones have committed.
            let mut answers = Vec::with_capacity(requests.len());
            let mut budget = state.limits.response_budget;
            let mut stopped = false;
            // After a mutation, the batch's later operations read the primary: none reads a
            // lagging replica's copy of what an earlier one wrote.
            let mut wrote = false;
            for request in requests {
                let answer = if stopped {
                    error_answer(
                        code::TIMEOUT,
                        "not run: the batch reached REQUEST_TIMEOUT before this operation",
                    )
                } else {
                    match apq::resolve(&state.persisted, &tenant, request) {
                        Persisted::Ready(request) => {
                            match run(state, &tenant, request, deadline, budget, wrote).await {
                                Ok(done) => {
                                    budget = budget.saturating_sub(done.spent);
                                    wrote |= done.wrote;
                                    done.response
                                }
                                Err(_) => {
                                    stopped = true;
                                    error_answer(
                                        code::TIMEOUT,
                                        "stopped at REQUEST_TIMEOUT: a mutation stopped this way \
                                         did not commit, unless it stopped while committing: \
                                         read what it changes before sending it again",
                                    )
                                }
                            }
                        }
                        Persisted::Refused(refused) => refused.response,
                    }
                };
                answers.push(answer);
            }
            let mut resp = async_graphql_poem::GraphQLBatchResponse(BatchResponse::Batch(answers))
                .into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(media.content_type()),
            );
            resp
        }
    };
    hold_until_sent(answer, slot).await
}

/// Largest answer, serialized: the response budget counts values, and a value may be a long
/// text; past this the answer is one RESPONSE_TOO_LARGE error.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// The pieces an answer is handed to the connection in.
const CHUNK: usize = 64 * 1024;

/// The answer, handed to the connection a piece at a time as the client reads, with the
/// request's slot held until the last piece: a client that reads slowly (or not at all, until
/// HTTP_WRITE_TIMEOUT) holds its organization's slot, not an unbounded number of answers.
async fn hold_until_sent(mut resp: Response, slot: Slot) -> Response {
    let Ok(mut bytes) = resp.take_body().into_bytes().await else {
        return resp;
    };
    if bytes.len() > MAX_RESPONSE_BYTES {
        let error = request_error(too_large());
        let body = async_graphql::Response::from_errors(vec![error]);
        bytes = serde_json::to_vec(&body).unwrap_or_default().into();
    }
    let length = bytes.len();
    let pieces = futures_util::stream::unfold(
        (bytes, 0usize, Some(slot)),
        |(bytes, at, slot)| async move {
            if at >= bytes.len() {
                drop(slot);
                return None;
            }
            let end = (at + CHUNK).min(bytes.len());
            let piece = bytes.slice(at..end);
            Some((Ok::<_, std::io::Error>(piece), (bytes, end, slot)))
        },
    );
    resp.set_body(Body::from_bytes_stream(pieces));
    resp.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    resp
}

/// Authenticates, waits for a slot (bounded by the deadline), and checks that the token's
/// organization exists; the error is the answer to send.
pub(super) async fn admit_tenant(
    req: &Request,
    state: &Arc<AppState>,
    deadline: Instant,
) -> Result<(Tenant, Slot), Response> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let tenant = crate::auth::tenant(&state.keys, header)
        .map_err(|err| unauthenticated(&err.to_string()))?;
    let tenant = match req.extensions().get::<super::RequestId>() {
        Some(id) => tenant.in_request(id.0.clone()),
        None => tenant,
    };
    tracing::Span::current().record("org", tenant.organization_id.as_str());
    // Admitted before the body is read: a waiting request holds no body in memory.
    let slot = match tokio::time::timeout_at(
        deadline.into(),
        state.admission.admit(&tenant.organization_id),
    )
    .await
    {
        Ok(Ok(slot)) => slot,
        Ok(Err(Refusal::QueueFull)) => {
            return Err(unavailable(
                code::SERVICE_UNAVAILABLE,
                "too many requests are waiting; retry shortly",
            ));
        }
        Err(_) => {
            return Err(unavailable(
                code::TIMEOUT,
                "the request waited past REQUEST_TIMEOUT for its turn; retry shortly",
            ));
        }
    };
    match tokio::time::timeout_at(
        deadline.into(),
        state
            .organizations
            .exists(&state.dbs.primary, &tenant.organization_id),
    )
    .await
    {
        Ok(Ok(true)) => Ok((tenant, slot)),
        Ok(Ok(false)) => Err(unauthenticated(&format!(
            "the token's organization `{}` does not exist",
            tenant.organization_id
        ))),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot check the token's organization");
            Err(unavailable(
                code::SERVICE_UNAVAILABLE,
                "the database is unavailable; retry",
            ))
        }
        Err(_) => Err(unavailable(
            code::TIMEOUT,
            "the request ran past REQUEST_TIMEOUT",
        )),
    }
}

/// The body, at most MAX_BODY bytes, arriving within HTTP_BODY_TIMEOUT.
async fn read_body(body: Body, state: &AppState) -> Result<bytes::Bytes, Response> {
    match tokio::time::timeout(state.limits.body_timeout, body.into_bytes_limit(MAX_BODY)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(ReadBodyError::PayloadTooLarge)) => Err(graphql_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::BAD_USER_INPUT,
            &format!("the request body is larger than {MAX_BODY} bytes"),
        )),
        Ok(Err(_)) => Err(bad_request("the request body could not be read")),
        Err(_) => {
            let mut resp = graphql_error(
                StatusCode::REQUEST_TIMEOUT,
                code::BAD_USER_INPUT,
                "the request body did not arrive within HTTP_BODY_TIMEOUT",
            );
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            Err(resp)
        }
    }
}

/// Whether the operation the request names is a mutation (parsed here only for GET).
fn is_mutation(request: &async_graphql::Request) -> bool {
    // Through the guard's parse, which bounds the nesting the parser recurses over.
    let Ok(document) = crate::graphql::guard::parse(&request.query) else {
        return false; // the execution answers the error
    };
    let wanted = request.operation_name.as_deref();
    document.operations.iter().any(|(name, op)| {
        op.node.ty == OperationType::Mutation
            && (wanted.is_none() || name.map(|n| n.as_str()) == wanted)
    })
}

fn bad_request(message: &str) -> Response {
    graphql_error(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, message)
}

fn not_acceptable() -> Response {
    graphql_error(
        StatusCode::NOT_ACCEPTABLE,
        code::BAD_USER_INPUT,
        "answers are application/json or application/graphql-response+json: ask for one in Accept",
    )
}
