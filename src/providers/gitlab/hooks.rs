//! Which refresh each GitLab webhook event asks for.
//!
//! Group and project hooks name the event in `X-Gitlab-Event` (`Push Hook`,
//! `Tag Push Hook`, `Release Hook`, `Member Hook`, `Subgroup Hook`,
//! `Project Hook`); system hooks all arrive as `System Hook` and name the
//! event in the body's `event_name`. A group hook's project events are
//! built like the system hook's, so both go through [`by_event_name`].
//!
//! Repositories are named by `path_with_namespace`, as the snapshot's
//! `RemoteRepo::full_name`. Groups are named by their numeric `group_id`,
//! which `fetch_team` takes: member events carry the group's own `path`
//! only (`platform`, not `acme/platform`), which does not identify a
//! subgroup.

use crate::domain::HookTarget;
use crate::providers::hooks::{HookError, parse};

/// The payload fields packyard reads, per event family.
mod wire {
    use serde::Deserialize;

    /// Push, tag push and release events, and the system hook's push,
    /// tag push and repository update.
    #[derive(Debug, Deserialize)]
    pub struct InProject {
        pub project: Project,
    }

    #[derive(Debug, Deserialize)]
    pub struct Project {
        pub path_with_namespace: String,
    }

    /// System hooks and group project events.
    #[derive(Debug, Deserialize)]
    pub struct Named {
        pub event_name: String,
    }

    /// `project_create`, `project_destroy`, `project_update`: the project's
    /// fields at the top level.
    #[derive(Debug, Deserialize)]
    pub struct ProjectEvent {
        pub path_with_namespace: String,
    }

    /// Group member events (`Member Hook`, `user_*_group` system events).
    #[derive(Debug, Deserialize)]
    pub struct GroupMember {
        #[serde(default)]
        pub group_id: Option<u64>,
    }
}

pub(crate) fn targets(event: &str, body: &[u8]) -> Result<Vec<HookTarget>, HookError> {
    match event {
        "Push Hook" | "Tag Push Hook" | "Release Hook" => project_of(event, body),
        "Member Hook" => group_of(event, body),
        // A subgroup created, renamed or removed adds or drops whole teams
        // and moves projects: only a full run sees all of it.
        "Subgroup Hook" => Ok(vec![HookTarget::Full]),
        "Project Hook" | "System Hook" => {
            let named: wire::Named = parse(event, body)?;
            by_event_name(event, &named.event_name, body)
        }
        _ => Ok(Vec::new()),
    }
}

/// System hook and group project events, by the body's `event_name`.
fn by_event_name(event: &str, name: &str, body: &[u8]) -> Result<Vec<HookTarget>, HookError> {
    match name {
        "push" | "tag_push" | "repository_update" => project_of(event, body),
        // A project deleted is a Repo target too: fetching it finds nothing,
        // and the engine escalates to a full run.
        "project_create" | "project_destroy" | "project_update" => {
            let project: wire::ProjectEvent = parse(event, body)?;
            Ok(vec![HookTarget::Repo(project.path_with_namespace)])
        }
        "user_add_to_group" | "user_remove_from_group" | "user_update_for_group" => {
            group_of(event, body)
        }
        // Renames and transfers change names a targeted refresh looks up
        // by; group changes add or drop teams; project members are not
        // synchronized but may stand for a changed share, which only the
        // group listings show. A user destroyed loses every membership
        // without one member event each, and a rename changes their login
        // in every team they are in.
        "project_rename"
        | "project_transfer"
        | "group_create"
        | "group_destroy"
        | "group_rename"
        | "user_add_to_team"
        | "user_remove_from_team"
        | "user_update_for_team"
        | "user_destroy"
        | "user_rename" => Ok(vec![HookTarget::Full]),
        // `user_create`: a new account belongs to no group yet; its first
        // membership arrives as its own event. Keys, failed logins and
        // access requests grant nothing.
        _ => Ok(Vec::new()),
    }
}

fn project_of(event: &str, body: &[u8]) -> Result<Vec<HookTarget>, HookError> {
    let payload: wire::InProject = parse(event, body)?;
    Ok(vec![HookTarget::Repo(payload.project.path_with_namespace)])
}

