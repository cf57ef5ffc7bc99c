//! GitHub (and GHES) webhooks: which refresh each event asks for, and the
//! hooks that send them.
//!
//! Repository names are the payload's `repository.full_name`, the same field
//! the REST API gives and snapshots keep as `RemoteRepo::full_name`; teams
//! are named by slug, which `fetch_team` takes.
//!
//! Installation prefers one organization hook (`/orgs/{org}/hooks`), which
//! also hears about new repositories and team changes. Creating it needs the
//! `admin:org_hook` scope (or an app's organization hooks permission); when
//! the host refuses, each repository gets its own hook
//! (`/repos/{owner}/{repo}/hooks`). A hook is ours when it delivers to our
//! URL: that one is updated in place, so running again never duplicates it.

use super::{GithubHost, wire};
use crate::domain::{HookTarget, InstalledHooks};
use crate::providers::ProviderError;
use crate::providers::hooks::{
    HookApi, HookError, HookSpec, ListedHook, ensure_org_or_repo_hooks, parse,
    remove_org_and_repo_hooks,
};
use crate::providers::http::{HttpClient, LinkHeader};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::json;

/// What an organization hook subscribes to: every event [`targets`] acts on.
const ORG_EVENTS: [&str; 9] = [
    "push",
    "create",
    "delete",
    "release",
    "repository",
    "team",
    "membership",
    "member",
    "organization",
];

/// What a repository hook subscribes to: team and organization events are
/// only sent to organization hooks.
const REPO_EVENTS: [&str; 5] = ["push", "create", "delete", "release", "repository"];

/// Where a hook is registered: the organization, or one repository.
#[derive(Clone, Copy)]
enum HookLevel {
    Org,
    Repo,
}

/// GitHub's hook API at one level.
struct Hooks<'a> {
    host: &'a GithubHost,
    level: HookLevel,
}

impl GithubHost {
    fn hooks(&self, level: HookLevel) -> Hooks<'_> {
        Hooks { host: self, level }
    }

    /// `/orgs/{org}/hooks[/{id}]` or `/repos/{owner}/{repo}/hooks[/{id}]`,
    /// `owner` being the organization or the repository's full name.
    fn hooks_url(&self, level: HookLevel, owner: &str, id: Option<&str>) -> Url {
        let collection = match level {
            HookLevel::Org => "orgs",
            HookLevel::Repo => "repos",
        };
        let segments: Vec<&str> = std::iter::once(collection)
            .chain(owner.split('/'))
            .chain(std::iter::once("hooks"))
            .chain(id)
            .collect();
        match id {
            Some(_) => self.url(&segments, &[]),
            None => self.list_url(&segments, &[]),
        }
    }

    pub(super) async fn install_hooks(
        &self,
        spec: &HookSpec,
        repos: &[String],
    ) -> Result<InstalledHooks, ProviderError> {
        // GitHub answers 404 to a token without `admin:org_hook` and 403 to
        // an app without the organization hooks permission.
        let (org, repo) = (self.hooks(HookLevel::Org), self.hooks(HookLevel::Repo));
        ensure_org_or_repo_hooks(&org, &self.org, &repo, spec, repos, self.concurrency).await
    }

    pub(super) async fn uninstall_hooks(
        &self,
        installed: &InstalledHooks,
    ) -> Result<(), ProviderError> {
        let (org, repo) = (self.hooks(HookLevel::Org), self.hooks(HookLevel::Repo));
        remove_org_and_repo_hooks(&org, &self.org, &repo, installed, self.concurrency).await
    }
}

