//! The engine against the simulated GitHub: event order, stored state,
//! incremental resyncs, partial listings and the deletion guard.

use packyard::domain::{Credential, PackageName, ProviderKind, Secret, SyncId};
use packyard::engine::{EngineEvent, EngineHandle, EngineSettings, NewSync, Policy};
use packyard::simulate::{GithubSim, Scenario};
use packyard::store::Store;

const SCENARIO: &str = include_str!("../assets/demo-github.toml");

struct Fixture {
    sim: GithubSim,
    engine: EngineHandle,
    id: SyncId,
    _data: tempfile::TempDir,
}

const GRAPHQL: &str = "/graphql";

async fn fixture() -> Fixture {
    let sim = GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let engine = EngineHandle::new(Store::open(data.path()).unwrap(), EngineSettings::default());
    let id = SyncId::new("acme").unwrap();
    let new = NewSync {
        id: id.clone(),
        provider: ProviderKind::Github,
        api_url: sim.api_url(),
        org: sim.org(),
        credential: Credential::Token(Secret::new(sim.token())),
    };
    engine.add_sync(new).await.unwrap();
    Fixture {
        sim,
        engine,
        id,
        _data: data,
    }
}

fn versions(engine: &EngineHandle, name: &str) -> Vec<String> {
    let mut v: Vec<String> = engine
        .store()
        .load_versions(&PackageName::new(name).unwrap())
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn full_sync_reports_events_in_order_and_stores_the_org() {
    let f = fixture().await;
    let mut events = f.engine.subscribe();
    let summary = f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    assert_eq!(summary.error, None);
    assert_eq!(summary.changes.packages_added, 10);
    assert!(!summary.partial);

    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert!(
        matches!(seen.first(), Some(EngineEvent::SyncStarted { .. })),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(
            |e| matches!(e, EngineEvent::PhaseChanged { phase, .. } if phase == "repositories")
        )
    );
    let applied = seen
        .iter()
        .position(|e| matches!(e, EngineEvent::PlanApplied { .. }))
        .expect("plan applied");
    assert!(matches!(
        seen.last(),
        Some(EngineEvent::SyncFinished { .. })
    ));
    // After the commit only the prefetch of the new versions' archives
    // runs, then the summary is announced.
    let after: Vec<_> = seen[applied + 1..seen.len() - 1].iter().collect();
    assert!(
        !after.is_empty()
            && after.iter().all(
                |e| matches!(e, EngineEvent::PhaseChanged { phase, .. } if phase == "prefetch")
            ),
        "{after:?}"
    );
    let Some(EngineEvent::PhaseChanged { done, total, .. }) = after.last() else {
        panic!("the prefetch phase is missing: {after:?}")
    };
    assert_eq!(done, total, "{after:?}");
    assert_eq!(
        summary.prefetched, *total,
        "every wanted archive was fetched"
    );

    assert_eq!(
        versions(&f.engine, "acme/log"),
        ["1.x-dev", "dev-main", "v1.0.0", "v1.1.0", "v2.0.0-beta1"]
    );
    let stored = f.engine.list_syncs().await.unwrap();
    assert!(stored[0].primary);
    assert_eq!(
        stored[0].last_run.as_ref().unwrap().changes.packages_added,
        10
    );
}

#[tokio::test]
async fn resync_fetches_only_what_changed_when_a_tag_is_added() {
    let f = fixture().await;
    f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    f.sim.reset_stats();
    let quiet = f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    assert!(quiet.changes.is_empty());
    // GitHub reads through GraphQL by default: the REST listings of a
    // no-change resync are all 304s, and GraphQL reads only the teams.
    let stats = f.sim.stats();
    assert_eq!(
        stats.requests - stats.route(GRAPHQL),
        stats.not_modified,
        "a no-change resync's REST requests are all 304s: {stats:?}"
    );
    assert_eq!(stats.route(GRAPHQL), 1, "the teams query: {stats:?}");
    assert_eq!(stats.route("/repos/{owner}/{repo}/contents/{*path}"), 0);
    assert_eq!(
        stats.route("/repos/{owner}/{repo}/tags"),
        0,
        "refs of unpushed repos are reused"
    );

    f.sim.add_tag("log", "v1.2.0").unwrap();
    f.sim.reset_stats();
    let changed = f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    assert_eq!(changed.changes.versions_added, 1);
    assert_eq!(changed.changes.versions_removed, 0);
    let stats = f.sim.stats();
    assert_eq!(
        stats.route(GRAPHQL),
        2,
        "the teams, and the refs of the pushed repository with their composer.json: {stats:?}"
    );
    assert_eq!(stats.route("/repos/{owner}/{repo}/contents/{*path}"), 0);
    assert!(versions(&f.engine, "acme/log").contains(&"v1.2.0".to_owned()));
}

#[tokio::test]
async fn failed_listing_removes_nothing_when_the_run_is_partial() {
    let f = fixture().await;
    f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    f.sim.delete_repo("cache").unwrap();
    f.sim.faults().fail_next("/orgs/acme/repos", 100, 502);
    let partial = f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    assert_eq!(partial.error, None);
    assert!(partial.partial);
    assert_eq!(partial.changes.packages_removed, 0);
    assert!(!versions(&f.engine, "acme/cache").is_empty());

    f.sim.faults().clear();
    let complete = f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    assert_eq!(complete.changes.packages_removed, 1, "{complete:?}");
    assert!(versions(&f.engine, "acme/cache").is_empty());
}

#[tokio::test]
async fn removing_most_packages_needs_confirmation_when_guard_trips() {
    let f = fixture().await;
    f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    for repo in ["log", "http-client", "cache", "config", "events", "money"] {
        f.sim.delete_repo(repo).unwrap();
    }
    let refused = f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    assert!(refused.guarded, "the run says the guard held it back");
    let error = refused.error.expect("guard stops the run");
    assert!(
        error.contains("6 of 10 packages") && error.contains("--confirm-removals"),
        "{error}"
    );
    assert_eq!(
        f.engine.list_packages(None).await.unwrap().len(),
        10,
        "nothing was removed"
    );

    let confirmed = f
        .engine
        .run_sync(
            &f.id,
            Policy {
                confirm_removals: true,
                ..Policy::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((confirmed.error, confirmed.guarded), (None, false));
    assert_eq!(f.engine.list_packages(None).await.unwrap().len(), 4);
}

#[tokio::test]
async fn revocations_apply_at_once_when_the_guard_holds_package_removals() {
    let f = fixture().await;
    f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    // An offboarding at the host, on the same day most repositories vanish.
    for (team, logins) in [
        ("platform", ["alice", "carol", "dave"].as_slice()),
        ("payments", &["erin", "frank", "grace"]),
        ("web", &["heidi", "ivan", "carol"]),
    ] {
        for login in logins {
            f.sim.remove_team_member(team, login).unwrap();
        }
    }
    for repo in ["log", "http-client", "cache", "config", "events", "money"] {
        f.sim.delete_repo(repo).unwrap();
    }
    let run = f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    assert!(run.guarded, "the package removals are held");
    assert_eq!(f.engine.list_packages(None).await.unwrap().len(), 10);
    let teams = f.engine.list_teams(Some(f.id.clone())).await.unwrap();
    for slug in ["platform", "payments", "web"] {
        let team = teams.iter().find(|t| t.slug == slug).unwrap();
        assert!(team.members.is_empty(), "{slug} keeps {:?}", team.members);
    }
    assert_eq!(run.changes.revoked.len(), 9, "{:?}", run.changes.revoked);
    assert!(run.changes.revoked.contains(&"carol from web".to_owned()));
    assert_eq!(run.changes.packages_removed, 0);
}

#[tokio::test]
async fn run_fails_with_the_hosts_reason_when_the_token_is_revoked() {
    let f = fixture().await;
    f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    f.sim.faults().fail_next("/orgs/acme", 1, 401);
    let failed = f.engine.run_sync(&f.id, Policy::default()).await.unwrap();
    assert!(
        failed
            .error
            .as_deref()
            .is_some_and(|e| e.contains("rejected the credentials")),
        "{failed:?}"
    );
    assert_eq!(
        f.engine.list_packages(None).await.unwrap().len(),
        10,
        "a failed run changes nothing"
    );
}
