//! The Bitbucket Server provider against the Bitbucket Server simulator on
//! 127.0.0.1:0: full snapshots of the shared demo scenario, start/limit
//! pagination, incremental manifests, retries, rate limits, errors and
//! archives.

mod support;

use packyard::domain::{
    Credential, Manifest, Permission, RefKind, RemoteSnapshot, RemoteTeam, Secret,
};
use packyard::providers::bitbucket_server::BitbucketServerHost;
use packyard::providers::{
    ClientSettings, CodeHost, MemoryCache, Progress, ProgressFn, ProviderError,
};
use packyard::simulate::{BitbucketServerSim, GeneratedSpec, RepoRole, RepoSpec, Scenario};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::snapshots::*;

const REST: &str = "/rest/api/1.0";
const RAW: &str = "/rest/api/1.0/projects/{key}/repos/{slug}/raw/{*path}";
const BRANCHES: &str = "/rest/api/1.0/projects/{key}/repos/{slug}/branches";
const TAGS: &str = "/rest/api/1.0/projects/{key}/repos/{slug}/tags";
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/bitbucket-server/api"
);

fn host_with(
    sim: &BitbucketServerSim,
    credential: Credential,
    projects: &str,
    cache: Arc<MemoryCache>,
) -> BitbucketServerHost {
    BitbucketServerHost::new(&sim.api_url(), projects, &credential, cache, &settings()).unwrap()
}

fn host(sim: &BitbucketServerSim, cache: Arc<MemoryCache>) -> BitbucketServerHost {
    let token = Credential::Token(Secret::new(sim.token()));
    host_with(sim, token, &sim.org(), cache)
}

fn team<'a>(snapshot: &'a RemoteSnapshot, slug: &str) -> &'a RemoteTeam {
    snapshot
        .teams
        .items
        .iter()
        .find(|t| t.slug == slug)
        .unwrap_or_else(|| panic!("no team {slug}"))
}

/// login → repository name → the best permission any team gives them.
type Access = BTreeMap<String, BTreeMap<String, Permission>>;

fn access_in_snapshot(snapshot: &RemoteSnapshot) -> Access {
    let names: BTreeMap<_, _> = snapshot
        .repos
        .items
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.full_name.split('/').nth(1).unwrap().to_owned(),
            )
        })
        .collect();
    let mut access = Access::new();
    for team in &snapshot.teams.items {
        for member in &team.members.items {
            for (repo, permission) in &team.repos.items {
                let best = access
                    .entry(member.login.clone())
                    .or_default()
                    .entry(names[repo].clone())
                    .or_insert(*permission);
                *best = (*best).max(*permission);
            }
        }
    }
    access
}

fn access_in_scenario(scenario: &Scenario) -> Access {
    let mut access = Access::new();
    for team in &scenario.teams {
        for member in &team.members {
            for (repo, role) in &team.repos {
                let permission = match role {
                    RepoRole::Pull | RepoRole::Triage => Permission::Read,
                    RepoRole::Push | RepoRole::Maintain => Permission::Write,
                    RepoRole::Admin => Permission::Admin,
                };
                let best = access
                    .entry(member.clone())
                    .or_default()
                    .entry(repo.clone())
                    .or_insert(permission);
                *best = (*best).max(permission);
            }
        }
    }
    access
}

