//! A synchronization: one remote organization at one code host.

use super::{HookState, RunSummary, Secret, SyncId, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of code host a sync talks to. GitHub Enterprise Server is
/// `GitHub` with another API base URL, as GitLab Self-Managed is `GitLab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    Github,
    Gitlab,
    BitbucketCloud,
    BitbucketServer,
}

/// Which of GitHub's APIs a GitHub or GHES sync reads through
/// (`[sync] github_api`). GraphQL reads the same organization for a small
/// fraction of REST's budget; REST is there for hosts and proxies that do
/// not pass GraphQL through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GithubApi {
    #[default]
    Graphql,
    Rest,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::BitbucketCloud => "bitbucket-cloud",
            Self::BitbucketServer => "bitbucket-server",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest periodic resync interval, a week: for the configured default
/// and for a sync's own.
pub const MAX_RESYNC_MINUTES: u32 = 10_080;

/// A configured synchronization. Credentials are kept apart (see
/// [`Credential`]) so that this record can be listed and serialized freely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sync {
    pub id: SyncId,
    pub provider: ProviderKind,
    /// API base URL without a trailing slash, e.g. `https://api.github.com`
    /// or `https://ghe.example.com/api/v3`.
    pub api_url: String,
    /// Remote organization (GitHub org, GitLab group, Bitbucket workspace).
    pub org: String,
    pub primary: bool,
    pub created_at: Timestamp,
    pub last_run: Option<RunSummary>,
    /// Minutes between this sync's periodic full resyncs under `serve`; `None`
    /// uses the configured default, 0 turns them off.
    #[serde(default)]
    pub resync_minutes: Option<u32>,
    /// This sync's webhooks at the host, once packyard tried to install them.
    #[serde(default)]
    pub hooks: Option<HookState>,
}

impl Sync {
    /// The code host this sync reads: repository ids are unique per host, so
    /// (host, repository id) names a repository across syncs.
    pub fn host(&self) -> String {
        format!("{} {}", self.provider, self.api_url)
    }
}

/// How packyard authenticates to a code host. Never printed: every secret
/// part is a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token: GitHub/GHES personal access token, GitLab personal,
    /// group or project access token, Bitbucket Cloud workspace/repository
    /// access token, Bitbucket Server HTTP access token.
    Token(Secret),
    /// HTTP Basic: Bitbucket Cloud email + API token or username + app
    /// password; Bitbucket Server username + password (before 5.5).
    Basic { username: String, password: Secret },
    /// A GitHub App installation (GitHub.com and GHES): packyard signs a JWT
    /// with the app's private key and exchanges it for short-lived
    /// installation tokens, so no person's token is needed.
    GithubApp {
        app_id: u64,
        installation_id: u64,
        /// The app's RSA private key, PEM (PKCS#1 or PKCS#8).
        private_key: Secret,
    },
}
