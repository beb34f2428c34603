//! Bounds on a document's shape that must hold before anything walks it recursively: the
//! parser, async-graphql's validation and executor, and [`super::order::Plans`] all recurse,
//! on worker threads with 2 MiB stacks. Without these bounds one small request of any tenant
//! could end the process for all of them:
//!
//! - a list or input object nested 2,000 levels deep (8 KB of text) overflowed the stack in the
//!   parser, which bounds nested selections but not nested values;
//! - a fragment that spreads itself, or a chain of 30,000 fragments each spreading the next,
//!   overflowed it in the answer's field order (built before validation refuses cycles);
//! - seven levels of fragments each spreading the previous ten times, 640 bytes of
//!   `__typename`, expanded to 10 million fields at execution: `__typename` costs nothing
//!   under the complexity limit, and the 2,000-field limit counts each fragment once.

use std::collections::HashMap;

use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, ServerResult};

use super::guard::limit_error;

/// Deepest nesting of selections, lists, objects and arguments in a document's text. The depth
/// limit allows 16 levels of selections, metadata 32 levels (refused past it by the service,
/// naming the field, as long as the parser can read it); the parser overflowed its stack
/// between 1,000 and 2,000.
pub const MAX_NESTING: usize = 160;
/// Deepest chain of fragments spreading fragments (selections included).
pub const MAX_SPREAD_DEPTH: usize = 64;
/// Most fields an operation selects once its fragments are expanded, each spread counted as
/// often as it is spread. Lists multiply this at execution, which the cost limit and the
/// response budget bound.
pub const MAX_EXPANDED_FIELDS: usize = 20_000;

/// Refuses a document whose braces, brackets and parentheses nest deeper than [`MAX_NESTING`],
/// read from its text before it is parsed (strings, block strings and comments skipped).
pub fn refuse_deep_nesting(query: &str) -> ServerResult<()> {
    let bytes = query.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(limit_error(format!(
                        "the query nests selections, lists or objects more than {MAX_NESTING} levels deep"
                    )));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Refuses a document with a fragment cycle, fragments spread deeper than
/// [`MAX_SPREAD_DEPTH`], or an operation of more than [`MAX_EXPANDED_FIELDS`] fields once its
/// fragments are expanded. Each fragment is sized once.
pub fn refuse_fan_out(document: &ExecutableDocument) -> ServerResult<()> {
    let mut sizes = Sizes {
        fragments: &document.fragments,
        known: HashMap::new(),
        open: Vec::new(),
    };
    for (_, operation) in document.operations.iter() {
        let fields = sizes.of(&operation.node.selection_set.node, 0)?;
        if fields > MAX_EXPANDED_FIELDS {
            return Err(too_many());
        }
    }
    Ok(())
}

fn too_many() -> async_graphql::ServerError {
    limit_error(format!(
        "the query selects more than {MAX_EXPANDED_FIELDS} fields once its fragments are expanded"
    ))
}

/// The expanded size of selection sets, fragment by fragment.
struct Sizes<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    known: HashMap<&'a Name, usize>,
    /// The fragments being sized, outermost first: one spread again is a cycle.
    open: Vec<&'a Name>,
}

impl<'a> Sizes<'a> {
    fn of(&mut self, set: &'a SelectionSet, depth: usize) -> ServerResult<usize> {
        if depth > MAX_SPREAD_DEPTH {
            return Err(limit_error(format!(
                "the query nests selections and fragments more than {MAX_SPREAD_DEPTH} levels deep"
            )));
        }
        let mut total = 0usize;
        for item in &set.items {
            let size = match &item.node {
                Selection::Field(field) => {
                    1 + self.of(&field.node.selection_set.node, depth + 1)?
                }
                Selection::InlineFragment(fragment) => {
                    self.of(&fragment.node.selection_set.node, depth + 1)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(&spread.node.fragment_name.node, depth)?
                }
            };
            total = total.saturating_add(size);
            if total > MAX_EXPANDED_FIELDS {
                return Err(too_many());
            }
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'a Name, depth: usize) -> ServerResult<usize> {
        if let Some(size) = self.known.get(name) {
            return Ok(*size);
        }
        if self.open.contains(&name) {
            return Err(limit_error(format!("the fragment {name} spreads itself")));
        }
        // An unknown fragment is validation's to refuse.
        let Some((key, fragment)) = self.fragments.get_key_value(name) else {
            return Ok(0);
        };
        self.open.push(key);
        let size = self.of(&fragment.node.selection_set.node, depth + 1);
        self.open.pop();
        let size = size?;
        self.known.insert(key, size);
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nesting(query: &str) -> bool {
        refuse_deep_nesting(query).is_ok()
    }

    fn fan_out(query: &str) -> bool {
        refuse_fan_out(&async_graphql::parser::parse_query(query).unwrap()).is_ok()
    }

    #[test]
    fn nesting_is_counted_outside_strings_and_comments() {
        let deep = |n: usize| format!("{{ a(x: {}1{}) }}", "[".repeat(n), "]".repeat(n));
        assert!(nesting(&deep(MAX_NESTING - 2)));
        assert!(!nesting(&deep(MAX_NESTING)));
        let brackets = "[".repeat(500);
        assert!(nesting(&format!("{{ a(x: \"{brackets}\") }}")));
        assert!(nesting(&format!("{{ a(x: \"\\\"{brackets}\") }}")));
        assert!(nesting(&format!(
            "{{ a(x: \"\"\"{brackets}\\\"\"\"{brackets}\"\"\") }}"
        )));
        assert!(nesting(&format!("# {brackets}\n{{ a }}")));
    }

    #[test]
    fn cycles_chains_and_fan_outs_are_refused() {
        assert!(!fan_out("{ ...F } fragment F on Query { ...F }"));
        assert!(!fan_out(
            "{ ...F } fragment F on Query { ...G } fragment G on Query { ...F }"
        ));
        let chain = |n: usize| {
            let mut q = String::from("{ ...F0 } ");
            for i in 0..n {
                q += &format!("fragment F{i} on Query {{ ...F{} }} ", i + 1);
            }
            q + &format!("fragment F{n} on Query {{ __typename }}")
        };
        assert!(fan_out(&chain(MAX_SPREAD_DEPTH / 2)));
        assert!(!fan_out(&chain(MAX_SPREAD_DEPTH + 1)));
        let fan = |levels: usize| {
            let mut q = format!("{{ ...F{levels} }} fragment F0 on Query {{ __typename }} ");
            for l in 1..=levels {
                let spreads = format!("...F{} ", l - 1).repeat(10);
                q += &format!("fragment F{l} on Query {{ {spreads}}} ");
            }
            q
        };
        assert!(fan_out(&fan(4)), "10,000 fields");
        assert!(!fan_out(&fan(5)), "100,000 fields");
        assert!(fan_out("{ a { b c } ...F } fragment F on Query { d }"));
    }
}
