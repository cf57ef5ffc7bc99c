//! GitLab.com and GitLab Self-Managed over the REST API v4.
//!
//! Self-Managed differs only by its API base URL (`https://HOST/api/v4`).
//! The sync's organization is a group's full path (`acme`, `acme/backend`).
//!
//! # Teams
//! GitLab has no teams: access comes from group membership, and one group's
//! members hold different access levels. A team is therefore one *group at
//! one level*: "acme/platform (Developer)" holds the members whose level in
//! `acme/platform` is Developer, inherited from a parent group or direct, as
//! `/groups/:id/members/all` reports it (each member once, at their highest
//! level). The top group and each descendant group give one team per level
//! present. Guests (10) and lower are left out: they cannot read private
//! code. A team's repositories are the group's projects and its subgroups'
//! (access is inherited) at the team's level, plus projects shared with the
//! group at the lower of the two levels. Levels map to permissions as
//! Reporter (20) → Read, Developer (30) and Maintainer (40) → Write,
//! Owner (50) → Admin. Individual project members are not synchronized.
//! The top group's Owners and Maintainers are the organization's admins.
//!
//! # Requests
//! - `GET /groups/:path` (verify), then by numeric id:
//!   `/groups/:id/descendant_groups` and `/groups/:id/members/all` per group
//!   (offset pagination), `/groups/:id/projects?include_subgroups=true`
//!   once, with keyset pagination (both styles announce the next page in
//!   `Link`, so a host that ignores `pagination=keyset` still pages fully);
//!   projects shared with each group come from `shared_with_groups` there.
//! - Per project: `/repository/branches`, `/repository/tags`, and
//!   `/repository/files/composer.json?ref=SHA` per new commit (manifests are
//!   cached by commit), `/repository/archive.zip?sha=SHA` for dists.
//! - Targeted refreshes (webhooks): `GET /projects/:path` then its refs as
//!   above, always read afresh; `GET /groups/:id`, then its and its
//!   subgroups' `/members/all` and the top group's projects for one group's
//!   teams.
//! - Webhooks: `/groups/:path/hooks` (list, `POST`, `PUT /:hook_id`,
//!   `DELETE /:hook_id`), or the same under `/projects/:path/hooks` for
//!   each project where the group hook is refused.
//!
//! Listings carry ETags, so a resync with no change is answered by 304s.
//! A project's refs are reused while its `last_activity_at` has not moved,
//! with one GitLab quirk: it moves at most once an hour, so refs read within
//! an hour of the last activity are read again on the next run.

pub(crate) mod hooks;

use super::budget::{Budget, Documented, HostLimits, Refill};
use super::hooks::{HookApi, ListedHook, ensure_org_or_repo_hooks, remove_org_and_repo_hooks};
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
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub const DEFAULT_API_URL: &str = "https://gitlab.com/api/v4";

/// Archives are not API responses: allow well past `max_body_bytes`, but
/// keep a bound so a runaway download cannot exhaust memory.
const ARCHIVE_MAX_BYTES: usize = 512 * 1024 * 1024;

const PER_PAGE: &str = "100";

/// GitLab.com's documented limit for authenticated API traffic: 2,000
/// requests a minute per user. Self-managed instances set their own, which
/// the `RateLimit-*` headers report.
static LIMITS: HostLimits = HostLimits {
    bucket: |_| Some("api"),
    documented: &[Documented {
        bucket: "api",
        limit: 2_000,
        refill: Refill::Window,
    }],
};
/// Refs reused on an unchanged `last_activity_at` are read again after this
/// long anyway: webhooks and this bound catch what does not move it.
const REFS_MAX_AGE_SECS: i64 = 24 * 60 * 60;
/// GitLab updates `last_activity_at` only when it is older than an hour.
const ACTIVITY_THROTTLE_SECS: i64 = 60 * 60;

/// GitLab's access levels.
const REPORTER: u32 = 20;
const MAINTAINER: u32 = 40;

