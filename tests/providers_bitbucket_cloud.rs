//! The Bitbucket Cloud provider against the Bitbucket Cloud simulator on
//! 127.0.0.1:0: full snapshots of the shared demo scenario, pagination,
//! change detection by `updated_on`, incremental manifests, retries, rate
//! limits, errors, archives, and the simulator's fidelity to the fixtures.

mod support;

use packyard::domain::{
    Credential, Manifest, Permission, RefKind, RemoteSnapshot, RemoteTeam, Secret,
};
use packyard::providers::bitbucket_cloud::BitbucketCloudHost;
use packyard::providers::{
    ClientSettings, CodeHost, MemoryCache, Progress, ProgressFn, ProviderError,
};
use packyard::simulate::{BitbucketCloudSim, GeneratedSpec, RepoSpec, Scenario};
use serde_json::Value;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::snapshots::*;

/// composer.json comes from the web host's raw files (their own budget).
const SRC: &str = "/{ws}/{slug}/raw/{commit}/{*path}";
/// Branches and tags come in one listing.
const REFS: &str = "/2.0/repositories/{ws}/{slug}/refs";
const REPOS: &str = "/2.0/repositories/{ws}";
const GROUP_PERMISSIONS: &str = "/2.0/repositories/{ws}/{slug}/permissions-config/groups";
const DOWNLOAD: &str = "/{ws}/{slug}/get/{file}";
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/bitbucket-cloud/api"
);

fn host_with(
    sim: &BitbucketCloudSim,
    credential: Credential,
    workspace: &str,
    cache: Arc<MemoryCache>,
) -> BitbucketCloudHost {
    BitbucketCloudHost::new(&sim.api_url(), workspace, &credential, cache, &settings()).unwrap()
}

/// Authenticated as an admin would be: account email + API token.
fn host(sim: &BitbucketCloudSim, cache: Arc<MemoryCache>) -> BitbucketCloudHost {
    let credential = Credential::Basic {
        username: sim.username(),
        password: Secret::new(sim.token()),
    };
    host_with(sim, credential, &sim.org(), cache)
}

fn team<'a>(snapshot: &'a RemoteSnapshot, slug: &str) -> &'a RemoteTeam {
    snapshot
        .teams
        .items
        .iter()
        .find(|t| t.slug == slug)
        .unwrap()
}