#[tokio::test]
async fn snapshot_reports_projects_teams_and_packages_when_demo_scenario() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let bitbucket = host(&sim, Arc::new(MemoryCache::default()));
    let phases = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let seen = phases.clone();
    let progress: ProgressFn = Arc::new(move |p| seen.lock().unwrap().push(p));

    let snap = bitbucket.snapshot(progress).await.unwrap();

    assert!(snap.is_complete());
    let host = sim.api_url().trim_start_matches("http://").to_owned();
    assert_eq!(snap.org.login, host);
    let admins: Vec<_> = snap.admins.items.iter().map(|a| a.login.as_str()).collect();
    assert_eq!(admins, ["alice", "bob"], "SYS_ADMIN user + ADMIN group");

    assert_eq!(logins(team(&snap, "LOG-admin")), ["alice", "carol", "dave"]);
    assert_eq!(logins(team(&snap, "LOG-read")), ["erin", "frank", "grace"]);
    assert_eq!(
        logins(team(&snap, "HTTP_CLIENT-read")),
        ["carol", "erin", "frank", "grace", "heidi", "ivan"]
    );
    let log_id = repo(&snap, "log").id.clone();
    assert_eq!(
        team(&snap, "LOG-admin").repos.items,
        [(log_id, Permission::Admin)]
    );
    assert_eq!(access_in_snapshot(&snap), access_in_scenario(&demo()));
    assert!(
        snap.teams
            .items
            .iter()
            .all(|t| !t.slug.starts_with("HANDBOOK")),
        "a project without grants has no team"
    );

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
    assert_eq!(log.full_name, "LOG/log");
    assert!(
        log.clone_url.ends_with("/scm/log/log.git"),
        "{}",
        log.clone_url
    );
    assert!(log.html_url.ends_with("/projects/LOG/repos/log/browse"));
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
async fn projects_are_all_listed_when_spread_over_pages() {
    let spec = GeneratedSpec {
        repos: 230,
        with_composer: 3,
        tags: 1,
        branches: 1,
        teams: 2,
        members: 5,
    };
    let sim = BitbucketServerSim::start(Scenario::generated(spec))
        .await
        .unwrap();
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snap.is_complete());
    assert_eq!(snap.repos.items.len(), 230);
    assert_eq!(sim.stats().route("/rest/api/1.0/projects"), 3);
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
async fn members_are_all_listed_when_group_spans_pages() {
    let spec = GeneratedSpec {
        repos: 2,
        with_composer: 1,
        tags: 1,
        branches: 1,
        teams: 1,
        members: 250,
    };
    let sim = BitbucketServerSim::start(Scenario::generated(spec))
        .await
        .unwrap();
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snap.is_complete());
    let team = &snap.teams.items[0];
    assert_eq!(team.members.items.len(), 250);
    assert_eq!(
        sim.stats().route("/rest/api/1.0/admin/groups/more-members"),
        3 + 1,
        "three pages of team-0000, one of administrators"
    );
}

#[tokio::test]
async fn resync_fetches_no_manifest_when_nothing_changed() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let first = host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    assert!(sim.stats().route(RAW) > 0);
    sim.reset_stats();

    let bitbucket = host(&sim, cache);
    let second = bitbucket.snapshot(quiet()).await.unwrap();

    assert_eq!(first, second);
    let stats = sim.stats();
    assert_eq!(stats.route(RAW), 0, "no manifest refetched");
    // No ETags and no "last pushed" marker: the listings are the change
    // detection, one branch listing per repository and tags for packages.
    assert_eq!(stats.route(BRANCHES), 12);
    assert_eq!(stats.route(TAGS), 10);
    assert_eq!(stats.not_modified, 0);
    assert_eq!(bitbucket.stats().requests, stats.requests);
}

#[tokio::test]
async fn only_the_new_tags_manifest_is_fetched_when_a_tag_is_added() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    let composer = serde_json::json!({ "name": "acme/log", "require": { "php": ">=8.3" } });
    let sha = sim.set_composer("log", "v1.1.0", Some(&composer)).unwrap();
    sim.add_tag_at("log", "v1.1.1", "main").unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(sim.stats().route(RAW), 1, "v1.1.1 is a known commit");
    let log = repo(&snap, "log");
    let v11 = log.refs.items.iter().find(|r| r.name == "v1.1.0").unwrap();
    assert_eq!(v11.commit, sha);
    let Manifest::Found(m) = &v11.manifest else {
        panic!("changed manifest")
    };
    assert_eq!(m["require"]["php"], ">=8.3");
    assert!(matches!(manifest(log, "v1.1.1"), Manifest::Found(_)));
}

