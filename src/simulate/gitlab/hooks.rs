//! The hook API: group hooks on the top group and project hooks on every
//! project (`GET`/`POST …/hooks`, `GET`/`PUT`/`DELETE …/hooks/:hook_id`),
//! kept in the shared [`Webhooks`](super::super::webhooks::Webhooks)
//! registry. Group hooks are a Premium feature: with
//! [`State::premium`](super::state::State) off they answer 404 as GitLab
//! does without the licence. Subgroups take no hooks here (the registry
//! knows one organization scope).
//!
//! Bodies are JSON, with GitLab's defaults: `push_events` and
//! `enable_ssl_verification` on, every other event off. GitLab never shows
//! a hook's token, and neither does the simulator.

use super::super::webhooks::{Hook, HookScope};
use super::json::CREATED_AT;
use super::pages::{self, ListQuery};
use super::state::State;
use super::{Sim, lock, message, not_found, not_found_message};
use axum::Json;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Events GitLab hooks have that the simulator never sends: always off.
const UNSENT_EVENTS: [&str; 6] = [
    "issues_events",
    "merge_requests_events",
    "note_events",
    "job_events",
    "pipeline_events",
    "wiki_page_events",
];

/// Group hooks or project hooks: where they hang and what they offer.
pub(super) trait Level {
    /// The event settings a hook of this level has, as the API names them.
    const EVENTS: &'static [&'static str];
    /// The field naming the hook's owner (`group_id`, `project_id`).
    const OWNER: &'static str;
    /// The registry scope and owner id for the `:id` in the path, or the
    /// message of GitLab's 404 when there is none.
    fn scope(state: &State, id: &str) -> Result<(HookScope, u64), String>;
}

pub(super) struct GroupHooks;
pub(super) struct ProjectHooks;

impl Level for GroupHooks {
    const EVENTS: &'static [&'static str] = &[
        "push_events",
        "tag_push_events",
        "releases_events",
        "member_events",
        "subgroup_events",
        "project_events",
    ];
    const OWNER: &'static str = "group_id";

    fn scope(state: &State, id: &str) -> Result<(HookScope, u64), String> {
        if !state.premium {
            return Err("404 Not Found".to_owned());
        }
        match state.group(id) {
            Some(group) if group.id == state.top.id => Ok((HookScope::Org, group.id)),
            _ => Err(not_found_message("Group")),
        }
    }
}

impl Level for ProjectHooks {
    const EVENTS: &'static [&'static str] = &["push_events", "tag_push_events", "releases_events"];
    const OWNER: &'static str = "project_id";

    fn scope(state: &State, id: &str) -> Result<(HookScope, u64), String> {
        state
            .project(id)
            .map(|p| (HookScope::Repo(p.path.clone()), p.id))
            .ok_or_else(|| not_found_message("Project"))
    }
}

fn hook_json<L: Level>(state: &State, hook: &Hook, owner: u64) -> Value {
    let mut body = json!({
        "id": hook.id,
        "url": hook.url,
        "enable_ssl_verification": state.hook_ssl.get(&hook.id).copied().unwrap_or(true),
        "created_at": CREATED_AT,
    });
    body[L::OWNER] = json!(owner);
    for event in L::EVENTS {
        body[*event] = json!(hook.events.iter().any(|e| e == event));
    }
    for event in UNSENT_EVENTS {
        body[event] = json!(false);
    }
    body
}

/// Grape's answer to a missing required parameter.
fn missing(param: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": format!("{param} is missing") })),
    )
        .into_response()
}

/// Applies the settings in `params` to `hook`; absent ones stay as they are.
fn apply<L: Level>(hook: &mut Hook, params: &Map<String, Value>) {
    if let Some(url) = params.get("url").and_then(Value::as_str) {
        hook.url = url.to_owned();
    }
    if let Some(token) = params.get("token").and_then(Value::as_str) {
        hook.secret = Some(token.to_owned()).filter(|t| !t.is_empty());
    }
    for event in L::EVENTS {
        match params.get(*event).and_then(Value::as_bool) {
            Some(true) if !hook.events.iter().any(|e| e == event) => {
                hook.events.push((*event).to_owned());
            }
            Some(false) => hook.events.retain(|e| e != event),
            _ => {}
        }
    }
}