#[tokio::test]
async fn snapshot_reports_workspace_groups_and_packages_when_demo_scenario() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let bitbucket = host(&sim, Arc::new(MemoryCache::default()));
    let phases = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let seen = phases.clone();
    let progress: ProgressFn = Arc::new(move |p| seen.lock().unwrap().push(p));

    let snap = bitbucket.snapshot(progress).await.unwrap();

    assert!(snap.is_complete());
    assert_eq!(snap.org.login, "acme");
    assert_eq!(snap.org.name.as_deref(), Some("Acme Corp"));
    assert!(snap.org.id.0.starts_with('{'), "{}", snap.org.id);
    let admins: Vec<_> = snap.admins.items.iter().map(|a| a.login.as_str()).collect();
    assert_eq!(admins, ["alice", "bob"]);
    assert_eq!(snap.teams.items.len(), 5);
    let platform = team(&snap, "platform");
    assert_eq!(platform.name, "Platform");
    assert_eq!(logins(platform), ["alice", "carol", "dave"]);
    assert_eq!(logins(team(&snap, "contractors")), ["mallory", "trent"]);
    let id = |name| repo(&snap, name).id.clone();
    let perm = |t: &RemoteTeam, name| {
        let repo_id = id(name);
        t.repos
            .items
            .iter()
            .find(|(r, _)| *r == repo_id)
            .map(|p| p.1)
    };
    assert_eq!(perm(platform, "log"), Some(Permission::Admin));
    assert_eq!(perm(platform, "http-client"), Some(Permission::Write));
    assert_eq!(perm(platform, "cache"), Some(Permission::Write));
    let security = team(&snap, "security");
    assert_eq!(perm(security, "payments-sdk"), Some(Permission::Read));
    assert_eq!(perm(security, "legacy-auth"), Some(Permission::Write));
    // infra-scripts has no composer.json: its permissions are not read.
    assert_eq!(perm(security, "infra-scripts"), None);
    assert_eq!(
        perm(team(&snap, "web"), "http-client"),
        Some(Permission::Read)
    );
    assert_eq!(
        perm(team(&snap, "web"), "legacy-auth"),
        Some(Permission::Read)
    );

    assert_eq!(snap.repos.items.len(), 12);
    let handbook = repo(&snap, "handbook");
    assert_eq!(handbook.refs.items.len(), 1);
    assert_eq!(handbook.default_ref().unwrap().manifest, Manifest::Missing);
    assert_eq!(
        repo(&snap, "infra-scripts").default_ref().unwrap().manifest,
        Manifest::Missing
    );

    let log = repo(&snap, "log");
    assert_eq!(log.full_name, "acme/log");
    assert_eq!(log.id.0, sim.repo_id("log").unwrap());
    assert!(
        log.clone_url.ends_with("/acme/log.git"),
        "{}",
        log.clone_url
    );
    assert!(log.html_url.ends_with("/acme/log"), "{}", log.html_url);
    let refs: Vec<_> = log
        .refs
        .items
        .iter()
        .map(|r| (r.kind, r.name.as_str()))
        .collect();
    assert_eq!(
        refs,
        [
            (RefKind::Tag, "v1.0.0"),
            (RefKind::Tag, "v1.1.0"),
            (RefKind::Tag, "v2.0.0-beta1"),
            (RefKind::Branch, "1.x"),
            (RefKind::Branch, "main"),
        ]
    );
    for r in &log.refs.items {
        assert_eq!(
            Some(r.commit.as_str()),
            sim.commit_of("log", &r.name).as_deref()
        );
        assert_eq!(r.commit.len(), 40);
    }
    let Manifest::Found(v1) = manifest(log, "v1.0.0") else {
        panic!("v1.0.0 manifest")
    };
    assert_eq!(v1["require"]["php"], ">=7.4");
    let Manifest::Found(http) = manifest(repo(&snap, "http-client"), "main") else {
        panic!("http-client manifest")
    };
    assert_eq!(http["extra"]["branch-alias"]["dev-main"], "2.x-dev");
    assert!(matches!(
        manifest(repo(&snap, "payments-sdk"), "v0.9.0"),
        Manifest::Invalid(_)
    ));
    assert_eq!(repo(&snap, "legacy-auth").default_branch, "master");
    assert!(matches!(
        repo(&snap, "legacy-auth").default_ref().unwrap().manifest,
        Manifest::Found(_)
    ));

    let phases = phases.lock().unwrap();
    for phase in ["organization", "teams", "repositories"] {
        let last = phases.iter().rev().find(|p| p.phase == phase).unwrap();
        assert_eq!(last.done, last.total, "{phase}");
    }
}

#[tokio::test]
async fn snapshot_is_the_same_when_authenticated_with_an_access_token() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let basic = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    let bearer = host_with(
        &sim,
        Credential::Token(Secret::new(sim.token())),
        &sim.org(),
        Arc::new(MemoryCache::default()),
    )
    .snapshot(quiet())
    .await
    .unwrap();
    assert_eq!(basic, bearer);
}

#[tokio::test]
async fn repositories_are_all_listed_when_spread_over_pages() {
    let spec = GeneratedSpec {
        repos: 230,
        with_composer: 3,
        tags: 1,
        branches: 1,
        teams: 2,
        members: 5,
    };
    let sim = BitbucketCloudSim::start(Scenario::generated(spec))
        .await
        .unwrap();
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snap.is_complete());
    assert_eq!(snap.repos.items.len(), 230);
    assert_eq!(sim.stats().route(REPOS), 3, "pagelen=100, next followed");
    let packages = snap
        .repos
        .items
        .iter()
        .filter(|r| {
            matches!(
                r.default_ref().map(|d| &d.manifest),
                Some(Manifest::Found(_))
            )
        })
        .count();
    assert_eq!(packages, 3);
    assert_eq!(sim.stats().route(GROUP_PERMISSIONS), 3, "only packages");
}

