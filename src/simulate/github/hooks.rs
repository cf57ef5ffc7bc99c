//! The simulator's webhooks: GitHub's hook REST API over the shared
//! [`Webhooks`](super::super::webhooks::Webhooks) registry, and the payloads
//! mutations deliver.
//!
//! Endpoints (`/orgs/{org}/hooks[/{hook_id}]` and
//! `/repos/{owner}/{repo}/hooks[/{hook_id}]`) answer as GitHub does: 201 on
//! create, 204 on delete, 422 "Validation Failed" for a missing URL or a
//! second hook with the same URL, 404 for an unknown hook, Link pagination
//! on lists, the secret shown as `********`. Tokens are not checked for the
//! `admin:org_hook` scope; tests refuse org hooks with
//! [`Faults::fail_next`](super::super::Faults::fail_next).
//!
//! Deliveries carry `X-GitHub-Event`, `X-GitHub-Delivery`, the
//! `X-GitHub-Hook-*` headers and, for a hook with a secret,
//! `X-Hub-Signature-256`. Organization hooks hear every event; repository
//! hooks hear their repository's pushes, refs and releases only (GitHub
//! sends team and membership events to organization hooks, and deletes a
//! repository's hooks with it).

use super::super::scenario::RepoRole;
use super::super::webhooks::{Event, Hook, HookScope};
use super::json;
use super::state::{Repo, State};
use super::{ListQuery, Shared, Sim, error, lock, not_found, page};
use crate::domain::{RefKind, hub_signature};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
// `super::json` names both the payload module and, through the parent's
// import, serde_json's `json!` macro.
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A push's `before` when the ref did not exist.
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

pub(super) fn routes() -> Router<Arc<Shared>> {
    let list = get(list_hooks).post(create_hook);
    let one = get(get_hook).patch(update_hook).delete(delete_hook);
    Router::new()
        .route("/orgs/{org}/hooks", list.clone())
        .route("/orgs/{org}/hooks/{hook_id}", one.clone())
        .route("/repos/{owner}/{repo}/hooks", list)
        .route("/repos/{owner}/{repo}/hooks/{hook_id}", one)
}

type Params = Path<HashMap<String, String>>;

/// The hooks a path names (`{org}`, or `{owner}/{repo}`), when it exists.
fn scope(sim: &Shared, params: &HashMap<String, String>) -> Option<HookScope> {
    let state = lock(&sim.state);
    match (params.get("org"), params.get("owner"), params.get("repo")) {
        (Some(org), _, _) => (*org == state.login).then_some(HookScope::Org),
        (None, Some(owner), Some(repo)) => (*owner == state.login
            && state.repos.contains_key(repo))
        .then(|| HookScope::Repo(repo.clone())),
        _ => None,
    }
}

/// The scope and the hook a path names, when both exist.
fn existing(sim: &Shared, params: &HashMap<String, String>) -> Option<(HookScope, Hook)> {
    let scope = scope(sim, params)?;
    let id = params.get("hook_id")?.parse().ok()?;
    let hook = sim.webhooks.get(&scope, id)?;
    Some((scope, hook))
}

/// Why GitHub will not save a hook: a body that is not JSON (400), or one
/// that fails validation (422 with the error).
enum Refusal {
    Unparsable,
    Invalid(Value),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unparsable => error(StatusCode::BAD_REQUEST, "Problems parsing JSON"),
            Refusal::Invalid(error) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({
                    "message": "Validation Failed",
                    "errors": [error],
                    "documentation_url": "https://docs.github.com/rest/webhooks",
                })),
            )
                .into_response(),
        }
    }
}

/// The body of `POST` and `PATCH`; absent fields keep their value (or get
/// GitHub's default on create).
#[derive(serde::Deserialize)]
struct HookRequest {
    name: Option<String>,
    config: Option<ConfigRequest>,
    events: Option<Vec<String>>,
    active: Option<bool>,
}

#[derive(serde::Deserialize)]
struct ConfigRequest {
    url: Option<String>,
    secret: Option<String>,
}

/// A create or update that passed GitHub's checks.
struct Checked {
    events: Option<Vec<String>>,
    active: Option<bool>,
    /// The delivery URL and secret, when a config was sent.
    config: Option<(String, Option<String>)>,
}

