//! One packyard with a GitHub, a GitLab and a Bitbucket Cloud sync at once:
//! packages from all three install in one `composer install`, and a user's
//! token reaches only what their teams on each host may read.

mod support;

use support::hosts::{Host, org};
use support::{Project, Served, composer_available, ok, packyard, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_from_three_hosts_install_together_and_users_see_only_their_hosts() {
    if !composer_available(
        "packages_from_three_hosts_install_together_and_users_see_only_their_hosts",
    ) {
        return;
    }
    let github = Host::github(org("acme", "root", "gh", &["lib"])).await;
    let gitlab = Host::gitlab(org("acme", "root", "gl", &["lib"])).await;
    let bitbucket = Host::bitbucket_cloud(org("acme", "root", "bb", &["lib"])).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (name, host) in [("gh", &github), ("gl", &gitlab), ("bb", &bitbucket)] {
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
    let users: serde_json::Value =
        serde_json::from_slice(&ok(packyard(&data).args(["user", "list", "--json"])).stdout)
            .unwrap();
    let gitlab_dev = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| {
            u["identities"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["sync"] == "gl" && i["login"] == "dev")
        })
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .expect("the GitLab member is a user");
    let gitlab_token = stdout(&ok(packyard(&data).args([
        "token",
        "create",
        "--user",
        &gitlab_dev,
    ])))
    .trim()
    .to_owned();

    let served = Served::start(&data);
    let app = Project::new(tmp.path(), "app", &served, &org_token);
    let out = app.composer(&["require", "gh/lib:^1.0", "gl/lib:1.x-dev", "bb/lib:^1.0"]);
    assert!(
        out.status.success(),
        "one install from three hosts:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    for vendor in ["gh", "gl", "bb"] {
        assert!(
            app.dir
                .join(format!("vendor/{vendor}/lib/composer.json"))
                .exists(),
            "{vendor}/lib installed"
        );
    }

    let mine = Project::new(tmp.path(), "gitlab-dev", &served, &gitlab_token);
    let out = mine.composer(&["require", "gl/lib:^1.0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for other in ["gh/lib", "bb/lib"] {
        let theirs = Project::new(
            tmp.path(),
            &format!("gitlab-dev-{}", &other[..2]),
            &served,
            &gitlab_token,
        );
        let out = theirs.composer(&["require", &format!("{other}:^1.0")]);
        assert!(
            !out.status.success(),
            "{other} is not readable by the GitLab user's teams"
        );
        assert!(
            format!("{}{}", stdout(&out), stderr(&out)).contains("could not be found"),
            "{}",
            stderr(&out)
        );
    }
}
