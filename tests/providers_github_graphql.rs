//! GitHub through GraphQL: every document packyard sends validates against
//! GitHub's published schema, costs what GitHub's formula says (before it is
//! sent, and as the simulator charges it), and reads the same organization
//! into the same snapshot as the REST path, peeling annotated tags, for a
//! fraction of the budget. A GHES lacking a field is read through REST.

mod support;

use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use packyard::domain::{Credential, RefKind, RemoteSnapshot, Secret};
use packyard::providers::github::GithubHost;
use packyard::providers::github::graphql::{GraphqlHost, documents, estimate};
use packyard::providers::{CodeHost, MemoryCache, ProviderError};
use packyard::simulate::{GeneratedSpec, GithubSim, Scenario, SimStats};
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use support::snapshots::*;

const GRAPHQL: &str = "/graphql";

fn github_schema() -> &'static Valid<Schema> {
    static SCHEMA: OnceLock<Valid<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/github/graphql/schema.graphql"
        );
        let text = std::fs::read_to_string(path).unwrap();
        // The published schema defines a few fields twice (the same field in
        // two `extend`-like blocks of one type); nothing else is wrong with
        // it, and documents validate against what it defines.
        let schema = Schema::parse(text, path).unwrap_or_else(|invalid| {
            let other: Vec<String> = invalid
                .errors
                .iter()
                .map(|d| d.error.to_string())
                .filter(|e| !e.starts_with("duplicate definitions for the"))
                .collect();
            assert!(other.is_empty(), "GitHub's schema: {other:#?}");
            invalid.partial
        });
        Valid::assume_valid(schema)
    })
}

fn graphql_host(sim: &GithubSim, cache: Arc<MemoryCache>) -> GraphqlHost {
    GraphqlHost::new(
        &sim.api_url(),
        &sim.org(),
        &Credential::Token(Secret::new(sim.token())),
        cache,
        &settings(),
    )
    .unwrap()
}

fn rest_host(sim: &GithubSim, cache: Arc<MemoryCache>) -> GithubHost {
    GithubHost::new(
        &sim.api_url(),
        &sim.org(),
        &Credential::Token(Secret::new(sim.token())),
        cache,
        &settings(),
    )
    .unwrap()
}

/// A mid-sized organization whose teams and repositories need more than
/// one page of everything: 150 repositories (two queries of refs), a
/// repository with 130 tags, teams of about 190 members and 110 repositories.
fn paged_org() -> Scenario {
    let mut scenario = Scenario::generated(GeneratedSpec {
        repos: 150,
        with_composer: 120,
        tags: 5,
        branches: 2,
        teams: 2,
        members: 250,
    });
    scenario.repos[0].tags = (0..130).map(|i| format!("v1.{i}.0")).collect();
    scenario
}

fn pages(n: usize) -> u64 {
    n.div_ceil(100).max(1) as u64
}

/// The queries for the pages after the first of each team's members and
/// repositories, and of each repository's refs (1 point each).
fn team_follow_ups(scenario: &Scenario) -> u64 {
    scenario
        .teams
        .iter()
        .map(|t| pages(t.members.len()) - 1 + pages(t.repos.len()) - 1)
        .sum()
}

fn refs_follow_ups(scenario: &Scenario) -> u64 {
    scenario
        .repos
        .iter()
        .map(|r| pages(r.all_branches().len() + r.tags.len()) - 1)
        .sum()
}

/// What the simulator charged since the last call: REST requests (304s
/// are free) and GraphQL points.
fn points(sim: &GithubSim) -> (u64, u64) {
    let budget = sim.budget();
    let charged = budget.charged();
    budget.reset_charged();
    (charged.granted("core"), charged.granted("graphql"))
}

#[test]
fn every_document_validates_against_githubs_published_schema() {
    let schema = github_schema();
    for (name, document) in documents::ALL {
        let parsed = ExecutableDocument::parse_and_validate(schema, document, name)
            .unwrap_or_else(|e| panic!("{name} does not validate: {}", e.errors));
        assert!(
            parsed.operations.get(Some(name)).is_ok(),
            "{name} is not the document's operation"
        );
    }
}

