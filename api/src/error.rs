//! Mapping domain errors to GraphQL errors with `extensions.code`. Internal errors are logged
//! with their cause and answered with a generic message: database text never reaches a client.

use async_graphql::{Error, ErrorExtensions};
use service::ServiceError;

/// The codes of DESIGN §4, and those of the limits (README, "Limits").
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
    /// The response would exceed RESPONSE_BUDGET.
    pub const RESPONSE_TOO_LARGE: &str = "RESPONSE_TOO_LARGE";
    /// A row stayed locked past DB_LOCK_TIMEOUT (retryable).
    pub const LOCK_TIMEOUT: &str = "LOCK_TIMEOUT";
    /// The request or a statement ran past its time (retryable).
    pub const TIMEOUT: &str = "TIMEOUT";
    /// The queue is full or the database unreachable (retryable; HTTP 503 with Retry-After).
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
    /// An automatic persisted query whose text this server does not know: send it in full.
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
}

/// A client error of one field.
pub fn bad_input(field: &str, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| {
        e.set("code", code::BAD_USER_INPUT);
        e.set("field", field);
    })
}

/// The GraphQL error for a domain error.
pub fn to_graphql(err: ServiceError) -> Error {
    let retryable = err.is_retryable();
    let error = match err {
        ServiceError::NotFound(what) => Error::new(format!("{what} not found"))
            .extend_with(|_, e| e.set("code", code::NOT_FOUND)),
        ServiceError::BadInput { field, message } => Error::new(message).extend_with(|_, e| {
            e.set("code", code::BAD_USER_INPUT);
            if let Some(field) = &field {
                e.set("field", field.as_str());
            }
        }),
        ServiceError::Conflict(message) => {
            Error::new(message).extend_with(|_, e| e.set("code", code::CONFLICT))
        }
        ServiceError::LockTimeout => Error::new(ServiceError::LockTimeout.to_string())
            .extend_with(|_, e| e.set("code", code::LOCK_TIMEOUT)),
        ServiceError::Timeout => Error::new(ServiceError::Timeout.to_string())
            .extend_with(|_, e| e.set("code", code::TIMEOUT)),
        ServiceError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "database connection lost");
            Error::new("the database connection was lost; retry")
                .extend_with(|_, e| e.set("code", code::SERVICE_UNAVAILABLE))
        }
        ServiceError::Internal(cause) => {
            tracing::error!(error = %cause, "internal error");
            Error::new("internal server error")
                .extend_with(|_, e| e.set("code", code::INTERNAL_SERVER_ERROR))
        }
    };
    if retryable {
        error.extend_with(|_, e| e.set("retryable", true))
    } else {
        error
    }
}

/// `.gql()` on a service result: `?` in resolvers without ever passing a `DbErr` through.
pub trait GqlResult<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResult<T> for Result<T, ServiceError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(to_graphql)
    }
}
