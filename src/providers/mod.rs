//! Code host clients. Each host lives in its own file behind [`CodeHost`];
//! `http` holds the behaviour they share (pagination, ETag cache, rate
//! limits, retries, a concurrency limit).
//!
//! Providers turn a host's REST API into a normalized [`RemoteSnapshot`].
//! They never touch the store or send engine events: the engine hands them a
//! [`ProviderCache`] (backed by the store) and a progress callback.

pub mod bitbucket_cloud;
pub mod bitbucket_server;
pub mod budget;
pub mod github;
pub mod gitlab;
pub mod hooks;
pub mod http;
pub mod manifest;

use crate::domain::{
    Credential, Headroom, InstalledHooks, Manifest, ProviderKind, RemoteId, RemoteOrg, RemoteRepo,
    RemoteSnapshot, RemoteTeam, RepoRefs, Sync, Timestamp,
};
use async_trait::async_trait;
pub use hooks::{HookError, HookSpec};
use std::sync::Arc;
use std::time::Duration;

/// Errors that stop a whole run or request. Failures of a single listing do
/// not surface here: they make the listing partial instead.
///
/// Messages name the host and say what to check; they never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error(
        "cannot reach {host}: {reason}. Check the API URL and that this machine can connect to it"
    )]
    Unreachable { host: String, reason: String },
    #[error(
        "{host} rejected the credentials (HTTP 401: {message}). Check that the token is correct, not expired and not revoked"
    )]
    Unauthorized { host: String, message: String },
    #[error(
        "organization {org:?} was not found at {host}, or the token cannot see it (the host answers 404 for both). Check the organization name and that the token has access to it (GitHub: read:org and repo scopes)"
    )]
    OrgNotFound { host: String, org: String },
    #[error("{host} refused access to {path} (HTTP 403: {message}). Check the token's scopes")]
    Forbidden {
        host: String,
        path: String,
        message: String,
    },
    /// The credential's request budget at the host is spent (down to the
    /// reserve for a full run); `budget` is the bucket as last seen.
    #[error("{}", rate_limited(host, *retry_after, budget.as_deref()))]
    RateLimited {
        host: String,
        retry_after: Duration,
        budget: Option<Box<Headroom>>,
    },
    #[error("{host} has no {path} (HTTP 404)")]
    NotFound { host: String, path: String },
    #[error("{host} answered HTTP {status} for {path}: {message}")]
    Http {
        host: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{provider} synchronizations authenticate with {expected}; give that instead")]
    UnsupportedCredential {
        provider: ProviderKind,
        expected: &'static str,
    },
    #[error(
        "{host} refused the GitHub App's credentials (HTTP {status}: {message}). Check the app id, the installation id (the app must be installed on the organization) and that the private key belongs to the app"
    )]
    AppRejected {
        host: String,
        status: u16,
        message: String,
    },
    #[error(
        "the GitHub App private key cannot be used: {reason}. Give the app's RSA private key in PEM form, as downloaded from the app's settings"
    )]
    InvalidAppKey { reason: String },
    #[error("{host} sent a response for {path} that packyard cannot read: {reason}")]
    Decode {
        host: String,
        path: String,
        reason: String,
    },
}

fn rate_limited(host: &str, retry_after: Duration, budget: Option<&Headroom>) -> String {
    match budget {
        Some(budget) => format!(
            "{}. packyard continues after that",
            budget.spent_message(Timestamp::now())
        ),
        None => format!(
            "{host} rate limit exhausted; it resets in {} s. packyard continues after that",
            retry_after.as_secs()
        ),
    }
}

impl ProviderError {
    /// Whether the credentials themselves failed: the run cannot go on, as
    /// opposed to one listing failing and being marked partial.
    pub fn is_credentials(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized { .. } | Self::AppRejected { .. } | Self::InvalidAppKey { .. }
        )
    }

    /// Whether this error stops the whole run instead of leaving one listing
    /// partial: bad credentials, or a spent request budget (the run pauses;
    /// a rate limit is never an incomplete listing).
    pub fn stops_run(&self) -> bool {
        self.is_credentials() || matches!(self, Self::RateLimited { .. })
    }
}

