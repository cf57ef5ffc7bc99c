//! End to end, with the real Composer client: package names cannot be taken
//! over (on a full run nor through a push webhook), `package move` is the
//! admin's way to give one to another repository, every tagged version has
//! its `shasum` right after a sync, and a composer.lock keeps installing
//! after its tag was deleted or moved and while the code host is down.

mod support;

use packyard::simulate::{GithubSim, RepoSpec, Scenario};
use std::time::{Duration, Instant};
use support::{Project, Served, composer_available, ok, packyard, stderr, stdout, sync_add};

const SCENARIO: &str = r#"
token = "ghp_integrity000000000000000000000000000"
[org]
login = "acme"
[[members]]
login = "alice"
role = "admin"
[[repos]]
name = "logger"
tags = ["v1.0.0", "v1.1.0"]
composer = { name = "acme/logger", license = "MIT" }
"#;

/// Long enough for a webhook delivery and its refresh on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);

/// The p2 document of `name` (tags), as the org-wide token sees it.
async fn p2(served: &Served, token: &str, name: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{}/p2/{name}.json", served.url))
        .basic_auth("token", Some(token))
        .send()
        .await
        .expect("packyard answers")
        .json()
        .await
        .expect("p2 is JSON")
}

/// The versions (and their dist references) p2 lists for `name`.
async fn versions(served: &Served, token: &str, name: &str) -> Vec<(String, String)> {
    let doc = p2(served, token, name).await;
    let mut out = Vec::new();
    let mut reference = String::new();
    // p2 is minified: an entry repeats only what changed since the last one.
    for entry in doc["packages"][name].as_array().into_iter().flatten() {
        if let Some(r) = entry["dist"]["reference"].as_str() {
            reference = r.to_owned();
        }
        out.push((
            entry["version"].as_str().unwrap_or_default().to_owned(),
            reference.clone(),
        ));
    }
    out
}

/// A fresh project that installs exactly `from`'s composer.lock.
fn install_locked(
    from: &Project,
    root: &std::path::Path,
    name: &str,
    served: &Served,
    token: &str,
) -> std::process::Output {
    let copy = Project::new(root, name, served, token);
    for file in ["composer.json", "composer.lock"] {
        std::fs::copy(from.dir.join(file), copy.dir.join(file)).unwrap();
    }
    let out = copy.composer(&["install"]);
    assert!(
        copy.dir.join("vendor/acme/logger/composer.json").exists() || !out.status.success(),
        "install reported success without installing"
    );
    out
}

