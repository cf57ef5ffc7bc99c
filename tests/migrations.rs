//! The seed's migration recipes, step by step, with the real Composer client
//! checking afterwards that every package is installable by the right people
//! and nothing was lost.

mod support;

use packyard::simulate::{GithubSim, RepoRole, RepoSpec, Scenario};
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
    ok(packyard(&data).args(["sync", "run", "new"]));
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
    // 3. Promote the new synchronization, verify it ran, remove the old one.
    ok(packyard(&data).args(["sync", "promote", "new", "--yes"]));
    ok(packyard(&data).args(["sync", "remove", "old", "--yes"]));
    let run = ok(packyard(&data).args(["sync", "run", "new"]));
    assert!(stdout(&run).contains("packages"), "{}", stdout(&run));

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
