//! A simulated GitHub REST API on `127.0.0.1:0`.
//!
//! It speaks the documented shapes (field names as in
//! `shared/fixtures/github/api`): Link pagination honouring `per_page`
//! (at most 100) and `page`, a strong `ETag` on every JSON GET with 304 on a
//! matching `If-None-Match`, GitHub's primary rate limit (see below), GitHub's 401/404 error
//! bodies, base64 contents, and zipballs through a 302 to a same-host
//! codeload-like path. A GitHub App can be installed
//! ([`GithubSim::install_app`]): its installation tokens are accepted like
//! the scenario token until they expire. [`Faults`] inject latency, failures and rate-limit
//! exhaustion; mutations change the organization between runs and deliver
//! the webhooks GitHub would send to the hooks registered through its hook
//! API ([`hooks`]).
//!
//! # Rate limit
//! The primary limit is enforced per credential on the simulator's
//! [`SimClock`] ([`GithubSim::budget`], [`GithubSim::clock`]): 5,000 REST
//! requests an hour for a token (bucket `core`), an App installation's tokens
//! sharing the installation's budget of 5,000 plus 50 per repository and 50
//! per member above 20 of each, at most 12,500. Every response carries
//! `x-ratelimit-limit/-remaining/-used/-reset/-resource`; a 304 costs
//! nothing, nor does `GET /rate_limit`; a spent budget answers 403 with
//! `x-ratelimit-remaining: 0` until the reset. [`GithubSim::set_rate_limit`]
//! changes the limit or turns it off (a GHES with rate limiting disabled:
//! no headers, `/rate_limit` answers 404). GraphQL points go to bucket
//! `graphql`, charged by whoever executes the query.

mod app;
mod hooks;
mod json;
mod state;

use super::budget::{Limit, SimBudget, SimClock, Standing};
use super::faults::{Faults, SimStats};
use super::lock;
use super::server::{self, Running};
pub use state::SimError;

