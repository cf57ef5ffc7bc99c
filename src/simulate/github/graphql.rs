//! GitHub's GraphQL API (`POST /graphql`, and `/api/graphql` as on GHES)
//! over the simulated organization.
//!
//! A query is parsed and validated with `apollo-compiler` against the part
//! of GitHub's schema the simulator serves (`schema.graphql` beside this
//! file), costed and checked against the node limit as GitHub documents it,
//! charged to the credential's `graphql` budget (5,000 points an hour for a
//! token), then executed by the resolvers in
//! [`objects`] over the same state and visibility as the REST side. Errors
//! come back as GitHub sends them: HTTP 200 with an `errors` list whose
//! entries carry `type` (`NOT_FOUND`, `MAX_NODE_LIMIT_EXCEEDED`,
//! `RATE_LIMITED`, …) or, for validation, `extensions.code`.
//!
//! The cost is computed here on its own, not with the provider's code, so a
//! wrong estimate in the client shows up as a mismatch in tests.

mod objects;

use super::{Shared, lock, rate_headers};
use crate::simulate::budget::Standing;
use apollo_compiler::executable::{Field, Selection, SelectionSet};
use apollo_compiler::response::{JsonMap, JsonValue};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema, ast};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// GitHub refuses queries that could return more nodes than this.
const MAX_NODES: u64 = 500_000;
/// The most `first`/`last` may ask of one connection.
const MAX_PAGE: u64 = 100;

const SDL: &str = include_str!("schema.graphql");