/// Reads and checks a create or update against the other hooks of `scope`
/// (all but `id`).
fn read_request(
    body: &[u8],
    scope: &HookScope,
    sim: &Shared,
    id: Option<u64>,
) -> Result<Checked, Refusal> {
    let request: HookRequest = serde_json::from_slice(body).map_err(|_| Refusal::Unparsable)?;
    match request.name.as_deref() {
        Some("web") => {}
        Some(_) => {
            return Err(Refusal::Invalid(
                json!({"resource": "Hook", "code": "invalid", "field": "name"}),
            ));
        }
        // Organization hooks must name their kind; repository hooks default
        // to "web".
        None if id.is_none() && *scope == HookScope::Org => {
            return Err(Refusal::Invalid(
                json!({"resource": "Hook", "code": "missing_field", "field": "name"}),
            ));
        }
        None => {}
    }
    let mut checked = Checked {
        events: request.events,
        active: request.active,
        config: None,
    };
    let Some(config) = request.config else {
        return Ok(checked);
    };
    let Some(url) = config.url.filter(|u| !u.is_empty()) else {
        return Err(Refusal::Invalid(
            json!({"resource": "Hook", "code": "custom", "message": "url is missing"}),
        ));
    };
    let taken = sim
        .webhooks
        .list(scope)
        .iter()
        .any(|h| h.url == url && Some(h.id) != id);
    if taken {
        let on = match scope {
            HookScope::Org => "organization",
            HookScope::Repo(_) => "repository",
        };
        return Err(Refusal::Invalid(json!({
            "resource": "Hook",
            "code": "custom",
            "message": format!("Hook already exists on this {on}"),
        })));
    }
    checked.config = Some((url, config.secret.filter(|s| !s.is_empty())));
    Ok(checked)
}

async fn list_hooks(
    AxumState(sim): Sim,
    Path(params): Params,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let Some(scope) = scope(&sim, &params) else {
        return not_found();
    };
    let hooks = sim.webhooks.list(&scope);
    let state = lock(&sim.state);
    let items = hooks
        .iter()
        .map(|h| json::hook(&state, h, &sim.base))
        .collect();
    page(&sim.base, &uri, &query, items)
}

async fn create_hook(AxumState(sim): Sim, Path(params): Params, body: Bytes) -> Response {
    let Some(scope) = scope(&sim, &params) else {
        return not_found();
    };
    let checked = match read_request(&body, &scope, &sim, None) {
        Ok(checked) => checked,
        Err(refusal) => return refusal.into_response(),
    };
    let Some((url, secret)) = checked.config else {
        let missing = json!({"resource": "Hook", "code": "missing_field", "field": "config"});
        return Refusal::Invalid(missing).into_response();
    };
    let events = checked.events.unwrap_or_else(|| vec!["push".to_owned()]);
    let active = checked.active.unwrap_or(true);
    let hook = sim.webhooks.create(scope, &url, secret, events, active);
    let state = lock(&sim.state);
    (
        StatusCode::CREATED,
        axum::Json(json::hook(&state, &hook, &sim.base)),
    )
        .into_response()
}

async fn get_hook(AxumState(sim): Sim, Path(params): Params) -> Response {
    let Some((_, hook)) = existing(&sim, &params) else {
        return not_found();
    };
    let state = lock(&sim.state);
    axum::Json(json::hook(&state, &hook, &sim.base)).into_response()
}

/// GitHub replaces `config` whole: a config sent without its secret leaves
/// the hook unsigned.
async fn update_hook(AxumState(sim): Sim, Path(params): Params, body: Bytes) -> Response {
    let Some((scope, hook)) = existing(&sim, &params) else {
        return not_found();
    };
    let checked = match read_request(&body, &scope, &sim, Some(hook.id)) {
        Ok(checked) => checked,
        Err(refusal) => return refusal.into_response(),
    };
    let updated = sim.webhooks.update(&scope, hook.id, |h| {
        if let Some((url, secret)) = checked.config {
            h.url = url;
            h.secret = secret;
        }
        if let Some(events) = checked.events {
            h.events = events;
        }
        if let Some(active) = checked.active {
            h.active = active;
        }
    });
    let Some(updated) = updated else {
        return not_found();
    };
    let state = lock(&sim.state);
    axum::Json(json::hook(&state, &updated, &sim.base)).into_response()
}

