//! The simulator's HTTP side: routes, the request gate (counting, faults,
//! auth, rate limit), Bitbucket's page envelope and error bodies, and one
//! handler per endpoint.

use super::super::archive;
use super::super::budget::Standing;
use super::super::hook_change::{HookChange, Refusal};
use super::super::webhooks::{Hook, HookScope};
use super::{Shared, json, lock, state};
use crate::domain::RefKind;
use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_TYPE, DATE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde_json::{Value, json};
use std::sync::Arc;

/// Bitbucket's budget buckets, each over a rolling hour (see the module
/// docs of the simulator for their limits).
pub(super) const REPOSITORY_DATA: &str = "repository data";
pub(super) const RAW_FILES: &str = "raw files";
pub(super) const ARCHIVES: &str = "archives";

/// The bucket a request to `path` is charged to; `None` for the endpoints
/// whose limits this simulator does not model (workspaces, groups).
fn bucket(path: &str) -> Option<&'static str> {
    if path.starts_with("/2.0/repositories/") {
        Some(REPOSITORY_DATA)
    } else if path.contains("/raw/") {
        Some(RAW_FILES)
    } else if path.contains("/get/") {
        Some(ARCHIVES)
    } else {
        None
    }
}

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/2.0/workspaces/{ws}", get(workspace))
        .route("/2.0/workspaces/{ws}/permissions", get(permissions))
        .route("/1.0/groups/{ws}", get(groups))
        .route("/2.0/repositories/{ws}", get(repositories))
        .route("/2.0/repositories/{ws}/{slug}", get(repository))
        .route(
            "/2.0/repositories/{ws}/{slug}/permissions-config/groups",
            get(group_permissions),
        )
        .route(
            "/2.0/repositories/{ws}/{slug}/hooks",
            get(hooks).post(create_hook),
        )
        .route(
            "/2.0/repositories/{ws}/{slug}/hooks/{uid}",
            get(hook).put(update_hook).delete(delete_hook),
        )
        .route("/2.0/repositories/{ws}/{slug}/refs", get(refs))
        .route("/2.0/repositories/{ws}/{slug}/refs/branches", get(branches))
        .route("/2.0/repositories/{ws}/{slug}/refs/tags", get(tags))
        .route(
            "/2.0/repositories/{ws}/{slug}/src/{commit}/{*path}",
            get(source),
        )
        .route("/{ws}/{slug}/get/{file}", get(download))
        .route("/{ws}/{slug}/raw/{commit}/{*path}", get(source))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Resource not found") })
        .layer(from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

type Sim = State<Arc<Shared>>;

#[derive(Debug, serde::Deserialize)]
struct ListQuery {
    pagelen: Option<usize>,
    page: Option<usize>,
    q: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "type": "error", "error": { "message": message } })),
    )
        .into_response()
}

/// Counting, latency, injected failures, auth and the rate limit run before
/// the handler; rate-limit headers after it.
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
    let path = request.uri().path().to_owned();
    if let Some(status) = sim.faults.take_failure(&path) {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = error(status, status.canonical_reason().unwrap_or("Error"));
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        return response;
    }
    let access_token = {
        let state = lock(&sim.state);
        match credential(request.headers(), &state.token, &state.username()) {
            Some(access_token) => access_token,
            None => return error(StatusCode::UNAUTHORIZED, "Invalid or expired credentials"),
        }
    };
    let mut response = limited(&sim, &path, access_token, request, next).await;
    if let Ok(date) = HeaderValue::from_str(&sim.budget.clock().http_date()) {
        response.headers_mut().insert(DATE, date);
    }
    response
}

/// The rolling-hour limits around the handler: a spent bucket answers 429
/// with `Retry-After`; otherwise the request is charged.
async fn limited(
    sim: &Shared,
    path: &str,
    access_token: bool,
    request: Request,
    next: Next,
) -> Response {
    let key = if access_token { "access token" } else { "user" };
    let charged = match (sim.faults.retry_after(), bucket(path)) {
        (Some(wait), _) => Err(wait),
        (None, Some(bucket)) => sim
            .budget
            .charge(bucket, key, 1)
            .map_err(|spent| spent.retry_after.max(1)),
        (None, None) => Ok(None),
    };
    let standing = match charged {
        Ok(standing) => standing,
        Err(wait) => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit for this resource has been exceeded",
            );
            if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            return response;
        }
    };
    let mut response = next.run(request).await;
    // Bitbucket sends its rate-limit headers only to access tokens, on the
    // scaled `/2.0/repositories/*` resource group: the limit and whether
    // less than a fifth of it is left, never a count or a reset.
    if access_token
        && bucket(path) == Some(REPOSITORY_DATA)
        && let Some(Standing {
            limit, remaining, ..
        }) = standing
    {
        let near = if remaining * 5 < limit {
            "true"
        } else {
            "false"
        };
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&limit.to_string()) {
            headers.insert("x-ratelimit-limit", value);
        }
        headers.insert("x-ratelimit-resource", HeaderValue::from_static("api"));
        headers.insert("x-ratelimit-nearlimit", HeaderValue::from_static(near));
    }
    response
}

