//! Bitbucket Data Center / Server over REST API 1.0.
//!
//! A sync names an instance (`api_url`, its base URL; REST lives under
//! `/rest/api/1.0`) and a set of project keys (`Sync.org`, comma-separated;
//! empty = every project the credentials can see). Credentials are an HTTP
//! access token / personal access token (5.5+, sent as `Bearer`) or a
//! username and password (Basic, older servers).
//!
//! # What a snapshot reads
//! - Projects: `GET /projects` (or `GET /projects/{key}` per configured key:
//!   404 → [`ProviderError::OrgNotFound`]).
//! - Admins: users and groups holding global `ADMIN` or `SYS_ADMIN`
//!   (`GET /admin/permissions/users|groups`) and those groups' members. These
//!   need an admin account; a refusal (401/403) leaves the admins partial.
//! - Per project: `GET /projects/{key}/permissions/users`, `…/groups` and
//!   `…/repos`. Group members come from `GET /admin/groups/more-members
//!   ?context={group}`, once per group per snapshot.
//! - Per repository: `…/branches` (the default branch is the one flagged
//!   `isDefault`), `…/tags` (only when the default branch has a
//!   composer.json), and `…/raw/composer.json?at={commit}` (404 = none).
//!
//! Every listing is paged with `start`/`limit`: items in `values`, the next
//! page's `start` in `nextPageStart` until `isLastPage` ([`StartLimit`]).
//!
//! # Targeted refreshes and webhooks
//! A webhook names one repository: `GET /projects/{key}/repos/{slug}` and
//! its refs as above. A team (`{KEY}-{level}`) is read back from its
//! project alone: `GET /projects/{key}`, its grants and the members of the
//! groups granted that level. packyard's hook lives on each repository
//! (`GET|POST …/repos/{slug}/webhooks`, `PUT|DELETE …/webhooks/{id}`; see
//! `hooks`).
//!
//! # Teams: one per project and permission level
//! Bitbucket grants permissions per project, to users directly and to
//! groups. Each project becomes up to three teams, slug `{KEY}-read`,
//! `{KEY}-write` and `{KEY}-admin`, id `{project id}-{level}`. A team's
//! members are the users granted that level directly plus the members of the
//! groups granted it; its repositories are all the project's repositories at
//! that level:
//!
//! | Bitbucket permission                            | packyard |
//! |-------------------------------------------------|----------|
//! | `PROJECT_READ`                                  | Read     |
//! | `PROJECT_WRITE`                                 | Write    |
//! | `PROJECT_ADMIN` (and `ADMIN`/`SYS_ADMIN`)       | Admin    |
//!
//! Someone granted two levels is in two teams; access is their union.
//! Repository-level permissions (individual collaborators) are not read.
//!
//! # Change detection
//! Bitbucket Server sends no ETags on these resources and has no "last
//! pushed" field, so every run lists every repository's branches (and tags).
//! Manifests are cached by commit in the [`ProviderCache`], so a ref whose
//! commit did not move costs no manifest request: a no-change resync is the
//! listings only.
//!
//! # Archives
//! `GET …/archive?at={commit}&format=zip` streams `git archive` of the
//! commit without a `prefix`: the files sit at the root of the zip, with no
//! top folder (Composer accepts both layouts).
//!
//! # Errors
//! Bitbucket answers 401, not 403, both for bad credentials and for a
//! resource the account may not see. Only the first request of a run (the
//! project listing or lookup) can tell bad credentials apart, so only there
//! is 401 [`ProviderError::Unauthorized`]; later refusals make the listing
//! partial.

pub(crate) mod hooks;

use super::budget::{self, Budget};
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
};
use async_trait::async_trait;
use futures::{StreamExt, stream};
use reqwest::Url;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The REST API's path under the instance's base URL.
const REST_PATH: [&str; 3] = ["rest", "api", "1.0"];

const PAGE_LIMIT: &str = "100";

/// Archives are not API responses: allow well past `max_body_bytes`, but
/// keep a bound so a runaway download cannot exhaust memory.
const ARCHIVE_MAX_BYTES: usize = 512 * 1024 * 1024;

/// Bitbucket Server REST response shapes, only the fields packyard reads.
/// Unknown fields are ignored so API additions do not break decoding.
mod wire {
    use serde::Deserialize;