/// The simulator serves a part of GitHub's schema: each of its types,
/// fields and arguments must exist in GitHub's with the same type.
#[test]
fn simulator_schema_is_a_part_of_githubs() {
    use apollo_compiler::schema::ExtendedType;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/simulate/github/schema.graphql"
    );
    let served = Schema::parse_and_validate(std::fs::read_to_string(path).unwrap(), path)
        .unwrap_or_else(|e| panic!("{}", e.errors));
    let github = github_schema();
    let mut problems = Vec::new();
    for (name, ty) in &served.types {
        if ty.is_built_in() {
            continue;
        }
        let Some(real) = github.types.get(name) else {
            problems.push(format!("type {name} is not GitHub's"));
            continue;
        };
        let fields = |t: &ExtendedType| match t {
            ExtendedType::Object(o) => Some(o.fields.clone()),
            ExtendedType::Interface(i) => Some(i.fields.clone()),
            _ => None,
        };
        let (Some(ours), Some(theirs)) = (fields(ty), fields(real)) else {
            continue;
        };
        for (field, def) in &ours {
            let Some(real_def) = theirs.get(field) else {
                problems.push(format!("{name}.{field} is not GitHub's"));
                continue;
            };
            if def.ty != real_def.ty {
                problems.push(format!("{name}.{field}: {} ≠ {}", def.ty, real_def.ty));
            }
            for arg in &def.arguments {
                match real_def.arguments.iter().find(|a| a.name == arg.name) {
                    Some(real_arg) if real_arg.ty == arg.ty => {}
                    _ => problems.push(format!("{name}.{field}({}) differs", arg.name)),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// GitHub's formula by hand for each shape: a connection is one request per
/// object above it; points are requests / 100 rounded, at least 1.
#[tokio::test]
async fn each_query_costs_what_githubs_formula_says_and_what_the_host_charges() {
    let sim = GithubSim::start(paged_org()).await.unwrap();
    let ids: Vec<String> = (10_000..10_100)
        .map(|id| base64_node_id("Repository", id))
        .collect();
    let org = sim.org();
    let cases: [(&str, Value, u64, u64, u64); 6] = [
        // 100 repositories × their refs connection.
        ("RepositoryRefs", json!({ "ids": ids }), 100, 100 * 100, 1),
        (
            "RepositoryRefsPage",
            json!({ "owner": org, "name": "repo-00000", "after": null }),
            1,
            100,
            1,
        ),
        // teams, and 100 × (members + repositories).
        (
            "Teams",
            json!({ "org": org, "after": null }),
            201,
            100 + 2 * 100 * 100,
            2,
        ),
        (
            "Team",
            json!({ "org": org, "slug": "team-0000" }),
            2,
            200,
            1,
        ),
        (
            "TeamMembers",
            json!({ "org": org, "slug": "team-0000", "after": null }),
            1,
            100,
            1,
        ),
        (
            "TeamRepositories",
            json!({ "org": org, "slug": "team-0000", "after": null }),
            1,
            100,
            1,
        ),
    ];
    let client = reqwest::Client::new();
    for (name, variables, requests, nodes, points) in cases {
        let document = documents::ALL.iter().find(|(n, _)| *n == name).unwrap().1;
        let cost = estimate(document, name, &variables).unwrap();
        assert_eq!(
            (cost.requests, cost.nodes, cost.points()),
            (requests, nodes, points),
            "{name}"
        );
        let answer: Value = client
            .post(format!("{}/graphql", sim.api_url()))
            .bearer_auth(sim.token())
            .json(&json!({ "query": document, "operationName": name, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer.get("errors"), None, "{name}: {answer}");
        assert_eq!(answer["data"]["rateLimit"]["cost"], json!(points), "{name}");
        assert_eq!(answer["data"]["rateLimit"]["limit"], json!(5000), "{name}");
    }
}

/// The simulator's ids, as its REST listings give them (`node_id`).
fn base64_node_id(kind: &str, id: u64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("0:{kind}{id}"))
}

/// One organization read by both hosts.
struct Both {
    rest: RemoteSnapshot,
    graphql: RemoteSnapshot,
    rest_cost: (u64, u64),
    graphql_cost: (u64, u64),
    graphql_stats: SimStats,
}

async fn both_snapshots(scenario: Scenario) -> Both {
    let sim = GithubSim::start(scenario).await.unwrap();
    let rest = rest_host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    let rest_cost = points(&sim);
    sim.reset_stats();
    let graphql = graphql_host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    Both {
        rest,
        graphql,
        rest_cost,
        graphql_cost: points(&sim),
        graphql_stats: sim.stats(),
    }
}

#[tokio::test]
async fn graphql_snapshot_equals_rest_snapshot_when_the_demo_organization() {
    let Both {
        rest,
        graphql,
        graphql_stats: stats,
        ..
    } = both_snapshots(demo()).await;
    assert!(rest.is_complete() && graphql.is_complete());
    assert_eq!(graphql, rest);
    assert_eq!(stats.route("/repos/{owner}/{repo}/contents/{*path}"), 0);
    assert_eq!(stats.route("/repos/{owner}/{repo}/tags"), 0);
}

#[tokio::test]
async fn graphql_snapshot_equals_rest_snapshot_when_every_listing_has_more_pages() {
    let Both {
        rest,
        graphql,
        rest_cost,
        graphql_cost,
        ..
    } = both_snapshots(paged_org()).await;
    assert!(graphql.is_complete(), "some listing stayed partial");
    assert!(
        graphql
            .teams
            .items
            .iter()
            .all(|t| t.members.items.len() > 100)
    );
    assert!(
        graphql
            .teams
            .items
            .iter()
            .all(|t| t.repos.items.len() > 100)
    );
    assert_eq!(repo(&graphql, "repo-00000").refs.items.len(), 130 + 2);
    assert_eq!(graphql, rest);
    assert_eq!(rest_cost.1, 0, "REST sends no GraphQL");
    assert!(
        graphql_cost.0 + graphql_cost.1 < rest_cost.0 / 20,
        "GraphQL {graphql_cost:?} vs REST {rest_cost:?}"
    );
}

#[tokio::test]
async fn annotated_tags_are_peeled_to_their_commit() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let snapshot = graphql_host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    let mut annotated = 0;
    for repo in &snapshot.repos.items {
        let name = repo.full_name.split('/').nth(1).unwrap();
        for tag in repo.refs.items.iter().filter(|r| r.kind == RefKind::Tag) {
            let commit = sim.commit_of(name, &tag.name).unwrap();
            assert_eq!(tag.commit, commit, "{name} {}", tag.name);
            if let Some(object) = sim.tag_object(name, &tag.name) {
                assert_ne!(object, commit);
                annotated += 1;
            }
        }
    }
    assert!(annotated > 0, "the demo organization has no annotated tag");
}

/// First sync, no-change resync, and a resync after one push, in points:
/// REST requests that were not 304 plus GraphQL points.
#[tokio::test]
async fn budget_is_a_few_points_per_hundred_repositories_and_a_resync_reads_only_what_changed() {
    let scenario = paged_org();
    let sim = GithubSim::start(scenario.clone()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let host = graphql_host(&sim, cache.clone());
    let first = host.snapshot(quiet()).await.unwrap();
    let (rest, graphql) = points(&sim);
    // The teams query costs 2 (1 + 100 members + 100 repositories
    // connections), however few teams there are; each further page 1.
    let teams = 2 + team_follow_ups(&scenario);
    // org, admins, the listing's pages; a refs query per 100 repositories
    // and the further pages of refs; the teams query and its further pages.
    assert_eq!(rest, 1 + 1 + pages(scenario.repos.len()));
    assert_eq!(
        graphql,
        pages(scenario.repos.len()) + refs_follow_ups(&scenario) + teams
    );
    assert_eq!(host.points(), graphql, "the client's estimate");

    sim.reset_stats();
    let again = graphql_host(&sim, cache.clone())
        .snapshot(quiet())
        .await
        .unwrap();
    assert_eq!(again, first);
    let (rest, graphql) = points(&sim);
    assert_eq!(rest, 0, "every REST listing answered 304");
    assert_eq!(graphql, teams, "teams only");

    sim.add_tag("repo-00007", "v9.9.9").unwrap();
    sim.reset_stats();
    let pushed = graphql_host(&sim, cache).snapshot(quiet()).await.unwrap();
    assert!(
        repo(&pushed, "repo-00007")
            .refs
            .items
            .iter()
            .any(|r| r.name == "v9.9.9")
    );
    let stats = sim.stats();
    assert_eq!(
        stats.route(GRAPHQL),
        1 + team_follow_ups(&scenario) + 1,
        "teams, and one repository's refs"
    );
}

#[tokio::test]
async fn webhook_refreshes_read_one_repository_and_one_team_as_rest_does() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let graphql = graphql_host(&sim, Arc::new(MemoryCache::default()));
    let rest = rest_host(&sim, Arc::new(MemoryCache::default()));
    let full = format!("{}/log", sim.org());
    assert_eq!(
        graphql.fetch_repo(&full).await.unwrap(),
        rest.fetch_repo(&full).await.unwrap()
    );
    assert_eq!(
        graphql.fetch_team("platform").await.unwrap(),
        rest.fetch_team("platform").await.unwrap()
    );
    assert_eq!(graphql.fetch_team("no-such-team").await.unwrap(), None);
    assert_eq!(graphql.fetch_repo("other/log").await.unwrap(), None);
}

#[tokio::test]
async fn a_ghes_lacking_commit_file_is_read_through_rest_with_the_same_result() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let rest = rest_host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    sim.hide_graphql_field("Commit", "file");
    sim.reset_stats();
    let graphql = graphql_host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert_eq!(graphql, rest);
    let stats = sim.stats();
    assert_eq!(
        stats.route(GRAPHQL),
        2,
        "teams, then the refs query that failed"
    );
    assert!(stats.route("/repos/{owner}/{repo}/contents/{*path}") > 0);
}

#[tokio::test]
async fn simulator_answers_with_githubs_error_shapes() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let client = reqwest::Client::new();
    let ask = |token: String, query: &str, variables: Value| {
        client
            .post(format!("{}/graphql", sim.api_url()))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
    };
    let answer = ask(sim.token(), "query { viewer { login } }", json!({}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "undefinedField",
        "{body}"
    );
    assert_eq!(
        body["errors"][0]["message"],
        "Field 'viewer' doesn't exist on type 'Query'"
    );

    let body: Value = ask(
        sim.token(),
        "query { organization(login: \"nope\") { login } }",
        json!({}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(body["data"]["organization"], Value::Null);
    assert_eq!(body["errors"][0]["type"], "NOT_FOUND", "{body}");

    let too_big = "query { organization(login: \"acme\") { teams(first: 101) { totalCount } } }";
    let body: Value = ask(sim.token(), too_big, json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["errors"][0]["type"], "EXCESSIVE_PAGINATION", "{body}");

    let unbounded = "query { organization(login: \"acme\") { teams { totalCount } } }";
    let body: Value = ask(sim.token(), unbounded, json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["errors"][0]["type"], "MISSING_PAGINATION_BOUNDARIES",
        "{body}"
    );

    let answer = ask("wrong".into(), "query { rateLimit { cost } }", json!({}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
}

/// Spent GraphQL points stop the run with the reset, as GitHub answers
/// them (200 with `RATE_LIMITED`); nothing becomes a partial listing. After
/// the reset, on the simulator's clock, a new run reads everything.
#[tokio::test]
async fn spent_graphql_points_stop_the_snapshot_until_the_reset() {
    let sim = GithubSim::start(demo()).await.unwrap();
    sim.budget().spend_all("graphql", "token");
    let host = graphql_host(&sim, Arc::new(MemoryCache::default()));
    let err = host.snapshot(quiet()).await.unwrap_err();
    let ProviderError::RateLimited { retry_after, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        retry_after.as_secs() > 0 && retry_after.as_secs() <= 3600,
        "{err}"
    );
    sim.clock().advance(std::time::Duration::from_secs(3601));
    let snapshot = graphql_host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snapshot.is_complete());
}
