//! Webhooks end to end: `packyard serve` with a public URL installs its hook
//! on the simulated GitHub during a run; the simulator's signed deliveries
//! then make new tags, new repositories and removed team members visible to
//! the real Composer client without any further run.

mod support;

use packyard::domain::{
    Credential, HookTarget, PackageName, ProviderKind, Secret, SyncId, Timestamp,
};
use packyard::engine::{EngineHandle, EngineSettings, NewSync, Policy};
use packyard::simulate::{GithubSim, RepoSpec, Scenario};
use packyard::store::Store;
use std::time::{Duration, Instant};
use support::{Project, Served, composer_available, ok, packyard, stderr, stdout, sync_add};

const SCENARIO: &str = r#"
token = "ghp_hooks0000000000000000000000000000000000"
[org]
login = "acme"
[[members]]
login = "root"
role = "admin"
[[members]]
login = "alice"
[[members]]
login = "carol"
[[teams]]
slug = "alpha"
name = "Alpha"
members = ["alice", "carol"]
repos = { a = "pull" }
[[repos]]
name = "a"
tags = ["v1.0.0"]
composer = { name = "acme/a", require = { php = ">=7.4" } }
"#;

/// Generous: the point is that no run happens, not how fast the machine is.
/// The benchmark measures the latency.
const DEADLINE: Duration = Duration::from_secs(20);

fn token(data: &std::path::Path, scope: &[&str]) -> String {
    let out = ok(packyard(data)
        .args(["token", "create", "--name", "t"])
        .args(scope));
    stdout(&out).trim().to_owned()
}