use super::archive;
use super::scenario::{RepoRole, RepoSpec, Scenario};
use super::webhooks::Webhooks;
use crate::domain::RefKind;
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::header::{
    AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE, DATE, ETAG, IF_NONE_MATCH, LINK, LOCATION,
    RETRY_AFTER,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hooks::RefChange;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// GitHub's documented primary limit for a token, per hour.
const RATE_LIMIT: u64 = 5_000;
/// The most an App installation's budget grows to (outside Enterprise Cloud).
const INSTALLATION_MAX: u64 = 12_500;
/// Routes the gate does not charge to `core`: the rate-limit endpoint is
/// free, and GraphQL is charged in points by its executor.
const UNCHARGED: [&str; 2] = ["/rate_limit", "/graphql"];
const DOCS: &str = "https://docs.github.com/rest";
/// The one route that authenticates with an app JWT instead of a token.
const ACCESS_TOKENS: &str = "/app/installations/{installation_id}/access_tokens";

/// A running simulator. Stops when dropped or on [`GithubSim::shutdown`].
pub struct GithubSim {
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
    app: Mutex<Option<app::App>>,
    webhooks: Webhooks,
}

impl GithubSim {
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
                &[
                    ("core", Limit::per_hour(RATE_LIMIT)),
                    ("graphql", Limit::per_hour(RATE_LIMIT)),
                ],
            ),
            app: Mutex::new(None),
            webhooks: Webhooks::default(),
        });
        let server = Running::serve(listener, router(shared.clone()), "GitHub");
        Ok(Self {
            shared,
            addr,
            server,
        })
    }

    /// The API base URL, e.g. `http://127.0.0.1:41234`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self) -> String {
        lock(&self.shared.state).token.clone()
    }

    /// Installs a GitHub App on the organization: JWTs signed by the key
    /// matching `public_key_pem` (an RSA public key) with `iss` = `app_id`
    /// get installation tokens for `installation_id` that work for
    /// `token_lifetime`. Replaces any app installed before.
    pub fn install_app(
        &self,
        app_id: u64,
        installation_id: u64,
        public_key_pem: &str,
        token_lifetime: Duration,
    ) -> Result<(), SimError> {
        let app = app::App::new(app_id, installation_id, public_key_pem, token_lifetime)
            .map_err(|e| SimError::InvalidAppKey(e.to_string()))?;
        let (repos, members) = {
            let state = lock(&self.shared.state);
            (state.repos.len() as u64, state.users.len() as u64)
        };
        let limit = (RATE_LIMIT + 50 * repos.saturating_sub(20) + 50 * members.saturating_sub(20))
            .min(INSTALLATION_MAX);
        let key = installation_key(installation_id);
        for bucket in ["core", "graphql"] {
            self.shared.budget.set_key_limit(bucket, &key, limit);
        }
        *lock(&self.shared.app) = Some(app);
        Ok(())
    }

    /// The request budgets this simulator enforces (buckets `core` and
    /// `graphql`; keys from [`rate_key`]).
    pub fn budget(&self) -> SimBudget {
        self.shared.budget.clone()
    }

    /// The clock the budgets run on; tests advance it past a reset.
    pub fn clock(&self) -> SimClock {
        self.shared.budget.clock().clone()
    }

    /// The hourly `core` and `graphql` limit of a token (`None`: rate
    /// limiting off, as a GHES may be configured).
    pub fn set_rate_limit(&self, per_hour: Option<u64>) {
        for bucket in ["core", "graphql"] {
            self.shared
                .budget
                .set_limit(bucket, per_hour.map(Limit::per_hour));
        }
    }

    /// The budget key of the scenario token, for [`SimBudget`] calls.
    pub fn token_key(&self) -> String {
        TOKEN_KEY.to_owned()
    }

    pub fn org(&self) -> String {
        lock(&self.shared.state).login.clone()
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

    /// The hooks registered through the hook API, and their deliveries.
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
        self.push(repo, RefKind::Tag, tag, |state| state.add_tag(repo, tag))
    }

    /// Tags the commit `target` (a branch, tag or SHA) points at.
    pub fn add_tag_at(&self, repo: &str, tag: &str, target: &str) -> Result<String, SimError> {
        self.push(repo, RefKind::Tag, tag, |state| {
            state.add_tag_at(repo, tag, target)
        })
    }

    /// Creates `branch` or moves it to a new commit with the same files.
    pub fn push_branch(&self, repo: &str, branch: &str) -> Result<String, SimError> {
        self.push(repo, RefKind::Branch, branch, |state| {
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
        let is_branch = lock(&self.shared.state)
            .repos
            .get(repo)
            .is_some_and(|r| r.git.branches.contains_key(reference));
        let kind = if is_branch {
            RefKind::Branch
        } else {
            RefKind::Tag
        };
        self.push(repo, kind, reference, |state| {
            state.set_composer(repo, reference, bytes)
        })
    }

    /// Applies `change` to one ref of `repo` and delivers the `push` (and
    /// for a new ref the `create`) it makes. Returns the new SHA.
    fn push(
        &self,
        repo: &str,
        kind: RefKind,
        name: &str,
        change: impl FnOnce(&mut state::State) -> Result<String, SimError>,
    ) -> Result<String, SimError> {
        let mut state = lock(&self.shared.state);
        let before = state.repos.get(repo).and_then(|r| match kind {
            RefKind::Branch => r.git.branches.get(name).cloned(),
            RefKind::Tag => r.git.tags.get(name).cloned(),
        });
        let after = change(&mut state)?;
        let change = RefChange {
            repo,
            kind,
            name,
            before: before.as_deref(),
            after: &after,
        };
        let deliveries = hooks::pushed(&state, &change, &self.shared.base);
        drop(state);
        self.shared.deliver(deliveries);
        Ok(after)
    }

    /// Creates a repository; organization hooks hear `repository` `created`.
    pub fn create_repo(&self, spec: &RepoSpec) -> Result<u64, SimError> {
        let mut state = lock(&self.shared.state);
        let id = state.create_repo(spec)?;
        let deliveries = hooks::repository(&state, &spec.name, "created", &self.shared.base);
        drop(state);
        self.shared.deliver(deliveries);
        Ok(id)
    }

    /// Deletes a repository and its hooks; organization hooks hear
    /// `repository` `deleted`.
    pub fn delete_repo(&self, repo: &str) -> Result<(), SimError> {
        let mut state = lock(&self.shared.state);
        let deliveries = hooks::repository(&state, repo, "deleted", &self.shared.base);
        state.delete_repo(repo)?;
        drop(state);
        self.shared.forget_repo_hooks(repo);
        self.shared.deliver(deliveries);
        Ok(())
    }

    pub fn add_team_member(&self, team: &str, login: &str) -> Result<(), SimError> {
        self.set_team_member(team, login, true)
    }

    pub fn remove_team_member(&self, team: &str, login: &str) -> Result<(), SimError> {
        self.set_team_member(team, login, false)
    }

    /// Adds or removes a member; organization hooks hear `membership`.
    fn set_team_member(&self, team: &str, login: &str, member: bool) -> Result<(), SimError> {
        let mut state = lock(&self.shared.state);
        state.set_team_member(team, login, member)?;
        let deliveries = hooks::membership(&state, team, login, member, &self.shared.base);
        drop(state);
        self.shared.deliver(deliveries);
        Ok(())
    }

    /// Grants `team` a role on `repo` (`None` takes its access away);
    /// organization hooks hear `team`.
    pub fn set_team_repo(
        &self,
        team: &str,
        repo: &str,
        role: Option<RepoRole>,
    ) -> Result<(), SimError> {
        let mut state = lock(&self.shared.state);
        let before = state
            .teams
            .get(team)
            .and_then(|t| t.repos.get(repo).copied());
        state.set_team_repo(team, repo, role)?;
        let deliveries = hooks::team_repo(&state, team, repo, before, &self.shared.base);
        drop(state);
        self.shared.deliver(deliveries);
        Ok(())
    }

    /// Stops accepting requests and waits for the server task to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/user", get(user))
        .route("/orgs/{org}", get(org))
        .route("/orgs/{org}/members", get(org_members))
        .route("/orgs/{org}/teams", get(teams))
        .route("/orgs/{org}/teams/{slug}", get(team))
        .route("/orgs/{org}/teams/{slug}/members", get(team_members))
        .route("/orgs/{org}/teams/{slug}/repos", get(team_repos))
        .route("/orgs/{org}/repos", get(org_repos))
        .route("/repos/{owner}/{repo}", get(repo))
        .route("/repos/{owner}/{repo}/branches", get(branches))
        .route("/repos/{owner}/{repo}/tags", get(tags))
        .route("/repos/{owner}/{repo}/contents/{*path}", get(contents))
        .route("/repos/{owner}/{repo}/zipball/{*reference}", get(zipball))
        .route("/_codeload/{owner}/{repo}/legacy.zip/{sha}", get(codeload))
        .route(ACCESS_TOKENS, post(access_tokens))
        .route("/rate_limit", get(rate_limit))
        .merge(hooks::routes())
        .fallback(|| async { not_found() })
        .layer(from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

type Sim = State<Arc<Shared>>;

#[derive(Debug, serde::Deserialize)]
struct ListQuery {
    per_page: Option<usize>,
    page: Option<usize>,
    role: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct RefQuery {
    #[serde(rename = "ref")]
    reference: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "message": message, "documentation_url": DOCS })),
    )
        .into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
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
        *stats.by_route.entry(route.clone()).or_default() += 1;
    }
    let latency = sim.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(status) = sim.faults.take_failure(request.uri().path()) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = error(status, status.canonical_reason().unwrap_or("Error"));
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        return response;
    }
    // The token exchange checks its JWT itself.
    if route != ACCESS_TOKENS && !authorized(&sim, request.headers()) {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let mut response = limited(&sim, &route, request, next).await;
    if let Ok(date) = HeaderValue::from_str(&sim.budget.clock().http_date()) {
        response.headers_mut().insert(DATE, date);
    }
    response
}

