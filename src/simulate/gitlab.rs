//! A simulated GitLab REST API (v4) on `127.0.0.1:0`, built from the same
//! [`Scenario`] as the GitHub simulator.
//!
//! # How a scenario maps onto GitLab
//! - The organization is a top-level group: `org.login` is its path (and
//!   [`GitlabSim::org`], the value for `Sync.org`), `org.name` its name.
//! - Members with `role = "admin"` are Owners (50) of the top group, so they
//!   own every project. Other members belong to the top group only through
//!   the subgroups of their teams (GitLab has no plain "org member").
//! - Each team is a subgroup `{org}/{slug}` named after the team; its
//!   members are direct Developers (30) of it. `/members/all` reports each
//!   member once, with the highest level inherited or direct.
//! - Each repository is a project of the top group (`{org}/{name}`). A
//!   team's role on it becomes a share of the project with the team's
//!   subgroup (`shared_with_groups`): pull and triage at Reporter (20), push
//!   at Developer (30), maintain and admin at Maintainer (40), the highest
//!   level GitLab lets a project share grant.
//!
//! It speaks the documented shapes (field names as in
//! `shared/fixtures/gitlab/api`): `PRIVATE-TOKEN` (or OAuth-style
//! `Authorization: Bearer`) auth with GitLab's `{"message": "401
//! Unauthorized"}`, offset pagination (`page`/`per_page`, `Link`,
//! `X-Next-Page`, `X-Total-Pages` …) everywhere and keyset pagination
//! (`pagination=keyset&order_by=id&sort=asc`, `id_after`) on group
//! projects, a weak `ETag` on every JSON GET with 304 on a matching
//! `If-None-Match`, GitLab.com's limit of 2,000 API requests a minute per
//! user enforced on a [`SimClock`](super::SimClock) ([`GitlabSim::budget`];
//! 304s count too) with `RateLimit-*` headers and 429 with `Retry-After`, the
//! files API with base64 content, and `archive.zip` with GitLab's
//! `{path}-{sha}-{sha}/` top folder. [`Faults`] inject latency,
//! failures and rate-limit exhaustion; mutations change the group between
//! runs.
//!
//! # Webhooks
//! Group hooks (the top group; a Premium feature, see
//! [`GitlabSim::set_premium`]) and project hooks live in a [`Webhooks`]
//! registry behind GitLab's hook API. Mutations deliver what GitLab would:
//! a `Push Hook` or `Tag Push Hook` for a moved branch or tag (group and
//! project hooks), a `Member Hook` for a subgroup member added or removed
//! and a `Project Hook` for a project created or deleted (group hooks
//! only), with `X-Gitlab-Event`, `X-Gitlab-Event-UUID`,
//! `X-Gitlab-Webhook-UUID` and `Idempotency-Key` (one per delivery; the
//! simulator never retries), `X-Gitlab-Instance` and, when the hook has a
//! secret, `X-Gitlab-Token`.

mod events;
mod handlers;
mod hooks;
mod json;
mod pages;
mod state;

use super::budget::{Limit, SimBudget, SimClock, Standing};
use super::lock;
use super::scenario::{RepoSpec, Scenario};
use super::server::{self, Running};
use super::webhooks::{Event, HookScope, Webhooks};
use super::{Faults, SimError, SimStats};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, DATE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hooks::{GroupHooks, ProjectHooks};
use serde_json::{Value, json};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

/// GitLab.com's limit for authenticated API requests, per user and minute.
const RATE_LIMIT: u64 = 2_000;
/// The one user the scenario token belongs to.
const USER_KEY: &str = "user";

