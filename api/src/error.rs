//! Mapping domain errors to GraphQL errors with `extensions.code`. Internal errors are logged
//! with their cause and answered with a generic message: database text never reaches a client.

use async_graphql::{Error, ErrorExtensions};
use service::ServiceError;

/// The codes of DESIGN §4.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const CONFLICT: &str = "CONFLICT";
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
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
    match err {
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
        ServiceError::Internal(cause) => {
            tracing::error!(error = %cause, "internal error");
            Error::new("internal server error")
                .extend_with(|_, e| e.set("code", code::INTERNAL_SERVER_ERROR))
        }
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