/// The primary rate limit around the handler: refused while spent, charged
/// unless answered 304.
async fn limited(sim: &Shared, route: &str, request: Request, next: Next) -> Response {
    if let Some(reset) = sim.faults.rate_limited_until() {
        let spent = Standing {
            limit: RATE_LIMIT,
            used: RATE_LIMIT,
            remaining: 0,
            reset,
            retry_after: 0,
        };
        return rate_limit_exceeded(&spent);
    }
    let charged = !UNCHARGED.contains(&route) && route != ACCESS_TOKENS;
    let key = rate_key(sim, request.headers());
    if charged
        && let Some(spent) = sim
            .budget
            .standing("core", &key)
            .filter(|s| s.remaining == 0)
    {
        return rate_limit_exceeded(&spent);
    }
    let if_none_match = request.headers().get(IF_NONE_MATCH).cloned();
    let mut response = with_etag(next.run(request).await, if_none_match).await;
    let not_modified = response.status() == StatusCode::NOT_MODIFIED;
    if not_modified {
        lock(&sim.stats).not_modified += 1;
    }
    // Conditional requests answered 304 do not count against the limit.
    let standing = if charged && !not_modified {
        sim.budget.charge("core", &key, 1).unwrap_or_else(Some)
    } else {
        sim.budget.standing("core", &key)
    };
    if let Some(standing) = standing
        && route != "/graphql"
    {
        rate_headers(response.headers_mut(), &standing, "core");
    }
    response
}

