//! REST and webhook bodies of the simulator. Field names follow the
//! fixtures under `shared/fixtures/bitbucket-cloud/api` and `…/webhooks`;
//! the bodies no fixture covers (1.0 groups, workspace permissions,
//! repository group permissions) follow the examples in Atlassian's REST
//! reference. Values are deterministic.

use super::super::history::RefUpdate;
use super::super::scenario::RepoRole;
use super::super::webhooks::Hook;
use super::state::{Group, Repo, State, User};
use crate::domain::RefKind;
use serde_json::{Value, json};

const CREATED_ON: &str = "2024-01-15T09:30:00.000000+00:00";

fn href(url: String) -> Value {
    json!({ "href": url })
}

/// Bitbucket's `updated_on` for a change made `generation` steps after
/// creation: one second apart, so every change shows.
fn updated_on(generation: u64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]+00:00"
    );
    let created = time::macros::datetime!(2024-01-15 09:30 UTC);
    created
        .saturating_add(time::Duration::seconds(
            i64::try_from(generation).unwrap_or(i64::MAX),
        ))
        .format(&format)
        .unwrap_or_else(|_| CREATED_ON.to_owned())
}

/// The Bitbucket name of a scenario role: GitHub's five collapse to three.
pub(super) fn permission(role: RepoRole) -> &'static str {
    match role {
        RepoRole::Pull | RepoRole::Triage => "read",
        RepoRole::Push | RepoRole::Maintain => "write",
        RepoRole::Admin => "admin",
    }
}

pub(super) fn workspace(state: &State, base: &str) -> Value {
    let ws = &state.slug;
    let api = format!("{base}/2.0/workspaces/{ws}");
    json!({
        "uuid": state.uuid,
        "links": {
            "owners": href(format!("{api}/members?q=permission%3D%22owner%22")),
            "hooks": href(format!("{api}/hooks")),
            "self": href(api.clone()),
            "repositories": href(format!("{base}/2.0/repositories/{ws}")),
            "html": href(format!("{base}/{ws}/")),
            "avatar": href(format!("{base}/workspaces/{ws}/avatar/")),
            "members": href(format!("{api}/members")),
            "projects": href(format!("{api}/projects")),
            "snippets": href(format!("{base}/2.0/snippets/{ws}")),
        },
        "created_on": CREATED_ON,
        "type": "workspace",
        "slug": ws,
        "is_private": true,
        "name": state.name.as_deref().unwrap_or(ws),
    })
}

/// A 2.0 user object (as inside `repository_permission`).
pub(super) fn user(user: &User, base: &str) -> Value {
    let id = urlencode_braces(&user.uuid);
    json!({
        "display_name": user.nickname,
        "links": {
            "self": href(format!("{base}/2.0/users/{id}")),
            "avatar": href(format!("{base}/avatars/{}", user.nickname)),
            "html": href(format!("{base}/{id}/")),
        },
        "type": "user",
        "uuid": user.uuid,
        "account_id": user.account_id,
        "nickname": user.nickname,
    })
}

fn urlencode_braces(uuid: &str) -> String {
    uuid.replace('{', "%7B").replace('}', "%7D")
}

/// One `workspace_membership` of `GET /2.0/workspaces/{ws}/permissions`.
pub(super) fn membership(state: &State, member: &User, base: &str) -> Value {
    json!({
        "permission": if member.owner { "owner" } else { "member" },
        "type": "workspace_membership",
        "user": user(member, base),
        "workspace": {
            "type": "workspace",
            "uuid": state.uuid,
            "slug": state.slug,
            "name": state.name.as_deref().unwrap_or(&state.slug),
        },
    })
}

/// One group of the 1.0 `GET /1.0/groups/{workspace}`, members inline.
pub(super) fn group(state: &State, group: &Group, base: &str) -> Value {
    let members: Vec<Value> = group
        .members
        .iter()
        .filter_map(|login| state.users.get(login))
        .map(|u| {
            json!({
                "display_name": u.nickname,
                "account_id": u.account_id,
                "is_team": false,
                "is_staff": false,
                "avatar": format!("{base}/avatars/{}", u.nickname),
                "resource_uri": format!("/1.0/users/{}", urlencode_braces(&u.uuid)),
                "nickname": u.nickname,
                "uuid": u.uuid,
            })
        })
        .collect();
    json!({
        "name": group.name,
        "permission": Value::Null,
        "auto_add": false,
        "slug": group.slug,
        "members": members,
        "owner": {
            "display_name": state.name.as_deref().unwrap_or(&state.slug),
            "uuid": state.uuid,
            "account_id": Value::Null,
            "is_team": true,
            "avatar": format!("{base}/workspaces/{}/avatar/", state.slug),
            "nickname": state.slug,
            "resource_uri": format!("/1.0/users/{}", state.slug),
        },
        "email_forwarding_disabled": false,
    })
}