async fn delete_hook(AxumState(sim): Sim, Path(params): Params) -> Response {
    match existing(&sim, &params) {
        Some((scope, hook)) if sim.webhooks.delete(&scope, hook.id) => {
            StatusCode::NO_CONTENT.into_response()
        }
        _ => not_found(),
    }
}

/// An event a mutation delivers, built while the state is locked and sent
/// after it is released.
pub(super) struct Delivery {
    name: &'static str,
    /// The repository's simulator name and id, for its own hooks; `None`:
    /// organization hooks only.
    repo: Option<(String, u64)>,
    body: Value,
}

impl Shared {
    /// Sends each delivery to the hooks that subscribe to it, signed with
    /// each hook's secret.
    pub(super) fn deliver(&self, deliveries: Vec<Delivery>) {
        let org_id = lock(&self.state).org_id;
        for delivery in deliveries {
            let repo_id = delivery.repo.as_ref().map(|(_, id)| *id);
            let event = Event {
                name: delivery.name,
                repo: delivery.repo.as_ref().map(|(name, _)| name.as_str()),
                body: delivery.body.to_string().into_bytes(),
            };
            self.webhooks.deliver(event, |hook, id, body| {
                let (target, target_id) = match &hook.scope {
                    HookScope::Org => ("organization", org_id),
                    HookScope::Repo(_) => ("repository", repo_id.unwrap_or_default()),
                };
                let mut headers = vec![
                    ("User-Agent", "GitHub-Hookshot/packyard-sim".to_owned()),
                    ("X-GitHub-Event", delivery.name.to_owned()),
                    ("X-GitHub-Delivery", id.to_owned()),
                    ("X-GitHub-Hook-ID", hook.id.to_string()),
                    ("X-GitHub-Hook-Installation-Target-Type", target.to_owned()),
                    (
                        "X-GitHub-Hook-Installation-Target-ID",
                        target_id.to_string(),
                    ),
                ];
                if let Some(secret) = &hook.secret {
                    headers.push(("X-Hub-Signature-256", hub_signature(secret, body)));
                }
                headers
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect()
            });
        }
    }

    /// Drops the hooks of a deleted repository, as GitHub does.
    pub(super) fn forget_repo_hooks(&self, repo: &str) {
        let scope = HookScope::Repo(repo.to_owned());
        for hook in self.webhooks.list(&scope) {
            self.webhooks.delete(&scope, hook.id);
        }
    }
}

/// `organization` and `sender`, which every organization event carries.
fn org_fields(state: &State, base: &str, mut body: Value) -> Value {
    body["organization"] = json::org(state, base);
    body["sender"] = json::sender(state, base);
    body
}

/// A change to one ref, as it was before (`None`: it did not exist).
pub(super) struct RefChange<'a> {
    pub repo: &'a str,
    pub kind: RefKind,
    pub name: &'a str,
    pub before: Option<&'a str>,
    pub after: &'a str,
}

/// `push` for a ref moved or created, and `create` for a new one.
pub(super) fn pushed(state: &State, change: &RefChange<'_>, base: &str) -> Vec<Delivery> {
    let Some(repo) = state.repos.get(change.repo) else {
        return Vec::new();
    };
    let (prefix, ref_type) = match change.kind {
        RefKind::Branch => ("refs/heads", "branch"),
        RefKind::Tag => ("refs/tags", "tag"),
    };
    let full = format!("{}/{}", state.login, repo.name);
    let head = json::hook_commit(state, repo, change.after, base);
    let compare = match change.before {
        Some(before) => format!(
            "{base}/{full}/compare/{}...{}",
            &before[..before.len().min(12)],
            &change.after[..change.after.len().min(12)]
        ),
        None => format!("{base}/{full}/compare/{}", change.name),
    };
    // A tag names an existing commit: GitHub lists no commits for it.
    let commits = match change.kind {
        RefKind::Branch => vec![head.clone()],
        RefKind::Tag => Vec::new(),
    };
    let push = org_fields(
        state,
        base,
        json!({
            "ref": format!("{prefix}/{}", change.name),
            "before": change.before.unwrap_or(NO_COMMIT),
            "after": change.after,
            "created": change.before.is_none(),
            "deleted": false,
            // Only a tag is ever moved to an unrelated commit.
            "forced": change.kind == RefKind::Tag && change.before.is_some(),
            "base_ref": Value::Null,
            "compare": compare,
            "commits": commits,
            "head_commit": head,
            "repository": json::hook_repo(state, repo, base, true),
            "pusher": json::pusher(state),
        }),
    );
    let mut deliveries = vec![delivery("push", repo, push)];
    if change.before.is_none() {
        let create = org_fields(
            state,
            base,
            json!({
                "ref": change.name,
                "ref_type": ref_type,
                "master_branch": repo.git.default_branch,
                "description": repo.description,
                "pusher_type": "user",
                "repository": json::hook_repo(state, repo, base, false),
            }),
        );
        deliveries.push(delivery("create", repo, create));
    }
    deliveries
}

