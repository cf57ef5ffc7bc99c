//! The GitLab provider against the GitLab simulator on 127.0.0.1:0: full
//! snapshots of the shared demo scenario, pagination (offset and keyset),
//! ETag resyncs, incremental manifests, retries, rate limits, errors and
//! archives.

mod support;

use packyard::domain::{
    Credential, Manifest, Permission, RefKind, RemoteId, RemoteSnapshot, RemoteTeam, Secret,
    Timestamp,
};
use packyard::providers::gitlab::GitlabHost;
use packyard::providers::{
    CodeHost, MemoryCache, Progress, ProgressFn, ProviderCache, ProviderError,
};
use packyard::simulate::{GeneratedSpec, GitlabSim, RepoSpec, Scenario};
use serde_json::Value;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::snapshots::*;

const FILES: &str = "/api/v4/projects/{id}/repository/files/{path}";
const BRANCHES: &str = "/api/v4/projects/{id}/repository/branches";
const TAGS: &str = "/api/v4/projects/{id}/repository/tags";
const PROJECTS: &str = "/api/v4/groups/{id}/projects";
const MEMBERS: &str = "/api/v4/groups/{id}/members/all";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/gitlab/api");

fn host_with(sim: &GitlabSim, token: &str, group: &str, cache: Arc<MemoryCache>) -> GitlabHost {
    GitlabHost::new(
        &sim.api_url(),
        group,
        &Credential::Token(Secret::new(token)),
        cache,
        &settings(),
    )
    .unwrap()
}

fn host(sim: &GitlabSim, cache: Arc<MemoryCache>) -> GitlabHost {
    host_with(sim, &sim.token(), &sim.org(), cache)
}

fn team<'a>(snapshot: &'a RemoteSnapshot, slug: &str) -> &'a RemoteTeam {
    snapshot
        .teams
        .items
        .iter()
        .find(|t| t.slug == slug)
        .unwrap_or_else(|| panic!("no team {slug}"))
}