/// `Some(true)` for the access token as Bearer, `Some(false)` for Basic
/// `username:token`, `None` when neither matches.
fn credential(headers: &HeaderMap, token: &str, username: &str) -> Option<bool> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    if let Some(bearer) = value.strip_prefix("Bearer ") {
        return (bearer == token).then_some(true);
    }
    let basic = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim())
        .ok()?;
    let expected = format!("{username}:{token}");
    (decoded == expected.as_bytes()).then_some(false)
}

/// One page of `items` in Bitbucket's envelope, `next` an absolute URL.
fn page(base: &str, uri: &Uri, query: &ListQuery, items: Vec<Value>) -> Response {
    let pagelen = query.pagelen.unwrap_or(10).clamp(1, 100);
    let current = query.page.unwrap_or(1).max(1);
    let size = items.len();
    let values: Vec<Value> = items
        .into_iter()
        .skip((current - 1).saturating_mul(pagelen))
        .take(pagelen)
        .collect();
    let mut body = json!({ "pagelen": pagelen, "size": size, "page": current, "values": values });
    if current.saturating_mul(pagelen) < size {
        let mut params: Vec<String> = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("page="))
            .map(str::to_owned)
            .collect();
        params.push(format!("page={}", current + 1));
        body["next"] = json!(format!("{base}{}?{}", uri.path(), params.join("&")));
    }
    axum::Json(body).into_response()
}

fn no_workspace(ws: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("No workspace with identifier '{ws}'."),
    )
}

async fn workspace(State(sim): Sim, Path(ws): Path<String>) -> Response {
    let state = lock(&sim.state);
    if ws != state.slug {
        return no_workspace(&ws);
    }
    axum::Json(json::workspace(&state, &sim.base)).into_response()
}

/// Workspace memberships, filtered by BBQL `permission="…"` when asked.
async fn permissions(
    State(sim): Sim,
    Path(ws): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    if ws != state.slug {
        return no_workspace(&ws);
    }
    let wanted = query.q.as_deref().map(|q| {
        q.trim()
            .trim_start_matches("permission")
            .trim()
            .trim_start_matches('=')
            .trim()
            .trim_matches('"')
            .to_owned()
    });
    let items = state
        .users
        .values()
        .filter(|u| {
            let permission = if u.owner { "owner" } else { "member" };
            wanted.as_deref().is_none_or(|w| w == permission)
        })
        .map(|u| json::membership(&state, u, &sim.base))
        .collect();
    page(&sim.base, &uri, &query, items)
}

/// The 1.0 groups resource: a plain JSON array, members inline, no pages.
async fn groups(State(sim): Sim, Path(ws): Path<String>) -> Response {
    let state = lock(&sim.state);
    if ws != state.slug {
        return no_workspace(&ws);
    }
    let groups: Vec<Value> = state
        .groups
        .values()
        .map(|g| json::group(&state, g, &sim.base))
        .collect();
    axum::Json(groups).into_response()
}

async fn repositories(
    State(sim): Sim,
    Path(ws): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    if ws != state.slug {
        return no_workspace(&ws);
    }
    let items = state
        .repos
        .values()
        .map(|r| json::repo(&state, r, &sim.base))
        .collect();
    page(&sim.base, &uri, &query, items)
}

async fn repository(State(sim): Sim, Path((ws, slug)): Path<(String, String)>) -> Response {
    let state = lock(&sim.state);
    match state.repos.get(&slug).filter(|_| ws == state.slug) {
        Some(repo) => Json(json::repo(&state, repo, &sim.base)).into_response(),
        None => no_repo(&ws, &slug),
    }
}

/// A page built from one repository, or Bitbucket's 404 for a missing one.
fn repo_listing(
    sim: &Shared,
    (ws, slug): (&str, &str),
    query: &ListQuery,
    uri: &Uri,
    items: impl FnOnce(&state::State, &state::Repo) -> Vec<Value>,
) -> Response {
    let state = lock(&sim.state);
    let Some(repo) = state.repos.get(slug).filter(|_| ws == state.slug) else {
        return no_repo(ws, slug);
    };
    page(&sim.base, uri, query, items(&state, repo))
}

