//! The GitHub provider against the GitHub simulator on 127.0.0.1:0: full
//! snapshots, pagination, ETag resyncs, incremental manifests, retries,
//! rate limits, errors and archives.

mod support;

use packyard::domain::{
    Credential, Manifest, Permission, RefKind, RemoteId, RemoteSnapshot, RemoteTeam, Secret,
    Timestamp,
};
use packyard::providers::github::GithubHost;
use packyard::providers::{
    ClientSettings, CodeHost, MemoryCache, Progress, ProgressFn, ProviderCache, ProviderError,
};
use packyard::simulate::{GeneratedSpec, GithubSim, Scenario};
use serde_json::Value;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::snapshots::*;

const CONTENTS: &str = "/repos/{owner}/{repo}/contents/{*path}";
const BRANCHES: &str = "/repos/{owner}/{repo}/branches";
const TAGS: &str = "/repos/{owner}/{repo}/tags";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/github/api");

fn host_with(sim: &GithubSim, token: &str, org: &str, cache: Arc<MemoryCache>) -> GithubHost {
    GithubHost::new(
        &sim.api_url(),
        org,
        &Credential::Token(Secret::new(token)),
        cache,
        &settings(),
    )
    .unwrap()
}

fn host(sim: &GithubSim, cache: Arc<MemoryCache>) -> GithubHost {
    host_with(sim, &sim.token(), &sim.org(), cache)
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
async fn snapshot_reports_org_teams_and_packages_when_demo_scenario() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = host(&sim, Arc::new(MemoryCache::default()));
    let phases = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let seen = phases.clone();
    let progress: ProgressFn = Arc::new(move |p| seen.lock().unwrap().push(p));

    let snap = github.snapshot(progress).await.unwrap();

    assert!(snap.is_complete());
    assert_eq!(snap.org.login, "acme");
    assert_eq!(snap.org.name.as_deref(), Some("Acme Corp"));
    let admins: Vec<_> = snap.admins.items.iter().map(|a| a.login.as_str()).collect();
    assert_eq!(admins, ["alice", "bob"]);
    assert_eq!(snap.teams.items.len(), 5);
    let platform = team(&snap, "platform");
    let members: Vec<_> = platform
        .members
        .items
        .iter()
        .map(|m| m.login.as_str())
        .collect();
    assert_eq!(members, ["alice", "carol", "dave"]);
    let log_id = repo(&snap, "log").id.clone();
    let http_id = repo(&snap, "http-client").id.clone();
    let sdk_id = repo(&snap, "payments-sdk").id.clone();
    let perm = |t: &RemoteTeam, id| t.repos.items.iter().find(|(r, _)| r == id).map(|p| p.1);
    assert_eq!(perm(platform, &log_id), Some(Permission::Admin));
    assert_eq!(perm(platform, &http_id), Some(Permission::Write));
    assert_eq!(
        perm(team(&snap, "security"), &sdk_id),
        Some(Permission::Read)
    );
    assert_eq!(perm(team(&snap, "web"), &http_id), Some(Permission::Read));

    assert_eq!(snap.repos.items.len(), 12);
    let ids: Vec<u64> = snap
        .repos
        .items
        .iter()
        .map(|r| r.id.0.parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by id");
    let handbook = repo(&snap, "handbook");
    assert_eq!(handbook.refs.items.len(), 1);
    assert_eq!(handbook.default_ref().unwrap().manifest, Manifest::Missing);
    assert_eq!(
        repo(&snap, "infra-scripts").default_ref().unwrap().manifest,
        Manifest::Missing
    );

    let log = repo(&snap, "log");
    assert!(log.clone_url.ends_with("/acme/log.git"));
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
        manifest(repo(&snap, "http-client"), "release-candidate"),
        Manifest::Found(_)
    ));
    assert!(matches!(
        manifest(repo(&snap, "payments-sdk"), "v0.9.0"),
        Manifest::Invalid(_)
    ));
    assert_eq!(repo(&snap, "legacy-auth").default_branch, "master");

    let phases = phases.lock().unwrap();
    for phase in ["organization", "teams", "repositories"] {
        let last = phases.iter().rev().find(|p| p.phase == phase).unwrap();
        assert_eq!(last.done, last.total, "{phase}");
    }
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
    let sim = GithubSim::start(Scenario::generated(spec)).await.unwrap();
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snap.is_complete());
    assert_eq!(snap.repos.items.len(), 230);
    assert_eq!(sim.stats().route("/orgs/{org}/repos"), 3);
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
}

