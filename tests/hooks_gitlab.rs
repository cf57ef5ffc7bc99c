//! GitLab webhooks against the simulator on 127.0.0.1:0: the group hook
//! (and project hooks where the group refuses one), targeted refreshes of
//! one project or group, and deliveries that a local receiver verifies and
//! maps to refresh targets.

mod support;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use packyard::domain::{Credential, HookTarget, InstalledHooks, ProviderKind, Secret};
use packyard::providers::gitlab::GitlabHost;
use packyard::providers::hooks::{delivery_headers_of, targets, verify};
use packyard::providers::{CodeHost, HookSpec, MemoryCache, ProviderCache};
use packyard::simulate::webhooks::{Hook, HookScope};
use packyard::simulate::{GitlabSim, RepoSpec};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::snapshots::*;

const SECRET: &str = "whsec-gitlab-0123456789";
const HOOKS: &str = "/api/v4/groups/{id}/hooks";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/gitlab");

fn host_with(sim: &GitlabSim, cache: Arc<MemoryCache>) -> GitlabHost {
    GitlabHost::new(
        &sim.api_url(),
        &sim.org(),
        &Credential::Token(Secret::new(sim.token())),
        cache,
        &settings(),
    )
    .unwrap()
}

fn host(sim: &GitlabSim) -> GitlabHost {
    host_with(sim, Arc::new(MemoryCache::default()))
}

fn spec(url: &str, secret: &str) -> HookSpec {
    HookSpec {
        url: url.to_owned(),
        secret: Secret::new(secret),
    }
}

fn names(hook: &Hook) -> Vec<&str> {
    let mut events: Vec<&str> = hook.events.iter().map(String::as_str).collect();
    events.sort_unstable();
    events
}

fn repos(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("acme/{n}")).collect()
}

#[tokio::test]
async fn group_hook_is_created_once_when_ensured_twice() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let gitlab = host(&sim);
    let url = "https://packyard.example/webhooks/1";

    let first = gitlab
        .ensure_hooks(&spec(url, SECRET), &repos(&["log"]))
        .await
        .unwrap();
    let second = gitlab
        .ensure_hooks(&spec(url, "rotated-secret"), &repos(&["log"]))
        .await
        .unwrap();

    assert!(first.org.is_some());
    assert_eq!(first, second, "the same hook, updated");
    assert!(first.repos.is_empty() && first.failures.is_empty());
    let hooks = sim.webhooks().all();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    let hook = &hooks[0];
    assert_eq!(hook.scope, HookScope::Org);
    assert_eq!(Some(hook.id.to_string()), first.org);
    assert_eq!(hook.url, url);
    assert_eq!(hook.secret.as_deref(), Some("rotated-secret"));
    assert_eq!(
        names(hook),
        [
            "member_events",
            "project_events",
            "push_events",
            "releases_events",
            "subgroup_events",
            "tag_push_events"
        ]
    );
    assert_eq!(sim.stats().route(HOOKS), 3, "list, create, list");
}

#[tokio::test]
async fn project_hooks_are_installed_when_group_hooks_are_refused() {
    // Without Premium (404), and without the Owner role (403).
    let refusals: [fn(&GitlabSim); 2] = [
        |sim| sim.set_premium(false),
        |sim| sim.faults().fail_next("/api/v4/groups/acme/hooks", 2, 403),
    ];
    for refuse in refusals {
        let sim = GitlabSim::start(demo()).await.unwrap();
        let gitlab = host(&sim);
        refuse(&sim);
        let wanted = repos(&["log", "cache", "gone"]);
        let url = "https://packyard.example/webhooks/2";

        let first = gitlab
            .ensure_hooks(&spec(url, SECRET), &wanted)
            .await
            .unwrap();
        let second = gitlab
            .ensure_hooks(&spec(url, SECRET), &wanted)
            .await
            .unwrap();

        assert_eq!(first.org, None);
        assert_eq!(first, second, "no duplicates, no new failures");
        let installed: Vec<&str> = first.repos.keys().map(String::as_str).collect();
        assert_eq!(installed, ["acme/cache", "acme/log"]);
        let failed: Vec<&str> = first.failures.keys().map(String::as_str).collect();
        assert_eq!(failed, ["acme/gone"]);
        assert!(first.failures["acme/gone"].contains("404"));
        let hooks = sim.webhooks().all();
        assert_eq!(hooks.len(), 2, "{hooks:?}");
        for hook in &hooks {
            let HookScope::Repo(repo) = &hook.scope else {
                panic!("group hook installed: {hook:?}")
            };
            assert_eq!(first.repos[&format!("acme/{repo}")], hook.id.to_string());
            assert_eq!(hook.secret.as_deref(), Some(SECRET));
            assert_eq!(
                names(hook),
                ["push_events", "releases_events", "tag_push_events"]
            );
        }
    }
}

