//! REST bodies of the simulator. Every field name appears in the matching
//! fixture under `shared/fixtures/gitlab/api`; values are plausible and
//! deterministic.

use super::state::{Group, Project, State, User};
use base64::Engine as _;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

pub(super) const CREATED_AT: &str = "2024-01-15T09:30:00.000Z";
pub(super) const AUTHOR: &str = "Packyard Simulator";
pub(super) const AUTHOR_EMAIL: &str = "sim@packyard.test";

/// Where a project lives, as its REST and webhook bodies spell it.
pub(super) struct ProjectUrls {
    /// `group/project`.
    pub full: String,
    pub web: String,
    pub http: String,
    pub ssh: String,
}

impl ProjectUrls {
    pub fn of(state: &State, project: &Project, base: &str) -> Self {
        let full = format!("{}/{}", state.top.path, project.path);
        let host = base.trim_start_matches("http://");
        Self {
            web: format!("{base}/{full}"),
            http: format!("{base}/{full}.git"),
            ssh: format!("git@{host}:{full}.git"),
            full,
        }
    }
}

/// The time `generation` steps after creation, one second apart, in
/// GitLab's millisecond format, so every push moves `last_activity_at`.
pub(super) fn at(generation: u64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let created = time::macros::datetime!(2024-01-15 09:30:00 UTC);
    created
        .saturating_add(time::Duration::seconds(
            i64::try_from(generation).unwrap_or(i64::MAX),
        ))
        .format(&format)
        .unwrap_or_else(|_| CREATED_AT.to_owned())
}

pub(super) fn group(state: &State, group: &Group, base: &str) -> Value {
    let full_path = state.full_path(group);
    let is_top = group.id == state.top.id;
    let full_name = if is_top {
        group.name.clone()
    } else {
        format!("{} / {}", state.top.name, group.name)
    };
    json!({
        "id": group.id,
        "name": group.name,
        "path": group.path,
        "description": "",
        "visibility": "private",
        "avatar_url": Value::Null,
        "web_url": format!("{base}/groups/{full_path}"),
        "request_access_enabled": false,
        "full_name": full_name,
        "full_path": full_path,
        "parent_id": if is_top { Value::Null } else { json!(state.top.id) },
    })
}

pub(super) fn member(user: &User, level: u32, base: &str) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "name": user.username,
        "state": "active",
        "avatar_url": format!("{base}/uploads/user/avatar/{}/avatar.png", user.id),
        "web_url": format!("{base}/{}", user.username),
        "expires_at": Value::Null,
        "access_level": level,
    })
}

pub(super) fn project(state: &State, project: &Project, base: &str) -> Value {
    let top = &state.top;
    let urls = ProjectUrls::of(state, project, base);
    let api = format!("{base}/api/v4/projects/{}", project.id);
    let shared: Vec<Value> = project
        .shares
        .iter()
        .filter_map(|(path, level)| {
            let group = state.subgroups.get(path)?;
            Some(json!({
                "group_id": group.id,
                "group_name": group.name,
                "group_full_path": state.full_path(group),
                "group_access_level": level,
                "expires_at": Value::Null,
            }))
        })
        .collect();
    json!({
        "id": project.id,
        "description": project.description.clone().unwrap_or_default(),
        "default_branch": project.git.default_branch,
        "tag_list": [],
        "ssh_url_to_repo": urls.ssh,
        "http_url_to_repo": urls.http,
        "web_url": urls.web,
        "name": project.path,
        "name_with_namespace": format!("{} / {}", top.name, project.path),
        "path": project.path,
        "path_with_namespace": urls.full,
        "avatar_url": Value::Null,
        "star_count": 0,
        "forks_count": 0,
        "created_at": CREATED_AT,
        "last_activity_at": at(project.activity),
        "_links": {
            "self": api,
            "repo_branches": format!("{api}/repository/branches"),
            "members": format!("{api}/members"),
        },
        "archived": false,
        "visibility": "private",
        "namespace": {
            "id": top.id,
            "name": top.name,
            "path": top.path,
            "kind": "group",
            "full_path": top.path,
            "parent_id": Value::Null,
        },
        "shared_with_groups": shared,
    })
}

fn commit(sha: &str) -> Value {
    json!({
        "id": sha,
        "short_id": &sha[..sha.len().min(8)],
        "title": "Simulated commit",
        "message": "Simulated commit",
        "author_name": AUTHOR,
        "author_email": AUTHOR_EMAIL,
        "authored_date": CREATED_AT,
        "committer_name": AUTHOR,
        "committer_email": AUTHOR_EMAIL,
        "committed_date": CREATED_AT,
        "parent_ids": [],
    })
}

pub(super) fn branch(project: &Project, name: &str, sha: &str) -> Value {
    let default = name == project.git.default_branch;
    json!({
        "name": name,
        "merged": false,
        "protected": default,
        "developers_can_push": false,
        "developers_can_merge": false,
        "commit": commit(sha),
    })
}

pub(super) fn tag(name: &str, sha: &str) -> Value {
    let mut commit = commit(sha);
    commit["created_at"] = json!(CREATED_AT);
    json!({
        "commit": commit,
        "release": Value::Null,
        "name": name,
        "message": Value::Null,
    })
}

/// The repository files API answer: unwrapped base64 and the git blob SHA.
pub(super) fn file(path: &str, reference: &str, sha: &str, bytes: &[u8]) -> Value {
    let mut blob = Sha1::new();
    blob.update(format!("blob {}\0", bytes.len()));
    blob.update(bytes);
    json!({
        "file_name": path.rsplit('/').next().unwrap_or(path),
        "file_path": path,
        "size": bytes.len(),
        "encoding": "base64",
        "content": base64::engine::general_purpose::STANDARD.encode(bytes),
        "ref": reference,
        "blob_id": hex::encode(blob.finalize()),
        "commit_id": sha,
        "last_commit_id": sha,
    })
}