#[tokio::test]
async fn resync_is_answered_by_304s_when_nothing_changed() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let first = host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    assert!(sim.stats().route(CONTENTS) > 0);
    sim.reset_stats();

    let github = host(&sim, cache);
    let second = github.snapshot(quiet()).await.unwrap();

    assert_eq!(first, second);
    let stats = sim.stats();
    assert_eq!(stats.route(CONTENTS), 0, "no manifest refetched");
    assert_eq!(
        stats.route(BRANCHES) + stats.route(TAGS),
        0,
        "no push since: refs reused"
    );
    assert_eq!(stats.not_modified, stats.requests, "{stats:?}");
    assert_eq!(github.stats().not_modified, github.stats().requests);
}

#[tokio::test]
async fn refs_are_read_again_only_for_the_pushed_repo_when_pushed_at_moves() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    sim.add_tag_at("log", "v1.1.1", "v1.1.0").unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    let stats = sim.stats();
    assert_eq!(
        (stats.route(BRANCHES), stats.route(TAGS)),
        (1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.route(CONTENTS), 0, "the new tag's commit is known");
    assert!(
        repo(&snap, "log")
            .refs
            .items
            .iter()
            .any(|r| r.name == "v1.1.1")
    );
}

#[tokio::test]
async fn reused_refs_are_read_again_when_older_than_a_day() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    let log = RemoteId::from(sim.repo_id("log").unwrap());
    let mut known = cache.refs(&log).expect("complete refs are kept");
    known.checked_at = Timestamp(known.checked_at.0 - 25 * 60 * 60);
    cache.put_refs(&log, &known);
    sim.reset_stats();

    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();

    assert_eq!(
        sim.stats().route(BRANCHES),
        1,
        "only log's refs are checked again"
    );
    assert!(cache.refs(&log).unwrap().checked_at > known.checked_at);
}

#[tokio::test]
async fn only_changed_ref_is_refetched_when_tag_moves() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    let composer = serde_json::json!({ "name": "acme/log", "require": { "php": ">=8.3" } });
    let sha = sim.set_composer("log", "v1.1.0", Some(&composer)).unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(sim.stats().route(CONTENTS), 1);
    let v11 = repo(&snap, "log")
        .refs
        .items
        .iter()
        .find(|r| r.name == "v1.1.0")
        .unwrap();
    assert_eq!(v11.commit, sha);
    let Manifest::Found(m) = &v11.manifest else {
        panic!("changed manifest")
    };
    assert_eq!(m["require"]["php"], ">=8.3");
}

#[tokio::test]
async fn manifest_is_not_fetched_when_new_tag_shares_a_known_commit() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    sim.add_tag_at("log", "v2.0.0", "main").unwrap();
    sim.add_tag_at("log", "v2.0.1", "main").unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(sim.stats().route(CONTENTS), 0);
    assert!(matches!(
        manifest(repo(&snap, "log"), "v2.0.1"),
        Manifest::Found(_)
    ));
}

#[tokio::test]
async fn refs_sharing_a_commit_are_fetched_once_when_first_seen() {
    let scenario = Scenario::from_toml_str(
        r#"
        token = "t"
        [org]
        login = "acme"
        [[repos]]
        name = "twin"
        tags = ["v1.0.0"]
        composer = { name = "acme/twin" }
        "#,
    )
    .unwrap();
    let sim = GithubSim::start(scenario).await.unwrap();
    sim.add_tag_at("twin", "v1.0.1", "v1.0.0").unwrap();
    sim.add_tag_at("twin", "v1.1.0", "main").unwrap();

    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();

    // Two commits: main (= v1.1.0) and v1.0.0 (= v1.0.1).
    assert_eq!(sim.stats().route(CONTENTS), 2);
    let twin = repo(&snap, "twin");
    assert_eq!(twin.refs.items.len(), 4);
    assert!(
        twin.refs
            .items
            .iter()
            .all(|r| matches!(r.manifest, Manifest::Found(_)))
    );
}

