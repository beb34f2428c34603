//! Input rules (DESIGN §4), checked before anything is written.

use serde_json::Value as Json;

use crate::ServiceError;

/// Largest `metadata` document, serialized.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;
/// Deepest `metadata` document: objects and arrays nested at most this many levels. JSON
/// decoders refuse documents past a recursion limit (serde_json: 128), so a deeper document
/// could be stored and then never read back.
pub const MAX_METADATA_DEPTH: usize = 32;
/// Most locations one create or add may carry.
pub const MAX_LOCATIONS_PER_CALL: usize = 100;
/// Most asset ids one `syncActivityAssets` may name.
pub const MAX_SYNC_IDS: usize = 1000;

/// A list argument of at most `max` items.
pub fn list_len(field: &str, len: usize, max: usize) -> Result<(), ServiceError> {
    if len > max {
        return Err(ServiceError::bad_input(
            field,
            format!("{field} may hold at most {max} items, got {len}"),
        ));
    }
    Ok(())
}

/// Text the database can store: no NUL byte (PostgreSQL text cannot hold one).
pub fn storable(field: &str, value: &str) -> Result<(), ServiceError> {
    if value.contains('\0') {
        return Err(ServiceError::bad_input(
            field,
            format!("{field} must not contain NUL bytes"),
        ));
    }
    Ok(())
}

