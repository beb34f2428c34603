//! Sections of docs/BENCHMARKS.md that commands other than `report` write (`compare`,
//! `abuse --out`): replaced in place, and kept when `report` rewrites the file without them.

use std::path::Path;

use crate::BenchError;

/// The section of `text` under `heading` (a `## ` line), up to the next `## ` line or the end.
pub fn section<'a>(text: &'a str, heading: &str) -> Option<&'a str> {
    span(text, heading).map(|(start, end)| &text[start..end])
}

/// The `## ` headings of `text`, in order.
pub fn headings(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| l.starts_with("## "))
}

/// Where the section under `heading` starts and ends in `text`.
fn span(text: &str, heading: &str) -> Option<(usize, usize)> {
    let start = heading_at(text, heading)?;
    let body = start + heading.len();
    let end = text[body..]
        .find("\n## ")
        .map_or(text.len(), |i| body + i + 1);
    Some((start, end))
}

fn heading_at(text: &str, heading: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find(heading) {
        let at = from + i;
        let line_start = at == 0 || text[..at].ends_with('\n');
        let line_end = text[at + heading.len()..].starts_with(['\n', '\r']);
        if line_start && line_end {
            return Some(at);
        }
        from = at + heading.len();
    }
    None
}

/// `text` with `new` (a section, its heading on its first line) in place of the section under
/// the same heading, or appended when there is none.
pub fn replace(text: &str, new: &str) -> String {
    let heading = new.lines().next().unwrap_or_default();
    let new = format!("{}\n", new.trim_end());
    match span(text, heading) {
        Some((start, end)) => {
            let gap = if end < text.len() { "\n" } else { "" };
            format!("{}{new}{gap}{}", &text[..start], &text[end..])
        }
        None => format!("{}\n\n{new}", text.trim_end()),
    }
}

/// Writes `new` into the file at `path` in place of its previous version.
pub fn write_section(path: &Path, new: &str) -> Result<(), BenchError> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, replace(&text, new))
        .map_err(|e| BenchError::Setup(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# B\n\n## One\n\na\n\n## Two\n\nb\n";

    #[test]
    fn a_section_runs_to_the_next_heading() {
        assert_eq!(section(TEXT, "## One"), Some("## One\n\na\n\n"));
        assert_eq!(section(TEXT, "## Two"), Some("## Two\n\nb\n"));
        assert_eq!(section(TEXT, "## Tw"), None);
    }

    #[test]
    fn headings_are_the_second_level_lines() {
        assert_eq!(headings(TEXT).collect::<Vec<_>>(), ["## One", "## Two"]);
    }

    #[test]
    fn replacing_keeps_the_rest_and_appends_what_is_new() {
        assert_eq!(
            replace(TEXT, "## One\n\nA"),
            "# B\n\n## One\n\nA\n\n## Two\n\nb\n"
        );
        assert_eq!(
            replace(TEXT, "## Two\n\nB\n"),
            "# B\n\n## One\n\na\n\n## Two\n\nB\n"
        );
        assert_eq!(
            replace(TEXT, "## Three\n\nc"),
            format!("{TEXT}\n## Three\n\nc\n")
        );
    }
}