fn ssl_setting(state: &mut State, id: u64, params: &Map<String, Value>) {
    if let Some(ssl) = params
        .get("enable_ssl_verification")
        .and_then(Value::as_bool)
    {
        state.hook_ssl.insert(id, ssl);
    }
}

pub(super) async fn list<L: Level>(
    Extract(sim): Sim,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    let (scope, owner) = match L::scope(&state, &id) {
        Ok(found) => found,
        Err(missing) => return message(StatusCode::NOT_FOUND, &missing),
    };
    let items = sim
        .webhooks
        .list(&scope)
        .iter()
        .map(|hook| (hook.id, hook_json::<L>(&state, hook, owner)))
        .collect();
    pages::offset(&sim.base, &uri, &query, items)
}

pub(super) async fn create<L: Level>(
    Extract(sim): Sim,
    Path(id): Path<String>,
    Json(params): Json<Map<String, Value>>,
) -> Response {
    let mut state = lock(&sim.state);
    let (scope, owner) = match L::scope(&state, &id) {
        Ok(found) => found,
        Err(missing) => return message(StatusCode::NOT_FOUND, &missing),
    };
    let Some(url) = params.get("url").and_then(Value::as_str) else {
        return missing("url");
    };
    let mut settings = Hook {
        id: 0,
        scope,
        url: url.to_owned(),
        secret: None,
        // GitLab's default: push events only.
        events: vec!["push_events".to_owned()],
        active: true,
    };
    apply::<L>(&mut settings, &params);
    let hook = sim.webhooks.create(
        settings.scope,
        &settings.url,
        settings.secret,
        settings.events,
        true,
    );
    ssl_setting(&mut state, hook.id, &params);
    (
        StatusCode::CREATED,
        Json(hook_json::<L>(&state, &hook, owner)),
    )
        .into_response()
}

pub(super) async fn get<L: Level>(
    Extract(sim): Sim,
    Path((id, hook_id)): Path<(String, u64)>,
) -> Response {
    let state = lock(&sim.state);
    let (scope, owner) = match L::scope(&state, &id) {
        Ok(found) => found,
        Err(missing) => return message(StatusCode::NOT_FOUND, &missing),
    };
    match sim.webhooks.get(&scope, hook_id) {
        Some(hook) => Json(hook_json::<L>(&state, &hook, owner)).into_response(),
        None => not_found("Hook"),
    }
}

pub(super) async fn update<L: Level>(
    Extract(sim): Sim,
    Path((id, hook_id)): Path<(String, u64)>,
    Json(params): Json<Map<String, Value>>,
) -> Response {
    let mut state = lock(&sim.state);
    let (scope, owner) = match L::scope(&state, &id) {
        Ok(found) => found,
        Err(missing) => return message(StatusCode::NOT_FOUND, &missing),
    };
    if !params.get("url").is_some_and(Value::is_string) {
        return missing("url");
    }
    let Some(hook) = sim
        .webhooks
        .update(&scope, hook_id, |h| apply::<L>(h, &params))
    else {
        return not_found("Hook");
    };
    ssl_setting(&mut state, hook.id, &params);
    Json(hook_json::<L>(&state, &hook, owner)).into_response()
}

pub(super) async fn delete<L: Level>(
    Extract(sim): Sim,
    Path((id, hook_id)): Path<(String, u64)>,
) -> Response {
    let mut state = lock(&sim.state);
    let (scope, _) = match L::scope(&state, &id) {
        Ok(found) => found,
        Err(missing) => return message(StatusCode::NOT_FOUND, &missing),
    };
    if !sim.webhooks.delete(&scope, hook_id) {
        return not_found("Hook");
    }
    state.hook_ssl.remove(&hook_id);
    StatusCode::NO_CONTENT.into_response()
}
