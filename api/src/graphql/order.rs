//! Response fields in the order of the query (GraphQL spec, "Response": fields appear in the
//! order of the selection set).
//!
//! async-graphql 7.2.1 resolves a selection set's fields concurrently and inserts each into the
//! answer when it completes, so a field that waited on the database lands after the ones that
//! did not. The order of each operation's response keys is taken from the document when it is
//! parsed, and the answer is put in that order before it is sent; an object already in order
//! (most of them) is left as it is.

use std::collections::HashMap;

use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value};

/// Most selections visited to build the plans of one document; past it, answers are sent in
/// resolution order (a document that large is refused by the cost limit anyway).
const MAX_STEPS: usize = 50_000;

/// The response keys of a selection set, in order, each with the plan of its own selection.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    keys: Vec<(Name, Plan)>,
}

/// The plans of a document's operations, by operation name (`None` for an anonymous one).
#[derive(Debug, Default)]
pub struct Plans(Vec<(Option<Name>, Plan)>);

impl Plans {
    /// The plans of every operation of `document`, or none when the document is too large.
    pub fn of(document: &ExecutableDocument) -> Self {
        let mut steps = 0;
        let mut plans = Vec::new();
        for (name, operation) in document.operations.iter() {
            let mut plan = Plan::default();
            if !plan.add(
                &operation.node.selection_set.node,
                &document.fragments,
                &mut steps,
            ) {
                return Self::default();
            }
            plans.push((name.cloned(), plan));
        }
        Self(plans)
    }

    /// The plan of the operation that ran (`operation_name` as the request named it).
    pub fn get(&self, operation_name: Option<&str>) -> Option<&Plan> {
        match (operation_name, self.0.as_slice()) {
            (None, [(_, plan)]) => Some(plan),
            (Some(wanted), plans) => plans
                .iter()
                .find(|(name, _)| name.as_ref().is_some_and(|n| n.as_str() == wanted))
                .map(|(_, plan)| plan),
            _ => None,
        }
    }
}

impl Plan {
    /// Adds `set`'s keys; false when the step budget ran out.
    fn add(
        &mut self,
        set: &SelectionSet,
        fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
        steps: &mut usize,
    ) -> bool {
        for item in &set.items {
            *steps += 1;
            if *steps > MAX_STEPS {
                return false;
            }
            let added = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let key = field.response_key().node.clone();
                    let index = match self.keys.iter().position(|(k, _)| *k == key) {
                        Some(i) => i,
                        None => {
                            self.keys.push((key, Plan::default()));
                            self.keys.len() - 1
                        }
                    };
                    self.keys[index]
                        .1
                        .add(&field.selection_set.node, fragments, steps)
                }
                Selection::InlineFragment(fragment) => {
                    self.add(&fragment.node.selection_set.node, fragments, steps)
                }
                Selection::FragmentSpread(spread) => {
                    match fragments.get(&spread.node.fragment_name.node) {
                        Some(fragment) => {
                            self.add(&fragment.node.selection_set.node, fragments, steps)
                        }
                        None => true,
                    }
                }
            };
            if !added {
                return false;
            }
        }
        true
    }

    /// Puts `value`'s objects (and those of its lists) in this plan's order.
    pub fn apply(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                let in_order = map
                    .keys()
                    .zip(self.keys.iter().filter(|(k, _)| map.contains_key(k)))
                    .all(|(have, (want, _))| have == want);
                if !in_order {
                    let position = |key: &Name| {
                        self.keys
                            .iter()
                            .position(|(k, _)| k == key)
                            .unwrap_or(usize::MAX)
                    };
                    map.sort_by_cached_key(|key, _| position(key));
                }
                for (key, sub) in &self.keys {
                    if let Some(v) = map.get_mut(key) {
                        sub.apply(v);
                    }
                }
            }
            Value::List(items) => {
                for item in items {
                    self.apply(item);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(query: &str) -> Plans {
        Plans::of(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn objects_follow_the_selection_through_aliases_and_fragments() {
        let plans = plan("{ b: x { z y } a ...F } fragment F on Q { c x { w } }");
        let mut value = Value::from_json(serde_json::json!({
            "c": 1, "a": 2, "b": [{"y": 1, "z": 2}], "x": {"w": 3}
        }))
        .unwrap();
        plans.get(None).unwrap().apply(&mut value);
        assert_eq!(
            serde_json::to_string(&value).unwrap(),
            r#"{"b":[{"z":2,"y":1}],"a":2,"c":1,"x":{"w":3}}"#
        );
    }

    #[test]
    fn the_named_operation_is_chosen() {
        let plans = plan("query A { a b } query B { b a }");
        let mut value = Value::from_json(serde_json::json!({"a": 1, "b": 2})).unwrap();
        plans.get(Some("B")).unwrap().apply(&mut value);
        assert_eq!(serde_json::to_string(&value).unwrap(), r#"{"b":2,"a":1}"#);
        assert!(plans.get(None).is_none());
    }
}
