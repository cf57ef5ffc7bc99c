//! Simulated hosts as the tests use them: registered through the CLI.

use packyard::domain::ProviderKind;
use packyard::simulate::{Scenario, Simulator};
use std::process::Command;

pub struct Host(pub Simulator);

impl Host {
    pub async fn github(scenario: Scenario) -> Host {
        Host::start(ProviderKind::Github, scenario).await
    }

    pub async fn gitlab(scenario: Scenario) -> Host {
        Host::start(ProviderKind::Gitlab, scenario).await
    }

    pub async fn bitbucket_cloud(scenario: Scenario) -> Host {
        Host::start(ProviderKind::BitbucketCloud, scenario).await
    }

    pub async fn bitbucket_server(scenario: Scenario) -> Host {
        Host::start(ProviderKind::BitbucketServer, scenario).await
    }

    async fn start(kind: ProviderKind, scenario: Scenario) -> Host {
        Host(Simulator::start(kind, scenario).await.unwrap())
    }

    /// `packyard sync add <provider> --name NAME …` for this host.
    pub fn sync_add(&self, data_dir: &std::path::Path, name: &str) -> Command {
        let mut cmd = super::packyard(data_dir);
        cmd.args(["sync", "add"])
            .args(self.0.sync_add_args(name, "SIM_TOKEN"))
            .env("SIM_TOKEN", self.0.token());
        cmd
    }

    /// Removes a repository at the host (the old side of a transfer).
    pub fn delete_repo(&self, repo: &str) {
        self.0.delete_repo(repo).unwrap();
    }
}

/// An organization `login` whose admin is `admin` and whose team `devs`
/// (member `dev`) may read every repository; each repository publishes
/// `{vendor}/{repo}` with tag v1.0.0 and branch 1.x.
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
