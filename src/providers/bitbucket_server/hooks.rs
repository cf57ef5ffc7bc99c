//! Bitbucket Data Center / Server webhooks: installing packyard's hook on
//! each repository, and which refresh each event asks for.
//!
//! # Installation
//! One hook per repository (`…/projects/{key}/repos/{slug}/webhooks`,
//! paged like every listing). Ours is the one delivering to the sync's URL;
//! its id is the hook's numeric `id`. Bitbucket signs deliveries with the
//! hook's `configuration.secret` (`X-Hub-Signature: sha256=…`); an update
//! always sends it again. Managing hooks takes `REPO_ADMIN` on the
//! repository; a repository where that is refused (401, as for every
//! refusal here) is reported in the failures.
//!
//! # Events
//! | `X-Event-Key`       | refresh                                            |
//! |---------------------|----------------------------------------------------|
//! | `repo:refs_changed` | the repository, `{project.key}/{slug}` as snapshots name it |
//! | `repo:modified`     | everything: a rename or a move to another project changes the repository's full name |
//! | `diagnostics:ping`, anything else | nothing                              |
//!
//! Bitbucket Server has no event for a repository created or for a
//! permission or group change: the periodic full resync catches those.

use super::{BitbucketServerHost, StartLimit};
use crate::domain::HookTarget;
use crate::providers::ProviderError;
use crate::providers::hooks::{HookApi, HookError, HookSpec, ListedHook, parse};
use crate::providers::http::HttpClient;
use reqwest::Url;

/// The hook events packyard subscribes repository hooks to.
const EVENTS: [&str; 2] = ["repo:refs_changed", "repo:modified"];

/// How packyard's hooks name themselves in the repository settings.
const NAME: &str = "packyard";

mod wire {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    pub struct RefsChanged {
        pub repository: Repository,
    }

    #[derive(Debug, Deserialize)]
    pub struct Repository {
        pub slug: String,
        pub project: Project,
    }

    #[derive(Debug, Deserialize)]
    pub struct Project {
        pub key: String,
    }

    /// A repository webhook.
    #[derive(Debug, Deserialize)]
    pub struct Hook {
        pub id: u64,
        pub url: String,
    }
}

impl BitbucketServerHost {
    /// `projects/{key}/repos/{slug}/webhooks`.
    fn hooks_path<'a>(&self, repo: &'a str) -> Result<[&'a str; 5], ProviderError> {
        let (key, slug) = self.split_full_name(repo)?;
        Ok(["projects", key, "repos", slug, "webhooks"])
    }
}

impl HookApi for BitbucketServerHost {
    type Hook = wire::Hook;
    type Pages = StartLimit;

    fn http(&self) -> &HttpClient {
        &self.http
    }

    fn hooks_url(&self, repo: &str) -> Result<Url, ProviderError> {
        Ok(self.list_url(&self.hooks_path(repo)?, &[]))
    }

    fn hook_url(&self, repo: &str, id: Option<&str>) -> Result<Url, ProviderError> {
        let path = self.hooks_path(repo)?;
        let segments: Vec<&str> = path.into_iter().chain(id).collect();
        Ok(self.url(&segments, &[]))
    }

    fn hook_body(&self, spec: &HookSpec) -> serde_json::Value {
        serde_json::json!({
            "name": NAME,
            "url": spec.url,
            "events": EVENTS,
            "active": true,
            "configuration": { "secret": spec.secret.expose() },
        })
    }

    fn listed(hook: wire::Hook) -> ListedHook {
        ListedHook {
            id: hook.id.to_string(),
            url: hook.url,
        }
    }

    /// Bitbucket Server answers 401 both for bad credentials and for a
    /// repository the account may not administer, so no single refusal
    /// speaks for the others (hooks are installed after a run whose first
    /// request checked the credentials).
    fn fails_everywhere(&self, _error: &ProviderError) -> bool {
        false
    }
}