    /// The envelope of every paged listing.
    #[derive(Debug, Deserialize)]
    pub struct Page<T> {
        pub values: Vec<T>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PageInfo {
        pub is_last_page: bool,
        #[serde(default)]
        pub next_page_start: Option<u64>,
    }

    #[derive(Debug, Clone, Deserialize)]
    pub struct Project {
        pub key: String,
        pub id: u64,
        pub name: String,
    }

    #[derive(Debug, Clone, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct User {
        pub name: String,
        pub id: u64,
        #[serde(default)]
        pub email_address: Option<String>,
        /// Deactivated accounts cannot sign in; they are left out.
        #[serde(default = "active")]
        pub active: bool,
    }

    fn active() -> bool {
        true
    }

    #[derive(Debug, Deserialize)]
    pub struct UserPermission {
        pub user: User,
        pub permission: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct Group {
        pub name: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct GroupPermission {
        pub group: Group,
        pub permission: String,
    }

    #[derive(Debug, Clone, Deserialize)]
    pub struct Repo {
        pub slug: String,
        pub id: u64,
        #[serde(default)]
        pub description: Option<String>,
        pub project: Project,
        #[serde(default)]
        pub links: RepoLinks,
    }

    #[derive(Debug, Clone, Default, Deserialize)]
    pub struct RepoLinks {
        #[serde(default)]
        pub clone: Vec<Link>,
        #[serde(default, rename = "self")]
        pub html: Vec<Link>,
    }

    #[derive(Debug, Clone, Deserialize)]
    pub struct Link {
        pub href: String,
        #[serde(default)]
        pub name: Option<String>,
    }

    /// A branch or a tag. For an annotated tag `latestCommit` is the commit
    /// it points at (`hash` is the tag object).
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Ref {
        pub display_id: String,
        pub latest_commit: String,
        #[serde(default)]
        pub is_default: bool,
    }
}

/// Bitbucket Server's paging: items under `values`, the next page's `start`
/// in `nextPageStart` until `isLastPage`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartLimit;

impl Pagination for StartLimit {
    fn items<T: DeserializeOwned>(&self, body: &[u8]) -> Result<Vec<T>, serde_json::Error> {
        serde_json::from_slice::<wire::Page<T>>(body).map(|page| page.values)
    }

    fn next(&self, current: &Url, _headers: &HeaderMap, body: &[u8]) -> Option<Url> {
        let info: wire::PageInfo = serde_json::from_slice(body).ok()?;
        if info.is_last_page {
            return None;
        }
        // A page that promises more without saying where: asking for the
        // same page again is what `get_all` detects as a broken chain, so
        // the listing ends up partial rather than silently cut short.
        let Some(start) = info.next_page_start else {
            return Some(current.clone());
        };
        let others: Vec<(String, String)> = current
            .query_pairs()
            .filter(|(k, _)| k != "start")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut next = current.clone();
        next.query_pairs_mut()
            .clear()
            .extend_pairs(others)
            .append_pair("start", &start.to_string());
        Some(next)
    }
}

/// The packyard permission of a Bitbucket project permission.
fn permission(name: &str) -> Option<Permission> {
    match name {
        "PROJECT_READ" => Some(Permission::Read),
        "PROJECT_WRITE" => Some(Permission::Write),
        "PROJECT_ADMIN" | "ADMIN" | "SYS_ADMIN" => Some(Permission::Admin),
        _ => None,
    }
}

/// Whether a global permission makes its holder an admin of the instance.
fn is_global_admin(name: &str) -> bool {
    matches!(name, "ADMIN" | "SYS_ADMIN")
}

fn level(permission: Permission) -> &'static str {
    match permission {
        Permission::Read => "read",
        Permission::Write => "write",
        Permission::Admin => "admin",
    }
}

/// What one project grants, as read from the host.
struct ProjectGrants {
    project: wire::Project,
    users: Listing<wire::UserPermission>,
    groups: Listing<wire::GroupPermission>,
    repos: Listing<wire::Repo>,
}

/// A Bitbucket Data Center / Server instance and a set of its projects.
pub struct BitbucketServerHost {
    base: Url,
    /// Selected project keys; empty means every visible project.
    keys: Vec<String>,
    http: HttpClient,
    cache: Arc<dyn ProviderCache>,
    concurrency: usize,
    max_manifest_bytes: usize,
}

impl std::fmt::Debug for BitbucketServerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitbucketServerHost")
            .field("base", &self.base.as_str())
            .field("keys", &self.keys)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl BitbucketServerHost {
    /// `projects` is `Sync.org`: project keys joined by `,`, or empty.
    pub fn new(
        api_url: &str,
        projects: &str,
        credential: &Credential,
        cache: Arc<dyn ProviderCache>,
        settings: &ClientSettings,
    ) -> Result<Self, ProviderError> {
        let base = http::api_base(api_url, "")?;
        let headers = http::authorization(
            credential,
            &base,
            ProviderKind::BitbucketServer,
            "an HTTP access token, or a username and password",
        )?;
        Ok(Self {
            // Rate limiting is an admin-configured token bucket per user (or
            // off): only its 429s and `Retry-After` say anything about it.
            http: HttpClient::new(
                &base,
                headers,
                cache.clone(),
                settings,
                &budget::UNDOCUMENTED,
            )?,
            keys: projects
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            base,
            cache,
            concurrency: settings.concurrency.max(1),
            max_manifest_bytes: settings.max_body_bytes,
        })
    }

    /// `{base}/rest/api/1.0/{segments…}?{query}`, each segment
    /// percent-encoded.
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(REST_PATH).extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    fn list_url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut q = query.to_vec();
        q.push(("limit", PAGE_LIMIT));
        self.url(segments, &q)
    }

