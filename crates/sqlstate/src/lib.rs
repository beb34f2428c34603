//! The SQLSTATE of a database error (PostgreSQL's five-character code), and the codes the service
//! and the migration runner act on: one place for both, so that they classify errors alike.

use sea_orm::{DbErr, RuntimeErr};

/// `lock_timeout` expired.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";
/// `statement_timeout` expired (or the statement was cancelled).
pub const QUERY_CANCELED: &str = "57014";
pub const DEADLOCK_DETECTED: &str = "40P01";
pub const SERIALIZATION_FAILURE: &str = "40001";
/// The server is shutting down or the backend was terminated.
pub const ADMIN_SHUTDOWN: &str = "57P01";
pub const CRASH_SHUTDOWN: &str = "57P02";
pub const CANNOT_CONNECT_NOW: &str = "57P03";
/// Text the database cannot hold (a NUL byte) or encode.
pub const CHARACTER_NOT_IN_REPERTOIRE: &str = "22021";
pub const UNTRANSLATABLE_CHARACTER: &str = "22P05";
pub const CHECK_VIOLATION: &str = "23514";
/// A number or a date out of the column type's range.
pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
pub const DATETIME_FIELD_OVERFLOW: &str = "22008";

/// The SQLSTATE of a database error, when the server sent one.
pub fn of(err: &DbErr) -> Option<String> {
    let runtime = match err {
        DbErr::Exec(e) | DbErr::Query(e) | DbErr::Conn(e) => e,
        _ => return None,
    };
    match runtime {
        RuntimeErr::SqlxError(e) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}
