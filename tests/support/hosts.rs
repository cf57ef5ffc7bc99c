//! The four simulated code hosts behind one type, so a test can set up
//! syncs on any host alike.

use packyard::simulate::{BitbucketCloudSim, BitbucketServerSim, GithubSim, GitlabSim, Scenario};
use std::process::Command;

pub enum Host {
    Github(GithubSim),
    Gitlab(GitlabSim),
    BitbucketCloud(BitbucketCloudSim),
    BitbucketServer(BitbucketServerSim),
}

impl Host {
    pub async fn github(scenario: Scenario) -> Host {
        Host::Github(GithubSim::start(scenario).await.unwrap())
    }

    pub async fn gitlab(scenario: Scenario) -> Host {
        Host::Gitlab(GitlabSim::start(scenario).await.unwrap())
    }

    pub async fn bitbucket_cloud(scenario: Scenario) -> Host {
        Host::BitbucketCloud(BitbucketCloudSim::start(scenario).await.unwrap())
    }

    pub async fn bitbucket_server(scenario: Scenario) -> Host {
        Host::BitbucketServer(BitbucketServerSim::start(scenario).await.unwrap())
    }

    /// `packyard sync add <provider> --name NAME …` for this host, with the
    /// secret passed in the environment variable `SIM_TOKEN`.
    pub fn sync_add(&self, data_dir: &std::path::Path, name: &str) -> Command {
        let mut cmd = super::packyard(data_dir);
        cmd.args(["sync", "add"]);
        let (token, args): (String, Vec<String>) = match self {
            Host::Github(s) => (s.token(), vec!["github".into(), "--org".into(), s.org()]),
            Host::Gitlab(s) => (s.token(), vec!["gitlab".into(), "--group".into(), s.org()]),
            Host::BitbucketCloud(s) => (
                s.token(),
                vec![
                    "bitbucket-cloud".into(),
                    "--workspace".into(),
                    s.org(),
                    "--username".into(),
                    s.username(),
                ],
            ),
            Host::BitbucketServer(s) => (s.token(), vec!["bitbucket-server".into()]),
        };
        cmd.args(&args).args([
            "--name",
            name,
            "--api-url",
            &self.api_url(),
            "--token-env",
            "SIM_TOKEN",
        ]);
        cmd.env("SIM_TOKEN", token);
        cmd
    }

    pub fn api_url(&self) -> String {
        match self {
            Host::Github(s) => s.api_url(),
            Host::Gitlab(s) => s.api_url(),
            Host::BitbucketCloud(s) => s.api_url(),
            Host::BitbucketServer(s) => s.api_url(),
        }
    }

    /// Removes a repository at the host (the old side of a transfer).
    pub fn delete_repo(&self, repo: &str) {
        match self {
            Host::Github(s) => s.delete_repo(repo),
            Host::Gitlab(s) => s.delete_repo(repo),
            Host::BitbucketCloud(s) => s.delete_repo(repo),
            Host::BitbucketServer(s) => s.delete_repo(repo),
        }
        .unwrap();
    }
}

/// An organization `login` whose admin is `admin` and whose team `devs`
/// (member `dev`) may read every repository; each repository publishes
/// `{vendor}/{repo}` with tag v1.0.0.
pub fn org(login: &str, admin: &str, vendor: &str, repos: &[&str]) -> Scenario {
    let grants: Vec<String> = repos.iter().map(|r| format!("{r} = \"pull\"")).collect();
    let mut toml = format!(
        "token = \"tok_{login}\"\n[org]\nlogin = \"{login}\"\n\
         [[members]]\nlogin = \"{admin}\"\nrole = \"admin\"\n[[members]]\nlogin = \"dev\"\n\
         [[teams]]\nslug = \"devs\"\nname = \"Devs\"\nmembers = [\"dev\"]\nrepos = {{ {} }}\n",
        grants.join(", ")
    );
    for repo in repos {
        toml.push_str(&format!(
            "[[repos]]\nname = \"{repo}\"\nbranches = [\"1.x\"]\ntags = [\"v1.0.0\"]\n\
             composer = {{ name = \"{vendor}/{repo}\", require = {{ php = \">=7.4\" }} }}\n"
        ));
    }
    Scenario::from_toml_str(&toml).unwrap()
}
