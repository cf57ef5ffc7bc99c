//! Bitbucket Cloud webhooks: installing packyard's hook on each repository,
//! and which refresh each event asks for.
//!
//! # Installation
//! One hook per repository (`/2.0/repositories/{ws}/{slug}/hooks`, pages
//! like every 2.0 listing). Ours is the one delivering to the sync's URL;
//! its id is the hook's `{uuid}`. Bitbucket signs deliveries with the
//! hook's `secret` (`X-Hub-Signature: sha256=…`) and never shows the
//! secret again, so an update always sends it. A workspace hook would see
//! every repository with one hook, but only a workspace owner may add one.
//!
//! # Events
//! | `X-Event-Key`  | refresh                                                 |
//! |----------------|---------------------------------------------------------|
//! | `repo:push`    | the repository (`repository.full_name`)                 |
//! | `repo:created` | the repository: a new one becomes a package             |
//! | `repo:updated` | everything: the change may be a rename (`changes.full_name`), which a refresh of the new name alone would see as a second repository |
//! | anything else  | nothing                                                 |
//!
//! Repository hooks cannot subscribe to `repo:created` (Bitbucket offers it
//! to workspace hooks only); it is handled in case such a hook delivers here.

use super::{BitbucketCloudHost, NextUrl};
use crate::domain::HookTarget;
use crate::providers::ProviderError;
use crate::providers::hooks::{HookError, HookSpec, ListedHook, RepoHooks, parse, whole_listing};
use async_trait::async_trait;
use reqwest::Method;

/// The hook events packyard subscribes repository hooks to.
const EVENTS: [&str; 2] = ["repo:push", "repo:updated"];

/// How packyard's hooks describe themselves in Bitbucket's settings page.
const DESCRIPTION: &str = "packyard";

mod wire {
    use serde::{Deserialize, Serialize};

    /// Every repository event names its repository the same way.
    #[derive(Debug, Deserialize)]
    pub struct RepoEvent {
        pub repository: Repository,
    }

    #[derive(Debug, Deserialize)]
    pub struct Repository {
        pub full_name: String,
    }

    /// A `webhook_subscription`.
    #[derive(Debug, Deserialize)]
    pub struct Hook {
        pub uuid: String,
        pub url: String,
    }

    /// What packyard sends to create or update its hook.
    #[derive(Serialize)]
    pub struct NewHook<'a> {
        pub description: &'a str,
        pub url: &'a str,
        pub active: bool,
        pub events: &'a [&'a str],
        pub secret: &'a str,
    }
}

impl BitbucketCloudHost {
    /// `repositories/{ws}/{slug}/hooks[/{uuid}]`.
    fn hook_path<'a>(
        &self,
        repo: &'a str,
        uuid: Option<&'a str>,
    ) -> Result<Vec<&'a str>, ProviderError> {
        let (workspace, slug) = self.split_full_name(repo)?;
        let mut segments = vec!["repositories", workspace, slug, "hooks"];
        segments.extend(uuid);
        Ok(segments)
    }

    /// Creates (POST) or updates (PUT) the hook at `path`.
    async fn send_hook(
        &self,
        method: Method,
        path: &[&str],
        spec: &HookSpec,
    ) -> Result<String, ProviderError> {
        let body = wire::NewHook {
            description: DESCRIPTION,
            url: &spec.url,
            active: true,
            events: &EVENTS,
            secret: spec.secret.expose(),
        };
        let url = Self::url(&self.api, path, &[]);
        let hook: wire::Hook = self.http.send_json(method, &url, &body).await?;
        Ok(hook.uuid)
    }
}

#[async_trait]
impl RepoHooks for BitbucketCloudHost {
    async fn list_hooks(&self, repo: &str) -> Result<Vec<ListedHook>, ProviderError> {
        let url = self.list_url(&self.hook_path(repo, None)?, &[]);
        let paged = self
            .http
            .get_all::<wire::Hook, _>(url.clone(), &NextUrl)
            .await;
        Ok(whole_listing(paged, self.http.host(), &url)?
            .into_iter()
            .map(|h| ListedHook {
                id: h.uuid,
                url: h.url,
            })
            .collect())
    }

    async fn create_hook(&self, repo: &str, spec: &HookSpec) -> Result<String, ProviderError> {
        self.send_hook(Method::POST, &self.hook_path(repo, None)?, spec)
            .await
    }

    async fn update_hook(
        &self,
        repo: &str,
        id: &str,
        spec: &HookSpec,
    ) -> Result<String, ProviderError> {
        self.send_hook(Method::PUT, &self.hook_path(repo, Some(id))?, spec)
            .await
    }

    async fn delete_hook(&self, repo: &str, id: &str) -> Result<(), ProviderError> {
        let url = Self::url(&self.api, &self.hook_path(repo, Some(id))?, &[]);
        self.http.delete(&url).await
    }
}