#[tokio::test]
async fn new_commits_are_fetched_when_branch_pushed_tag_added_and_repo_created() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    let main = sim.push_branch("log", "main").unwrap();
    let tag = sim.add_tag("log", "v1.2.0").unwrap();
    sim.create_repo(&RepoSpec {
        composer: demo().repos[3].composer.clone(),
        ..RepoSpec::new("fresh")
    })
    .unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(sim.stats().route(RAW), 3);
    let log = repo(&snap, "log");
    assert_eq!(log.default_ref().unwrap().commit, main);
    let v12 = log.refs.items.iter().find(|r| r.name == "v1.2.0").unwrap();
    assert_eq!(v12.commit, tag);
    assert_eq!(repo(&snap, "fresh").full_name, "FRESH/fresh");
    assert!(matches!(
        repo(&snap, "fresh").default_ref().unwrap().manifest,
        Manifest::Found(_)
    ));
}

#[tokio::test]
async fn listing_is_retried_when_server_errors_are_transient() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    sim.faults()
        .fail_next("/rest/api/1.0/projects/LOG/repos", 2, 502);
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snap.is_complete());
    assert_eq!(snap.repos.items.len(), 12);
    assert_eq!(
        sim.stats().route("/rest/api/1.0/projects/{key}/repos"),
        12 + 2
    );
}

#[tokio::test]
async fn listing_is_partial_when_server_errors_persist() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    sim.faults()
        .fail_next("/rest/api/1.0/projects/LOG/permissions/groups", 1000, 500);
    sim.faults()
        .fail_next("/rest/api/1.0/projects/LOG/repos/log/tags", 1000, 503);
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(!snap.teams.complete, "LOG's grants are unknown");
    assert!(snap.teams.items.iter().all(|t| !t.slug.starts_with("LOG-")));
    assert!(snap.repos.complete);
    let log = repo(&snap, "log");
    assert!(!log.refs.complete);
    assert!(log.default_ref().is_some(), "branches still listed");
    assert!(!snap.is_complete());
}

#[tokio::test]
async fn admins_are_partial_when_admin_permissions_are_refused() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    sim.faults()
        .fail_next("/rest/api/1.0/admin/permissions", 1000, 401);
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(!snap.admins.complete);
    assert!(snap.admins.items.is_empty());
    assert!(snap.teams.complete && snap.repos.complete);
}

#[tokio::test]
async fn unauthorized_is_returned_when_credentials_are_wrong() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let wrong = [
        Credential::Token(Secret::new("BBDC-wrong-token-value")),
        Credential::Basic {
            username: sim.username(),
            password: Secret::new("wrong-password-value"),
        },
    ];
    for credential in wrong {
        let bitbucket = host_with(&sim, credential, "", Arc::new(MemoryCache::default()));
        let err = bitbucket.verify().await.unwrap_err();
        assert!(
            matches!(err, ProviderError::Unauthorized { ref message, .. } if message.starts_with("Authentication failed")),
            "{err:?}"
        );
        assert!(!err.to_string().contains("wrong-"));
        let err = bitbucket.snapshot(quiet()).await.unwrap_err();
        assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn basic_auth_is_accepted_when_username_and_password_match() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let basic = Credential::Basic {
        username: sim.username(),
        password: Secret::new(sim.token()),
    };
    let bitbucket = host_with(&sim, basic, "LOG", Arc::new(MemoryCache::default()));
    let org = bitbucket.verify().await.unwrap();
    assert!(org.login.ends_with("/LOG"), "{}", org.login);
    assert_eq!(org.name.as_deref(), Some("log"));
}