/// GitLab REST response shapes, only the fields packyard reads. Unknown
/// fields are ignored so API additions do not break decoding.
mod wire {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    pub struct Group {
        pub id: u64,
        pub name: String,
        pub full_path: String,
        #[serde(default)]
        pub full_name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Member {
        pub id: u64,
        pub username: String,
        pub access_level: u32,
        /// `active`, `blocked`, `awaiting` (pending invitation) …
        #[serde(default)]
        pub state: Option<String>,
        /// Only shown to some callers (admins, enterprise users' owners).
        #[serde(default)]
        pub email: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Project {
        pub id: u64,
        pub path_with_namespace: String,
        #[serde(default)]
        pub description: Option<String>,
        /// Absent for an empty repository.
        #[serde(default)]
        pub default_branch: Option<String>,
        pub http_url_to_repo: String,
        pub web_url: String,
        /// Moves on pushes (at most once an hour, see the module docs).
        #[serde(default)]
        pub last_activity_at: Option<String>,
        pub namespace: Namespace,
        #[serde(default)]
        pub shared_with_groups: Vec<SharedGroup>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Namespace {
        pub id: u64,
        /// Absent in the older, short namespace shape.
        #[serde(default)]
        pub full_path: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    pub struct SharedGroup {
        pub group_id: u64,
        pub group_access_level: u32,
    }

    /// A branch or a tag: both list as a name and a commit.
    #[derive(Debug, Deserialize)]
    pub struct Ref {
        pub name: String,
        pub commit: Commit,
    }

    #[derive(Debug, Deserialize)]
    pub struct Commit {
        pub id: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct File {
        pub size: u64,
        pub encoding: String,
        pub content: String,
    }

    /// A group or project hook. GitLab never shows a hook's token.
    #[derive(Debug, Deserialize)]
    pub struct Hook {
        pub id: u64,
        pub url: String,
    }
}

/// Whether refs read earlier may stand in for reading them again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refs {
    /// Full runs: reuse refs read since the project's last activity.
    ReuseSettled,
    /// Targeted refreshes: a webhook said something changed, and GitLab's
    /// `last_activity_at` may not show it yet.
    Fresh,
}

/// Where a hook is installed: the group hook subscribes to more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HookLevel {
    Group,
    Project,
}

impl HookLevel {
    /// The API collection the hooks hang off.
    fn collection(self) -> &'static str {
        match self {
            Self::Group => "groups",
            Self::Project => "projects",
        }
    }
}

/// A GitLab group and its subgroups, reached with an access token.
pub struct GitlabHost {
    api: Url,
    group: String,
    http: HttpClient,
    cache: Arc<dyn ProviderCache>,
    concurrency: usize,
    max_manifest_bytes: usize,
}

impl std::fmt::Debug for GitlabHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitlabHost")
            .field("api", &self.api.as_str())
            .field("group", &self.group)
            .field("http", &self.http)
            .finish_non_exhaustive()
    }
}

impl GitlabHost {
    pub fn new(
        api_url: &str,
        group: &str,
        credential: &Credential,
        cache: Arc<dyn ProviderCache>,
        settings: &ClientSettings,
    ) -> Result<Self, ProviderError> {
        let api = http::api_base(api_url, DEFAULT_API_URL)?;
        let expected = "a personal, group or project access token";
        if matches!(credential, Credential::Basic { .. }) {
            return Err(ProviderError::UnsupportedCredential {
                provider: ProviderKind::Gitlab,
                expected,
            });
        }
        // `Authorization: Bearer` rather than GitLab's `PRIVATE-TOKEN`: GitLab
        // accepts both for access tokens, and reqwest drops `Authorization` on
        // a redirect to another host, which it does not do for custom headers.
        let headers = http::authorization(credential, &api, ProviderKind::Gitlab, expected)?;
        Ok(Self {
            http: HttpClient::new(&api, headers, cache.clone(), settings, &LIMITS)?,
            api,
            group: group.trim().trim_matches('/').to_owned(),
            cache,
            concurrency: settings.concurrency.max(1),
            max_manifest_bytes: settings.max_body_bytes,
        })
    }

    /// `{api}/{segments…}?{query}`, each segment percent-encoded (so a
    /// path id like `acme/log` becomes `acme%2Flog`, as GitLab wants).
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

    async fn fetch_group(&self) -> Result<wire::Group, ProviderError> {
        self.find_group(&self.group)
            .await?
            .ok_or_else(|| ProviderError::OrgNotFound {
                host: self.http.host().to_owned(),
                org: self.group.clone(),
            })
    }

