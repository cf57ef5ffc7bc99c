//! Bitbucket Cloud webhooks against the simulator on 127.0.0.1:0: hook
//! installation and removal through the repository hook API, targeted
//! refreshes of one repository or group, and signed `repo:push` deliveries
//! to a local receiver that packyard's verification and targets accept.

mod support;

use packyard::domain::{Credential, HookTarget, InstalledHooks, ProviderKind, RemoteId, Secret};
use packyard::providers::bitbucket_cloud::BitbucketCloudHost;
use packyard::providers::hooks::HookSpec;
use packyard::providers::{CodeHost, MemoryCache, ProviderCache, ProviderError};
use packyard::simulate::webhooks::HookScope;
use packyard::simulate::{BitbucketCloudSim, RepoSpec};
use serde_json::Value;
use std::sync::Arc;
use support::deliveries::{accepted, answered, receiver};
use support::snapshots::*;

const KIND: ProviderKind = ProviderKind::BitbucketCloud;

fn host(sim: &BitbucketCloudSim, cache: Arc<MemoryCache>) -> BitbucketCloudHost {
    let credential = Credential::Basic {
        username: sim.username(),
        password: Secret::new(sim.token()),
    };
    BitbucketCloudHost::new(&sim.api_url(), &sim.org(), &credential, cache, &settings()).unwrap()
}

fn spec(url: &str, secret: &str) -> HookSpec {
    HookSpec {
        url: url.to_owned(),
        secret: Secret::new(secret),
    }
}

fn names(repos: &[&str]) -> Vec<String> {
    repos.iter().map(|r| format!("acme/{r}")).collect()
}

/// Our hooks at the simulator: (repository, events, secret, active).
fn registered(sim: &BitbucketCloudSim, url: &str) -> Vec<(String, Vec<String>, Option<String>)> {
    sim.webhooks()
        .all()
        .into_iter()
        .filter(|h| h.url == url && h.active)
        .map(|h| {
            let HookScope::Repo(repo) = h.scope else {
                panic!("Bitbucket Cloud hooks are per repository")
            };
            (repo, h.events, h.secret)
        })
        .collect()
}

#[tokio::test]
async fn ensure_hooks_creates_one_hook_per_repository_and_updates_it_when_called_again() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let bitbucket = host(&sim, Arc::new(MemoryCache::default()));
    let url = "http://packyard.test/webhooks/acme";
    let repos = names(&["log", "http-client"]);

    let first = bitbucket
        .ensure_hooks(&spec(url, "s3cret-one"), &repos)
        .await
        .unwrap();

    assert_eq!(first.org, None);
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(
        first.repos.keys().collect::<Vec<_>>(),
        ["acme/http-client", "acme/log"]
    );
    assert!(first.repos.values().all(|id| id.starts_with('{')));
    let events = vec!["repo:push".to_owned(), "repo:updated".to_owned()];
    let secret = Some("s3cret-one".to_owned());
    assert_eq!(
        registered(&sim, url),
        [
            ("log".to_owned(), events.clone(), secret.clone()),
            ("http-client".to_owned(), events.clone(), secret)
        ]
    );

    let second = bitbucket
        .ensure_hooks(&spec(url, "s3cret-two"), &repos)
        .await
        .unwrap();

    assert_eq!(second, first, "same hooks, no failures");
    let hooks = registered(&sim, url);
    assert_eq!(hooks.len(), 2, "no duplicate: {hooks:?}");
    assert!(
        hooks
            .iter()
            .all(|(_, _, s)| s.as_deref() == Some("s3cret-two")),
        "the secret is updated"
    );
}

