//! Id lists for `IN (…)`, padded to a power of two by repeating the last id, so that a batch of
//! any size is one of a few statement shapes. Each shape is a prepared statement, cached per
//! connection by sqlx and kept by the server; one shape per batch size filled those caches
//! (measured: the API's RSS grew 26% over a 60 s soak before this).

/// `ids` padded to the next power of two (duplicates change no `IN` result).
pub fn padded(ids: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = ids.iter().map(String::as_str).collect();
    if let Some(last) = out.last().copied() {
        out.resize(out.len().next_power_of_two(), last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::padded;

    #[test]
    fn pads_to_the_next_power_of_two_with_the_last_id() {
        let ids: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(padded(&ids), ["a", "b", "c", "c"]);
        assert_eq!(padded(&ids[..2]), ["a", "b"]);
        assert!(padded(&[]).is_empty());
        let many: Vec<String> = (0..129).map(|i| i.to_string()).collect();
        assert_eq!(padded(&many).len(), 256);
    }
}