#[tokio::test]
async fn ensure_hooks_fails_when_group_hooks_answer_server_errors() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    sim.faults().fail_next("/api/v4/groups/acme/hooks", 10, 500);
    let err = host(&sim)
        .ensure_hooks(
            &spec("https://p.example/webhooks/3", SECRET),
            &repos(&["log"]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("500"), "{err}");
    assert!(!err.to_string().contains(SECRET));
    assert!(sim.webhooks().all().is_empty(), "no fallback on a 5xx");
}

#[tokio::test]
async fn duplicates_of_ours_are_removed_and_foreign_hooks_kept_when_ensured() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let url = "https://packyard.example/webhooks/4";
    let webhooks = sim.webhooks();
    let events = || vec!["push_events".to_owned()];
    let kept = webhooks.create(HookScope::Org, url, None, events(), true);
    webhooks.create(HookScope::Org, url, None, events(), true);
    let foreign = webhooks.create(HookScope::Org, "https://ci.example/", None, events(), true);

    let installed = host(&sim)
        .ensure_hooks(&spec(url, SECRET), &[])
        .await
        .unwrap();

    assert_eq!(installed.org, Some(kept.id.to_string()));
    let left: Vec<u64> = webhooks.all().iter().map(|h| h.id).collect();
    assert_eq!(left, [kept.id, foreign.id]);
}

#[tokio::test]
async fn remove_hooks_leaves_none_when_installed_either_way() {
    for premium in [true, false] {
        let sim = GitlabSim::start(demo()).await.unwrap();
        sim.set_premium(premium);
        let gitlab = host(&sim);
        let installed = gitlab
            .ensure_hooks(
                &spec("https://p.example/webhooks/5", SECRET),
                &repos(&["log", "cache"]),
            )
            .await
            .unwrap();
        assert_eq!(installed.org.is_some(), premium);
        assert!(!sim.webhooks().all().is_empty());
        // A project deleted takes its hook along; removing it is no error.
        sim.delete_repo("cache").unwrap();

        gitlab.remove_hooks(&installed).await.unwrap();
        assert!(sim.webhooks().all().is_empty(), "premium {premium}");
        // Removing again finds them gone, which is fine.
        gitlab.remove_hooks(&installed).await.unwrap();
    }
    let sim = GitlabSim::start(demo()).await.unwrap();
    host(&sim)
        .remove_hooks(&InstalledHooks::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn fetch_repo_sees_a_new_tag_when_refreshed_after_a_snapshot() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let gitlab = host_with(&sim, cache.clone());
    let snap = gitlab.snapshot(quiet()).await.unwrap();
    let before = repo(&snap, "log").clone();

    let sha = sim.add_tag("log", "v9.9.9").unwrap();
    let fresh = gitlab.fetch_repo("acme/log").await.unwrap().unwrap();

    assert_eq!(fresh.id, before.id);
    assert_eq!(fresh.full_name, "acme/log");
    assert!(fresh.refs.complete);
    let tag = fresh
        .refs
        .items
        .iter()
        .find(|r| r.name == "v9.9.9")
        .unwrap();
    assert_eq!(tag.commit, sha);
    assert_eq!(fresh.refs.items.len(), before.refs.items.len() + 1);
    let cached = cache.refs(&fresh.id).unwrap();
    assert_eq!(cached.refs, fresh.refs.items, "stored like a snapshot");
}

#[tokio::test]
async fn fetch_repo_is_none_when_deleted_or_outside_the_group() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let gitlab = host(&sim);
    sim.delete_repo("cache").unwrap();
    sim.reset_stats();

    assert!(gitlab.fetch_repo("acme/cache").await.unwrap().is_none());
    assert!(gitlab.fetch_repo("acme/never").await.unwrap().is_none());
    assert!(gitlab.fetch_repo("acme-other/log").await.unwrap().is_none());
    assert!(gitlab.fetch_repo("other/log").await.unwrap().is_none());
    assert_eq!(sim.stats().requests, 2, "foreign names cost no request");
}