/// The group's teams; a member event without a group (a shape packyard
/// does not know) falls back to a full run rather than being missed.
fn group_of(event: &str, body: &[u8]) -> Result<Vec<HookTarget>, HookError> {
    let payload: wire::GroupMember = parse(event, body)?;
    Ok(vec![payload.group_id.map_or(HookTarget::Full, |id| {
        HookTarget::Team(id.to_string())
    })])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProviderKind, Secret};
    use crate::providers::hooks::verify;
    use reqwest::header::{HeaderMap, HeaderValue};
    use serde_json::Value;

    const DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/gitlab/webhooks"
    );

    macro_rules! payload {
        ($name:literal) => {
            (
                $name,
                include_bytes!(concat!(
                    "../../../../shared/fixtures/gitlab/webhooks/",
                    $name
                ))
                .as_slice(),
            )
        };
    }

    const HEADERS: &str = include_str!("../../../../shared/fixtures/gitlab/webhooks/headers.json");

    fn repo(name: &str) -> Vec<HookTarget> {
        vec![HookTarget::Repo(name.to_owned())]
    }

    fn team(id: &str) -> Vec<HookTarget> {
        vec![HookTarget::Team(id.to_owned())]
    }

    /// A payload file (name, bytes) and the targets it must give.
    type Case = ((&'static str, &'static [u8]), Vec<HookTarget>);

    /// Every payload file with the targets it must give.
    fn expectations() -> Vec<Case> {
        let full = || vec![HookTarget::Full];
        vec![
            (payload!("push.json"), repo("mike/diaspora")),
            (payload!("tag_push.json"), repo("jsmith/example")),
            (
                payload!("release.json"),
                repo("exm-namespace/example-project"),
            ),
            (payload!("member.json"), team("100")),
            (payload!("subgroup.json"), full()),
            (payload!("system.push.json"), repo("mike/diaspora")),
            (payload!("system.tag_push.json"), repo("jsmith/example")),
            (
                payload!("system.repository_update.json"),
                repo("jsmith/example"),
            ),
            (
                payload!("system.project_create.json"),
                repo("jsmith/storecloud"),
            ),
            (
                payload!("system.project_update.json"),
                repo("jsmith/storecloud"),
            ),
            (
                payload!("system.project_destroy.json"),
                repo("jsmith/underscore"),
            ),
            (payload!("system.project_rename.json"), full()),
            (payload!("system.project_transfer.json"), full()),
            (payload!("system.user_add_to_group.json"), team("78")),
            (payload!("system.user_remove_from_group.json"), team("78")),
            (payload!("system.user_update_for_group.json"), team("78")),
            (payload!("system.user_add_to_team.json"), full()),
            (payload!("system.user_remove_from_team.json"), full()),
            (payload!("system.user_update_for_team.json"), full()),
            (payload!("system.group_create.json"), full()),
            (payload!("system.group_destroy.json"), full()),
            (payload!("system.group_rename.json"), full()),
            (payload!("system.user_create.json"), Vec::new()),
            (payload!("system.user_destroy.json"), full()),
            (payload!("system.user_rename.json"), full()),
        ]
    }

    #[test]
    fn every_fixture_maps_to_its_targets_when_read_under_its_event_header() {
        let headers: Value = serde_json::from_str(HEADERS).unwrap();
        let events = headers["events"].as_object().unwrap();
        let table = expectations();
        for ((file, body), expected) in &table {
            let event = events[*file]["X-Gitlab-Event"].as_str().unwrap();
            assert_eq!(
                &targets(event, body).unwrap(),
                expected,
                "{file} as {event}"
            );
        }
        // Nothing in the directory or in headers.json is left untested.
        let mut tested: Vec<&str> = table.iter().map(|((file, _), _)| *file).collect();
        tested.sort_unstable();
        let mut listed: Vec<&str> = events
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with('_'))
            .collect();
        listed.sort_unstable();
        assert_eq!(tested, listed);
        let mut on_disk: Vec<String> = std::fs::read_dir(DIR)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json") && n != "headers.json")
            .collect();
        on_disk.sort_unstable();
        assert_eq!(tested, on_disk);
    }

    #[test]
    fn project_events_of_a_group_hook_map_like_system_events() {
        let (_, body) = payload!("system.project_create.json");
        assert_eq!(
            targets("Project Hook", body).unwrap(),
            repo("jsmith/storecloud")
        );
        let (_, body) = payload!("system.project_transfer.json");
        assert_eq!(
            targets("Project Hook", body).unwrap(),
            vec![HookTarget::Full]
        );
    }

    #[test]
    fn unknown_events_give_no_targets_when_acknowledged() {
        for event in ["Issue Hook", "Pipeline Hook", "Note Hook", ""] {
            assert_eq!(targets(event, b"not even json").unwrap(), Vec::new());
        }
        let key = br#"{"event_name":"key_create","id":4,"username":"root"}"#;
        assert_eq!(targets("System Hook", key).unwrap(), Vec::new());
    }

    #[test]
    fn member_event_without_group_falls_back_to_full_when_shape_unknown() {
        let body = br#"{"event_name":"user_add_to_group","user_id":1}"#;
        assert_eq!(
            targets("Member Hook", body).unwrap(),
            vec![HookTarget::Full]
        );
    }

    #[test]
    fn malformed_bodies_are_refused_when_the_event_is_handled() {
        let err = targets("Push Hook", b"{\"project\":{}}").unwrap_err();
        assert!(
            matches!(&err, HookError::Malformed { event, .. } if event == "Push Hook"),
            "{err:?}"
        );
        assert!(targets("System Hook", b"[]").is_err());
    }

    /// GitLab sends the secret itself in `X-Gitlab-Token`: every example
    /// delivery in headers.json verifies against its own token, and a token
    /// one byte off does not.
    #[test]
    fn example_deliveries_verify_when_token_matches_and_fail_when_tampered() {
        let headers: Value = serde_json::from_str(HEADERS).unwrap();
        let (_, body) = payload!("push.json");
        let examples: Vec<&Value> = headers
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("example_delivery"))
            .map(|(_, v)| &v["headers"])
            .collect();
        assert_eq!(examples.len(), 2);
        for example in examples {
            let token = example["X-Gitlab-Token"].as_str().unwrap();
            let secret = Secret::new(token);
            let mut map = HeaderMap::new();
            map.insert("X-Gitlab-Token", HeaderValue::from_str(token).unwrap());
            assert_eq!(verify(ProviderKind::Gitlab, &map, body, &secret), Ok(()));
            let mut tampered = token.as_bytes().to_vec();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            map.insert(
                "X-Gitlab-Token",
                HeaderValue::from_bytes(&tampered).unwrap(),
            );
            assert!(verify(ProviderKind::Gitlab, &map, body, &secret).is_err());
            let event = example["X-Gitlab-Event"].as_str().unwrap();
            assert_eq!(targets(event, body).unwrap(), repo("mike/diaspora"));
        }
    }
}