async fn group_permissions(
    State(sim): Sim,
    Path((ws, slug)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    repo_listing(&sim, (&ws, &slug), &query, &uri, |state, repo| {
        state
            .groups
            .values()
            .filter_map(|g| Some((g, *g.repos.get(&repo.slug)?)))
            .map(|(g, role)| json::group_permission(state, repo, g, role, &sim.base))
            .collect()
    })
}

/// How one ref is shown in a listing (`json::branch` or `json::tag`).
type RefShape = fn(&state::State, &state::Repo, &str, &str, &str) -> Value;

/// The branches or the tags of `repo` as Bitbucket lists them.
fn ref_values<'a>(
    state: &'a state::State,
    repo: &'a state::Repo,
    base: &'a str,
    kind: RefKind,
) -> impl Iterator<Item = Value> + 'a {
    let (refs, shape): (_, RefShape) = match kind {
        RefKind::Branch => (&repo.git.branches, json::branch),
        RefKind::Tag => (&repo.git.tags, json::tag),
    };
    refs.iter()
        .map(move |(name, sha)| shape(state, repo, name, sha, base))
}

async fn branches(
    State(sim): Sim,
    Path((ws, slug)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    repo_listing(&sim, (&ws, &slug), &query, &uri, |state, repo| {
        ref_values(state, repo, &sim.base, RefKind::Branch).collect()
    })
}

/// Branches and tags in one listing, as `/refs` lists them.
async fn refs(
    State(sim): Sim,
    Path((ws, slug)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    repo_listing(&sim, (&ws, &slug), &query, &uri, |state, repo| {
        ref_values(state, repo, &sim.base, RefKind::Branch)
            .chain(ref_values(state, repo, &sim.base, RefKind::Tag))
            .collect()
    })
}

async fn tags(
    State(sim): Sim,
    Path((ws, slug)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    repo_listing(&sim, (&ws, &slug), &query, &uri, |state, repo| {
        ref_values(state, repo, &sim.base, RefKind::Tag).collect()
    })
}

/// A file's raw bytes at a commit (or ref), as the API's `/src` and the web
/// host's `/raw` serve files.
async fn source(
    State(sim): Sim,
    Path((ws, slug, commit, path)): Path<(String, String, String, String)>,
) -> Response {
    let state = lock(&sim.state);
    let Some(repo) = state.repos.get(&slug).filter(|_| ws == state.slug) else {
        return no_repo(&ws, &slug);
    };
    let Some(sha) = repo.git.resolve(&commit) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("Commit not found: {commit}"),
        );
    };
    match repo.git.commits.get(sha) {
        Some(Some(composer)) if path == "composer.json" => (
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            composer.clone(),
        )
            .into_response(),
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("No such file or directory: {path}"),
        ),
    }
}

/// `{ws}/{slug}/get/{commit}.zip` on the web host.
async fn download(
    State(sim): Sim,
    Path((ws, slug, file)): Path<(String, String, String)>,
) -> Response {
    let not_found = || error(StatusCode::NOT_FOUND, "Not found");
    let Some(reference) = file.strip_suffix(".zip") else {
        return not_found();
    };
    let (sha, composer) = {
        let state = lock(&sim.state);
        let Some(repo) = state.repos.get(&slug).filter(|_| ws == state.slug) else {
            return not_found();
        };
        let Some(sha) = repo.git.resolve(reference) else {
            return not_found();
        };
        (sha.to_owned(), repo.git.commits.get(sha).cloned().flatten())
    };
    // Bitbucket names the top folder with the first 12 hex digits of the commit.
    let short = &sha[..sha.len().min(12)];
    let top = format!("{ws}-{slug}-{short}");
    let layout = archive::Layout {
        top: Some(&top),
        comment: None,
    };
    match archive::zip(layout, &format!("{ws}/{slug}"), &sha, composer.as_deref()) {
        Ok(zip) => {
            let disposition = format!("attachment; filename=\"{ws}-{slug}-{short}.zip\"");
            let mut response = zip.into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/zip"));
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
    }
}

/// The events a repository hook may subscribe to, as Bitbucket lists them
/// (`GET /2.0/hook_events/repository`). Workspace events such as
/// `repo:created` are refused on a repository.
const REPOSITORY_EVENTS: [&str; 22] = [
    "repo:push",
    "repo:fork",
    "repo:updated",
    "repo:commit_comment_created",
    "repo:commit_status_created",
    "repo:commit_status_updated",
    "issue:created",
    "issue:updated",
    "issue:comment_created",
    "pullrequest:created",
    "pullrequest:updated",
    "pullrequest:approved",
    "pullrequest:unapproved",
    "pullrequest:fulfilled",
    "pullrequest:rejected",
    "pullrequest:comment_created",
    "pullrequest:comment_updated",
    "pullrequest:comment_deleted",
    "pullrequest:comment_resolved",
    "pullrequest:comment_reopened",
    "pullrequest:changes_request_created",
    "pullrequest:changes_request_removed",
];

/// A hook as clients send it; on update, absent fields stay as they are.
#[derive(Debug, serde::Deserialize)]
struct HookBody {
    description: Option<String>,
    url: Option<String>,
    active: Option<bool>,
    events: Option<Vec<String>>,
    secret: Option<String>,
}

impl HookBody {
    /// The description (which only Bitbucket Cloud has), and the rest.
    fn split(self) -> (Option<String>, HookChange) {
        let change = HookChange {
            url: self.url,
            secret: self.secret,
            events: self.events,
            active: self.active,
        };
        (self.description, change)
    }
}

/// Bitbucket's 400: the message and the field at fault.
fn bad_request((field, problem): Refusal) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "type": "error",
            "error": { "message": "Bad request", "fields": { field: [problem] } },
        })),
    )
        .into_response()
}

