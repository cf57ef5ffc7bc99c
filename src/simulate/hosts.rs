//! Any of the four simulated code hosts behind one type, so the demo, tests
//! and benchmarks can set up and drive a sync on each host alike.

use super::{
    BitbucketCloudSim, BitbucketServerSim, GithubSim, GitlabSim, Scenario, SimBudget, SimClock,
    SimError, SimStats,
};
use crate::domain::ProviderKind;
use std::time::Duration;

pub enum Simulator {
    Github(GithubSim),
    Gitlab(GitlabSim),
    BitbucketCloud(BitbucketCloudSim),
    BitbucketServer(BitbucketServerSim),
}

impl Simulator {
    /// Starts the simulator of `kind` serving `scenario` on 127.0.0.1.
    pub async fn start(kind: ProviderKind, scenario: Scenario) -> std::io::Result<Simulator> {
        Ok(match kind {
            ProviderKind::Github => Simulator::Github(GithubSim::start(scenario).await?),
            ProviderKind::Gitlab => Simulator::Gitlab(GitlabSim::start(scenario).await?),
            ProviderKind::BitbucketCloud => {
                Simulator::BitbucketCloud(BitbucketCloudSim::start(scenario).await?)
            }
            ProviderKind::BitbucketServer => {
                Simulator::BitbucketServer(BitbucketServerSim::start(scenario).await?)
            }
        })
    }

    pub fn kind(&self) -> ProviderKind {
        match self {
            Simulator::Github(_) => ProviderKind::Github,
            Simulator::Gitlab(_) => ProviderKind::Gitlab,
            Simulator::BitbucketCloud(_) => ProviderKind::BitbucketCloud,
            Simulator::BitbucketServer(_) => ProviderKind::BitbucketServer,
        }
    }

    /// The arguments after `packyard sync add` that register this host as
    /// sync `name`, reading the secret from the environment variable `env`.
    pub fn sync_add_args(&self, name: &str, env: &str) -> Vec<String> {
        let mut args: Vec<String> = match self {
            Simulator::Github(s) => vec!["github".into(), "--org".into(), s.org()],
            Simulator::Gitlab(s) => vec!["gitlab".into(), "--group".into(), s.org()],
            Simulator::BitbucketCloud(s) => {
                vec![
                    "bitbucket-cloud".into(),
                    "--workspace".into(),
                    s.org(),
                    "--username".into(),
                    s.username(),
                ]
            }
            Simulator::BitbucketServer(_) => vec!["bitbucket-server".into()],
        };
        let common = [
            "--name",
            name,
            "--api-url",
            &self.api_url(),
            "--token-env",
            env,
        ];
        args.extend(common.iter().map(|a| (*a).to_owned()));
        args
    }

    /// The secret the simulator accepts.
    pub fn token(&self) -> String {
        match self {
            Simulator::Github(s) => s.token(),
            Simulator::Gitlab(s) => s.token(),
            Simulator::BitbucketCloud(s) => s.token(),
            Simulator::BitbucketServer(s) => s.token(),
        }
    }

    pub fn api_url(&self) -> String {
        match self {
            Simulator::Github(s) => s.api_url(),
            Simulator::Gitlab(s) => s.api_url(),
            Simulator::BitbucketCloud(s) => s.api_url(),
            Simulator::BitbucketServer(s) => s.api_url(),
        }
    }

    pub fn stats(&self) -> SimStats {
        match self {
            Simulator::Github(s) => s.stats(),
            Simulator::Gitlab(s) => s.stats(),
            Simulator::BitbucketCloud(s) => s.stats(),
            Simulator::BitbucketServer(s) => s.stats(),
        }
    }

    pub fn reset_stats(&self) {
        match self {
            Simulator::Github(s) => s.reset_stats(),
            Simulator::Gitlab(s) => s.reset_stats(),
            Simulator::BitbucketCloud(s) => s.reset_stats(),
            Simulator::BitbucketServer(s) => s.reset_stats(),
        }
    }

    /// The request budgets the simulator enforces.
    pub fn budget(&self) -> SimBudget {
        match self {
            Simulator::Github(s) => s.budget(),
            Simulator::Gitlab(s) => s.budget(),
            Simulator::BitbucketCloud(s) => s.budget(),
            Simulator::BitbucketServer(s) => s.budget(),
        }
    }

    /// The clock the budgets run on.
    pub fn clock(&self) -> SimClock {
        self.budget().clock().clone()
    }

    pub fn set_latency(&self, latency: Duration) {
        match self {
            Simulator::Github(s) => s.faults().set_latency(latency),
            Simulator::Gitlab(s) => s.faults().set_latency(latency),
            Simulator::BitbucketCloud(s) => s.faults().set_latency(latency),
            Simulator::BitbucketServer(s) => s.faults().set_latency(latency),
        }
    }

    pub fn commit_of(&self, repo: &str, reference: &str) -> Option<String> {
        match self {
            Simulator::Github(s) => s.commit_of(repo, reference),
            Simulator::Gitlab(s) => s.commit_of(repo, reference),
            Simulator::BitbucketCloud(s) => s.commit_of(repo, reference),
            Simulator::BitbucketServer(s) => s.commit_of(repo, reference),
        }
    }

    /// Removes a repository at the host (the old side of a transfer).
    pub fn delete_repo(&self, repo: &str) -> Result<(), SimError> {
        match self {
            Simulator::Github(s) => s.delete_repo(repo),
            Simulator::Gitlab(s) => s.delete_repo(repo),
            Simulator::BitbucketCloud(s) => s.delete_repo(repo),
            Simulator::BitbucketServer(s) => s.delete_repo(repo),
        }
    }

    /// Publishes a new tag on `repo` at the default branch's content.
    pub fn add_tag(&self, repo: &str, tag: &str) -> Result<String, SimError> {
        match self {
            Simulator::Github(s) => s.add_tag(repo, tag),
            Simulator::Gitlab(s) => s.add_tag(repo, tag),
            Simulator::BitbucketCloud(s) => s.add_tag(repo, tag),
            Simulator::BitbucketServer(s) => s.add_tag(repo, tag),
        }
    }
}
