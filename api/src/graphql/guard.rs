//! What one request may cost, checked while it is parsed, validated and executed.
//!
//! - Its static cost (fields, times page sizes and assumed list sizes) is bounded by the schema's
//!   complexity limit, so an expensive document is refused before anything runs.
//! - Its response is bounded as it is built: every list charges its rows times the fields
//!   selected on them to the request's [`RequestGuard`]; past the budget the request stops with
//!   one `RESPONSE_TOO_LARGE` error (lists can be larger than the static estimate assumed).
//! - Text the database cannot store (NUL bytes) is refused, naming the argument, before anything
//!   runs ([`RequestGuard::inspect`]); parse and validation errors are the client's
//!   (`BAD_USER_INPUT`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{
    Context, Error, ErrorExtensions, Name, Positioned, SelectionField, ServerError, ServerResult,
    Value, Variables,
};

use super::order::Plans;
use crate::error::code;

/// The budget and facts of one request, put in its data by the HTTP layer.
#[derive(Debug)]
pub struct RequestGuard {
    remaining: AtomicUsize,
    exceeded: AtomicBool,
    writes: AtomicBool,
    /// Whether it runs on the primary whatever it is (it follows a mutation in its batch).
    primary: AtomicBool,
    /// The order of the answer's fields, taken from the document.
    plans: OnceLock<Plans>,
}

impl RequestGuard {
    /// A guard allowing `budget` values in the response.
    pub fn new(budget: usize) -> Self {
        Self {
            remaining: AtomicUsize::new(budget),
            exceeded: AtomicBool::new(false),
            writes: AtomicBool::new(false),
            primary: AtomicBool::new(false),
            plans: OnceLock::new(),
        }
    }

    /// The field order of the document's operations (none before it was parsed).
    pub fn plans(&self) -> Option<&Plans> {
        self.plans.get()
    }

    /// Takes `n` values from the budget; past it, marks the request as over budget.
    pub fn charge(&self, n: usize) -> async_graphql::Result<()> {
        let taken = self
            .remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            });
        if taken.is_err() || self.exceeded() {
            self.exceeded.store(true, Ordering::Relaxed);
            return Err(too_large());
        }
        Ok(())
    }

    /// What is left of the budget.
    pub fn remaining(&self) -> usize {
        self.remaining.load(Ordering::Relaxed)
    }

    /// Whether some list did not fit in the budget.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    /// Marks the request as over budget (a loader fetched more rows than it may show).
    pub fn overrun(&self) -> Error {
        self.exceeded.store(true, Ordering::Relaxed);
        too_large()
    }

    /// Whether the document holds a mutation (such a request is never run twice).
    pub fn may_write(&self) -> bool {
        self.writes.load(Ordering::Relaxed)
    }

    /// Runs the request on the primary whatever it holds.
    pub fn pin_to_primary(&self) {
        self.primary.store(true, Ordering::Relaxed);
    }

    /// Whether the request runs on the primary: it may write, or follows a write.
    pub fn on_primary(&self) -> bool {
        self.may_write() || self.primary.load(Ordering::Relaxed)
    }

    /// Checks a parsed document before it is validated and run (its size, introspection that
    /// fans out, NUL bytes), and records what the request needs to know of it: whether it may
    /// write, and the order of its answer's fields.
    ///
    /// The HTTP layer calls it, not a schema extension: with any extension installed,
    /// async-graphql resolves every field through the extension chain (a registry look-up and a
    /// boxed future per field), which took 15% of the API's CPU on `list`.
    pub fn inspect(
        &self,
        document: &ExecutableDocument,
        variables: &Variables,
    ) -> ServerResult<()> {
        let writes = document
            .operations
            .iter()
            .any(|(_, op)| op.node.ty != OperationType::Query);
        self.writes.store(writes, Ordering::Relaxed);
        refuse_oversized(document)?;
        // Bounds the recursion of what follows (the plans, validation, execution).
        super::shape::refuse_fan_out(document)?;
        let _ = self.plans.set(Plans::of(document));
        refuse_nul(document, variables)
    }
}

/// Parses a request's document; a syntax error is the client's.
pub fn parse(query: &str) -> ServerResult<ExecutableDocument> {
    // The parser recurses into nested values without a bound of its own.
    super::shape::refuse_deep_nesting(query)?;
    async_graphql::parser::parse_query(query).map_err(|e| client_error(e.into()))
}