#[tokio::test]
async fn org_not_found_is_returned_when_a_project_key_is_unknown() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let token = || Credential::Token(Secret::new(sim.token()));
    let bitbucket = host_with(&sim, token(), "LOG,NOPE", Arc::new(MemoryCache::default()));
    assert!(
        matches!(bitbucket.verify().await, Err(ProviderError::OrgNotFound { ref org, .. }) if org == "NOPE")
    );
    assert!(matches!(
        bitbucket.snapshot(quiet()).await,
        Err(ProviderError::OrgNotFound { .. })
    ));
}

#[tokio::test]
async fn only_selected_projects_are_synced_when_keys_are_given() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let token = Credential::Token(Secret::new(sim.token()));
    let bitbucket = host_with(
        &sim,
        token,
        "log, http_client",
        Arc::new(MemoryCache::default()),
    );
    let snap = bitbucket.snapshot(quiet()).await.unwrap();
    assert!(snap.is_complete());
    let names: Vec<_> = snap
        .repos
        .items
        .iter()
        .map(|r| r.full_name.as_str())
        .collect();
    assert_eq!(names, ["LOG/log", "HTTP_CLIENT/http-client"]);
    assert_eq!(snap.org.name.as_deref(), Some("log, http-client"));
    assert_eq!(sim.stats().route("/rest/api/1.0/projects"), 0);
}

#[tokio::test]
async fn direct_user_grant_joins_the_project_team_when_granted() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    sim.grant_user("log", "judy", RepoRole::Triage).unwrap();
    sim.grant_user("log", "alice", RepoRole::Push).unwrap();
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert_eq!(
        logins(team(&snap, "LOG-read")),
        ["erin", "frank", "grace", "judy"]
    );
    assert_eq!(logins(team(&snap, "LOG-write")), ["alice"]);
}

#[tokio::test]
async fn team_changes_show_when_member_added_and_repo_deleted() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    sim.add_team_member("contractors", "ivan").unwrap();
    sim.remove_team_member("platform", "dave").unwrap();
    sim.delete_repo("ui-kit").unwrap();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(logins(team(&snap, "LOG-admin")), ["alice", "carol"]);
    assert_eq!(snap.repos.items.len(), 11);
    assert!(
        snap.teams
            .items
            .iter()
            .all(|t| !t.slug.starts_with("UI_KIT"))
    );
    let access = access_in_snapshot(&snap);
    assert!(!access["ivan"].contains_key("ui-kit"));
}

#[tokio::test]
async fn rate_limit_is_waited_out_when_retry_after_is_near() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    sim.faults().exhaust_rate_limit(Duration::from_secs(1));
    let bitbucket = host(&sim, Arc::new(MemoryCache::default()));
    let org = tokio::time::timeout(Duration::from_secs(30), bitbucket.verify())
        .await
        .expect("safety net")
        .unwrap();
    assert!(!org.login.is_empty());
    assert!(sim.stats().requests >= 2, "first request was refused");
}

