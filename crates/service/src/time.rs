//! The clock, in the column type sea-orm maps `timestamptz` to.

use sea_orm::prelude::DateTimeWithTimeZone;

/// Now, as it is stored (see [`stored`]).
pub fn now() -> DateTimeWithTimeZone {
    stored(chrono::Utc::now().fixed_offset())
}

/// `t` as the same instant in UTC: how SQLite, which keeps times as text, must be given one to
/// compare it with stored times (filters, cursors).
pub fn utc(t: DateTimeWithTimeZone) -> DateTimeWithTimeZone {
    t.with_timezone(&chrono::Utc).fixed_offset()
}

/// `t` as it is written: in UTC, to the microsecond, a leap second carried into the next
/// second, as the driver sends it to PostgreSQL. What the change log records as written is
/// then what a read returns, on both backends, and a time that differs only below the
/// microsecond is no change. (Only writes use it: SQLite rows written before kept nanoseconds,
/// so filters and cursors compare with [`utc`], which keeps every digit.)
pub fn stored(t: DateTimeWithTimeZone) -> DateTimeWithTimeZone {
    let t = utc(t);
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).map_or(t, |s| s.fixed_offset())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTimeWithTimeZone {
        DateTimeWithTimeZone::parse_from_rfc3339(text).unwrap()
    }

    #[test]
    fn a_stored_time_is_utc_to_the_microsecond() {
        let t = stored(at("2026-03-04T05:06:07.123456789+02:00"));
        assert_eq!(t.to_rfc3339(), "2026-03-04T03:06:07.123456+00:00");
        assert_eq!(
            utc(at("2026-03-04T05:06:07.123456789+02:00")).timestamp_subsec_nanos(),
            123_456_789
        );
    }

    #[test]
    fn a_leap_second_is_stored_as_the_next_second() {
        let t = stored(at("2016-12-31T23:59:60.5Z"));
        assert_eq!(t.to_rfc3339(), "2017-01-01T00:00:00.500+00:00");
    }
}
