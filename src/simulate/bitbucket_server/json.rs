//! REST bodies of the simulator. Every field name appears in the matching
//! fixture under `shared/fixtures/bitbucket-server/api`; values are plausible
//! and deterministic.

use super::state::{Project, Repo, User};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

/// `{"errors":[…]}`, Bitbucket's error body for every status.
pub(super) fn errors(message: &str, exception: &str) -> Value {
    json!({
        "errors": [{ "context": null, "message": message, "exceptionName": exception }]
    })
}

fn links(href: String) -> Value {
    json!({ "self": [{ "href": href }] })
}

pub(super) fn user(user: &User) -> Value {
    let mut value = json!({
        "name": user.name,
        "id": user.id,
        "displayName": user.name,
        "active": true,
        "slug": user.name,
        "type": "NORMAL",
    });
    if let Some(email) = &user.email {
        value["emailAddress"] = json!(email);
    }
    value
}

/// A group member (`admin/groups/more-members`) also links to its profile.
pub(super) fn member(user: &User, base: &str) -> Value {
    let mut value = self::user(user);
    value["links"] = links(format!("{base}/users/{}", user.name));
    value
}

pub(super) fn project(project: &Project, base: &str) -> Value {
    json!({
        "key": project.key,
        "id": project.id,
        "name": project.name,
        "public": false,
        "type": "NORMAL",
        "links": links(format!("{base}/projects/{}", project.key)),
    })
}

pub(super) fn repo(repo: &Repo, project: &Project, base: &str) -> Value {
    let path = format!("{}/{}", project.key.to_ascii_lowercase(), repo.slug);
    let host = base.trim_start_matches("http://");
    json!({
        "slug": repo.slug,
        "id": repo.id,
        "name": repo.slug,
        "scmId": "git",
        "state": "AVAILABLE",
        "statusMessage": "Available",
        "forkable": true,
        "project": self::project(project, base),
        "public": false,
        "links": {
            "clone": [
                { "href": format!("ssh://git@{host}/{path}.git"), "name": "ssh" },
                { "href": format!("{base}/scm/{path}.git"), "name": "http" },
            ],
            "self": [{
                "href": format!("{base}/projects/{}/repos/{}/browse", project.key, repo.slug)
            }],
        },
    })
}

pub(super) fn branch(name: &str, sha: &str, default: bool) -> Value {
    json!({
        "id": format!("refs/heads/{name}"),
        "displayId": name,
        "type": "BRANCH",
        "latestCommit": sha,
        "latestChangeset": sha,
        "isDefault": default,
    })
}

/// An annotated tag: `hash` is the tag object, `latestCommit` what it tags.
pub(super) fn tag(name: &str, sha: &str) -> Value {
    let object = hex::encode(Sha1::digest(format!("tag {name}\0{sha}")));
    json!({
        "id": format!("refs/tags/{name}"),
        "displayId": name,
        "type": "TAG",
        "latestCommit": sha,
        "latestChangeset": sha,
        "hash": object,
    })
}

pub(super) fn user_permission(user: &User, permission: &str) -> Value {
    json!({ "user": self::user(user), "permission": permission })
}

pub(super) fn group_permission(group: &str, permission: &str) -> Value {
    json!({ "group": { "name": group }, "permission": permission })
}