#[tokio::test]
async fn snapshot_reports_group_teams_and_packages_when_demo_scenario() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let gitlab = host(&sim, Arc::new(MemoryCache::default()));
    let phases = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let seen = phases.clone();
    let progress: ProgressFn = Arc::new(move |p| seen.lock().unwrap().push(p));

    let snap = gitlab.snapshot(progress).await.unwrap();

    assert!(snap.is_complete());
    assert_eq!(snap.org.login, "acme");
    assert_eq!(snap.org.name.as_deref(), Some("Acme Corp"));
    let admins: Vec<_> = snap.admins.items.iter().map(|a| a.login.as_str()).collect();
    assert_eq!(admins, ["alice", "bob"]);
    let slugs: Vec<_> = snap.teams.items.iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(
        slugs,
        [
            "acme:owner",
            "acme/platform:developer",
            "acme/platform:owner",
            "acme/payments:developer",
            "acme/payments:owner",
            "acme/web:developer",
            "acme/web:owner",
            "acme/security:developer",
            "acme/security:owner",
            "acme/contractors:developer",
            "acme/contractors:owner",
        ]
    );
    assert_eq!(
        team(&snap, "acme/platform:developer").name,
        "Acme Corp / Platform (Developer)"
    );
    assert_eq!(
        logins(team(&snap, "acme/platform:developer")),
        ["carol", "dave"]
    );
    // bob is a Developer of security, but an Owner inherited from acme.
    assert_eq!(logins(team(&snap, "acme/security:developer")), ["judy"]);
    assert_eq!(logins(team(&snap, "acme/security:owner")), ["alice", "bob"]);
    assert_eq!(
        logins(team(&snap, "acme/contractors:developer")),
        ["mallory", "trent"]
    );

    let id = |name| repo(&snap, name).id.clone();
    let perm = |slug, name| {
        team(&snap, slug)
            .repos
            .items
            .iter()
            .find(|(r, _)| *r == id(name))
            .map(|p| p.1)
    };
    let owners = team(&snap, "acme:owner");
    assert_eq!(owners.repos.items.len(), 12);
    assert!(
        owners
            .repos
            .items
            .iter()
            .all(|(_, p)| *p == Permission::Admin)
    );
    // Shares: admin/maintain → Maintainer, push → Developer, pull/triage → Reporter.
    assert_eq!(
        perm("acme/platform:developer", "log"),
        Some(Permission::Write)
    );
    assert_eq!(perm("acme/platform:owner", "log"), Some(Permission::Write));
    assert_eq!(
        perm("acme/payments:developer", "http-client"),
        Some(Permission::Read)
    );
    assert_eq!(
        perm("acme/web:developer", "legacy-auth"),
        Some(Permission::Read)
    );
    assert_eq!(
        perm("acme/security:developer", "payments-sdk"),
        Some(Permission::Read)
    );
    assert_eq!(
        perm("acme/contractors:developer", "ui-kit"),
        Some(Permission::Read)
    );
    assert_eq!(perm("acme/contractors:developer", "log"), None);

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
    assert_eq!(log.full_name, "acme/log");
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
async fn listings_are_complete_when_spread_over_pages() {
    let spec = GeneratedSpec {
        repos: 230,
        with_composer: 3,
        tags: 1,
        branches: 1,
        teams: 2,
        members: 250,
    };
    let sim = GitlabSim::start(Scenario::generated(spec)).await.unwrap();
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snap.is_complete());
    assert_eq!(snap.repos.items.len(), 230);
    // Keyset pages of 100 projects; offset pages of 100 members per group.
    assert_eq!(sim.stats().route(PROJECTS), 3);
    assert_eq!(sim.stats().route(MEMBERS), 1 + 3 + 3);
    let developers = team(&snap, "bench/team-0000:developer");
    assert_eq!(developers.members.items.len(), 249, "all but the one owner");
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
async fn pagination_headers_follow_gitlab_when_listing_pages() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let client = reqwest::Client::new();
    let get = |path: String| {
        client
            .get(format!("{}{path}", sim.api_url()))
            .header("PRIVATE-TOKEN", sim.token())
            .send()
    };
    let offset = get("/groups/acme%2Fplatform/members/all?per_page=3&page=1".into())
        .await
        .unwrap();
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header(&offset, "x-total"), "4");
    assert_eq!(header(&offset, "x-total-pages"), "2");
    assert_eq!(header(&offset, "x-next-page"), "2");
    assert_eq!(header(&offset, "x-prev-page"), "");
    assert!(header(&offset, "link").contains("page=2>; rel=\"next\""));
    assert!(header(&offset, "etag").starts_with("W/\""));
    assert_eq!(header(&offset, "ratelimit-limit"), "2000");
    let id = sim.group_id("acme").unwrap();
    let keyset = get(format!(
        "/groups/{id}/projects?pagination=keyset&order_by=id&sort=asc&per_page=5"
    ))
    .await
    .unwrap();
    assert_eq!(
        header(&keyset, "x-total"),
        "",
        "keyset pages carry no totals"
    );
    let after = sim.repo_id("money").unwrap() - 1;
    assert!(
        header(&keyset, "link").contains(&format!("id_after={after}>; rel=\"next\"")),
        "{}",
        header(&keyset, "link")
    );
}

#[tokio::test]
async fn resync_is_answered_by_304s_when_nothing_changed() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let first = host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    assert!(sim.stats().route(FILES) > 0);
    sim.reset_stats();

    let gitlab = host(&sim, cache);
    let second = gitlab.snapshot(quiet()).await.unwrap();

    assert_eq!(first, second);
    let stats = sim.stats();
    assert_eq!(stats.route(FILES), 0, "no manifest refetched");
    assert_eq!(
        stats.route(BRANCHES) + stats.route(TAGS),
        0,
        "no activity since: refs reused"
    );
    assert_eq!(stats.not_modified, stats.requests, "{stats:?}");
    assert_eq!(gitlab.stats().not_modified, gitlab.stats().requests);
}

