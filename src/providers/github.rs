//! GitHub.com and GitHub Enterprise Server over the REST API.
//!
//! GHES differs only by its API base URL (`https://HOST/api/v3`). A snapshot
//! walks the organization, its admins, its teams (members and repository
//! permissions) and its repositories (branches, tags, and composer.json at
//! each ref's commit). Listings go through [`HttpClient`] with ETags, so a
//! resync with no change is answered by 304s; manifests are keyed by commit
//! SHA in the [`ProviderCache`] and never fetched twice.
//!
//! [`graphql`] is the other GitHub host: the same snapshot for a fraction of
//! the budget, reading refs, composer.json and teams through GraphQL and the
//! rest through this one.
//!
//! Credentials: a token (sent as `Bearer`), or a GitHub App installation
//! whose short-lived tokens [`app`] obtains and renews.
//!
//! Webhooks ([`hooks`]): one organization hook, or a hook on each repository
//! where the credentials may not manage the organization's; a delivery
//! refreshes one repository ([`CodeHost::fetch_repo`]) or one team
//! ([`CodeHost::fetch_team`]) instead of the whole organization.

mod app;
pub mod graphql;

pub(crate) mod hooks;

use super::budget::{Budget, Documented, HostLimits, Refill};
use super::http::{self, CacheMode, HttpClient, LinkHeader, Paged};
use super::manifest::{self, ListedRef};
use super::{
    ClientSettings, CodeHost, HookSpec, Progress, ProgressFn, ProviderCache, ProviderError,
    RequestStats,
};
use crate::domain::{
    Credential, InstalledHooks, Listing, Manifest, Permission, ProviderKind, RefKind,
    RemoteAccount, RemoteId, RemoteOrg, RemoteRef, RemoteRepo, RemoteSnapshot, RemoteTeam,
    RepoRefs, Timestamp,
};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use reqwest::Url;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The largest file the contents API returns inline; larger files come back
/// with `encoding: "none"`.
const CONTENTS_API_MAX: &str = "1 MB";

/// Archives are not API responses: allow well past `max_body_bytes`, but
/// keep a bound so a runaway download cannot exhaust memory.
const ARCHIVE_MAX_BYTES: usize = 512 * 1024 * 1024;

const PER_PAGE: &str = "100";

/// GitHub's documented primary limits for a token: 5,000 REST requests and
/// 5,000 GraphQL points an hour (an App installation gets more, up to
/// 12,500, and GHES may differ or have none: the headers say). `GET
/// /rate_limit` costs nothing.
static LIMITS: HostLimits = HostLimits {
    bucket: |url| {
        let path = url.path();
        if path.ends_with("/rate_limit") {
            None
        } else if path.ends_with("/graphql") {
            Some("graphql")
        } else {
            Some("core")
        }
    },
    documented: &[
        Documented {
            bucket: "core",
            limit: 5_000,
            refill: Refill::Window,
        },
        Documented {
            bucket: "graphql",
            limit: 5_000,
            refill: Refill::Window,
        },
    ],
};

/// Reports `GET /rate_limit`'s answer to the budget.
fn report_rate_limit(budget: &Budget, headers: &HeaderMap, body: &[u8]) {
    let Ok(answer) = serde_json::from_slice::<wire::RateLimit>(body) else {
        return;
    };
    for (bucket, r) in [
        ("core", answer.resources.core),
        ("graphql", answer.resources.graphql),
    ] {
        if let Some(r) = r {
            budget.report(bucket, r.limit, r.remaining, r.reset, headers);
        }
    }
}
/// Refs reused on an unchanged `pushed_at` are read again after this long
/// anyway: webhooks and this bound catch changes that do not move it.
const REFS_MAX_AGE_SECS: i64 = 24 * 60 * 60;

