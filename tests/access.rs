//! Per-user access with the real Composer client: a user installs what their
//! teams may read at the host, no more, and loses it when the host says so.

mod support;

use packyard::simulate::{GithubSim, Scenario};
use support::{Project, Served, composer_available, ok, packyard, stderr, stdout, sync_add};

const SCENARIO: &str = r#"
token = "ghp_access000000000000000000000000000000000"
[org]
login = "acme"
[[members]]
login = "root"
role = "admin"
[[members]]
login = "alice"
[[members]]
login = "bob"
[[teams]]
slug = "alpha"
name = "Alpha"
members = ["alice"]
repos = { a = "pull" }
[[teams]]
slug = "beta"
name = "Beta"
members = ["bob"]
repos = { b = "push" }
[[repos]]
name = "a"
tags = ["v1.0.0"]
composer = { name = "acme/a", require = { php = ">=7.4" } }
[[repos]]
name = "b"
tags = ["v1.0.0"]
composer = { name = "acme/b", require = { php = ">=7.4" } }
"#;

fn token(data: &std::path::Path, scope: &[&str]) -> String {
    let out = ok(packyard(data)
        .args(["token", "create", "--name", "t"])
        .args(scope));
    stdout(&out).trim().to_owned()
}

fn installs(
    tmp: &std::path::Path,
    served: &Served,
    token: &str,
    package: &str,
    project: &str,
) -> bool {
    let app = Project::new(tmp, project, served, token);
    let out = app.composer(&["require", &format!("{package}:^1.0")]);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    let unknown = said.contains("could not be found") || said.contains("Could not find");
    assert!(
        out.status.success() || unknown,
        "unexpected failure: {said}"
    );
    out.status.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_installs_only_their_teams_packages_and_loses_them_when_removed_at_the_host() {
    if !composer_available(
        "user_installs_only_their_teams_packages_and_loses_them_when_removed_at_the_host",
    ) {
        return;
    }
    let sim = GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&mut sync_add(&data, &sim.api_url(), "acme", &sim.token()));
    ok(packyard(&data).args(["sync", "run", "acme"]));
    let users = stdout(&ok(packyard(&data).args(["user", "list"])));
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("root") && l.contains("owner/admin")),
        "{users}"
    );

    let alice = token(&data, &["--user", "alice"]);
    let root = token(&data, &["--user", "root"]);
    let team_beta = token(&data, &["--team", "acme/beta"]);
    let org = token(&data, &["--org-wide"]);

    let served = Served::start(&data);
    let root_dir = tmp.path();
    assert!(installs(root_dir, &served, &alice, "acme/a", "alice-a"));
    assert!(
        !installs(root_dir, &served, &alice, "acme/b", "alice-b"),
        "alice is not in beta"
    );
    assert!(installs(root_dir, &served, &team_beta, "acme/b", "beta-b"));
    assert!(!installs(root_dir, &served, &team_beta, "acme/a", "beta-a"));
    assert!(
        installs(root_dir, &served, &root, "acme/b", "root-b"),
        "org owners install everything"
    );
    assert!(installs(root_dir, &served, &org, "acme/a", "org-a"));
    assert!(installs(root_dir, &served, &org, "acme/b", "org-b"));
    drop(served);

    sim.remove_team_member("alpha", "alice").unwrap();
    ok(packyard(&data).args(["sync", "run", "acme"]));
    let served = Served::start(&data);
    assert!(
        !installs(root_dir, &served, &alice, "acme/a", "alice-a-after"),
        "access follows the host"
    );
    assert!(installs(root_dir, &served, &org, "acme/a", "org-a-after"));
}