#[tokio::test]
async fn ensure_hooks_keeps_other_hooks_and_removes_duplicates_of_ours() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let url = "http://packyard.test/webhooks/acme";
    let webhooks = sim.webhooks();
    let log = HookScope::Repo("log".into());
    let ci = webhooks.create(
        log.clone(),
        "http://ci.test/hook",
        None,
        vec!["repo:push".into()],
        true,
    );
    for _ in 0..2 {
        webhooks.create(log.clone(), url, None, vec!["repo:push".into()], false);
    }

    let installed = host(&sim, Arc::new(MemoryCache::default()))
        .ensure_hooks(&spec(url, "s"), &names(&["log"]))
        .await
        .unwrap();

    let left = webhooks.list(&log);
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(left[0], ci, "someone else's hook is not touched");
    assert_eq!(
        (left[1].url.as_str(), left[1].active),
        (url, true),
        "the first of ours is updated, the second deleted"
    );
    assert_eq!(installed.repos.len(), 1);
}

#[tokio::test]
async fn ensure_hooks_reports_failing_repositories_and_installs_the_others() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    sim.faults()
        .fail_next("/2.0/repositories/acme/http-client/hooks", 1, 403);
    let url = "http://packyard.test/webhooks/acme";

    let installed = host(&sim, Arc::new(MemoryCache::default()))
        .ensure_hooks(
            &spec(url, "s"),
            &names(&["log", "http-client", "gone"])
                .into_iter()
                .chain(["not-a-full-name".to_owned()])
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();

    assert_eq!(installed.repos.keys().collect::<Vec<_>>(), ["acme/log"]);
    assert_eq!(
        installed.failures.keys().collect::<Vec<_>>(),
        ["acme/gone", "acme/http-client", "not-a-full-name"]
    );
    assert!(installed.failures["acme/http-client"].contains("403"));
    assert!(installed.failures["acme/gone"].contains("404"));
    assert_eq!(registered(&sim, url).len(), 1);
}

#[tokio::test]
async fn ensure_hooks_fails_as_a_whole_when_credentials_are_wrong() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let wrong = BitbucketCloudHost::new(
        &sim.api_url(),
        &sim.org(),
        &Credential::Token(Secret::new("wrong")),
        Arc::new(MemoryCache::default()),
        &settings(),
    )
    .unwrap();
    let err = wrong
        .ensure_hooks(&spec("http://p.test/w", "hook-secret"), &names(&["log"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized { .. }), "{err:?}");

    assert!(!err.to_string().contains("hook-secret"));
}

#[tokio::test]
async fn remove_hooks_leaves_none_and_tolerates_hooks_already_gone() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let bitbucket = host(&sim, Arc::new(MemoryCache::default()));
    let url = "http://packyard.test/webhooks/acme";
    let installed = bitbucket
        .ensure_hooks(&spec(url, "s"), &names(&["log", "http-client", "ui-kit"]))
        .await
        .unwrap();
    sim.delete_repo("ui-kit").unwrap();

    bitbucket.remove_hooks(&installed).await.unwrap();

    assert!(sim.webhooks().all().is_empty());
    bitbucket.remove_hooks(&installed).await.unwrap();
    bitbucket
        .remove_hooks(&InstalledHooks::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn fetch_repo_reads_refs_afresh_sees_a_new_tag_and_remembers_them() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let bitbucket = host(&sim, cache.clone());
    bitbucket.snapshot(quiet()).await.unwrap();
    sim.reset_stats();
    bitbucket.fetch_repo("acme/log").await.unwrap().unwrap();
    assert_eq!(
        sim.stats().route("/2.0/repositories/{ws}/{slug}/refs"),
        1,
        "refs are read though `updated_on` did not move: a webhook said so"
    );
    let sha = sim.add_tag("log", "v9.0.0").unwrap();

    let log = bitbucket.fetch_repo("acme/log").await.unwrap().unwrap();

    assert!(log.refs.complete);
    let tag = log.refs.items.iter().find(|r| r.name == "v9.0.0").unwrap();
    assert_eq!(tag.commit, sha);
    let remembered = cache.refs(&RemoteId(sim.repo_id("log").unwrap())).unwrap();
    assert_eq!(
        remembered.refs, log.refs.items,
        "refs kept for the next run"
    );
    let snapshot = bitbucket.snapshot(quiet()).await.unwrap();
    assert_eq!(&log, repo(&snapshot, "log"), "as a snapshot shows it");
}

