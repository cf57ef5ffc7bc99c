//! REST bodies and webhook payload parts of the simulator. Every field name
//! appears in the matching fixture under `shared/fixtures/github/api` (or
//! `…/webhooks` for payloads); values are plausible and deterministic.

use super::super::scenario::RepoRole;
use super::super::webhooks::{Hook, HookScope};
use super::state::{Repo, State, Team, User};
use base64::Engine as _;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

const CREATED_AT: &str = "2024-01-15T09:30:00Z";

/// A global node id, the same in REST `node_id` and GraphQL `id`.
pub(super) fn node_id(kind: &str, id: impl std::fmt::Display) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0:{kind}{id}"))
}

/// The numeric id inside a [`node_id`] of `kind`.
pub(super) fn node_number(kind: &str, node_id: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(node_id)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix("0:")?.strip_prefix(kind)?.parse().ok()
}

/// git's blob id of a file's bytes.
pub(super) fn blob_sha(bytes: &[u8]) -> String {
    let mut blob = Sha1::new();
    blob.update(format!("blob {}\0", bytes.len()));
    blob.update(bytes);
    hex::encode(blob.finalize())
}

fn account(login: &str, id: u64, kind: &str, base: &str) -> Value {
    json!({
        "login": login,
        "id": id,
        "node_id": node_id(kind, id),
        "avatar_url": format!("{base}/avatars/{login}"),
        "gravatar_id": "",
        "url": format!("{base}/users/{login}"),
        "html_url": format!("{base}/{login}"),
        "type": kind,
        "site_admin": false,
    })
}

pub(super) fn user(user: &User, base: &str) -> Value {
    account(&user.login, user.id, "User", base)
}

pub(super) fn team_member(user: &User, base: &str) -> Value {
    let mut value = account(&user.login, user.id, "User", base);
    value["role"] = json!("member");
    value
}

/// The login, id and email of the account the token belongs to: the first
/// org admin. It also makes every change that webhooks report.
fn token_owner(state: &State) -> (&str, u64, Option<String>) {
    let admin = state
        .users
        .values()
        .filter(|u| u.admin)
        .min_by_key(|u| u.id);
    admin.map_or(("packyard-bot", 1, None), |u| {
        (u.login.as_str(), u.id, u.email.clone())
    })
}

/// A webhook payload's `sender`.
pub(super) fn sender(state: &State, base: &str) -> Value {
    let (login, id, _) = token_owner(state);
    account(login, id, "User", base)
}

/// A push payload's `pusher`.
pub(super) fn pusher(state: &State) -> Value {
    let (login, _, email) = token_owner(state);
    json!({ "name": login, "email": email })
}

/// `GET /user`: the token belongs to the first org admin.
pub(super) fn viewer(state: &State, base: &str) -> Value {
    let (login, id, email) = token_owner(state);
    let mut value = account(login, id, "User", base);
    value["name"] = json!(login);
    value["email"] = json!(email);
    value["created_at"] = json!(CREATED_AT);
    value["updated_at"] = json!(CREATED_AT);
    value
}

pub(super) fn org(state: &State, base: &str) -> Value {
    let login = &state.login;
    json!({
        "login": login,
        "id": state.org_id,
        "node_id": node_id("Organization", state.org_id),
        "url": format!("{base}/orgs/{login}"),
        "repos_url": format!("{base}/orgs/{login}/repos"),
        "members_url": format!("{base}/orgs/{login}/members{{/member}}"),
        "avatar_url": format!("{base}/avatars/{login}"),
        "description": Value::Null,
        "name": state.name,
        "html_url": format!("{base}/{login}"),
        "type": "Organization",
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
    })
}

pub(super) fn team(state: &State, team: &Team, base: &str) -> Value {
    let org = &state.login;
    json!({
        "id": team.id,
        "node_id": node_id("Team", team.id),
        "url": format!("{base}/teams/{}", team.id),
        "html_url": format!("{base}/orgs/{org}/teams/{}", team.slug),
        "name": team.name,
        "slug": team.slug,
        "description": Value::Null,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": format!("{base}/teams/{}/members{{/member}}", team.id),
        "repositories_url": format!("{base}/teams/{}/repos", team.id),
        "parent": Value::Null,
    })
}

/// A repository as seen by someone with `role` on it. GitHub's flags fold
/// maintain into push and triage into pull.
pub(super) fn repo(state: &State, repo: &Repo, role: RepoRole, base: &str) -> Value {
    let owner = &state.login;
    let full = format!("{owner}/{}", repo.name);
    let mut owner_json = account(owner, state.org_id, "Organization", base);
    owner_json["url"] = json!(format!("{base}/orgs/{owner}"));
    json!({
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": full,
        "owner": owner_json,
        "private": true,
        "html_url": format!("{base}/{full}"),
        "description": repo.description,
        "fork": false,
        "url": format!("{base}/repos/{full}"),
        "clone_url": format!("{base}/{full}.git"),
        "default_branch": repo.git.default_branch,
        "archived": repo.archived,
        "disabled": false,
        "visibility": "private",
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "pushed_at": pushed_at(repo.pushed),
        "permissions": {
            "admin": role == RepoRole::Admin,
            "push": role >= RepoRole::Push,
            "pull": true,
        },
    })
}

