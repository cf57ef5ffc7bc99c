//! Webhook payloads the simulator delivers after a mutation, in GitLab's
//! shapes: every field name appears in the matching payload under
//! `shared/fixtures/gitlab/webhooks` (`push.json`, `tag_push.json`,
//! `member.json`, `system.project_create.json`).

use super::json::{AUTHOR, AUTHOR_EMAIL, CREATED_AT, ProjectUrls, at};
use super::state::{DEVELOPER, Group, MAINTAINER, OWNER, Project, REPORTER, State, User};
use serde_json::{Value, json};

/// The commit GitLab puts in `before` for a new ref and `after` for a
/// deleted one.
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

/// GitLab's `visibility_level` for a private project.
const PRIVATE: u64 = 0;

/// The simulated user behind pushes (GitLab's first administrator).
const PUSHER_ID: u64 = 1;
const PUSHER: &str = "root";

/// One event to deliver.
pub(super) struct Delivery {
    /// The `X-Gitlab-Event` header.
    pub header: &'static str,
    /// The hook setting that subscribes to it.
    pub setting: &'static str,
    /// The project it happened in (its simulator name), so its project hooks
    /// get it too; `None` for events only group hooks receive.
    pub repo: Option<String>,
    pub body: Value,
}

/// The project as push, tag push and release events embed it.
fn project_json(state: &State, project: &Project, base: &str) -> Value {
    let urls = ProjectUrls::of(state, project, base);
    json!({
        "id": project.id,
        "name": project.path,
        "description": project.description.clone().unwrap_or_default(),
        "web_url": urls.web,
        "avatar_url": Value::Null,
        "git_ssh_url": urls.ssh,
        "git_http_url": urls.http,
        "namespace": state.top.name,
        "visibility_level": PRIVATE,
        "path_with_namespace": urls.full,
        "default_branch": project.git.default_branch,
        "homepage": urls.web,
        "url": urls.ssh,
        "ssh_url": urls.ssh,
        "http_url": urls.http,
    })
}

/// A push to `reference`, which now points at `after`: a `Tag Push Hook`
/// when it is a tag, a `Push Hook` otherwise.
pub(super) fn push(
    state: &State,
    base: &str,
    project: &Project,
    reference: &str,
    before: Option<&str>,
    after: &str,
) -> Delivery {
    let tag = project.git.tags.contains_key(reference);
    let (header, setting, kind, prefix) = if tag {
        ("Tag Push Hook", "tag_push_events", "tag_push", "refs/tags/")
    } else {
        ("Push Hook", "push_events", "push", "refs/heads/")
    };
    let urls = ProjectUrls::of(state, project, base);
    let commit = json!({
        "id": after,
        "message": "Simulated commit\n",
        "title": "Simulated commit",
        "timestamp": at(project.activity),
        "url": format!("{}/-/commit/{after}", urls.web),
        "author": {"name": AUTHOR, "email": AUTHOR_EMAIL},
        "added": [],
        "modified": ["composer.json"],
        "removed": [],
    });
    let mut body = json!({
        "object_kind": kind,
        "event_name": kind,
        "before": before.unwrap_or(NO_COMMIT),
        "after": after,
        "ref": format!("{prefix}{reference}"),
        "checkout_sha": after,
        "user_id": PUSHER_ID,
        "user_name": AUTHOR,
        "user_username": PUSHER,
        "user_avatar": Value::Null,
        "project_id": project.id,
        "project": project_json(state, project, base),
        "repository": {
            "name": project.path,
            "url": urls.ssh,
            "description": project.description.clone().unwrap_or_default(),
            "homepage": urls.web,
            "git_http_url": urls.http,
            "git_ssh_url": urls.ssh,
            "visibility_level": PRIVATE,
        },
        "commits": [commit],
        "total_commits_count": 1,
    });
    // Tag pushes leave the pusher's email out.
    if !tag {
        body["user_email"] = json!(AUTHOR_EMAIL);
    }
    Delivery {
        header,
        setting,
        repo: Some(project.path.clone()),
        body,
    }
}

/// `user`, at `level`, added to `group` or removed from it: a `Member
/// Hook`, which only group hooks receive.
pub(super) fn member(group: &Group, user: &User, level: u32, added: bool) -> Delivery {
    let event = if added {
        "user_add_to_group"
    } else {
        "user_remove_from_group"
    };
    Delivery {
        header: "Member Hook",
        setting: "member_events",
        repo: None,
        body: json!({
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "group_name": group.name,
            // The group's own path, not its full path: GitLab's shape.
            "group_path": group.path,
            "group_id": group.id,
            "user_username": user.username,
            "user_name": user.username,
            "user_email": user.email.clone().unwrap_or_default(),
            "user_id": user.id,
            "group_access": access_name(level),
            "group_plan": Value::Null,
            "expires_at": Value::Null,
            "event_name": event,
        }),
    }
}

/// `group_access` as GitLab words it.
fn access_name(level: u32) -> &'static str {
    match level {
        OWNER.. => "Owner",
        MAINTAINER..OWNER => "Maintainer",
        DEVELOPER..MAINTAINER => "Developer",
        REPORTER..DEVELOPER => "Reporter",
        _ => "Guest",
    }
}

/// `project_create` or `project_destroy` as a group hook's `Project Hook`
/// (the body system hooks send for the same event).
pub(super) fn project(
    state: &State,
    base: &str,
    project: &Project,
    event: &'static str,
) -> Delivery {
    Delivery {
        header: "Project Hook",
        setting: "project_events",
        repo: None,
        body: json!({
            "created_at": CREATED_AT,
            "updated_at": at(project.activity),
            "event_name": event,
            "name": project.path,
            "owner_email": AUTHOR_EMAIL,
            "owner_name": state.top.name,
            "path": project.path,
            "path_with_namespace": ProjectUrls::of(state, project, base).full,
            "project_id": project.id,
            "project_visibility": "private",
        }),
    }
}
