//! What a GraphQL query will cost, computed before it is sent, with GitHub's
//! documented formula ("Rate limits and node limits for the GraphQL API"):
//!
//! - every connection (a field with `first` or `last`) is one request per
//!   object it is fetched for: the product of the `first`/`last` of the
//!   connections above it (`nodes(ids:)` fetches one object per id);
//! - the cost is the sum of those requests divided by 100, rounded to the
//!   nearest whole number, and at least 1;
//! - the nodes a query may return are, per connection, that product times
//!   its own `first`/`last`; GitHub refuses a query above 500,000 of them,
//!   or one asking any connection for more than 100.

use apollo_compiler::ast::{self, Definition, Selection};
use serde_json::Value;
use std::collections::HashMap;

/// GitHub's node limit per query.
pub const MAX_NODES: u64 = 500_000;
/// The largest `first`/`last` GitHub accepts.
pub const MAX_PAGE: u64 = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Connection requests the query needs, at their page limits.
    pub requests: u64,
    /// The most nodes the query can return.
    pub nodes: u64,
}

impl Cost {
    /// Rate-limit points: requests / 100, rounded to nearest, at least 1.
    pub fn points(self) -> u64 {
        ((self.requests + 50) / 100).max(1)
    }
}

/// Why a document may not be sent as it is. Each one is a bug in the
/// document or its variables, never the user's doing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    #[error("the GraphQL document does not parse: {0}")]
    Parse(String),
    #[error("the GraphQL document has no operation {0:?}")]
    NoOperation(String),
    #[error("the {field} connection asks for {page} records; GitHub allows at most {MAX_PAGE}")]
    PageTooLarge { field: String, page: u64 },
    #[error("the query could return {nodes} nodes; GitHub refuses more than {MAX_NODES}")]
    TooManyNodes { nodes: u64 },
}

/// The cost of running operation `operation` of `document` with `variables`.
pub fn estimate(document: &str, operation: &str, variables: &Value) -> Result<Cost, CostError> {
    let parsed = ast::Document::parse(document, "query.graphql")
        .map_err(|invalid| CostError::Parse(invalid.errors.to_string()))?;
    let mut fragments = HashMap::new();
    let mut root = None;
    for definition in &parsed.definitions {
        match definition {
            Definition::FragmentDefinition(f) => {
                fragments.insert(f.name.as_str(), &f.selection_set);
            }
            Definition::OperationDefinition(op)
                if op.name.as_ref().is_some_and(|n| n == operation) =>
            {
                root = Some(&op.selection_set);
            }
            _ => {}
        }
    }
    let root = root.ok_or_else(|| CostError::NoOperation(operation.to_owned()))?;
    let walk = Walk {
        fragments,
        variables,
    };
    let mut cost = Cost::default();
    walk.selections(root, 1, &mut cost)?;
    if cost.nodes > MAX_NODES {
        return Err(CostError::TooManyNodes { nodes: cost.nodes });
    }
    Ok(cost)
}

struct Walk<'d> {
    fragments: HashMap<&'d str, &'d Vec<Selection>>,
    variables: &'d Value,
}