#[tokio::test]
async fn only_the_new_tag_manifest_is_fetched_when_a_tag_is_pushed() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    let sha = sim.add_tag("log", "v1.2.0").unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    let stats = sim.stats();
    assert_eq!(
        (stats.route(BRANCHES), stats.route(TAGS), stats.route(FILES)),
        (1, 1, 1),
        "{stats:?}"
    );
    let tag = repo(&snap, "log")
        .refs
        .items
        .iter()
        .find(|r| r.name == "v1.2.0")
        .unwrap();
    assert_eq!(tag.commit, sha);
    assert!(matches!(tag.manifest, Manifest::Found(_)));
}

#[tokio::test]
async fn manifest_is_not_fetched_when_new_tag_shares_a_known_commit() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    sim.add_tag_at("log", "v2.0.0", "main").unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(sim.stats().route(FILES), 0);
    assert!(matches!(
        manifest(repo(&snap, "log"), "v2.0.0"),
        Manifest::Found(_)
    ));
}

#[tokio::test]
async fn refs_are_read_again_when_read_within_an_hour_of_activity() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    // GitLab moves last_activity_at at most hourly: refs read right after
    // the last activity may miss a push that did not move it.
    let log = RemoteId::from(sim.repo_id("log").unwrap());
    let mut known = cache.refs(&log).expect("complete refs are kept");
    let activity = time::OffsetDateTime::parse(
        &known.pushed_at,
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    known.checked_at = Timestamp(activity.unix_timestamp() + 60);
    cache.put_refs(&log, &known);
    sim.reset_stats();

    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();

    assert_eq!(sim.stats().route(BRANCHES), 1, "only log's refs are read");
    assert_eq!(sim.stats().route(FILES), 0, "its manifests are cached");
    assert!(cache.refs(&log).unwrap().checked_at > known.checked_at);
}

#[tokio::test]
async fn new_commits_are_fetched_when_branch_pushed_and_project_created() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    let main = sim.push_branch("log", "main").unwrap();
    sim.create_repo(&RepoSpec {
        composer: demo().repos[3].composer.clone(),
        ..RepoSpec::new("fresh")
    })
    .unwrap();
    sim.reset_stats();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(sim.stats().route(FILES), 2);
    assert_eq!(repo(&snap, "log").default_ref().unwrap().commit, main);
    assert!(matches!(
        repo(&snap, "fresh").default_ref().unwrap().manifest,
        Manifest::Found(_)
    ));
    assert_eq!(team(&snap, "acme:owner").repos.items.len(), 13);
}

#[tokio::test]
async fn team_changes_show_when_member_added_and_project_deleted() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    host(&sim, cache.clone()).snapshot(quiet()).await.unwrap();
    sim.add_team_member("contractors", "ivan").unwrap();
    sim.remove_team_member("platform", "dave").unwrap();
    sim.delete_repo("ui-kit").unwrap();

    let snap = host(&sim, cache).snapshot(quiet()).await.unwrap();

    assert_eq!(
        logins(team(&snap, "acme/contractors:developer")),
        ["ivan", "mallory", "trent"]
    );
    assert_eq!(logins(team(&snap, "acme/platform:developer")), ["carol"]);
    assert_eq!(snap.repos.items.len(), 11);
    assert!(
        team(&snap, "acme/contractors:developer")
            .repos
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn nested_group_is_synced_when_org_is_a_subgroup_path() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let gitlab = host_with(
        &sim,
        &sim.token(),
        "acme/platform",
        Arc::new(MemoryCache::default()),
    );
    let org = gitlab.verify().await.unwrap();
    assert_eq!(org.login, "acme/platform");
    let snap = gitlab.snapshot(quiet()).await.unwrap();
    assert!(snap.is_complete());
    assert!(snap.repos.items.is_empty(), "its projects live in acme");
    assert_eq!(
        logins(team(&snap, "acme/platform:developer")),
        ["carol", "dave"]
    );
    assert_eq!(sim.stats().route("/api/v4/groups/{id}"), 2);
}