/// A repository in a webhook payload: the REST shape without the viewer's
/// `permissions`. Push payloads carry the older variant (times as epoch
/// seconds, `owner.name`, `master_branch`).
pub(super) fn hook_repo(state: &State, repo: &Repo, base: &str, push: bool) -> Value {
    let mut value = self::repo(state, repo, RepoRole::Admin, base);
    if let Some(fields) = value.as_object_mut() {
        fields.remove("permissions");
    }
    if push {
        value["owner"]["name"] = json!(state.login);
        value["owner"]["email"] = Value::Null;
        value["created_at"] = json!(created().unix_timestamp());
        value["pushed_at"] = json!(pushed_time(repo.pushed).unix_timestamp());
        value["master_branch"] = json!(repo.git.default_branch);
        value["stargazers"] = json!(0);
    }
    value
}

/// A push payload's commit (`commits[]`, `head_commit`).
pub(super) fn hook_commit(state: &State, repo: &Repo, sha: &str, base: &str) -> Value {
    let (login, _, email) = token_owner(state);
    let person = json!({ "name": login, "email": email, "username": login });
    json!({
        "id": sha,
        "tree_id": hex::encode(Sha1::digest(sha.as_bytes())),
        "distinct": true,
        "message": "Update composer.json",
        "timestamp": pushed_at(repo.pushed),
        "url": format!("{base}/{}/{}/commit/{sha}", state.login, repo.name),
        "author": person,
        "committer": person,
        "added": [],
        "removed": [],
        "modified": ["composer.json"],
    })
}

/// An organization or repository hook (`/orgs/{org}/hooks/{id}`,
/// `/repos/{owner}/{repo}/hooks/{id}`). The secret is never shown.
pub(super) fn hook(state: &State, hook: &Hook, base: &str) -> Value {
    let (path, kind) = match &hook.scope {
        HookScope::Org => (format!("orgs/{}", state.login), "Organization"),
        HookScope::Repo(name) => (format!("repos/{}/{name}", state.login), "Repository"),
    };
    let url = format!("{base}/{path}/hooks/{}", hook.id);
    let mut config = json!({
        "url": hook.url,
        "content_type": "json",
        "insecure_ssl": "0",
    });
    if hook.secret.is_some() {
        config["secret"] = json!("********");
    }
    let mut value = json!({
        "type": kind,
        "id": hook.id,
        "name": "web",
        "active": hook.active,
        "events": hook.events,
        "config": config,
        "updated_at": CREATED_AT,
        "created_at": CREATED_AT,
        "url": url,
        "ping_url": format!("{url}/pings"),
        "deliveries_url": format!("{url}/deliveries"),
    });
    if hook.scope != HookScope::Org {
        value["test_url"] = json!(format!("{url}/test"));
        value["last_response"] = json!({ "code": null, "status": "unused", "message": null });
    }
    value
}

fn created() -> time::OffsetDateTime {
    time::OffsetDateTime::parse(CREATED_AT, &time::format_description::well_known::Rfc3339)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// When a push made `generation` steps after creation happened: one second
/// apart, so every push shows.
fn pushed_time(generation: u64) -> time::OffsetDateTime {
    created().saturating_add(time::Duration::seconds(
        i64::try_from(generation).unwrap_or(i64::MAX),
    ))
}

/// GitHub's `pushed_at` for a push made `generation` steps after creation.
fn pushed_at(generation: u64) -> String {
    pushed_time(generation)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| CREATED_AT.to_owned())
}

fn commit(state: &State, repo: &Repo, sha: &str, base: &str) -> Value {
    json!({
        "sha": sha,
        "url": format!("{base}/repos/{}/{}/commits/{sha}", state.login, repo.name),
    })
}

pub(super) fn branch(state: &State, repo: &Repo, name: &str, sha: &str, base: &str) -> Value {
    json!({
        "name": name,
        "commit": commit(state, repo, sha, base),
        "protected": name == repo.git.default_branch,
    })
}

pub(super) fn tag(state: &State, repo: &Repo, name: &str, sha: &str, base: &str) -> Value {
    let full = format!("{}/{}", state.login, repo.name);
    json!({
        "name": name,
        "commit": commit(state, repo, sha, base),
        "zipball_url": format!("{base}/repos/{full}/zipball/{name}"),
        "tarball_url": format!("{base}/repos/{full}/tarball/{name}"),
        "node_id": node_id("Ref", repo.id),
    })
}

/// The contents API answer for a file: base64 wrapped at 60 columns with
/// `\n`, as GitHub sends it, and the git blob SHA.
pub(super) fn content(
    state: &State,
    repo: &Repo,
    path: &str,
    reference: &str,
    bytes: &[u8],
    base: &str,
) -> Value {
    let full = format!("{}/{}", state.login, repo.name);
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let wrapped: String = encoded
        .as_bytes()
        .chunks(60)
        .map(|line| format!("{}\n", String::from_utf8_lossy(line)))
        .collect();
    let sha = blob_sha(bytes);
    let self_url = format!("{base}/repos/{full}/contents/{path}?ref={reference}");
    let git_url = format!("{base}/repos/{full}/git/blobs/{sha}");
    let html_url = format!("{base}/{full}/blob/{reference}/{path}");
    json!({
        "type": "file",
        "encoding": "base64",
        "size": bytes.len(),
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "content": wrapped,
        "sha": sha,
        "url": self_url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": format!("{base}/raw/{full}/{reference}/{path}"),
        "_links": { "git": git_url, "self": self_url, "html": html_url },
    })
}