    /// The group at `id` (numeric id or full path), `None` when the token
    /// sees none there.
    async fn find_group(&self, id: &str) -> Result<Option<wire::Group>, ProviderError> {
        // `with_projects=false`: the group's projects come paginated later.
        let url = self.url(&["groups", id], &[("with_projects", "false")]);
        found(self.http.get_json(&url, CacheMode::Conditional).await)
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

    /// `group` followed by the groups below it, which inherit its members,
    /// and whether the listing of those was complete.
    async fn fetch_subtree(
        &self,
        group: wire::Group,
    ) -> Result<(Vec<wire::Group>, bool), ProviderError> {
        let id = group.id.to_string();
        let descendants = self
            .list::<wire::Group>(self.list_url(&["groups", &id, "descendant_groups"], &[]))
            .await?;
        let mut groups = vec![group];
        groups.extend(descendants.items);
        Ok((groups, descendants.complete))
    }

    /// Members of each group, inherited ones included, in `groups` order.
    async fn fetch_members(
        &self,
        groups: &[wire::Group],
    ) -> Result<Vec<Listing<wire::Member>>, ProviderError> {
        let ids: Vec<String> = groups.iter().map(|g| g.id.to_string()).collect();
        stream::iter(ids)
            .map(|id| self.list(self.list_url(&["groups", &id, "members", "all"], &[])))
            .buffered(self.concurrency)
            .try_collect()
            .await
    }

    /// The projects of the group and its subgroups, by id. Projects shared
    /// into the hierarchy from elsewhere belong to another group's sync.
    async fn fetch_projects(&self, top_id: &str) -> Result<Listing<wire::Project>, ProviderError> {
        let url = self.list_url(
            &["groups", top_id, "projects"],
            &[
                ("include_subgroups", "true"),
                ("with_shared", "false"),
                ("pagination", "keyset"),
                ("order_by", "id"),
                ("sort", "asc"),
            ],
        );
        let mut projects = self.list::<wire::Project>(url).await?;
        projects.items.sort_by_key(|p| p.id);
        projects.items.dedup_by_key(|p| p.id);
        Ok(projects)
    }

    /// Every project with its refs, concurrently within the client's limit,
    /// in listing order.
    async fn fetch_repos(
        &self,
        projects: Listing<wire::Project>,
        progress: &ProgressFn,
    ) -> Result<Listing<RemoteRepo>, ProviderError> {
        let phase = "repositories";
        let total = projects.items.len() as u64;
        let done = AtomicU64::new(0);
        progress(Progress {
            phase,
            done: 0,
            total,
        });
        let items = stream::iter(projects.items)
            .map(|project| {
                let done = &done;
                async move {
                    let repo = self.fetch_repo_of(project, Refs::ReuseSettled).await;
                    let done = done.fetch_add(1, Ordering::Relaxed) + 1;
                    progress(Progress { phase, done, total });
                    repo
                }
            })
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        Ok(Listing {
            items,
            complete: projects.complete,
        })
    }

    /// One project with its refs. With [`Refs::ReuseSettled`], refs read
    /// completely since the project's last activity are reused without a
    /// request (see the module docs). Refs read completely are cached
    /// either way.
    async fn fetch_repo_of(
        &self,
        project: wire::Project,
        refs: Refs,
    ) -> Result<RemoteRepo, ProviderError> {
        let remote = RemoteRepo {
            id: RemoteId::from(project.id),
            full_name: project.path_with_namespace,
            default_branch: project.default_branch.unwrap_or_default(),
            clone_url: project.http_url_to_repo,
            html_url: project.web_url,
            description: project.description.filter(|d| !d.is_empty()),
            refs: Listing::partial(Vec::new()),
        };
        let Some(activity) = project.last_activity_at else {
            return self.fetch_refs(remote).await;
        };
        let now = Timestamp::now();
        if refs == Refs::ReuseSettled
            && let Some(known) = self
                .cache
                .refs(&remote.id)
                .filter(|known| refs_reusable(known, &activity, &remote.default_branch, now))
        {
            return Ok(RemoteRepo {
                refs: Listing::complete(known.refs),
                ..remote
            });
        }
        let remote = self.fetch_refs(remote).await?;
        if remote.refs.complete {
            let known = RepoRefs {
                pushed_at: activity,
                checked_at: now,
                default_branch: remote.default_branch.clone(),
                refs: remote.refs.items.clone(),
            };
            self.cache.put_refs(&remote.id, &known);
        }
        Ok(remote)
    }

    /// Reads a project's refs and the composer.json at each. The default
    /// branch's manifest decides whether tags and other refs are worth
    /// reading at all.
    async fn fetch_refs(&self, mut remote: RemoteRepo) -> Result<RemoteRepo, ProviderError> {
        let id = remote.id.clone();
        let branches = self
            .list::<wire::Ref>(self.list_url(&["projects", &id.0, "repository", "branches"], &[]))
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
        let default_commit = default.commit.id.clone();
        let Some(manifest) = self.fetch_manifest(&id, &default_commit).await? else {
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
            .list::<wire::Ref>(self.list_url(&["projects", &id.0, "repository", "tags"], &[]))
            .await?;
        let branches_complete = branches.complete;
        let refs: Vec<ListedRef> = branches
            .items
            .into_iter()
            .map(|b| (RefKind::Branch, b))
            .chain(tags.items.into_iter().map(|t| (RefKind::Tag, t)))
            .map(|(kind, r)| ListedRef {
                kind,
                commit: r.commit.id,
                name: r.name,
            })
            .collect();
        let id = &id;
        remote.refs = manifest::refs_with_manifests(
            refs,
            (default_commit, manifest),
            branches_complete && tags.complete,
            self.concurrency,
            |commit| async move { self.fetch_manifest(id, &commit).await },
        )
        .await?;
        Ok(remote)
    }

    /// composer.json at `commit`, from the cache when already read. `None`
    /// when it could not be read this time (a transient failure).
    async fn fetch_manifest(
        &self,
        project: &RemoteId,
        commit: &str,
    ) -> Result<Option<Manifest>, ProviderError> {
        if let Some(known) = self.cache.manifest(project, commit) {
            return Ok(Some(known));
        }
        let url = self.url(
            &[
                "projects",
                &project.0,
                "repository",
                "files",
                "composer.json",
            ],
            &[("ref", commit)],
        );
        let manifest = match self
            .http
            .get(&url, CacheMode::Bypass, self.max_manifest_bytes)
            .await
        {
            Ok(response) => match serde_json::from_slice::<wire::File>(&response.body) {
                Ok(file) => decode_manifest(&file, self.max_manifest_bytes),
                Err(e) => Manifest::Invalid(format!("composer.json could not be read: {e}")),
            },
            // `404 File Not Found`: the commit has no composer.json.
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
        self.cache.put_manifest(project, commit, &manifest);
        Ok(Some(manifest))
    }

    /// Whether `full_path` is the sync's group or lies below it. GitLab
    /// paths are ASCII and matched without regard to case, as GitLab does.
    fn covers(&self, full_path: &str) -> bool {
        let group = self.group.as_str();
        full_path.get(..group.len()).is_some_and(|head| {
            head.eq_ignore_ascii_case(group)
                && matches!(full_path.as_bytes().get(group.len()), None | Some(b'/'))
        })
    }

    /// `/groups/:path/hooks[/:id]` or `/projects/:path/hooks[/:id]`.
    fn hooks_url(&self, level: HookLevel, path: &str, id: Option<&str>) -> Url {
        let mut segments = vec![level.collection(), path, "hooks"];
        segments.extend(id);
        match id {
            Some(_) => self.url(&segments, &[]),
            None => self.list_url(&segments, &[]),
        }
    }

    fn hooks(&self, level: HookLevel) -> Hooks<'_> {
        Hooks { host: self, level }
    }
}

/// `None` for a 404: what was looked up is not there (or not visible).
fn found<T>(result: Result<T, ProviderError>) -> Result<Option<T>, ProviderError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ProviderError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The settings of packyard's hook: the events [`hooks::targets`] acts on.
/// Member, subgroup and project events exist on group hooks only (GitLab
/// versions without project events ignore the setting).
fn hook_settings(spec: &HookSpec, level: HookLevel) -> serde_json::Value {
    let mut settings = json!({
        "url": spec.url,
        "token": spec.secret.expose(),
        "push_events": true,
        "tag_push_events": true,
        "releases_events": true,
        "enable_ssl_verification": true,
    });
    if level == HookLevel::Group {
        for events in ["member_events", "subgroup_events", "project_events"] {
            settings[events] = json!(true);
        }
    }
    settings
}

/// GitLab's hook API at one level.
struct Hooks<'a> {
    host: &'a GitlabHost,
    level: HookLevel,
}

impl HookApi for Hooks<'_> {
    type Hook = wire::Hook;
    type Pages = LinkHeader;