const TOKEN_KEY: &str = "token";

fn installation_key(installation_id: u64) -> String {
    format!("installation:{installation_id}")
}

/// Whom GitHub counts a request against: the scenario token, or the App
/// installation whose token it presents (its tokens share one budget).
fn rate_key(sim: &Shared, headers: &HeaderMap) -> String {
    let installation = presented(headers).and_then(|presented| {
        lock(&sim.app)
            .as_ref()
            .filter(|app| app.accepts(presented, SystemTime::now()))
            .map(app::App::installation_id)
    });
    installation.map_or_else(|| TOKEN_KEY.to_owned(), installation_key)
}

/// GitHub's answer once the primary limit is spent.
fn rate_limit_exceeded(spent: &Standing) -> Response {
    let mut response = error(
        StatusCode::FORBIDDEN,
        "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
    );
    rate_headers(response.headers_mut(), spent, "core");
    response
}

/// `GET /rate_limit`: free, the shape of the fixture. A GHES with rate
/// limiting off answers 404.
async fn rate_limit(State(sim): Sim, headers: HeaderMap) -> Response {
    let key = rate_key(&sim, &headers);
    let resource = |bucket: &str| {
        sim.budget.standing(bucket, &key).map(|s| {
            json!({"limit": s.limit, "used": s.used, "remaining": s.remaining, "reset": s.reset})
        })
    };
    let (Some(core), Some(graphql)) = (resource("core"), resource("graphql")) else {
        return error(StatusCode::NOT_FOUND, "Rate limiting is not enabled.");
    };
    axum::Json(json!({
        "resources": {"core": core.clone(), "graphql": graphql},
        "rate": core,
    }))
    .into_response()
}

/// The credential after `Bearer ` or `token `.
fn presented(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("token "))
}

/// The scenario token, or an installation token that has not expired.
fn authorized(sim: &Shared, headers: &HeaderMap) -> bool {
    let Some(presented) = presented(headers) else {
        return false;
    };
    presented == lock(&sim.state).token
        || lock(&sim.app)
            .as_ref()
            .is_some_and(|app| app.accepts(presented, SystemTime::now()))
}