/// The one error of a request over its response budget.
pub fn too_large() -> Error {
    Error::new(
        "the response would exceed the response budget: ask for fewer rows or fields per \
         request (the RESPONSE_BUDGET setting raises the limit)",
    )
    .extend_with(|_, e| e.set("code", code::RESPONSE_TOO_LARGE))
}

/// Charges a list of `len` elements, each showing the fields selected under the current field.
pub fn charge_list(ctx: &Context<'_>, len: usize) -> async_graphql::Result<()> {
    let Some(guard) = ctx.data_opt::<Arc<RequestGuard>>() else {
        return Ok(());
    };
    if len == 0 {
        return Ok(());
    }
    let weight = 1 + fields_below(ctx.field());
    guard.charge(len.saturating_mul(weight))
}

/// Every field selected below `field`, through fragments (bounded by the depth limit).
fn fields_below(field: SelectionField<'_>) -> usize {
    field.selection_set().map(|f| 1 + fields_below(f)).sum()
}

/// Marks a parse, validation or limit error as the client's.
pub fn client_error(mut error: ServerError) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code::BAD_USER_INPUT);
    }
    error
}

/// Most fields one document may write out (counted as written, fragments once). Validation
/// compares fields pairwise, so its time grows with the square of this: 40,000 aliases of
/// `__typename` took 15 s of CPU before anything was refused.
pub const MAX_DOCUMENT_FIELDS: usize = 2000;
/// Most `__schema`/`__type` fields in one document.
const MAX_INTROSPECTION_ROOTS: usize = 5;

/// Refuses, before validation, a document with too many fields, and introspection that fans
/// out: the schema's own lists have no page size and are not charged to the response budget,
/// so aliases inside introspection (20 aliases of `fields`, each with 20 of `name`, …) would
/// multiply a 1 KB query into a 20 MB answer. Introspection tools never alias those fields.
fn refuse_oversized(document: &ExecutableDocument) -> ServerResult<()> {
    let mut sets: Vec<(&SelectionSet, bool)> = document
        .operations
        .iter()
        .map(|(_, op)| (&op.node.selection_set.node, false))
        .collect();
    sets.extend(document.fragments.values().map(|f| {
        let on = f.node.type_condition.node.on.node.as_str();
        (&f.node.selection_set.node, on.starts_with("__"))
    }));
    let (mut fields, mut roots) = (0usize, 0usize);
    while let Some((set, introspection)) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    fields += 1;
                    if fields > MAX_DOCUMENT_FIELDS {
                        return Err(limit_error(format!(
                            "the query selects more than {MAX_DOCUMENT_FIELDS} fields"
                        )));
                    }
                    let name = field.name.node.as_str();
                    let root = matches!(name, "__schema" | "__type");
                    if root {
                        roots += 1;
                        if roots > MAX_INTROSPECTION_ROOTS {
                            return Err(limit_error(format!(
                                "at most {MAX_INTROSPECTION_ROOTS} __schema or __type fields per query"
                            )));
                        }
                    }
                    if introspection && field.alias.is_some() {
                        return Err(limit_error(
                            "fields inside __schema and __type cannot be aliased".into(),
                        ));
                    }
                    sets.push((&field.selection_set.node, introspection || root));
                }
                Selection::InlineFragment(fragment) => {
                    let on_introspection = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .is_some_and(|t| t.node.on.node.as_str().starts_with("__"));
                    sets.push((
                        &fragment.node.selection_set.node,
                        introspection || on_introspection,
                    ));
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    Ok(())
}

pub(super) fn limit_error(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code::BAD_USER_INPUT);
    error
}

