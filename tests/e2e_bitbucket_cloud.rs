//! End to end: packyard syncs a simulated Bitbucket Cloud workspace,
//! `packyard serve` serves it, and the real Composer client installs from it
//! (dists fetched through the provider from the workspace's web host).

mod support;

use packyard::simulate::{BitbucketCloudSim, Scenario};
use support::{Project, Served, composer_available, ok, packyard, stderr, stdout};

const SCENARIO: &str = r#"
token = "ATATT3xFfGF0e2e0000000000000000000000000"
[org]
login = "acme"
name = "Acme Corp"
[[members]]
login = "alice"
email = "alice@acme.test"
role = "admin"
[[teams]]
slug = "developers"
name = "Developers"
members = ["alice"]
repos = { log = "push", http-client = "push" }
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

fn locked(lock: &serde_json::Value) -> Vec<(String, String)> {
    lock["packages"]
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
async fn composer_installs_from_a_synced_bitbucket_workspace_when_token_is_valid() {
    if !composer_available(
        "composer_installs_from_a_synced_bitbucket_workspace_when_token_is_valid",
    ) {
        return;
    }
    let sim = BitbucketCloudSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    let added = ok(packyard(&data)
        .args(["sync", "add", "bitbucket-cloud", "--name", "acme"])
        .args(["--workspace", &sim.org(), "--api-url", &sim.api_url()])
        .args(["--username", &sim.username(), "--token-env", "SIM_TOKEN"])
        .env("SIM_TOKEN", sim.token()));
    assert!(stdout(&added).contains("primary"), "{}", stdout(&added));
    assert!(
        !stdout(&added).contains("app passwords"),
        "an email is an API token: {}",
        stdout(&added)
    );
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
    assert!(
        app.dir
            .join("vendor/acme/http-client/composer.json")
            .exists()
    );
    assert!(
        app.dir.join("vendor/acme/log/src").exists(),
        "dependency installed from packyard too"
    );
    assert_eq!(
        locked(&app.lock()),
        [
            ("acme/http-client".to_owned(), "v1.0.0".to_owned()),
            ("acme/log".to_owned(), "v1.1.0".to_owned())
        ]
    );
    let dist = &app.lock()["packages"][0]["dist"];
    assert!(
        dist["url"].as_str().unwrap().starts_with(&served.url),
        "{dist}"
    );

    let dev = Project::new(tmp.path(), "dev", &served, &token);
    // Branch `1.x` is Composer's dev version `1.x-dev`.
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

#[test]
fn sync_add_is_refused_when_bitbucket_credentials_are_wrong() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(BitbucketCloudSim::start(
            Scenario::from_toml_str(SCENARIO).unwrap(),
        ))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = packyard(&tmp.path().join("data"))
        .args(["sync", "add", "bitbucket-cloud", "--name", "acme"])
        .args(["--workspace", &sim.org(), "--api-url", &sim.api_url()])
        .args(["--token-env", "SIM_TOKEN"])
        .env("SIM_TOKEN", "not-the-workspace-token")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = stderr(&out);
    assert!(said.contains("rejected the credentials"), "{said}");
    assert!(!said.contains("not-the-workspace-token"), "{said}");
}
