//! Bitbucket Cloud workspaces over the REST API (`https://api.bitbucket.org/2.0`).
//!
//! # Endpoints, and why these
//! - `GET /2.0/workspaces/{ws}`: the workspace; checks the credentials
//!   (401) and that the workspace is visible (404).
//! - `GET /2.0/workspaces/{ws}/permissions?q=permission="owner"`: workspace
//!   owners, who become packyard admins when the sync is primary.
//! - `GET /1.0/groups/{ws}`: groups with their members inline. Bitbucket has
//!   no 2.0 resource for groups or group membership; Atlassian removed the
//!   rest of 1.0 but keeps `/1.0/groups` until the Atlassian admin APIs
//!   replace it (REST reference, "Temporary support for limited 1.0 API
//!   resources"). It needs a workspace admin's API token or app password; an
//!   access token the 1.0 API refuses leaves the teams listing partial
//!   rather than failing the run.
//! - `GET /2.0/repositories/{ws}?pagelen=100`: repositories.
//! - `GET /2.0/repositories/{ws}/{slug}`: one repository, when a webhook
//!   asks for it to be refreshed (its refs are then read afresh).
//! - `GET|POST /2.0/repositories/{ws}/{slug}/hooks` and `PUT|DELETE
//!   …/hooks/{uuid}`: packyard's webhook on each repository (see `hooks`).
//! - `GET /2.0/repositories/{ws}/{slug}/permissions-config/groups`: the
//!   explicit group permissions (read/write/admin) on one repository: the
//!   2.0 replacement of 1.0 `group-privileges`. Read only for repositories
//!   whose main branch has a composer.json, the only ones a team's access
//!   matters for. Permissions a group inherits from a *project* are not read.
//! - `GET …/refs?pagelen=100&fields=…`: branches and tags in one listing,
//!   trimmed to name, type and commit (one request per repository where
//!   branches and tags would take two, in the 1,000-an-hour repository-data
//!   budget).
//! - `GET {web}/{ws}/{slug}/raw/{commit}/composer.json`: the raw file (404:
//!   none), cached by commit in the [`ProviderCache`]. Counted in the
//!   5,000-an-hour raw-file budget, not the repository-data one the API's
//!   `…/src/{commit}/composer.json` would spend.
//! - Archives: `{web}/{ws}/{slug}/get/{commit}.zip` on the web host
//!   (`bitbucket.org` for `api.bitbucket.org`, else the API's own origin).
//!   The URL is built here, never taken from a response, so the credentials
//!   only go to this host's API and web addresses; a redirect elsewhere
//!   drops them (reqwest's policy).
//!
//! Pages are followed through the body's `next` URL until it is absent.
//! Bitbucket documents no conditional requests, so resyncs save work with
//! the repository's `updated_on` instead: refs read completely are reused
//! while it is unchanged (at most a day), and manifests are never read
//! twice for one commit.
//!
//! Credentials: [`Credential::Token`] is a workspace/repository access token
//! sent as `Bearer`; [`Credential::Basic`] is an Atlassian account email
//! with an API token, or a username with an app password.

pub(crate) mod hooks;

use super::budget::{Budget, Documented, HostLimits, Refill};
use super::hooks::{ensure_repo_hooks, remove_repo_hooks};
use super::http::{self, CacheMode, HttpClient, Paged, Pagination};
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
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const DEFAULT_API_URL: &str = "https://api.bitbucket.org/2.0";

/// Bitbucket.org's API host and the web host that serves its archives.
const CLOUD_API_HOST: &str = "api.bitbucket.org";
const CLOUD_WEB_URL: &str = "https://bitbucket.org/";

/// The largest page Bitbucket serves.
const PAGELEN: &str = "100";

/// What the `/refs` listing needs to return: the rest of each ref (links,
/// the full commit) is dropped by the host.
const REF_FIELDS: &str = "next,values.name,values.type,values.target.hash";

const ROLLING_HOUR: Refill = Refill::Rolling(std::time::Duration::from_secs(3600));