#[tokio::test]
async fn rate_limited_is_returned_when_retry_after_is_beyond_max_wait() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    sim.faults().exhaust_rate_limit(Duration::from_secs(120));
    let err = host(&sim, Arc::new(MemoryCache::default()))
        .verify()
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_is_returned_when_nothing_listens() {
    let dead = BitbucketServerSim::start(demo()).await.unwrap();
    let url = dead.api_url();
    dead.shutdown().await;
    let bitbucket = BitbucketServerHost::new(
        &url,
        "",
        &Credential::Token(Secret::new("BBDC-secret")),
        Arc::new(MemoryCache::default()),
        &ClientSettings {
            max_attempts: 2,
            ..settings()
        },
    )
    .unwrap();
    let err = bitbucket.snapshot(quiet()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{err:?}");
    assert!(!err.to_string().contains("BBDC-secret"));
}

#[tokio::test]
async fn archive_has_files_at_the_root_when_fetched_twice() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let bitbucket = host(&sim, Arc::new(MemoryCache::default()));
    let sha = sim.commit_of("log", "v1.1.0").unwrap();

    let first = bitbucket.fetch_archive("LOG/log", &sha).await.unwrap();
    let second = bitbucket.fetch_archive("LOG/log", &sha).await.unwrap();

    assert_eq!(first, second, "byte-identical");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(first.to_vec())).unwrap();
    assert_eq!(
        zip.comment(),
        sha.as_bytes(),
        "git archive's commit comment"
    );
    let names: Vec<String> = (0..zip.len())
        .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    assert_eq!(names, ["composer.json", "src/", "src/Placeholder.php"]);
    let mut composer = String::new();
    zip.by_name("composer.json")
        .unwrap()
        .read_to_string(&mut composer)
        .unwrap();
    assert!(composer.contains("acme/log"));
    let err = bitbucket.fetch_archive("LOG/nope", &sha).await.unwrap_err();
    assert!(matches!(err, ProviderError::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn debug_output_hides_secrets_when_formatted() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let token = sim.token();
    let credentials = [
        Credential::Token(Secret::new(token.clone())),
        Credential::Basic {
            username: sim.username(),
            password: Secret::new(token.clone()),
        },
    ];
    for credential in credentials {
        let bitbucket = host_with(
            &sim,
            credential.clone(),
            "LOG",
            Arc::new(MemoryCache::default()),
        );
        bitbucket.verify().await.unwrap();
        assert!(!format!("{bitbucket:?}").contains(&token));
        assert!(!format!("{credential:?}").contains(&token));
    }
}

#[tokio::test]
async fn simulator_fields_exist_in_fixtures_when_compared() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    sim.grant_user("log", "carol", RepoRole::Pull).unwrap();
    let client = reqwest::Client::new();
    // The admin permission listings have no published example; the project
    // ones share their shape.
    let cases = [
        ("/projects", "get-projects.json"),
        ("/projects/LOG", "get-projects-key.json"),
        (
            "/projects/LOG/permissions/users",
            "get-projects-key-permissions-users.json",
        ),
        (
            "/projects/LOG/permissions/groups",
            "get-projects-key-permissions-groups.json",
        ),
        ("/projects/LOG/repos", "get-projects-key-repos.json"),
        (
            "/projects/LOG/repos/log",
            "get-projects-key-repos-slug.json",
        ),
        (
            "/projects/LOG/repos/log/branches",
            "get-projects-key-repos-slug-branches.json",
        ),
        (
            "/projects/LOG/repos/log/tags",
            "get-projects-key-repos-slug-tags.json",
        ),
        (
            "/admin/groups/more-members?context=platform",
            "get-admin-groups-more-members.json",
        ),
        (
            "/admin/permissions/users",
            "get-projects-key-permissions-users.json",
        ),
        (
            "/admin/permissions/groups",
            "get-projects-key-permissions-groups.json",
        ),
        ("/projects/NOPE", "errors/404-not-found.json"),
        ("/projects/LOG/repos/nope", "errors/404-not-found.json"),
    ];
    for (path, fixture) in cases {
        let response = client
            .get(format!("{}{REST}{path}", sim.api_url()))
            .bearer_auth(sim.token())
            .send()
            .await
            .unwrap();
        assert!(response.headers().get("etag").is_none(), "{path}: no ETags");
        let body: Value = response.json().await.unwrap();
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{FIXTURES}/{fixture}")).unwrap(),
        )
        .unwrap();
        let mut extra = Vec::new();
        extra_fields(&body, &expected, path, &mut extra);
        assert!(extra.is_empty(), "{fixture}: {extra:?}");
    }
    let unauthorized = client
        .get(format!("{}{REST}/projects", sim.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let body: Value = unauthorized.json().await.unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/errors/404-not-found.json")).unwrap(),
    )
    .unwrap();
    let mut extra = Vec::new();
    extra_fields(&body, &expected, "401", &mut extra);
    assert!(extra.is_empty(), "{extra:?}");
}