    /// The instance as packyard names it: host and context path, and the
    /// selected keys.
    fn org(&self, names: Vec<String>) -> RemoteOrg {
        let instance = format!("{}{}", self.http.host(), self.base.path());
        let instance = instance.trim_end_matches('/');
        let login = if self.keys.is_empty() {
            instance.to_owned()
        } else {
            format!("{instance}/{}", self.keys.join(","))
        };
        RemoteOrg {
            id: RemoteId(login.clone()),
            login,
            name: (!names.is_empty()).then(|| names.join(", ")),
        }
    }

    /// A whole paginated listing. Failures make it partial, never an error.
    async fn list<T: DeserializeOwned>(&self, url: Url) -> Listing<T> {
        let Paged {
            items,
            complete,
            error,
        } = self.http.get_all(url.clone(), &StartLimit).await;
        if let Some(e) = error {
            tracing::warn!(path = url.path(), error = %e, "listing incomplete");
        }
        Listing { items, complete }
    }

    /// The configured projects, or every visible one. This is the run's
    /// first request, where 401 means bad credentials: a failure before any
    /// project was listed fails the run, as `verify` would.
    async fn fetch_projects(&self) -> Result<Listing<wire::Project>, ProviderError> {
        if self.keys.is_empty() {
            let Paged {
                items,
                complete,
                error,
            } = self
                .http
                .get_all(self.list_url(&["projects"], &[]), &StartLimit)
                .await;
            return match error {
                Some(e) if items.is_empty() => Err(e),
                Some(e) => {
                    tracing::warn!(error = %e, "project listing incomplete");
                    Ok(Listing::partial(items))
                }
                None => Ok(Listing { items, complete }),
            };
        }
        let mut projects = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            let url = self.url(&["projects", key], &[]);
            match self.http.get_json(&url, CacheMode::Bypass).await {
                Ok(project) => projects.push(project),
                Err(ProviderError::NotFound { host, .. }) => {
                    return Err(ProviderError::OrgNotFound {
                        host,
                        org: key.clone(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Listing::complete(projects))
    }

    /// Users and groups with a global admin permission, groups expanded.
    async fn fetch_admins(&self) -> Listing<RemoteAccount> {
        let (users, groups) = tokio::join!(
            self.list::<wire::UserPermission>(
                self.list_url(&["admin", "permissions", "users"], &[])
            ),
            self.list::<wire::GroupPermission>(
                self.list_url(&["admin", "permissions", "groups"], &[])
            ),
        );
        let names: BTreeSet<String> = groups
            .items
            .iter()
            .filter(|g| is_global_admin(&g.permission))
            .map(|g| g.group.name.clone())
            .collect();
        let members = self.fetch_group_members(names).await;
        let mut complete = users.complete && groups.complete;
        let mut admins: BTreeMap<u64, wire::User> = BTreeMap::new();
        for grant in users.items {
            if is_global_admin(&grant.permission) {
                admins.insert(grant.user.id, grant.user);
            }
        }
        for listing in members.into_values() {
            complete &= listing.complete;
            admins.extend(listing.items.into_iter().map(|u| (u.id, u)));
        }
        Listing {
            items: admins.into_values().filter_map(account).collect(),
            complete,
        }
    }

    async fn fetch_grants(&self, project: wire::Project) -> ProjectGrants {
        let key = project.key.as_str();
        let (users, groups, repos) = tokio::join!(
            self.list(self.list_url(&["projects", key, "permissions", "users"], &[])),
            self.list(self.list_url(&["projects", key, "permissions", "groups"], &[])),
            self.list(self.list_url(&["projects", key, "repos"], &[])),
        );
        ProjectGrants {
            project,
            users,
            groups,
            repos,
        }
    }

    /// The members of each named group, concurrently.
    async fn fetch_group_members(
        &self,
        names: BTreeSet<String>,
    ) -> BTreeMap<String, Listing<wire::User>> {
        stream::iter(names)
            .map(|name| async move {
                let url = self.list_url(
                    &["admin", "groups", "more-members"],
                    &[("context", name.as_str())],
                );
                let members = self.list(url).await;
                (name, members)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await
    }

    /// `{project key}/{slug}` split in two; anything else names no
    /// repository.
    fn split_full_name<'a>(&self, full_name: &'a str) -> Result<(&'a str, &'a str), ProviderError> {
        match full_name.split_once('/') {
            Some((key, slug)) if !key.is_empty() && !slug.is_empty() && !slug.contains('/') => {
                Ok((key, slug))
            }
            _ => Err(ProviderError::NotFound {
                host: self.http.host().to_owned(),
                path: format!("/projects/{full_name}"),
            }),
        }
    }

    /// Whether the sync covers project `key`: every project when no keys
    /// are selected. Keys are matched without case, as Bitbucket does.
    fn selects(&self, key: &str) -> bool {
        self.keys.is_empty() || self.keys.iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// One listed repository with its refs and the composer.json at each.
    async fn fetch_listed_repo(&self, repo: wire::Repo) -> RemoteRepo {
        let clone_url = repo
            .links
            .clone
            .iter()
            .find(|l| l.name.as_deref() == Some("http"))
            .or_else(|| repo.links.clone.first())
            .map(|l| l.href.clone())
            .unwrap_or_default();
        let mut remote = RemoteRepo {
            id: RemoteId::from(repo.id),
            full_name: format!("{}/{}", repo.project.key, repo.slug),
            default_branch: String::new(),
            clone_url,
            html_url: repo
                .links
                .html
                .first()
                .map(|l| l.href.clone())
                .unwrap_or_default(),
            description: repo.description.filter(|d| !d.is_empty()),
            refs: Listing::partial(Vec::new()),
        };
        let path = ["projects", &repo.project.key, "repos", &repo.slug];
        let branches: Listing<wire::Ref> = self
            .list(self.list_url(&[&path[..], &["branches"]].concat(), &[]))
            .await;
        let Some(default) = branches.items.iter().find(|b| b.is_default) else {
            // An empty repository has no branches and is no package.
            remote.refs.complete = branches.complete;
            return remote;
        };
        remote.default_branch = default.display_id.clone();
        let default_commit = default.latest_commit.clone();
        let Some(manifest) = self
            .fetch_manifest(&remote.id, &path, &default_commit)
            .await
        else {
            return remote;
        };
        if manifest == Manifest::Missing {
            remote.refs = Listing::complete(vec![RemoteRef {
                kind: RefKind::Branch,
                name: remote.default_branch.clone(),
                commit: default_commit,
                manifest,
            }]);
            return remote;
        }
        let tags: Listing<wire::Ref> = self
            .list(self.list_url(&[&path[..], &["tags"]].concat(), &[]))
            .await;
        let branches_complete = branches.complete;
        let refs: Vec<ListedRef> = branches
            .items
            .into_iter()
            .map(|b| (RefKind::Branch, b))
            .chain(tags.items.into_iter().map(|t| (RefKind::Tag, t)))
            .map(|(kind, r)| ListedRef {
                kind,
                commit: r.latest_commit,
                name: r.display_id,
            })
            .collect();
        let (id, path) = (&remote.id, &path);
        remote.refs = manifest::refs_with_manifests(
            refs,
            (default_commit, manifest),
            branches_complete && tags.complete,
            self.concurrency,
            |commit| async move { Ok(self.fetch_manifest(id, path, &commit).await) },
        )
        .await
        // This host's manifest reads never fail the run (an unreadable one is
        // left out), so an error cannot happen here; if it did, the refs would
        // count as not listed.
        .unwrap_or_default();
        remote
    }

    /// composer.json at `commit`, from the cache when already read. `None`
    /// when it could not be read this time.
    async fn fetch_manifest(
        &self,
        repo: &RemoteId,
        repo_path: &[&str],
        commit: &str,
    ) -> Option<Manifest> {
        if let Some(known) = self.cache.manifest(repo, commit) {
            return Some(known);
        }
        let url = self.url(
            &[repo_path, &["raw", "composer.json"]].concat(),
            &[("at", commit)],
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
            Err(e) => {
                tracing::warn!(path = url.path(), commit, error = %e, "composer.json not read");
                return None;
            }
        };
        self.cache.put_manifest(repo, commit, &manifest);
        Some(manifest)
    }
}

/// Runs `fetch` over `items` concurrently, reporting progress under `phase`.
async fn each<T, U, Fut>(
    items: Vec<T>,
    concurrency: usize,
    phase: &'static str,
    progress: &ProgressFn,
    fetch: impl Fn(T) -> Fut,
) -> Vec<U>
where
    Fut: std::future::Future<Output = U>,
{
    let total = items.len() as u64;
    progress(Progress {
        phase,
        done: 0,
        total,
    });
    let mut done = 0;
    stream::iter(items)
        .map(fetch)
        .buffer_unordered(concurrency)
        .inspect(|_| {
            done += 1;
            progress(Progress { phase, done, total });
        })
        .collect()
        .await
}

fn account(user: wire::User) -> Option<RemoteAccount> {
    user.active.then(|| RemoteAccount {
        id: user.id.into(),
        login: user.name,
        email: user.email_address,
    })
}

/// The teams of one project (see the module docs), given the members of
/// every group it grants to.
fn project_teams(
    grants: &ProjectGrants,
    members: &BTreeMap<String, Listing<wire::User>>,
) -> Vec<RemoteTeam> {
    let mut levels: BTreeMap<Permission, (BTreeMap<u64, wire::User>, bool)> = BTreeMap::new();
    let listed = grants.users.complete && grants.groups.complete;
    for grant in &grants.users.items {
        if let Some(p) = permission(&grant.permission) {
            let (users, _) = levels.entry(p).or_insert((BTreeMap::new(), listed));
            users.insert(grant.user.id, grant.user.clone());
        }
    }
    for grant in &grants.groups.items {
        let Some(p) = permission(&grant.permission) else {
            continue;
        };
        let (users, complete) = levels.entry(p).or_insert((BTreeMap::new(), listed));
        match members.get(&grant.group.name) {
            Some(listing) => {
                *complete &= listing.complete;
                users.extend(listing.items.iter().map(|u| (u.id, u.clone())));
            }
            None => *complete = false,
        }
    }
    let project = &grants.project;
    levels
        .into_iter()
        .map(|(p, (users, complete))| RemoteTeam {
            id: RemoteId(format!("{}-{}", project.id, level(p))),
            slug: format!("{}-{}", project.key, level(p)),
            name: format!("{} ({})", project.name, level(p)),
            members: Listing {
                items: users.into_values().filter_map(account).collect(),
                complete,
            },
            repos: Listing {
                items: grants
                    .repos
                    .items
                    .iter()
                    .map(|r| (RemoteId::from(r.id), p))
                    .collect(),
                complete: grants.repos.complete,
            },
        })
        .collect()
}

#[async_trait]
impl CodeHost for BitbucketServerHost {
    async fn verify(&self) -> Result<RemoteOrg, ProviderError> {
        if self.keys.is_empty() {
            let url = self.url(&["projects"], &[("limit", "1")]);
            self.http
                .get(&url, CacheMode::Bypass, self.max_manifest_bytes)
                .await?;
            return Ok(self.org(Vec::new()));
        }
        let projects = self.fetch_projects().await?;
        Ok(self.org(projects.items.into_iter().map(|p| p.name).collect()))
    }

    async fn snapshot(&self, progress: ProgressFn) -> Result<RemoteSnapshot, ProviderError> {
        progress(Progress {
            phase: "organization",
            done: 0,
            total: 2,
        });
        let projects = self.fetch_projects().await?;
        let names = match self.keys.is_empty() {
            true => Vec::new(),
            false => projects.items.iter().map(|p| p.name.clone()).collect(),
        };
        let org = self.org(names);
        let admins = self.fetch_admins().await;
        progress(Progress {
            phase: "organization",
            done: 2,
            total: 2,
        });

        let mut grants = each(projects.items, self.concurrency, "teams", &progress, |p| {
            self.fetch_grants(p)
        })
        .await;
        grants.sort_by_key(|g| g.project.id);
        let groups: BTreeSet<String> = grants
            .iter()
            .flat_map(|g| &g.groups.items)
            .filter(|g| permission(&g.permission).is_some())
            .map(|g| g.group.name.clone())
            .collect();
        let members = self.fetch_group_members(groups).await;
        let teams = Listing {
            items: grants
                .iter()
                .flat_map(|g| project_teams(g, &members))
                .collect(),
            complete: projects.complete
                && grants.iter().all(|g| g.users.complete && g.groups.complete),
        };

        let repos_complete = projects.complete && grants.iter().all(|g| g.repos.complete);
        let all_repos: Vec<wire::Repo> = grants.into_iter().flat_map(|g| g.repos.items).collect();
        let mut repos = each(
            all_repos,
            self.concurrency,
            "repositories",
            &progress,
            |r| self.fetch_listed_repo(r),
        )
        .await;
        repos.sort_by_key(|r| r.id.0.parse::<u64>().unwrap_or(u64::MAX));
        Ok(RemoteSnapshot {
            org,
            admins,
            teams,
            repos: Listing {
                items: repos,
                complete: repos_complete,
            },
        })
    }

    async fn fetch_archive(
        &self,
        repo_full_name: &str,
        commit: &str,
    ) -> Result<bytes::Bytes, ProviderError> {
        let (key, slug) = self.split_full_name(repo_full_name)?;
        let url = self.url(
            &["projects", key, "repos", slug, "archive"],
            &[("at", commit), ("format", "zip")],
        );
        let limit = ARCHIVE_MAX_BYTES.max(self.max_manifest_bytes);
        Ok(self.http.get(&url, CacheMode::Bypass, limit).await?.body)
    }

    fn stats(&self) -> RequestStats {
        self.http.stats()
    }

    fn budget(&self) -> Arc<Budget> {
        self.http.budget()
    }

    /// `GET /projects/{key}/repos/{slug}`, then its refs as a snapshot
    /// reads them (this host has no "not pushed since" shortcut to skip).
    async fn fetch_repo(&self, full_name: &str) -> Result<Option<RemoteRepo>, ProviderError> {
        let Ok((key, slug)) = self.split_full_name(full_name) else {
            return Ok(None);
        };
        if !self.selects(key) {
            return Ok(None);
        }
        let url = self.url(&["projects", key, "repos", slug], &[]);
        match self
            .http
            .get_json::<wire::Repo>(&url, CacheMode::Bypass)
            .await
        {
            Ok(repo) if self.selects(&repo.project.key) => {
                Ok(Some(self.fetch_listed_repo(repo).await))
            }
            // 401 is also how Bitbucket hides what the account may not see:
            // the full run this leads to tells bad credentials apart.
            Ok(_) | Err(ProviderError::NotFound { .. } | ProviderError::Unauthorized { .. }) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One team, `{KEY}-{level}`, as a snapshot builds it from its
    /// project's grants. `None` when the project or the level's grants are
    /// gone (or hidden), or when the grants could not be read completely:
    /// either way a full run sorts it out, and a partial one removes nothing.
    async fn fetch_team(&self, team: &str) -> Result<Option<Vec<RemoteTeam>>, ProviderError> {
        let Some((key, level_name)) = team.rsplit_once('-') else {
            return Ok(None);
        };
        let Some(wanted) = [Permission::Read, Permission::Write, Permission::Admin]
            .into_iter()
            .find(|p| level(*p) == level_name)
        else {
            return Ok(None);
        };
        if !self.selects(key) {
            return Ok(None);
        }
        let url = self.url(&["projects", key], &[]);
        let project = match self.http.get_json(&url, CacheMode::Bypass).await {
            Ok(project) => project,
            // As in `fetch_repo`: 401 may only hide the project.
            Err(ProviderError::NotFound { .. } | ProviderError::Unauthorized { .. }) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let grants = self.fetch_grants(project).await;
        let groups: BTreeSet<String> = grants
            .groups
            .items
            .iter()
            .filter(|g| permission(&g.permission) == Some(wanted))
            .map(|g| g.group.name.clone())
            .collect();
        let members = self.fetch_group_members(groups).await;
        Ok(project_teams(&grants, &members)
            .into_iter()
            .find(|t| t.slug == team)
            .map(|t| vec![t]))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;
    use crate::providers::MemoryCache;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                "../../../shared/fixtures/bitbucket-server/api/",
                $name
            ))
        };
    }

    fn page<T: DeserializeOwned>(body: &str) -> Vec<T> {
        StartLimit.items(body.as_bytes()).unwrap()
    }

    fn host(projects: &str) -> BitbucketServerHost {
        BitbucketServerHost::new(
            "https://bitbucket.example.com/context/",
            projects,
            &Credential::Basic {
                username: "jcitizen".into(),
                password: Secret::new("hunter2-secret"),
            },
            Arc::new(MemoryCache::default()),
            &ClientSettings::default(),
        )
        .unwrap()
    }

    #[test]
    fn fixtures_decode_when_read_with_wire_dtos() {
        let projects: Vec<wire::Project> = page(fixture!("get-projects.json"));
        assert_eq!((projects[0].key.as_str(), projects[0].id), ("PRJ", 1));
        let project: wire::Project =
            serde_json::from_str(fixture!("get-projects-key.json")).unwrap();
        assert_eq!(project.name, "Project 1");
        let users: Vec<wire::UserPermission> =
            page(fixture!("get-projects-key-permissions-users.json"));
        assert_eq!(
            users[1].user.email_address.as_deref(),
            Some("bob@example.com")
        );
        let groups: Vec<wire::GroupPermission> =
            page(fixture!("get-projects-key-permissions-groups.json"));
        assert_eq!(groups[1].group.name, "jx-group-2");
        let members: Vec<wire::User> = page(fixture!("get-admin-groups-more-members.json"));
        assert_eq!(members.len(), 2);
        let repos: Vec<wire::Repo> = page(fixture!("get-projects-key-repos.json"));
        assert_eq!(repos.len(), 3);
        let repo: wire::Repo =
            serde_json::from_str(fixture!("get-projects-key-repos-slug.json")).unwrap();
        assert_eq!(repo.project.key, "AMUNIZ");
        assert_eq!(
            repo.links.html[0].href,
            "http://localhost:7990/projects/AMUNIZ/repos/test-repos/browse"
        );
        let branches: Vec<wire::Ref> = page(fixture!("get-projects-key-repos-slug-branches.json"));
        let default = branches.iter().find(|b| b.is_default).unwrap();
        assert_eq!(default.display_id, "main");
        let tags: Vec<wire::Ref> = page(fixture!("get-projects-key-repos-slug-tags.json"));
        assert_eq!(
            tags[1].latest_commit,
            "fb522a6f08c7c7df337312e4e65ec1b57710672e"
        );
        // Repository-level grants decode too, though packyard does not use them.
        let _: Vec<wire::UserPermission> = page(fixture!(
            "get-projects-key-repos-slug-permissions-users.json"
        ));
        let _: Vec<wire::GroupPermission> = page(fixture!(
            "get-projects-key-repos-slug-permissions-groups.json"
        ));
        let _: Vec<wire::User> = page(fixture!("get-users.json"));
    }

    #[test]
    fn permission_maps_project_levels_when_listed() {
        let table = [
            ("PROJECT_READ", Some(Permission::Read)),
            ("PROJECT_WRITE", Some(Permission::Write)),
            ("PROJECT_ADMIN", Some(Permission::Admin)),
            ("ADMIN", Some(Permission::Admin)),
            ("SYS_ADMIN", Some(Permission::Admin)),
            ("REPO_READ", None),
            ("LICENSED_USER", None),
            ("PROJECT_CREATE", None),
        ];
        for (name, expected) in table {
            assert_eq!(permission(name), expected, "{name}");
        }
        assert!(is_global_admin("SYS_ADMIN") && is_global_admin("ADMIN"));
        assert!(!is_global_admin("LICENSED_USER") && !is_global_admin("PROJECT_ADMIN"));
    }

    #[test]
    fn teams_split_by_level_when_fixture_grants_users_and_groups() {
        let grants = ProjectGrants {
            project: serde_json::from_str(fixture!("get-projects-key.json")).unwrap(),
            users: Listing::complete(page(fixture!("get-projects-key-permissions-users.json"))),
            groups: Listing::complete(page(fixture!("get-projects-key-permissions-groups.json"))),
            repos: Listing::complete(page(fixture!("get-projects-key-repos.json"))),
        };
        let members = BTreeMap::from([
            (
                "jx-group-2".to_owned(),
                Listing::complete(page(fixture!("get-admin-groups-more-members.json"))),
            ),
            ("some-group".to_owned(), Listing::partial(Vec::new())),
        ]);
        let teams = project_teams(&grants, &members);
        let summary: Vec<(&str, Vec<&str>, bool)> = teams
            .iter()
            .map(|t| {
                let logins = t.members.items.iter().map(|m| m.login.as_str()).collect();
                (t.slug.as_str(), logins, t.members.complete)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("amuniz-write", vec!["jx-user", "jx-user-2", "bob"], true),
                ("amuniz-admin", vec!["jcitizen"], false),
            ]
        );
        assert_eq!(teams[0].id, RemoteId("1-write".into()));
        assert_eq!(
            teams[1].repos.items,
            [1, 2, 3].map(|id| (RemoteId::from(id), Permission::Admin))
        );
    }

    #[test]
    fn next_page_starts_at_next_page_start_when_not_last() {
        let url = Url::parse("https://b.test/rest/api/1.0/projects?limit=2&start=0").unwrap();
        let body =
            br#"{"size":2,"limit":2,"isLastPage":false,"values":[],"start":0,"nextPageStart":2}"#;
        let next = StartLimit.next(&url, &HeaderMap::new(), body).unwrap();
        assert_eq!(
            next.as_str(),
            "https://b.test/rest/api/1.0/projects?limit=2&start=2"
        );
        let last = fixture!("get-projects.json").as_bytes();
        assert_eq!(StartLimit.next(&url, &HeaderMap::new(), last), None);
        let broken = br#"{"isLastPage":false,"values":[]}"#;
        assert_eq!(StartLimit.next(&url, &HeaderMap::new(), broken), Some(url));
    }

    /// Serves `body` with `status` for every request, as the host would.
    async fn serve(status: u16, body: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = axum::http::StatusCode::from_u16(status).unwrap();
        let app = axum::Router::new().fallback(move || async move {
            (status, [("content-type", "application/json")], body)
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn error_fixture_maps_to_org_not_found_when_project_is_unknown() {
        let url = serve(404, fixture!("errors/404-not-found.json")).await;
        let host = BitbucketServerHost::new(
            &url,
            "dev",
            &Credential::Token(Secret::new("t")),
            Arc::new(MemoryCache::default()),
            &ClientSettings::default(),
        )
        .unwrap();
        let err = host.verify().await.unwrap_err();
        assert!(
            matches!(err, ProviderError::OrgNotFound { ref org, .. } if org == "dev"),
            "{err:?}"
        );
        // Without a key the listing itself is missing: not an organization.
        let host = BitbucketServerHost::new(
            &url,
            "",
            &Credential::Token(Secret::new("t")),
            Arc::new(MemoryCache::default()),
            &ClientSettings::default(),
        )
        .unwrap();
        assert!(matches!(
            host.verify().await,
            Err(ProviderError::NotFound { .. })
        ));
    }

    #[test]
    fn manifest_is_invalid_when_unusable() {
        assert!(matches!(
            manifest::parse(br#"{"name":"acme/log"}"#),
            Manifest::Found(_)
        ));
        for bad in [
            &b"{ not json"[..],
            b"[1]",
            b"{}",
            br#"{"name":"No Vendor"}"#,
            &[0xff, 0xfe],
        ] {
            assert!(
                matches!(manifest::parse(bad), Manifest::Invalid(_)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn urls_and_org_follow_context_path_when_instance_is_not_at_root() {
        let host = host(" PRJ , OPS ");
        assert_eq!(
            host.list_url(&["projects", "PRJ", "repos"], &[]).as_str(),
            "https://bitbucket.example.com/context/rest/api/1.0/projects/PRJ/repos?limit=100"
        );
        assert_eq!(
            host.org(Vec::new()).login,
            "bitbucket.example.com/context/PRJ,OPS"
        );
        assert!(!format!("{host:?}").contains("hunter2"));
    }
}
