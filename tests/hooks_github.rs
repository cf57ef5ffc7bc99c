//! GitHub webhooks against the GitHub simulator on 127.0.0.1:0: installing
//! the organization hook (or one per repository when the host refuses it),
//! removing hooks, targeted repository and team refreshes, and signed
//! deliveries after simulator mutations reaching a local receiver.

mod support;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use packyard::domain::{
    Credential, HookTarget, InstalledHooks, Manifest, ProviderKind, RefKind, RepoRefs, Secret,
};
use packyard::providers::github::GithubHost;
use packyard::providers::hooks::{delivery_headers_of, targets, verify};
use packyard::providers::{CodeHost, HookSpec, MemoryCache, ProviderCache, ProviderError};
use packyard::simulate::webhooks::HookScope;
use packyard::simulate::{GithubSim, RepoRole, RepoSpec};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::snapshots::*;
use tokio::sync::mpsc;

const SECRET: &str = "hook-secret-for-tests";
/// What a repository hook subscribes to: the events GitHub sends about one
/// repository that packyard acts on.
const REPO_EVENTS: [&str; 5] = ["push", "create", "delete", "release", "repository"];
/// Sent to organization hooks only.
const ORG_ONLY_EVENTS: [&str; 4] = ["team", "membership", "member", "organization"];
/// Long enough for a loaded CI machine; deliveries normally take milliseconds.
const DEADLINE: Duration = Duration::from_secs(20);

fn host_with(sim: &GithubSim, cache: Arc<MemoryCache>) -> GithubHost {
    GithubHost::new(
        &sim.api_url(),
        &sim.org(),
        &Credential::Token(Secret::new(sim.token())),
        cache,
        &settings(),
    )
    .unwrap()
}

fn host(sim: &GithubSim) -> GithubHost {
    host_with(sim, Arc::new(MemoryCache::default()))
}

fn spec(url: &str, secret: &str) -> HookSpec {
    HookSpec {
        url: url.to_owned(),
        secret: Secret::new(secret),
    }
}

fn names(full_names: &[&str]) -> Vec<String> {
    full_names.iter().map(|n| (*n).to_owned()).collect()
}

/// Makes the organization hook API answer `status`, as GitHub does for a
/// token without `admin:org_hook` (404) or an app without the permission
/// (403).
fn refuse_org_hooks(sim: &GithubSim, status: u16) {
    sim.faults().fail_next("/orgs/acme/hooks", u32::MAX, status);
}

/// A tiny webhook receiver: every POST's headers and body, in arrival order.
struct Receiver {
    url: String,
    received: mpsc::UnboundedReceiver<(HeaderMap, Bytes)>,
}

