//! The primary synchronization through the CLI: promotion previews who gains
//! and loses owner/admin access, the primary cannot be removed, a removed
//! sync takes its teams and leaves its packages, and linking identities
//! restores access.

mod support;

use packyard::simulate::{GithubSim, Scenario};
use support::{ok, packyard, stderr, stdout};

fn scenario(org: &str, admin: &str, repo: &str) -> Scenario {
    Scenario::from_toml_str(&format!(
        r#"
token = "ghp_{org}"
[org]
login = "{org}"
[[members]]
login = "{admin}"
role = "admin"
[[members]]
login = "dev"
[[teams]]
slug = "devs"
name = "Devs"
members = ["dev"]
repos = {{ {repo} = "pull" }}
[[repos]]
name = "{repo}"
tags = ["v1.0.0"]
composer = {{ name = "{org}/{repo}" }}
"#
    ))
    .unwrap()
}

fn add(data: &std::path::Path, name: &str, sim: &GithubSim) {
    ok(packyard(data)
        .args([
            "sync",
            "add",
            "github",
            "--name",
            name,
            "--org",
            &sim.org(),
            "--api-url",
            &sim.api_url(),
            "--token-env",
            "T",
        ])
        .env("T", sim.token()));
    ok(packyard(data).args(["sync", "run", name]));
}

fn users(data: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&ok(packyard(data).args(["user", "list", "--json"])).stdout).unwrap()
}

fn is_owner(users: &serde_json::Value, id: &str) -> bool {
    users
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["id"] == id && u["owner"] == true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primary_moves_with_a_preview_and_old_sync_goes_when_no_longer_primary() {
    let old = GithubSim::start(scenario("oldorg", "root", "lib"))
        .await
        .unwrap();
    let new = GithubSim::start(scenario("neworg", "ops", "app"))
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let data = data.path();
    add(data, "old", &old);
    add(data, "new", &new);
    assert!(is_owner(&users(data), "root"));
    assert!(
        !is_owner(&users(data), "ops"),
        "admins of a non-primary org are not packyard admins"
    );

    let refused = packyard(data)
        .args(["sync", "remove", "old", "--yes"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("primary synchronization")
            && stderr(&refused).contains("sync promote"),
        "{}",
        stderr(&refused)
    );

    let unconfirmed = packyard(data)
        .args(["sync", "promote", "new"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        !unconfirmed.status.success(),
        "off a terminal promotion needs --yes"
    );
    assert!(
        stdout(&unconfirmed).contains("lose owner/admin access: root"),
        "{}",
        stdout(&unconfirmed)
    );
    assert!(
        is_owner(&users(data), "root"),
        "nothing changed without confirmation"
    );

    let promoted = ok(packyard(data).args(["sync", "promote", "new", "--yes"]));
    assert!(
        stdout(&promoted).contains("gain owner/admin access: ops"),
        "{}",
        stdout(&promoted)
    );
    let after = users(data);
    assert!(is_owner(&after, "ops") && !is_owner(&after, "root"));

    let removed = ok(packyard(data).args(["sync", "remove", "old", "--yes"]));
    assert!(
        stdout(&removed).contains("packages stay"),
        "{}",
        stdout(&removed)
    );
    let teams = stdout(&ok(packyard(data).args(["team", "list", "--sync", "old"])));
    assert_eq!(teams.lines().count(), 1, "only the header is left: {teams}");
    let packages = stdout(&ok(
        packyard(data).args(["package", "list", "--sync", "old"])
    ));
    assert!(packages.contains("oldorg/lib"), "{packages}");

    let bulk = ok(packyard(data).args(["package", "remove", "--sync", "old", "--yes"]));
    assert!(
        stdout(&bulk).contains("oldorg/lib") && stdout(&bulk).contains("Removed 1 packages"),
        "{}",
        stdout(&bulk)
    );
    let names: serde_json::Value =
        serde_json::from_slice(&ok(packyard(data).args(["package", "list", "--json"])).stdout)
            .unwrap();
    assert_eq!(names.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_an_identity_restores_owner_access_when_the_new_primary_knows_them_by_another_login()
 {
    let old = GithubSim::start(scenario("oldorg", "root", "lib"))
        .await
        .unwrap();
    let new = GithubSim::start(scenario("neworg", "root-alt", "app"))
        .await
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let data = data.path();
    add(data, "old", &old);
    add(data, "new", &new);
    ok(packyard(data).args(["sync", "promote", "new", "--yes"]));
    assert!(!is_owner(&users(data), "root"));

    let bad = packyard(data)
        .args(["user", "link", "root", "new:nobody"])
        .output()
        .unwrap();
    assert!(
        stderr(&bad).contains("no identity \"nobody\""),
        "{}",
        stderr(&bad)
    );
    ok(packyard(data).args(["user", "link", "root", "new:root-alt"]));
    let after = users(data);
    assert!(is_owner(&after, "root"), "{after}");
    let root = after
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "root")
        .unwrap();
    assert_eq!(root["identities"].as_array().unwrap().len(), 2);

    ok(packyard(data).args(["sync", "run", "new"]));
    assert!(is_owner(&users(data), "root"), "a run never undoes a link");
    ok(packyard(data).args(["user", "unlink", "root", "new:root-alt"]));
    assert!(!is_owner(&users(data), "root"));
}
