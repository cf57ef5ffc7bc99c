//! One packyard with a sync on each of the four hosts at once: packages from
//! all of them install in one `composer install`, and a user's token reaches
//! only what their teams on their host may read: a user whose teams have no
//! access on another host is refused its packages.

mod support;

use support::hosts::{Host, org};
use support::{Project, Served, composer_available, ok, packyard, stderr, stdout};

/// The user owning the identity `login` of sync `sync`.
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
        .unwrap_or_else(|| panic!("no user with identity {sync}:{login}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_from_every_host_install_together_and_users_see_only_their_hosts() {
    if !composer_available(
        "packages_from_every_host_install_together_and_users_see_only_their_hosts",
    ) {
        return;
    }
    let hosts = [
        (
            "gh",
            Host::github(org("acme", "root", "gh", &["lib"])).await,
        ),
        (
            "gl",
            Host::gitlab(org("acme", "root", "gl", &["lib"])).await,
        ),
        (
            "bb",
            Host::bitbucket_cloud(org("acme", "root", "bb", &["lib"])).await,
        ),
        (
            "bbs",
            Host::bitbucket_server(org("acme", "root", "bbs", &["lib"])).await,
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (name, host) in &hosts {
        ok(&mut host.sync_add(&data, name));
        let run = ok(packyard(&data).args(["sync", "run", name]));
        assert!(
            stdout(&run).contains("packages +1"),
            "{name}: {}",
            stdout(&run)
        );
    }
    let org_token = stdout(&ok(packyard(&data).args(["token", "create", "--org-wide"])))
        .trim()
        .to_owned();
    let user_tokens: Vec<(&str, String)> = hosts
        .iter()
        .map(|(name, _)| {
            let user = user_of(&data, name, "dev");
            let out = ok(packyard(&data).args(["token", "create", "--user", &user]));
            (*name, stdout(&out).trim().to_owned())
        })
        .collect();

    let served = Served::start(&data);
    let app = Project::new(tmp.path(), "app", &served, &org_token);
    let out = app.composer(&[
        "require",
        "gh/lib:^1.0",
        "gl/lib:1.x-dev",
        "bb/lib:^1.0",
        "bbs/lib:1.x-dev",
    ]);
    assert!(
        out.status.success(),
        "one install from four hosts:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    for (vendor, _) in &hosts {
        assert!(
            app.dir
                .join(format!("vendor/{vendor}/lib/composer.json"))
                .exists(),
            "{vendor}/lib installed"
        );
    }

    for (own, token) in &user_tokens {
        for (vendor, _) in &hosts {
            let project = Project::new(tmp.path(), &format!("{own}-dev-{vendor}"), &served, token);
            let out = project.composer(&["require", &format!("{vendor}/lib:^1.0")]);
            let said = format!("{}{}", stdout(&out), stderr(&out));
            if own == vendor {
                assert!(
                    out.status.success(),
                    "{own}'s dev installs {vendor}/lib: {said}"
                );
            } else {
                assert!(
                    !out.status.success(),
                    "{own}'s dev has no access to {vendor}/lib"
                );
                assert!(said.contains("could not be found"), "{said}");
            }
        }
    }
}