impl Receiver {
    async fn start() -> Receiver {
        let (tx, received) = mpsc::unbounded_channel();
        let app = axum::Router::new().route(
            "/webhooks/acme",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((headers, body));
                    StatusCode::ACCEPTED
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/acme", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, received }
    }

    /// The next `n` deliveries, sorted by event name (the simulator sends
    /// them concurrently), each checked against the secret and mapped to its
    /// targets.
    async fn next(&mut self, n: usize) -> Vec<Received> {
        let mut out = Vec::new();
        for _ in 0..n {
            let (headers, body) = tokio::time::timeout(DEADLINE, self.received.recv())
                .await
                .expect("delivered before the deadline")
                .unwrap();
            verify(ProviderKind::Github, &headers, &body, &Secret::new(SECRET))
                .expect("signed with the hook's secret");
            let delivery = delivery_headers_of(ProviderKind::Github, &headers).unwrap();
            assert!(delivery.delivery.is_some(), "X-GitHub-Delivery is set");
            let targets = targets(ProviderKind::Github, &delivery.event, &body).unwrap();
            out.push(Received {
                event: delivery.event,
                body: serde_json::from_slice(&body).unwrap(),
                targets,
            });
        }
        out.sort_by(|a, b| a.event.cmp(&b.event));
        out
    }
}

struct Received {
    event: String,
    body: Value,
    targets: Vec<HookTarget>,
}

/// Waits until every delivery the simulator started has been answered.
async fn settled(sim: &GithubSim) {
    let start = Instant::now();
    while sim
        .webhooks()
        .deliveries()
        .iter()
        .any(|d| d.status.is_none())
    {
        assert!(start.elapsed() < DEADLINE, "deliveries still pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn ensure_hooks_creates_one_org_hook_and_updates_it_when_run_again() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = host(&sim);
    let url = "https://packyard.example/webhooks/acme";

    let installed = github
        .ensure_hooks(&spec(url, SECRET), &names(&["acme/log"]))
        .await
        .unwrap();

    let hooks = sim.webhooks().all();
    assert_eq!(hooks.len(), 1);
    let hook = &hooks[0];
    assert_eq!(installed.org, Some(hook.id.to_string()));
    assert!(installed.repos.is_empty() && installed.failures.is_empty());
    assert_eq!(
        (&hook.scope, hook.url.as_str(), hook.secret.as_deref()),
        (&HookScope::Org, url, Some(SECRET))
    );
    let org_events: Vec<&str> = REPO_EVENTS
        .iter()
        .chain(&ORG_ONLY_EVENTS)
        .copied()
        .collect();
    assert_eq!(hook.events, org_events);
    assert!(hook.active);

    // Someone disabled it and narrowed its events; the secret rotates.
    sim.webhooks().update(&HookScope::Org, hook.id, |h| {
        h.active = false;
        h.events = vec!["push".into()];
    });
    let again = github
        .ensure_hooks(&spec(url, "rotated"), &names(&["acme/log"]))
        .await
        .unwrap();

    assert_eq!(again, installed);
    let hooks = sim.webhooks().all();
    assert_eq!(hooks.len(), 1, "updated, not duplicated");
    assert!(hooks[0].active);
    assert_eq!(hooks[0].events, org_events);
    assert_eq!(hooks[0].secret.as_deref(), Some("rotated"));
}

#[tokio::test]
async fn ensure_hooks_installs_one_hook_per_repository_when_org_hooks_are_refused() {
    for status in [404, 403] {
        let sim = GithubSim::start(demo()).await.unwrap();
        refuse_org_hooks(&sim, status);
        let github = host(&sim);
        let url = "https://packyard.example/webhooks/acme";
        let repos = names(&["acme/log", "acme/cache", "acme/gone"]);

        let installed = github
            .ensure_hooks(&spec(url, SECRET), &repos)
            .await
            .unwrap();

        assert_eq!(installed.org, None, "HTTP {status}");
        let mut hooks = sim.webhooks().all();
        hooks.sort_by(|a, b| a.scope.cmp(&b.scope));
        let scopes: Vec<_> = hooks.iter().map(|h| h.scope.clone()).collect();
        assert_eq!(
            scopes,
            [
                HookScope::Repo("cache".into()),
                HookScope::Repo("log".into())
            ]
        );
        for hook in &hooks {
            assert_eq!(hook.events, REPO_EVENTS);
            assert_eq!(hook.secret.as_deref(), Some(SECRET));
        }
        assert_eq!(
            installed.repos.keys().collect::<Vec<_>>(),
            ["acme/cache", "acme/log"]
        );
        let failure = &installed.failures["acme/gone"];
        assert!(failure.contains("404"), "{failure}");
        assert!(!failure.contains(SECRET));

        let again = github
            .ensure_hooks(&spec(url, SECRET), &repos)
            .await
            .unwrap();
        assert_eq!(again, installed);
        assert_eq!(sim.webhooks().all().len(), 2, "no duplicates");
    }
}

#[tokio::test]
async fn ensure_hooks_fails_when_the_org_hook_api_is_broken_rather_than_refused() {
    let sim = GithubSim::start(demo()).await.unwrap();
    refuse_org_hooks(&sim, 500);

    let err = host(&sim)
        .ensure_hooks(&spec("https://p.example/webhooks/acme", SECRET), &[])
        .await
        .unwrap_err();

    assert!(
        matches!(err, ProviderError::Http { status: 500, .. }),
        "{err:?}"
    );
    assert!(sim.webhooks().all().is_empty());
    assert!(!err.to_string().contains(SECRET));
}

#[tokio::test]
async fn remove_hooks_deletes_every_hook_and_accepts_ones_already_gone() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = host(&sim);
    let url = "https://packyard.example/webhooks/acme";
    let org = github.ensure_hooks(&spec(url, SECRET), &[]).await.unwrap();
    refuse_org_hooks(&sim, 404);
    let repos = github
        .ensure_hooks(&spec(url, SECRET), &names(&["acme/log", "acme/cache"]))
        .await
        .unwrap();
    sim.faults().clear();
    assert_eq!(sim.webhooks().all().len(), 3);

    github.remove_hooks(&org).await.unwrap();
    github.remove_hooks(&repos).await.unwrap();

    assert!(sim.webhooks().all().is_empty());
    github.remove_hooks(&org).await.unwrap();
    github.remove_hooks(&repos).await.unwrap();
    github
        .remove_hooks(&InstalledHooks::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn fetch_repo_reads_refs_afresh_when_cached_refs_claim_the_same_push() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let github = host_with(&sim, cache.clone());
    let first = github.snapshot(quiet()).await.unwrap();
    let log = repo(&first, "log").clone();
    // Refs cached for the current push but missing its tags: a snapshot
    // trusts them, a webhook-driven refresh must not.
    let known = cache.refs(&log.id).unwrap();
    let stale = RepoRefs {
        refs: known
            .refs
            .iter()
            .filter(|r| r.kind == RefKind::Branch)
            .cloned()
            .collect(),
        ..known.clone()
    };
    cache.put_refs(&log.id, &stale);
    let trusted = github.snapshot(quiet()).await.unwrap();
    assert_eq!(repo(&trusted, "log").refs.items, stale.refs);

    let fresh = github.fetch_repo("acme/log").await.unwrap().unwrap();

    assert_eq!(fresh, log);
    assert_eq!(cache.refs(&log.id).unwrap().refs, log.refs.items);
}

#[tokio::test]
async fn fetch_repo_sees_a_new_tag_and_a_new_repository() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = host(&sim);
    github.fetch_repo("acme/log").await.unwrap().unwrap();
    let sha = sim.add_tag("log", "v3.0.0").unwrap();
    sim.create_repo(&RepoSpec {
        composer: demo().repos[0].composer.clone(),
        ..RepoSpec::new("fresh")
    })
    .unwrap();

    let log = github.fetch_repo("acme/log").await.unwrap().unwrap();
    let fresh = github.fetch_repo("acme/fresh").await.unwrap().unwrap();

    let tag = log.refs.items.iter().find(|r| r.name == "v3.0.0").unwrap();
    assert_eq!(
        (tag.kind, tag.commit.as_str()),
        (RefKind::Tag, sha.as_str())
    );
    assert!(matches!(tag.manifest, Manifest::Found(_)));
    assert!(log.refs.complete);
    assert_eq!(fresh.full_name, "acme/fresh");
    assert!(matches!(
        fresh.default_ref().unwrap().manifest,
        Manifest::Found(_)
    ));
}

#[tokio::test]
async fn fetch_repo_is_none_when_deleted_or_outside_the_organization() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = host(&sim);
    sim.delete_repo("router").unwrap();
    sim.reset_stats();

    for name in ["acme/router", "other/log", "log", "acme/log/extra", "acme/"] {
        assert_eq!(github.fetch_repo(name).await.unwrap(), None, "{name}");
    }
    assert_eq!(
        sim.stats().requests,
        1,
        "only the deleted repository is asked for"
    );
    let log = github.fetch_repo("acme/log").await.unwrap().unwrap();
    assert_eq!(log.full_name, "acme/log");
}

#[tokio::test]
async fn fetch_team_matches_the_snapshot_and_sees_a_removed_member() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let github = host(&sim);
    let before = github.fetch_team("platform").await.unwrap().unwrap();
    assert!(logins(&before[0]).contains(&"carol"));