/// A running simulator. Stops when dropped or on [`GitlabSim::shutdown`].
pub struct GitlabSim {
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

impl Shared {
    /// Sends `delivery` to the hooks that subscribe to it, in the
    /// background, with GitLab's headers.
    fn deliver(&self, delivery: events::Delivery) {
        let body = serde_json::to_vec(&delivery.body).unwrap_or_default();
        let event = Event {
            name: delivery.setting,
            repo: delivery.repo.as_deref(),
            body,
        };
        self.webhooks.deliver(event, |hook, id, _body| {
            let mut headers = vec![
                ("X-Gitlab-Event".to_owned(), delivery.header.to_owned()),
                ("X-Gitlab-Event-UUID".to_owned(), id.to_owned()),
                ("X-Gitlab-Webhook-UUID".to_owned(), id.to_owned()),
                ("Idempotency-Key".to_owned(), id.to_owned()),
                ("X-Gitlab-Instance".to_owned(), self.base.clone()),
                ("User-Agent".to_owned(), "GitLab/17.5.0".to_owned()),
            ];
            if let Some(token) = &hook.secret {
                headers.push(("X-Gitlab-Token".to_owned(), token.clone()));
            }
            headers
        });
    }
}

impl GitlabSim {
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
            budget: SimBudget::new(
                SimClock::default(),
                &[("api", Limit::per_minute(RATE_LIMIT))],
            ),
            webhooks: Webhooks::default(),
        });
        let server = Running::serve(listener, router(shared.clone()), "GitLab");
        Ok(Self {
            shared,
            addr,
            server,
        })
    }

    /// The API base URL, e.g. `http://127.0.0.1:41234/api/v4`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v4", self.addr)
    }

    /// The access token the simulator accepts.
    pub fn token(&self) -> String {
        lock(&self.shared.state).token.clone()
    }

    /// The top group's full path, the value for `Sync.org`.
    pub fn org(&self) -> String {
        lock(&self.shared.state).top.path.clone()
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

    /// The per-minute API limit this simulator enforces (bucket `api`, one
    /// key: the scenario token's user).
    pub fn budget(&self) -> SimBudget {
        self.shared.budget.clone()
    }

    /// The clock the budget runs on.
    pub fn clock(&self) -> SimClock {
        self.shared.budget.clock().clone()
    }

    /// The registered hooks and the deliveries made so far.
    pub fn webhooks(&self) -> Webhooks {
        self.shared.webhooks.clone()
    }

    /// Whether the top group has GitLab Premium (the default). Without it
    /// the group hook API answers 404, as on GitLab Free.
    pub fn set_premium(&self, premium: bool) {
        lock(&self.shared.state).premium = premium;
    }

    /// The project's numeric id.
    pub fn repo_id(&self, repo: &str) -> Option<u64> {
        lock(&self.shared.state).projects.get(repo).map(|p| p.id)
    }

    /// The numeric id of a team's subgroup, or of the top group for `org()`.
    pub fn group_id(&self, path: &str) -> Option<u64> {
        let state = lock(&self.shared.state);
        if path == state.top.path {
            return Some(state.top.id);
        }
        state.subgroups.get(path).map(|g| g.id)
    }

    /// The commit a branch or tag points at.
    pub fn commit_of(&self, repo: &str, reference: &str) -> Option<String> {
        let state = lock(&self.shared.state);
        Some(state.projects.get(repo)?.git.resolve(reference)?.to_owned())
    }

    /// Tags a new commit (same composer.json as the default branch).
    pub fn add_tag(&self, repo: &str, tag: &str) -> Result<String, SimError> {
        self.push(repo, tag, |state| state.add_tag(repo, tag))
    }

    /// Tags the commit `target` (a branch, tag or SHA) points at.
    pub fn add_tag_at(&self, repo: &str, tag: &str, target: &str) -> Result<String, SimError> {
        self.push(repo, tag, |state| state.add_tag_at(repo, tag, target))
    }

    /// Creates `branch` or moves it to a new commit with the same files.
    pub fn push_branch(&self, repo: &str, branch: &str) -> Result<String, SimError> {
        self.push(repo, branch, |state| state.push_branch(repo, branch))
    }

    /// Applies `change`, which returns its result and the event it makes,
    /// and delivers that event once the state is unlocked again.
    fn mutate<T>(
        &self,
        change: impl FnOnce(&mut state::State, &str) -> Result<(T, Option<events::Delivery>), SimError>,
    ) -> Result<T, SimError> {
        let mut state = lock(&self.shared.state);
        let (value, delivery) = change(&mut state, &self.shared.base)?;
        drop(state);
        if let Some(delivery) = delivery {
            self.shared.deliver(delivery);
        }
        Ok(value)
    }

    /// Moves `reference` of `repo` with `change`, then delivers the push.
    fn push(
        &self,
        repo: &str,
        reference: &str,
        change: impl FnOnce(&mut state::State) -> Result<String, SimError>,
    ) -> Result<String, SimError> {
        self.mutate(|state, base| {
            let before = state
                .projects
                .get(repo)
                .and_then(|p| p.git.resolve(reference))
                .map(str::to_owned);
            let after = change(state)?;
            let state = &*state;
            let delivery = state.projects.get(repo).map(|project| {
                events::push(state, base, project, reference, before.as_deref(), &after)
            });
            Ok((after, delivery))
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
        self.push(repo, reference, |state| {
            state.set_composer(repo, reference, bytes)
        })
    }

    /// Creates a project in the top group, shared with no subgroup.
    pub fn create_repo(&self, spec: &RepoSpec) -> Result<u64, SimError> {
        self.mutate(|state, base| {
            let id = state.create_repo(spec)?;
            let state = &*state;
            let delivery = state
                .projects
                .get(&spec.name)
                .map(|project| events::project(state, base, project, "project_create"));
            Ok((id, delivery))
        })
    }

    /// Deletes a project and, as GitLab does, its hooks.
    pub fn delete_repo(&self, repo: &str) -> Result<(), SimError> {
        self.mutate(|state, base| {
            // Described before it goes: the event names what was deleted.
            let delivery = state
                .projects
                .get(repo)
                .map(|project| events::project(state, base, project, "project_destroy"));
            state.delete_repo(repo)?;
            let scope = HookScope::Repo(repo.to_owned());
            for hook in self.shared.webhooks.list(&scope) {
                self.shared.webhooks.delete(&scope, hook.id);
                state.hook_ssl.remove(&hook.id);
            }
            Ok(((), delivery))
        })
    }

    /// Adds `login` to the team's subgroup as a Developer.
    pub fn add_team_member(&self, team: &str, login: &str) -> Result<(), SimError> {
        self.set_team_member(team, login, true)
    }

    pub fn remove_team_member(&self, team: &str, login: &str) -> Result<(), SimError> {
        self.set_team_member(team, login, false)
    }

    /// Changes a subgroup's membership, then delivers the `Member Hook`.
    fn set_team_member(&self, team: &str, login: &str, member: bool) -> Result<(), SimError> {
        self.mutate(|state, _| {
            let level = state.set_team_member(team, login, member)?;
            let delivery = match (state.subgroups.get(team), state.users.get(login), level) {
                (Some(group), Some(user), Some(level)) => {
                    Some(events::member(group, user, level, member))
                }
                _ => None,
            };
            Ok(((), delivery))
        })
    }

    /// Stops accepting requests and waits for the server task to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v4/groups/{id}", get(handlers::group))
        .route(
            "/api/v4/groups/{id}/hooks",
            get(hooks::list::<GroupHooks>).post(hooks::create::<GroupHooks>),
        )
        .route(
            "/api/v4/groups/{id}/hooks/{hook_id}",
            get(hooks::get::<GroupHooks>)
                .put(hooks::update::<GroupHooks>)
                .delete(hooks::delete::<GroupHooks>),
        )
        .route("/api/v4/projects/{id}", get(handlers::project))
        .route(
            "/api/v4/projects/{id}/hooks",
            get(hooks::list::<ProjectHooks>).post(hooks::create::<ProjectHooks>),
        )
        .route(
            "/api/v4/projects/{id}/hooks/{hook_id}",
            get(hooks::get::<ProjectHooks>)
                .put(hooks::update::<ProjectHooks>)
                .delete(hooks::delete::<ProjectHooks>),
        )
        .route(
            "/api/v4/groups/{id}/descendant_groups",
            get(handlers::descendant_groups),
        )
        .route(
            "/api/v4/groups/{id}/members/all",
            get(handlers::members_all),
        )
        .route(
            "/api/v4/groups/{id}/projects",
            get(handlers::group_projects),
        )
        .route(
            "/api/v4/projects/{id}/repository/branches",
            get(handlers::branches),
        )
        .route("/api/v4/projects/{id}/repository/tags", get(handlers::tags))
        .route(
            "/api/v4/projects/{id}/repository/files/{path}",
            get(handlers::file),
        )
        .route(
            "/api/v4/projects/{id}/repository/archive.zip",
            get(handlers::archive_zip),
        )
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"error": "404 Not Found"})),
            )
        })
        .layer(from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

type Sim = State<Arc<Shared>>;

fn message(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

fn not_found(what: &str) -> Response {
    message(StatusCode::NOT_FOUND, &not_found_message(what))
}

fn not_found_message(what: &str) -> String {
    format!("404 {what} Not Found")
}

/// Counting, latency, injected failures, auth and the rate limit run before
/// the handler; ETag/304 and rate-limit headers after it.
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
        if status == StatusCode::TOO_MANY_REQUESTS {
            return retry_later(1);
        }
        let reason = status.canonical_reason().unwrap_or("Error");
        return message(status, &format!("{} {reason}", status.as_u16()));
    }
    if !authorized(request.headers(), &lock(&sim.state).token) {
        return message(StatusCode::UNAUTHORIZED, "401 Unauthorized");
    }
    let mut response = limited(&sim, request, next).await;
    if let Ok(date) = HeaderValue::from_str(&sim.budget.clock().http_date()) {
        response.headers_mut().insert(DATE, date);
    }
    response
}