/// One `repository_group_permission` of
/// `GET /2.0/repositories/{ws}/{slug}/permissions-config/groups`.
pub(super) fn group_permission(
    state: &State,
    repo: &Repo,
    group: &Group,
    role: RepoRole,
    base: &str,
) -> Value {
    json!({
        "type": "repository_group_permission",
        "group": { "type": "group", "name": group.name, "slug": group.slug },
        "permission": permission(role),
        "links": {
            "self": href(format!(
                "{base}/2.0/repositories/{}/{}/permissions-config/groups/{}",
                state.slug, repo.slug, group.slug
            )),
        },
    })
}

fn repo_links(state: &State, repo: &Repo, base: &str) -> (Value, String) {
    let full = format!("{}/{}", state.slug, repo.slug);
    let html = format!("{base}/{full}");
    let links = json!({
        "self": href(format!("{base}/2.0/repositories/{full}")),
        "html": href(html.clone()),
        "avatar": href(format!("{base}/ravatar/{}", urlencode_braces(&repo.uuid))),
    });
    (links, html)
}

pub(super) fn repo(state: &State, repo: &Repo, base: &str) -> Value {
    let full = format!("{}/{}", state.slug, repo.slug);
    let api = format!("{base}/2.0/repositories/{full}");
    let (mut links, html) = repo_links(state, repo, base);
    for name in [
        "watchers",
        "commits",
        "hooks",
        "forks",
        "downloads",
        "pullrequests",
    ] {
        links[name] = href(format!("{api}/{name}"));
    }
    links["branches"] = href(format!("{api}/refs/branches"));
    links["tags"] = href(format!("{api}/refs/tags"));
    links["source"] = href(format!("{api}/src"));
    links["clone"] = json!([
        { "href": format!("{html}.git"), "name": "https" },
        { "href": format!("git@{}:{full}.git", base.trim_start_matches("http://")), "name": "ssh" },
    ]);
    json!({
        "scm": "git",
        "website": "",
        "has_wiki": false,
        "uuid": repo.uuid,
        "links": links,
        "fork_policy": "no_public_forks",
        "name": repo.slug,
        "project": {
            "key": "PROJ",
            "type": "project",
            "uuid": super::state::uuid("project", &state.slug),
            "links": {
                "self": href(format!("{base}/2.0/workspaces/{}/projects/PROJ", state.slug)),
                "html": href(format!("{base}/{}/workspace/projects/PROJ", state.slug)),
                "avatar": href(format!("{base}/{}/workspace/projects/PROJ/avatar/32", state.slug)),
            },
            "name": "Packages",
        },
        "language": "php",
        "created_on": CREATED_ON,
        "mainbranch": { "type": "branch", "name": repo.git.default_branch },
        "full_name": full,
        "has_issues": false,
        "updated_on": updated_on(repo.updated),
        "size": 4096,
        "type": "repository",
        "slug": repo.slug,
        "is_private": true,
        "description": repo.description.as_deref().unwrap_or(""),
    })
}

fn commit(state: &State, repo: &Repo, sha: &str, base: &str) -> Value {
    let full = format!("{}/{}", state.slug, repo.slug);
    let (repo_links, _) = repo_links(state, repo, base);
    json!({
        "hash": sha,
        "repository": {
            "links": repo_links,
            "type": "repository",
            "name": repo.slug,
            "full_name": full,
            "uuid": repo.uuid,
        },
        "links": {
            "self": href(format!("{base}/2.0/repositories/{full}/commit/{sha}")),
            "html": href(format!("{base}/{full}/commits/{sha}")),
        },
        "author": { "raw": "packyard simulator <sim@packyard.test>", "type": "author" },
        "parents": [],
        "date": CREATED_ON,
        "message": "Simulated commit\n",
        "type": "commit",
    })
}

