//! What a domain operation can answer besides success.

use sea_orm::{DbErr, SqlErr};

/// A domain error; the API maps each kind to an `extensions.code`.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The record does not exist, or belongs to another organization (never said which).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Invalid input; nothing was written.
    #[error("{message}")]
    BadInput {
        field: Option<String>,
        message: String,
    },
    /// The operation conflicts with the current state (deleting a linked asset).
    #[error("{0}")]
    Conflict(String),
    /// Anything else: logged with its cause, answered generically.
    #[error("internal error")]
    Internal(#[source] DbErr),
}

impl ServiceError {
    /// Invalid input concerning one field.
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        ServiceError::BadInput {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }
}

impl From<DbErr> for ServiceError {
    /// Constraint violations the checks did not catch (a concurrent change) become client
    /// errors; everything else is internal.
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                ServiceError::Conflict("the record changed concurrently; retry".into())
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => ServiceError::Conflict(
                "a referenced record was changed or removed concurrently; retry".into(),
            ),
            _ => ServiceError::Internal(err),
        }
    }
}