fn no_repo(ws: &str, slug: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("Repository {ws}/{slug} not found"),
    )
}

/// Hook `uid` of the repository, with or without the braces.
fn find_hook(sim: &Shared, slug: &str, uid: &str) -> Option<Hook> {
    let wanted = uid.trim_matches(['{', '}']);
    sim.webhooks
        .list(&HookScope::Repo(slug.to_owned()))
        .into_iter()
        .find(|h| json::hook_uuid(h.id).trim_matches(['{', '}']) == wanted)
}

async fn hooks(
    State(sim): Sim,
    Path((ws, slug)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    repo_listing(&sim, (&ws, &slug), &query, &uri, |state, repo| {
        sim.webhooks
            .list(&HookScope::Repo(repo.slug.clone()))
            .iter()
            .map(|h| json::hook(state, repo, h, &sim.base))
            .collect()
    })
}

async fn create_hook(
    State(sim): Sim,
    Path((ws, slug)): Path<(String, String)>,
    Json(body): Json<HookBody>,
) -> Response {
    let mut state = lock(&sim.state);
    if ws != state.slug || !state.repos.contains_key(&slug) {
        return no_repo(&ws, &slug);
    }
    let (description, change) = body.split();
    if let Some(refusal) = change.refusal(true, &REPOSITORY_EVENTS) {
        return bad_request(refusal);
    }
    let hook = change.create(&sim.webhooks, HookScope::Repo(slug.clone()));
    state
        .hook_descriptions
        .insert(hook.id, description.unwrap_or_default());
    hook_response(&sim, &state, &slug, &hook, StatusCode::CREATED)
}

/// A hook of repository `slug` as Bitbucket shows it, with `status`.
fn hook_response(
    sim: &Shared,
    state: &state::State,
    slug: &str,
    hook: &Hook,
    status: StatusCode,
) -> Response {
    match state.repos.get(slug) {
        Some(repo) => (status, Json(json::hook(state, repo, hook, &sim.base))).into_response(),
        None => no_repo(&state.slug, slug),
    }
}

fn no_hook(uid: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("No webhook with UUID {uid} exists on this repository."),
    )
}

async fn hook(State(sim): Sim, Path((ws, slug, uid)): Path<(String, String, String)>) -> Response {
    let state = lock(&sim.state);
    if ws != state.slug || !state.repos.contains_key(&slug) {
        return no_repo(&ws, &slug);
    }
    match find_hook(&sim, &slug, &uid) {
        Some(hook) => hook_response(&sim, &state, &slug, &hook, StatusCode::OK),
        None => no_hook(&uid),
    }
}

async fn update_hook(
    State(sim): Sim,
    Path((ws, slug, uid)): Path<(String, String, String)>,
    Json(body): Json<HookBody>,
) -> Response {
    let mut state = lock(&sim.state);
    if ws != state.slug || !state.repos.contains_key(&slug) {
        return no_repo(&ws, &slug);
    }
    let Some(found) = find_hook(&sim, &slug, &uid) else {
        return no_hook(&uid);
    };
    let (description, change) = body.split();
    if let Some(refusal) = change.refusal(false, &REPOSITORY_EVENTS) {
        return bad_request(refusal);
    }
    let scope = HookScope::Repo(slug.clone());
    let Some(hook) = change.update(&sim.webhooks, &scope, found.id) else {
        return no_hook(&uid);
    };
    if let Some(description) = description {
        state.hook_descriptions.insert(hook.id, description);
    }
    hook_response(&sim, &state, &slug, &hook, StatusCode::OK)
}

async fn delete_hook(
    State(sim): Sim,
    Path((ws, slug, uid)): Path<(String, String, String)>,
) -> Response {
    let mut state = lock(&sim.state);
    if ws != state.slug || !state.repos.contains_key(&slug) {
        return no_repo(&ws, &slug);
    }
    let Some(hook) = find_hook(&sim, &slug, &uid) else {
        return no_hook(&uid);
    };
    sim.webhooks.delete(&HookScope::Repo(slug), hook.id);
    state.hook_descriptions.remove(&hook.id);
    StatusCode::NO_CONTENT.into_response()
}
