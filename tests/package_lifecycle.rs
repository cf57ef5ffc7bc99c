//! A package's life as an admin steers it from the CLI: a removed package is
//! not created again by the same repository until it is restored, an
//! abandoned one says so (and an archived repository marks its package by
//! itself), and `package move` refuses a repository that does not declare
//! the name.

mod support;

use packyard::simulate::{GithubSim, Scenario};
use support::{ok, packyard, stderr, stdout, sync_add};

const SCENARIO: &str = r#"
token = "ghp_lifecycle0000000000000000000000000000"
[org]
login = "acme"
[[members]]
login = "alice"
role = "admin"
[[repos]]
name = "logger"
tags = ["v1.0.0"]
composer = { name = "acme/logger" }
[[repos]]
name = "cache"
tags = ["v1.0.0"]
composer = { name = "acme/cache" }
"#;

fn package_list(data: &std::path::Path) -> String {
    stdout(&ok(packyard(data).args(["package", "list"])))
}

/// `name` as `package list --json` shows it.
fn listed(data: &std::path::Path, name: &str) -> serde_json::Value {
    let out = ok(packyard(data).args(["package", "list", "--json"]));
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    all.into_iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed"))
}

/// Whether `package list` marks `name` abandoned, in the table and the JSON.
fn shown_abandoned(data: &std::path::Path, name: &str) -> bool {
    let table = package_list(data);
    let row = table.lines().find(|l| l.starts_with(name)).unwrap();
    let package = listed(data, name);
    let in_json = !package["abandoned"].is_null() || package["archived"] == true;
    assert_eq!(row.ends_with("abandoned"), in_json, "{row} / {package}");
    in_json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_packages_stay_removed_until_restored_and_abandoned_ones_say_so() {
    let sim = GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&mut sync_add(&data, &sim.api_url(), "acme", &sim.token()));
    ok(packyard(&data).args(["sync", "run", "acme", "--no-prefetch"]));
    assert!(package_list(&data).contains("acme/logger"));

    ok(packyard(&data).args(["package", "remove", "acme/logger", "--yes"]));
    let run = stdout(&ok(packyard(&data).args([
        "sync",
        "run",
        "acme",
        "--no-prefetch",
    ])));
    assert!(run.contains("package restore acme/logger"), "{run}");
    assert!(!package_list(&data).contains("acme/logger"));

    let restored = stdout(&ok(packyard(&data).args([
        "package",
        "restore",
        "acme/logger",
    ])));
    assert!(restored.contains("may create it again"), "{restored}");
    let again = packyard(&data)
        .args(["package", "restore", "acme/logger"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("nothing to restore"),
        "{}",
        stderr(&again)
    );
    let run = stdout(&ok(packyard(&data).args([
        "sync",
        "run",
        "acme",
        "--no-prefetch",
    ])));
    assert!(run.contains("packages +1"), "{run}");
    assert!(package_list(&data).contains("acme/logger"));

    ok(packyard(&data).args([
        "package",
        "abandon",
        "acme/logger",
        "--replacement",
        "acme/cache",
    ]));
    ok(packyard(&data).args(["sync", "run", "acme", "--no-prefetch"]));
    assert!(shown_abandoned(&data, "acme/logger"), "a run keeps it");
    assert_eq!(
        listed(&data, "acme/logger")["abandoned"]["replacement"],
        "acme/cache"
    );
    ok(packyard(&data).args(["package", "abandon", "acme/logger", "--undo"]));
    assert!(!shown_abandoned(&data, "acme/logger"));

    assert!(!shown_abandoned(&data, "acme/cache"));
    sim.set_archived("cache", true).unwrap();
    ok(packyard(&data).args(["sync", "run", "acme", "--no-prefetch"]));
    assert!(shown_abandoned(&data, "acme/cache"));

    let refused = packyard(&data)
        .args([
            "package",
            "move",
            "acme/logger",
            "--to-repo",
            "acme:acme/cache",
            "--yes",
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused)
            .contains("acme/cache declares acme/cache in its composer.json, not acme/logger"),
        "{}",
        stderr(&refused)
    );
    let unknown = packyard(&data)
        .args([
            "package",
            "move",
            "acme/logger",
            "--to-repo",
            "acme:acme/nope",
            "--yes",
        ])
        .output()
        .unwrap();
    assert!(
        stderr(&unknown).contains("sees no repository \"acme/nope\""),
        "{}",
        stderr(&unknown)
    );
}