    sim.remove_team_member("platform", "carol").unwrap();
    let after = github.fetch_team("platform").await.unwrap().unwrap();
    let snapshot = github.snapshot(quiet()).await.unwrap();

    let [team] = &after[..] else {
        panic!("one team per slug: {after:?}")
    };
    assert!(!logins(team).contains(&"carol"));
    let listed = snapshot
        .teams
        .items
        .iter()
        .find(|t| t.slug == "platform")
        .unwrap();
    assert_eq!(team, listed, "the same shape as a full snapshot");
    assert_eq!(github.fetch_team("no-such-team").await.unwrap(), None);
}

#[tokio::test]
async fn org_hook_delivers_signed_payloads_that_map_to_targets() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let mut receiver = Receiver::start().await;
    host(&sim)
        .ensure_hooks(&spec(&receiver.url, SECRET), &[])
        .await
        .unwrap();
    let repo = |name: &str| vec![HookTarget::Repo(format!("acme/{name}"))];
    let team = |slug: &str| vec![HookTarget::Team(slug.to_owned())];

    let sha = sim.add_tag("log", "v3.0.0").unwrap();
    let [create, push] = &receiver.next(2).await[..] else {
        unreachable!()
    };
    assert_eq!(
        (create.event.as_str(), push.event.as_str()),
        ("create", "push")
    );
    assert_eq!(push.body["ref"], "refs/tags/v3.0.0");
    assert_eq!(push.body["after"], sha.as_str());
    assert_eq!(push.body["before"], "0".repeat(40));
    assert_eq!(push.body["created"], true);
    assert_eq!(create.body["ref_type"], "tag");
    assert_eq!(push.targets, repo("log"));
    assert_eq!(create.targets, repo("log"));

    let before = sim.commit_of("log", "main").unwrap();
    sim.push_branch("log", "main").unwrap();
    let [push] = &receiver.next(1).await[..] else {
        unreachable!()
    };
    assert_eq!(push.body["ref"], "refs/heads/main");
    assert_eq!(push.body["before"], before.as_str());
    assert_eq!(push.targets, repo("log"));

    sim.remove_team_member("platform", "dave").unwrap();
    let [membership] = &receiver.next(1).await[..] else {
        unreachable!()
    };
    assert_eq!(membership.event, "membership");
    assert_eq!(membership.body["action"], "removed");
    assert_eq!(membership.body["member"]["login"], "dave");
    assert_eq!(membership.targets, team("platform"));

    sim.set_team_repo("web", "log", Some(RepoRole::Push))
        .unwrap();
    let [added] = &receiver.next(1).await[..] else {
        unreachable!()
    };
    assert_eq!(added.body["action"], "added_to_repository");
    assert_eq!(added.targets, team("web"));

    sim.create_repo(&RepoSpec::new("fresh")).unwrap();
    let [created] = &receiver.next(1).await[..] else {
        unreachable!()
    };
    assert_eq!(
        (created.event.as_str(), &created.body["action"]),
        ("repository", &Value::from("created"))
    );
    assert_eq!(created.targets, repo("fresh"));

    sim.delete_repo("router").unwrap();
    let [deleted] = &receiver.next(1).await[..] else {
        unreachable!()
    };
    assert_eq!(deleted.body["action"], "deleted");
    assert_eq!(deleted.targets, repo("router"));

    settled(&sim).await;
    let deliveries = sim.webhooks().deliveries();
    assert_eq!(deliveries.len(), 7);
    assert!(deliveries.iter().all(|d| d.status == Some(202)));
}