/// The per-minute limit around the handler. Rack::Attack counts every
/// request, 304s included, and answers 429 once the minute's are spent.
async fn limited(sim: &Shared, request: Request, next: Next) -> Response {
    let spent = match sim.faults.rate_limited_until() {
        Some(reset) => {
            let now = sim.budget.clock().epoch_secs();
            Err(Standing {
                limit: RATE_LIMIT,
                used: RATE_LIMIT,
                remaining: 0,
                reset,
                retry_after: reset.saturating_sub(now).max(1),
            })
        }
        None => sim.budget.charge("api", USER_KEY, 1),
    };
    let standing = match spent {
        Err(spent) => {
            let mut response = retry_later(spent.retry_after.max(1));
            rate_headers(response.headers_mut(), &spent);
            return response;
        }
        Ok(standing) => standing,
    };
    let if_none_match = request.headers().get("if-none-match").cloned();
    let mut response = pages::with_etag(next.run(request).await, if_none_match).await;
    if response.status() == StatusCode::NOT_MODIFIED {
        lock(&sim.stats).not_modified += 1;
    }
    if let Some(standing) = standing {
        rate_headers(response.headers_mut(), &standing);
    }
    response
}

/// Rack::Attack's throttled answer, as GitLab sends it.
fn retry_later(after_secs: u64) -> Response {
    let mut response = (StatusCode::TOO_MANY_REQUESTS, "Retry later\n").into_response();
    if let Ok(value) = HeaderValue::from_str(&after_secs.to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// `PRIVATE-TOKEN`, or the OAuth-compliant `Authorization: Bearer` GitLab
/// also accepts for personal, group and project access tokens.
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    header("private-token") == Some(token)
        || header(AUTHORIZATION.as_str()).and_then(|v| v.strip_prefix("Bearer ")) == Some(token)
}

fn rate_headers(headers: &mut HeaderMap, standing: &Standing) {
    let reset_time = UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(standing.reset))
        .map(httpdate::fmt_http_date)
        .unwrap_or_default();
    for (name, value) in [
        ("ratelimit-limit", standing.limit.to_string()),
        ("ratelimit-observed", standing.used.to_string()),
        ("ratelimit-remaining", standing.remaining.to_string()),
        ("ratelimit-reset", standing.reset.to_string()),
        ("ratelimit-resettime", reset_time),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}
