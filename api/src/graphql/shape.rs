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
/// Most root fields of one operation, once its fragments are expanded (`__typename` aside).
/// Each starts reading of its own (a page, its total, …), where the fields below it are batched
/// per level: 9,000 aliased `digitalAssets { totalCount }` through fragments ran 18,000
/// statements, took 460 MB and starved the pool for every tenant.
pub const MAX_ROOT_FIELDS: usize = 100;

/// Refuses a document whose braces, brackets and parentheses nest deeper than [`MAX_NESTING`],
/// read from its text before it is parsed (strings, block strings and comments skipped).
pub fn refuse_deep_nesting(query: &str) -> ServerResult<()> {
    let bytes = query.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                let mut end = i + 3;
                while end < bytes.len() && !bytes[end..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    end += if bytes[end..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                // Never closed, the grammar reads `""` (an empty string), then a string from
                // the third quote: the text after it is scanned as such.
                i = if end < bytes.len() { end + 2 } else { i + 1 };
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
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

/// Refuses a document with a fragment cycle, selections and fragments nested deeper than
/// [`MAX_SPREAD_DEPTH`] (fragments no operation uses included: validation walks them too), or
/// more than [`MAX_EXPANDED_FIELDS`] selections in all its operations once their fragments are
/// expanded (every operation, not only the one that runs: validation expands them all). Each
/// fragment is sized once; a spread and an inline fragment count as selections themselves, so
/// that fragments expanding to nothing cannot multiply unseen.
pub fn refuse_fan_out(document: &ExecutableDocument) -> ServerResult<()> {
    let mut sizes = Sizes {
        fragments: &document.fragments,
        known: HashMap::new(),
        open: Vec::new(),
    };
    for name in document.fragments.keys() {
        sizes.fragment(name, 0)?;
    }
    let mut total = 0usize;
    for (_, operation) in document.operations.iter() {
        let size = sizes.of(&operation.node.selection_set.node, 0)?;
        if size.own_fields > MAX_ROOT_FIELDS {
            return Err(limit_error(format!(
                "an operation selects at most {MAX_ROOT_FIELDS} root fields, fragments and aliases counted"
            )));
        }
        total = total.saturating_add(size.selections);
        if total > MAX_EXPANDED_FIELDS {
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

/// A selection set's expanded size.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    /// Selections once fragments are expanded.
    selections: usize,
    /// Levels of selections and fragments below it.
    height: usize,
    /// Fields at its own level, through its fragments (`__typename` aside): at an operation's
    /// root, each starts reading of its own.
    own_fields: usize,
}

/// The expanded size of selection sets, fragment by fragment.
struct Sizes<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    known: HashMap<&'a Name, Size>,
    /// The fragments being sized, outermost first: one spread again is a cycle.
    open: Vec<&'a Name>,
}

impl<'a> Sizes<'a> {
    /// The size of `set`, found `depth` levels down.
    fn of(&mut self, set: &'a SelectionSet, depth: usize) -> ServerResult<Size> {
        let mut size = Size::default();
        for item in &set.items {
            let below = match &item.node {
                Selection::Field(field) => {
                    if field.node.name.node != "__typename" {
                        size.own_fields = size.own_fields.saturating_add(1);
                    }
                    self.nested(&field.node.selection_set.node, depth)?
                }
                Selection::InlineFragment(fragment) => {
                    let inner = self.nested(&fragment.node.selection_set.node, depth)?;
                    size.own_fields = size.own_fields.saturating_add(inner.own_fields);
                    inner
                }
                Selection::FragmentSpread(spread) => {
                    let inner = self.fragment(&spread.node.fragment_name.node, depth + 1)?;
                    size.own_fields = size.own_fields.saturating_add(inner.own_fields);
                    inner
                }
            };
            size.selections = size.selections.saturating_add(1 + below.selections);
            size.height = size.height.max(1 + below.height);
            if size.selections > MAX_EXPANDED_FIELDS {
                return Err(too_many());
            }
        }
        Ok(size)
    }

    /// The size of a selection set one level below `depth`.
    fn nested(&mut self, set: &'a SelectionSet, depth: usize) -> ServerResult<Size> {
        if set.items.is_empty() {
            return Ok(Size::default());
        }
        within(depth + 1)?;
        self.of(set, depth + 1)
    }

    /// The size of the fragment `name`, spread `depth` levels down.
    fn fragment(&mut self, name: &'a Name, depth: usize) -> ServerResult<Size> {
        within(depth)?;
        let size = match self.known.get(name) {
            Some(size) => *size,
            None => {
                if self.open.contains(&name) {
                    return Err(limit_error(format!("the fragment {name} spreads itself")));
                }
                // An unknown fragment is validation's to refuse.
                let Some((key, fragment)) = self.fragments.get_key_value(name) else {
                    return Ok(Size::default());
                };
                self.open.push(key);
                let size = self.of(&fragment.node.selection_set.node, depth);
                self.open.pop();
                let size = size?;
                self.known.insert(key, size);
                size
            }
        };
        // Sized before, from higher up, it may reach too deep from here.
        within(depth + size.height)?;
        Ok(size)
    }
}

fn within(depth: usize) -> ServerResult<()> {
    if depth > MAX_SPREAD_DEPTH {
        return Err(limit_error(format!(
            "the query nests selections and fragments more than {MAX_SPREAD_DEPTH} levels deep"
        )));
    }
    Ok(())
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
        assert!(fan_out(&fan(3)), "1,000 fields");
        assert!(!fan_out(&fan(5)), "100,000 fields");
        assert!(fan_out("{ a { b c } ...F } fragment F on Query { d }"));
    }

    #[test]
    fn root_fields_are_counted_through_fragments_and_aliases() {
        let fields = |n: usize| (0..n).map(|i| format!("a{i}: x ")).collect::<String>();
        assert!(fan_out(&format!("{{ {} }}", fields(MAX_ROOT_FIELDS))));
        assert!(fan_out(&format!(
            "{{ {} __typename }}",
            fields(MAX_ROOT_FIELDS)
        )));
        assert!(!fan_out(&format!("{{ {} }}", fields(MAX_ROOT_FIELDS + 1))));
        let through = format!(
            "{{ ...F ... on Query {{ ...F }} }} fragment F on Query {{ {} }}",
            fields(MAX_ROOT_FIELDS / 2 + 1)
        );
        assert!(!fan_out(&through));
        assert!(
            fan_out(&format!("{{ x {{ {} }} }}", fields(MAX_ROOT_FIELDS * 3))),
            "only the root's"
        );
    }

    #[test]
    fn what_validation_walks_is_bounded_too() {
        // Fragments doubling down to an unknown one: spreads count, so 2^20 of them do.
        let mut tower = String::from("{ ...F20 } fragment F0 on Query { ...nope } ");
        for l in 1..=20 {
            tower += &format!("fragment F{l} on Query {{ ...F{0} ...F{0} }} ", l - 1);
        }
        assert!(!fan_out(&tower));
        // A long chain no operation uses.
        let mut unused = String::from("{ __typename } ");
        for i in 0..200 {
            unused += &format!("fragment U{i} on Query {{ ...U{} }} ", i + 1);
        }
        unused += "fragment U200 on Query { __typename }";
        assert!(!fan_out(&unused));
        // A chain sized bottom-up first, then spread from its top: still too deep.
        let mut reversed = String::new();
        for i in (0..=100).rev() {
            reversed += &format!("query Q{i} {{ ...C{i} }} ");
        }
        for i in 0..100 {
            reversed += &format!("fragment C{i} on Query {{ ...C{} }} ", i + 1);
        }
        reversed += "fragment C100 on Query { __typename }";
        assert!(!fan_out(&reversed));
        // Many operations, each under the limit, all over it.
        let t = (0..1000)
            .map(|i| format!("a{i}: __typename"))
            .collect::<Vec<_>>()
            .join(" ");
        let mut many = format!("fragment T on Query {{ {t} }} ");
        for i in 0..25 {
            many += &format!("query O{i} {{ ...T }} ");
        }
        assert!(!fan_out(&many));
    }

    #[test]
    fn an_unclosed_block_string_hides_no_nesting() {
        let deep = format!(
            "{{ a(x: [\"\"\"x\", {}1{}]) }}",
            "[".repeat(300),
            "]".repeat(300)
        );
        assert!(!nesting(&deep));
    }
}