#[tokio::test]
async fn repository_hooks_hear_only_their_own_repository() {
    let sim = GithubSim::start(demo()).await.unwrap();
    refuse_org_hooks(&sim, 404);
    let mut receiver = Receiver::start().await;
    host(&sim)
        .ensure_hooks(&spec(&receiver.url, SECRET), &names(&["acme/log"]))
        .await
        .unwrap();

    sim.add_tag("cache", "v9.0.0").unwrap();
    sim.remove_team_member("platform", "dave").unwrap();
    sim.create_repo(&RepoSpec::new("fresh")).unwrap();
    assert!(sim.webhooks().deliveries().is_empty());

    sim.add_tag("log", "v3.0.0").unwrap();
    let received = receiver.next(2).await;
    let events: Vec<_> = received.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events, ["create", "push"]);
    assert!(
        received
            .iter()
            .all(|r| r.targets == [HookTarget::Repo("acme/log".into())])
    );

    // GitHub deletes a repository's hooks with it.
    sim.delete_repo("log").unwrap();
    assert!(sim.webhooks().all().is_empty());
    assert_eq!(sim.webhooks().deliveries().len(), 2);
}

#[tokio::test]
async fn simulator_hook_api_answers_as_github_does() {
    let sim = GithubSim::start(demo()).await.unwrap();
    let client = reqwest::Client::new();
    let api = sim.api_url();
    let token = sim.token();
    let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{api}{path}"))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let hook = serde_json::json!({
        "name": "web",
        "config": {"url": "https://p.example/webhooks/acme", "content_type": "json", "secret": "s"},
        "events": ["push"],
    });

    let created = send(
        reqwest::Method::POST,
        "/orgs/acme/hooks",
        Some(hook.clone()),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["config"]["secret"], "********");
    assert_eq!(created["type"], "Organization");
    let duplicate = send(
        reqwest::Method::POST,
        "/orgs/acme/hooks",
        Some(hook.clone()),
    )
    .await
    .unwrap();
    assert_eq!(duplicate.status(), 422);
    let unnamed = serde_json::json!({"config": {"url": "https://q.example"}});
    let missing = send(
        reqwest::Method::POST,
        "/orgs/acme/hooks",
        Some(unnamed.clone()),
    )
    .await
    .unwrap();
    assert_eq!(missing.status(), 422, "org hooks must be named");
    let on_repo = send(
        reqwest::Method::POST,
        "/repos/acme/log/hooks",
        Some(unnamed),
    )
    .await
    .unwrap();
    assert_eq!(on_repo.status(), 201, "repository hooks default to web");

    // A config sent without its secret leaves the hook unsigned.
    let id = created["id"].as_u64().unwrap();
    let path = format!("/orgs/acme/hooks/{id}");
    let patch = serde_json::json!({"config": {"url": "https://p.example/webhooks/acme"}});
    let patched: Value = send(reqwest::Method::PATCH, &path, Some(patch))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(patched["config"].get("secret").is_none());
    assert_eq!(patched["events"], serde_json::json!(["push"]));

    for (method, path, status) in [
        (reqwest::Method::GET, path.as_str(), 200),
        (reqwest::Method::DELETE, path.as_str(), 204),
        (reqwest::Method::DELETE, path.as_str(), 404),
        (reqwest::Method::GET, "/orgs/acme/hooks/not-a-number", 404),
        (reqwest::Method::GET, "/orgs/other/hooks", 404),
        (reqwest::Method::GET, "/repos/acme/nope/hooks", 404),
    ] {
        let response = send(method.clone(), path, None).await.unwrap();
        assert_eq!(response.status(), status, "{method} {path}");
    }
    let listed: Vec<Value> = send(reqwest::Method::GET, "/repos/acme/log/hooks", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["type"], "Repository");

    // Lists page like GitHub's other listings.
    let other = serde_json::json!({"config": {"url": "https://r.example"}});
    send(reqwest::Method::POST, "/repos/acme/log/hooks", Some(other))
        .await
        .unwrap();
    let first = send(
        reqwest::Method::GET,
        "/repos/acme/log/hooks?per_page=1",
        None,
    )
    .await
    .unwrap();
    let link = first.headers()["link"].to_str().unwrap().to_owned();
    assert!(link.contains("page=2>; rel=\"next\""), "{link}");
    let page: Vec<Value> = first.json().await.unwrap();
    assert_eq!(page.len(), 1);
}
