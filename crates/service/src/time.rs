//! The clock, in the column type sea-orm maps `timestamptz` to.

use sea_orm::prelude::DateTimeWithTimeZone;

/// Now, in UTC.
pub fn now() -> DateTimeWithTimeZone {
    chrono::Utc::now().fixed_offset()
}

/// `t` as the same instant in UTC: how every time is stored, and how SQLite, which keeps times
/// as text, must be given one to compare.
pub fn utc(t: DateTimeWithTimeZone) -> DateTimeWithTimeZone {
    t.with_timezone(&chrono::Utc).fixed_offset()
}
