//! The parsers of flag values that clap cannot check by type: durations (humantime's syntax, plus
//! bare seconds), `--ddl-lock-timeout`'s range, and migration counts. A refused value is a usage
//! error (exit 2), reported by clap before anything connects.

use std::time::Duration;

/// Parses a duration: a bare number of seconds (`90`), or a number with units (`90s`, `500ms`,
/// `2m`, `1h 30m`; humantime's syntax), refusing what does not fit a `Duration`.
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = |why: String| format!("`{s}` is not a duration like 60, 60s, 500ms or 2m: {why}");
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| bad(e.to_string()));
    }
    humantime::parse_duration(s).map_err(|e| bad(e.to_string()))
}

/// The longest `lock_timeout` PostgreSQL accepts: `i32::MAX` milliseconds (about 24.8 days).
const MAX_LOCK_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// A `--ddl-lock-timeout`: a duration PostgreSQL's `lock_timeout` can hold, and not 0, which
/// would turn the timeout off.
pub(super) fn parse_lock_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) {
        return Err("0 would let DDL wait forever: give at least 1ms".into());
    }
    if d > MAX_LOCK_TIMEOUT {
        return Err(format!(
            "`{s}` is longer than PostgreSQL's longest lock_timeout ({})",
            humantime::format_duration(MAX_LOCK_TIMEOUT)
        ));
    }
    Ok(d)
}

/// A number of migrations: 1 or more. `-n 0` would do nothing and exit 0, which a script
/// (or an init container) would take for success.
pub(super) fn parse_count(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(0) => Err("0 migrations would do nothing: give 1 or more, or leave -n out".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{s}` is not a number of migrations: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_seconds_by_default() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5h"), Ok(Duration::from_secs(5 * 3600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("999999999999999999m").is_err());
        assert!(parse_duration("99999999999999999999").is_err());
    }

    #[test]
    fn lock_timeouts_fit_postgres() {
        assert!(parse_lock_timeout("0").is_err());
        assert!(parse_lock_timeout("0ms").is_err());
        assert_eq!(parse_lock_timeout("1ms"), Ok(Duration::from_millis(1)));
        assert!(parse_lock_timeout("24d").is_ok());
        assert!(parse_lock_timeout("25d").is_err());
    }

    #[test]
    fn counts_start_at_one() {
        assert!(parse_count("0").is_err());
        assert_eq!(parse_count("3"), Ok(3));
        assert!(parse_count("-1").is_err());
    }
}
