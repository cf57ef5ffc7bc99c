//! GitHub and GHES through GraphQL where it costs less than REST: a second
//! [`CodeHost`] for GitHub, chosen by [`crate::providers::connect`].
//!
//! What it reads through GraphQL ([`documents`]): the refs of up to 100
//! repositories per query with the composer.json of every ref inline, and
//! the teams with their members and repository permissions, 100 teams per
//! query. A first sync of 1,000 repositories and 100 teams costs about 12
//! points that way, where REST needs several thousand requests.
//!
//! What stays REST ([`GithubHost`]): the organization, its admins and the
//! repository listing. Those are conditional requests, and an unchanged
//! listing answers 304, which costs nothing; a repository whose `pushed_at`
//! did not move keeps its refs from the cache, so a resync with no change
//! costs the two points of the teams query. Archives and webhooks are REST
//! as well.
//!
//! Every query's cost is computed before it is sent ([`cost`]) and must stay
//! under GitHub's node limit. GHES serves GraphQL at `/api/graphql`; where a
//! GHES lacks a field a query needs (or GraphQL altogether), this host says
//! so once in the log and reads that part through REST.

mod cost;
pub mod documents;

pub use cost::{Cost, CostError, estimate};

use super::super::manifest::{self, ListedRef};
use super::{GithubHost, by_id, remote_repo, wire as rest_wire};
use crate::domain::{
    Credential, InstalledHooks, Listing, Manifest, Permission, RefKind, RemoteAccount, RemoteId,
    RemoteOrg, RemoteRef, RemoteRepo, RemoteSnapshot, RemoteTeam, Timestamp,
};
use crate::providers::budget::Budget;
use crate::providers::{
    ClientSettings, CodeHost, HookSpec, Progress, ProgressFn, ProviderCache, ProviderError,
    RequestStats, http,
};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The budget GitHub charges GraphQL points to.
const GRAPHQL_BUCKET: &str = "graphql";

/// A GraphQL answer carries many repositories' composer.json files: allow
/// this many times the single-response limit.
const RESPONSE_LIMIT_FACTOR: usize = 16;

/// GraphQL response shapes, only the fields the documents ask for.
mod wire {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    pub struct Response<T> {
        pub data: Option<Data<T>>,
        #[serde(default)]
        pub errors: Vec<Error>,
    }

