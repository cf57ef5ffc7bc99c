//! End to end: packyard syncs a simulated GitHub organization, `packyard
//! serve` serves it, and the real Composer client installs from it.

mod support;

use packyard::simulate::{GithubSim, Scenario};
use support::{Project, Served, composer_available, ok, packyard, stderr, stdout, sync_add};

const SCENARIO: &str = r#"
token = "ghp_e2e00000000000000000000000000000000000"
[org]
login = "acme"
name = "Acme Corp"
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
composer = { name = "acme/http-client", license = "MIT", require = { php = ">=7.4", "acme/log" = "^1.1" }, extra = { branch-alias = { dev-main = "1.x-dev" } } }
[[repos]]
name = "handbook"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composer_installs_from_a_synced_github_org_when_token_is_valid() {
    if !composer_available("composer_installs_from_a_synced_github_org_when_token_is_valid") {
        return;
    }
    let sim = GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let api = sim.api_url();

    let added = ok(&mut sync_add(&data, &api, "acme", &sim.token()));
    assert!(stdout(&added).contains("primary"), "{}", stdout(&added));
    let run = ok(packyard(&data).args(["sync", "run", "acme"]));
    let summary = stdout(&run);
    assert!(summary.contains("packages +2"), "{summary}");
    assert!(
        summary.contains("release-candidate"),
        "invalid tag reported: {summary}"
    );
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
    // Commands attach to the running daemon instead of opening the store.
    let attached = ok(packyard(&data).args(["sync", "list", "--json"]));
    assert!(
        stdout(&attached).contains("\"acme\""),
        "{}",
        stdout(&attached)
    );

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
        app.dir.join("vendor/acme/log/composer.json").exists(),
        "dependency installed from packyard too"
    );
    let lock = app.lock();
    let locked: Vec<(String, String)> = lock["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        locked,
        [
            ("acme/http-client".to_owned(), "v1.0.0".to_owned()),
            ("acme/log".to_owned(), "v1.1.0".to_owned())
        ]
    );
    let dist = &lock["packages"][0]["dist"];
    assert!(
        dist["url"].as_str().unwrap().starts_with(&served.url),
        "{dist}"
    );

    let out = app.composer(&["require", "acme/http-client:1.x-dev"]);
    assert!(
        out.status.success(),
        "branch alias 1.x-dev failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let lock = app.lock();
    assert_eq!(
        lock["packages"][0]["version"], "dev-main",
        "1.x-dev is the alias of dev-main"
    );

    let dev = Project::new(tmp.path(), "dev", &served, &token);
    let out = dev.composer(&["require", "acme/log:dev-main"]);
    assert!(
        out.status.success(),
        "composer require dev-main failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let lock = dev.lock();
    assert_eq!(lock["packages"][0]["version"], "dev-main");
    assert_eq!(
        lock["packages"][0]["dist"]["reference"].as_str().unwrap(),
        sim.commit_of("log", "main").unwrap()
    );
    assert!(dev.dir.join("vendor/acme/log/composer.json").exists());

    // The first install filled packyard's dist cache, so metadata now carries
    // each archive's shasum, and Composer verifies it on this install.
    let again = Project::new(tmp.path(), "again", &served, &token);
    let out = again.composer(&["require", "acme/http-client:^1.0"]);
    assert!(
        out.status.success(),
        "install with shasum failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let lock = again.lock();
    for package in lock["packages"].as_array().unwrap() {
        let shasum = package["dist"]["shasum"].as_str().unwrap_or_default();
        assert!(
            shasum.len() == 40 && shasum.chars().all(|c| c.is_ascii_hexdigit()),
            "{package}"
        );
    }

    let stranger = Project::new(tmp.path(), "stranger", &served, "pky_not-a-real-token");
    let out = stranger.composer(&["require", "acme/log:^1.0"]);
    assert!(!out.status.success(), "a wrong token must not install");
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("401"), "{said}");
    assert!(!stranger.dir.join("vendor/acme/log").exists());
}
