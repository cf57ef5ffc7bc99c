//! Bitbucket Cloud webhooks: installing packyard's hook on each repository,
//! and which refresh each event asks for.
//!
//! # Installation
//! One hook per repository (`/2.0/repositories/{ws}/{slug}/hooks`, pages
//! like every 2.0 listing). Ours is the one delivering to the sync's URL;
//! its id is the hook's `{uuid}`. Bitbucket signs deliveries with the
//! hook's `secret` (`X-Hub-Signature: sha256=…`) and never shows the
//! secret again, so an update always sends it. Managing hooks takes admin
//! rights on the repository and a credential with the webhook scope; a
//! repository where that is refused (403) is reported in the failures. A
//! workspace hook would see every repository with one hook, but only a
//! workspace owner may add one.
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
use crate::providers::hooks::{HookApi, HookError, HookSpec, ListedHook, parse};
use crate::providers::http::HttpClient;
use reqwest::Url;

/// The hook events packyard subscribes repository hooks to.
const EVENTS: [&str; 2] = ["repo:push", "repo:updated"];

/// How packyard's hooks describe themselves in Bitbucket's settings page.
const DESCRIPTION: &str = "packyard";

mod wire {
    use serde::Deserialize;

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
}

impl BitbucketCloudHost {
    /// `repositories/{ws}/{slug}/hooks`.
    fn hooks_path<'a>(&self, repo: &'a str) -> Result<[&'a str; 4], ProviderError> {
        let (workspace, slug) = self.split_full_name(repo)?;
        Ok(["repositories", workspace, slug, "hooks"])
    }
}

impl HookApi for BitbucketCloudHost {
    type Hook = wire::Hook;
    type Pages = NextUrl;

    fn http(&self) -> &HttpClient {
        &self.http
    }

    fn hooks_url(&self, repo: &str) -> Result<Url, ProviderError> {
        Ok(self.list_url(&self.hooks_path(repo)?, &[]))
    }

    fn hook_url(&self, repo: &str, uuid: Option<&str>) -> Result<Url, ProviderError> {
        let path = self.hooks_path(repo)?;
        let segments: Vec<&str> = path.into_iter().chain(uuid).collect();
        Ok(Self::url(&self.api, &segments, &[]))
    }

    fn hook_body(&self, spec: &HookSpec) -> serde_json::Value {
        serde_json::json!({
            "description": DESCRIPTION,
            "url": spec.url,
            "active": true,
            "events": EVENTS,
            "secret": spec.secret.expose(),
        })
    }

    fn listed(hook: wire::Hook) -> ListedHook {
        ListedHook {
            id: hook.uuid,
            url: hook.url,
        }
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
    use crate::providers::hooks::fixtures::{assert_fixtures, webhook_fixture};

    /// Every payload file of the fixture directory, byte-exact.
    const PAYLOADS: [(&str, &[u8]); 5] = [
        webhook_fixture!("bitbucket-cloud", "repo-push.json"),
        webhook_fixture!("bitbucket-cloud", "repo-push.signed.json"),
        webhook_fixture!("bitbucket-cloud", "repo-push.tag-created.json"),
        webhook_fixture!("bitbucket-cloud", "repo-push.branch-deleted.json"),
        webhook_fixture!("bitbucket-cloud", "repo-updated.json"),
    ];

    #[test]
    fn every_fixture_is_mapped_and_the_signed_one_verifies() {
        let repo = |name: &str| vec![HookTarget::Repo(name.to_owned())];
        let expected = [
            ("repo-push.json", repo("team_name/repo_name")),
            ("repo-push.signed.json", repo("nfalco79/test-repos")),
            ("repo-push.tag-created.json", repo("amuniz/test-repos")),
            ("repo-push.branch-deleted.json", repo("amuniz/test-repos")),
            ("repo-updated.json", vec![HookTarget::Full]),
        ];
        assert_fixtures(
            ProviderKind::BitbucketCloud,
            "bitbucket-cloud",
            &PAYLOADS,
            &expected,
        );
    }

    #[test]
    fn hook_fixture_decodes_and_our_hook_is_described_when_read_with_wire_dtos() {
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
        let bitbucket = BitbucketCloudHost::new(
            "https://api.bitbucket.org/2.0",
            "acme",
            &crate::domain::Credential::Token(Secret::new("t")),
            std::sync::Arc::new(crate::providers::MemoryCache::default()),
            &crate::providers::ClientSettings::default(),
        )
        .unwrap();
        assert_eq!(
            bitbucket.hooks_url("acme/log").unwrap().as_str(),
            "https://api.bitbucket.org/2.0/repositories/acme/log/hooks?pagelen=100"
        );
        assert_eq!(
            bitbucket
                .hook_url("acme/log", Some("{d5}"))
                .unwrap()
                .as_str(),
            "https://api.bitbucket.org/2.0/repositories/acme/log/hooks/%7Bd5%7D"
        );
        let ours = bitbucket.hook_body(&HookSpec {
            url: "https://p.test/webhooks/acme".into(),
            secret: Secret::new("s"),
        });
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
}