pub(super) fn branch(state: &State, repo: &Repo, name: &str, sha: &str, base: &str) -> Value {
    let full = format!("{}/{}", state.slug, repo.slug);
    json!({
        "name": name,
        "links": {
            "commits": href(format!("{base}/2.0/repositories/{full}/commits/{name}")),
            "self": href(format!("{base}/2.0/repositories/{full}/refs/branches/{name}")),
            "html": href(format!("{base}/{full}/branch/{name}")),
        },
        "default_merge_strategy": "merge_commit",
        "merge_strategies": ["merge_commit", "squash", "fast_forward"],
        "type": "branch",
        "target": commit(state, repo, sha, base),
    })
}

pub(super) fn tag(state: &State, repo: &Repo, name: &str, sha: &str, base: &str) -> Value {
    let full = format!("{}/{}", state.slug, repo.slug);
    json!({
        "name": name,
        "type": "tag",
        "message": format!("{name}\n"),
        "date": CREATED_ON,
        "tagger": { "type": "author", "raw": "packyard simulator <sim@packyard.test>" },
        "target": commit(state, repo, sha, base),
        "links": {
            "self": href(format!("{base}/2.0/repositories/{full}/refs/tags/{name}")),
            "commits": href(format!("{base}/2.0/repositories/{full}/commits/{name}")),
            "html": href(format!("{base}/{full}/commits/tag/{name}")),
        },
    })
}

/// A hook's `{uuid}`, derived from its registry id.
pub(super) fn hook_uuid(id: u64) -> String {
    super::state::uuid("hook", &id.to_string())
}

/// A `webhook_subscription` on a repository, as in
/// `post-repositories-ws-slug-hooks.json`. The secret is never shown.
pub(super) fn hook(state: &State, repo: &Repo, hook: &Hook, base: &str) -> Value {
    let full = format!("{}/{}", state.slug, repo.slug);
    let uuid = hook_uuid(hook.id);
    let (mut subject_links, _) = repo_links(state, repo, base);
    subject_links["self"] = href(format!("{base}/2.0/repositories/{full}"));
    json!({
        "read_only": false,
        "description": state.hook_descriptions.get(&hook.id).map_or("", String::as_str),
        "links": {
            "self": href(format!(
                "{base}/2.0/repositories/{full}/hooks/{}",
                urlencode_braces(&uuid)
            )),
        },
        "url": hook.url,
        "created_at": "2024-01-15T09:30:00.000000Z",
        "skip_cert_verification": false,
        "source": Value::Null,
        "active": hook.active,
        "subject": {
            "links": subject_links,
            "type": "repository",
            "name": repo.slug,
            "full_name": full,
            "uuid": repo.uuid,
        },
        "type": "webhook_subscription",
        "events": hook.events,
        "uuid": uuid,
    })
}

/// The body of a `repo:push` delivery, as in `webhooks/repo-push.*.json`.
/// The actor is the first workspace owner (the account the token is for).
pub(super) fn push(state: &State, repo: &Repo, change: &RefUpdate, base: &str) -> Value {
    let at = |sha: &Option<String>| match (change.kind, sha) {
        (RefKind::Tag, Some(sha)) => tag(state, repo, &change.name, sha, base),
        (RefKind::Branch, Some(sha)) => branch(state, repo, &change.name, sha, base),
        (_, None) => Value::Null,
    };
    let actor = state
        .users
        .values()
        .find(|u| u.owner)
        .map_or(Value::Null, |u| user(u, base));
    let full = format!("{}/{}", state.slug, repo.slug);
    let (links, _) = repo_links(state, repo, base);
    let commits: Vec<Value> = change
        .new
        .iter()
        .map(|sha| commit(state, repo, sha, base))
        .collect();
    json!({
        "push": {
            "changes": [{
                "old": at(&change.old),
                "new": at(&change.new),
                "truncated": false,
                "created": change.old.is_none(),
                "forced": false,
                "closed": change.new.is_none(),
                "commits": commits,
            }],
        },
        "repository": {
            "type": "repository",
            "full_name": full,
            "links": links,
            "name": repo.slug,
            "scm": "git",
            "website": "",
            "workspace": {
                "type": "workspace",
                "uuid": state.uuid,
                "name": state.name.as_deref().unwrap_or(&state.slug),
                "slug": state.slug,
            },
            "is_private": true,
            "uuid": repo.uuid,
        },
        "actor": actor,
    })
}
