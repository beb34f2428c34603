//! What a domain operation can answer besides success.

use sea_orm::{DbErr, RuntimeErr, SqlErr};

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
    /// The operation conflicts with the current state (deleting a linked asset, a concurrent
    /// change that a retry may resolve).
    #[error("{0}")]
    Conflict(String),
    /// A row the operation needs stayed locked by another transaction past the lock timeout;
    /// nothing was written, and retrying later may succeed.
    #[error("a record is locked by another change in progress; retry shortly")]
    LockTimeout,
    /// A statement ran past the statement timeout and was cancelled; nothing was written.
    #[error("the database took too long to answer; retry shortly")]
    Timeout,
    /// The connection to the database was lost (a restart, a failover, a killed backend);
    /// nothing was written if the operation was a write (its transaction did not commit).
    #[error("the database connection was lost; retry")]
    Unavailable(#[source] DbErr),
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

    /// Whether the same request may succeed when sent again unchanged.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ServiceError::LockTimeout | ServiceError::Timeout | ServiceError::Unavailable(_)
        ) || matches!(self, ServiceError::Conflict(m) if m.ends_with("retry"))
    }
}

/// Whether `err` says the connection itself failed (rather than the statement).
pub fn is_connection_lost(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error;
    if let Some(code) = sqlstate::of(err) {
        return matches!(
            code.as_str(),
            sqlstate::ADMIN_SHUTDOWN | sqlstate::CRASH_SHUTDOWN | sqlstate::CANNOT_CONNECT_NOW
        );
    }
    let runtime = match err {
        DbErr::Exec(e) | DbErr::Query(e) | DbErr::Conn(e) => e,
        DbErr::ConnectionAcquire(_) => return true,
        _ => return false,
    };
    matches!(
        runtime,
        RuntimeErr::SqlxError(e)
            if matches!(**e, Error::Io(_) | Error::Protocol(_) | Error::PoolClosed | Error::PoolTimedOut | Error::Tls(_))
    )
}

impl From<DbErr> for ServiceError {
    /// Constraint violations the checks did not catch (a concurrent change), lock and statement
    /// timeouts, and lost connections become errors the client can act on; everything else is
    /// internal.
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                return ServiceError::Conflict("the record changed concurrently; retry".into());
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                return ServiceError::Conflict(
                    "a referenced record was changed or removed concurrently; retry".into(),
                );
            }
            _ => {}
        }
        if is_connection_lost(&err) {
            return ServiceError::Unavailable(err);
        }
        match sqlstate::of(&err).as_deref() {
            Some(sqlstate::LOCK_NOT_AVAILABLE) => ServiceError::LockTimeout,
            Some(sqlstate::QUERY_CANCELED) => ServiceError::Timeout,
            Some(sqlstate::DEADLOCK_DETECTED | sqlstate::SERIALIZATION_FAILURE) => {
                ServiceError::Conflict("the record changed concurrently; retry".into())
            }
            Some(sqlstate::CHARACTER_NOT_IN_REPERTOIRE | sqlstate::UNTRANSLATABLE_CHARACTER) => {
                ServiceError::BadInput {
                    field: None,
                    message: "text must not contain NUL bytes or characters the database cannot store".into(),
                }
            }
            Some(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE | sqlstate::DATETIME_FIELD_OVERFLOW) => {
                ServiceError::BadInput {
                    field: None,
                    message: "a number or a date is out of the range the database can store"
                        .into(),
                }
            }
            Some(sqlstate::CHECK_VIOLATION) => ServiceError::BadInput {
                field: None,
                message: "the change breaks a rule of the inventory (a location needs purposeId or purposeText)".into(),
            },
            _ if is_sqlite_busy(&err) => ServiceError::LockTimeout,
            _ => ServiceError::Internal(err),
        }
    }
}

/// SQLite's "database is locked" (SQLITE_BUSY, after its busy timeout): another writer holds
/// the database, as a row lock would on PostgreSQL.
fn is_sqlite_busy(err: &DbErr) -> bool {
    matches!(
        sqlstate::of(err).as_deref(),
        Some("5" | "517" | "261" | "6")
    )
}