#[tokio::test]
async fn listing_is_retried_when_server_errors_are_transient() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let id = sim.group_id("acme").unwrap();
    sim.faults()
        .fail_next(&format!("/api/v4/groups/{id}/projects"), 2, 502);
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(snap.is_complete());
    assert_eq!(snap.repos.items.len(), 12);
    assert_eq!(sim.stats().route(PROJECTS), 3);
}

#[tokio::test]
async fn snapshot_is_partial_when_server_errors_persist() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let platform = sim.group_id("platform").unwrap();
    let log = sim.repo_id("log").unwrap();
    sim.faults()
        .fail_next(&format!("/api/v4/groups/{platform}/members"), 1000, 500);
    sim.faults().fail_next(
        &format!("/api/v4/projects/{log}/repository/tags"),
        1000,
        503,
    );
    let snap = host(&sim, Arc::new(MemoryCache::default()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert!(!snap.teams.complete);
    assert!(
        !snap
            .teams
            .items
            .iter()
            .any(|t| t.slug.starts_with("acme/platform")),
        "no members seen, no teams"
    );
    assert!(snap.admins.complete);
    assert!(snap.repos.complete);
    let log = repo(&snap, "log");
    assert!(!log.refs.complete);
    assert!(log.default_ref().is_some(), "branches still listed");
    assert!(!snap.is_complete());
}

#[tokio::test]
async fn unauthorized_is_returned_when_token_is_wrong() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let gitlab = host_with(
        &sim,
        "glpat-wrong-token-value",
        "acme",
        Arc::new(MemoryCache::default()),
    );
    let err = gitlab.verify().await.unwrap_err();
    assert!(
        matches!(err, ProviderError::Unauthorized { ref message, .. } if message == "401 Unauthorized"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("glpat-wrong-token-value"));
    let err = gitlab.snapshot(quiet()).await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized { .. }));
}

#[tokio::test]
async fn org_not_found_is_returned_when_group_is_unknown() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let gitlab = host_with(&sim, &sim.token(), "nope", Arc::new(MemoryCache::default()));
    assert!(
        matches!(gitlab.verify().await, Err(ProviderError::OrgNotFound { ref org, .. }) if org == "nope")
    );
    assert!(matches!(
        gitlab.snapshot(quiet()).await,
        Err(ProviderError::OrgNotFound { .. })
    ));
}

#[tokio::test]
async fn rate_limit_is_waited_out_when_reset_is_near() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    sim.faults().exhaust_rate_limit(Duration::from_secs(1));
    let gitlab = host(&sim, Arc::new(MemoryCache::default()));
    let org = tokio::time::timeout(Duration::from_secs(30), gitlab.verify())
        .await
        .expect("safety net")
        .unwrap();
    assert_eq!(org.login, "acme");
    assert!(sim.stats().requests >= 2, "first request was refused");
}

#[tokio::test]
async fn rate_limited_is_returned_when_reset_is_beyond_max_wait() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    sim.faults().exhaust_rate_limit(Duration::from_secs(120));
    let err = host(&sim, Arc::new(MemoryCache::default()))
        .verify()
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn archive_has_gitlab_top_folder_and_same_bytes_when_fetched_twice() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let gitlab = host(&sim, Arc::new(MemoryCache::default()));
    let sha = sim.commit_of("log", "v1.1.0").unwrap();

    let first = gitlab.fetch_archive("acme/log", &sha).await.unwrap();
    let second = gitlab.fetch_archive("acme/log", &sha).await.unwrap();

    assert_eq!(first, second, "byte-identical");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(first.to_vec())).unwrap();
    let top = format!("log-{sha}-{sha}/");
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
    assert_eq!(
        sim.stats()
            .route("/api/v4/projects/{id}/repository/archive.zip"),
        2
    );
}

