//! The seed's migration recipes, step by step, with the real Composer client
//! checking afterwards that every package is installable by the right people
//! and nothing was lost.

mod support;

use packyard::simulate::{GithubSim, RepoRole, RepoSpec, Scenario};
use support::hosts::{self, Host};
use support::{Project, Served, composer_available, ok, packyard, stdout};

fn org(login: &str, admin: &str, team_member: &str, repos: &[&str]) -> Scenario {
    let mut toml = format!(
        "token = \"ghp_{login}\"\n[org]\nlogin = \"{login}\"\n[[members]]\nlogin = \"{admin}\"\nrole = \"admin\"\n\
         [[members]]\nlogin = \"{team_member}\"\n[[teams]]\nslug = \"devs\"\nname = \"Devs\"\nmembers = [\"{team_member}\"]\n"
    );
    toml.push_str(&format!(
        "repos = {{ {} }}\n",
        repos
            .iter()
            .map(|r| format!("{r} = \"pull\""))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for repo in repos {
        toml.push_str(&format!(
            "[[repos]]\nname = \"{repo}\"\ntags = [\"v1.0.0\"]\ncomposer = {{ name = \"acme/{repo}\", require = {{ php = \">=7.4\" }} }}\n"
        ));
    }
    Scenario::from_toml_str(&toml).unwrap()
}

fn add_github(data: &std::path::Path, name: &str, sim: &GithubSim) {
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
}

fn token(data: &std::path::Path, scope: &[&str]) -> String {
    stdout(&ok(packyard(data)
        .args(["token", "create", "--name", "t"])
        .args(scope)))
    .trim()
    .to_owned()
}

/// Every package in `packages` installs at ^1.0 with `token`.
fn installs_all(
    tmp: &std::path::Path,
    served: &Served,
    token: &str,
    packages: &[&str],
    label: &str,
) {
    for package in packages {
        let app = Project::new(
            tmp,
            &format!("{label}-{}", package.replace('/', "-")),
            served,
            token,
        );
        let out = app.composer(&["require", &format!("{package}:^1.0")]);
        assert!(
            out.status.success(),
            "{label}: {package} did not install:\n{}",
            support::stderr(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_org_to_org_migration_keeps_every_package_installable() {
    if !composer_available("github_org_to_org_migration_keeps_every_package_installable") {
        return;
    }
    let repos = ["log", "cache", "router"];
    let old = GithubSim::start(org("oldorg", "root", "dev", &repos))
        .await
        .unwrap();
    let new = GithubSim::start(org("neworg", "root", "dev", &[]))
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    add_github(&data, "old", &old);
    ok(packyard(&data).args(["sync", "run", "old"]));
    let org_token = token(&data, &["--org-wide"]);

    // 1. Add a new synchronization with the new GitHub organization.
    add_github(&data, "new", &new);
    ok(packyard(&data).args(["sync", "run", "new"]));
    // 2. On GitHub, transfer the repositories from the old organization to the new one.
    for repo in repos {
        old.delete_repo(repo).unwrap();
        let mut spec = RepoSpec::new(repo);
        spec.tags = vec!["v1.0.0".into()];
        spec.composer = Some(
            serde_json::from_str(&format!(
                r#"{{"name": "acme/{repo}", "require": {{"php": ">=7.4"}}}}"#
            ))
            .unwrap(),
        );
        new.create_repo(&spec).unwrap();
        new.set_team_repo("devs", repo, Some(RepoRole::Pull))
            .unwrap();
    }
    // Each simulator is a host of its own, so the "transferred" repositories
    // arrive at another host with new ids: for packyard they are other
    // repositories declaring names the old ones own (a real transfer keeps
    // the id at one host, and with it the package; reconcile's tests cover
    // that). They are reported, not given the names.
    let claimed = stdout(&ok(packyard(&data).args(["sync", "run", "new"])));
    assert!(claimed.contains("package name conflicts (3)"), "{claimed}");
    // A resync of the old organization now sees its repositories gone: the
    // deletion guard keeps them until an admin confirms.
    let guarded = packyard(&data)
        .args(["sync", "run", "old"])
        .output()
        .unwrap();
    assert!(
        !guarded.status.success() && stdout(&guarded).contains("--confirm-removals"),
        "{}",
        stdout(&guarded)
    );
    // So the move goes as between hosts: remove the old sync's packages and
    // let the new sync create them.
    ok(packyard(&data).args(["package", "remove", "--sync", "old", "--yes"]));
    let run = ok(packyard(&data).args(["sync", "run", "new"]));
    assert!(stdout(&run).contains("packages +3"), "{}", stdout(&run));
    // 3. Promote the new synchronization, verify it ran, remove the old one.
    ok(packyard(&data).args(["sync", "promote", "new", "--yes"]));
    ok(packyard(&data).args(["sync", "remove", "old", "--yes"]));
    let run = ok(packyard(&data).args(["sync", "run", "new"]));
    assert!(stdout(&run).contains("up to date"), "{}", stdout(&run));

    let packages: serde_json::Value =
        serde_json::from_slice(&ok(packyard(&data).args(["package", "list", "--json"])).stdout)
            .unwrap();
    let origins: Vec<(&str, &str)> = packages
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["origin"].as_str().unwrap()))
        .collect();
    assert_eq!(
        origins,
        [
            ("acme/cache", "new"),
            ("acme/log", "new"),
            ("acme/router", "new")
        ]
    );

    let names: Vec<String> = repos.iter().map(|r| format!("acme/{r}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let dev = token(&data, &["--user", "dev-2"]);
    let served = Served::start(&data);
    installs_all(tmp.path(), &served, &org_token, &names, "org");
    installs_all(tmp.path(), &served, &dev, &names, "dev");
}

/// The user whose identity on `sync` has `login`.
fn user_of(data: &std::path::Path, sync: &str, login: &str) -> String {
    let users: serde_json::Value =
        serde_json::from_slice(&ok(packyard(data).args(["user", "list", "--json"])).stdout)
            .unwrap();
    users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| {
            u["identities"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["sync"] == sync && i["login"] == login)
        })
        .and_then(|u| u["id"].as_str())
        .unwrap_or_else(|| panic!("no user with identity {sync}:{login}: {users}"))
        .to_owned()
}

fn origins(data: &std::path::Path) -> Vec<(String, String)> {
    let packages: serde_json::Value =
        serde_json::from_slice(&ok(packyard(data).args(["package", "list", "--json"])).stdout)
            .unwrap();
    packages
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["origin"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const REPOS: [&str; 3] = ["log", "cache", "router"];

/// After a migration: every package comes from `new`, and installs with an
/// org-wide token and with the token of the new host's team member.
fn assert_migrated(tmp: &std::path::Path, data: &std::path::Path, new: &str, label: &str) {
    let names: Vec<String> = REPOS.iter().map(|r| format!("acme/{r}")).collect();
    let expected: Vec<(String, String)> = {
        let mut e: Vec<_> = names.iter().map(|n| (n.clone(), new.to_owned())).collect();
        e.sort();
        e
    };
    assert_eq!(
        origins(data),
        expected,
        "{label}: every package moved to {new}"
    );
    let org_token = token(data, &["--org-wide"]);
    let dev = token(data, &["--user", &user_of(data, new, "dev")]);
    let served = Served::start(data);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    installs_all(tmp, &served, &org_token, &names, &format!("{label}-org"));
    installs_all(tmp, &served, &dev, &names, &format!("{label}-dev"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_to_bitbucket_migration_with_promotion_and_identity_link() {
    if !composer_available("github_to_bitbucket_migration_with_promotion_and_identity_link") {
        return;
    }
    let github = Host::github(hosts::org("acme", "bob", "acme", &REPOS)).await;
    let bitbucket = Host::bitbucket_cloud(hosts::org("acme-ws", "robert", "acme", &REPOS)).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&mut github.sync_add(&data, "gh"));
    ok(packyard(&data).args(["sync", "run", "gh"]));

    // 1. Add a new synchronization with the Bitbucket workspace.
    ok(&mut bitbucket.sync_add(&data, "bb"));
    // 2. Delete the packages the GitHub synchronization created.
    let removed = ok(packyard(&data).args(["package", "remove", "--sync", "gh", "--yes"]));
    assert!(
        stdout(&removed).contains("Removed 3 packages"),
        "{}",
        stdout(&removed)
    );
    // 3. Make sure the new synchronization ran, then promote it.
    let run = ok(packyard(&data).args(["sync", "run", "bb"]));
    assert!(stdout(&run).contains("packages +3"), "{}", stdout(&run));
    let preview = packyard(&data)
        .args(["sync", "promote", "bb"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        stdout(&preview).contains("lose owner/admin access: bob"),
        "{}",
        stdout(&preview)
    );
    assert!(
        stdout(&preview).contains("gain owner/admin access: robert"),
        "{}",
        stdout(&preview)
    );
    ok(packyard(&data).args(["sync", "promote", "bb", "--yes"]));
    let bob = token(&data, &["--user", "bob"]);
    // 4. Delete the old synchronization with GitHub.
    ok(packyard(&data).args(["sync", "remove", "gh", "--yes"]));
    assert_migrated(tmp.path(), &data, "bb", "gh-to-bb");

    // bob lost owner access with the promotion; linking his Bitbucket
    // identity gives it back.
    let served = Served::start(&data);
    let before = Project::new(tmp.path(), "bob-before", &served, &bob);
    assert!(
        !before
            .composer(&["require", "acme/log:^1.0"])
            .status
            .success(),
        "bob has no access left"
    );
    drop(served);
    ok(packyard(&data).args(["user", "link", "bob", "bb:robert"]));
    ok(packyard(&data).args(["sync", "run", "bb"]));
    let served = Served::start(&data);
    let after = Project::new(tmp.path(), "bob-after", &served, &bob);
    let out = after.composer(&["require", "acme/log:^1.0"]);
    assert!(
        out.status.success(),
        "linked owner installs again: {}",
        support::stderr(&out)
    );
}

/// Repositories move from `old` to `new`, the new sync takes over, and the
/// old one is removed once the new one is primary. Each simulator is a host
/// of its own, so the moved repositories have new ids at another host: the
/// old sync's packages are removed first and the new sync creates them, as
/// between hosts (a transfer at one host keeps the id and the package).
async fn transfer_migration(old: Host, new: Host, label: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&mut old.sync_add(&data, "old"));
    ok(packyard(&data).args(["sync", "run", "old"]));
    ok(&mut new.sync_add(&data, "new"));
    for repo in REPOS {
        old.delete_repo(repo);
    }
    let claimed = stdout(&ok(packyard(&data).args(["sync", "run", "new"])));
    assert!(claimed.contains("package name conflicts (3)"), "{claimed}");
    ok(packyard(&data).args(["package", "remove", "--sync", "old", "--yes"]));
    ok(packyard(&data).args(["sync", "run", "new"]));
    ok(packyard(&data).args(["sync", "promote", "new", "--yes"]));
    ok(packyard(&data).args(["sync", "remove", "old", "--yes"]));
    ok(packyard(&data).args(["sync", "run", "new"]));
    assert_migrated(tmp.path(), &data, "new", label);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bitbucket_workspace_to_workspace_migration_keeps_every_package_installable() {
    if !composer_available(
        "bitbucket_workspace_to_workspace_migration_keeps_every_package_installable",
    ) {
        return;
    }
    let old = Host::bitbucket_cloud(hosts::org("old-ws", "root", "acme", &REPOS)).await;
    let new = Host::bitbucket_cloud(hosts::org("new-ws", "root", "acme", &REPOS)).await;
    transfer_migration(old, new, "bb-to-bb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_group_to_group_migration_keeps_every_package_installable() {
    if !composer_available("gitlab_group_to_group_migration_keeps_every_package_installable") {
        return;
    }
    let old = Host::gitlab(hosts::org("old-group", "root", "acme", &REPOS)).await;
    let new = Host::gitlab(hosts::org("new-group", "root", "acme", &REPOS)).await;
    transfer_migration(old, new, "gl-to-gl").await;
}
