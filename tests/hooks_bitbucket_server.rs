//! Bitbucket Server webhooks against the simulator on 127.0.0.1:0: hook
//! installation and removal through the repository webhook API, targeted
//! refreshes of one repository or project team, and signed
//! `repo:refs_changed` deliveries to a local receiver that packyard's
//! verification and targets accept.

mod support;

use packyard::domain::{Credential, HookTarget, InstalledHooks, ProviderKind, Secret};
use packyard::providers::bitbucket_server::BitbucketServerHost;
use packyard::providers::hooks::HookSpec;
use packyard::providers::{CodeHost, MemoryCache};
use packyard::simulate::webhooks::HookScope;
use packyard::simulate::{BitbucketServerSim, RepoSpec};
use std::sync::Arc;
use support::deliveries::{accepted, answered, receiver};
use support::snapshots::*;

const KIND: ProviderKind = ProviderKind::BitbucketServer;

fn host_for(sim: &BitbucketServerSim, projects: &str) -> BitbucketServerHost {
    let token = Credential::Token(Secret::new(sim.token()));
    let cache = Arc::new(MemoryCache::default());
    BitbucketServerHost::new(&sim.api_url(), projects, &token, cache, &settings()).unwrap()
}

fn host(sim: &BitbucketServerSim) -> BitbucketServerHost {
    host_for(sim, &sim.org())
}

fn spec(url: &str, secret: &str) -> HookSpec {
    HookSpec {
        url: url.to_owned(),
        secret: Secret::new(secret),
    }
}

/// Full names as the provider gives them: `{project key}/{slug}`.
fn names(sim: &BitbucketServerSim, repos: &[&str]) -> Vec<String> {
    repos
        .iter()
        .map(|r| format!("{}/{r}", sim.project_key(r).unwrap()))
        .collect()
}

#[tokio::test]
async fn ensure_hooks_creates_one_hook_per_repository_and_updates_it_when_called_again() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let bitbucket = host(&sim);
    let url = "http://packyard.test/webhooks/dc";
    let repos = names(&sim, &["log", "http-client"]);

    let first = bitbucket
        .ensure_hooks(&spec(url, "one"), &repos)
        .await
        .unwrap();
    let second = bitbucket
        .ensure_hooks(&spec(url, "two"), &repos)
        .await
        .unwrap();

    assert_eq!(first.org, None);
    assert!(first.failures.is_empty(), "{:?}", first.failures);
    assert_eq!(
        first.repos.keys().collect::<Vec<_>>(),
        ["HTTP_CLIENT/http-client", "LOG/log"]
    );
    assert_eq!(second, first, "same hooks, no failures");
    let hooks = sim.webhooks().all();
    assert_eq!(hooks.len(), 2, "no duplicate: {hooks:?}");
    for hook in hooks {
        assert_eq!(hook.url, url);
        assert!(hook.active);
        assert_eq!(hook.events, ["repo:refs_changed", "repo:modified"]);
        assert_eq!(hook.secret.as_deref(), Some("two"), "the secret is updated");
    }
}

#[tokio::test]
async fn ensure_hooks_reports_failing_repositories_and_removal_leaves_none() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let path = "/rest/api/1.0/projects/HTTP_CLIENT/repos/http-client/webhooks";
    sim.faults().fail_next(path, 1, 403);
    let bitbucket = host(&sim);
    let mut repos = names(&sim, &["log", "http-client", "ui-kit"]);
    repos.extend(["GONE/gone".to_owned(), "no-slash".to_owned()]);

    let installed = bitbucket
        .ensure_hooks(&spec("http://p.test/w", "s"), &repos)
        .await
        .unwrap();

    assert_eq!(
        installed.repos.keys().collect::<Vec<_>>(),
        ["LOG/log", "UI_KIT/ui-kit"]
    );
    assert_eq!(
        installed.failures.keys().collect::<Vec<_>>(),
        ["GONE/gone", "HTTP_CLIENT/http-client", "no-slash"]
    );
    assert!(installed.failures["HTTP_CLIENT/http-client"].contains("403"));

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
async fn ensure_hooks_keeps_other_hooks_and_reports_each_refused_repository() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let ci = sim.webhooks().create(
        HookScope::Repo("log".into()),
        "http://ci.test/hook",
        None,
        vec!["repo:refs_changed".into()],
        true,
    );
    // Bitbucket answers 401 for a repository the account may not
    // administer: that repository fails, the others are installed.
    let path = "/rest/api/1.0/projects/CACHE/repos/cache/webhooks";
    sim.faults().fail_next(path, 1, 401);
    let installed = host(&sim)
        .ensure_hooks(
            &spec("http://p.test/w", "s"),
            &names(&sim, &["log", "cache"]),
        )
        .await
        .unwrap();
    assert_eq!(installed.repos.keys().collect::<Vec<_>>(), ["LOG/log"]);
    assert_eq!(
        installed.failures.keys().collect::<Vec<_>>(),
        ["CACHE/cache"]
    );
    assert_eq!(
        sim.webhooks().all()[0],
        ci,
        "someone else's hook is untouched"
    );

    let wrong = BitbucketServerHost::new(
        &sim.api_url(),
        "",
        &Credential::Token(Secret::new("wrong")),
        Arc::new(MemoryCache::default()),
        &settings(),
    )
    .unwrap();
    let refused = wrong
        .ensure_hooks(&spec("http://p.test/w", "s"), &names(&sim, &["log"]))
        .await
        .unwrap();
    assert!(refused.repos.is_empty());
    assert!(refused.failures["LOG/log"].contains("401"));
}