#[tokio::test]
async fn resync_reads_no_refs_or_manifests_when_nothing_changed() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let first = host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    assert!(sim.stats().route(SRC) > 0);
    sim.reset_stats();

    let second = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(first, second);
    let stats = sim.stats();
    assert_eq!(stats.route(SRC), 0, "no manifest refetched");
    assert_eq!(stats.route(REFS), 0, "updated_on unchanged: refs reused");
    // Workspace, owners, groups, one repository page and the group
    // permissions of the 10 repositories with a composer.json.
    assert_eq!(stats.requests, 4 + 10, "{stats:?}");
}

#[tokio::test]
async fn only_the_new_tag_is_read_when_a_tag_is_added() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    let sha = sim.add_tag("log", "v1.2.0").unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    let stats = sim.stats();
    assert_eq!(
        stats.route(REFS),
        1,
        "only log's refs are read again, branches and tags in one listing: {stats:?}"
    );
    assert_eq!(stats.route(SRC), 1, "only the new commit's manifest");
    let log = repo(&snap, "log");
    let tag = log.refs.items.iter().find(|r| r.name == "v1.2.0").unwrap();
    assert_eq!(tag.commit, sha);
    assert!(matches!(tag.manifest, Manifest::Found(_)));
}

#[tokio::test]
async fn changed_manifest_is_read_when_a_branch_moves_and_a_repo_is_created() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    let composer = serde_json::json!({ "name": "acme/log", "require": { "php": ">=8.3" } });
    let main = sim.set_composer("log", "main", Some(&composer)).unwrap();
    sim.create_repo(&RepoSpec {
        composer: demo().repos[3].composer.clone(),
        ..RepoSpec::new("fresh")
    })
    .unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(sim.stats().route(SRC), 2, "log's main and fresh's main");
    let log = repo(&snap, "log");
    assert_eq!(log.default_ref().unwrap().commit, main);
    let Manifest::Found(m) = &log.default_ref().unwrap().manifest else {
        panic!("changed manifest")
    };
    assert_eq!(m["require"]["php"], ">=8.3");
    assert!(matches!(
        repo(&snap, "fresh").default_ref().unwrap().manifest,
        Manifest::Found(_)
    ));
}

#[tokio::test]
async fn group_changes_show_when_member_added_and_repo_deleted() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    sim.add_team_member("contractors", "ivan").unwrap();
    sim.remove_team_member("platform", "dave").unwrap();
    sim.delete_repo("ui-kit").unwrap();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(
        logins(team(&snap, "contractors")),
        ["ivan", "mallory", "trent"]
    );
    assert_eq!(logins(team(&snap, "platform")), ["alice", "carol"]);
    assert_eq!(snap.repos.items.len(), 11);
    assert!(team(&snap, "contractors").repos.items.is_empty());
}

#[tokio::test]
async fn listing_is_retried_when_server_errors_are_transient() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    sim.faults().fail_next("/2.0/repositories/acme", 2, 502);
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snap.is_complete());
    assert_eq!(snap.repos.items.len(), 12);
    assert_eq!(sim.stats().route(REPOS), 3);
}

#[tokio::test]
async fn listing_is_partial_when_server_errors_persist() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    sim.faults().fail_next("/1.0/groups/acme", 1000, 500);
    sim.faults()
        .fail_next("/2.0/repositories/acme/log/refs", 1000, 503);
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(!snap.teams.complete);
    assert!(snap.teams.items.is_empty());
    assert!(snap.repos.complete);
    let log = repo(&snap, "log");
    assert!(!log.refs.complete);
    assert!(!snap.is_complete());
}