async fn access_tokens(
    State(sim): Sim,
    Path(installation_id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    let jwt = presented(&headers).unwrap_or_default();
    let issued = match lock(&sim.app).as_mut() {
        Some(app) => app.exchange(jwt, installation_id, SystemTime::now()),
        None => Err((401, "A JSON web token could not be decoded")),
    };
    match issued {
        Ok(issued) => {
            let expires_at = time::OffsetDateTime::from(issued.expires_at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let body = json!({
                "token": issued.token,
                "expires_at": expires_at,
                "permissions": {"contents": "read", "members": "read", "metadata": "read"},
                "repository_selection": "all",
            });
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        Err((status, message)) => error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED),
            message,
        ),
    }
}

/// The `x-ratelimit-*` headers GitHub sends with every response.
fn rate_headers(headers: &mut HeaderMap, standing: &Standing, resource: &str) {
    for (name, value) in [
        ("x-ratelimit-limit", standing.limit.to_string()),
        ("x-ratelimit-remaining", standing.remaining.to_string()),
        ("x-ratelimit-reset", standing.reset.to_string()),
        ("x-ratelimit-used", standing.used.to_string()),
        ("x-ratelimit-resource", resource.to_owned()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// Adds a strong ETag (SHA-1 of the body) to JSON 200s and turns them into
/// 304 when the client already holds that ETag.
async fn with_etag(response: Response, if_none_match: Option<HeaderValue>) -> Response {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != StatusCode::OK || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error");
    };
    let etag = format!("\"{}\"", hex::encode(Sha1::digest(&bytes)));
    let matches = if_none_match
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        });
    if let Ok(value) = HeaderValue::from_str(&etag) {
        parts.headers.insert(ETAG, value);
    }
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(CONTENT_TYPE);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// One page of `items` with GitHub's Link header.
fn page(base: &str, uri: &Uri, query: &ListQuery, items: Vec<Value>) -> Response {
    let per_page = query.per_page.unwrap_or(30).clamp(1, 100);
    let current = query.page.unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let slice: Vec<Value> = items
        .into_iter()
        .skip((current - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let others: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page="))
        .collect();
    let link = |n: usize, rel: &str| {
        let mut params = others.clone();
        let page = format!("page={n}");
        params.push(&page);
        format!("<{base}{}?{}>; rel=\"{rel}\"", uri.path(), params.join("&"))
    };
    let mut links = Vec::new();
    if current > 1 {
        links.push(link(current - 1, "prev"));
    }
    if current < last {
        links.push(link(current + 1, "next"));
        links.push(link(last, "last"));
    }
    if current > 1 {
        links.push(link(1, "first"));
    }
    let mut response = axum::Json(slice).into_response();
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        response.headers_mut().insert(LINK, value);
    }
    response
}

async fn user(State(sim): Sim) -> Response {
    let state = lock(&sim.state);
    axum::Json(json::viewer(&state, &sim.base)).into_response()
}

async fn org(State(sim): Sim, Path(org): Path<String>) -> Response {
    let state = lock(&sim.state);
    if org != state.login {
        return not_found();
    }
    axum::Json(json::org(&state, &sim.base)).into_response()
}

async fn org_members(
    State(sim): Sim,
    Path(org): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    if org != state.login {
        return not_found();
    }
    let role = query.role.as_deref().unwrap_or("all");
    let mut users: Vec<_> = state
        .users
        .values()
        .filter(|u| match role {
            "admin" => u.admin,
            "member" => !u.admin,
            _ => true,
        })
        .collect();
    users.sort_by_key(|u| u.id);
    let items = users.iter().map(|u| json::user(u, &sim.base)).collect();
    page(&sim.base, &uri, &query, items)
}

async fn teams(
    State(sim): Sim,
    Path(org): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    if org != state.login {
        return not_found();
    }
    let mut teams: Vec<_> = state.teams.values().collect();
    teams.sort_by_key(|t| t.id);
    let items = teams
        .iter()
        .map(|t| json::team(&state, t, &sim.base))
        .collect();
    page(&sim.base, &uri, &query, items)
}

async fn team(State(sim): Sim, Path((org, slug)): Path<(String, String)>) -> Response {
    let state = lock(&sim.state);
    match state.teams.get(&slug).filter(|_| org == state.login) {
        Some(team) => axum::Json(json::team(&state, team, &sim.base)).into_response(),
        None => not_found(),
    }
}

async fn team_members(
    State(sim): Sim,
    Path((org, slug)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    let Some(team) = state.teams.get(&slug).filter(|_| org == state.login) else {
        return not_found();
    };
    let mut users: Vec<_> = team
        .members
        .iter()
        .filter_map(|login| state.users.get(login))
        .collect();
    users.sort_by_key(|u| u.id);
    let items = users
        .iter()
        .map(|u| json::team_member(u, &sim.base))
        .collect();
    page(&sim.base, &uri, &query, items)
}

async fn team_repos(
    State(sim): Sim,
    Path((org, slug)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    let Some(team) = state.teams.get(&slug).filter(|_| org == state.login) else {
        return not_found();
    };
    let mut repos: Vec<_> = team
        .repos
        .iter()
        .filter_map(|(name, role)| Some((state.repos.get(name)?, *role)))
        .collect();
    repos.sort_by_key(|(r, _)| r.id);
    let items = repos
        .iter()
        .map(|(r, role)| json::repo(&state, r, *role, &sim.base))
        .collect();
    page(&sim.base, &uri, &query, items)
}

async fn org_repos(
    State(sim): Sim,
    Path(org): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    if org != state.login {
        return not_found();
    }
    let mut repos: Vec<_> = state.repos.values().collect();
    repos.sort_by_key(|r| r.id);
    // The token belongs to an org owner, who administers every repository.
    let items = repos
        .iter()
        .map(|r| json::repo(&state, r, RepoRole::Admin, &sim.base))
        .collect();
    page(&sim.base, &uri, &query, items)
}

async fn repo(State(sim): Sim, Path((owner, repo)): Path<(String, String)>) -> Response {
    let state = lock(&sim.state);
    match state.repos.get(&repo).filter(|_| owner == state.login) {
        // The token belongs to an org owner, as for the org listing.
        Some(repo) => {
            axum::Json(json::repo(&state, repo, RepoRole::Admin, &sim.base)).into_response()
        }
        None => not_found(),
    }
}

async fn branches(
    State(sim): Sim,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    ref_listing(&sim, &owner, &repo, &query, &uri, |state, repo| {
        repo.git
            .branches
            .iter()
            .map(|(name, sha)| json::branch(state, repo, name, sha, &sim.base))
            .collect()
    })
}

async fn tags(
    State(sim): Sim,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    // GitHub lists the newest tags first.
    ref_listing(&sim, &owner, &repo, &query, &uri, |state, repo| {
        repo.git
            .tags
            .iter()
            .rev()
            .map(|(name, sha)| json::tag(state, repo, name, sha, &sim.base))
            .collect()
    })
}

/// One page of a repository's refs, or 404 for a repository not in the org.
fn ref_listing(
    sim: &Shared,
    owner: &str,
    repo: &str,
    query: &ListQuery,
    uri: &Uri,
    items: impl FnOnce(&state::State, &state::Repo) -> Vec<Value>,
) -> Response {
    let state = lock(&sim.state);
    let Some(repo) = state.repos.get(repo).filter(|_| owner == state.login) else {
        return not_found();
    };
    page(&sim.base, uri, query, items(&state, repo))
}

async fn contents(
    State(sim): Sim,
    Path((owner, repo, path)): Path<(String, String, String)>,
    Query(query): Query<RefQuery>,
) -> Response {
    let state = lock(&sim.state);
    let Some(repo) = state.repos.get(&repo).filter(|_| owner == state.login) else {
        return not_found();
    };
    let reference = query
        .reference
        .as_deref()
        .unwrap_or(&repo.git.default_branch);
    let Some(sha) = repo.git.resolve(reference) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("No commit found for the ref {reference}"),
        );
    };
    match repo.git.commits.get(sha) {
        Some(Some(composer)) if path == "composer.json" => axum::Json(json::content(
            &state, repo, &path, reference, composer, &sim.base,
        ))
        .into_response(),
        _ => not_found(),
    }
}

async fn zipball(
    State(sim): Sim,
    Path((owner, repo, reference)): Path<(String, String, String)>,
) -> Response {
    let state = lock(&sim.state);
    let Some(repo) = state.repos.get(&repo).filter(|_| owner == state.login) else {
        return not_found();
    };
    let Some(sha) = repo.git.resolve(&reference) else {
        return not_found();
    };
    let location = format!(
        "{}/_codeload/{owner}/{}/legacy.zip/{sha}",
        sim.base, repo.name
    );
    match HeaderValue::from_str(&location) {
        Ok(location) => (StatusCode::FOUND, [(LOCATION, location)]).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"),
    }
}

async fn codeload(
    State(sim): Sim,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Response {
    let composer = {
        let state = lock(&sim.state);
        let Some(repo) = state.repos.get(&repo).filter(|_| owner == state.login) else {
            return not_found();
        };
        let Some(composer) = repo.git.commits.get(&sha) else {
            return not_found();
        };
        composer.clone()
    };
    let top = format!("{owner}-{repo}-{}", &sha[..sha.len().min(7)]);
    let layout = archive::Layout {
        top: Some(&top),
        comment: None,
    };
    match archive::zip(
        layout,
        &format!("{owner}/{repo}"),
        &sha,
        composer.as_deref(),
    ) {
        Ok(zip) => {
            let disposition = format!(
                "attachment; filename={owner}-{repo}-{}.zip",
                &sha[..sha.len().min(7)]
            );
            let mut response = zip.into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/zip"));
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"),
    }
}
