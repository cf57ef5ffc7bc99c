//! A simulated Bitbucket Data Center / Server REST API (1.0) on `127.0.0.1:0`.
//!
//! # How a [`Scenario`] maps onto the instance
//! - Each scenario **repository** is a repository of the same slug alone in
//!   its own **project**, keyed by the name in upper case with `_` for other
//!   characters (`http-client` → `HTTP_CLIENT`). Bitbucket grants
//!   permissions per project, so one project per repository keeps the
//!   scenario's per-repository team roles exact: every host's simulator
//!   gives the same people the same access.
//! - Each **member** is a user (`name` = `slug` = login), numbered from 1.
//! - Each **team** is a group named by the team's slug; its repository roles
//!   become the group's project permissions: `pull`/`triage` →
//!   `PROJECT_READ`, `push`/`maintain` → `PROJECT_WRITE`, `admin` →
//!   `PROJECT_ADMIN`. The team's display name has no place in Bitbucket.
//! - [`OrgRole::Admin`](super::OrgRole) members are the instance's admins:
//!   the first holds `SYS_ADMIN` directly (the account the setup wizard
//!   creates, and the one the token belongs to), the others through the
//!   group `administrators` (`ADMIN`). Every member is in `stash-users`
//!   (`LICENSED_USER`, not an admin).
//! - `org.login`/`org.name` have no counterpart: an instance has no name in
//!   the REST API. [`BitbucketServerSim::org`] is empty, the `Sync.org` value
//!   that means "every project the credentials can see".
//!
//! # What it speaks
//! Paths under `/rest/api/1.0`, field names as in the fixtures, `start`/
//! `limit` pagination (`limit` defaults to 25, at most 1000) with `size`,
//! `isLastPage` and `nextPageStart`; HTTP access tokens as `Bearer` or the
//! password of Basic auth for [`BitbucketServerSim::username`]; `{"errors":
//! [...]}` bodies for 401/404; 429 with `Retry-After` when the token bucket is
//! empty. Rate limiting is what an admin configures: off until a test sets a
//! token bucket per user with [`BitbucketServerSim::set_rate_limit`] (on a
//! [`SimClock`]). Bitbucket Server sends no ETags on these resources, so there are no
//! conditional requests and `not_modified` stays 0. Archives are zips without
//! a top folder (see `archive`).
//!
//! # Webhooks
//! Repository webhooks at `…/repos/{slug}/webhooks[/{id}]` (bodies as in
//! the `webhooks` fixtures, paged like other listings, 201 on create, 204
//! on delete, 400 with `errors` for a missing name or URL or an unknown
//! event). Every push (`add_tag`, `add_tag_at`, `push_branch`,
//! `set_composer`) delivers `repo:refs_changed` to the repository's active
//! hooks subscribed to it, with `X-Event-Key`, `X-Request-Id` and, when the
//! hook has a secret, `X-Hub-Signature: sha256=…`. Like the real server, it
//! sends nothing when a repository is created or a permission changes.
//! Deleting a repository deletes its hooks.

mod hooks;
mod json;
mod state;

use super::archive;
use super::budget::{Limit, SimBudget, SimClock, Window};
use super::history::record_push;
use super::lock;
use super::scenario::{RepoRole, RepoSpec, Scenario};
use super::server::{self, Running};
use super::webhooks::{Event, HookScope, Webhooks};
use super::{Faults, SimError, SimStats};
use crate::domain::RefKind;
use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// Where the REST API lives under the instance's base URL.
pub const REST: &str = "/rest/api/1.0";
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 1000;

/// The one budget bucket: Bitbucket's rate limiting counts every request.
const RATE_BUCKET: &str = "api";

/// A running simulator. Stops when dropped or on [`BitbucketServerSim::shutdown`].
pub struct BitbucketServerSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Running,
}

struct Shared {
    base: String,
    state: Mutex<state::State>,
    faults: Faults,
    stats: Mutex<SimStats>,
    budget: SimBudget,
    webhooks: Webhooks,
}

impl BitbucketServerSim {
    pub async fn start(scenario: Scenario) -> io::Result<Self> {
        scenario
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (listener, addr) = server::bind().await?;
        let shared = Arc::new(Shared {
            base: format!("http://{addr}"),
            state: Mutex::new(state::State::new(&scenario)),
            faults: Faults::default(),
            stats: Mutex::new(SimStats::default()),
            budget: SimBudget::default(),
            webhooks: Webhooks::default(),
        });
        let server = Running::serve(listener, router(shared.clone()), "Bitbucket Server");
        Ok(Self {
            shared,
            addr,
            server,
        })
    }