/// GitHub REST response shapes, only the fields packyard reads. Unknown
/// fields are ignored so API additions do not break decoding.
mod wire {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    pub struct Org {
        pub id: u64,
        pub login: String,
        pub name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Account {
        pub id: u64,
        pub login: String,
        #[serde(default)]
        pub email: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Team {
        pub id: u64,
        pub slug: String,
        pub name: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Repo {
        pub id: u64,
        /// The global id GraphQL knows the repository by.
        #[serde(default)]
        pub node_id: Option<String>,
        pub full_name: String,
        pub html_url: String,
        pub clone_url: String,
        pub description: Option<String>,
        /// Absent for an empty repository on some GHES versions.
        #[serde(default)]
        pub default_branch: Option<String>,
        /// When anything was last pushed to any ref: tags, branches, deletions.
        #[serde(default)]
        pub pushed_at: Option<String>,
        #[serde(default)]
        pub archived: bool,
        #[serde(default)]
        pub permissions: Option<RepoPermissions>,
        /// The team's role on the repository (team repository listings).
        #[serde(default)]
        pub role_name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct RepoPermissions {
        pub admin: bool,
        #[serde(default)]
        pub maintain: bool,
        pub push: bool,
        #[serde(default)]
        pub triage: bool,
        pub pull: bool,
    }

    /// A branch or a tag: both list as a name and a commit.
    #[derive(Debug, Deserialize)]
    pub struct Ref {
        pub name: String,
        pub commit: Commit,
    }

    #[derive(Debug, Deserialize)]
    pub struct Commit {
        pub sha: String,
    }

    /// `GET /rate_limit`: the budget per resource.
    #[derive(Debug, Deserialize)]
    pub struct RateLimit {
        pub resources: RateResources,
    }

    #[derive(Debug, Deserialize)]
    pub struct RateResources {
        #[serde(default)]
        pub core: Option<Rate>,
        #[serde(default)]
        pub graphql: Option<Rate>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Rate {
        pub limit: u64,
        pub remaining: u64,
        /// Epoch seconds.
        pub reset: u64,
    }

    /// `POST /app/installations/{id}/access_tokens` (201).
    #[derive(Deserialize)]
    pub struct AccessToken {
        pub token: String,
        /// RFC 3339, e.g. `2016-07-11T22:14:10Z`.
        pub expires_at: String,
    }

    /// An organization or repository webhook. `config.url` is absent on
    /// hooks of other kinds than `web`.
    #[derive(Debug, Deserialize)]
    pub struct Hook {
        pub id: u64,
        pub config: HookConfig,
    }

    #[derive(Debug, Deserialize)]
    pub struct HookConfig {
        #[serde(default)]
        pub url: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Content {
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(default)]
        pub encoding: Option<String>,
        pub size: u64,
        #[serde(default)]
        pub content: Option<String>,
    }
}

/// A GitHub or GHES organization, reached with a token.
pub struct GithubHost {
    api: Url,
    org: String,
    http: HttpClient,
    cache: Arc<dyn ProviderCache>,
    concurrency: usize,
    max_manifest_bytes: usize,
}

impl std::fmt::Debug for GithubHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubHost")
            .field("api", &self.api.as_str())
            .field("org", &self.org)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl GithubHost {
    pub fn new(
        api_url: &str,
        org: &str,
        credential: &Credential,
        cache: Arc<dyn ProviderCache>,
        settings: &ClientSettings,
    ) -> Result<Self, ProviderError> {
        let api = http::api_base(api_url, DEFAULT_API_URL)?;
        let expected = "a token or a GitHub App";
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static("2022-11-28"),
        );
        let http = match credential {
            Credential::Token(_) => {
                headers.extend(http::authorization(
                    credential,
                    &api,
                    ProviderKind::Github,
                    expected,
                )?);
                HttpClient::new(&api, headers, cache.clone(), settings, &LIMITS)?
            }
            Credential::GithubApp {
                app_id,
                installation_id,
                private_key,
            } => {
                let app = app::AppAuthorizer::new(
                    &api,
                    *app_id,
                    *installation_id,
                    private_key.expose(),
                    settings.timeout,
                )?;
                HttpClient::new(&api, headers, cache.clone(), settings, &LIMITS)?
                    .with_authorizer(Arc::new(app))
            }
            Credential::Basic { .. } => {
                return Err(ProviderError::UnsupportedCredential {
                    provider: ProviderKind::Github,
                    expected,
                });
            }
        };
        let mut check = api.clone();
        if let Ok(mut path) = check.path_segments_mut() {
            path.pop_if_empty().push("rate_limit");
        }
        Ok(Self {
            http: http.with_budget_check(check, report_rate_limit),
            api,
            org: org.to_owned(),
            cache,
            concurrency: settings.concurrency.max(1),
            max_manifest_bytes: settings.max_body_bytes,
        })
    }

    /// `{api}/{segments…}?{query}`, each segment percent-encoded.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.api.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    fn list_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut q = query.to_vec();
        q.push(("per_page", PER_PAGE));
        self.url(segments, &q)
    }

    async fn fetch_org(&self) -> Result<RemoteOrg, ProviderError> {
        let url = self.url(&["orgs", &self.org], &[]);
        match self
            .http
            .get_json::<wire::Org>(&url, CacheMode::Conditional)
            .await
        {
            Ok(org) => Ok(RemoteOrg {
                id: org.id.into(),
                login: org.login,
                name: org.name,
            }),
            Err(ProviderError::NotFound { host, .. }) => Err(ProviderError::OrgNotFound {
                host,
                org: self.org.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// A whole paginated listing. Only bad credentials abort the run; any
    /// other failure leaves the listing partial.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<Listing<T>, ProviderError> {
        let Paged {
            items,
            complete,
            error,
        } = self.http.get_all(url.clone(), &LinkHeader).await;
        match error {
            Some(e) if e.stops_run() => Err(e),
            Some(e) => {
                tracing::warn!(path = url.path(), error = %e, "listing incomplete");
                Ok(Listing::partial(items))
            }
            None => Ok(Listing { items, complete }),
        }
    }

    async fn fetch_accounts(&self, url: Url) -> Result<Listing<RemoteAccount>, ProviderError> {
        let listing = self.list::<wire::Account>(url).await?;
        let mut items: Vec<_> = listing.items.into_iter().map(account).collect();
        items.sort_by(|a, b| by_id(&a.id, &b.id));
        Ok(Listing {
            items,
            complete: listing.complete,
        })
    }

    async fn fetch_teams(
        &self,
        progress: &ProgressFn,
    ) -> Result<Listing<RemoteTeam>, ProviderError> {
        let teams = self
            .list::<wire::Team>(self.list_url(&["orgs", &self.org, "teams"], &[]))
            .await?;
        self.fetch_each(
            "teams",
            teams,
            progress,
            |team| self.fetch_team_details(team),
            |t| &t.id,
        )
        .await
    }

    /// Fetches the details of every listed item, concurrently within the
    /// client's limit, reporting progress under `phase`. The result is sorted
    /// by id and as complete as the listing was.
    async fn fetch_each<T, U, Fut>(
        &self,
        phase: &'static str,
        listing: Listing<T>,
        progress: &ProgressFn,
        fetch: impl Fn(T) -> Fut,
        id: impl Fn(&U) -> &RemoteId,
    ) -> Result<Listing<U>, ProviderError>
    where
        Fut: std::future::Future<Output = Result<U, ProviderError>>,
    {
        let total = listing.items.len() as u64;
        let done = AtomicU64::new(0);
        progress(Progress {
            phase,
            done: 0,
            total,
        });
        let mut items: Vec<U> = stream::iter(listing.items)
            .map(|item| {
                let fetched = fetch(item);
                let (done, progress) = (&done, progress);
                async move {
                    let result = fetched.await;
                    let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress(Progress { phase, done, total });
                    result
                }
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        items.sort_by(|a, b| by_id(id(a), id(b)));
        Ok(Listing {
            items,
            complete: listing.complete,
        })
    }

    async fn fetch_team_details(&self, team: wire::Team) -> Result<RemoteTeam, ProviderError> {
        let base = ["orgs", self.org.as_str(), "teams", team.slug.as_str()];
        let members_url = self.list_url(&[&base[..], &["members"]].concat(), &[]);
        let repos_url = self.list_url(&[&base[..], &["repos"]].concat(), &[]);
        let (members, repos) = tokio::try_join!(
            self.fetch_accounts(members_url),
            self.list::<wire::Repo>(repos_url)
        )?;
        let mut permissions: Vec<(RemoteId, Permission)> = repos
            .items
            .iter()
            .filter_map(|r| team_permission(r).map(|p| (r.id.into(), p)))
            .collect();
        permissions.sort_by(|a, b| by_id(&a.0, &b.0));
        Ok(RemoteTeam {
            id: team.id.into(),
            slug: team.slug,
            name: team.name,
            members,
            repos: Listing {
                items: permissions,
                complete: repos.complete,
            },
        })
    }

    async fn fetch_repos(
        &self,
        progress: &ProgressFn,
    ) -> Result<Listing<RemoteRepo>, ProviderError> {
        let repos = self.list::<wire::Repo>(self.org_repos_url()).await?;
        self.fetch_each(
            "repositories",
            repos,
            progress,
            |repo| self.fetch_repo_details(repo),
            |r| &r.id,
        )
        .await
    }

    /// Every repository of the organization, the listing both APIs start from.
    fn org_repos_url(&self) -> Url {
        self.list_url(&["orgs", &self.org, "repos"], &[("type", "all")])
    }

    /// One listed repository with its refs.
    async fn fetch_repo_details(&self, repo: wire::Repo) -> Result<RemoteRepo, ProviderError> {
        let (remote, pushed_at) = remote_repo(repo);
        match self.known_refs(&remote, pushed_at.as_deref()) {
            Some(known) => Ok(known),
            None => self.fetch_refs_remembered(remote, pushed_at).await,
        }
    }

    /// `remote` with the refs read completely since the host's last push to
    /// it, reused without a request. They are read again at least every
    /// [`REFS_MAX_AGE_SECS`], in case a ref changed in a way that did not
    /// move `pushed_at`.
    fn known_refs(&self, remote: &RemoteRepo, pushed_at: Option<&str>) -> Option<RemoteRepo> {
        let now = Timestamp::now();
        let known = self.cache.refs(&remote.id).filter(|known| {
            Some(known.pushed_at.as_str()) == pushed_at
                && known.default_branch == remote.default_branch
                && (0..REFS_MAX_AGE_SECS).contains(&(now.0 - known.checked_at.0))
        })?;
        Some(RemoteRepo {
            refs: Listing::complete(known.refs),
            ..remote.clone()
        })
    }

    /// Reads the refs afresh and remembers them (see [`Self::remember_refs`]).
    async fn fetch_refs_remembered(
        &self,
        remote: RemoteRepo,
        pushed_at: Option<String>,
    ) -> Result<RemoteRepo, ProviderError> {
        let checked_at = Timestamp::now();
        let remote = self.fetch_refs(remote).await?;
        self.remember_refs(&remote, pushed_at, checked_at);
        Ok(remote)
    }

    /// Refs read completely are kept with the `pushed_at` they belong to,
    /// for the next run to reuse.
    fn remember_refs(&self, remote: &RemoteRepo, pushed_at: Option<String>, checked_at: Timestamp) {
        if let Some(pushed_at) = pushed_at
            && remote.refs.complete
        {
            let known = RepoRefs {
                pushed_at,
                checked_at,
                default_branch: remote.default_branch.clone(),
                refs: remote.refs.items.clone(),
            };
            self.cache.put_refs(&remote.id, &known);
        }
    }

    /// The organization and its owners, as both APIs read them.
    async fn fetch_org_and_admins(
        &self,
        progress: &ProgressFn,
    ) -> Result<(RemoteOrg, Listing<RemoteAccount>), ProviderError> {
        progress(Progress {
            phase: "organization",
            done: 0,
            total: 2,
        });
        let org = self.fetch_org().await?;
        let admins = self
            .fetch_accounts(self.list_url(&["orgs", &self.org, "members"], &[("role", "admin")]))
            .await?;
        progress(Progress {
            phase: "organization",
            done: 2,
            total: 2,
        });
        Ok((org, admins))
    }

    /// One repository of the organization by full name, without its refs,
    /// and its `pushed_at`; `None` when it is gone or no longer ours.
    async fn fetch_listed_repo(
        &self,
        full_name: &str,
    ) -> Result<Option<(RemoteRepo, Option<String>)>, ProviderError> {
        if !self.owns(full_name) {
            return Ok(None);
        }
        let segments: Vec<&str> = std::iter::once("repos")
            .chain(full_name.split('/'))
            .collect();
        let Some(repo) = self
            .get_if_found::<wire::Repo>(&self.url(&segments, &[]))
            .await?
        else {
            return Ok(None);
        };
        // GitHub answers for a renamed or transferred repository under its
        // new name: one that moved to another owner is no longer ours.
        if !self.owns(&repo.full_name) {
            return Ok(None);
        }
        Ok(Some(remote_repo(repo)))
    }

    /// Whether `full_name` (`owner/name`) names a repository of this
    /// organization. Logins are case-insensitive at GitHub.
    fn owns(&self, full_name: &str) -> bool {
        full_name.split_once('/').is_some_and(|(owner, name)| {
            owner.eq_ignore_ascii_case(&self.org) && !name.is_empty() && !name.contains('/')
        })
    }

    /// A single object, or `None` when the host answers 404.
    async fn get_if_found<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
    ) -> Result<Option<T>, ProviderError> {
        match self.http.get_json::<T>(url, CacheMode::Conditional).await {
            Ok(found) => Ok(Some(found)),
            Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a repository's refs and the composer.json at each. The default
    /// branch's manifest decides whether tags and other refs are worth
    /// reading at all.
    async fn fetch_refs(&self, mut remote: RemoteRepo) -> Result<RemoteRepo, ProviderError> {
        let id = remote.id.clone();
        let repo_path: Vec<&str> = std::iter::once("repos")
            .chain(remote.full_name.split('/'))
            .collect();
        let branches = self
            .list::<wire::Ref>(self.list_url(&[&repo_path[..], &["branches"]].concat(), &[]))
            .await?;
        let Some(default) = branches
            .items
            .iter()
            .find(|b| b.name == remote.default_branch)
        else {
            // An empty repository has no branches and is no package.
            remote.refs.complete = branches.complete;
            return Ok(remote);
        };
        let default_commit = default.commit.sha.clone();
        let Some(manifest) = self
            .fetch_manifest(&id, &repo_path, &default_commit)
            .await?
        else {
            return Ok(remote);
        };
        if manifest == Manifest::Missing {
            remote.refs = Listing::complete(vec![RemoteRef {
                kind: RefKind::Branch,
                name: remote.default_branch.clone(),
                commit: default_commit,
                manifest,
            }]);
            return Ok(remote);
        }
        let tags = self
            .list::<wire::Ref>(self.list_url(&[&repo_path[..], &["tags"]].concat(), &[]))
            .await?;
        let branches_complete = branches.complete;
        let refs: Vec<ListedRef> = branches
            .items
            .into_iter()
            .map(|b| (RefKind::Branch, b))
            .chain(tags.items.into_iter().map(|t| (RefKind::Tag, t)))
            .map(|(kind, r)| ListedRef {
                kind,
                commit: r.commit.sha,
                name: r.name,
            })
            .collect();
        let (id, repo_path) = (&id, &repo_path);
        remote.refs = manifest::refs_with_manifests(
            refs,
            (default_commit, manifest),
            branches_complete && tags.complete,
            self.concurrency,
            |commit| async move { self.fetch_manifest(id, repo_path, &commit).await },
        )
        .await?;
        Ok(remote)
    }

    /// composer.json at `commit`, from the cache when already read. `None`
    /// when it could not be read this time (a transient failure).
    async fn fetch_manifest(
        &self,
        repo: &RemoteId,
        repo_path: &[&str],
        commit: &str,
    ) -> Result<Option<Manifest>, ProviderError> {
        if let Some(known) = self.cache.manifest(repo, commit) {
            return Ok(Some(known));
        }
        let url = self.url(
            &[repo_path, &["contents", "composer.json"]].concat(),
            &[("ref", commit)],
        );
        let manifest = match self
            .http
            .get(&url, CacheMode::Bypass, self.max_manifest_bytes)
            .await
        {
            Ok(response) => match serde_json::from_slice::<wire::Content>(&response.body) {
                Ok(content) => decode_manifest(&content, self.max_manifest_bytes),
                Err(_) => Manifest::Invalid("composer.json is not a file".to_owned()),
            },
            Err(ProviderError::NotFound { .. }) => Manifest::Missing,
            Err(ProviderError::Decode { reason, .. }) => {
                Manifest::Invalid(format!("composer.json could not be read: {reason}"))
            }
            Err(e) if e.stops_run() => return Err(e),
            Err(e) => {
                tracing::warn!(path = url.path(), commit, error = %e, "composer.json not read");
                return Ok(None);
            }
        };
        self.cache.put_manifest(repo, commit, &manifest);
        Ok(Some(manifest))
    }
}

#[async_trait]
impl CodeHost for GithubHost {
    async fn verify(&self) -> Result<RemoteOrg, ProviderError> {
        self.fetch_org().await
    }

    async fn snapshot(&self, progress: ProgressFn) -> Result<RemoteSnapshot, ProviderError> {
        let (org, admins) = self.fetch_org_and_admins(&progress).await?;
        let teams = self.fetch_teams(&progress).await?;
        let repos = self.fetch_repos(&progress).await?;
        Ok(RemoteSnapshot {
            org,
            admins,
            teams,
            repos,
        })
    }

    async fn fetch_archive(
        &self,
        repo_full_name: &str,
        commit: &str,
    ) -> Result<bytes::Bytes, ProviderError> {
        let parts: Vec<&str> = repo_full_name.split('/').collect();
        let [owner, repo] = parts[..] else {
            return Err(ProviderError::NotFound {
                host: self.http.host().to_owned(),
                path: format!("/repos/{repo_full_name}"),
            });
        };
        // GitHub answers with a 302 to codeload; reqwest follows it and keeps
        // the Authorization header only while the redirect stays on one origin.
        let url = self.url(&["repos", owner, repo, "zipball", commit], &[]);
        let response = self
            .http
            .get(
                &url,
                CacheMode::Bypass,
                ARCHIVE_MAX_BYTES.max(self.max_manifest_bytes),
            )
            .await?;
        Ok(response.body)
    }

    fn stats(&self) -> RequestStats {
        self.http.stats()
    }

    fn budget(&self) -> Arc<Budget> {
        self.http.budget()
    }

    async fn fetch_repo(&self, full_name: &str) -> Result<Option<RemoteRepo>, ProviderError> {
        let Some((remote, pushed_at)) = self.fetch_listed_repo(full_name).await? else {
            return Ok(None);
        };
        self.fetch_refs_remembered(remote, pushed_at)
            .await
            .map(Some)
    }

    async fn fetch_team(&self, team: &str) -> Result<Option<Vec<RemoteTeam>>, ProviderError> {
        let url = self.url(&["orgs", &self.org, "teams", team], &[]);
        let Some(team) = self.get_if_found::<wire::Team>(&url).await? else {
            return Ok(None);
        };
        Ok(Some(vec![self.fetch_team_details(team).await?]))
    }

    async fn ensure_hooks(
        &self,
        spec: &HookSpec,
        repos: &[String],
    ) -> Result<InstalledHooks, ProviderError> {
        self.install_hooks(spec, repos).await
    }

    async fn remove_hooks(&self, installed: &InstalledHooks) -> Result<(), ProviderError> {
        self.uninstall_hooks(installed).await
    }
}

/// A listed repository without its refs yet, and its `pushed_at`.
fn remote_repo(repo: wire::Repo) -> (RemoteRepo, Option<String>) {
    let remote = RemoteRepo {
        id: RemoteId::from(repo.id),
        full_name: repo.full_name,
        default_branch: repo.default_branch.unwrap_or_default(),
        clone_url: repo.clone_url,
        html_url: repo.html_url,
        description: repo.description,
        archived: repo.archived,
        refs: Listing::partial(Vec::new()),
    };
    (remote, repo.pushed_at)
}

fn account(a: wire::Account) -> RemoteAccount {
    RemoteAccount {
        id: a.id.into(),
        login: a.login,
        email: a.email,
    }
}

/// Orders numeric ids numerically (shorter first), others by text.
fn by_id(a: &RemoteId, b: &RemoteId) -> std::cmp::Ordering {
    (a.0.len(), &a.0).cmp(&(b.0.len(), &b.0))
}

/// The team's permission on a repository: `role_name` when it is a built-in
/// role, else the permission flags (custom roles report their base flags).
fn team_permission(repo: &wire::Repo) -> Option<Permission> {
    match repo.role_name.as_deref() {
        Some("admin") => return Some(Permission::Admin),
        Some("maintain" | "write" | "push") => return Some(Permission::Write),
        Some("triage" | "read" | "pull") => return Some(Permission::Read),
        _ => {}
    }
    let p = repo.permissions.as_ref()?;
    if p.admin {
        Some(Permission::Admin)
    } else if p.maintain || p.push {
        Some(Permission::Write)
    } else if p.triage || p.pull {
        Some(Permission::Read)
    } else {
        None
    }
}

/// Turns a contents API answer into a manifest. Every reason a file cannot
/// be used becomes `Invalid` with a message for admins.
fn decode_manifest(content: &wire::Content, max_bytes: usize) -> Manifest {
    let invalid = |m: String| Manifest::Invalid(m);
    if content.kind != "file" {
        return invalid(format!("composer.json is a {}, not a file", content.kind));
    }
    match content.encoding.as_deref() {
        Some("base64") => {}
        Some("none") => {
            return invalid(format!(
                "composer.json is larger than {CONTENTS_API_MAX}, the most the GitHub contents API returns"
            ));
        }
        other => {
            return invalid(format!(
                "composer.json came in an unknown encoding {:?}",
                other.unwrap_or("")
            ));
        }
    }
    manifest::decode_base64(
        content.content.as_deref().unwrap_or_default(),
        content.size,
        max_bytes,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;
    use crate::providers::MemoryCache;
    use base64::Engine as _;

    fn content(json: &str) -> wire::Content {
        wire::Content {
            kind: "file".into(),
            encoding: Some("base64".into()),
            size: json.len() as u64,
            content: Some(base64::engine::general_purpose::STANDARD.encode(json)),
        }
    }

    #[test]
    fn fixtures_decode_when_read_with_wire_dtos() {
        let org: wire::Org = serde_json::from_str(include_str!(
            "../../../shared/fixtures/github/api/get-orgs-org.json"
        ))
        .unwrap();
        assert_eq!((org.id, org.login.as_str()), (1, "github"));
        let recorded: serde_json::Value = serde_json::from_str(include_str!(
            "../../../shared/fixtures/github/api/recorded/get-orgs-org.octokit-fixtures.json"
        ))
        .unwrap();
        let org: wire::Org = serde_json::from_value(recorded["response"].clone()).unwrap();
        assert_eq!(org.name, None);
        let user: wire::Account = serde_json::from_str(include_str!(
            "../../../shared/fixtures/github/api/get-user.json"
        ))
        .unwrap();
        assert_eq!(user.email.as_deref(), Some("octocat@github.com"));
        for members in [
            include_str!("../../../shared/fixtures/github/api/get-orgs-org-members.json"),
            include_str!(
                "../../../shared/fixtures/github/api/get-orgs-org-teams-team_slug-members.json"
            ),
            include_str!(
                "../../../shared/fixtures/github/api/get-repos-owner-repo-collaborators.json"
            ),
        ] {
            let m: Vec<wire::Account> = serde_json::from_str(members).unwrap();
            assert_eq!(m[0].login, "octocat");
        }
        let teams: Vec<wire::Team> = serde_json::from_str(include_str!(
            "../../../shared/fixtures/github/api/get-orgs-org-teams.json"
        ))
        .unwrap();
        assert_eq!(teams[0].slug, "justice-league");
        for repos in [
            include_str!("../../../shared/fixtures/github/api/get-orgs-org-repos.json"),
            include_str!(
                "../../../shared/fixtures/github/api/get-orgs-org-teams-team_slug-repos.json"
            ),
        ] {
            let r: Vec<wire::Repo> = serde_json::from_str(repos).unwrap();
            assert_eq!(r[0].clone_url, "https://github.com/octocat/Hello-World.git");
            assert!(team_permission(&r[0]).is_some());
        }
        let installation: serde_json::Value = serde_json::from_str(include_str!(
            "../../../shared/fixtures/github/api/get-installation-repositories.json"
        ))
        .unwrap();
        let _: Vec<wire::Repo> =
            serde_json::from_value(installation["repositories"].clone()).unwrap();
        let repo: wire::Repo = serde_json::from_str(include_str!(
            "../../../shared/fixtures/github/api/get-repos-owner-repo.json"
        ))
        .unwrap();
        assert_eq!(repo.default_branch.as_deref(), Some("master"));
        for refs in [
            include_str!("../../../shared/fixtures/github/api/get-repos-owner-repo-branches.json"),
            include_str!("../../../shared/fixtures/github/api/get-repos-owner-repo-tags.json"),
        ] {
            let r: Vec<wire::Ref> = serde_json::from_str(refs).unwrap();
            assert_eq!(r[0].commit.sha, "c5b97d5ae6c19d5c5df71a34c7fbeeda2479ccbc");
        }
        let hooks: Vec<wire::Hook> = serde_json::from_str(include_str!(
            "../../../shared/fixtures/github/api/get-orgs-org-hooks.json"
        ))
        .unwrap();
        assert_eq!(hooks[0].config.url.as_deref(), Some("http://example.com"));
        for created in [
            include_str!("../../../shared/fixtures/github/api/post-orgs-org-hooks.201.json"),
            include_str!(
                "../../../shared/fixtures/github/api/post-repos-owner-repo-hooks.201.json"
            ),
        ] {
            let hook: wire::Hook = serde_json::from_str(created).unwrap();
            assert!(hook.id > 0 && hook.config.url.is_some());
        }
        let file: wire::Content = serde_json::from_str(include_str!(
            "../../../shared/fixtures/github/api/get-repos-owner-repo-contents-path.file.json"
        ))
        .unwrap();
        assert_eq!((file.kind.as_str(), file.size), ("file", 5362));
        // That example's content is a README, not JSON: never a package.
        assert!(matches!(
            decode_manifest(&file, 1 << 20),
            Manifest::Invalid(_)
        ));
    }

    #[test]
    fn permission_maps_roles_when_role_name_or_flags_given() {
        let repo = |role: Option<&str>, flags: (bool, bool, bool, bool, bool)| wire::Repo {
            id: 1,
            node_id: None,
            full_name: "a/b".into(),
            html_url: String::new(),
            clone_url: String::new(),
            description: None,
            default_branch: None,
            pushed_at: None,
            archived: false,
            role_name: role.map(str::to_owned),
            permissions: Some(wire::RepoPermissions {
                admin: flags.0,
                maintain: flags.1,
                push: flags.2,
                triage: flags.3,
                pull: flags.4,
            }),
        };
        let none = (false, false, false, false, false);
        assert_eq!(
            team_permission(&repo(Some("admin"), none)),
            Some(Permission::Admin)
        );
        assert_eq!(
            team_permission(&repo(Some("maintain"), none)),
            Some(Permission::Write)
        );
        assert_eq!(
            team_permission(&repo(Some("triage"), none)),
            Some(Permission::Read)
        );
        assert_eq!(
            team_permission(&repo(Some("custom"), (false, false, true, false, true))),
            Some(Permission::Write)
        );
        assert_eq!(
            team_permission(&repo(None, (false, false, false, true, false))),
            Some(Permission::Read)
        );
        assert_eq!(team_permission(&repo(None, none)), None);
    }

    #[test]
    fn manifest_is_found_when_wrapped_base64_json_object_with_name() {
        let json = r#"{"name":"acme/log","require":{"php":">=8.1"}}"#;
        let mut c = content(json);
        let wrapped: String = c
            .content
            .as_deref()
            .unwrap()
            .as_bytes()
            .chunks(20)
            .map(|l| format!("{}\n", std::str::from_utf8(l).unwrap()))
            .collect();
        c.content = Some(wrapped);
        let Manifest::Found(map) = decode_manifest(&c, 1 << 20) else {
            panic!("not found");
        };
        assert_eq!(map["name"], "acme/log");
    }

    #[test]
    fn manifest_is_invalid_when_unusable() {
        let cases = [
            content("{ not json"),
            content(r#"["a"]"#),
            content(r#"{"description":"x"}"#),
            content(r#"{"name":"No Vendor"}"#),
            wire::Content {
                content: Some(base64::engine::general_purpose::STANDARD.encode([0xff, 0xfe])),
                ..content("")
            },
            wire::Content {
                encoding: Some("none".into()),
                size: 2_000_000,
                content: Some(String::new()),
                ..content("")
            },
            content(&format!(r#"{{"name":"a/b","x":"{}"}}"#, "y".repeat(100))),
        ];
        for c in &cases[..6] {
            assert!(
                matches!(decode_manifest(c, 1 << 20), Manifest::Invalid(_)),
                "{c:?}"
            );
        }
        let Manifest::Invalid(reason) = decode_manifest(&cases[5], 1 << 20) else {
            unreachable!()
        };
        assert!(reason.contains("larger than 1 MB"), "{reason}");
        let Manifest::Invalid(reason) = decode_manifest(&cases[6], 64) else {
            panic!("a file above the limit was accepted")
        };
        assert!(reason.contains("larger than 64 bytes"), "{reason}");
    }

    #[test]
    fn url_is_built_under_base_when_ghes_path_and_trailing_slash() {
        let host = GithubHost::new(
            "https://ghe.example.com/api/v3/",
            "acme",
            &Credential::Token(Secret::new("ghp_secret_value")),
            Arc::new(MemoryCache::default()),
            &ClientSettings::default(),
        )
        .unwrap();
        assert_eq!(
            host.list_url(&["orgs", "acme", "members"], &[("role", "admin")])
                .as_str(),
            "https://ghe.example.com/api/v3/orgs/acme/members?role=admin&per_page=100"
        );
        assert_eq!(
            host.url(
                &["repos", "acme", "log", "contents", "composer.json"],
                &[("ref", "abc")]
            )
            .as_str(),
            "https://ghe.example.com/api/v3/repos/acme/log/contents/composer.json?ref=abc"
        );
        assert!(!format!("{host:?}").contains("ghp_secret_value"));
    }

    #[test]
    fn new_fails_when_api_url_is_not_http() {
        let err = GithubHost::new(
            "ftp://example.com",
            "acme",
            &Credential::Token(Secret::new("t")),
            Arc::new(MemoryCache::default()),
            &ClientSettings::default(),
        )
        .unwrap_err();
        assert!(matches!(err, ProviderError::Unreachable { .. }));
    }

    #[test]
    fn new_fails_when_credential_is_basic() {
        let err = GithubHost::new(
            DEFAULT_API_URL,
            "acme",
            &Credential::Basic {
                username: "u".into(),
                password: Secret::new("p"),
            },
            Arc::new(MemoryCache::default()),
            &ClientSettings::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("a token or a GitHub App"), "{err}");
    }
}