#[tokio::test]
async fn fetch_team_matches_the_snapshot_and_sees_a_removed_member() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let gitlab = host(&sim);
    let snap = gitlab.snapshot(quiet()).await.unwrap();
    let platform = sim.group_id("platform").unwrap().to_string();
    let in_snapshot: Vec<_> = snap
        .teams
        .items
        .iter()
        .filter(|t| t.slug.starts_with("acme/platform:"))
        .cloned()
        .collect();

    let teams = gitlab.fetch_team(&platform).await.unwrap().unwrap();
    assert_eq!(teams, in_snapshot);
    let by_path = gitlab.fetch_team("acme/platform").await.unwrap().unwrap();
    assert_eq!(by_path, in_snapshot);
    // The top group's members are inherited by every subgroup: its refresh
    // covers all their teams.
    let top = sim.group_id("acme").unwrap().to_string();
    let everything = gitlab.fetch_team(&top).await.unwrap().unwrap();
    assert_eq!(everything, snap.teams.items);

    sim.remove_team_member("platform", "carol").unwrap();
    let teams = gitlab.fetch_team(&platform).await.unwrap().unwrap();
    let developers = teams
        .iter()
        .find(|t| t.slug == "acme/platform:developer")
        .unwrap();
    assert_eq!(logins(developers), ["dave"]);

    assert!(gitlab.fetch_team("999999").await.unwrap().is_none());
    assert!(gitlab.fetch_team("acme/nope").await.unwrap().is_none());
}

/// What a tiny local receiver got: each delivery's headers and body.
type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receiver() -> (String, Received, tokio::task::JoinHandle<()>) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/webhooks/{sync}",
            axum::routing::post(
                |State(seen): State<Received>, headers: HeaderMap, body: Bytes| async move {
                    seen.lock().unwrap().push((headers, body));
                    "queued"
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/7", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, received, task)
}

/// Waits, with a generous deadline, until the simulator has seen `count`
/// deliveries answered 200, and returns what the receiver got.
async fn wait_for(sim: &GitlabSim, received: &Received, count: usize) -> Vec<(HeaderMap, Bytes)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = sim
            .webhooks()
            .deliveries()
            .iter()
            .filter(|d| d.status == Some(200))
            .count();
        let got = received.lock().unwrap().clone();
        if done >= count && got.len() >= count {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {count} deliveries after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A GitLab fixture, by its path under `fixtures/gitlab`.
fn fixture(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap()).unwrap()
}

/// The payload fixture each event's simulated body is compared with.
fn fixture_for(event: &str) -> &'static str {
    match event {
        "Push Hook" => "push.json",
        "Tag Push Hook" => "tag_push.json",
        "Member Hook" => "member.json",
        "Project Hook" => "system.project_create.json",
        other => panic!("unexpected event {other}"),
    }
}