    /// The instance's base URL, e.g. `http://127.0.0.1:41234` (REST paths
    /// are under [`REST`]).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The HTTP access token, also accepted as the password of
    /// [`Self::username`].
    pub fn token(&self) -> String {
        lock(&self.shared.state).token.clone()
    }

    /// The account the token belongs to: the first scenario admin.
    pub fn username(&self) -> String {
        lock(&self.shared.state).username.clone()
    }

    /// The `Sync.org` value: empty, every project the token can see.
    pub fn org(&self) -> String {
        String::new()
    }

    /// The key of the project holding scenario repository `repo`.
    pub fn project_key(&self, repo: &str) -> Option<String> {
        Some(lock(&self.shared.state).repos.get(repo)?.project.clone())
    }

    pub fn stats(&self) -> SimStats {
        lock(&self.shared.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = SimStats::default();
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Turns rate limiting on with a token bucket of `size` per user refilled
    /// with `per_second` tokens a second, as an admin configures it, or off
    /// (`None`).
    pub fn set_rate_limit(&self, bucket: Option<(u64, u64)>) {
        let limit = bucket.map(|(size, per_second)| Limit {
            limit: size,
            window: Window::TokenBucket {
                refill: per_second,
                every: std::time::Duration::from_secs(1),
            },
        });
        self.shared.budget.set_limit(RATE_BUCKET, limit);
    }

    /// The budget this simulator enforces (bucket `api`, key `user`).
    pub fn budget(&self) -> SimBudget {
        self.shared.budget.clone()
    }

    /// The clock the token bucket runs on.
    pub fn clock(&self) -> SimClock {
        self.shared.budget.clock().clone()
    }

    /// The repository webhooks registered through the API, and their
    /// deliveries.
    pub fn webhooks(&self) -> Webhooks {
        self.shared.webhooks.clone()
    }

    /// The repository's numeric id.
    pub fn repo_id(&self, repo: &str) -> Option<u64> {
        lock(&self.shared.state).repos.get(repo).map(|r| r.id)
    }

    /// The commit a branch or tag points at.
    pub fn commit_of(&self, repo: &str, reference: &str) -> Option<String> {
        let state = lock(&self.shared.state);
        Some(state.repos.get(repo)?.git.resolve(reference)?.to_owned())
    }

    /// Tags a new commit (same composer.json as the default branch).
    pub fn add_tag(&self, repo: &str, tag: &str) -> Result<String, SimError> {
        self.push(repo, (RefKind::Tag, tag), |state| state.add_tag(repo, tag))
    }

    /// Tags the commit `target` (a branch, tag or SHA) points at.
    pub fn add_tag_at(&self, repo: &str, tag: &str, target: &str) -> Result<String, SimError> {
        self.push(repo, (RefKind::Tag, tag), |state| {
            state.add_tag_at(repo, tag, target)
        })
    }

    /// Creates `branch` or moves it to a new commit with the same files.
    pub fn push_branch(&self, repo: &str, branch: &str) -> Result<String, SimError> {
        self.push(repo, (RefKind::Branch, branch), |state| {
            state.push_branch(repo, branch)
        })
    }

    /// Points `reference` at a new commit whose composer.json is `composer`
    /// (`None` removes the file). Returns the new SHA.
    pub fn set_composer(
        &self,
        repo: &str,
        reference: &str,
        composer: Option<&Value>,
    ) -> Result<String, SimError> {
        let bytes = composer.and_then(|c| serde_json::to_vec_pretty(c).ok());
        let kind = lock(&self.shared.state)
            .repos
            .get(repo)
            .map_or(RefKind::Branch, |r| r.git.kind_of(reference));
        self.push(repo, (kind, reference), |state| {
            state.set_composer(repo, reference, bytes)
        })
    }

    /// Applies `change`, which moves ref `moved` of `repo`, then delivers
    /// `repo:refs_changed` to the repository's hooks, as a `git push` would.
    fn push(
        &self,
        repo: &str,
        moved: (RefKind, &str),
        change: impl FnOnce(&mut state::State) -> Result<String, SimError>,
    ) -> Result<String, SimError> {
        let (sha, body) = {
            let mut state = lock(&self.shared.state);
            let (sha, update) = record_push(
                &mut *state,
                |state| state.repos.get(repo).map(|r| &r.git),
                moved,
                change,
            )?;
            let actor = state.users.get(&state.username);
            let body = state
                .repos
                .get(repo)
                .and_then(|r| Some((r, state.projects.get(&r.project)?)))
                .map(|found| json::refs_changed(actor, found, &update, &self.shared.base));
            (sha, body)
        };
        if let Some(body) = body {
            let event = Event {
                name: "repo:refs_changed",
                repo: Some(repo),
                body: serde_json::to_vec(&body).unwrap_or_default(),
            };
            let headers = hooks::delivery_headers("repo:refs_changed");
            self.shared.webhooks.deliver(event, headers);
        }
        Ok(sha)
    }

    /// Creates the repository in a new project of its own, with no grants.
    pub fn create_repo(&self, spec: &RepoSpec) -> Result<u64, SimError> {
        lock(&self.shared.state).create_repo(spec)
    }

    /// Deletes the repository (and its project) with its hooks.
    pub fn delete_repo(&self, repo: &str) -> Result<(), SimError> {
        let mut state = lock(&self.shared.state);
        state.delete_repo(repo)?;
        let scope = HookScope::Repo(repo.to_owned());
        for hook in self.shared.webhooks.list(&scope) {
            self.shared.webhooks.delete(&scope, hook.id);
            state.hook_names.remove(&hook.id);
        }
        Ok(())
    }

    /// Adds `login` to the group of scenario team `team`.
    pub fn add_team_member(&self, team: &str, login: &str) -> Result<(), SimError> {
        lock(&self.shared.state).set_group_member(team, login, true)
    }

    pub fn remove_team_member(&self, team: &str, login: &str) -> Result<(), SimError> {
        lock(&self.shared.state).set_group_member(team, login, false)
    }

    /// Grants `login` a project permission on `repo`'s project directly
    /// (scenarios only grant through groups).
    pub fn grant_user(&self, repo: &str, login: &str, role: RepoRole) -> Result<(), SimError> {
        lock(&self.shared.state).grant_user(repo, login, role)
    }

    /// Stops accepting requests and waits for the server task to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let repo = "/projects/{key}/repos/{slug}";
    let routes = [
        ("/projects".to_owned(), get(projects)),
        ("/projects/{key}".to_owned(), get(project)),
        (
            "/projects/{key}/permissions/users".to_owned(),
            get(project_users),
        ),
        (
            "/projects/{key}/permissions/groups".to_owned(),
            get(project_groups),
        ),
        ("/projects/{key}/repos".to_owned(), get(repos)),
        (repo.to_owned(), get(repository)),
        (format!("{repo}/branches"), get(branches)),
        (format!("{repo}/tags"), get(tags)),
        (format!("{repo}/raw/{{*path}}"), get(raw)),
        (format!("{repo}/archive"), get(archive)),
        (
            format!("{repo}/webhooks"),
            get(hooks::list).post(hooks::create),
        ),
        (
            format!("{repo}/webhooks/{{id}}"),
            get(hooks::one).put(hooks::update).delete(hooks::delete),
        ),
        ("/admin/permissions/users".to_owned(), get(admin_users)),
        ("/admin/permissions/groups".to_owned(), get(admin_groups)),
        ("/admin/groups/more-members".to_owned(), get(group_members)),
    ];
    routes
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router.route(&format!("{REST}{path}"), handler)
        })
        .fallback(|| async { not_found("No resource was found at this path.") })
        .layer(from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

type Sim = State<Arc<Shared>>;

#[derive(Debug, serde::Deserialize)]
struct PageQuery {
    start: Option<usize>,
    limit: Option<usize>,
    context: Option<String>,
    at: Option<String>,
}

fn error(status: StatusCode, message: &str, exception: &str) -> Response {
    (status, axum::Json(json::errors(message, exception))).into_response()
}

fn not_found(message: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        message,
        "com.atlassian.bitbucket.NoSuchEntityException",
    )
}

fn no_project(key: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Project {key} does not exist."),
        "com.atlassian.bitbucket.project.NoSuchProjectException",
    )
}

