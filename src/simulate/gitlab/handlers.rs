//! Request handlers of the GitLab simulator: one per REST endpoint, each
//! answering 404 with GitLab's message for an unknown group or project.

use super::super::archive;
use super::pages::{self, ListQuery};
use super::{Sim, json, lock, message, not_found};
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub(super) async fn group(
    State(sim): Sim,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let state = lock(&sim.state);
    let Some(group) = state.group(&id) else {
        return not_found("Group");
    };
    let mut body = json::group(&state, group, &sim.base);
    // `projects` lists the group's own projects unless `with_projects=false`.
    if query.with_projects != Some(false) {
        let own: Vec<Value> = if group.id == state.top.id {
            state
                .projects
                .values()
                .map(|p| json::project(&state, p, &sim.base))
                .collect()
        } else {
            Vec::new()
        };
        body["projects"] = Value::Array(own);
    }
    axum::Json(body).into_response()
}

pub(super) async fn project(State(sim): Sim, Path(id): Path<String>) -> Response {
    let state = lock(&sim.state);
    match state.project(&id) {
        Some(project) => axum::Json(json::project(&state, project, &sim.base)).into_response(),
        None => not_found("Project"),
    }
}

pub(super) async fn descendant_groups(
    State(sim): Sim,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    let Some(group) = state.group(&id) else {
        return not_found("Group");
    };
    let mut items: Vec<(u64, Value)> = if group.id == state.top.id {
        state
            .subgroups
            .values()
            .map(|g| (g.id, json::group(&state, g, &sim.base)))
            .collect()
    } else {
        Vec::new()
    };
    items.sort_by_key(|(id, _)| *id);
    pages::offset(&sim.base, &uri, &query, items)
}

pub(super) async fn members_all(
    State(sim): Sim,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    let Some(group) = state.group(&id) else {
        return not_found("Group");
    };
    let items = state
        .members_all(group)
        .into_iter()
        .map(|(user, level)| (user.id, json::member(user, level, &sim.base)))
        .collect();
    pages::offset(&sim.base, &uri, &query, items)
}

/// The group's projects (`include_subgroups` adds its subgroups', which
/// hold none here) and, unless `with_shared=false`, those shared with it.
pub(super) async fn group_projects(
    State(sim): Sim,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    let Some(group) = state.group(&id) else {
        return not_found("Group");
    };
    let is_top = group.id == state.top.id;
    let with_shared = query.with_shared != Some(false);
    let mut items: Vec<(u64, Value)> = state
        .projects
        .values()
        .filter(|p| is_top || (with_shared && p.shares.contains_key(&group.path)))
        .map(|p| (p.id, json::project(&state, p, &sim.base)))
        .collect();
    items.sort_by_key(|(id, _)| *id);
    pages::listing(&sim.base, &uri, &query, items)
}

pub(super) async fn branches(
    State(sim): Sim,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    let Some(project) = state.project(&id) else {
        return not_found("Project");
    };
    let items = project
        .git
        .branches
        .iter()
        .enumerate()
        .map(|(i, (name, sha))| (i as u64, json::branch(project, name, sha)))
        .collect();
    pages::offset(&sim.base, &uri, &query, items)
}

pub(super) async fn tags(
    State(sim): Sim,
    Path(id): Path<String>,
    Query(query): Query<ListQuery>,
    uri: Uri,
) -> Response {
    let state = lock(&sim.state);
    let Some(project) = state.project(&id) else {
        return not_found("Project");
    };
    // GitLab lists the most recently updated tags first; by name here.
    let items = project
        .git
        .tags
        .iter()
        .rev()
        .enumerate()
        .map(|(i, (name, sha))| (i as u64, json::tag(name, sha)))
        .collect();
    pages::offset(&sim.base, &uri, &query, items)
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct RefQuery {
    #[serde(rename = "ref")]
    reference: Option<String>,
}

pub(super) async fn file(
    State(sim): Sim,
    Path((id, path)): Path<(String, String)>,
    Query(query): Query<RefQuery>,
) -> Response {
    let state = lock(&sim.state);
    let Some(project) = state.project(&id) else {
        return not_found("Project");
    };
    let Some(reference) = query.reference else {
        return message(StatusCode::BAD_REQUEST, "400 Bad request - ref is missing");
    };
    let Some(sha) = project.git.resolve(&reference) else {
        return not_found("Commit");
    };
    match project.git.commits.get(sha) {
        Some(Some(composer)) if path == "composer.json" => {
            axum::Json(json::file(&path, &reference, sha, composer)).into_response()
        }
        _ => not_found("File"),
    }
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct ArchiveQuery {
    sha: Option<String>,
}

pub(super) async fn archive_zip(
    State(sim): Sim,
    Path(id): Path<String>,
    Query(query): Query<ArchiveQuery>,
) -> Response {
    let (path, reference, sha, composer) = {
        let state = lock(&sim.state);
        let Some(project) = state.project(&id) else {
            return not_found("Project");
        };
        let reference = query
            .sha
            .unwrap_or_else(|| project.git.default_branch.clone());
        let Some(sha) = project.git.resolve(&reference).map(str::to_owned) else {
            return not_found("Commit");
        };
        let composer = project.git.commits.get(&sha).cloned().flatten();
        (project.path.clone(), reference, sha, composer)
    };
    let top = format!("{path}-{reference}-{sha}");
    let layout = archive::Layout {
        top: Some(&top),
        comment: None,
    };
    match archive::zip(layout, &path, &sha, composer.as_deref()) {
        Ok(zip) => {
            let disposition = format!("attachment; filename=\"{path}-{reference}.zip\"");
            let mut response = zip.into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/zip"));
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(_) => message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error",
        ),
    }
}