/// Bitbucket Cloud's documented limits, each over a rolling hour: 1,000
/// requests for repository data (`/2.0/repositories/*`; scaled up to 10,000
/// for large paid workspaces, which `X-RateLimit-Limit` reports to access
/// tokens), 5,000 raw file downloads and 5,000 archives. It reports no
/// remaining count or reset, so both are estimated from own requests.
static LIMITS: HostLimits = HostLimits {
    bucket: |url| {
        let path = url.path();
        Some(if path.starts_with("/2.0/repositories/") {
            "repository data"
        } else if path.contains("/raw/") {
            "raw files"
        } else if path.contains("/get/") {
            "archives"
        } else {
            "other"
        })
    },
    documented: &[
        Documented {
            bucket: "repository data",
            limit: 1_000,
            refill: ROLLING_HOUR,
        },
        Documented {
            bucket: "raw files",
            limit: 5_000,
            refill: ROLLING_HOUR,
        },
        Documented {
            bucket: "archives",
            limit: 5_000,
            refill: ROLLING_HOUR,
        },
    ],
};

/// Archives are not API responses: allow well past `max_body_bytes`, but
/// keep a bound so a runaway download cannot exhaust memory.
const ARCHIVE_MAX_BYTES: usize = 512 * 1024 * 1024;

/// Refs reused on an unchanged `updated_on` are read again after this long
/// anyway, in case a change did not move it.
const REFS_MAX_AGE_SECS: i64 = 24 * 60 * 60;

/// Bitbucket Cloud REST shapes, only the fields packyard reads. Unknown
/// fields are ignored so API additions do not break decoding.
mod wire {
    use serde::Deserialize;

    /// The envelope of every 2.0 listing.
    #[derive(Debug, Deserialize)]
    pub struct Page<T> {
        pub values: Vec<T>,
        #[serde(default)]
        pub next: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Workspace {
        pub uuid: String,
        pub slug: String,
        #[serde(default)]
        pub name: Option<String>,
    }

    /// A user as 2.0 (`user` objects) and 1.0 (group members) show one.
    #[derive(Debug, Deserialize)]
    pub struct Account {
        pub uuid: String,
        #[serde(default)]
        pub nickname: Option<String>,
        #[serde(default)]
        pub display_name: Option<String>,
    }

    /// A `workspace_membership`.
    #[derive(Debug, Deserialize)]
    pub struct Membership {
        pub permission: String,
        pub user: Account,
    }

    /// A 1.0 group with its members.
    #[derive(Debug, Deserialize)]
    pub struct Group {
        pub slug: String,
        pub name: String,
        #[serde(default)]
        pub members: Vec<Account>,
    }