#[tokio::test]
async fn listing_is_retried_when_server_errors_are_transient() {
    let sim = GithubSim::start(demo()).await.unwrap();
    sim.faults().fail_next("/orgs/acme/repos", 2, 502);
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snap.is_complete());
    assert_eq!(snap.repos.items.len(), 12);
    assert_eq!(sim.stats().route("/orgs/{org}/repos"), 3);
}

#[tokio::test]
async fn listing_is_partial_when_server_errors_persist() {
    let sim = GithubSim::start(demo()).await.unwrap();
    sim.faults().fail_next("/orgs/acme/teams", 1000, 500);
    sim.faults().fail_next("/repos/acme/log/tags", 1000, 503);
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(!snap.teams.complete);
    assert!(snap.teams.items.is_empty());
    assert!(snap.repos.complete);
    let log = repo(&snap, "log");
    assert!(!log.refs.complete);
    assert!(log.default_ref().is_some(), "branches still listed");
    assert!(!snap.is_complete());
}

#[tokio::test]
async fn unauthorized_is_returned_when_token_is_wrong() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = host_with(
        &sim,
        "ghp_wrong_token_value",
        "acme",
        Arc::new(MemoryCache::default()),
    );
    let err = github.verify().await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Unauthorized { ref message, .. } if message == "Bad credentials")
    );
    assert!(!err.to_string().contains("ghp_wrong_token_value"));
    let err = github.snapshot(quiet()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized { .. }));
}

#[tokio::test]
async fn org_not_found_is_returned_when_org_is_unknown() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = host_with(&sim, &sim.token(), "nope", Arc::new(MemoryCache::default()));
    assert!(
        matches!(github.verify().await, Err(ProviderError::OrgNotFound { ref org, .. }) if org == "nope")
    );
    assert!(matches!(
        github.snapshot(quiet()).await,
        Err(ProviderError::OrgNotFound { .. })
    ));
}

#[tokio::test]
async fn unreachable_is_returned_when_nothing_listens() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let token = sim.token();
    let dead = GithubSim::start(demo()).await.unwrap();
    let url = dead.api_url();
    dead.shutdown().await;
    let github = GithubHost::new(
        &url,
        "acme",
        &Credential::Token(Secret::new(token.clone())),
        Arc::new(MemoryCache::default()),
        &ClientSettings {
            max_attempts: 2,
            ..settings()
        },
    )
    .unwrap();
    let err = github.verify().await.unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{err:?}");
    assert!(!err.to_string().contains(&token));
}

#[tokio::test]
async fn rate_limit_is_waited_out_when_reset_is_near() {
    let sim = GithubSim::start(demo()).await.unwrap();
    sim.faults().exhaust_rate_limit(Duration::from_secs(1));
    let github = host(&sim, Arc::new(MemoryCache::default()));
    let org = tokio::time::timeout(Duration::from_secs(30), github.verify())
        .await
        .expect("safety net")
        .unwrap();
    assert_eq!(org.login, "acme");
    assert!(sim.stats().requests >= 2, "first request was refused");
}

#[tokio::test]
async fn retry_after_is_honoured_when_secondary_limit_hits() {
    let sim = GithubSim::start(demo()).await.unwrap();
    sim.faults().fail_next("/orgs/acme", 1, 429);
    let github = host(&sim, Arc::new(MemoryCache::default()));
    assert_eq!(github.verify().await.unwrap().login, "acme");
    assert_eq!(sim.stats().requests, 2);
}