#[tokio::test]
async fn debug_output_hides_token_when_formatted() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let gitlab = host(&sim, Arc::new(MemoryCache::default()));
    gitlab.snapshot(quiet()).await.unwrap();
    let token = sim.token();
    assert!(!format!("{gitlab:?}").contains(&token));
    assert!(!format!("{:?}", gitlab.verify().await).contains(&token));
}

#[tokio::test]
async fn simulator_fields_exist_in_fixtures_when_compared() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let client = reqwest::Client::new();
    let log = sim.repo_id("log").unwrap();
    let sha = sim.commit_of("log", "main").unwrap();
    let cases = [
        (
            "/groups/acme?with_projects=false".to_owned(),
            "get-groups-id.json",
        ),
        (
            "/groups/acme/descendant_groups".to_owned(),
            "get-groups-id-subgroups.json",
        ),
        (
            "/groups/acme%2Fplatform/members/all".to_owned(),
            "get-groups-id-members-all.json",
        ),
        (
            "/groups/acme/projects?include_subgroups=true".to_owned(),
            "get-groups-id-projects.json",
        ),
        (format!("/projects/{log}"), "get-projects-id.json"),
        (
            format!("/projects/{log}/repository/branches"),
            "get-projects-id-repository-branches.json",
        ),
        (
            format!("/projects/{log}/repository/tags"),
            "get-projects-id-repository-tags.json",
        ),
        (
            format!("/projects/{log}/repository/files/composer.json?ref={sha}"),
            "get-projects-id-repository-files-path.json",
        ),
    ];
    for (path, fixture) in cases {
        let body: Value = client
            .get(format!("{}{path}", sim.api_url()))
            .header("PRIVATE-TOKEN", sim.token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body.as_array().is_none_or(|a| !a.is_empty()), "{path}");
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{FIXTURES}/{fixture}")).unwrap(),
        )
        .unwrap();
        let mut extra = Vec::new();
        extra_fields(&body, &expected, &path, &mut extra);
        assert!(extra.is_empty(), "{fixture}: {extra:?}");
    }
    let error = |path: &'static str, token: &'static str| {
        let request = client.get(format!("{}{path}", sim.api_url()));
        async move {
            let response = request.header("PRIVATE-TOKEN", token).send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let token: &'static str = Box::leak(sim.token().into_boxed_str());
    assert_eq!(
        error("/groups/acme", "wrong").await,
        (401, serde_json::json!({"message": "401 Unauthorized"}))
    );
    assert_eq!(
        error("/groups/nope", token).await,
        (404, serde_json::json!({"message": "404 Group Not Found"}))
    );
    assert_eq!(
        error("/projects/acme%2Fnope/repository/tags", token).await,
        (404, serde_json::json!({"message": "404 Project Not Found"}))
    );
}

/// Request counts of a benchmark-sized group; prints the numbers.
#[tokio::test]
#[ignore = "benchmark-sized; run with --ignored --nocapture"]
async fn request_counts_are_reported_when_generated_group_is_synced_twice() {
    let spec = GeneratedSpec {
        repos: 1000,
        with_composer: 700,
        tags: 5,
        branches: 2,
        teams: 100,
        members: 2000,
    };
    let sim = GitlabSim::start(Scenario::generated(spec)).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let started = std::time::Instant::now();
    let gitlab = host(&sim, cache.clone());
    let first = gitlab.snapshot(quiet()).await.unwrap();
    let full = (gitlab.stats(), started.elapsed());
    let stats = sim.stats();
    sim.reset_stats();
    let started = std::time::Instant::now();
    let gitlab = host(&sim, cache);
    let second = gitlab.snapshot(quiet()).await.unwrap();
    let resync = (gitlab.stats(), started.elapsed());
    let again = sim.stats();
    assert!(first.is_complete() && first == second);
    println!(
        "full snapshot: {full:?}, teams {}, by route {:#?}",
        first.teams.items.len(),
        stats.by_route
    );
    println!(
        "no-change resync: {resync:?}, refs listings {}, manifests {}, by route {:#?}",
        again.route(BRANCHES) + again.route(TAGS),
        again.route(FILES),
        again.by_route
    );
}