#[tokio::test]
async fn fetch_repo_is_none_when_deleted_elsewhere_or_not_a_name() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let bitbucket = host(&sim, Arc::new(MemoryCache::default()));
    sim.delete_repo("log").unwrap();
    for name in ["acme/log", "other/http-client", "acme", "acme/x/y"] {
        assert!(
            bitbucket.fetch_repo(name).await.unwrap().is_none(),
            "{name}"
        );
    }
    sim.create_repo(&RepoSpec::new("fresh")).unwrap();
    let fresh = bitbucket.fetch_repo("acme/fresh").await.unwrap().unwrap();
    assert_eq!(fresh.full_name, "acme/fresh");
}

#[tokio::test]
async fn fetch_team_is_the_snapshot_team_and_sees_a_removed_member() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let cache = Arc::new(MemoryCache::default());
    let bitbucket = host(&sim, cache.clone());
    let snapshot = bitbucket.snapshot(quiet()).await.unwrap();
    let platform = snapshot
        .teams
        .items
        .iter()
        .find(|t| t.slug == "platform")
        .unwrap();

    let fetched = bitbucket.fetch_team("platform").await.unwrap().unwrap();
    assert_eq!(
        fetched,
        std::slice::from_ref(platform),
        "same shape as a snapshot"
    );

    sim.remove_team_member("platform", "carol").unwrap();
    let fetched = bitbucket.fetch_team("platform").await.unwrap().unwrap();
    assert_eq!(logins(&fetched[0]), ["alice", "dave"]);
    assert!(
        bitbucket
            .fetch_team("no-such-group")
            .await
            .unwrap()
            .is_none()
    );
    sim.faults().fail_next("/1.0/groups", 1, 403);
    assert!(
        bitbucket.fetch_team("platform").await.unwrap().is_none(),
        "groups refused to this credential: a full run sorts it out"
    );
}

#[tokio::test]
async fn a_pushed_tag_is_delivered_signed_and_maps_to_its_repository() {
    let sim = BitbucketCloudSim::start(demo()).await.unwrap();
    let (url, mut received) = receiver("acme").await;
    let secret = Secret::new("hook-secret");
    let hook_spec = HookSpec {
        url: url.clone(),
        secret: secret.clone(),
    };
    let installed = host(&sim, Arc::new(MemoryCache::default()))
        .ensure_hooks(&hook_spec, &names(&["log"]))
        .await
        .unwrap();

    let sha = sim.add_tag("log", "v3.0.0").unwrap();
    // Only hooks of the pushed repository are called.
    sim.push_branch("http-client", "main").unwrap();

    let done = answered(&sim.webhooks(), 1).await;
    assert_eq!(done.len(), 1, "{done:?}");
    let delivery = received.recv().await.unwrap();
    let log = [HookTarget::Repo("acme/log".into())];
    let payload = accepted(KIND, &delivery, &secret, &done[0], ("repo:push", &log));
    let hook_uuid = delivery.0["X-Hook-UUID"].to_str().unwrap();
    assert_eq!(
        format!("{{{hook_uuid}}}"),
        installed.repos["acme/log"],
        "X-Hook-UUID names our hook"
    );
    let change = &payload["push"]["changes"][0];
    assert_eq!(change["new"]["type"], "tag");
    assert_eq!(change["new"]["name"], "v3.0.0");
    assert_eq!(change["new"]["target"]["hash"], sha.as_str());
    assert_eq!(change["old"], Value::Null);
    assert_eq!(change["created"], true);

    // A branch push carries the commit before and after.
    let before = sim.commit_of("log", "main").unwrap();
    let after = sim.push_branch("log", "main").unwrap();
    let done = answered(&sim.webhooks(), 2).await;
    let delivery = received.recv().await.unwrap();
    let payload = accepted(KIND, &delivery, &secret, &done[1], ("repo:push", &log));
    let change = &payload["push"]["changes"][0];
    assert_eq!(change["new"]["type"], "branch");
    assert_eq!(change["old"]["target"]["hash"], before.as_str());
    assert_eq!(change["new"]["target"]["hash"], after.as_str());
}