/// Where a provider keeps what lets it skip work on the next run. The engine
/// implements it over the store; tests use [`MemoryCache`].
pub trait ProviderCache: Send + std::marker::Sync {
    /// The ETag and body last received for `url`.
    fn etag(&self, url: &str) -> Option<CachedResponse>;
    fn put_etag(&self, url: &str, response: CachedResponse);
    /// The manifest already read at `commit` of repository `repo` (commits
    /// are immutable, so this never goes stale).
    fn manifest(&self, repo: &RemoteId, commit: &str) -> Option<Manifest>;
    fn put_manifest(&self, repo: &RemoteId, commit: &str, manifest: &Manifest);
    /// The refs of `repo` as last read completely.
    fn refs(&self, repo: &RemoteId) -> Option<RepoRefs>;
    fn put_refs(&self, repo: &RemoteId, refs: &RepoRefs);
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CachedResponse {
    pub etag: String,
    pub body: Vec<u8>,
    /// Response headers needed to replay the body on a 304 (pagination
    /// `Link`): a 304 need not repeat them.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

/// An in-memory [`ProviderCache`], for tests, benches and one-off checks.
#[derive(Default)]
pub struct MemoryCache {
    etags: std::sync::Mutex<std::collections::HashMap<String, CachedResponse>>,
    manifests: std::sync::Mutex<std::collections::HashMap<(RemoteId, String), Manifest>>,
    refs: std::sync::Mutex<std::collections::HashMap<RemoteId, RepoRefs>>,
}

impl ProviderCache for MemoryCache {
    fn etag(&self, url: &str) -> Option<CachedResponse> {
        self.etags.lock().ok()?.get(url).cloned()
    }
    fn put_etag(&self, url: &str, response: CachedResponse) {
        if let Ok(mut m) = self.etags.lock() {
            m.insert(url.to_owned(), response);
        }
    }
    fn manifest(&self, repo: &RemoteId, commit: &str) -> Option<Manifest> {
        self.manifests
            .lock()
            .ok()?
            .get(&(repo.clone(), commit.to_owned()))
            .cloned()
    }
    fn put_manifest(&self, repo: &RemoteId, commit: &str, manifest: &Manifest) {
        if let Ok(mut m) = self.manifests.lock() {
            m.insert((repo.clone(), commit.to_owned()), manifest.clone());
        }
    }
    fn refs(&self, repo: &RemoteId) -> Option<RepoRefs> {
        self.refs.lock().ok()?.get(repo).cloned()
    }
    fn put_refs(&self, repo: &RemoteId, refs: &RepoRefs) {
        if let Ok(mut m) = self.refs.lock() {
            m.insert(repo.clone(), refs.clone());
        }
    }
}

/// Progress of a snapshot, reported as work completes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Short phase name: "organization", "teams", "repositories", "refs".
    pub phase: &'static str,
    pub done: u64,
    pub total: u64,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + std::marker::Sync>;

/// Request counters of one client, for summaries and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Of those, answered 304 Not Modified.
    pub not_modified: u64,
}

/// Client tuning shared by every provider (from the `[sync]` config section).
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Requests in flight at once per sync.
    pub concurrency: usize,
    /// Attempts for a request that fails with 5xx or a timeout.
    pub max_attempts: u32,
    pub timeout: Duration,
    /// Longest wait for a rate-limit reset that a request waits out in
    /// place; beyond it the run pauses and resumes at the reset.
    pub max_rate_limit_wait: Duration,
    /// Share of each request budget a full run leaves for webhooks and other
    /// tools using the same credential.
    pub budget_reserve_percent: u8,
    /// The budgets of every credential, shared by the clients built with
    /// these settings.
    pub budgets: budget::Budgets,
    /// Largest composer.json or API response body accepted.
    pub max_body_bytes: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            concurrency: 16,
            max_attempts: 4,
            timeout: Duration::from_secs(30),
            max_rate_limit_wait: Duration::from_secs(300),
            budget_reserve_percent: 10,
            budgets: budget::Budgets::default(),
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The contract every code host implements.
#[async_trait]
pub trait CodeHost: Send + std::marker::Sync {
    /// Checks the credentials and that the organization is visible.
    async fn verify(&self) -> Result<RemoteOrg, ProviderError>;

    /// Takes a complete snapshot of the organization: teams with members and
    /// repository permissions, org owners/admins, repositories with their
    /// refs and the composer.json at each ref. A listing that fails is marked
    /// partial; only errors that make the whole snapshot meaningless
    /// (credentials, organization gone) are returned as `Err`.
    async fn snapshot(&self, progress: ProgressFn) -> Result<RemoteSnapshot, ProviderError>;

    /// Downloads the zip archive of `repo_full_name` at `commit`.
    async fn fetch_archive(
        &self,
        repo_full_name: &str,
        commit: &str,
    ) -> Result<bytes::Bytes, ProviderError>;

    fn stats(&self) -> RequestStats;

    /// The request budget of this client's credential at the host.
    fn budget(&self) -> Arc<budget::Budget>;

    /// Reads one repository of the organization afresh, by full name: its
    /// refs and the composer.json at each, without the "not pushed since"
    /// shortcut (a webhook said something changed). `None` when the host no
    /// longer has it, or it belongs to another organization.
    async fn fetch_repo(&self, full_name: &str) -> Result<Option<RemoteRepo>, ProviderError>;

    /// Reads one team afresh: members and repository permissions. GitLab
    /// groups give one team per access level, hence a list. `None` when the
    /// team is gone.
    async fn fetch_team(&self, team: &str) -> Result<Option<Vec<RemoteTeam>>, ProviderError>;

    /// Makes sure packyard's webhooks exist and deliver to `spec.url` with
    /// `spec.secret`: an organization-level hook where the host and token
    /// allow it, otherwise one hook on each of `repos` (full names). A hook
    /// of ours (same URL) is updated, never duplicated. Failures on single
    /// repositories are reported in the result, not as `Err`.
    async fn ensure_hooks(
        &self,
        spec: &HookSpec,
        repos: &[String],
    ) -> Result<InstalledHooks, ProviderError>;

    /// Deletes the hooks in `installed` (a hook already gone is fine).
    async fn remove_hooks(&self, installed: &InstalledHooks) -> Result<(), ProviderError>;
}

/// Builds the client for a sync's provider.
pub fn connect(
    sync: &Sync,
    credential: &Credential,
    cache: Arc<dyn ProviderCache>,
    settings: &ClientSettings,
) -> Result<Box<dyn CodeHost>, ProviderError> {
    let (url, org) = (&sync.api_url, &sync.org);
    Ok(match sync.provider {
        ProviderKind::Github => Box::new(github::GithubHost::new(
            url, org, credential, cache, settings,
        )?),
        ProviderKind::Gitlab => Box::new(gitlab::GitlabHost::new(
            url, org, credential, cache, settings,
        )?),
        ProviderKind::BitbucketCloud => Box::new(bitbucket_cloud::BitbucketCloudHost::new(
            url, org, credential, cache, settings,
        )?),
        ProviderKind::BitbucketServer => Box::new(bitbucket_server::BitbucketServerHost::new(
            url, org, credential, cache, settings,
        )?),
    })
}
