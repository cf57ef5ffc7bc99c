//! End to end: packyard syncs a simulated GitLab group, `packyard serve`
//! serves it, and the real Composer client installs from it.

mod support;

use packyard::simulate::{GitlabSim, Scenario};
use std::path::Path;
use std::process::Command;
use support::{Project, Served, composer_available, ok, packyard, stderr, stdout};

const SCENARIO: &str = r#"
token = "glpat-e2e0000000000000000"
[org]
login = "acme"
name = "Acme Corp"
[[members]]
login = "alice"
role = "admin"
[[members]]
login = "bob"
[[teams]]
slug = "platform"
name = "Platform"
members = ["bob"]
repos = { log = "push", http-client = "pull" }
[[repos]]
name = "log"
branches = ["1.x"]
tags = ["v1.0.0", "v1.1.0"]
composer = { name = "acme/log", license = "MIT", require = { php = ">=7.4" }, autoload = { psr-4 = { "Acme\\Log\\" = "src/" } } }
[[repos]]
name = "http-client"
tags = ["v0.9.0", "v1.0.0"]
invalid_composer = ["v0.9.0"]
composer = { name = "acme/http-client", license = "MIT", require = { php = ">=7.4", "acme/log" = "^1.1" } }
[[repos]]
name = "handbook"
"#;

/// `sync add gitlab --name acme` for `group` at `api_url`, the token passed
/// through the environment as an admin would.
fn sync_add(data_dir: &Path, api_url: &str, group: &str, token: &str) -> Command {
    let mut cmd = packyard(data_dir);
    cmd.args([
        "sync",
        "add",
        "gitlab",
        "--name",
        "acme",
        "--group",
        group,
        "--api-url",
        api_url,
        "--token-env",
        "SIM_TOKEN",
    ])
    .env("SIM_TOKEN", token);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composer_installs_from_a_synced_gitlab_group_when_token_is_valid() {
    if !composer_available("composer_installs_from_a_synced_gitlab_group_when_token_is_valid") {
        return;
    }
    let sim = GitlabSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let api = sim.api_url();

    let refused = sync_add(&data, &api, "acme", "glpat-wrong")
        .output()
        .unwrap();
    assert!(!refused.status.success(), "a wrong GitLab token is refused");
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));

    let added = ok(&mut sync_add(&data, &api, &sim.org(), &sim.token()));
    assert!(stdout(&added).contains("primary"), "{}", stdout(&added));
    let run = ok(packyard(&data).args(["sync", "run", "acme"]));
    let summary = stdout(&run);
    assert!(summary.contains("packages +2"), "{summary}");
    assert!(
        summary.contains("v0.9.0"),
        "invalid composer.json reported: {summary}"
    );
    let teams = stdout(&ok(packyard(&data).args(["team", "list"])));
    assert!(teams.contains("acme/platform:developer"), "{teams}");
    let token = stdout(&ok(packyard(&data).args([
        "token",
        "create",
        "--org-wide",
        "--name",
        "e2e",
    ])))
    .trim()
    .to_owned();
    assert!(token.starts_with("pky_"), "{token}");

    let served = Served::start(&data);
    let app = Project::new(tmp.path(), "app", &served, &token);
    let out = app.composer(&["require", "acme/http-client:^1.0"]);
    assert!(
        out.status.success(),
        "composer require failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        app.dir
            .join("vendor/acme/http-client/composer.json")
            .exists()
    );
    assert!(app.dir.join("vendor/acme/log/composer.json").exists());
    let lock = app.lock();
    let versions: Vec<(&str, &str)> = lock["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect();
    assert_eq!(
        versions,
        [("acme/http-client", "v1.0.0"), ("acme/log", "v1.1.0")]
    );

    let dev = Project::new(tmp.path(), "dev", &served, &token);
    // Composer names the branch `1.x` as the version `1.x-dev`.
    let out = dev.composer(&["require", "acme/log:1.x-dev"]);
    assert!(
        out.status.success(),
        "composer require 1.x-dev failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let lock = dev.lock();
    assert_eq!(lock["packages"][0]["version"], "1.x-dev");
    assert_eq!(
        lock["packages"][0]["dist"]["reference"].as_str().unwrap(),
        sim.commit_of("log", "1.x").unwrap()
    );
    assert!(dev.dir.join("vendor/acme/log/src/Placeholder.php").exists());

    let stranger = Project::new(tmp.path(), "stranger", &served, "pky_not-a-real-token");
    let out = stranger.composer(&["require", "acme/log:^1.0"]);
    assert!(!out.status.success(), "a wrong token must not install");
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("401"), "{said}");
    assert!(!stranger.dir.join("vendor/acme/log").exists());
}
