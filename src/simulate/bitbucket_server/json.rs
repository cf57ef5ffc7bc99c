//! REST and webhook bodies of the simulator. Every field name appears in
//! the matching fixture under `shared/fixtures/bitbucket-server/api` or
//! `…/webhooks`; values are plausible and deterministic.

use super::super::history::RefUpdate;
use super::super::webhooks::Hook;
use super::state::{Project, Repo, User};
use crate::domain::RefKind;
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

/// When every simulated hook was created and last changed (epoch ms).
const HOOK_DATE: u64 = 1_705_311_000_000;

/// A repository webhook, as in the `webhooks` fixtures. The configuration
/// echoes the secret, as the create fixture shows.
pub(super) fn hook(hook: &Hook, name: &str) -> Value {
    let configuration = match &hook.secret {
        Some(secret) => json!({ "secret": secret }),
        None => json!({}),
    };
    json!({
        "id": hook.id,
        "name": name,
        "createdDate": HOOK_DATE,
        "updatedDate": HOOK_DATE,
        "events": hook.events,
        "configuration": configuration,
        "url": hook.url,
        "active": hook.active,
        "scopeType": "repository",
        "sslVerificationRequired": true,
    })
}

/// What git shows for a ref that does not exist.
const NO_COMMIT: &str = "0000000000000000000000000000000000000000";

/// The body of a `repo:refs_changed` delivery, as in
/// `webhooks/repo-refs_changed.json`; `actor` is the token's account.
pub(super) fn refs_changed(
    actor: Option<&User>,
    (repo, project): (&Repo, &Project),
    update: &RefUpdate,
    base: &str,
) -> Value {
    let (prefix, kind) = match update.kind {
        RefKind::Branch => ("refs/heads", "BRANCH"),
        RefKind::Tag => ("refs/tags", "TAG"),
    };
    let id = format!("{prefix}/{}", update.name);
    let change = match (&update.old, &update.new) {
        (None, _) => "ADD",
        (_, None) => "DELETE",
        _ => "UPDATE",
    };
    json!({
        "eventKey": "repo:refs_changed",
        "date": "2024-01-15T09:30:00+0000",
        "actor": actor.map(|u| member(u, base)),
        "repository": self::repo(repo, project, base),
        "changes": [{
            "ref": { "id": id, "displayId": update.name, "type": kind },
            "refId": id,
            "fromHash": update.old.as_deref().unwrap_or(NO_COMMIT),
            "toHash": update.new.as_deref().unwrap_or(NO_COMMIT),
            "type": change,
        }],
    })
}