    /// Every document also asks for `rateLimit`, to check the estimate.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Data<T> {
        #[serde(flatten)]
        pub fields: T,
        pub rate_limit: Option<RateLimit>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Error {
        pub message: String,
        #[serde(default, rename = "type")]
        pub kind: Option<String>,
        #[serde(default)]
        pub extensions: Option<Extensions>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Extensions {
        #[serde(default)]
        pub code: Option<String>,
        #[serde(default, rename = "typeName")]
        pub type_name: Option<String>,
        #[serde(default, rename = "fieldName")]
        pub field_name: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RateLimit {
        pub cost: u64,
        pub limit: u64,
        pub remaining: u64,
        /// RFC 3339.
        pub reset_at: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PageInfo {
        pub has_next_page: bool,
        pub end_cursor: Option<String>,
    }

    /// A page of a connection, read from `nodes` or `edges`.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Page<T> {
        pub page_info: PageInfo,
        #[serde(default = "Vec::new", alias = "edges")]
        pub nodes: Vec<Option<T>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RepositoryRefs {
        pub nodes: Vec<Option<RepositoryNode>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RepositoryRefsPage {
        pub repository: Option<RepositoryNode>,
    }

    /// A repository as `nodes` gives it; other node types come back empty.
    #[derive(Debug, Deserialize)]
    pub struct RepositoryNode {
        pub refs: Option<Page<Ref>>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Ref {
        /// `heads/main`, `tags/v1.0.0` under the prefix `refs/`.
        pub name: String,
        pub target: Option<Target>,
    }

    /// A ref's target: a commit, or an annotated tag's tag object whose
    /// own target is the commit.
    #[derive(Debug, Deserialize)]
    pub struct Target {
        #[serde(rename = "__typename")]
        pub kind: String,
        pub oid: String,
        #[serde(default)]
        pub file: Option<TreeEntry>,
        #[serde(default)]
        pub target: Option<Box<Target>>,
    }

    #[derive(Debug, Deserialize)]
    pub struct TreeEntry {
        pub object: Option<Object>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Object {
        #[serde(rename = "__typename")]
        pub kind: String,
        #[serde(default)]
        pub text: Option<String>,
        #[serde(default)]
        pub byte_size: Option<u64>,
        #[serde(default)]
        pub is_binary: Option<bool>,
        #[serde(default)]
        pub is_truncated: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Teams {
        pub organization: Option<OrgTeams>,
    }

    #[derive(Debug, Deserialize)]
    pub struct OrgTeams {
        pub teams: Page<Team>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct OneTeam {
        pub organization: Option<OrgTeam<Team>>,
    }

    #[derive(Debug, Deserialize)]
    pub struct OrgTeam<T> {
        pub team: Option<T>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Team {
        pub database_id: u64,
        pub slug: String,
        pub name: String,
        pub members: Page<Member>,
        pub repositories: Page<TeamRepository>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Member {
        pub database_id: u64,
        pub login: String,
    }

    #[derive(Debug, Deserialize)]
    pub struct TeamRepository {
        pub permission: String,
        pub node: RepositoryId,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RepositoryId {
        pub database_id: u64,
    }

    /// `TeamMembers` / `TeamRepositories`: one connection of one team.
    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct TeamPage<T> {
        pub organization: Option<OrgTeam<T>>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Members {
        pub members: Page<Member>,
    }

    #[derive(Debug, Deserialize)]
    pub struct Repositories {
        pub repositories: Page<TeamRepository>,
    }
}

/// Why a query gave no data.
enum QueryError {
    /// This host lacks something the query needs (an older GHES): read
    /// that part through REST instead.
    Unsupported,
    Provider(ProviderError),
}

impl From<ProviderError> for QueryError {
    fn from(e: ProviderError) -> Self {
        Self::Provider(e)
    }
}

/// A repository listed at the host whose refs must be read afresh.
struct Pending {
    remote: RemoteRepo,
    pushed_at: Option<String>,
    node_id: Option<String>,
}

/// A GitHub or GHES organization read through GraphQL where that is cheaper.
pub struct GraphqlHost {
    rest: GithubHost,
    endpoint: Url,
    /// Set once the host turned out to lack a field: REST from then on.
    unsupported: std::sync::OnceLock<String>,
    /// Points the queries sent so far cost, by the formula.
    points: AtomicU64,
}

impl std::fmt::Debug for GraphqlHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphqlHost")
            .field("endpoint", &self.endpoint.as_str())
            .field("rest", &self.rest)
            .finish_non_exhaustive()
    }
}

/// GitHub.com answers GraphQL at `{api}/graphql`; GHES at `/api/graphql`
/// beside its REST base `/api/v3`.
pub fn graphql_endpoint(api: &Url) -> Url {
    let mut url = api.clone();
    let path = api.path().trim_end_matches('/');
    let graphql = match path.strip_suffix("/api/v3") {
        Some(root) => format!("{root}/api/graphql"),
        None => format!("{path}/graphql"),
    };
    url.set_path(&graphql);
    url
}

impl GraphqlHost {
    pub fn new(
        api_url: &str,
        org: &str,
        credential: &Credential,
        cache: Arc<dyn ProviderCache>,
        settings: &ClientSettings,
    ) -> Result<Self, ProviderError> {
        let rest = GithubHost::new(api_url, org, credential, cache, settings)?;
        Ok(Self {
            endpoint: graphql_endpoint(&rest.api),
            rest,
            unsupported: std::sync::OnceLock::new(),
            points: AtomicU64::new(0),
        })
    }

    /// Points spent on GraphQL by this client, by GitHub's formula.
    pub fn points(&self) -> u64 {
        self.points.load(Ordering::Relaxed)
    }

    /// Sends `operation` of `document`. A GraphQL error that leaves no data
    /// becomes an error; `NOT_FOUND` beside data is an absent object.
    async fn query<T: DeserializeOwned>(
        &self,
        document: &str,
        operation: &str,
        variables: Value,
    ) -> Result<T, QueryError> {
        if self.unsupported.get().is_some() {
            return Err(QueryError::Unsupported);
        }
        let host = self.rest.http.host().to_owned();
        let cost = estimate(document, operation, &variables).map_err(|e| ProviderError::Http {
            host: host.clone(),
            path: self.endpoint.path().to_owned(),
            status: 0,
            message: format!("{e} (a packyard bug: please report it)"),
        })?;
        let body = json!({ "query": document, "operationName": operation, "variables": variables });
        let limit = self
            .rest
            .max_manifest_bytes
            .saturating_mul(RESPONSE_LIMIT_FACTOR);
        let response = match self
            .rest
            .http
            .post_query(&self.endpoint, &body, limit)
            .await
        {
            Ok(response) => response,
            Err(ProviderError::NotFound { .. }) => {
                return Err(self.unsupported("the GraphQL API".to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        self.points.fetch_add(cost.points(), Ordering::Relaxed);
        let decoded: wire::Response<T> = self.rest.http.decode(&self.endpoint, &response.body)?;
        let budget = self.rest.http.budget();
        if let Some(error) = decoded
            .errors
            .iter()
            .find(|e| e.kind.as_deref() == Some("RATE_LIMITED"))
        {
            tracing::info!(host, message = %error.message, "GraphQL rate limit spent");
            let wait = http::reset_wait(&response.headers).unwrap_or_default();
            budget.refused(GRAPHQL_BUCKET, wait, std::time::SystemTime::now());
            let headroom = budget
                .headroom()
                .into_iter()
                .find(|h| h.bucket == GRAPHQL_BUCKET);
            return Err(ProviderError::RateLimited {
                host,
                retry_after: wait,
                budget: headroom.map(Box::new),
            }
            .into());
        }
        if let Some(field) = decoded.errors.iter().find_map(undefined_field) {
            return Err(self.unsupported(field));
        }
        let data = decoded.data.ok_or_else(|| {
            let message: Vec<&str> = decoded.errors.iter().map(|e| e.message.as_str()).collect();
            QueryError::Provider(ProviderError::Http {
                host,
                path: self.endpoint.path().to_owned(),
                status: 200,
                message: format!("GraphQL {operation}: {}", message.join("; ")),
            })
        })?;
        if let Some(rate) = &data.rate_limit {
            if rate.cost != cost.points() {
                tracing::warn!(
                    operation,
                    charged = rate.cost,
                    estimated = cost.points(),
                    "GitHub charged a GraphQL query differently from packyard's estimate"
                );
            }
            // The points left: the budget learns them here, as a query's
            // cost is not one request.
            if let Ok(reset) = time::OffsetDateTime::parse(
                &rate.reset_at,
                &time::format_description::well_known::Rfc3339,
            ) {
                let reset = u64::try_from(reset.unix_timestamp()).unwrap_or(0);
                budget.report(
                    GRAPHQL_BUCKET,
                    rate.limit,
                    rate.remaining,
                    reset,
                    &response.headers,
                );
            }
            tracing::debug!(
                operation,
                points = rate.cost,
                nodes = cost.nodes,
                remaining = rate.remaining,
                "GraphQL query"
            );
        }
        Ok(data.fields)
    }

    /// Remembers that the host lacks `what`, warning once.
    fn unsupported(&self, what: String) -> QueryError {
        if self.unsupported.set(what.clone()).is_ok() {
            tracing::warn!(
                host = self.rest.http.host(),
                lacking = %what,
                "this GitHub lacks {what} in its GraphQL API; reading through REST instead, which costs more requests. Upgrading GHES brings the cheaper path back"
            );
        }
        QueryError::Unsupported
    }

    async fn fetch_teams(
        &self,
        progress: &ProgressFn,
    ) -> Result<Listing<RemoteTeam>, ProviderError> {
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        progress(Progress {
            phase: "teams",
            done: 0,
            total: 0,
        });
        loop {
            let vars = json!({ "org": self.rest.org, "after": after });
            let page = match self
                .query::<wire::Teams>(documents::TEAMS, "Teams", vars)
                .await
            {
                Ok(data) => match data.organization {
                    Some(org) => org.teams,
                    None => {
                        return Err(ProviderError::OrgNotFound {
                            host: self.rest.http.host().to_owned(),
                            org: self.rest.org.clone(),
                        });
                    }
                },
                Err(QueryError::Unsupported) => return self.rest.fetch_teams(progress).await,
                Err(QueryError::Provider(e)) if e.stops_run() => return Err(e),
                Err(QueryError::Provider(e)) => {
                    tracing::warn!(error = %e, "team listing incomplete");
                    return Ok(sorted_teams(items, false));
                }
            };
            let teams = page.nodes.into_iter().flatten();
            let teams: Vec<RemoteTeam> = stream::iter(teams)
                .map(|team| self.complete_team(team))
                .buffer_unordered(self.rest.concurrency)
                .try_collect()
                .await?;
            items.extend(teams);
            let done = items.len() as u64;
            progress(Progress {
                phase: "teams",
                done,
                total: done,
            });
            match page.page_info {
                wire::PageInfo {
                    has_next_page: true,
                    end_cursor: Some(cursor),
                } => after = Some(cursor),
                info => return Ok(sorted_teams(items, !info.has_next_page)),
            }
        }
    }

    /// A team with every page of its members and repositories.
    async fn complete_team(&self, team: wire::Team) -> Result<RemoteTeam, ProviderError> {
        let slug = team.slug.clone();
        let (members, repos) = tokio::try_join!(
            self.follow(team.members, |after| {
                let vars = json!({ "org": self.rest.org, "slug": slug, "after": after });
                async move {
                    let data: wire::TeamPage<wire::Members> = self
                        .query(documents::TEAM_MEMBERS, "TeamMembers", vars)
                        .await?;
                    Ok(data.organization.and_then(|o| o.team).map(|t| t.members))
                }
            }),
            self.follow(team.repositories, |after| {
                let vars = json!({ "org": self.rest.org, "slug": slug, "after": after });
                async move {
                    let data: wire::TeamPage<wire::Repositories> = self
                        .query(documents::TEAM_REPOSITORIES, "TeamRepositories", vars)
                        .await?;
                    Ok(data
                        .organization
                        .and_then(|o| o.team)
                        .map(|t| t.repositories))
                }
            }),
        )?;
        let mut accounts: Vec<RemoteAccount> = members
            .items
            .into_iter()
            .map(|m| RemoteAccount {
                id: m.database_id.into(),
                login: m.login,
                email: None,
            })
            .collect();
        accounts.sort_by(|a, b| by_id(&a.id, &b.id));
        let mut permissions: Vec<(RemoteId, Permission)> = repos
            .items
            .into_iter()
            .filter_map(|r| {
                Some((
                    RemoteId::from(r.node.database_id),
                    permission(&r.permission)?,
                ))
            })
            .collect();
        permissions.sort_by(|a, b| by_id(&a.0, &b.0));
        Ok(RemoteTeam {
            id: team.database_id.into(),
            slug: team.slug,
            name: team.name,
            members: Listing {
                items: accounts,
                complete: members.complete,
            },
            repos: Listing {
                items: permissions,
                complete: repos.complete,
            },
        })
    }

    /// The items of `first` and of every page after it, which `next` reads
    /// from a cursor. A page that cannot be read leaves the listing partial;
    /// only bad credentials fail.
    async fn follow<T, F, Fut>(
        &self,
        first: wire::Page<T>,
        next: F,
    ) -> Result<Listing<T>, ProviderError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<Option<wire::Page<T>>, QueryError>>,
    {
        let mut items: Vec<T> = first.nodes.into_iter().flatten().collect();
        let mut info = first.page_info;
        loop {
            let cursor = match info {
                wire::PageInfo {
                    has_next_page: false,
                    ..
                } => return Ok(Listing::complete(items)),
                wire::PageInfo {
                    end_cursor: Some(cursor),
                    ..
                } => cursor,
                wire::PageInfo {
                    end_cursor: None, ..
                } => return Ok(Listing::partial(items)),
            };
            match next(cursor).await {
                Ok(Some(page)) => {
                    items.extend(page.nodes.into_iter().flatten());
                    info = page.page_info;
                }
                Ok(None) | Err(QueryError::Unsupported) => return Ok(Listing::partial(items)),
                Err(QueryError::Provider(e)) if e.stops_run() => return Err(e),
                Err(QueryError::Provider(e)) => {
                    tracing::warn!(error = %e, "GraphQL page not read; listing incomplete");
                    return Ok(Listing::partial(items));
                }
            }
        }
    }

    async fn fetch_repos(
        &self,
        progress: &ProgressFn,
    ) -> Result<Listing<RemoteRepo>, ProviderError> {
        let listing = self
            .rest
            .list::<rest_wire::Repo>(self.rest.org_repos_url())
            .await?;
        let total = listing.items.len() as u64;
        let done = AtomicU64::new(0);
        let report = |n: usize| {
            let done = done.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            progress(Progress {
                phase: "repositories",
                done,
                total,
            });
        };
        report(0);
        let mut items = Vec::with_capacity(listing.items.len());
        let mut pending = Vec::new();
        for repo in listing.items {
            let node_id = repo.node_id.clone();
            let (remote, pushed_at) = remote_repo(repo);
            match self.rest.known_refs(&remote, pushed_at.as_deref()) {
                Some(known) => items.push(known),
                None => pending.push(Pending {
                    remote,
                    pushed_at,
                    node_id,
                }),
            }
        }
        report(items.len());
        let mut batches = Vec::new();
        let mut pending = pending.into_iter().peekable();
        while pending.peek().is_some() {
            batches.push(
                pending
                    .by_ref()
                    .take(documents::REPOSITORIES_PER_QUERY)
                    .collect::<Vec<_>>(),
            );
        }
        let read: Vec<Vec<RemoteRepo>> = stream::iter(batches)
            .map(|batch| async {
                let n = batch.len();
                let repos = self.fetch_refs_batch(batch).await;
                report(n);
                repos
            })
            .buffer_unordered(self.rest.concurrency)
            .try_collect()
            .await?;
        items.extend(read.into_iter().flatten());
        items.sort_by(|a, b| by_id(&a.id, &b.id));
        Ok(Listing {
            items,
            complete: listing.complete,
        })
    }

    /// The refs of up to 100 repositories in one query, and further pages
    /// for those with more than 100 refs.
    async fn fetch_refs_batch(
        &self,
        batch: Vec<Pending>,
    ) -> Result<Vec<RemoteRepo>, ProviderError> {
        let ids: Vec<&str> = batch.iter().filter_map(|p| p.node_id.as_deref()).collect();
        let answer = if ids.len() == batch.len() {
            self.query::<wire::RepositoryRefs>(
                documents::REPOSITORY_REFS,
                "RepositoryRefs",
                json!({ "ids": ids }),
            )
            .await
        } else {
            // A listing without node ids (an old GHES) can only go through REST.
            Err(self.unsupported("node ids in repository listings".to_owned()))
        };
        let nodes = match answer {
            Ok(data) => data.nodes,
            Err(QueryError::Unsupported) => {
                return stream::iter(batch)
                    .map(|p| self.rest.fetch_refs_remembered(p.remote, p.pushed_at))
                    .buffer_unordered(self.rest.concurrency)
                    .try_collect()
                    .await;
            }
            Err(QueryError::Provider(e)) if e.stops_run() => return Err(e),
            Err(QueryError::Provider(e)) => {
                tracing::warn!(error = %e, repositories = batch.len(), "refs not read; those repositories stay as they were");
                return Ok(batch.into_iter().map(|p| p.remote).collect());
            }
        };
        let mut nodes = nodes.into_iter();
        stream::iter(batch)
            .map(|p| {
                let node = nodes.next().flatten();
                self.complete_refs(p, node.and_then(|n| n.refs))
            })
            .buffer_unordered(self.rest.concurrency)
            .try_collect()
            .await
    }

    /// Reads the pages after `first` and turns the refs into the
    /// repository's listing, remembering it for the next run.
    async fn complete_refs(
        &self,
        pending: Pending,
        first: Option<wire::Page<wire::Ref>>,
    ) -> Result<RemoteRepo, ProviderError> {
        let checked_at = Timestamp::now();
        let Some(first) = first else {
            // Gone since it was listed, or hidden: nothing known, nothing removed.
            return Ok(pending.remote);
        };
        let (owner, name) = pending.remote.full_name.split_once('/').unwrap_or_default();
        let refs = self
            .follow(first, |after| {
                let vars = json!({ "owner": owner, "name": name, "after": after });
                async move {
                    let data: wire::RepositoryRefsPage = self
                        .query(documents::REPOSITORY_REFS_PAGE, "RepositoryRefsPage", vars)
                        .await?;
                    Ok(data.repository.and_then(|r| r.refs))
                }
            })
            .await?;
        let remote = self.refs_listing(pending.remote, refs);
        self.rest
            .remember_refs(&remote, pending.pushed_at, checked_at);
        Ok(remote)
    }

    /// The refs GraphQL listed, by the REST path's rules: no default branch,
    /// no package; a default branch without composer.json is listed alone;
    /// otherwise every branch and tag with its composer.json.
    fn refs_listing(&self, mut remote: RemoteRepo, refs: Listing<wire::Ref>) -> RemoteRepo {
        let max = self.rest.max_manifest_bytes;
        let mut manifests: BTreeMap<String, Manifest> = BTreeMap::new();
        let mut listed = Vec::new();
        for r in refs.items {
            let (kind, name) = match (r.name.strip_prefix("heads/"), r.name.strip_prefix("tags/")) {
                (Some(branch), _) => (RefKind::Branch, branch.to_owned()),
                (_, Some(tag)) => (RefKind::Tag, tag.to_owned()),
                _ => continue,
            };
            let Some((commit, file)) = r.target.and_then(peel) else {
                continue;
            };
            manifests
                .entry(commit.clone())
                .or_insert_with(|| manifest_of(file, max));
            listed.push(ListedRef { kind, name, commit });
        }
        for (commit, found) in &manifests {
            self.rest.cache.put_manifest(&remote.id, commit, found);
        }
        let Some(default) = listed
            .iter()
            .find(|r| r.kind == RefKind::Branch && r.name == remote.default_branch)
        else {
            remote.refs = Listing {
                items: Vec::new(),
                complete: refs.complete,
            };
            return remote;
        };
        let default_commit = default.commit.clone();
        let default_manifest = manifests
            .get(&default_commit)
            .cloned()
            .unwrap_or(Manifest::Missing);
        if default_manifest == Manifest::Missing {
            remote.refs = Listing::complete(vec![RemoteRef {
                kind: RefKind::Branch,
                name: remote.default_branch.clone(),
                commit: default_commit,
                manifest: Manifest::Missing,
            }]);
            return remote;
        }
        let mut complete = refs.complete;
        let mut items: Vec<RemoteRef> = listed
            .into_iter()
            .filter_map(|r| {
                let found = manifests.get(&r.commit).cloned();
                complete &= found.is_some();
                Some(RemoteRef {
                    manifest: found?,
                    kind: r.kind,
                    name: r.name,
                    commit: r.commit,
                })
            })
            .collect();
        manifest::sort_refs(&mut items);
        remote.refs = Listing { items, complete };
        remote
    }
}

/// The team permission GraphQL reports, as packyard's.
fn permission(graphql: &str) -> Option<Permission> {
    match graphql {
        "ADMIN" => Some(Permission::Admin),
        "MAINTAIN" | "WRITE" => Some(Permission::Write),
        "TRIAGE" | "READ" => Some(Permission::Read),
        _ => None,
    }
}

fn sorted_teams(mut items: Vec<RemoteTeam>, complete: bool) -> Listing<RemoteTeam> {
    items.sort_by(|a, b| by_id(&a.id, &b.id));
    Listing { items, complete }
}

/// `Type.field` when the host rejected the query for lacking that field.
fn undefined_field(error: &wire::Error) -> Option<String> {
    let ext = error.extensions.as_ref()?;
    (ext.code.as_deref() == Some("undefinedField")).then(|| {
        format!(
            "{}.{}",
            ext.type_name.as_deref().unwrap_or("?"),
            ext.field_name.as_deref().unwrap_or("?")
        )
    })
}

/// The commit a ref points at, through an annotated tag's tag object, with
/// the commit's composer.json entry.
fn peel(target: wire::Target) -> Option<(String, Option<wire::TreeEntry>)> {
    match target.kind.as_str() {
        "Commit" => Some((target.oid, target.file)),
        "Tag" => target
            .target
            .and_then(|inner| (inner.kind == "Commit").then_some((inner.oid, inner.file))),
        _ => None,
    }
}

/// composer.json as `Commit.file` gave it, by the same rules as REST.
fn manifest_of(file: Option<wire::TreeEntry>, max_bytes: usize) -> Manifest {
    let Some(object) = file.and_then(|f| f.object) else {
        return Manifest::Missing;
    };
    if object.kind != "Blob" {
        let kind = if object.kind == "Tree" {
            "dir".to_owned()
        } else {
            object.kind.to_lowercase()
        };
        return Manifest::Invalid(format!("composer.json is a {kind}, not a file"));
    }
    if let Some(refused) = manifest::too_large(object.byte_size.unwrap_or(0), max_bytes) {
        return refused;
    }
    if object.is_truncated == Some(true) {
        return Manifest::Invalid(
            "composer.json is larger than the GitHub GraphQL API returns".to_owned(),
        );
    }
    match object.text {
        Some(text) if object.is_binary != Some(true) => manifest::parse(text.as_bytes()),
        _ => Manifest::Invalid("composer.json is not valid UTF-8".to_owned()),
    }
}

#[async_trait]
impl CodeHost for GraphqlHost {
    async fn verify(&self) -> Result<RemoteOrg, ProviderError> {
        self.rest.verify().await
    }

    async fn snapshot(&self, progress: ProgressFn) -> Result<RemoteSnapshot, ProviderError> {
        let (org, admins) = self.rest.fetch_org_and_admins(&progress).await?;
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
        self.rest.fetch_archive(repo_full_name, commit).await
    }

    fn stats(&self) -> RequestStats {
        self.rest.stats()
    }

    fn budget(&self) -> Arc<Budget> {
        self.rest.http.budget()
    }

    async fn fetch_repo(&self, full_name: &str) -> Result<Option<RemoteRepo>, ProviderError> {
        let Some((remote, pushed_at)) = self.rest.fetch_listed_repo(full_name).await? else {
            return Ok(None);
        };
        let (owner, name) = remote.full_name.split_once('/').unwrap_or_default();
        let vars = json!({ "owner": owner, "name": name, "after": null });
        let first = match self
            .query::<wire::RepositoryRefsPage>(
                documents::REPOSITORY_REFS_PAGE,
                "RepositoryRefsPage",
                vars,
            )
            .await
        {
            Ok(data) => data.repository.and_then(|r| r.refs),
            Err(QueryError::Unsupported) => {
                return self
                    .rest
                    .fetch_refs_remembered(remote, pushed_at)
                    .await
                    .map(Some);
            }
            Err(QueryError::Provider(e)) => return Err(e),
        };
        let pending = Pending {
            remote,
            pushed_at,
            node_id: None,
        };
        self.complete_refs(pending, first).await.map(Some)
    }

    async fn fetch_team(&self, team: &str) -> Result<Option<Vec<RemoteTeam>>, ProviderError> {
        let vars = json!({ "org": self.rest.org, "slug": team });
        let found = match self
            .query::<wire::OneTeam>(documents::TEAM, "Team", vars)
            .await
        {
            Ok(data) => data.organization.and_then(|o| o.team),
            Err(QueryError::Unsupported) => return self.rest.fetch_team(team).await,
            Err(QueryError::Provider(e)) => return Err(e),
        };
        match found {
            Some(team) => Ok(Some(vec![self.complete_team(team).await?])),
            None => Ok(None),
        }
    }

    async fn ensure_hooks(
        &self,
        spec: &HookSpec,
        repos: &[String],
    ) -> Result<InstalledHooks, ProviderError> {
        self.rest.ensure_hooks(spec, repos).await
    }

    async fn remove_hooks(&self, installed: &InstalledHooks) -> Result<(), ProviderError> {
        self.rest.remove_hooks(installed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_is_graphql_beside_the_rest_base_when_github_or_ghes() {
        let url = |s: &str| graphql_endpoint(&Url::parse(s).unwrap()).to_string();
        assert_eq!(
            url("https://api.github.com"),
            "https://api.github.com/graphql"
        );
        assert_eq!(
            url("https://ghe.example.com/api/v3"),
            "https://ghe.example.com/api/graphql"
        );
        assert_eq!(
            url("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api/graphql"
        );
        assert_eq!(
            url("http://127.0.0.1:4000"),
            "http://127.0.0.1:4000/graphql"
        );
    }

    #[test]
    fn annotated_tags_are_peeled_and_files_become_manifests() {
        let target: wire::Target = serde_json::from_value(json!({
            "__typename": "Tag", "oid": "tagobject",
            "target": { "__typename": "Commit", "oid": "c0ffee", "file": {
                "object": { "__typename": "Blob", "text": "{\"name\":\"acme/log\"}", "byteSize": 19, "isBinary": false, "isTruncated": false }
            } }
        }))
        .unwrap();
        let (commit, file) = peel(target).unwrap();
        assert_eq!(commit, "c0ffee");
        assert!(
            matches!(manifest_of(file, 1 << 20), Manifest::Found(m) if m["name"] == "acme/log")
        );
        assert_eq!(manifest_of(None, 1 << 20), Manifest::Missing);
        let tree = wire::TreeEntry {
            object: Some(wire::Object {
                kind: "Tree".into(),
                text: None,
                byte_size: None,
                is_binary: None,
                is_truncated: None,
            }),
        };
        assert_eq!(
            manifest_of(Some(tree), 1 << 20),
            Manifest::Invalid("composer.json is a dir, not a file".into())
        );
        let big = wire::TreeEntry {
            object: Some(wire::Object {
                kind: "Blob".into(),
                text: Some("{}".into()),
                byte_size: Some(100),
                is_binary: Some(false),
                is_truncated: Some(false),
            }),
        };
        assert!(
            matches!(manifest_of(Some(big), 64), Manifest::Invalid(r) if r.contains("larger than 64 bytes"))
        );
    }

    #[test]
    fn team_permissions_map_when_graphql_roles() {
        assert_eq!(permission("ADMIN"), Some(Permission::Admin));
        assert_eq!(permission("MAINTAIN"), Some(Permission::Write));
        assert_eq!(permission("TRIAGE"), Some(Permission::Read));
        assert_eq!(permission("NONE"), None);
    }
}