/// BAD_USER_INPUT naming the argument of the first string (or object key) holding a NUL byte,
/// in literals and in the variables arguments use.
fn refuse_nul(document: &ExecutableDocument, variables: &Variables) -> ServerResult<()> {
    let mut sets: Vec<&SelectionSet> = document
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .collect();
    sets.extend(
        document
            .fragments
            .values()
            .map(|f| &f.node.selection_set.node),
    );
    while let Some(set) = sets.pop() {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    for (name, value) in &field.node.arguments {
                        let Ok(resolved) = value.node.clone().into_const_with(|var| {
                            Ok::<_, std::convert::Infallible>(
                                variables.get(&var).cloned().unwrap_or(Value::Null),
                            )
                        });
                        check_argument(name, &resolved)?;
                    }
                    sets.push(&field.node.selection_set.node);
                }
                Selection::InlineFragment(fragment) => {
                    sets.push(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    Ok(())
}

fn check_argument(name: &Positioned<Name>, value: &Value) -> ServerResult<()> {
    // Fields inside `input` are named as validation names them ("name", "locations[0].service").
    let prefix = if name.node.as_str() == "input" {
        String::new()
    } else {
        name.node.to_string()
    };
    match nul_path(&prefix, value) {
        None => Ok(()),
        Some(path) => {
            let field = if path.is_empty() {
                name.node.to_string()
            } else {
                path
            };
            let mut error = ServerError::new(
                format!("{field} must not contain NUL bytes"),
                Some(name.pos),
            );
            let extensions = error.extensions.get_or_insert_with(Default::default);
            extensions.set("code", code::BAD_USER_INPUT);
            extensions.set("field", field.as_str());
            Err(error)
        }
    }
}

/// The path (`a.b[2]`) of the first string holding a NUL byte in `value`, or of the object
/// one of whose keys holds one. Iterative: no input can exhaust the stack.
fn nul_path(prefix: &str, value: &Value) -> Option<String> {
    let mut stack = vec![(prefix.to_owned(), value)];
    while let Some((path, value)) = stack.pop() {
        match value {
            Value::String(s) if s.contains('\0') => return Some(path),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push((format!("{path}[{i}]"), item));
                }
            }
            Value::Object(map) => {
                if map.keys().any(|k| k.as_str().contains('\0')) {
                    return Some(path);
                }
                for (key, item) in map.iter().rev() {
                    let child = if path.is_empty() {
                        key.to_string()
                    } else {
                        format!("{path}.{key}")
                    };
                    stack.push((child, item));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_paths_name_the_field_inside_the_argument() {
        let value = Value::from_json(serde_json::json!({
            "name": "ok", "locations": [{"service": "ok"}, {"service": "a\u{0}"}]
        }))
        .unwrap();
        assert_eq!(
            nul_path("", &value).as_deref(),
            Some("locations[1].service")
        );
        let keyed = Value::from_json(serde_json::json!({"metadata": {"k\u{0}": 1}})).unwrap();
        assert_eq!(nul_path("", &keyed).as_deref(), Some("metadata"));
        assert_eq!(
            nul_path("id", &Value::String("x\u{0}".into())).as_deref(),
            Some("id")
        );
        assert_eq!(nul_path("id", &Value::String("x".into())), None);
    }

    #[test]
    fn documents_with_too_many_fields_or_aliased_introspection_are_refused() {
        let parse = |q: &str| async_graphql::parser::parse_query(q).unwrap();
        let many = format!(
            "{{ {} }}",
            (0..=MAX_DOCUMENT_FIELDS)
                .map(|i| format!("a{i}: __typename"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(refuse_oversized(&parse(&many)).is_err());
        let fan = "fragment T on __Type { f0: fields { name } f1: fields { name } } { __schema { types { ...T } } }";
        assert!(refuse_oversized(&parse(fan)).is_err());
        let inline = "{ __schema { types { ... on __Type { a: name } } } }";
        assert!(refuse_oversized(&parse(inline)).is_err());
        let roots = "{ a: __schema { queryType { name } } b: __schema { queryType { name } } c: __type(name: \"Query\") { name } d: __type(name: \"X\") { name } e: __type(name: \"Y\") { name } f: __type(name: \"Z\") { name } }";
        assert!(refuse_oversized(&parse(roots)).is_err());
        let plain =
            "{ __schema { types { name fields { name } } } x: digitalAssets { totalCount } }";
        assert!(refuse_oversized(&parse(plain)).is_ok());
    }

    #[test]
    fn the_budget_refuses_past_its_end_and_stays_refused() {
        let guard = RequestGuard::new(10);
        assert!(guard.charge(6).is_ok());
        assert!(guard.charge(5).is_err());
        assert!(guard.exceeded());
        assert!(guard.charge(1).is_err(), "once over, every charge fails");
    }
}
