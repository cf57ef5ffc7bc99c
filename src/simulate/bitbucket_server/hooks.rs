//! Repository webhooks: `…/repos/{slug}/webhooks[/{id}]` over the shared
//! hook registry, and the headers of a delivery.

use super::super::hook_change::{HookChange, Refusal};
use super::super::webhooks::{Hook, HookScope};
use super::{PageQuery, Shared, Sim, error, json, lock, no_repo, page};
use crate::domain::hub_signature;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The events a repository webhook may subscribe to.
const REPOSITORY_EVENTS: [&str; 22] = [
    "repo:refs_changed",
    "repo:modified",
    "repo:forked",
    "repo:comment:added",
    "repo:comment:edited",
    "repo:comment:deleted",
    "repo:secret_detected",
    "mirror:repo_synchronized",
    "pr:opened",
    "pr:from_ref_updated",
    "pr:to_ref_updated",
    "pr:modified",
    "pr:reviewer:updated",
    "pr:reviewer:approved",
    "pr:reviewer:unapproved",
    "pr:reviewer:needs_work",
    "pr:merged",
    "pr:declined",
    "pr:deleted",
    "pr:comment:added",
    "pr:comment:edited",
    "pr:comment:deleted",
];

/// A webhook as clients send it; on update, absent fields stay as they are.
#[derive(Debug, serde::Deserialize)]
pub(super) struct HookBody {
    name: Option<String>,
    url: Option<String>,
    events: Option<Vec<String>>,
    active: Option<bool>,
    #[serde(default)]
    configuration: Configuration,
}

#[derive(Debug, Default, serde::Deserialize)]
struct Configuration {
    secret: Option<String>,
}

impl HookBody {
    /// The name (which only Bitbucket Server has), and the rest; a create
    /// without a name is refused like one without a URL.
    fn split(self, creating: bool) -> Result<(Option<String>, HookChange), Refusal> {
        if creating && self.name.as_deref().is_none_or(str::is_empty) {
            return Err(("name", "A name is required.".to_owned()));
        }
        let change = HookChange {
            url: self.url,
            secret: self.configuration.secret,
            events: self.events,
            active: self.active,
        };
        match change.refusal(creating, &REPOSITORY_EVENTS) {
            Some(refusal) => Err(refusal),
            None => Ok((self.name, change)),
        }
    }
}

/// Bitbucket's 400: `errors` naming the field at fault.
fn bad_request((field, message): Refusal) -> Response {
    let body = serde_json::json!({
        "errors": [{ "context": field, "message": message, "exceptionName": null }]
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn no_hook(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("No webhook with id '{id}' exists."),
        "com.atlassian.bitbucket.webhook.NoSuchWebhookException",
    )
}

/// The scope of repository `slug` of project `key`, when it exists.
fn scope(sim: &Shared, key: &str, slug: &str) -> Option<HookScope> {
    let state = lock(&sim.state);
    Some(HookScope::Repo(state.repo(key, slug)?.slug.clone()))
}

/// Hook `id` of the repository, as Bitbucket shows it, with `status`.
fn shown(sim: &Shared, hook: &Hook, status: StatusCode) -> Response {
    let state = lock(&sim.state);
    let name = state.hook_names.get(&hook.id).map_or("", String::as_str);
    (status, Json(json::hook(hook, name))).into_response()
}

pub(super) async fn list(
    State(sim): Sim,
    Path((key, slug)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Response {
    let Some(scope) = scope(&sim, &key, &slug) else {
        return no_repo(&key, &slug);
    };
    let state = lock(&sim.state);
    let items = sim
        .webhooks
        .list(&scope)
        .iter()
        .map(|h| json::hook(h, state.hook_names.get(&h.id).map_or("", String::as_str)))
        .collect();
    page(&query, items)
}

pub(super) async fn create(
    State(sim): Sim,
    Path((key, slug)): Path<(String, String)>,
    Json(body): Json<HookBody>,
) -> Response {
    let Some(scope) = scope(&sim, &key, &slug) else {
        return no_repo(&key, &slug);
    };
    let (name, change) = match body.split(true) {
        Ok(parts) => parts,
        Err(refusal) => return bad_request(refusal),
    };
    let hook = change.create(&sim.webhooks, scope);
    lock(&sim.state)
        .hook_names
        .insert(hook.id, name.unwrap_or_default());
    shown(&sim, &hook, StatusCode::CREATED)
}

pub(super) async fn one(
    State(sim): Sim,
    Path((key, slug, id)): Path<(String, String, String)>,
) -> Response {
    let Some(scope) = scope(&sim, &key, &slug) else {
        return no_repo(&key, &slug);
    };
    match id.parse().ok().and_then(|n| sim.webhooks.get(&scope, n)) {
        Some(hook) => shown(&sim, &hook, StatusCode::OK),
        None => no_hook(&id),
    }
}

pub(super) async fn update(
    State(sim): Sim,
    Path((key, slug, id)): Path<(String, String, String)>,
    Json(body): Json<HookBody>,
) -> Response {
    let Some(scope) = scope(&sim, &key, &slug) else {
        return no_repo(&key, &slug);
    };
    let Some(found) = id.parse().ok().and_then(|n| sim.webhooks.get(&scope, n)) else {
        return no_hook(&id);
    };
    let (name, change) = match body.split(false) {
        Ok(parts) => parts,
        Err(refusal) => return bad_request(refusal),
    };
    let Some(hook) = change.update(&sim.webhooks, &scope, found.id) else {
        return no_hook(&id);
    };
    if let Some(name) = name {
        lock(&sim.state).hook_names.insert(hook.id, name);
    }
    shown(&sim, &hook, StatusCode::OK)
}

pub(super) async fn delete(
    State(sim): Sim,
    Path((key, slug, id)): Path<(String, String, String)>,
) -> Response {
    let Some(scope) = scope(&sim, &key, &slug) else {
        return no_repo(&key, &slug);
    };
    let Some(n) = id.parse().ok().filter(|n| sim.webhooks.delete(&scope, *n)) else {
        return no_hook(&id);
    };
    lock(&sim.state).hook_names.remove(&n);
    StatusCode::NO_CONTENT.into_response()
}

/// The headers Bitbucket Server sends with an `event` delivery: the event,
/// the request id, and the body's HMAC when the hook has a secret.
pub(super) fn delivery_headers(
    event: &'static str,
) -> impl Fn(&Hook, &str, &[u8]) -> Vec<(String, String)> {
    move |hook, delivery, body| {
        let mut headers = vec![
            ("X-Event-Key".to_owned(), event.to_owned()),
            ("X-Request-Id".to_owned(), delivery.to_owned()),
            (
                "User-Agent".to_owned(),
                "Atlassian HttpClient 4.2.0 / Bitbucket-9.5.2 (9005002) / Default".to_owned(),
            ),
        ];
        if let Some(secret) = &hook.secret {
            headers.push(("X-Hub-Signature".to_owned(), hub_signature(secret, body)));
        }
        headers
    }
}