pub(crate) fn targets(event: &str, body: &[u8]) -> Result<Vec<HookTarget>, HookError> {
    match event {
        "repo:refs_changed" => {
            let payload: wire::RefsChanged = parse(event, body)?;
            let repo = payload.repository;
            Ok(vec![HookTarget::Repo(format!(
                "{}/{}",
                repo.project.key, repo.slug
            ))])
        }
        "repo:modified" => Ok(vec![HookTarget::Full]),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProviderKind, Secret};
    use crate::providers::hooks::fixtures::{assert_fixtures, webhook_fixture};

    /// Every payload file of the fixture directory, byte-exact.
    const PAYLOADS: [(&str, &[u8]); 7] = [
        webhook_fixture!("bitbucket-server", "repo-refs_changed.json"),
        webhook_fixture!("bitbucket-server", "repo-refs_changed.signed.json"),
        webhook_fixture!("bitbucket-server", "repo-refs_changed.v10.json"),
        webhook_fixture!("bitbucket-server", "repo-refs_changed.tag-created.json"),
        webhook_fixture!("bitbucket-server", "repo-refs_changed.branch-deleted.json"),
        webhook_fixture!("bitbucket-server", "repo-modified.json"),
        webhook_fixture!("bitbucket-server", "diagnostics-ping.json"),
    ];

    #[test]
    fn every_fixture_is_mapped_and_the_signed_one_verifies() {
        let repo = |name: &str| vec![HookTarget::Repo(name.to_owned())];
        let expected = [
            ("repo-refs_changed.json", repo("AMUNIZ/test-repos")),
            (
                "repo-refs_changed.signed.json",
                repo("~gopher/webhook-test"),
            ),
            ("repo-refs_changed.v10.json", repo("AMUNIZ/test-repos")),
            (
                "repo-refs_changed.tag-created.json",
                repo("AMUNIZ/test-repos"),
            ),
            (
                "repo-refs_changed.branch-deleted.json",
                repo("AMUNIZ/test-repos"),
            ),
            ("repo-modified.json", vec![HookTarget::Full]),
            ("diagnostics-ping.json", vec![]),
        ];
        assert_fixtures(
            ProviderKind::BitbucketServer,
            "bitbucket-server",
            &PAYLOADS,
            &expected,
        );
    }

    #[test]
    fn other_events_give_no_target_and_broken_bodies_are_malformed() {
        let (_, refs_changed) = PAYLOADS[0];
        for event in ["pr:opened", "repo:forked", "repo:comment:added", ""] {
            assert_eq!(targets(event, refs_changed).unwrap(), [], "{event}");
        }
        assert!(matches!(
            targets("repo:refs_changed", br#"{"repository":{"slug":"x"}}"#),
            Err(HookError::Malformed { ref event, .. }) if event == "repo:refs_changed"
        ));
    }

    #[test]
    fn hook_fixtures_decode_and_our_hook_is_described_when_read_with_wire_dtos() {
        let listed: Vec<wire::Hook> = crate::providers::http::Pagination::items(
            &StartLimit,
            include_bytes!(
                "../../../../shared/fixtures/bitbucket-server/api/get-projects-key-repos-slug-webhooks.json"
            ),
        )
        .unwrap();
        assert_eq!(listed[0].id, 2);
        assert!(listed[0].url.starts_with("https://jenkins.example.com/"));
        let created: wire::Hook = serde_json::from_slice(include_bytes!(
            "../../../../shared/fixtures/bitbucket-server/api/post-projects-key-repos-slug-webhooks.json"
        ))
        .unwrap();
        assert_eq!(
            (created.id, created.url.as_str()),
            (1, "http://example.com")
        );
        let bitbucket = BitbucketServerHost::new(
            "https://bitbucket.example.com/context",
            "",
            &crate::domain::Credential::Token(Secret::new("t")),
            std::sync::Arc::new(crate::providers::MemoryCache::default()),
            &crate::providers::ClientSettings::default(),
        )
        .unwrap();
        assert_eq!(
            bitbucket.hooks_url("PRJ/my-repo").unwrap().as_str(),
            "https://bitbucket.example.com/context/rest/api/1.0/projects/PRJ/repos/my-repo/webhooks?limit=100"
        );
        assert_eq!(
            bitbucket
                .hook_url("PRJ/my-repo", Some("7"))
                .unwrap()
                .as_str(),
            "https://bitbucket.example.com/context/rest/api/1.0/projects/PRJ/repos/my-repo/webhooks/7"
        );
        assert!(bitbucket.hook_url("PRJ", None).is_err());
        let ours = bitbucket.hook_body(&HookSpec {
            url: "https://p.test/webhooks/dc".into(),
            secret: Secret::new("s"),
        });
        assert_eq!(
            ours,
            serde_json::json!({
                "name": "packyard",
                "url": "https://p.test/webhooks/dc",
                "events": ["repo:refs_changed", "repo:modified"],
                "active": true,
                "configuration": { "secret": "s" },
            })
        );
    }
}