impl Walk<'_> {
    /// `fetches`: how many times this selection is resolved.
    fn selections(
        &self,
        selections: &[Selection],
        fetches: u64,
        cost: &mut Cost,
    ) -> Result<(), CostError> {
        for selection in selections {
            match selection {
                Selection::Field(field) => {
                    let below = match self.page(field) {
                        Some(page) if page > MAX_PAGE => {
                            return Err(CostError::PageTooLarge {
                                field: field.name.to_string(),
                                page,
                            });
                        }
                        Some(page) => {
                            cost.requests += fetches;
                            cost.nodes += fetches * page;
                            fetches * page
                        }
                        None => fetches * self.ids(field).unwrap_or(1),
                    };
                    self.selections(&field.selection_set, below, cost)?;
                }
                Selection::InlineFragment(inline) => {
                    self.selections(&inline.selection_set, fetches, cost)?;
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(set) = self.fragments.get(spread.fragment_name.as_str()) {
                        self.selections(set, fetches, cost)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn argument<'a>(&'a self, field: &'a ast::Field, name: &str) -> Option<&'a ast::Value> {
        field
            .arguments
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_ref())
    }

    fn variable(&self, name: &str) -> Option<&Value> {
        self.variables.get(name)
    }

    /// The connection's `first` or `last`, when the field is a connection.
    fn page(&self, field: &ast::Field) -> Option<u64> {
        let value = self
            .argument(field, "first")
            .or_else(|| self.argument(field, "last"))?;
        match value {
            ast::Value::Int(i) => i.try_to_i32().ok().and_then(|i| u64::try_from(i).ok()),
            ast::Value::Variable(v) => self.variable(v).and_then(Value::as_u64),
            _ => None,
        }
    }

    /// How many objects `nodes(ids:)` resolves.
    fn ids(&self, field: &ast::Field) -> Option<u64> {
        let n = match self.argument(field, "ids")? {
            ast::Value::List(items) => items.len(),
            ast::Value::Variable(v) => self.variable(v)?.as_array()?.len(),
            _ => return None,
        };
        Some(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The example in GitHub's documentation: 1 + 100 + 100 × 50 requests
    /// make 51 points; 50 + 50 × 10 + 50 × 10 × 20 nodes.
    #[test]
    fn cost_matches_githubs_documented_examples() {
        let doc = "query Docs {
          viewer {
            repositories(first: 100) {
              nodes { issues(first: 50) { nodes { labels(first: 60) { nodes { name } } } } }
            }
          }
        }";
        let cost = estimate(doc, "Docs", &json!({})).unwrap();
        assert_eq!(cost.requests, 1 + 100 + 100 * 50);
        assert_eq!(cost.points(), 51);
        let nodes = "query Nodes($n: Int!) {
          viewer {
            repositories(first: 50) {
              nodes { issues(first: $n) { nodes { labels(first: 20) { nodes { name } } } } }
            }
          }
        }";
        let cost = estimate(nodes, "Nodes", &json!({ "n": 10 })).unwrap();
        assert_eq!(cost.nodes, 50 + 50 * 10 + 50 * 10 * 20);
        assert_eq!(cost.points(), 6, "1 + 50 + 500 requests, rounded");
    }

    #[test]
    fn cost_is_refused_when_a_page_or_the_node_total_is_too_large() {
        let doc = "query Big { viewer { repositories(first: 101) { nodes { name } } } }";
        assert!(matches!(
            estimate(doc, "Big", &json!({})),
            Err(CostError::PageTooLarge { page: 101, .. })
        ));
        let deep = "query Deep { a(first: 100) { nodes { b(first: 100) { nodes { c(first: 100) { nodes { id } } } } } } }";
        assert!(matches!(
            estimate(deep, "Deep", &json!({})),
            Err(CostError::TooManyNodes { nodes: 1_010_100 })
        ));
        assert!(matches!(
            estimate(doc, "Other", &json!({})),
            Err(CostError::NoOperation(_))
        ));
    }

    #[test]
    fn cost_is_at_least_one_point_and_counts_one_fetch_per_listed_id() {
        let doc = "query N($ids: [ID!]!) { nodes(ids: $ids) { ... on Repository { refs(first: 100) { nodes { name } } } } }";
        let ids: Vec<String> = (0..40).map(|i| format!("id{i}")).collect();
        let cost = estimate(doc, "N", &json!({ "ids": ids })).unwrap();
        assert_eq!((cost.requests, cost.nodes, cost.points()), (40, 4_000, 1));
        let ids: Vec<String> = (0..160).map(|i| format!("id{i}")).collect();
        assert_eq!(
            estimate(doc, "N", &json!({ "ids": ids })).unwrap().points(),
            2
        );
    }
}