#[tokio::test]
async fn team_repos_are_partial_when_a_repository_permission_listing_fails() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    sim.faults().fail_next(
        "/2.0/repositories/acme/cache/permissions-config/groups",
        1000,
        500,
    );
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snap.teams.complete, "the groups themselves were read");
    assert!(snap.teams.items.iter().all(|t| !t.repos.complete));
    assert!(!snap.is_complete());
}

#[tokio::test]
async fn teams_are_partial_when_the_groups_api_refuses_the_credential() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    sim.faults().fail_next("/1.0/groups/acme", 1, 401);
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(!snap.teams.complete);
    assert!(snap.repos.complete);
}

#[tokio::test]
async fn unauthorized_is_returned_when_credentials_are_wrong() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    for credential in [
        Credential::Token(Secret::new("bb_wrong_token_value")),
        Credential::Basic {
            username: sim.username(),
            password: Secret::new("bb_wrong_token_value"),
        },
    ] {
        let bitbucket = host_with(&sim, credential, "acme", Arc::new(MemoryCache::default()));
        let err = bitbucket.verify().await.unwrap_err();
        assert!(
            matches!(err, ProviderError::Unauthorized { ref message, .. } if message == "Invalid or expired credentials"),
            "{err:?}"
        );
        assert!(!err.to_string().contains("bb_wrong_token_value"));
        let err = bitbucket.snapshot(quiet()).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unauthorized { .. }));
    }
}

#[tokio::test]
async fn org_not_found_is_returned_when_workspace_is_unknown() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let credential = Credential::Token(Secret::new(sim.token()));
    let bitbucket = host_with(&sim, credential, "nope", Arc::new(MemoryCache::default()));
    assert!(
        matches!(bitbucket.verify().await, Err(ProviderError::OrgNotFound { ref org, .. }) if org == "nope")
    );
    assert!(matches!(
        bitbucket.snapshot(quiet()).await,
        Err(ProviderError::OrgNotFound { .. })
    ));
}

#[tokio::test]
async fn rate_limit_is_waited_out_when_retry_after_is_short() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    sim.faults().exhaust_rate_limit(Duration::from_secs(1));
    let bitbucket = host(&sim, Arc::new(MemoryCache::default()));
    let org = tokio::time::timeout(Duration::from_secs(30), bitbucket.verify())
        .await
        .expect("safety net")
        .unwrap();
    assert_eq!(org.login, "acme");
    assert!(sim.stats().requests >= 2, "first request was refused");
}

#[tokio::test]
async fn rate_limited_is_returned_when_retry_after_is_beyond_max_wait() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    sim.faults().exhaust_rate_limit(Duration::from_secs(120));
    let err = host(&sim, Arc::new(MemoryCache::default()))
        .verify()
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn archive_has_the_host_layout_when_fetched_twice() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let bitbucket = host(&sim, Arc::new(MemoryCache::default()));
    let sha = sim.commit_of("log", "v1.1.0").unwrap();

    let first = bitbucket.fetch_archive("acme/log", &sha).await.unwrap();
    let second = bitbucket.fetch_archive("acme/log", &sha).await.unwrap();

    assert_eq!(first, second, "byte-identical");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(first.to_vec())).unwrap();
    let top = format!("acme-log-{}/", &sha[..12]);
    let names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    assert!(names.iter().all(|n| n.starts_with(&top)), "{names:?}");
    let mut composer = String::new();
    zip.by_name(&format!("{top}composer.json"))
        .unwrap()
        .read_to_string(&mut composer)
        .unwrap();
    assert!(composer.contains("acme/log"));
    assert_eq!(sim.stats().route(DOWNLOAD), 2, "served by the web host");
}