/// The served schema, minus the fields a test hid to play an older GHES.
pub(super) fn schema(hidden: &BTreeSet<(String, String)>) -> Valid<Schema> {
    let mut schema = Schema::parse(SDL, "schema.graphql").unwrap_or_else(|partial| partial.partial);
    for (type_name, field) in hidden {
        if let Some(apollo_compiler::schema::ExtendedType::Object(object)) =
            schema.types.get_mut(type_name.as_str())
        {
            object.make_mut().fields.shift_remove(field.as_str());
        }
    }
    Valid::assume_valid(schema)
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct Request {
    query: String,
    #[serde(default)]
    variables: Option<serde_json::Map<String, Value>>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

/// What a query costs and how many nodes it may return, by GitHub's rules:
/// each connection is one request per object it is fetched for (the
/// product of the `first`/`last` of the connections above it, or of the
/// ids given to `nodes`), and it may return that many times its own page.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    requests: u64,
    nodes: u64,
}

impl Tally {
    /// Requests divided by 100, rounded to the nearest whole number; at least 1.
    fn points(self) -> u64 {
        ((self.requests + 50) / 100).max(1)
    }
}

/// What a query's `rateLimit` field reports: its cost and node count, and
/// the budget after charging it.
#[derive(Debug, Clone)]
pub(super) struct RateInfo {
    pub cost: u64,
    pub node_count: u64,
    pub standing: Standing,
}

/// A GitHub error entry: `type` and `message`.
fn typed_error(kind: &str, message: &str) -> Value {
    json!({ "type": kind, "message": message })
}

fn errors(list: Vec<Value>) -> Response {
    axum::Json(json!({ "errors": list })).into_response()
}

/// Answers one GraphQL request.
pub(super) fn answer(sim: &Shared, key: &str, request: Request) -> Response {
    let schema = lock(&sim.graphql_schema).clone();
    let document = match ExecutableDocument::parse_and_validate(
        &schema,
        request.query.as_str(),
        "query.graphql",
    ) {
        Ok(document) => document,
        Err(invalid) => {
            return errors(
                invalid
                    .errors
                    .iter()
                    .map(|d| validation_error(&d))
                    .collect(),
            );
        }
    };
    let operation = match document.operations.get(request.operation_name.as_deref()) {
        Ok(operation) => operation,
        Err(e) => return errors(vec![json!({ "message": e.message().to_string() })]),
    };
    let variables = request.variables.unwrap_or_default();
    let mut tally = Tally::default();
    if let Err(error) = tally_set(
        &document,
        &operation.selection_set,
        &variables,
        1,
        &mut tally,
    ) {
        return errors(vec![error]);
    }
    if tally.nodes > MAX_NODES {
        return errors(vec![typed_error(
            "MAX_NODE_LIMIT_EXCEEDED",
            &format!(
                "This query requests up to {} possible nodes which exceeds the maximum limit of 500,000.",
                tally.nodes
            ),
        )]);
    }
    let cost = tally.points();
    let rate = match sim.budget.charge("graphql", key, cost) {
        Ok(standing) => standing.map(|standing| RateInfo {
            cost,
            node_count: tally.nodes,
            standing,
        }),
        Err(spent) => {
            let mut response = errors(vec![typed_error(
                "RATE_LIMITED",
                "API rate limit exceeded for user ID 1.",
            )]);
            rate_headers(response.headers_mut(), &spent, "graphql");
            return response;
        }
    };
    let raw: JsonMap = variables
        .into_iter()
        .map(|(k, v)| (k.into(), JsonValue::from(v)))
        .collect();
    let body = {
        let state = lock(&sim.state);
        let root = objects::QueryRoot::new(&state, rate.as_ref());
        apollo_compiler::resolvers::Execution::new(&schema, &document)
            .operation(operation)
            .raw_variable_values(&raw)
            .execute_sync(&root)
            .map(|response| github_shape(serde_json::to_value(response).unwrap_or_default()))
    };
    let mut response = match body {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => errors(vec![json!({ "message": e.message().to_string() })]),
    };
    if let Some(rate) = &rate {
        rate_headers(response.headers_mut(), &rate.standing, "graphql");
    }
    response
}

/// A validation diagnostic as GitHub words and tags it. An unknown field is
/// what a GHES that predates it answers, so clients can fall back.
fn validation_error(
    diagnostic: &apollo_compiler::diagnostic::Diagnostic<
        '_,
        apollo_compiler::validation::DiagnosticData,
    >,
) -> Value {
    let plain = diagnostic.error.to_string();
    let locations: Vec<Value> = diagnostic
        .line_column_range()
        .map(|r| json!({ "line": r.start.line, "column": r.start.column }))
        .into_iter()
        .collect();
    // apollo-compiler words it "type `T` does not have a field `f`".
    let undefined = plain
        .strip_prefix("type `")
        .and_then(|rest| rest.split_once("` does not have a field `"))
        .map(|(type_name, field)| (type_name.to_owned(), field.trim_end_matches('`').to_owned()));
    match undefined {
        Some((type_name, field)) => json!({
            "message": format!("Field '{field}' doesn't exist on type '{type_name}'"),
            "locations": locations,
            "extensions": { "code": "undefinedField", "typeName": type_name, "fieldName": field },
        }),
        None => json!({ "message": plain, "locations": locations }),
    }
}

/// Field errors in GitHub's words: without the executor's "resolver
/// error: " prefix, and `NOT_FOUND` for objects that are not there.
fn github_shape(mut body: Value) -> Value {
    if let Some(list) = body.get_mut("errors").and_then(Value::as_array_mut) {
        for error in list {
            let Some(message) = error.get("message").and_then(Value::as_str) else {
                continue;
            };
            let message = message
                .strip_prefix("resolver error: ")
                .unwrap_or(message)
                .to_owned();
            if message.starts_with("Could not resolve to") {
                error["type"] = json!("NOT_FOUND");
            }
            error["message"] = json!(message);
        }
    }
    body
}

/// An integer argument, literal or variable.
fn int_argument(
    field: &Field,
    name: &str,
    variables: &serde_json::Map<String, Value>,
) -> Option<u64> {
    let value = field.arguments.iter().find(|a| a.name == name)?;
    match value.value.as_ref() {
        ast::Value::Int(i) => i.try_to_i32().ok().and_then(|i| u64::try_from(i).ok()),
        ast::Value::Variable(v) => variables.get(v.as_str()).and_then(Value::as_u64),
        _ => None,
    }
}

/// How many objects a list argument names (`nodes(ids:)`), literal or variable.
fn list_length(
    field: &Field,
    name: &str,
    variables: &serde_json::Map<String, Value>,
) -> Option<u64> {
    let value = field.arguments.iter().find(|a| a.name == name)?;
    let n = match value.value.as_ref() {
        ast::Value::List(items) => items.len(),
        ast::Value::Variable(v) => variables.get(v.as_str()).and_then(Value::as_array)?.len(),
        _ => return None,
    };
    Some(n as u64)
}

fn tally_set(
    document: &Valid<ExecutableDocument>,
    set: &SelectionSet,
    variables: &serde_json::Map<String, Value>,
    multiplier: u64,
    tally: &mut Tally,
) -> Result<(), Value> {
    for selection in &set.selections {
        match selection {
            Selection::Field(field) => {
                let is_connection = field
                    .definition
                    .ty
                    .inner_named_type()
                    .as_str()
                    .ends_with("Connection");
                let below = if is_connection {
                    let page = int_argument(field, "first", variables)
                        .or_else(|| int_argument(field, "last", variables));
                    let Some(page) = page else {
                        return Err(typed_error(
                            "MISSING_PAGINATION_BOUNDARIES",
                            &format!(
                                "You must provide a `first` or `last` value to properly paginate the `{}` connection.",
                                field.name
                            ),
                        ));
                    };
                    if page > MAX_PAGE {
                        return Err(typed_error(
                            "EXCESSIVE_PAGINATION",
                            &format!(
                                "Requesting {page} records on the `{}` connection exceeds the `first` limit of 100 records.",
                                field.name
                            ),
                        ));
                    }
                    tally.requests += multiplier;
                    tally.nodes += multiplier * page;
                    multiplier * page
                } else {
                    multiplier * list_length(field, "ids", variables).unwrap_or(1)
                };
                tally_set(document, &field.selection_set, variables, below, tally)?;
            }
            Selection::InlineFragment(inline) => {
                tally_set(
                    document,
                    &inline.selection_set,
                    variables,
                    multiplier,
                    tally,
                )?;
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.fragment_name) {
                    tally_set(
                        document,
                        &fragment.selection_set,
                        variables,
                        multiplier,
                        tally,
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// A `StatusCode` for requests that are not GraphQL at all.
pub(super) fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(
            json!({ "message": message, "documentation_url": "https://docs.github.com/graphql" }),
        ),
    )
        .into_response()
}
