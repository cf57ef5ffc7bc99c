//! End to end: packyard syncs a simulated Bitbucket Server instance, `packyard
//! serve` serves it, and the real Composer client installs from it (archives
//! without a top folder, as Bitbucket streams them).

mod support;

use packyard::simulate::{BitbucketServerSim, Scenario};
use std::path::Path;
use std::process::Command;
use support::{Project, Served, composer_available, ok, packyard, stderr, stdout};

const SCENARIO: &str = r#"
token = "BBDC-e2e000000000000000000000000000000000000"
[org]
login = "acme"
[[members]]
login = "alice"
role = "admin"
[[teams]]
slug = "platform"
name = "Platform"
members = ["alice"]
repos = { log = "push", http-client = "push" }
[[repos]]
name = "log"
branches = ["1.x"]
tags = ["v1.0.0", "v1.1.0", "release-candidate"]
composer = { name = "acme/log", license = "MIT", require = { php = ">=7.4" }, autoload = { psr-4 = { "Acme\\Log\\" = "src/" } } }
[[repos]]
name = "http-client"
tags = ["v0.9.0", "v1.0.0"]
invalid_composer = ["v0.9.0"]
composer = { name = "acme/http-client", license = "MIT", require = { php = ">=7.4", "acme/log" = "^1.1" } }
[[repos]]
name = "handbook"
"#;

/// `sync add bitbucket-server` for every project, with the username and the
/// secret as its password, passed through the environment.
fn sync_add(data: &Path, api_url: &str, username: &str, secret: &str) -> Command {
    let mut cmd = packyard(data);
    cmd.args([
        "sync",
        "add",
        "bitbucket-server",
        "--name",
        "acme",
        "--api-url",
        api_url,
        "--username",
        username,
        "--token-env",
        "SIM_TOKEN",
    ])
    .env("SIM_TOKEN", secret);
    cmd
}

fn locked(app: &Project) -> Vec<(String, String)> {
    app.lock()["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composer_installs_from_a_synced_bitbucket_server_when_token_is_valid() {
    if !composer_available("composer_installs_from_a_synced_bitbucket_server_when_token_is_valid") {
        return;
    }
    let sim = BitbucketServerSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let api = sim.api_url();

    let refused = sync_add(&data, &api, &sim.username(), "wrong-password")
        .output()
        .unwrap();
    assert!(!refused.status.success(), "wrong credentials are refused");
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));
    assert!(!stderr(&refused).contains("wrong-password"));

    let added = ok(&mut sync_add(&data, &api, &sim.username(), &sim.token()));
    assert!(stdout(&added).contains("primary"), "{}", stdout(&added));
    let run = ok(packyard(&data).args(["sync", "run", "acme"]));
    let summary = stdout(&run);
    assert!(summary.contains("packages +2"), "{summary}");
    assert!(
        summary.contains("v0.9.0"),
        "invalid composer.json reported: {summary}"
    );
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
    assert_eq!(
        locked(&app),
        [
            ("acme/http-client".to_owned(), "v1.0.0".to_owned()),
            ("acme/log".to_owned(), "v1.1.0".to_owned())
        ]
    );
    assert!(
        app.dir
            .join("vendor/acme/http-client/composer.json")
            .exists(),
        "files at the archive root land in the package directory"
    );
    assert!(app.dir.join("vendor/acme/log/src/Placeholder.php").exists());

    let dev = Project::new(tmp.path(), "dev", &served, &token);
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
    assert!(dev.dir.join("vendor/acme/log/composer.json").exists());

    let stranger = Project::new(tmp.path(), "stranger", &served, "pky_not-a-real-token");
    let out = stranger.composer(&["require", "acme/log:^1.0"]);
    assert!(!out.status.success(), "a wrong token must not install");
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("401"), "{said}");
    assert!(!stranger.dir.join("vendor/acme/log").exists());
}
