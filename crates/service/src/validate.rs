//! Input rules (DESIGN §4), checked before anything is written.

use serde_json::Value as Json;

use crate::ServiceError;

/// Largest `metadata` document, serialized.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// A required text of `min..=max` characters after trimming; returns the trimmed text.
pub fn required_text(
    field: &str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<String, ServiceError> {
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

/// A JSON object of at most 64 KiB.
pub fn metadata(field: &str, value: Option<&Json>) -> Result<(), ServiceError> {
    let Some(value) = value else { return Ok(()) };
    if !value.is_object() {
        return Err(ServiceError::bad_input(
            field,
            format!("{field} must be a JSON object"),
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
    }
}