/// `delete` for a removed branch or tag.
pub(super) fn deleted(
    state: &State,
    repo: &str,
    kind: RefKind,
    name: &str,
    base: &str,
) -> Vec<Delivery> {
    let Some(repo) = state.repos.get(repo) else {
        return Vec::new();
    };
    let ref_type = match kind {
        RefKind::Branch => "branch",
        RefKind::Tag => "tag",
    };
    let body = org_fields(
        state,
        base,
        json!({
            "ref": name,
            "ref_type": ref_type,
            "pusher_type": "user",
            "repository": json::hook_repo(state, repo, base, false),
        }),
    );
    vec![delivery("delete", repo, body)]
}

fn delivery(name: &'static str, repo: &Repo, body: Value) -> Delivery {
    Delivery {
        name,
        repo: Some((repo.name.clone(), repo.id)),
        body,
    }
}

/// `repository` with `action` (`created`, `deleted`): organization hooks
/// only, since a new repository has no hooks yet and a deleted one's are
/// gone with it.
pub(super) fn repository(state: &State, repo: &str, action: &str, base: &str) -> Vec<Delivery> {
    let Some(repo) = state.repos.get(repo) else {
        return Vec::new();
    };
    let body = org_fields(
        state,
        base,
        json!({
            "action": action,
            "repository": json::hook_repo(state, repo, base, false),
        }),
    );
    vec![Delivery {
        name: "repository",
        repo: None,
        body,
    }]
}

/// `membership` `added` or `removed` for `login` in `team`.
pub(super) fn membership(
    state: &State,
    team: &str,
    login: &str,
    added: bool,
    base: &str,
) -> Vec<Delivery> {
    let (Some(team), Some(user)) = (state.teams.get(team), state.users.get(login)) else {
        return Vec::new();
    };
    let body = org_fields(
        state,
        base,
        json!({
            "action": if added { "added" } else { "removed" },
            "scope": "team",
            "member": json::user(user, base),
            "team": json::team(state, team, base),
        }),
    );
    vec![Delivery {
        name: "membership",
        repo: None,
        body,
    }]
}

/// `team` after `team`'s role on `repo` changed from `before`:
/// `added_to_repository`, `edited` (with the old permissions) or
/// `removed_from_repository`.
pub(super) fn team_repo(
    state: &State,
    team: &str,
    repo: &str,
    before: Option<RepoRole>,
    base: &str,
) -> Vec<Delivery> {
    let (Some(team), Some(repo)) = (state.teams.get(team), state.repos.get(repo)) else {
        return Vec::new();
    };
    let now = team.repos.get(&repo.name).copied();
    let mut body = json!({ "team": json::team(state, team, base) });
    match (before, now) {
        (None, None) => return Vec::new(),
        (Some(_), None) => {
            body["action"] = json!("removed_from_repository");
            body["repository"] = json::hook_repo(state, repo, base, false);
        }
        (None, Some(role)) => {
            body["action"] = json!("added_to_repository");
            body["repository"] = json::repo(state, repo, role, base);
        }
        (Some(old), Some(role)) => {
            body["action"] = json!("edited");
            body["repository"] = json::repo(state, repo, role, base);
            let old = json::repo(state, repo, old, base);
            body["changes"] =
                json!({ "repository": { "permissions": { "from": old["permissions"] } } });
        }
    }
    vec![Delivery {
        name: "team",
        repo: None,
        body: org_fields(state, base, body),
    }]
}