    fn http(&self) -> &HttpClient {
        &self.host.http
    }

    fn hooks_url(&self, path: &str) -> Result<Url, ProviderError> {
        Ok(self.host.hooks_url(self.level, path, None))
    }

    fn hook_url(&self, path: &str, id: Option<&str>) -> Result<Url, ProviderError> {
        Ok(self.host.hooks_url(self.level, path, id))
    }

    fn hook_body(&self, spec: &HookSpec) -> serde_json::Value {
        hook_settings(spec, self.level)
    }

    fn listed(hook: wire::Hook) -> ListedHook {
        ListedHook {
            id: hook.id.to_string(),
            url: hook.url,
        }
    }
}

#[async_trait]
impl CodeHost for GitlabHost {
    async fn verify(&self) -> Result<RemoteOrg, ProviderError> {
        Ok(remote_org(&self.fetch_group().await?))
    }

    async fn snapshot(&self, progress: ProgressFn) -> Result<RemoteSnapshot, ProviderError> {
        progress(Progress {
            phase: "organization",
            done: 0,
            total: 2,
        });
        let top = self.fetch_group().await?;
        let org = remote_org(&top);
        let id = top.id.to_string();
        let (groups, descendants_complete) = self.fetch_subtree(top).await?;
        progress(Progress {
            phase: "organization",
            done: 2,
            total: 2,
        });
        let total = groups.len() as u64;
        progress(Progress {
            phase: "teams",
            done: 0,
            total,
        });
        let members = self.fetch_members(&groups).await?;
        progress(Progress {
            phase: "teams",
            done: total,
            total,
        });
        let admins = members.first().map(admins).unwrap_or_default();
        let projects = self.fetch_projects(&id).await?;
        let teams = Listing {
            items: subtree_teams(&groups, &members, &projects),
            complete: descendants_complete && members.iter().all(|m| m.complete),
        };
        let repos = self.fetch_repos(projects, &progress).await?;
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
        let url = self.url(
            &["projects", repo_full_name, "repository", "archive.zip"],
            &[("sha", commit)],
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

    async fn fetch_repo(&self, full_name: &str) -> Result<Option<RemoteRepo>, ProviderError> {
        if !self.covers(full_name) {
            return Ok(None);
        }
        let url = self.url(&["projects", full_name], &[]);
        let Some(project) = found(
            self.http
                .get_json::<wire::Project>(&url, CacheMode::Conditional)
                .await,
        )?
        else {
            return Ok(None);
        };
        // GitLab answers a moved project's old path with the project where
        // it is now, which may be outside the group.
        if !self.covers(&project.path_with_namespace) {
            return Ok(None);
        }
        self.fetch_repo_of(project, Refs::Fresh).await.map(Some)
    }

    /// `team` is a group's numeric id (what member events carry) or full
    /// path. Its subgroups inherit its members (`/members/all`), so their
    /// teams change with it and come back too, built as a snapshot builds
    /// them, against the projects of the whole synchronized group.
    async fn fetch_team(&self, team: &str) -> Result<Option<Vec<RemoteTeam>>, ProviderError> {
        let Some(group) = self.find_group(team).await? else {
            return Ok(None);
        };
        if !self.covers(&group.full_path) {
            return Ok(None);
        }
        let top = self.fetch_group().await?;
        let (groups, _) = self.fetch_subtree(group).await?;
        let members = self.fetch_members(&groups).await?;
        let projects = self.fetch_projects(&top.id.to_string()).await?;
        Ok(Some(subtree_teams(&groups, &members, &projects)))
    }

    /// A group hook where the group allows one; it is a Premium feature
    /// (404 on other tiers) and needs the Owner role (403 otherwise). Then
    /// a hook on each project instead, which Maintainers may add on every
    /// tier.
    async fn ensure_hooks(
        &self,
        spec: &HookSpec,
        repos: &[String],
    ) -> Result<InstalledHooks, ProviderError> {
        let (group, project) = (self.hooks(HookLevel::Group), self.hooks(HookLevel::Project));
        ensure_org_or_repo_hooks(&group, &self.group, &project, spec, repos, self.concurrency).await
    }

    async fn remove_hooks(&self, installed: &InstalledHooks) -> Result<(), ProviderError> {
        let (group, project) = (self.hooks(HookLevel::Group), self.hooks(HookLevel::Project));
        remove_org_and_repo_hooks(&group, &self.group, &project, installed, self.concurrency).await
    }
}

fn remote_org(group: &wire::Group) -> RemoteOrg {
    RemoteOrg {
        id: group.id.into(),
        login: group.full_path.clone(),
        name: Some(group.name.clone()),
    }
}

fn account(m: &wire::Member) -> RemoteAccount {
    RemoteAccount {
        id: m.id.into(),
        login: m.username.clone(),
        email: m.email.clone(),
    }
}

/// Whether a membership grants anything: pending invitations and blocked
/// users do not.
fn active(m: &wire::Member) -> bool {
    m.state.as_deref().is_none_or(|s| s == "active")
}

/// The top group's Owners and Maintainers, by id.
fn admins(members: &Listing<wire::Member>) -> Listing<RemoteAccount> {
    let mut items: Vec<(u64, RemoteAccount)> = members
        .items
        .iter()
        .filter(|m| active(m) && m.access_level >= MAINTAINER)
        .map(|m| (m.id, account(m)))
        .collect();
    items.sort_by_key(|(id, _)| *id);
    Listing {
        items: items.into_iter().map(|(_, a)| a).collect(),
        complete: members.complete,
    }
}

/// What a member at `level` may do with a project.
fn permission(level: u32) -> Option<Permission> {
    match level {
        50.. => Some(Permission::Admin),
        30..50 => Some(Permission::Write),
        REPORTER..30 => Some(Permission::Read),
        _ => None,
    }
}

fn role_name(level: u32) -> String {
    match level {
        20 => "Reporter".to_owned(),
        30 => "Developer".to_owned(),
        40 => "Maintainer".to_owned(),
        50 => "Owner".to_owned(),
        other => format!("level {other}"),
    }
}

/// The level a member at `level` in `group` holds on `project`: all of it
/// in the group's own hierarchy, capped by the share for a shared project.
fn project_level(group: &wire::Group, project: &wire::Project, level: u32) -> Option<u32> {
    let namespace = project.namespace.full_path.as_deref();
    let own = project.namespace.id == group.id
        || namespace.is_some_and(|ns| {
            ns.strip_prefix(group.full_path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
    if own {
        return Some(level);
    }
    project
        .shared_with_groups
        .iter()
        .filter(|s| s.group_id == group.id)
        .map(|s| s.group_access_level.min(level))
        .max()
}

/// The teams of each of `groups`, whose members `fetch_members` listed.
fn subtree_teams(
    groups: &[wire::Group],
    members: &[Listing<wire::Member>],
    projects: &Listing<wire::Project>,
) -> Vec<RemoteTeam> {
    groups
        .iter()
        .zip(members)
        .flat_map(|(group, members)| group_teams(group, members, projects))
        .collect()
}

/// One team per access level present among the group's active members.
fn group_teams(
    group: &wire::Group,
    members: &Listing<wire::Member>,
    projects: &Listing<wire::Project>,
) -> Vec<RemoteTeam> {
    let mut levels: BTreeMap<u32, Vec<&wire::Member>> = BTreeMap::new();
    for m in members.items.iter().filter(|m| active(m)) {
        if permission(m.access_level).is_some() {
            levels.entry(m.access_level).or_default().push(m);
        }
    }
    let title = group.full_name.as_deref().unwrap_or(&group.name);
    levels
        .into_iter()
        .map(|(level, mut accounts)| {
            accounts.sort_by_key(|m| m.id);
            let role = role_name(level);
            let repos = projects
                .items
                .iter()
                .filter_map(|p| {
                    let perm = permission(project_level(group, p, level)?)?;
                    Some((RemoteId::from(p.id), perm))
                })
                .collect();
            RemoteTeam {
                id: RemoteId(format!("{}:{level}", group.id)),
                slug: format!(
                    "{}:{}",
                    group.full_path,
                    role.to_lowercase().replace(' ', "-")
                ),
                name: format!("{title} ({role})"),
                members: Listing {
                    items: accounts.into_iter().map(account).collect(),
                    complete: members.complete,
                },
                repos: Listing {
                    items: repos,
                    complete: projects.complete,
                },
            }
        })
        .collect()
}

/// Whether refs read earlier still stand: same activity marker and default
/// branch, read within [`REFS_MAX_AGE_SECS`], and read at least
/// [`ACTIVITY_THROTTLE_SECS`] after that activity, so that any later push
/// would have moved the marker.
fn refs_reusable(known: &RepoRefs, activity: &str, default_branch: &str, now: Timestamp) -> bool {
    let settled =
        time::OffsetDateTime::parse(activity, &time::format_description::well_known::Rfc3339)
            .is_ok_and(|at| known.checked_at.0 - at.unix_timestamp() >= ACTIVITY_THROTTLE_SECS);
    known.pushed_at == activity
        && known.default_branch == default_branch
        && (0..REFS_MAX_AGE_SECS).contains(&(now.0 - known.checked_at.0))
        && settled
}

/// Turns a files API answer into a manifest. Every reason a file cannot be
/// used becomes `Invalid` with a message for admins.
fn decode_manifest(file: &wire::File, max_bytes: usize) -> Manifest {
    if file.encoding != "base64" {
        return Manifest::Invalid(format!(
            "composer.json came in an unknown encoding {:?}",
            file.encoding
        ));
    }
    manifest::decode_base64(&file.content, file.size, max_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Secret;
    use crate::providers::MemoryCache;
    use base64::Engine as _;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../shared/fixtures/gitlab/api/", $name))
        };
    }

    fn group(id: u64, full_path: &str) -> wire::Group {
        wire::Group {
            id,
            name: full_path.rsplit('/').next().unwrap_or(full_path).to_owned(),
            full_path: full_path.to_owned(),
            full_name: None,
        }
    }

    fn project(namespace: (u64, &str), shares: &[(u64, u32)]) -> wire::Project {
        wire::Project {
            id: 7,
            path_with_namespace: format!("{}/p", namespace.1),
            description: None,
            default_branch: Some("main".into()),
            http_url_to_repo: String::new(),
            web_url: String::new(),
            last_activity_at: None,
            namespace: wire::Namespace {
                id: namespace.0,
                full_path: Some(namespace.1.to_owned()),
            },
            shared_with_groups: shares
                .iter()
                .map(|&(group_id, group_access_level)| wire::SharedGroup {
                    group_id,
                    group_access_level,
                })
                .collect(),
        }
    }

    fn member(id: u64, level: u32, state: &str) -> wire::Member {
        wire::Member {
            id,
            username: format!("user{id}"),
            access_level: level,
            state: Some(state.to_owned()),
            email: None,
        }
    }

    fn file(json: &str) -> wire::File {
        wire::File {
            size: json.len() as u64,
            encoding: "base64".into(),
            content: base64::engine::general_purpose::STANDARD.encode(json),
        }
    }

    #[test]
    fn fixtures_decode_when_read_with_wire_dtos() {
        let g: wire::Group = serde_json::from_str(fixture!("get-groups-id.json")).unwrap();
        assert_eq!((g.id, g.full_path.as_str()), (4, "twitter"));
        assert_eq!(remote_org(&g).login, "twitter");
        let with_projects: serde_json::Value =
            serde_json::from_str(fixture!("get-groups-id.json")).unwrap();
        let embedded: Vec<wire::Project> =
            serde_json::from_value(with_projects["projects"].clone()).unwrap();
        assert_eq!(embedded[0].namespace.full_path, None, "short namespace");
        let subgroups: Vec<wire::Group> =
            serde_json::from_str(fixture!("get-groups-id-subgroups.json")).unwrap();
        assert_eq!(subgroups[0].full_name.as_deref(), Some("Twitter"));
        for members in [
            fixture!("get-groups-id-members-all.json"),
            fixture!("get-projects-id-members-all.json"),
        ] {
            let m: Vec<wire::Member> = serde_json::from_str(members).unwrap();
            assert_eq!(m[0].access_level, 30);
            assert!(active(&m[0]));
        }
        let projects: Vec<wire::Project> =
            serde_json::from_str(fixture!("get-groups-id-projects.json")).unwrap();
        let single: wire::Project = serde_json::from_str(fixture!("get-projects-id.json")).unwrap();
        for p in [&projects[0], &single] {
            assert_eq!(p.path_with_namespace, "diaspora/diaspora");
            assert_eq!(p.namespace.full_path.as_deref(), Some("diaspora"));
            assert_eq!(
                p.last_activity_at.as_deref(),
                Some("2015-03-03T18:37:20.795Z")
            );
            assert!(p.shared_with_groups.is_empty());
        }
        let branches: Vec<wire::Ref> =
            serde_json::from_str(fixture!("get-projects-id-repository-branches.json")).unwrap();
        assert_eq!(
            branches[0].commit.id,
            "7b5c3cc8be40ee161ae89a06bba6229da1032a0c"
        );
        let tags: Vec<wire::Ref> =
            serde_json::from_str(fixture!("get-projects-id-repository-tags.json")).unwrap();
        assert_eq!(tags[0].name, "v1.0.0");
        let f: wire::File =
            serde_json::from_str(fixture!("get-projects-id-repository-files-path.json")).unwrap();
        assert_eq!((f.encoding.as_str(), f.size), ("base64", 1476));
        // That example's content is Ruby, not JSON: never a package.
        assert!(matches!(decode_manifest(&f, 1 << 20), Manifest::Invalid(_)));
        let hook: wire::Hook =
            serde_json::from_str(fixture!("post-projects-id-hooks.json")).unwrap();
        assert_eq!((hook.id, hook.url.as_str()), (1, "http://example.com/hook"));
    }

    fn host_of(group: &str) -> GitlabHost {
        GitlabHost::new(
            "https://gitlab.example.com/api/v4/",
            group,
            &Credential::Token(Secret::new("glpat-secret-value")),
            Arc::new(MemoryCache::default()),
            &ClientSettings::default(),
        )
        .unwrap()
    }

    #[test]
    fn covers_only_the_group_and_below_when_paths_share_a_prefix() {
        let host = host_of("acme/backend");
        for inside in ["acme/backend", "acme/backend/log", "ACME/Backend/deep/x"] {
            assert!(host.covers(inside), "{inside}");
        }
        for outside in ["acme", "acme/backend-tools/x", "acme/other/log", "", "é"] {
            assert!(!host.covers(outside), "{outside}");
        }
    }

    #[test]
    fn hook_settings_subscribe_group_events_only_when_group_hook() {
        let spec = HookSpec {
            url: "https://packyard.example/webhooks/1".into(),
            secret: Secret::new("s3cret"),
        };
        let group = hook_settings(&spec, HookLevel::Group);
        let project = hook_settings(&spec, HookLevel::Project);
        for settings in [&group, &project] {
            assert_eq!(settings["url"], spec.url);
            assert_eq!(settings["token"], "s3cret");
            for events in ["push_events", "tag_push_events", "releases_events"] {
                assert_eq!(settings[events], true, "{events}");
            }
        }
        for events in ["member_events", "subgroup_events", "project_events"] {
            assert_eq!(group[events], true, "{events}");
            assert!(project.get(events).is_none(), "{events}");
        }
        assert_eq!(
            host_of("acme/backend")
                .hooks_url(HookLevel::Project, "acme/backend/log", Some("7"))
                .as_str(),
            "https://gitlab.example.com/api/v4/projects/acme%2Fbackend%2Flog/hooks/7"
        );
    }

    #[test]
    fn permission_follows_access_level_when_mapped() {
        let table = [
            (0, None),
            (5, None),
            (10, None),
            (15, None),
            (20, Some(Permission::Read)),
            (30, Some(Permission::Write)),
            (40, Some(Permission::Write)),
            (50, Some(Permission::Admin)),
        ];
        for (level, expected) in table {
            assert_eq!(permission(level), expected, "level {level}");
        }
        assert_eq!(role_name(40), "Maintainer");
    }

    #[test]
    fn project_level_is_inherited_or_capped_when_own_or_shared() {
        let top = group(1, "acme");
        let sub = group(2, "acme/platform");
        let in_top = project((1, "acme"), &[(2, 20)]);
        let in_sub = project((3, "acme/platform/tools"), &[]);
        let elsewhere = project((9, "acme-other"), &[]);
        assert_eq!(project_level(&top, &in_top, 50), Some(50));
        assert_eq!(
            project_level(&top, &in_sub, 30),
            Some(30),
            "subgroups' projects"
        );
        assert_eq!(
            project_level(&sub, &in_top, 30),
            Some(20),
            "capped by the share"
        );
        assert_eq!(project_level(&sub, &in_top, 10), Some(10));
        assert_eq!(project_level(&sub, &in_sub, 40), Some(40));
        assert_eq!(
            project_level(&top, &elsewhere, 50),
            None,
            "a path prefix only"
        );
    }

    #[test]
    fn teams_split_by_level_when_members_differ() {
        let top = group(1, "acme");
        let members = Listing::complete(vec![
            member(3, 30, "active"),
            member(1, 50, "active"),
            member(2, 30, "active"),
            member(4, 10, "active"),
            member(5, 30, "blocked"),
        ]);
        let projects = Listing::complete(vec![project((1, "acme"), &[])]);
        let teams = group_teams(&top, &members, &projects);
        let summary: Vec<_> = teams
            .iter()
            .map(|t| {
                let logins: Vec<_> = t.members.items.iter().map(|m| m.login.as_str()).collect();
                (t.id.0.as_str(), t.slug.as_str(), logins, t.repos.items[0].1)
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "1:30",
                    "acme:developer",
                    vec!["user2", "user3"],
                    Permission::Write
                ),
                ("1:50", "acme:owner", vec!["user1"], Permission::Admin),
            ]
        );
        let admins = admins(&members);
        assert_eq!(admins.items.len(), 1);
    }

    #[test]
    fn refs_are_reused_only_when_activity_settled_before_they_were_read() {
        let activity = "2024-01-15T09:30:00.000Z";
        let at =
            time::OffsetDateTime::parse(activity, &time::format_description::well_known::Rfc3339)
                .unwrap()
                .unix_timestamp();
        let known = |checked: i64| RepoRefs {
            pushed_at: activity.to_owned(),
            checked_at: Timestamp(checked),
            default_branch: "main".into(),
            refs: Vec::new(),
        };
        let now = Timestamp(at + 2 * 3600);
        assert!(refs_reusable(&known(at + 3600), activity, "main", now));
        assert!(
            !refs_reusable(&known(at + 60), activity, "main", now),
            "within the hour"
        );
        assert!(!refs_reusable(
            &known(at + 3600),
            "2024-01-15T10:00:00Z",
            "main",
            now
        ));
        assert!(!refs_reusable(&known(at + 3600), activity, "master", now));
        let later = Timestamp(at + 3600 + REFS_MAX_AGE_SECS);
        assert!(!refs_reusable(&known(at + 3600), activity, "main", later));
        assert!(!refs_reusable(&known(at + 3600), "yesterday", "main", now));
    }

    #[test]
    fn manifest_is_found_or_invalid_when_decoded() {
        let Manifest::Found(map) = decode_manifest(&file(r#"{"name":"acme/log"}"#), 1 << 20) else {
            panic!("not found");
        };
        assert_eq!(map["name"], "acme/log");
        for bad in [
            "{ not json",
            r#"["a"]"#,
            r#"{"description":"x"}"#,
            r#"{"name":"No Vendor"}"#,
        ] {
            assert!(
                matches!(decode_manifest(&file(bad), 1 << 20), Manifest::Invalid(_)),
                "{bad}"
            );
        }
        let text = wire::File {
            encoding: "text".into(),
            ..file("{}")
        };
        assert!(matches!(
            decode_manifest(&text, 1 << 20),
            Manifest::Invalid(_)
        ));
        let Manifest::Invalid(reason) = decode_manifest(&file(r#"{"name":"a/b"}"#), 4) else {
            panic!("a file above the limit was accepted")
        };
        assert!(reason.contains("larger than 4 bytes"), "{reason}");
    }

    #[test]
    fn url_encodes_paths_when_group_and_project_have_slashes() {
        let host = host_of("acme/backend");
        assert_eq!(
            host.url(&["groups", &host.group], &[("with_projects", "false")])
                .as_str(),
            "https://gitlab.example.com/api/v4/groups/acme%2Fbackend?with_projects=false"
        );
        assert_eq!(
            host.list_url(&["groups", "7", "members", "all"], &[])
                .as_str(),
            "https://gitlab.example.com/api/v4/groups/7/members/all?per_page=100"
        );
        assert!(!format!("{host:?}").contains("glpat-secret-value"));
    }

    #[test]
    fn new_fails_when_credential_is_basic() {
        let err = GitlabHost::new(
            DEFAULT_API_URL,
            "acme",
            &Credential::Basic {
                username: "alice".into(),
                password: Secret::new("pw"),
            },
            Arc::new(MemoryCache::default()),
            &ClientSettings::default(),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            ProviderError::UnsupportedCredential {
                provider: ProviderKind::Gitlab,
                ..
            }
        ));
    }
}