#[tokio::test]
async fn fetch_repo_sees_a_new_tag_and_is_none_when_gone_or_not_selected() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let bitbucket = host(&sim);
    let sha = sim.add_tag("log", "v9.0.0").unwrap();

    let log = bitbucket.fetch_repo("LOG/log").await.unwrap().unwrap();

    assert!(log.refs.complete);
    let tag = log.refs.items.iter().find(|r| r.name == "v9.0.0").unwrap();
    assert_eq!(tag.commit, sha);
    let snapshot = bitbucket.snapshot(quiet()).await.unwrap();
    assert_eq!(&log, repo(&snapshot, "log"), "as a snapshot shows it");
    // Keys match without case, as Bitbucket's do.
    assert!(bitbucket.fetch_repo("log/log").await.unwrap().is_some());

    let only_cache = host_for(&sim, "CACHE");
    assert!(only_cache.fetch_repo("LOG/log").await.unwrap().is_none());
    // Bitbucket hides what the account may not see behind a 401.
    sim.faults()
        .fail_next("/rest/api/1.0/projects/LOG/repos/log", 1, 401);
    assert!(bitbucket.fetch_repo("LOG/log").await.unwrap().is_none());
    sim.delete_repo("log").unwrap();
    for name in ["LOG/log", "LOG", "LOG/log/x"] {
        assert!(
            bitbucket.fetch_repo(name).await.unwrap().is_none(),
            "{name}"
        );
    }
    sim.create_repo(&RepoSpec::new("fresh")).unwrap();
    let fresh = bitbucket.fetch_repo("FRESH/fresh").await.unwrap().unwrap();
    assert_eq!(fresh.full_name, "FRESH/fresh");
}

#[tokio::test]
async fn fetch_team_is_the_snapshot_team_and_sees_a_removed_member() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let bitbucket = host(&sim);
    let snapshot = bitbucket.snapshot(quiet()).await.unwrap();
    for slug in ["LOG-admin", "LOG-read"] {
        let listed = snapshot
            .teams
            .items
            .iter()
            .find(|t| t.slug == slug)
            .unwrap();
        let fetched = bitbucket.fetch_team(slug).await.unwrap().unwrap();
        assert_eq!(
            fetched,
            std::slice::from_ref(listed),
            "{slug}: same shape as a snapshot"
        );
    }

    sim.remove_team_member("platform", "carol").unwrap();
    let fetched = bitbucket.fetch_team("LOG-admin").await.unwrap().unwrap();
    assert_eq!(logins(&fetched[0]), ["alice", "dave"]);
    for gone in ["LOG-write", "LOG-owner", "NOPE-admin", "admin"] {
        assert!(
            bitbucket.fetch_team(gone).await.unwrap().is_none(),
            "{gone}"
        );
    }
    assert!(
        host_for(&sim, "CACHE")
            .fetch_team("LOG-admin")
            .await
            .unwrap()
            .is_none(),
        "a project the sync does not select"
    );
}

#[tokio::test]
async fn a_pushed_tag_is_delivered_signed_and_maps_to_its_repository() {
    let sim = BitbucketServerSim::start(demo()).await.unwrap();
    let (url, mut received) = receiver("dc").await;
    let secret = Secret::new("hook-secret");
    let hook_spec = HookSpec {
        url,
        secret: secret.clone(),
    };
    host(&sim)
        .ensure_hooks(&hook_spec, &names(&sim, &["log"]))
        .await
        .unwrap();

    let sha = sim.add_tag("log", "v3.0.0").unwrap();
    // Only hooks of the pushed repository are called.
    sim.push_branch("http-client", "main").unwrap();

    let done = answered(&sim.webhooks(), 1).await;
    assert_eq!(done.len(), 1, "{done:?}");
    let log = [HookTarget::Repo("LOG/log".into())];
    let event = ("repo:refs_changed", &log[..]);
    let delivery = received.recv().await.unwrap();
    let payload = accepted(KIND, &delivery, &secret, &done[0], event);
    let change = &payload["changes"][0];
    assert_eq!(change["ref"]["id"], "refs/tags/v3.0.0");
    assert_eq!(change["ref"]["type"], "TAG");
    assert_eq!(change["type"], "ADD");
    assert_eq!(change["toHash"], sha.as_str());

    // A branch push carries the commit before and after.
    let before = sim.commit_of("log", "main").unwrap();
    let after = sim.push_branch("log", "main").unwrap();
    let done = answered(&sim.webhooks(), 2).await;
    let delivery = received.recv().await.unwrap();
    let payload = accepted(KIND, &delivery, &secret, &done[1], event);
    let change = &payload["changes"][0];
    assert_eq!(change["ref"]["id"], "refs/heads/main");
    assert_eq!(change["type"], "UPDATE");
    assert_eq!(
        (change["fromHash"].as_str(), change["toHash"].as_str()),
        (Some(before.as_str()), Some(after.as_str()))
    );
}