fn no_repo(key: &str, slug: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Repository {key}/{slug} does not exist."),
        "com.atlassian.bitbucket.repository.NoSuchRepositoryException",
    )
}

fn no_commit(at: &str, slug: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Commit '{at}' does not exist in repository '{slug}'."),
        "com.atlassian.bitbucket.commit.NoSuchCommitException",
    )
}

/// Counting, latency, injected failures, auth and the rate limit run before
/// the handler.
async fn gate(State(sim): Sim, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str)
        .to_owned();
    {
        let mut stats = lock(&sim.stats);
        stats.requests += 1;
        *stats.by_route.entry(route).or_default() += 1;
    }
    let latency = sim.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(status) = sim.faults.take_failure(request.uri().path()) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let reason = status.canonical_reason().unwrap_or("Error");
        let mut response = error(status, reason, "com.atlassian.bitbucket.ServiceException");
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        return response;
    }
    if !authorized(request.headers(), &lock(&sim.state)) {
        return error(
            StatusCode::UNAUTHORIZED,
            "Authentication failed. Please check your credentials and try again.",
            "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException",
        );
    }
    let refused = sim.faults.retry_after().or_else(|| {
        sim.budget
            .charge(RATE_BUCKET, "user", 1)
            .err()
            .map(|s| s.retry_after.max(1))
    });
    if let Some(secs) = refused {
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests. Try again later.",
            "com.atlassian.bitbucket.ratelimit.RateLimitedException",
        );
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
        return response;
    }
    next.run(request).await
}