/// Polls `url` with `token` until `seen` holds for the response (status and
/// body); returns how long that took.
async fn wait_for(url: &str, token: &str, seen: impl Fn(u16, &str) -> bool) -> Duration {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let response = client
            .get(url)
            .basic_auth("token", Some(token))
            .send()
            .await
            .expect("packyard answers");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        if seen(status, &body) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{url} did not change within {DEADLINE:?}: HTTP {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_bring_new_tags_new_repositories_and_removed_members_to_composer() {
    if !composer_available(
        "deliveries_bring_new_tags_new_repositories_and_removed_members_to_composer",
    ) {
        return;
    }
    let sim = GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&mut sync_add(&data, &sim.api_url(), "acme", &sim.token()));
    let served = Served::start_public(&data);
    ok(packyard(&data).args(["sync", "run", "acme"]));

    let hooks = sim.webhooks().all();
    assert_eq!(hooks.len(), 1, "one organization hook: {hooks:?}");
    assert_eq!(hooks[0].url, format!("{}/webhooks/acme", served.url));
    let listed = stdout(&ok(packyard(&data).args(["sync", "list"])));
    assert!(listed.contains("org hook"), "{listed}");
    // A second run finds the hook and keeps it: no duplicate.
    ok(packyard(&data).args(["sync", "run", "acme"]));
    assert_eq!(sim.webhooks().all().len(), 1);

    let org = token(&data, &["--org-wide"]);
    let alice = token(&data, &["--user", "alice"]);
    let app = Project::new(tmp.path(), "app", &served, &org);
    let out = app.composer(&["require", "acme/a:^1.0"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A new tag: pushed at the host, delivered, refreshed.
    sim.add_tag("a", "v1.1.0").unwrap();
    let p2 = format!("{}/p2/acme/a.json", served.url);
    let took = wait_for(&p2, &org, |_, body| body.contains("\"v1.1.0\"")).await;
    eprintln!("new tag visible after {took:?}");
    let out = app.composer(&["require", "acme/a:1.1.0"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A new repository with a composer.json becomes a package.
    let mut spec = RepoSpec::new("fresh");
    spec.tags = vec!["v0.1.0".into()];
    spec.composer = serde_json::json!({"name": "acme/fresh"})
        .as_object()
        .cloned();
    sim.create_repo(&spec).unwrap();
    let catalog = format!("{}/packages.json", served.url);
    let took = wait_for(&catalog, &org, |_, body| body.contains("acme/fresh")).await;
    eprintln!("new repository visible after {took:?}");
    let out = app.composer(&["require", "acme/fresh:^0.1"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A member removed from the team at the host loses access.
    let mine = Project::new(tmp.path(), "alice", &served, &alice);
    let out = mine.composer(&["require", "acme/a:^1.0"]);
    assert!(
        out.status.success(),
        "alice installs before: {}",
        stderr(&out)
    );
    sim.remove_team_member("alpha", "alice").unwrap();
    let took = wait_for(&p2, &alice, |status, _| status == 404).await;
    eprintln!("removed member refused after {took:?}");
    let again = Project::new(tmp.path(), "alice-after", &served, &alice);
    let out = again.composer(&["require", "acme/a:^1.0"]);
    assert!(!out.status.success(), "alice can no longer install acme/a");

    // None of that took a full run: only the two runs above.
    let runs = sim.stats().route("/orgs/{org}/teams");
    assert!(runs <= 2, "team listings read {runs} times");

    // Removing the sync removes its hook at the host.
    ok(packyard(&data).args(["sync", "remove", "acme", "--yes"]));
    assert!(sim.webhooks().all().is_empty());
    drop(served);
}

/// A delivery that was acknowledged (queued) before packyard stopped is
/// refreshed after the restart: the queue lives in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_queued_before_a_restart_is_refreshed_after_it() {
    let sim = GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let id = SyncId::new("acme").unwrap();
    {
        let engine = EngineHandle::new(Store::open(tmp.path()).unwrap(), EngineSettings::default());
        engine
            .add_sync(NewSync {
                id: id.clone(),
                provider: ProviderKind::Github,
                api_url: sim.api_url(),
                org: sim.org(),
                credential: Credential::Token(Secret::new(sim.token())),
            })
            .await
            .unwrap();
        engine.run_sync(&id, Policy::default()).await.unwrap();
        sim.add_tag("a", "v2.0.0").unwrap();
        // What the receiver does before it answers 202, then the process dies.
        engine
            .store()
            .apply_delivery(
                &id,
                Some("delivery-1"),
                &[HookTarget::Repo("acme/a".into())],
                Timestamp::now(),
                100,
            )
            .unwrap();
    }
    // sled lets go of its lock once its last handle (some held by tasks
    // winding down) is dropped, as when a process exits.
    let started = Instant::now();
    let store = loop {
        match Store::open(tmp.path()) {
            Ok(store) => break store,
            Err(e) if e.is_locked() && started.elapsed() < DEADLINE => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("reopening the store: {e}"),
        }
    };
    let engine = EngineHandle::new(store, EngineSettings::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn({
        let (engine, stop) = (engine.clone(), stop.clone());
        async move { engine.process_webhooks(stop).await }
    });
    let name = PackageName::new("acme/a").unwrap();
    let started = Instant::now();
    while !engine
        .store()
        .load_versions(&name)
        .unwrap()
        .iter()
        .any(|v| v.version == "v2.0.0")
    {
        assert!(started.elapsed() < DEADLINE, "v2.0.0 never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while !engine.store().load_queued().unwrap().is_empty() {
        assert!(started.elapsed() < DEADLINE, "the queue was not emptied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    worker.await.unwrap();
}

const THREE_REPOS: &str = r#"
token = "ghp_hooks0000000000000000000000000000000000"
[org]
login = "acme"
[[members]]
login = "root"
role = "admin"
[[repos]]
name = "a"
tags = ["v1.0.0"]
composer = { name = "acme/a" }
[[repos]]
name = "b"
tags = ["v1.0.0"]
composer = { name = "acme/b" }
[[repos]]
name = "c"
tags = ["v1.0.0"]
composer = { name = "acme/c" }
"#;

/// An engine with a public URL serving its webhook receiver, and its sync
/// of `sim` after a first run.
async fn served_engine(
    sim: &GithubSim,
    dir: &std::path::Path,
) -> (EngineHandle, SyncId, packyard::server::Services) {
    let listener = packyard::server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let settings = EngineSettings {
        hooks: packyard::engine::HookSettings {
            public_url: Some(format!("http://{}", listener.local_addr().unwrap())),
            ..Default::default()
        },
        ..EngineSettings::default()
    };
    let engine = EngineHandle::new(Store::open(dir).unwrap(), settings);
    let id = SyncId::new("acme").unwrap();
    engine
        .add_sync(NewSync {
            id: id.clone(),
            provider: ProviderKind::Github,
            api_url: sim.api_url(),
            org: sim.org(),
            credential: Credential::Token(Secret::new(sim.token())),
        })
        .await
        .unwrap();
    let services = packyard::server::Services::start(&engine, listener, None, None);
    let first = engine.run_sync(&id, Policy::default()).await.unwrap();
    assert_eq!(first.error, None);
    (engine, id, services)
}

/// A deleted repository cannot be refreshed on its own (removals need a
/// complete listing), so its delivery ends in a full run that removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_repository_is_removed_by_the_full_run_its_delivery_triggers() {
    let sim = GithubSim::start(Scenario::from_toml_str(THREE_REPOS).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (engine, _id, services) = served_engine(&sim, tmp.path()).await;
    let name = PackageName::new("acme/a").unwrap();
    assert!(engine.store().load_package(&name).unwrap().is_some());
    sim.delete_repo("a").unwrap();
    let started = Instant::now();
    while engine.store().load_package(&name).unwrap().is_some() {
        assert!(started.elapsed() < DEADLINE, "acme/a was never removed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kept = PackageName::new("acme/b").unwrap();
    assert!(engine.store().load_package(&kept).unwrap().is_some());
    services.stop().await.unwrap();
}

/// Without the right to manage organization hooks packyard hooks every
/// repository; once it may, the org hook replaces them instead of adding a
/// second delivery of every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_repository_hooks_give_way_to_the_org_hook_once_it_is_allowed() {
    let sim = GithubSim::start(Scenario::from_toml_str(THREE_REPOS).unwrap())
        .await
        .unwrap();
    sim.faults().fail_next("/orgs/acme/hooks", u32::MAX, 403);
    let tmp = tempfile::tempdir().unwrap();
    let (engine, id, services) = served_engine(&sim, tmp.path()).await;
    let hooks = engine.list_syncs().await.unwrap()[0].hooks.clone().unwrap();
    assert_eq!(hooks.installed.org, None);
    assert_eq!(hooks.installed.repos.len(), 3, "{hooks:?}");
    assert_eq!(hooks.describe(), "3 repository hooks");
    assert_eq!(sim.webhooks().all().len(), 3);

    sim.faults().clear();
    engine.run_sync(&id, Policy::default()).await.unwrap();
    let hooks = engine.list_syncs().await.unwrap()[0].hooks.clone().unwrap();
    assert!(hooks.installed.org.is_some(), "{hooks:?}");
    let left = sim.webhooks().all();
    assert_eq!(left.len(), 1, "only the org hook is left: {left:?}");
    services.stop().await.unwrap();
}

/// Each host's own hook, payload and signature: a tag pushed on any of the
/// four reaches packyard as a delivery and shows up without a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_pushed_on_any_host_arrives_through_its_webhook() {
    use support::hosts::{Host, org};
    let hosts = [
        (
            "gh",
            Host::github(org("acme", "root", "gh", &["lib"])).await,
        ),
        (
            "gl",
            Host::gitlab(org("acme", "root", "gl", &["lib"])).await,
        ),
        (
            "bb",
            Host::bitbucket_cloud(org("acme", "root", "bb", &["lib"])).await,
        ),
        (
            "bbs",
            Host::bitbucket_server(org("acme", "root", "bbs", &["lib"])).await,
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (name, host) in &hosts {
        ok(&mut host.sync_add(&data, name));
    }
    let served = Served::start_public(&data);
    for (name, _) in &hosts {
        ok(packyard(&data).args(["sync", "run", name]));
    }
    let listed = stdout(&ok(packyard(&data).args(["sync", "list"])));
    for (name, hooks) in [
        ("gh", "org hook"),
        ("gl", "org hook"),
        ("bb", "1 repository hook"),
        ("bbs", "1 repository hook"),
    ] {
        let line = listed
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not listed: {listed}"));
        assert!(line.contains(hooks), "{name}: {line}");
    }
    let org_token = token(&data, &["--org-wide"]);
    for (name, host) in &hosts {
        host.0.add_tag("lib", "v1.1.0").unwrap();
        let p2 = format!("{}/p2/{name}/lib.json", served.url);
        let took = wait_for(&p2, &org_token, |_, body| body.contains("\"v1.1.0\"")).await;
        eprintln!("{name}: new tag visible after {took:?}");
    }
}