impl HookApi for Hooks<'_> {
    type Hook = wire::Hook;
    type Pages = LinkHeader;
    const UPDATE: Method = Method::PATCH;

    fn http(&self) -> &HttpClient {
        &self.host.http
    }

    fn hooks_url(&self, owner: &str) -> Result<Url, ProviderError> {
        Ok(self.host.hooks_url(self.level, owner, None))
    }

    fn hook_url(&self, owner: &str, id: Option<&str>) -> Result<Url, ProviderError> {
        Ok(self.host.hooks_url(self.level, owner, id))
    }

    /// `config` is replaced whole, secret included.
    fn hook_body(&self, spec: &HookSpec) -> serde_json::Value {
        let events: &[&str] = match self.level {
            HookLevel::Org => &ORG_EVENTS,
            HookLevel::Repo => &REPO_EVENTS,
        };
        json!({
            "active": true,
            "events": events,
            "config": {
                "url": spec.url,
                "content_type": "json",
                "insecure_ssl": "0",
                "secret": spec.secret.expose(),
            },
        })
    }

    /// A hook's `name` is set once, when it is created.
    fn create_body(&self, spec: &HookSpec) -> serde_json::Value {
        let mut body = self.hook_body(spec);
        body["name"] = json!("web");
        body
    }

    /// A hook without a URL (not a webhook) is never ours.
    fn listed(hook: wire::Hook) -> ListedHook {
        ListedHook {
            id: hook.id.to_string(),
            url: hook.config.url.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

/// A deleted team arrives as `{id, name, deleted}`, without a slug.
#[derive(Deserialize)]
struct Team {
    #[serde(default)]
    slug: Option<String>,
}

/// push, create, delete, release: something changed in one repository.
#[derive(Deserialize)]
struct RepoEvent {
    repository: Repository,
}

#[derive(Deserialize)]
struct RepositoryEvent {
    action: String,
    repository: Repository,
}

/// team and membership.
#[derive(Deserialize)]
struct TeamEvent {
    team: Team,
}

#[derive(Deserialize)]
struct OrganizationEvent {
    action: String,
}

pub(crate) fn targets(event: &str, body: &[u8]) -> Result<Vec<HookTarget>, HookError> {
    let target = match event {
        "push" | "create" | "delete" | "release" => {
            HookTarget::Repo(parse::<RepoEvent>(event, body)?.repository.full_name)
        }
        "repository" => {
            let e = parse::<RepositoryEvent>(event, body)?;
            match e.action.as_str() {
                // The old name is gone and the package must follow the new
                // one (or another organization): only a full run sees both.
                "renamed" | "transferred" => HookTarget::Full,
                _ => HookTarget::Repo(e.repository.full_name),
            }
        }
        "team" | "membership" => match parse::<TeamEvent>(event, body)?.team.slug {
            Some(slug) => HookTarget::Team(slug),
            None => HookTarget::Full,
        },
        // Repository collaborators, which packyard does not model: their
        // access shows only in a full run.
        "member" => HookTarget::Full,
        "organization" => match parse::<OrganizationEvent>(event, body)?.action.as_str() {
            // An invitation grants nothing until it is accepted
            // (`member_added`).
            "member_invited" => return Ok(Vec::new()),
            _ => HookTarget::Full,
        },
        // The app's installation or its repository selection changed.
        "installation" | "installation_repositories" => HookTarget::Full,
        _ => return Ok(Vec::new()),
    };
    Ok(vec![target])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProviderKind, Secret};
    use crate::providers::hooks::verify;
    use reqwest::header::{HeaderMap, HeaderValue};
    use std::collections::BTreeMap;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/github/webhooks"
    );

    fn repo(name: &str) -> Vec<HookTarget> {
        vec![HookTarget::Repo(name.to_owned())]
    }

    fn team(slug: &str) -> Vec<HookTarget> {
        vec![HookTarget::Team(slug.to_owned())]
    }

    /// What every payload file asks for, by file name.
    fn expected() -> BTreeMap<&'static str, Vec<HookTarget>> {
        let full = || vec![HookTarget::Full];
        BTreeMap::from([
            ("push.json", repo("Codertocat/Hello-World")),
            ("push.signed.json", repo("Codertocat/Hello-World")),
            ("push.tag-created.json", repo("Codertocat/Hello-World")),
            ("create.json", repo("Codertocat/Hello-World")),
            ("delete.json", repo("Codertocat/Hello-World")),
            ("release.published.json", repo("Codertocat/Hello-World")),
            ("repository.created.json", repo("Octocoders/Hello-World")),
            ("repository.edited.json", repo("Octocoders/Hello-World")),
            ("repository.renamed.json", full()),
            ("repository.transferred.json", full()),
            ("team.created.json", team("github")),
            ("team.deleted.json", team("github")),
            ("team.edited.json", team("github")),
            ("team.added_to_repository.json", team("github")),
            ("team.removed_from_repository.json", team("github")),
            ("membership.added.json", team("github")),
            ("membership.removed.json", team("github")),
            ("member.added.json", full()),
            ("member.edited.json", full()),
            ("organization.member_added.json", full()),
            ("organization.member_invited.json", vec![]),
            ("organization.renamed.json", full()),
            ("installation.created.json", full()),
            ("installation.deleted.json", full()),
            ("installation.suspend.json", full()),
            ("installation_repositories.added.json", full()),
            ("installation_repositories.removed.json", full()),
            ("ping.json", vec![]),
            ("ping.organization.json", vec![]),
        ])
    }

    fn headers_json() -> serde_json::Value {
        let text = std::fs::read_to_string(format!("{FIXTURES}/headers.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn every_fixture_payload_maps_to_its_targets_when_read_under_its_event_header() {
        let headers = headers_json();
        let events = headers["events"].as_object().unwrap();
        let mut expected = expected();
        for (file, header) in events.iter().filter(|(f, _)| f.ends_with(".json")) {
            let event = header["X-GitHub-Event"].as_str().unwrap();
            let body = std::fs::read(format!("{FIXTURES}/{file}")).unwrap();
            let want = expected
                .remove(file.as_str())
                .unwrap_or_else(|| panic!("no expectation for {file}"));
            assert_eq!(targets(event, &body).unwrap(), want, "{file} as {event}");
        }
        assert!(expected.is_empty(), "not in headers.json: {expected:?}");
        // Every payload in the folder is listed in headers.json.
        for entry in std::fs::read_dir(FIXTURES).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                name == "headers.json" || events.contains_key(&name),
                "{name} has no event header"
            );
        }
    }

    #[test]
    fn signed_fixture_verifies_and_fails_when_one_byte_changes() {
        let body = include_bytes!("../../../../shared/fixtures/github/webhooks/push.signed.json");
        let vector = &headers_json()["signature_test_vectors"][1];
        assert_eq!(vector["payload_file"], "push.signed.json");
        let secret = Secret::new(vector["secret"].as_str().unwrap());
        let mut headers = HeaderMap::new();
        let signature = vector["X-Hub-Signature-256"].as_str().unwrap();
        headers.insert(
            "X-Hub-Signature-256",
            HeaderValue::from_str(signature).unwrap(),
        );
        assert_eq!(
            verify(ProviderKind::Github, &headers, body, &secret),
            Ok(())
        );
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert!(verify(ProviderKind::Github, &headers, &tampered, &secret).is_err());
    }

    #[test]
    fn unknown_events_ask_for_nothing_and_broken_payloads_are_malformed() {
        assert_eq!(targets("issues", b"{}"), Ok(vec![]));
        assert_eq!(targets("ping", b"not json"), Ok(vec![]));
        assert!(matches!(
            targets("push", b"{\"ref\":\"refs/heads/main\"}"),
            Err(HookError::Malformed { event, .. }) if event == "push"
        ));
    }

    #[test]
    fn a_membership_of_a_deleted_team_asks_for_a_full_run() {
        let body =
            br#"{"action":"removed","scope":"team","team":{"id":1,"name":"gone","deleted":true}}"#;
        assert_eq!(targets("membership", body), Ok(vec![HookTarget::Full]));
    }

    #[test]
    fn hook_urls_stay_under_the_api_base_when_ghes() {
        let host = GithubHost::new(
            "https://ghe.example.com/api/v3",
            "acme",
            &crate::domain::Credential::Token(Secret::new("t")),
            std::sync::Arc::new(crate::providers::MemoryCache::default()),
            &crate::providers::ClientSettings::default(),
        )
        .unwrap();
        let cases = [
            (
                host.hooks_url(HookLevel::Org, "acme", None),
                "https://ghe.example.com/api/v3/orgs/acme/hooks?per_page=100",
            ),
            (
                host.hooks_url(HookLevel::Repo, "acme/log", Some("7")),
                "https://ghe.example.com/api/v3/repos/acme/log/hooks/7",
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(url.as_str(), expected);
        }
    }

    #[test]
    fn subscribed_events_are_the_ones_acted_on() {
        for event in ORG_EVENTS.iter().chain(&REPO_EVENTS) {
            let body = serde_json::json!({
                "action": "added",
                "repository": {"full_name": "acme/log"},
                "team": {"slug": "platform"},
            });
            let targets = targets(event, body.to_string().as_bytes()).unwrap();
            assert!(!targets.is_empty(), "{event} is subscribed but ignored");
        }
        assert!(REPO_EVENTS.iter().all(|e| ORG_EVENTS.contains(e)));
    }
}