/// A required text of `min..=max` characters after trimming; returns the trimmed text.
pub fn required_text(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<String, ServiceError> {
    storable(field, value)?;
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len < min || len > max {
        return Err(ServiceError::bad_input(
            field,
            format!("{field} must be {min} to {max} characters (after trimming), got {len}"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// An optional text of at most `max` characters (kept as given; empty counts as given).
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<(), ServiceError> {
    if let Some(v) = value {
        storable(field, v)?;
    }
    match value {
        Some(v) if v.chars().count() > max => Err(ServiceError::bad_input(
            field,
            format!(
                "{field} must be at most {max} characters, got {}",
                v.chars().count()
            ),
        )),
        _ => Ok(()),
    }
}

/// An absolute http(s) URL of at most 2048 characters.
pub fn url(field: &str, value: Option<&str>) -> Result<(), ServiceError> {
    let Some(value) = value else { return Ok(()) };
    if value.len() > 2048 {
        return Err(ServiceError::bad_input(
            field,
            format!("{field} must be at most 2048 characters"),
        ));
    }
    match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(()),
        _ => Err(ServiceError::bad_input(
            field,
            format!("{field} must be an absolute http(s) URL, like https://example.com/app"),
        )),
    }
}

/// A JSON object of at most 64 KiB, nested at most 32 levels, without NUL bytes.
pub fn metadata(field: &str, value: Option<&Json>) -> Result<(), ServiceError> {
    let Some(value) = value else { return Ok(()) };
    if !value.is_object() {
        return Err(ServiceError::bad_input(
            field,
            format!("{field} must be a JSON object"),
        ));
    }
    // Depth first: a deep document is refused before anything walks or serializes it whole.
    if depth_exceeds(value, MAX_METADATA_DEPTH) {
        return Err(ServiceError::bad_input(
            field,
            format!(
                "{field} must not nest objects and arrays deeper than {MAX_METADATA_DEPTH} levels"
            ),
        ));
    }
    if holds_nul(value) {
        return Err(ServiceError::bad_input(
            field,
            format!("{field} must not contain NUL bytes in keys or strings"),
        ));
    }
    if holds_unportable_number(value) {
        return Err(ServiceError::bad_input(
            field,
            format!(
                "{field} may hold numbers up to ±{MAX_METADATA_NUMBER:e}: larger ones do not read back"
            ),
        ));
    }
    let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
    if size > MAX_METADATA_BYTES {
        return Err(ServiceError::bad_input(
            field,
            format!("{field} must be at most 64 KiB serialized, got {size} bytes"),
        ));
    }
    Ok(())
}

/// Whether `value` nests objects and arrays more than `max` levels (the top object is level 1).
/// Iterative, so that no input can exhaust the stack.
fn depth_exceeds(value: &Json, max: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Json>> = match v {
            Json::Object(map) => Box::new(map.values()),
            Json::Array(items) => Box::new(items.iter()),
            _ => continue,
        };
        if depth > max {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}

/// Largest magnitude of a fractional or exponent number in `metadata`. PostgreSQL keeps JSON
/// numbers exact and writes them back in full; one near f64's limit (1.7976931348623157e308)
/// then decodes as "number out of range", and every read of its row failed.
pub const MAX_METADATA_NUMBER: f64 = 1e300;

/// Whether a number anywhere in `value` may not read back.
fn holds_unportable_number(value: &Json) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Json::Number(n)
                if !n.is_i64()
                    && !n.is_u64()
                    && n.as_f64()
                        .is_none_or(|f| !f.is_finite() || f.abs() > MAX_METADATA_NUMBER) =>
            {
                return true;
            }
            Json::Object(map) => stack.extend(map.values()),
            Json::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}

/// A timestamp both databases store: years 1 to 9999 (PostgreSQL refuses others).
pub fn timestamp(
    field: &str,
    value: Option<&sea_orm::prelude::DateTimeWithTimeZone>,
) -> Result<(), ServiceError> {
    use chrono::Datelike;
    match value {
        // The year as written and as stored: `9999-12-31T23:59-23:59` is year 10000 in UTC,
        // and so is the leap second `9999-12-31T23:59:60Z` once carried into the next second,
        // which PostgreSQL stores and RFC 3339 cannot write.
        Some(t)
            if !(1..=9999).contains(&t.year())
                || !(1..=9999).contains(&crate::time::stored(*t).year()) =>
        {
            Err(ServiceError::bad_input(
                field,
                format!("{field} must be a date between the years 1 and 9999"),
            ))
        }
        _ => Ok(()),
    }
}

/// Whether a key or a string anywhere in `value` holds a NUL byte.
fn holds_nul(value: &Json) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Json::String(s) if s.contains('\0') => return true,
            Json::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            Json::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_counted_in_characters() {
        assert_eq!(required_text("name", "  CRM  ", 1, 255).unwrap(), "CRM");
        assert!(required_text("name", "   ", 1, 255).is_err());
        assert!(required_text("name", &"é".repeat(255), 1, 255).is_ok());
        assert!(required_text("name", &"é".repeat(256), 1, 255).is_err());
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(url("url", Some("https://example.com/x?y=1")).is_ok());
        assert!(url("url", Some("ftp://example.com")).is_err());
        assert!(url("url", Some("example.com")).is_err());
        assert!(url("url", Some("javascript:alert(1)")).is_err());
        let long = format!("https://example.com/{}", "a".repeat(2040));
        assert!(url("url", Some(&long)).is_err());
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert!(metadata("metadata", Some(&serde_json::json!({"a": 1}))).is_ok());
        assert!(metadata("metadata", Some(&serde_json::json!([1]))).is_err());
        let big = serde_json::json!({"a": "x".repeat(MAX_METADATA_BYTES)});
        assert!(metadata("metadata", Some(&big)).is_err());
        assert!(metadata("metadata", Some(&serde_json::json!({"a\u{0}": 1}))).is_err());
        assert!(metadata("metadata", Some(&serde_json::json!({"a": ["\u{0}"]}))).is_err());
        let huge: Json = serde_json::from_str(r#"{"f": 1.7976931348623157e308}"#).unwrap();
        assert!(metadata("metadata", Some(&huge)).is_err());
        let fine: Json = serde_json::from_str(
            r#"{"f": 1.5e10, "i": -9007199254740993, "u": 18446744073709551615}"#,
        )
        .unwrap();
        assert!(metadata("metadata", Some(&fine)).is_ok());
    }

    fn nested(levels: usize) -> Json {
        let mut v = serde_json::json!(1);
        for i in 0..levels {
            v = if i % 2 == 0 {
                serde_json::json!({"a": v})
            } else {
                serde_json::json!([v])
            };
        }
        v
    }

    #[test]
    fn metadata_nests_at_most_32_levels() {
        let ok = serde_json::json!({"top": nested(31)});
        assert!(metadata("metadata", Some(&ok)).is_ok());
        let deep = serde_json::json!({"top": nested(32)});
        let err = metadata("metadata", Some(&deep)).unwrap_err();
        assert!(err.to_string().contains("32"), "{err}");
        assert!(!depth_exceeds(&serde_json::json!({"a": 1, "b": "x"}), 1));
        assert!(
            depth_exceeds(&serde_json::json!({"a": []}), 1),
            "an empty array is a level"
        );
        assert!(depth_exceeds(&serde_json::json!({"a": [[]]}), 2));
    }

    #[test]
    fn text_with_a_nul_byte_is_refused() {
        assert!(required_text("name", "a\u{0}b", 1, 255).is_err());
        assert!(optional_text("description", Some("\u{0}"), 10).is_err());
        assert!(optional_text("description", Some("ok"), 10).is_ok());
    }
}