/// `Bearer <token>`, or Basic with the token as the account's password.
fn authorized(headers: &HeaderMap, state: &state::State) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if let Some(token) = value.strip_prefix("Bearer ") {
        return token == state.token;
    }
    value
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            let (user, password) = pair.split_once(':')?;
            Some(user == state.username && password == state.token)
        })
        .unwrap_or(false)
}

/// One page of `items` in Bitbucket's envelope.
fn page(query: &PageQuery, items: Vec<Value>) -> Response {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let start = query.start.unwrap_or(0);
    let total = items.len();
    let values: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    let size = values.len();
    let last = start.saturating_add(size) >= total;
    let mut body = json!({
        "size": size,
        "limit": limit,
        "isLastPage": last,
        "values": values,
        "start": start,
    });
    if !last {
        body["nextPageStart"] = json!(start + size);
    }
    axum::Json(body).into_response()
}

async fn projects(State(sim): Sim, Query(query): Query<PageQuery>) -> Response {
    let state = lock(&sim.state);
    let mut all: Vec<_> = state.projects.values().collect();
    all.sort_by_key(|p| p.id);
    let items = all.iter().map(|p| json::project(p, &sim.base)).collect();
    page(&query, items)
}

async fn project(State(sim): Sim, Path(key): Path<String>) -> Response {
    let state = lock(&sim.state);
    match state.project(&key) {
        Some(p) => axum::Json(json::project(p, &sim.base)).into_response(),
        None => no_project(&key),
    }
}

async fn project_users(
    State(sim): Sim,
    Path(key): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let state = lock(&sim.state);
    let Some(project) = state.project(&key) else {
        return no_project(&key);
    };
    let items = project
        .users
        .iter()
        .filter_map(|(name, p)| Some(json::user_permission(state.users.get(name)?, p)))
        .collect();
    page(&query, items)
}

async fn project_groups(
    State(sim): Sim,
    Path(key): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let state = lock(&sim.state);
    let Some(project) = state.project(&key) else {
        return no_project(&key);
    };
    let items = project
        .groups
        .iter()
        .map(|(group, p)| json::group_permission(group, p))
        .collect();
    page(&query, items)
}

async fn repos(
    State(sim): Sim,
    Path(key): Path<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let state = lock(&sim.state);
    let Some(project) = state.project(&key) else {
        return no_project(&key);
    };
    let mut in_project: Vec<_> = state
        .repos
        .values()
        .filter(|r| r.project == project.key)
        .collect();
    in_project.sort_by_key(|r| r.id);
    let items = in_project
        .iter()
        .map(|r| json::repo(r, project, &sim.base))
        .collect();
    page(&query, items)
}

async fn repository(State(sim): Sim, Path((key, slug)): Path<(String, String)>) -> Response {
    let state = lock(&sim.state);
    match (state.project(&key), state.repo(&key, &slug)) {
        (Some(project), Some(repo)) => {
            axum::Json(json::repo(repo, project, &sim.base)).into_response()
        }
        (None, _) => no_project(&key),
        (Some(_), None) => no_repo(&key, &slug),
    }
}