fn said(out: &std::process::Output) -> String {
    format!("{}\n{}", stdout(out), stderr(out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_cannot_be_taken_over_and_locks_survive_deleted_tags_and_host_outages() {
    if !composer_available(
        "names_cannot_be_taken_over_and_locks_survive_deleted_tags_and_host_outages",
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
    let run = stdout(&ok(packyard(&data).args(["sync", "run", "acme"])));
    assert!(run.contains("prefetched 3 archives"), "{run}");
    let token = stdout(&ok(packyard(&data).args([
        "token",
        "create",
        "--org-wide",
        "--name",
        "ci",
    ])))
    .trim()
    .to_owned();

    // Right after the sync, before any install, every tag carries its shasum.
    let doc = p2(&served, &token, "acme/logger").await;
    let entries = doc["packages"]["acme/logger"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{doc}");
    let first_shasum = entries[0]["dist"]["shasum"].as_str().unwrap();
    assert_eq!(first_shasum.len(), 40, "{doc}");
    let second_shasum = entries[1]["dist"]["shasum"]
        .as_str()
        .unwrap_or(first_shasum);
    assert!(
        second_shasum.len() == 40 && second_shasum != first_shasum,
        "{doc}"
    );

    let newest = Project::new(tmp.path(), "newest", &served, &token);
    let out = newest.composer(&["require", "acme/logger:^1.0"]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(newest.lock()["packages"][0]["version"], "v1.1.0");
    let oldest = Project::new(tmp.path(), "oldest", &served, &token);
    let out = oldest.composer(&["require", "acme/logger:1.0.0"]);
    assert!(out.status.success(), "{}", said(&out));
    let real = versions(&served, &token, "acme/logger").await;

    // The takeover: a member creates a repository declaring acme/logger
    // with a higher tag. Its `repository` and `push` deliveries arrive
    // first; a later tag on the real repository shows they were processed.
    let mut evil = RepoSpec::new("aaa-evil");
    evil.tags = vec!["v99.0.0".into()];
    evil.composer = serde_json::json!({"name": "acme/logger"})
        .as_object()
        .cloned();
    sim.create_repo(&evil).unwrap();
    sim.add_tag("aaa-evil", "v99.0.1").unwrap();
    sim.add_tag("logger", "v1.2.0").unwrap();
    let started = Instant::now();
    while !versions(&served, &token, "acme/logger")
        .await
        .iter()
        .any(|(v, _)| v == "v1.2.0")
    {
        assert!(
            started.elapsed() < DEADLINE,
            "the push to logger never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after_hooks = versions(&served, &token, "acme/logger").await;
    assert!(
        after_hooks.iter().all(|(v, _)| !v.starts_with("v99")),
        "{after_hooks:?}"
    );
    assert!(
        after_hooks
            .iter()
            .all(|(_, r)| Some(r.clone()) != sim.commit_of("aaa-evil", "v99.0.0"))
    );

    // A full run keeps the name too, and says who claims it.
    let run = stdout(&ok(packyard(&data).args(["sync", "run", "acme"])));
    assert!(run.contains("package name conflicts (1)"), "{run}");
    assert!(
        run.contains("package move acme/logger --to-repo acme:acme/aaa-evil"),
        "{run}"
    );
    let listed = stdout(&ok(packyard(&data).args(["sync", "list"])));
    assert!(listed.contains("1 name conflicts"), "{listed}");
    let after_run = versions(&served, &token, "acme/logger").await;
    assert!(
        after_run.iter().all(|(v, _)| !v.starts_with("v99")),
        "{after_run:?}"
    );
    let mut fresh = Project::new(tmp.path(), "fresh", &served, &token);
    let out = fresh.composer(&["require", "acme/logger:*"]);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(fresh.lock()["packages"][0]["version"], "v1.2.0");

    // The locked tags go: v1.1.0 deleted, v1.0.0 moved to another commit.
    sim.delete_tag("logger", "v1.1.0").unwrap();
    sim.add_tag_at("logger", "v1.0.0", "main").unwrap();
    ok(packyard(&data).args(["sync", "run", "acme"]));
    let now = versions(&served, &token, "acme/logger").await;
    assert!(
        !now.iter().any(|(v, _)| v == "v1.1.0"),
        "metadata lists current versions only: {now:?}"
    );
    assert_ne!(
        now.iter().find(|(v, _)| v == "v1.0.0").map(|(_, r)| r),
        real.iter().find(|(v, _)| v == "v1.0.0").map(|(_, r)| r),
        "v1.0.0 moved"
    );
    let out = install_locked(&newest, tmp.path(), "deleted-tag", &served, &token);
    assert!(
        out.status.success(),
        "lock of a deleted tag: {}",
        said(&out)
    );
    let out = install_locked(&oldest, tmp.path(), "moved-tag", &served, &token);
    assert!(out.status.success(), "lock of a moved tag: {}", said(&out));

    // The admin gives the name to the other repository, after a preview.
    let preview = packyard(&data)
        .args([
            "package",
            "move",
            "acme/logger",
            "--to-repo",
            "acme:acme/aaa-evil",
        ])
        .output()
        .unwrap();
    assert!(
        !preview.status.success(),
        "not on a terminal, so --yes is needed"
    );
    assert!(
        stdout(&preview).contains("acme/logger: from acme:acme/logger to acme:acme/aaa-evil"),
        "{}",
        said(&preview)
    );
    assert!(stderr(&preview).contains("--yes"), "{}", said(&preview));
    assert!(
        !versions(&served, &token, "acme/logger")
            .await
            .iter()
            .any(|(v, _)| v.starts_with("v99"))
    );
    let moved = stdout(&ok(packyard(&data).args([
        "package",
        "move",
        "acme/logger",
        "--to-repo",
        "acme:acme/aaa-evil",
        "--yes",
    ])));
    assert!(moved.contains("Moved acme/logger"), "{moved}");
    let now = versions(&served, &token, "acme/logger").await;
    assert!(now.iter().any(|(v, _)| v == "v99.0.0"), "{now:?}");
    assert!(!now.iter().any(|(v, _)| v == "v1.2.0"), "{now:?}");
    ok(packyard(&data).args([
        "package",
        "move",
        "acme/logger",
        "--to-repo",
        "acme:acme/logger",
        "--yes",
    ]));

    // The host goes away: locks still install, from the dist store.
    sim.shutdown().await;
    for (project, name) in [
        (&newest, "outage-newest"),
        (&oldest, "outage-oldest"),
        (&fresh, "outage-fresh"),
    ] {
        let out = install_locked(project, tmp.path(), name, &served, &token);
        assert!(
            out.status.success(),
            "{name} with the host down: {}",
            said(&out)
        );
    }
    fresh = Project::new(tmp.path(), "outage-resolve", &served, &token);
    let out = fresh.composer(&["require", "acme/logger:^1.0"]);
    assert!(
        out.status.success(),
        "a new require with the host down: {}",
        said(&out)
    );
}