    /// A `repository_group_permission`.
    #[derive(Debug, Deserialize)]
    pub struct GroupPermission {
        pub group: GroupRef,
        pub permission: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct GroupRef {
        pub slug: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Repo {
        pub uuid: String,
        pub full_name: String,
        #[serde(default)]
        pub description: Option<String>,
        /// Absent or null for a repository with no commits yet.
        #[serde(default)]
        pub mainbranch: Option<Named>,
        /// Moves on pushes and settings changes.
        #[serde(default)]
        pub updated_on: Option<String>,
        pub links: RepoLinks,
    }

    #[derive(Debug, Deserialize)]
    pub struct Named {
        pub name: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct RepoLinks {
        pub html: Href,
        #[serde(default)]
        pub clone: Vec<CloneLink>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Href {
        pub href: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct CloneLink {
        pub href: String,
        pub name: String,
    }

    /// A branch or a tag: both list as a name and a target commit.
    #[derive(Debug, Deserialize)]
    pub struct Ref {
        pub name: String,
        /// `branch` or `tag` (the `/refs` listing mixes both).
        #[serde(rename = "type")]
        pub kind: String,
        pub target: Target,
    }

    #[derive(Debug, Deserialize)]
    pub struct Target {
        pub hash: String,
    }
}

/// Bitbucket's pagination: `values` holds the items, `next` the absolute
/// URL of the following page when there is one.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NextUrl;

impl Pagination for NextUrl {
    fn items<T: DeserializeOwned>(&self, body: &[u8]) -> Result<Vec<T>, serde_json::Error> {
        serde_json::from_slice::<wire::Page<T>>(body).map(|page| page.values)
    }

    fn next(&self, current: &Url, _headers: &HeaderMap, body: &[u8]) -> Option<Url> {
        let page = serde_json::from_slice::<wire::Page<serde::de::IgnoredAny>>(body).ok()?;
        current.join(&page.next?).ok()
    }
}

/// A repository with the explicit group permissions on it, when read.
type RepoWithGroups = (RemoteRepo, Option<Listing<(String, Permission)>>);

/// A Bitbucket Cloud workspace.
pub struct BitbucketCloudHost {
    api: Url,
    web: Url,
    workspace: String,
    http: HttpClient,
    cache: Arc<dyn ProviderCache>,
    concurrency: usize,
    max_manifest_bytes: usize,
}

impl std::fmt::Debug for BitbucketCloudHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitbucketCloudHost")
            .field("api", &self.api.as_str())
            .field("workspace", &self.workspace)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl BitbucketCloudHost {
    pub fn new(
        api_url: &str,
        workspace: &str,
        credential: &Credential,
        cache: Arc<dyn ProviderCache>,
        settings: &ClientSettings,
    ) -> Result<Self, ProviderError> {
        let api = http::api_base(api_url, DEFAULT_API_URL)?;
        let invalid = |reason: String| ProviderError::Unreachable {
            host: api.as_str().to_owned(),
            reason,
        };
        let web = if api.host_str() == Some(CLOUD_API_HOST) {
            Url::parse(CLOUD_WEB_URL).map_err(|e| invalid(e.to_string()))?
        } else {
            api.join("/").map_err(|e| invalid(e.to_string()))?
        };
        let mut headers = http::authorization(
            credential,
            &api,
            ProviderKind::BitbucketCloud,
            "an access token, or an email or username with an API token or app password",
        )?;
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Ok(Self {
            http: HttpClient::new(&api, headers, cache.clone(), settings, &LIMITS)?,
            api,
            web,
            workspace: workspace.to_owned(),
            cache,
            concurrency: settings.concurrency.max(1),
            max_manifest_bytes: settings.max_body_bytes,
        })
    }

    /// `{base}/{segments…}?{query}`, each segment percent-encoded.
    fn url(base: &Url, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// A 2.0 listing's first page, at the largest page size.
    fn list_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut q = query.to_vec();
        q.push(("pagelen", PAGELEN));
        Self::url(&self.api, segments, &q)
    }

    /// The 1.0 groups resource, beside the 2.0 base (`…/2.0` → `…/1.0`).
    fn groups_url(&self) -> Url {
        let mut base = self.api.clone();
        if let Ok(mut path) = base.path_segments_mut() {
            path.pop_if_empty().pop();
        }
        Self::url(&base, &["1.0", "groups", &self.workspace], &[])
    }

    async fn fetch_workspace(&self) -> Result<RemoteOrg, ProviderError> {
        let url = Self::url(&self.api, &["workspaces", &self.workspace], &[]);
        match self
            .http
            .get_json::<wire::Workspace>(&url, CacheMode::Conditional)
            .await
        {
            Ok(ws) => Ok(RemoteOrg {
                id: RemoteId(ws.uuid),
                login: ws.slug,
                name: ws.name,
            }),
            Err(ProviderError::NotFound { host, .. }) => Err(ProviderError::OrgNotFound {
                host,
                org: self.workspace.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    /// A whole paginated listing. Only bad credentials abort the run; any
    /// other failure leaves the listing partial.
    async fn list<T: DeserializeOwned>(&self, url: Url) -> Result<Listing<T>, ProviderError> {
        let Paged {
            items,
            complete,
            error,
        } = self.http.get_all(url.clone(), &NextUrl).await;
        match error {
            Some(e) if e.stops_run() => Err(e),
            Some(e) => {
                tracing::warn!(path = url.path(), error = %e, "listing incomplete");
                Ok(Listing::partial(items))
            }
            None => Ok(Listing { items, complete }),
        }
    }

    async fn fetch_owners(&self) -> Result<Listing<RemoteAccount>, ProviderError> {
        let url = self.list_url(
            &["workspaces", &self.workspace, "permissions"],
            &[("q", "permission=\"owner\"")],
        );
        let listing = self.list::<wire::Membership>(url).await?;
        Ok(accounts(Listing {
            items: listing
                .items
                .into_iter()
                .filter(|m| m.permission == "owner")
                .map(|m| m.user)
                .collect(),
            complete: listing.complete,
        }))
    }

    /// Groups with members from the 1.0 API.
    async fn fetch_groups(&self) -> Result<Vec<wire::Group>, ProviderError> {
        self.http
            .get_json::<Vec<wire::Group>>(&self.groups_url(), CacheMode::Conditional)
            .await
    }

    /// The groups as a snapshot lists them. This runs after the credentials
    /// passed the 2.0 workspace check, so a refusal here (401/403) means the
    /// credential type cannot read groups: partial, not fatal.
    async fn list_groups(&self) -> Listing<wire::Group> {
        match self.fetch_groups().await {
            Ok(groups) => Listing::complete(groups),
            Err(e) => {
                tracing::warn!(path = self.groups_url().path(), error = %e, "groups not read (the 1.0 groups API needs a workspace admin's API token or app password)");
                Listing::partial(Vec::new())
            }
        }
    }

    async fn fetch_repos(
        &self,
        progress: &ProgressFn,
    ) -> Result<Listing<RepoWithGroups>, ProviderError> {
        let repos = self
            .list::<wire::Repo>(self.list_url(&["repositories", &self.workspace], &[]))
            .await?;
        let total = repos.items.len() as u64;
        let done = AtomicU64::new(0);
        let phase = "repositories";
        progress(Progress {
            phase,
            done: 0,
            total,
        });
        let mut items: Vec<RepoWithGroups> = stream::iter(repos.items)
            .map(|repo| {
                let done = &done;
                async move {
                    let result = self.fetch_listed_repo(repo).await;
                    let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress(Progress { phase, done, total });
                    result
                }
            })
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        items.sort_by(|a, b| a.0.full_name.cmp(&b.0.full_name));
        Ok(Listing {
            items,
            complete: repos.complete,
        })
    }

    /// One listed repository with its refs and, when it may be a package,
    /// the group permissions on it.
    async fn fetch_listed_repo(&self, repo: wire::Repo) -> Result<RepoWithGroups, ProviderError> {
        let (remote, updated_on) = remote_repo(repo);
        let remote = self.fetch_refs_unless_unchanged(remote, updated_on).await?;
        let no_manifest = remote.refs.complete
            && remote
                .default_ref()
                .is_none_or(|r| r.manifest == Manifest::Missing);
        if no_manifest {
            return Ok((remote, None));
        }
        let permissions = self.fetch_group_permissions(&remote.full_name).await?;
        Ok((remote, Some(permissions)))
    }

    /// Refs read completely while `updated_on` was the same are reused
    /// without a request, for at most [`REFS_MAX_AGE_SECS`].
    async fn fetch_refs_unless_unchanged(
        &self,
        remote: RemoteRepo,
        updated_on: Option<String>,
    ) -> Result<RemoteRepo, ProviderError> {
        let Some(updated_on) = updated_on else {
            return self.fetch_refs(remote).await;
        };
        let now = Timestamp::now();
        if let Some(known) = self.cache.refs(&remote.id).filter(|known| {
            known.pushed_at == updated_on
                && known.default_branch == remote.default_branch
                && (0..REFS_MAX_AGE_SECS).contains(&(now.0 - known.checked_at.0))
        }) {
            return Ok(RemoteRepo {
                refs: Listing::complete(known.refs),
                ..remote
            });
        }
        let remote = self.fetch_refs(remote).await?;
        self.remember_refs(&remote, updated_on, now);
        Ok(remote)
    }

    /// Keeps refs read completely for the next run, with the `updated_on`
    /// they were read at.
    fn remember_refs(&self, remote: &RemoteRepo, updated_on: String, now: Timestamp) {
        if remote.refs.complete {
            let known = RepoRefs {
                pushed_at: updated_on,
                checked_at: now,
                default_branch: remote.default_branch.clone(),
                refs: remote.refs.items.clone(),
            };
            self.cache.put_refs(&remote.id, &known);
        }
    }

    /// `{workspace}/{slug}` split in two; anything else names no repository.
    fn split_full_name<'a>(&self, full_name: &'a str) -> Result<(&'a str, &'a str), ProviderError> {
        match full_name.split('/').collect::<Vec<_>>()[..] {
            [workspace, slug] if !workspace.is_empty() && !slug.is_empty() => Ok((workspace, slug)),
            _ => Err(ProviderError::NotFound {
                host: self.http.host().to_owned(),
                path: format!("/repositories/{full_name}"),
            }),
        }
    }

    /// Reads a repository's refs and the composer.json at each. The main
    /// branch's manifest decides whether tags and other refs are worth
    /// reading at all.
    async fn fetch_refs(&self, mut remote: RemoteRepo) -> Result<RemoteRepo, ProviderError> {
        let repo_path: Vec<&str> = std::iter::once("repositories")
            .chain(remote.full_name.split('/'))
            .collect();
        let listed = self
            .list::<wire::Ref>(self.list_url(
                &[&repo_path[..], &["refs"]].concat(),
                &[("fields", REF_FIELDS)],
            ))
            .await?;
        let Some(main) = listed
            .items
            .iter()
            .find(|r| r.kind == "branch" && r.name == remote.default_branch)
        else {
            // A repository without commits has no branches and is no package.
            remote.refs.complete = listed.complete;
            return Ok(remote);
        };
        let main_commit = main.target.hash.clone();
        let Some(manifest) = self
            .fetch_manifest(&remote.id, &repo_path, &main_commit)
            .await?
        else {
            return Ok(remote);
        };
        if manifest == Manifest::Missing {
            remote.refs = Listing::complete(vec![RemoteRef {
                kind: RefKind::Branch,
                name: remote.default_branch.clone(),
                commit: main_commit,
                manifest,
            }]);
            return Ok(remote);
        }
        let complete = listed.complete;
        let refs: Vec<ListedRef> = listed
            .items
            .into_iter()
            .filter_map(|r| {
                let kind = match r.kind.as_str() {
                    "branch" => RefKind::Branch,
                    "tag" => RefKind::Tag,
                    _ => return None,
                };
                Some(ListedRef {
                    kind,
                    commit: r.target.hash,
                    name: r.name,
                })
            })
            .collect();
        let (id, repo_path) = (&remote.id, &repo_path);
        remote.refs = manifest::refs_with_manifests(
            refs,
            (main_commit, manifest),
            complete,
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
        // `repo_path` is `repositories/{ws}/{slug}`; the web host serves
        // `{ws}/{slug}/raw/…`.
        let url = Self::url(
            &self.web,
            &[&repo_path[1..], &["raw", commit, "composer.json"]].concat(),
            &[],
        );
        let manifest = match self
            .http
            .get(&url, CacheMode::Bypass, self.max_manifest_bytes)
            .await
        {
            Ok(response) => manifest::parse(&response.body),
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

    /// Group slug → permission on one repository.
    async fn fetch_group_permissions(
        &self,
        full_name: &str,
    ) -> Result<Listing<(String, Permission)>, ProviderError> {
        let segments: Vec<&str> = std::iter::once("repositories")
            .chain(full_name.split('/'))
            .chain(["permissions-config", "groups"])
            .collect();
        let listing = self
            .list::<wire::GroupPermission>(self.list_url(&segments, &[]))
            .await?;
        Ok(Listing {
            items: listing
                .items
                .into_iter()
                .filter_map(|p| Some((p.group.slug, permission(&p.permission)?)))
                .collect(),
            complete: listing.complete,
        })
    }
}

#[async_trait]
impl CodeHost for BitbucketCloudHost {
    async fn verify(&self) -> Result<RemoteOrg, ProviderError> {
        self.fetch_workspace().await
    }

    async fn snapshot(&self, progress: ProgressFn) -> Result<RemoteSnapshot, ProviderError> {
        progress(Progress {
            phase: "organization",
            done: 0,
            total: 2,
        });
        let org = self.fetch_workspace().await?;
        let admins = self.fetch_owners().await?;
        progress(Progress {
            phase: "organization",
            done: 2,
            total: 2,
        });
        progress(Progress {
            phase: "teams",
            done: 0,
            total: 1,
        });
        let groups = self.list_groups().await;
        progress(Progress {
            phase: "teams",
            done: 1,
            total: 1,
        });
        let repos = self.fetch_repos(&progress).await?;
        let teams = teams(groups, &repos);
        Ok(RemoteSnapshot {
            org,
            admins,
            teams,
            repos: Listing {
                items: repos.items.into_iter().map(|(r, _)| r).collect(),
                complete: repos.complete,
            },
        })
    }

    async fn fetch_archive(
        &self,
        repo_full_name: &str,
        commit: &str,
    ) -> Result<bytes::Bytes, ProviderError> {
        let (workspace, slug) = self.split_full_name(repo_full_name)?;
        let url = Self::url(
            &self.web,
            &[workspace, slug, "get", &format!("{commit}.zip")],
            &[],
        );
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

    /// `GET /2.0/repositories/{ws}/{slug}`, then its refs read afresh (and
    /// remembered for the next snapshot). Group permissions are team data,
    /// left to snapshots and [`CodeHost::fetch_team`].
    async fn fetch_repo(&self, full_name: &str) -> Result<Option<RemoteRepo>, ProviderError> {
        let Ok((workspace, slug)) = self.split_full_name(full_name) else {
            return Ok(None);
        };
        if !workspace.eq_ignore_ascii_case(&self.workspace) {
            return Ok(None);
        }
        let url = Self::url(&self.api, &["repositories", workspace, slug], &[]);
        let repo = match self
            .http
            .get_json::<wire::Repo>(&url, CacheMode::Conditional)
            .await
        {
            Ok(repo) => repo,
            Err(ProviderError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        // A repository moved to another workspace may still answer at its
        // old name: it is no longer this sync's.
        let moved = self
            .split_full_name(&repo.full_name)
            .is_ok_and(|(ws, _)| !ws.eq_ignore_ascii_case(&self.workspace));
        if moved {
            return Ok(None);
        }
        let (remote, updated_on) = remote_repo(repo);
        let now = Timestamp::now();
        let remote = self.fetch_refs(remote).await?;
        if let Some(updated_on) = updated_on {
            self.remember_refs(&remote, updated_on, now);
        }
        Ok(Some(remote))
    }

    /// One group, as a snapshot builds it: members from the 1.0 groups
    /// resource, repositories from the group permissions on every
    /// repository that may be a package (refs unchanged since the last run
    /// are reused, so this costs the repository listing and one permission
    /// listing per package).
    async fn fetch_team(&self, team: &str) -> Result<Option<Vec<RemoteTeam>>, ProviderError> {
        let groups = match self.fetch_groups().await {
            Ok(groups) => groups,
            // The 1.0 API refuses credentials 2.0 takes (see `list_groups`):
            // the full run this leads to lists the teams as partial.
            Err(ProviderError::Unauthorized { .. } | ProviderError::Forbidden { .. }) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Some(group) = groups.into_iter().find(|g| g.slug == team) else {
            return Ok(None);
        };
        let quiet: ProgressFn = Arc::new(|_| {});
        let repos = self.fetch_repos(&quiet).await?;
        Ok(Some(teams(Listing::complete(vec![group]), &repos).items))
    }

    async fn ensure_hooks(
        &self,
        spec: &HookSpec,
        repos: &[String],
    ) -> Result<InstalledHooks, ProviderError> {
        ensure_repo_hooks(self, spec, repos, self.concurrency).await
    }

    async fn remove_hooks(&self, installed: &InstalledHooks) -> Result<(), ProviderError> {
        remove_repo_hooks(self, installed, self.concurrency).await
    }
}

/// A repository as packyard names it, refs not read yet, and its
/// `updated_on`.
fn remote_repo(repo: wire::Repo) -> (RemoteRepo, Option<String>) {
    let https_clone = repo.links.clone.iter().find(|c| c.name == "https");
    let remote = RemoteRepo {
        id: RemoteId(repo.uuid),
        clone_url: https_clone.map_or_else(
            || format!("{}.git", repo.links.html.href),
            |c| c.href.clone(),
        ),
        full_name: repo.full_name,
        default_branch: repo.mainbranch.map(|b| b.name).unwrap_or_default(),
        html_url: repo.links.html.href,
        description: repo.description.filter(|d| !d.is_empty()),
        // Bitbucket Cloud has no archived state for repositories.
        archived: false,
        refs: Listing::partial(Vec::new()),
    };
    (remote, repo.updated_on)
}

/// Bitbucket's repository permission names; `none` and unknown names grant
/// nothing.
fn permission(name: &str) -> Option<Permission> {
    match name {
        "admin" => Some(Permission::Admin),
        "write" => Some(Permission::Write),
        "read" => Some(Permission::Read),
        _ => None,
    }
}

/// Accounts keyed by `{uuid}`, shown by nickname. Bitbucket publishes no
/// emails of other users.
fn accounts(listing: Listing<wire::Account>) -> Listing<RemoteAccount> {
    let mut items: Vec<RemoteAccount> = listing
        .items
        .into_iter()
        .map(|a| RemoteAccount {
            login: a
                .nickname
                .or(a.display_name)
                .unwrap_or_else(|| a.uuid.clone()),
            id: RemoteId(a.uuid),
            email: None,
        })
        .collect();
    items.sort_by(|a, b| (&a.login, &a.id).cmp(&(&b.login, &b.id)));
    Listing {
        items,
        complete: listing.complete,
    }
}

/// Groups become teams keyed by slug (Bitbucket groups have no other id);
/// their repositories come from the per-repository group permissions, so a
/// team's repository listing is as complete as all of those together.
fn teams(groups: Listing<wire::Group>, repos: &Listing<RepoWithGroups>) -> Listing<RemoteTeam> {
    let permissions_complete = repos.complete
        && repos
            .items
            .iter()
            .all(|(_, p)| p.as_ref().is_none_or(|p| p.complete));
    let mut items: Vec<RemoteTeam> = groups
        .items
        .into_iter()
        .map(|group| {
            let mut repo_permissions: Vec<(RemoteId, Permission)> = repos
                .items
                .iter()
                .filter_map(|(repo, permissions)| {
                    let (_, p) = permissions
                        .as_ref()?
                        .items
                        .iter()
                        .find(|(slug, _)| *slug == group.slug)?;
                    Some((repo.id.clone(), *p))
                })
                .collect();
            repo_permissions.sort();
            RemoteTeam {
                id: RemoteId(group.slug.clone()),
                members: accounts(Listing::complete(group.members)),
                slug: group.slug,
                name: group.name,
                repos: Listing {
                    items: repo_permissions,
                    complete: permissions_complete,
                },
            }
        })
        .collect();
    items.sort_by(|a, b| a.slug.cmp(&b.slug));
    Listing {
        items,
        complete: groups.complete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;
    use crate::providers::MemoryCache;
    use base64::Engine as _;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                "../../../shared/fixtures/bitbucket-cloud/api/",
                $name
            ))
        };
    }

    fn host(api_url: &str, credential: Credential) -> BitbucketCloudHost {
        BitbucketCloudHost::new(
            api_url,
            "acme",
            &credential,
            Arc::new(MemoryCache::default()),
            &ClientSettings {
                max_attempts: 1,
                ..ClientSettings::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn fixtures_decode_when_read_with_wire_dtos() {
        let ws: wire::Workspace = serde_json::from_str(fixture!("get-workspaces-ws.json")).unwrap();
        assert_eq!(
            (ws.slug.as_str(), ws.name.as_deref()),
            ("atlassian", Some("Atlassian"))
        );

        let page: wire::Page<wire::Repo> =
            serde_json::from_str(fixture!("get-repositories-ws.json")).unwrap();
        let repo = &page.values[0];
        assert_eq!(repo.full_name, "atlassian/stash-example-plugin");
        assert_eq!(repo.mainbranch.as_ref().unwrap().name, "master");
        assert_eq!(
            repo.updated_on.as_deref(),
            Some("2018-04-01T16:36:35.970175+00:00")
        );
        assert_eq!(
            repo.links.html.href,
            "https://bitbucket.org/atlassian/stash-example-plugin"
        );
        assert!(repo.links.clone.iter().any(|c| c.name == "https"));
        assert!(page.next.is_some());
        let single: wire::Repo =
            serde_json::from_str(fixture!("get-repositories-ws-slug.json")).unwrap();
        assert_eq!(single.uuid, "{3deb8c29-778a-450c-8f69-3e50a18079df}");

        for refs in [
            fixture!("get-repositories-ws-slug-refs-branches.json"),
            fixture!("get-repositories-ws-slug-refs-tags.json"),
        ] {
            let items: Vec<wire::Ref> = NextUrl.items(refs.as_bytes()).unwrap();
            assert!(items.iter().all(|r| r.target.hash.len() == 40), "{items:?}");
        }
        let branches: Vec<wire::Ref> = NextUrl
            .items(fixture!("get-repositories-ws-slug-refs-branches.json").as_bytes())
            .unwrap();
        assert_eq!(branches[0].name, "feature/BB-1");

        // The fixture of the per-repository form of the workspace permission
        // listing carries the same `user` object as workspace memberships.
        let permissions: wire::Page<serde_json::Value> =
            serde_json::from_str(fixture!("get-workspaces-ws-permissions-repositories.json"))
                .unwrap();
        let user: wire::Account =
            serde_json::from_value(permissions.values[0]["user"].clone()).unwrap();
        assert_eq!(user.nickname.as_deref(), Some("johndoe"));
        let member: wire::Membership = serde_json::from_value(serde_json::json!({
            "permission": "owner",
            "type": "workspace_membership",
            "user": permissions.values[0]["user"],
        }))
        .unwrap();
        assert_eq!(
            accounts(Listing::complete(vec![member.user])).items[0].login,
            "johndoe"
        );

        let Manifest::Found(composer) = manifest::parse(
            fixture!("get-repositories-ws-slug-src-commit-composer.json").as_bytes(),
        ) else {
            panic!("the raw composer.json fixture is a package")
        };
        assert_eq!(composer["name"], "user/repo");
    }

    #[test]
    fn next_page_is_read_from_body_when_present() {
        let current =
            Url::parse("https://api.bitbucket.org/2.0/repositories/PROJ?pagelen=1").unwrap();
        let body = fixture!("get-repositories-ws.json").as_bytes();
        assert_eq!(
            NextUrl
                .next(&current, &HeaderMap::new(), body)
                .map(String::from)
                .as_deref(),
            Some(
                "https://api.bitbucket.org/2.0/repositories?pagelen=1&after=PLACEHOLDER&role=member"
            )
        );
        let last = fixture!("get-repositories-ws-slug-refs-tags.json").as_bytes();
        assert_eq!(NextUrl.next(&current, &HeaderMap::new(), last), None);
    }

    #[test]
    fn permission_maps_bitbucket_names_when_listed() {
        let table = [
            ("read", Some(Permission::Read)),
            ("write", Some(Permission::Write)),
            ("admin", Some(Permission::Admin)),
            ("none", None),
            ("owner", None),
            ("", None),
        ];
        for (name, expected) in table {
            assert_eq!(permission(name), expected, "{name}");
        }
    }

    #[test]
    fn manifest_is_invalid_when_unusable() {
        for bytes in [
            &b"{ not json"[..],
            br#"["a"]"#,
            br#"{"description":"x"}"#,
            br#"{"name":"No Vendor"}"#,
            &[0xff, 0xfe],
        ] {
            assert!(
                matches!(manifest::parse(bytes), Manifest::Invalid(_)),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn urls_are_built_when_api_is_bitbucket_org_or_elsewhere() {
        let cloud = host(
            "https://api.bitbucket.org/2.0/",
            Credential::Token(Secret::new("t")),
        );
        assert_eq!(
            cloud.groups_url().as_str(),
            "https://api.bitbucket.org/1.0/groups/acme"
        );
        assert_eq!(
            cloud
                .list_url(
                    &["workspaces", "acme", "permissions"],
                    &[("q", "permission=\"owner\"")]
                )
                .as_str(),
            "https://api.bitbucket.org/2.0/workspaces/acme/permissions?q=permission%3D%22owner%22&pagelen=100"
        );
        assert_eq!(cloud.web.as_str(), "https://bitbucket.org/");
        let proxied = host(
            "http://127.0.0.1:8080/2.0",
            Credential::Token(Secret::new("t")),
        );
        assert_eq!(proxied.web.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            proxied.groups_url().as_str(),
            "http://127.0.0.1:8080/1.0/groups/acme"
        );
    }

    /// The `Authorization` value the provider sends for `credential`, if it
    /// takes that kind of credential.
    fn authorization(credential: &Credential) -> Option<String> {
        let api = Url::parse(DEFAULT_API_URL).unwrap();
        let headers =
            http::authorization(credential, &api, ProviderKind::BitbucketCloud, "").ok()?;
        Some(
            headers[reqwest::header::AUTHORIZATION]
                .to_str()
                .unwrap()
                .to_owned(),
        )
    }

    #[test]
    fn authorization_is_basic_or_bearer_and_debug_hides_it_when_built() {
        let basic = Credential::Basic {
            username: "dev@acme.test".into(),
            password: Secret::new("ATATT-secret"),
        };
        assert_eq!(
            authorization(&basic).unwrap(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("dev@acme.test:ATATT-secret")
            )
        );
        assert_eq!(
            authorization(&Credential::Token(Secret::new("wat-secret"))).as_deref(),
            Some("Bearer wat-secret")
        );
        let debug = format!("{:?}", host(DEFAULT_API_URL, basic));
        assert!(
            !debug.contains("ATATT-secret") && !debug.contains("QVRBVFQt"),
            "{debug}"
        );
    }

    /// Serves `body` with `status` for every path on 127.0.0.1:0.
    async fn serve(status: u16, body: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = axum::http::StatusCode::from_u16(status).unwrap();
        let app = axum::Router::new().fallback(move || async move { (status, body) });
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/2.0")
    }

    #[tokio::test]
    async fn error_fixtures_map_to_provider_errors_when_served() {
        let not_found = fixture!("errors/404-not-found.json");
        let api = serve(404, not_found).await;
        let bitbucket = host(&api, Credential::Token(Secret::new("t")));
        assert!(matches!(
            bitbucket.verify().await,
            Err(ProviderError::OrgNotFound { ref org, .. }) if org == "acme"
        ));
        let url = Url::parse(&format!("{api}/repositories/dev/null")).unwrap();
        let err = bitbucket
            .http
            .get_json::<wire::Repo>(&url, CacheMode::Bypass)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::NotFound { .. }), "{err:?}");

        let api = serve(
            401,
            r#"{"type":"error","error":{"message":"Token is invalid"}}"#,
        )
        .await;
        let err = host(&api, Credential::Token(Secret::new("t")))
            .verify()
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProviderError::Unauthorized { ref message, .. } if message == "Token is invalid"),
            "{err:?}"
        );
    }
}