/// One page of a repository's refs, or 404 for an unknown repository.
fn ref_listing(
    sim: &Shared,
    key: &str,
    slug: &str,
    query: &PageQuery,
    items: impl FnOnce(&state::Repo) -> Vec<Value>,
) -> Response {
    let state = lock(&sim.state);
    match state.repo(key, slug) {
        Some(repo) => page(query, items(repo)),
        None => no_repo(key, slug),
    }
}

async fn branches(
    State(sim): Sim,
    Path((key, slug)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Response {
    ref_listing(&sim, &key, &slug, &query, |repo| {
        repo.git
            .branches
            .iter()
            .map(|(name, sha)| json::branch(name, sha, *name == repo.git.default_branch))
            .collect()
    })
}

async fn tags(
    State(sim): Sim,
    Path((key, slug)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Response {
    ref_listing(&sim, &key, &slug, &query, |repo| {
        repo.git
            .tags
            .iter()
            .map(|(name, sha)| json::tag(name, sha))
            .collect()
    })
}

/// The commit `at` (default: the default branch) and its composer.json.
fn resolve_at(
    state: &state::State,
    key: &str,
    slug: &str,
    at: Option<&str>,
) -> Result<(String, Option<Vec<u8>>), Box<Response>> {
    let repo = state
        .repo(key, slug)
        .ok_or_else(|| Box::new(no_repo(key, slug)))?;
    let at = at.unwrap_or(&repo.git.default_branch);
    let sha = repo
        .git
        .resolve(at)
        .ok_or_else(|| Box::new(no_commit(at, slug)))?;
    let composer = repo.git.commits.get(sha).cloned().flatten();
    Ok((sha.to_owned(), composer))
}

async fn raw(
    State(sim): Sim,
    Path((key, slug, path)): Path<(String, String, String)>,
    Query(query): Query<PageQuery>,
) -> Response {
    let state = lock(&sim.state);
    let (sha, composer) = match resolve_at(&state, &key, &slug, query.at.as_deref()) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    match composer {
        Some(bytes) if path == "composer.json" => {
            ([(CONTENT_TYPE, "text/plain;charset=UTF-8")], bytes).into_response()
        }
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("The path \"{path}\" does not exist at revision \"{sha}\""),
            "com.atlassian.bitbucket.content.NoSuchPathException",
        ),
    }
}

async fn archive(
    State(sim): Sim,
    Path((key, slug)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Response {
    let (sha, composer, project) = {
        let state = lock(&sim.state);
        match resolve_at(&state, &key, &slug, query.at.as_deref()) {
            Ok((sha, composer)) => (sha, composer, key.to_ascii_uppercase()),
            Err(response) => return *response,
        }
    };
    let layout = archive::Layout {
        top: None,
        comment: Some(&sha),
    };
    match archive::zip(
        layout,
        &format!("{project}/{slug}"),
        &sha,
        composer.as_deref(),
    ) {
        Ok(zip) => {
            let disposition = format!("attachment; filename=\"{slug}@{}.zip\"", &sha[..11]);
            let mut response = zip.into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/zip"));
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The archive could not be created.",
            "com.atlassian.bitbucket.ServerException",
        ),
    }
}

async fn admin_users(State(sim): Sim, Query(query): Query<PageQuery>) -> Response {
    let state = lock(&sim.state);
    let items = state
        .global_users
        .iter()
        .filter_map(|(name, p)| Some(json::user_permission(state.users.get(name)?, p)))
        .collect();
    page(&query, items)
}

async fn admin_groups(State(sim): Sim, Query(query): Query<PageQuery>) -> Response {
    let state = lock(&sim.state);
    let items = state
        .global_groups
        .iter()
        .map(|(group, p)| json::group_permission(group, p))
        .collect();
    page(&query, items)
}

async fn group_members(State(sim): Sim, Query(query): Query<PageQuery>) -> Response {
    let state = lock(&sim.state);
    let group = query.context.as_deref().unwrap_or_default();
    let Some(members) = state.groups.get(group) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Group {group} does not exist."),
            "com.atlassian.bitbucket.user.NoSuchGroupException",
        );
    };
    let mut users: Vec<_> = members
        .iter()
        .filter_map(|name| state.users.get(name))
        .collect();
    users.sort_by_key(|u| u.id);
    let items = users.iter().map(|u| json::member(u, &sim.base)).collect();
    page(&query, items)
}
