//! The clock, in the column type sea-orm maps `timestamptz` to.

use chrono::SubsecRound;
use sea_orm::prelude::DateTimeWithTimeZone;

/// Now, in UTC, to the microsecond (see [`utc`]).
pub fn now() -> DateTimeWithTimeZone {
    utc(chrono::Utc::now().fixed_offset())
}

/// `t` as the same instant in UTC, to the microsecond: how every time is stored. SQLite, which
/// keeps times as text, must be given one in UTC to compare; PostgreSQL keeps microseconds, so
/// a time is cut to them before it is written, and what the change log records as written is
/// what a read returns.
pub fn utc(t: DateTimeWithTimeZone) -> DateTimeWithTimeZone {
    t.with_timezone(&chrono::Utc)
        .fixed_offset()
        .trunc_subsecs(6)
}