#[tokio::test]
async fn archive_is_refused_without_credentials_when_asked_directly() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let sha = sim.commit_of("log", "main").unwrap();
    let url = format!(
        "{}/acme/log/get/{sha}.zip",
        sim.api_url().trim_end_matches("/2.0")
    );
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn debug_output_hides_secret_when_formatted() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let token = sim.token();
    for credential in [
        Credential::Token(Secret::new(token.clone())),
        Credential::Basic {
            username: sim.username(),
            password: Secret::new(token.clone()),
        },
    ] {
        let bitbucket = host_with(
            &sim,
            credential.clone(),
            "acme",
            Arc::new(MemoryCache::default()),
        );
        bitbucket.verify().await.unwrap();
        assert!(!format!("{bitbucket:?}").contains(&token));
        assert!(!format!("{credential:?}").contains(&token));
    }
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()).unwrap()
}

#[tokio::test]
async fn simulator_fields_exist_in_fixtures_when_compared() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let client = reqwest::Client::new();
    let api = sim.api_url();
    let get = |path: String| {
        client
            .get(format!("{api}{path}"))
            .bearer_auth(sim.token())
            .send()
    };
    // Page envelopes: every key the simulator sends appears in some
    // fixture's envelope.
    let envelope_keys: Vec<String> = [
        "get-repositories-ws.json",
        "get-workspaces-ws-permissions-repositories.json",
        "get-repositories-ws-slug-refs-branches.json",
        "get-repositories-ws-slug-refs-tags.json",
    ]
    .iter()
    .flat_map(|f| {
        fixture(f)
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    })
    .collect();
    let cases = [
        ("/workspaces/acme", "get-workspaces-ws.json", false),
        (
            "/repositories/acme?pagelen=2",
            "get-repositories-ws.json",
            true,
        ),
        (
            "/repositories/acme/log/refs/branches",
            "get-repositories-ws-slug-refs-branches.json",
            true,
        ),
        (
            "/repositories/acme/log/refs/tags",
            "get-repositories-ws-slug-refs-tags.json",
            true,
        ),
        (
            "/repositories/acme/log",
            "get-repositories-ws-slug.json",
            false,
        ),
        ("/repositories/acme/dev", "errors/404-not-found.json", false),
        ("/workspaces/nope", "errors/404-not-found.json", false),
    ];
    for (path, name, paged) in cases {
        let body: Value = get(path.to_owned()).await.unwrap().json().await.unwrap();
        let expected = fixture(name);
        let mut extra = Vec::new();
        if paged {
            let page = body.as_object().unwrap();
            extra.extend(page.keys().filter(|k| !envelope_keys.contains(k)).cloned());
            extra_fields(&page["values"], &expected["values"], path, &mut extra);
        } else {
            extra_fields(&body, &expected, path, &mut extra);
        }
        assert!(extra.is_empty(), "{name}: {extra:?}");
    }
    // A single repository has the listing's shape.
    let listed: Value = get("/repositories/acme".to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut extra = Vec::new();
    extra_fields(
        &listed["values"][0],
        &fixture("get-repositories-ws-slug.json"),
        "repo",
        &mut extra,
    );
    assert!(extra.is_empty(), "{extra:?}");
    // The user objects of workspace memberships have the fixture's fields.
    let owners: Value = get("/workspaces/acme/permissions".to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let permission = fixture("get-workspaces-ws-permissions-repositories.json");
    let mut extra = Vec::new();
    extra_fields(
        &owners["values"][0]["user"],
        &permission["values"][0]["user"],
        "user",
        &mut extra,
    );
    assert!(extra.is_empty(), "{extra:?}");
    // composer.json comes raw, as in the fixture.
    let sha = sim.commit_of("log", "main").unwrap();
    let raw = get(format!("/repositories/acme/log/src/{sha}/composer.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&raw).unwrap()["name"],
        "acme/log"
    );
    let missing = get(format!(
        "/repositories/acme/handbook/src/{sha}/composer.json"
    ))
    .await
    .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn simulator_hook_api_speaks_the_fixture_shape_and_refuses_workspace_events() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let client = reqwest::Client::new();
    let hooks_url = format!("{}/repositories/acme/log/hooks", sim.api_url());
    let create = |events: Value| {
        client
            .post(&hooks_url)
            .bearer_auth(sim.token())
            .json(&serde_json::json!({
                "description": "packyard",
                "url": "http://p.test/w",
                "active": true,
                "events": events,
                "secret": "s",
            }))
            .send()
    };

    let refused = create(serde_json::json!(["repo:push", "repo:created"]))
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let created = create(serde_json::json!(["repo:push"])).await.unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    let mut extra = Vec::new();
    extra_fields(
        &body,
        &fixture("post-repositories-ws-slug-hooks.json"),
        "hook",
        &mut extra,
    );
    assert!(extra.is_empty(), "{extra:?}");
    assert_eq!(body["description"], "packyard");
    assert!(body.get("secret").is_none(), "the secret is never shown");

    let uuid = body["uuid"].as_str().unwrap();
    let one = format!(
        "{hooks_url}/{}",
        uuid.replace('{', "%7B").replace('}', "%7D")
    );
    let listed: Value = client
        .get(&hooks_url)
        .bearer_auth(sim.token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["values"][0]["uuid"], uuid);
    let deleted = client
        .delete(&one)
        .bearer_auth(sim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = client
        .get(&one)
        .bearer_auth(sim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let error: Value = gone.json().await.unwrap();
    assert!(error["error"]["message"].is_string(), "{error}");
}

#[tokio::test]
async fn simulator_sends_rate_limit_headers_when_an_access_token_reads_repositories() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}/repositories/acme", sim.api_url()))
        .bearer_auth(sim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-ratelimit-limit"], "1000");
    assert_eq!(response.headers()["x-ratelimit-resource"], "api");
    assert!(
        response.headers().get("etag").is_none(),
        "no conditional requests"
    );
}

/// Request counts of a benchmark-sized workspace; prints the numbers.
#[tokio::test]
#[ignore = "benchmark-sized; run with --ignored --nocapture"]
async fn request_counts_are_reported_when_generated_workspace_is_synced_twice() {
    let spec = GeneratedSpec {
        repos: 1000,
        with_composer: 700,
        tags: 5,
        branches: 2,
        teams: 100,
        members: 2000,
    };
    let sim = BitbucketCloudSim::start(Scenario::generated(spec))
        .await
        .unwrap();
    let cache = Arc::new(MemoryCache::default());
    // The 1.0 groups resource is one unpaginated body (about 1.4 MB here).
    let connect = |cache: Arc<MemoryCache>| {
        let credential = Credential::Basic {
            username: sim.username(),
            password: Secret::new(sim.token()),
        };
        let settings = ClientSettings {
            max_body_bytes: 8 << 20,
            ..settings()
        };
        BitbucketCloudHost::new(&sim.api_url(), &sim.org(), &credential, cache, &settings).unwrap()
    };
    let started = std::time::Instant::now();
    let bitbucket = connect(cache.clone());
    let first = bitbucket.snapshot(quiet()).await.unwrap();
    let full = (bitbucket.stats(), started.elapsed());
    let stats = sim.stats();
    sim.reset_stats();
    let started = std::time::Instant::now();
    let bitbucket = connect(cache);
    let second = bitbucket.snapshot(quiet()).await.unwrap();
    let resync = (bitbucket.stats(), started.elapsed());
    let again = sim.stats();
    assert!(first.is_complete() && first == second);
    println!(
        "full snapshot: {full:?}, manifests {}, refs {}, group permissions {}",
        stats.route(SRC),
        stats.route(REFS),
        stats.route(GROUP_PERMISSIONS)
    );
    println!(
        "no-change resync: {resync:?}, 304s {}, manifests {}, refs {} (skipped {} repos by updated_on), group permissions {}",
        again.not_modified,
        again.route(SRC),
        again.route(REFS),
        first.repos.items.len(),
        again.route(GROUP_PERMISSIONS)
    );
}
