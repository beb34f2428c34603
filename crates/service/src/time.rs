//! The clock, in the column type sea-orm maps `timestamptz` to.

use sea_orm::prelude::DateTimeWithTimeZone;

/// Now, in UTC.
pub fn now() -> DateTimeWithTimeZone {
    chrono::Utc::now().fixed_offset()
}