#[tokio::test]
async fn rate_limited_is_returned_when_reset_is_beyond_max_wait() {
    let sim = GithubSim::start(demo()).await.unwrap();
    sim.faults().exhaust_rate_limit(Duration::from_secs(120));
    let err = host(&sim, Arc::new(MemoryCache::default()))
        .verify()
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn archive_has_one_top_folder_when_fetched_twice() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = host(&sim, Arc::new(MemoryCache::default()));
    let sha = sim.commit_of("log", "v1.1.0").unwrap();

    let first = github.fetch_archive("acme/log", &sha).await.unwrap();
    let second = github.fetch_archive("acme/log", &sha).await.unwrap();

    assert_eq!(first, second, "byte-identical");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(first.to_vec())).unwrap();
    let top = format!("acme-log-{}/", &sha[..7]);
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
    assert!(names.iter().any(|n| n.ends_with(".php")));
    // The codeload hop only answers with the token: the redirect kept it.
    assert_eq!(
        sim.stats()
            .route("/_codeload/{owner}/{repo}/legacy.zip/{sha}"),
        2
    );
}

#[tokio::test]
async fn archive_redirect_drops_token_when_it_leaves_the_host() {
    let sim = GithubSim::start(demo()).await.unwrap();
    // Reached as `localhost`, the simulator redirects to `127.0.0.1`: another
    // host to reqwest, which must not forward the Authorization header.
    let api = sim.api_url().replace("127.0.0.1", "localhost");
    let github = GithubHost::new(
        &api,
        "acme",
        &Credential::Token(Secret::new(sim.token())),
        Arc::new(MemoryCache::default()),
        &settings(),
    )
    .unwrap();
    let sha = sim.commit_of("log", "main").unwrap();
    let err = github.fetch_archive("acme/log", &sha).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err:?}");
    assert_eq!(
        sim.stats()
            .route("/repos/{owner}/{repo}/zipball/{*reference}"),
        1
    );
    assert_eq!(
        sim.stats()
            .route("/_codeload/{owner}/{repo}/legacy.zip/{sha}"),
        1
    );
}

#[tokio::test]
async fn debug_output_hides_token_when_formatted() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = host(&sim, Arc::new(MemoryCache::default()));
    github.verify().await.unwrap();
    let token = sim.token();
    let credential = Credential::Token(Secret::new(token.clone()));
    assert!(!format!("{github:?}").contains(&token));
    assert!(!format!("{credential:?}").contains(&token));
}

#[tokio::test]
async fn timeouts_are_retried_then_unreachable_when_host_stays_slow() {
    let sim = GithubSim::start(demo()).await.unwrap();
    sim.faults().set_latency(Duration::from_secs(5));
    let github = GithubHost::new(
        &sim.api_url(),
        "acme",
        &Credential::Token(Secret::new(sim.token())),
        Arc::new(MemoryCache::default()),
        &ClientSettings {
            max_attempts: 2,
            timeout: Duration::from_millis(100),
            ..settings()
        },
    )
    .unwrap();
    let err = github.verify().await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Unreachable { ref reason, .. } if reason.contains("timed out")),
        "{err:?}"
    );
    assert_eq!(github.stats().requests, 2);
}

#[tokio::test]
async fn listing_is_partial_when_body_exceeds_limit() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = GithubHost::new(
        &sim.api_url(),
        "acme",
        &Credential::Token(Secret::new(sim.token())),
        Arc::new(MemoryCache::default()),
        &ClientSettings {
            max_body_bytes: 2_000,
            ..settings()
        },
    )
    .unwrap();
    let snap = github.snapshot(quiet()).await.unwrap();
    assert!(!snap.repos.complete);
    assert!(snap.repos.items.is_empty());
}