#[tokio::test]
async fn group_hook_deliveries_verify_and_map_to_targets_when_the_sim_mutates() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let gitlab = host(&sim);
    let (url, received, task) = receiver().await;
    let installed = gitlab.ensure_hooks(&spec(&url, SECRET), &[]).await.unwrap();
    assert!(installed.org.is_some());
    let secret = Secret::new(SECRET);
    let platform = sim.group_id("platform").unwrap().to_string();

    let tag = sim.add_tag("log", "v9.0.0").unwrap();
    sim.push_branch("log", "main").unwrap();
    sim.remove_team_member("platform", "carol").unwrap();
    sim.create_repo(&RepoSpec::new("fresh")).unwrap();
    let got = wait_for(&sim, &received, 4).await;

    let mut seen = Vec::new();
    for (headers, body) in &got {
        verify(ProviderKind::Gitlab, headers, body, &secret).unwrap();
        let delivery = delivery_headers_of(ProviderKind::Gitlab, headers).unwrap();
        assert!(delivery.delivery.is_some(), "{headers:?}");
        let event = delivery.event;
        let targets = targets(ProviderKind::Gitlab, &event, body).unwrap();
        let payload: Value = serde_json::from_slice(body).unwrap();
        let fixture = fixture(&format!("webhooks/{}", fixture_for(&event)));
        let mut extra = Vec::new();
        extra_fields(&payload, &fixture, &event, &mut extra);
        assert!(extra.is_empty(), "{event}: {extra:?}");
        if event == "Tag Push Hook" {
            assert_eq!(payload["after"], tag.as_str());
            assert_eq!(payload["ref"], "refs/tags/v9.0.0");
        }
        seen.push((event, targets));
    }
    seen.sort();
    let repo = |name: &str| vec![HookTarget::Repo(name.to_owned())];
    assert_eq!(
        seen,
        [
            (
                "Member Hook".to_owned(),
                vec![HookTarget::Team(platform.clone())]
            ),
            ("Project Hook".to_owned(), repo("acme/fresh")),
            ("Push Hook".to_owned(), repo("acme/log")),
            ("Tag Push Hook".to_owned(), repo("acme/log")),
        ]
    );
    // The targets lead to the change.
    let teams = gitlab.fetch_team(&platform).await.unwrap().unwrap();
    let developers = teams
        .iter()
        .find(|t| t.slug == "acme/platform:developer")
        .unwrap();
    assert!(!logins(developers).contains(&"carol"));
    let log = gitlab.fetch_repo("acme/log").await.unwrap().unwrap();
    assert!(log.refs.items.iter().any(|r| r.name == "v9.0.0"));
    task.abort();
}

#[tokio::test]
async fn project_hooks_get_pushes_but_not_group_events_when_group_hooks_refused() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    sim.set_premium(false);
    let (url, received, task) = receiver().await;
    let installed = host(&sim)
        .ensure_hooks(&spec(&url, SECRET), &repos(&["log"]))
        .await
        .unwrap();
    assert_eq!(installed.repos.len(), 1);

    sim.remove_team_member("platform", "carol").unwrap();
    sim.add_tag("cache", "v9.0.0").unwrap();
    sim.add_tag("log", "v9.0.0").unwrap();
    let got = wait_for(&sim, &received, 1).await;

    assert_eq!(sim.webhooks().deliveries().len(), 1, "only log's hook");
    let (headers, body) = &got[0];
    verify(ProviderKind::Gitlab, headers, body, &Secret::new(SECRET)).unwrap();
    let tampered = Secret::new(format!("{SECRET}x"));
    assert!(verify(ProviderKind::Gitlab, headers, body, &tampered).is_err());
    let event = delivery_headers_of(ProviderKind::Gitlab, headers)
        .unwrap()
        .event;
    assert_eq!(event, "Tag Push Hook");
    assert_eq!(
        targets(ProviderKind::Gitlab, &event, body).unwrap(),
        [HookTarget::Repo("acme/log".to_owned())]
    );
    task.abort();
}

#[tokio::test]
async fn simulator_hook_bodies_follow_the_fixture_when_created() {
    let sim = GitlabSim::start(demo()).await.unwrap();
    let client = reqwest::Client::new();
    let log = sim.repo_id("log").unwrap();
    let response = client
        .post(format!("{}/projects/{log}/hooks", sim.api_url()))
        .header("PRIVATE-TOKEN", sim.token())
        .json(&serde_json::json!({"url": "http://example.com/hook", "token": SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let fixture = fixture("api/post-projects-id-hooks.json");
    let mut extra = Vec::new();
    extra_fields(&body, &fixture, "hook", &mut extra);
    // The fixture predates release events.
    assert_eq!(extra, ["hook.releases_events"]);
    assert_eq!(body["push_events"], true, "GitLab's default");
    assert_eq!(body["tag_push_events"], false);
    assert!(!body.to_string().contains(SECRET), "tokens are never shown");

    let update = |path: String| {
        let request = client
            .request(reqwest::Method::PUT, format!("{}{path}", sim.api_url()))
            .header("PRIVATE-TOKEN", sim.token())
            .json(&serde_json::json!({"push_events": false}));
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    assert_eq!(
        update(format!("/projects/{log}/hooks/{}", body["id"])).await,
        (400, serde_json::json!({"error": "url is missing"}))
    );
    sim.set_premium(false);
    let refused = client
        .get(format!("{}/groups/acme/hooks", sim.api_url()))
        .header("PRIVATE-TOKEN", sim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 404);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        serde_json::json!({"message": "404 Not Found"})
    );
}