#[tokio::test]
async fn simulator_webhook_api_speaks_the_fixture_shape_and_refuses_bad_hooks() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let client = reqwest::Client::new();
    let hooks_url = format!("{}{REST}/projects/LOG/repos/log/webhooks", sim.api_url());
    let fixture = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap())
            .unwrap()
    };
    let create = |hook: Value| {
        client
            .post(&hooks_url)
            .bearer_auth(sim.token())
            .json(&hook)
            .send()
    };
    let hook = |events: &[&str]| {
        serde_json::json!({
            "name": "packyard",
            "url": "http://p.test/w",
            "events": events,
            "active": true,
            "configuration": { "secret": "s" },
        })
    };

    for refused in [
        hook(&["repo:refs_changed", "repo:created"]),
        hook(&[]),
        serde_json::json!({ "url": "http://p.test/w", "events": ["repo:refs_changed"] }),
    ] {
        let response = create(refused.clone()).await.unwrap();
        assert_eq!(response.status(), 400, "{refused}");
        let body: Value = response.json().await.unwrap();
        assert!(body["errors"][0]["context"].is_string(), "{body}");
    }
    let created = create(hook(&["repo:refs_changed"])).await.unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    let mut extra = Vec::new();
    extra_fields(
        &body,
        &fixture("get-projects-key-repos-slug-webhooks.json")["values"][0],
        "created",
        &mut extra,
    );
    // The create example shows the secret in the configuration.
    assert_eq!(extra, ["created.configuration.secret"]);
    let mut extra = Vec::new();
    extra_fields(
        &body,
        &fixture("post-projects-key-repos-slug-webhooks.json"),
        "created",
        &mut extra,
    );
    assert_eq!(
        extra,
        ["created.scopeType", "created.sslVerificationRequired"]
    );

    let get = |url: String| client.get(url).bearer_auth(sim.token()).send();
    let listed: Value = get(hooks_url.clone()).await.unwrap().json().await.unwrap();
    let mut extra = Vec::new();
    let envelope = fixture("get-projects-key-repos-slug-webhooks.json");
    extra_fields(&listed, &envelope, "listed", &mut extra);
    assert_eq!(extra, ["listed.values[0].configuration.secret"]);
    let one = format!("{hooks_url}/{}", body["id"]);
    let deleted = client
        .delete(&one)
        .bearer_auth(sim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = get(one).await.unwrap();
    assert_eq!(gone.status(), 404);
    let body: Value = gone.json().await.unwrap();
    let mut extra = Vec::new();
    extra_fields(
        &body,
        &fixture("errors/404-not-found.json"),
        "404",
        &mut extra,
    );
    assert!(extra.is_empty(), "{extra:?}");
}

/// Request counts of a benchmark-sized instance; prints the numbers.
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
    let sim = BitbucketServerSim::start(Scenario::generated(spec))
        .await
        .unwrap();
    let cache = Arc::new(MemoryCache::default());
    let started = std::time::Instant::now();
    let bitbucket = host(&sim, cache.clone());
    let first = bitbucket.snapshot(quiet()).await.unwrap();
    let full = (bitbucket.stats(), started.elapsed());
    let stats = sim.stats();
    sim.reset_stats();
    let started = std::time::Instant::now();
    let bitbucket = host(&sim, cache);
    let second = bitbucket.snapshot(quiet()).await.unwrap();
    let resync = (bitbucket.stats(), started.elapsed());
    assert!(first.is_complete() && first == second);
    println!("full snapshot: {full:?}, manifests {}", stats.route(RAW));
    println!("  by route: {:#?}", stats.by_route);
    let again = sim.stats();
    println!(
        "no-change resync: {resync:?}, 304s {}, manifests {} (skipped {} by the commit cache)",
        again.not_modified,
        again.route(RAW),
        stats.route(RAW) - again.route(RAW)
    );
    println!("  by route: {:#?}", again.by_route);
}