#[tokio::test]
async fn new_commits_are_fetched_when_branch_pushed_tag_added_and_repo_created() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    let main = sim.push_branch("log", "main").unwrap();
    let tag = sim.add_tag("log", "v1.2.0").unwrap();
    sim.create_repo(&packyard::simulate::RepoSpec {
        composer: demo().repos[3].composer.clone(),
        ..packyard::simulate::RepoSpec::new("fresh")
    })
    .unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(sim.stats().route(CONTENTS), 3);
    let log = repo(&snap, "log");
    assert_eq!(log.default_ref().unwrap().commit, main);
    assert_eq!(
        log.refs
            .items
            .iter()
            .find(|r| r.name == "v1.2.0")
            .unwrap()
            .commit,
        tag
    );
    assert!(matches!(
        repo(&snap, "fresh").default_ref().unwrap().manifest,
        Manifest::Found(_)
    ));
}

#[tokio::test]
async fn simulator_fields_exist_in_fixtures_when_compared() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let client = reqwest::Client::new();
    let cases = [
        ("/user", "get-user.json"),
        ("/orgs/acme", "get-orgs-org.json"),
        ("/orgs/acme/members", "get-orgs-org-members.json"),
        ("/orgs/acme/teams", "get-orgs-org-teams.json"),
        (
            "/orgs/acme/teams/platform/members",
            "get-orgs-org-teams-team_slug-members.json",
        ),
        (
            "/orgs/acme/teams/platform/repos",
            "get-orgs-org-teams-team_slug-repos.json",
        ),
        ("/orgs/acme/repos", "get-orgs-org-repos.json"),
        (
            "/repos/acme/log/branches",
            "get-repos-owner-repo-branches.json",
        ),
        ("/repos/acme/log/tags", "get-repos-owner-repo-tags.json"),
        (
            "/repos/acme/log/contents/composer.json",
            "get-repos-owner-repo-contents-path.file.json",
        ),
        ("/orgs/nope", "errors/404-not-found.json"),
    ];
    for (path, fixture) in cases {
        let body: Value = client
            .get(format!("{}{path}", sim.api_url()))
            .bearer_auth(sim.token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{FIXTURES}/{fixture}")).unwrap(),
        )
        .unwrap();
        let mut extra = Vec::new();
        extra_fields(&body, &expected, path, &mut extra);
        assert!(extra.is_empty(), "{fixture}: {extra:?}");
    }
    let unauthorized: Value = client
        .get(format!("{}/orgs/acme", sim.api_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/errors/401-bad-credentials.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(unauthorized, expected);
}

#[tokio::test]
async fn team_changes_show_when_member_added_and_repo_deleted() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    sim.add_team_member("contractors", "ivan").unwrap();
    sim.remove_team_member("platform", "dave").unwrap();
    sim.delete_repo("ui-kit").unwrap();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    let logins = |slug| -> Vec<String> {
        team(&snap, slug)
            .members
            .items
            .iter()
            .map(|m| m.login.clone())
            .collect()
    };
    assert_eq!(logins("contractors"), ["ivan", "mallory", "trent"]);
    assert_eq!(logins("platform"), ["alice", "carol"]);
    assert_eq!(snap.repos.items.len(), 11);
    assert!(team(&snap, "contractors").repos.items.is_empty());
}

/// Request counts of a benchmark-sized organization; prints the numbers.
#[tokio::test]
#[ignore = "benchmark-sized; run with --ignored --nocapture"]
async fn request_counts_are_reported_when_generated_org_is_synced_twice() {
    let spec = GeneratedSpec {
        repos: 1000,
        with_composer: 700,
        tags: 5,
        branches: 2,
        teams: 100,
        members: 2000,
    };
    let sim = GithubSim::start(Scenario::generated(spec)).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let started = std::time::Instant::now();
    let github = host(&sim, cache.clone());
    let first = github.snapshot(quiet()).await.unwrap();
    let full = (github.stats(), started.elapsed());
    let stats = sim.stats();
    let started = std::time::Instant::now();
    let github = host(&sim, cache);
    let second = github.snapshot(quiet()).await.unwrap();
    let resync = (github.stats(), started.elapsed());
    assert!(first.is_complete() && first == second);
    println!(
        "full snapshot: {full:?}, manifests {}",
        stats.route(CONTENTS)
    );
    println!(
        "no-change resync: {resync:?}, manifests {}",
        sim.stats().route(CONTENTS) - stats.route(CONTENTS)
    );
}