pub(crate) fn targets(event: &str, body: &[u8]) -> Result<Vec<HookTarget>, HookError> {
    match event {
        "repo:push" | "repo:created" => {
            let payload: wire::RepoEvent = parse(event, body)?;
            Ok(vec![HookTarget::Repo(payload.repository.full_name)])
        }
        "repo:updated" => Ok(vec![HookTarget::Full]),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProviderKind, Secret};
    use crate::providers::hooks::verify;
    use reqwest::header::{HeaderMap, HeaderValue};
    use serde_json::Value;

    macro_rules! payload {
        ($name:literal) => {
            (
                $name,
                include_bytes!(concat!(
                    "../../../../shared/fixtures/bitbucket-cloud/webhooks/",
                    $name
                )) as &[u8],
            )
        };
    }

    /// Every payload file of the fixture directory (a new file fails
    /// `every_fixture_is_mapped_when_decoded_under_its_event`).
    const PAYLOADS: [(&str, &[u8]); 5] = [
        payload!("repo-push.json"),
        payload!("repo-push.signed.json"),
        payload!("repo-push.tag-created.json"),
        payload!("repo-push.branch-deleted.json"),
        payload!("repo-updated.json"),
    ];

    fn headers_json() -> Value {
        serde_json::from_slice(include_bytes!(
            "../../../../shared/fixtures/bitbucket-cloud/webhooks/headers.json"
        ))
        .unwrap()
    }

    #[test]
    fn every_fixture_is_mapped_when_decoded_under_its_event() {
        let headers = headers_json();
        let events = headers["events"].as_object().unwrap();
        let mut listed: Vec<&str> = events
            .keys()
            .filter(|k| !k.starts_with('_'))
            .map(String::as_str)
            .collect();
        let mut ours: Vec<&str> = PAYLOADS.iter().map(|(name, _)| *name).collect();
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/bitbucket-cloud/webhooks"
        );
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".json") && f != "headers.json")
            .collect();
        listed.sort_unstable();
        ours.sort_unstable();
        files.sort_unstable();
        assert_eq!(ours, listed, "every payload in headers.json is tested");
        assert_eq!(ours, files, "every payload file is tested");

        let repo = |name: &str| vec![HookTarget::Repo(name.to_owned())];
        let expected = [
            ("repo-push.json", repo("team_name/repo_name")),
            ("repo-push.signed.json", repo("nfalco79/test-repos")),
            ("repo-push.tag-created.json", repo("amuniz/test-repos")),
            ("repo-push.branch-deleted.json", repo("amuniz/test-repos")),
            ("repo-updated.json", vec![HookTarget::Full]),
        ];
        for (name, want) in expected {
            let event = events[name]["X-Event-Key"].as_str().unwrap();
            let (_, body) = PAYLOADS.iter().find(|(n, _)| *n == name).unwrap();
            assert_eq!(targets(event, body).unwrap(), want, "{name} as {event}");
        }
    }

    #[test]
    fn hook_fixture_decodes_and_our_hook_serializes_when_read_with_wire_dtos() {
        let hook: wire::Hook = serde_json::from_slice(include_bytes!(
            "../../../../shared/fixtures/bitbucket-cloud/api/post-repositories-ws-slug-hooks.json"
        ))
        .unwrap();
        assert_eq!(
            (hook.uuid.as_str(), hook.url.as_str()),
            (
                "{d53603cc-3f67-45ea-b310-aaa5ef6ec061}",
                "http://example.com/webhook"
            )
        );
        let ours = serde_json::to_value(wire::NewHook {
            description: DESCRIPTION,
            url: "https://p.test/webhooks/acme",
            active: true,
            events: &EVENTS,
            secret: "s",
        })
        .unwrap();
        assert_eq!(
            ours,
            serde_json::json!({
                "description": "packyard",
                "url": "https://p.test/webhooks/acme",
                "active": true,
                "events": ["repo:push", "repo:updated"],
                "secret": "s",
            })
        );
    }

    #[test]
    fn repo_created_refreshes_the_new_repository_when_a_workspace_hook_sends_it() {
        let body = br#"{"repository":{"full_name":"acme/new-lib","type":"repository"}}"#;
        assert_eq!(
            targets("repo:created", body).unwrap(),
            [HookTarget::Repo("acme/new-lib".into())]
        );
    }

    #[test]
    fn other_events_give_no_target_and_broken_bodies_are_malformed() {
        let (_, push) = PAYLOADS[0];
        for event in ["pullrequest:created", "repo:fork", "issue:created", ""] {
            assert_eq!(targets(event, push).unwrap(), [], "{event}");
        }
        assert!(matches!(
            targets("repo:push", b"{\"push\":{}}"),
            Err(HookError::Malformed { ref event, .. }) if event == "repo:push"
        ));
    }

    #[test]
    fn signed_fixture_verifies_and_a_tamper_fails() {
        let headers = headers_json();
        for vector in headers["signature_test_vectors"].as_array().unwrap() {
            let file = vector["payload_file"].as_str().unwrap();
            let (_, body) = PAYLOADS.iter().find(|(n, _)| *n == file).unwrap();
            let secret = Secret::new(vector["secret"].as_str().unwrap());
            let mut h = HeaderMap::new();
            let signature = vector["X-Hub-Signature"].as_str().unwrap();
            h.insert("X-Hub-Signature", HeaderValue::from_str(signature).unwrap());
            assert_eq!(
                verify(ProviderKind::BitbucketCloud, &h, body, &secret),
                Ok(())
            );
            let mut tampered = body.to_vec();
            tampered[10] ^= 1;
            assert!(verify(ProviderKind::BitbucketCloud, &h, &tampered, &secret).is_err());
        }
    }
}
