//! Webhook deliveries as each code host sends them: which header names the
//! event and the delivery, how the host proves the delivery is its own, and
//! (in each provider's `hooks` module) which refresh an event asks for.
//! Installing hooks is shared too: each host describes its hook API in
//! [`HookApi`], and hosts with organization hooks (GitHub, GitLab) use
//! [`ensure_org_or_repo_hooks`], the others [`ensure_repo_hooks`].
//!
//! Verification is constant time and happens before the body is parsed, so
//! an unsigned or forged request never reaches a JSON parser.

use super::ProviderError;
use super::http::{HttpClient, Paged, Pagination};
use crate::domain::{HookTarget, HubSigner, InstalledHooks, ProviderKind, Secret};
use futures::{StreamExt, stream};
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

/// Why a delivery was refused or could not be read. The messages name the
/// header at fault and never quote the payload or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("the delivery has no {header} header; it was not sent by a hook packyard installed")]
    Unsigned { header: &'static str },
    #[error(
        "the delivery's {header} does not match this synchronization's webhook secret; it was not sent by a hook packyard installed, or the secret changed"
    )]
    BadSignature { header: &'static str },
    #[error("the delivery has no {header} header naming its event")]
    NoEvent { header: &'static str },
    #[error("the {event} delivery's body cannot be read: {reason}")]
    Malformed { event: String, reason: String },
}

impl HookError {
    /// The delivery failed to prove it comes from our hook (as opposed to
    /// being unreadable).
    pub fn is_signature(&self) -> bool {
        matches!(self, Self::Unsigned { .. } | Self::BadSignature { .. })
    }
}

/// What a host says about one delivery, read from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryHeaders {
    /// The event name as the host spells it (`push`, `Tag Push Hook`,
    /// `repo:refs_changed`).
    pub event: String,
    /// The host's id for this delivery, when it sends one; a redelivery of
    /// the same event carries the same id.
    pub delivery: Option<String>,
}

/// The header that names the event at each host.
pub fn event_header(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Github => "X-GitHub-Event",
        ProviderKind::Gitlab => "X-Gitlab-Event",
        ProviderKind::BitbucketCloud | ProviderKind::BitbucketServer => "X-Event-Key",
    }
}

/// The headers that carry a delivery id, most specific first. GitLab's
/// `Idempotency-Key` (17.4+) stays the same across retries; before it,
/// `X-Gitlab-Webhook-UUID` names each delivery. `X-Gitlab-Event-UUID` is
/// shared by every event one request caused, so it names no delivery.
fn delivery_headers(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Github => &["X-GitHub-Delivery"],
        ProviderKind::Gitlab => &["Idempotency-Key", "X-Gitlab-Webhook-UUID"],
        ProviderKind::BitbucketCloud => &["X-Request-UUID"],
        ProviderKind::BitbucketServer => &["X-Request-Id"],
    }
}

/// The header that proves a delivery, and whether it holds an HMAC of the
/// body (`sha256=<hex>`) or the secret itself (GitLab's token).
fn signature_header(kind: ProviderKind) -> (&'static str, bool) {
    match kind {
        ProviderKind::Github => ("X-Hub-Signature-256", true),
        ProviderKind::Gitlab => ("X-Gitlab-Token", false),
        ProviderKind::BitbucketCloud | ProviderKind::BitbucketServer => ("X-Hub-Signature", true),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Checks that a delivery comes from a hook that holds `secret`.
pub fn verify(
    kind: ProviderKind,
    headers: &HeaderMap,
    body: &[u8],
    secret: &Secret,
) -> Result<(), HookError> {
    let mut verifier = Verifier::new(kind, headers, secret)?;
    verifier.update(body);
    verifier.finish()
}

/// Checks a delivery's signature while its body arrives, so the body is
/// never held twice and a delivery without the signature header, or with a
/// wrong GitLab token, is refused before any of its body is read.
pub struct Verifier {
    header: &'static str,
    given: String,
    /// `None` once a token (not an HMAC) was checked.
    signer: Option<HubSigner>,
}

impl Verifier {
    pub fn new(
        kind: ProviderKind,
        headers: &HeaderMap,
        secret: &Secret,
    ) -> Result<Self, HookError> {
        let (name, is_hmac) = signature_header(kind);
        let Some(given) = header(headers, name) else {
            return Err(HookError::Unsigned { header: name });
        };
        let verifier = Self {
            header: name,
            given: given.to_owned(),
            signer: is_hmac.then(|| HubSigner::new(secret.expose())),
        };
        if !is_hmac {
            verifier.compare(secret.expose())?;
        }
        Ok(verifier)
    }

    pub fn update(&mut self, chunk: &[u8]) {
        if let Some(signer) = &mut self.signer {
            signer.update(chunk);
        }
    }

    /// Call once the whole body went through [`Verifier::update`].
    pub fn finish(mut self) -> Result<(), HookError> {
        match self.signer.take() {
            Some(signer) => self.compare(&signer.finish()),
            None => Ok(()),
        }
    }

    // Lengths are not secret (the format is public); contents are compared
    // in constant time.
    fn compare(&self, expected: &str) -> Result<(), HookError> {
        if bool::from(self.given.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(())
        } else {
            Err(HookError::BadSignature {
                header: self.header,
            })
        }
    }
}

/// Reads the event name and delivery id. Call after [`verify`].
pub fn delivery_headers_of(
    kind: ProviderKind,
    headers: &HeaderMap,
) -> Result<DeliveryHeaders, HookError> {
    let name = event_header(kind);
    let event = header(headers, name).ok_or(HookError::NoEvent { header: name })?;
    let delivery = delivery_headers(kind)
        .iter()
        .find_map(|h| header(headers, h))
        .map(str::to_owned);
    Ok(DeliveryHeaders {
        event: event.to_owned(),
        delivery,
    })
}

/// What a verified delivery asks packyard to refresh. Events packyard does
/// not act on give no targets (they are acknowledged and ignored).
pub fn targets(kind: ProviderKind, event: &str, body: &[u8]) -> Result<Vec<HookTarget>, HookError> {
    match kind {
        ProviderKind::Github => super::github::hooks::targets(event, body),
        ProviderKind::Gitlab => super::gitlab::hooks::targets(event, body),
        ProviderKind::BitbucketCloud => super::bitbucket_cloud::hooks::targets(event, body),
        ProviderKind::BitbucketServer => super::bitbucket_server::hooks::targets(event, body),
    }
}

/// Reads a payload as JSON of type `T`, for the providers' `hooks` modules.
pub(super) fn parse<T: serde::de::DeserializeOwned>(
    event: &str,
    body: &[u8],
) -> Result<T, HookError> {
    serde_json::from_slice(body).map_err(|e| HookError::Malformed {
        event: event.to_owned(),
        reason: e.to_string(),
    })
}

/// What a sync's hooks should look like at the host.
#[derive(Debug, Clone)]
pub struct HookSpec {
    /// `{public_url}/webhooks/{sync}`.
    pub url: String,
    pub secret: Secret,
}

/// A hook as a host lists it: its id and where it delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListedHook {
    pub id: String,
    pub url: String,
}

/// What differs between hosts' hook APIs: where one owner's hooks live,
/// what a hook looks like, and how listings are paged. An implementor
/// serves one level of hooks, so `owner` is a repository full name, or the
/// organization (GitHub organization, GitLab group) for an organization
/// level.
pub(super) trait HookApi: std::marker::Sync {
    /// The host's hook, as listed and as returned by a create or update.
    type Hook: DeserializeOwned + Send;
    type Pages: Pagination + Default;
    /// How our hook is brought up to date: GitHub edits it in place
    /// (`PATCH`), the others replace it.
    const UPDATE: Method = Method::PUT;
    fn http(&self) -> &HttpClient;
    /// The first page of `owner`'s hooks, at the largest page size.
    fn hooks_url(&self, owner: &str) -> Result<Url, ProviderError>;
    /// Hook `id` of `owner`, or (`None`) where hooks are created.
    fn hook_url(&self, owner: &str, id: Option<&str>) -> Result<Url, ProviderError>;
    /// The body that brings our hook up to date.
    fn hook_body(&self, spec: &HookSpec) -> serde_json::Value;
    /// The body that creates our hook, where it needs more than an update.
    fn create_body(&self, spec: &HookSpec) -> serde_json::Value {
        self.hook_body(spec)
    }
    fn listed(hook: Self::Hook) -> ListedHook;
    /// Whether `error` on one repository means every other one would fail
    /// the same way (bad credentials), so installing stops there.
    fn fails_everywhere(&self, error: &ProviderError) -> bool {
        error.is_credentials()
    }
}

/// Every hook of `owner`, all pages: one of ours on a page not read would
/// be created again.
async fn list_hooks<H: HookApi>(host: &H, owner: &str) -> Result<Vec<ListedHook>, ProviderError> {
    let url = host.hooks_url(owner)?;
    let http = host.http();
    let paged = http
        .get_all::<H::Hook, _>(url.clone(), &H::Pages::default())
        .await;
    match paged {
        Paged { error: Some(e), .. } => Err(e),
        Paged {
            complete: false, ..
        } => Err(ProviderError::Decode {
            host: http.host().to_owned(),
            path: url.path().to_owned(),
            reason: "its pages loop or lead to another host".to_owned(),
        }),
        Paged { items, .. } => Ok(items.into_iter().map(H::listed).collect()),
    }
}

/// Creates our hook on `owner` (`id: None`) or updates hook `id`.
async fn put_hook<H: HookApi>(
    host: &H,
    owner: &str,
    id: Option<&str>,
    spec: &HookSpec,
) -> Result<String, ProviderError> {
    let (method, body) = match id {
        Some(_) => (H::UPDATE, host.hook_body(spec)),
        None => (Method::POST, host.create_body(spec)),
    };
    let url = host.hook_url(owner, id)?;
    let http = host.http();
    let response = http.send(method, &url, Some(&body)).await?;
    let hook: H::Hook = http.decode(&url, &response.body)?;
    Ok(H::listed(hook).id)
}

/// Deletes hook `id` of `owner`; one (or an owner) already gone is fine.
async fn delete_hook(host: &impl HookApi, owner: &str, id: &str) -> Result<(), ProviderError> {
    let url = host.hook_url(owner, Some(id))?;
    match host.http().send(Method::DELETE, &url, None).await {
        Ok(_) | Err(ProviderError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes sure `owner` has one hook of ours and returns its id. Ours is the
/// hook at `spec.url`: the first one is updated (the secret cannot be read
/// back, so it is always sent again), further ones (left by an interrupted
/// run) are deleted, and one is created where there is none.
async fn ensure_hook(
    host: &impl HookApi,
    spec: &HookSpec,
    owner: &str,
) -> Result<String, ProviderError> {
    let listed = list_hooks(host, owner).await?;
    let mut ours = listed.iter().filter(|h| h.url == spec.url);
    let id = put_hook(host, owner, ours.next().map(|h| h.id.as_str()), spec).await?;
    for duplicate in ours {
        delete_hook(host, owner, &duplicate.id).await?;
    }
    Ok(id)
}

/// Makes sure each of `repos` has one hook of ours ([`ensure_hook`]),
/// `concurrency` at a time. A repository that fails is reported in
/// `failures`; an error that would fail every repository
/// ([`HookApi::fails_everywhere`]) fails the call.
pub(super) async fn ensure_repo_hooks(
    host: &impl HookApi,
    spec: &HookSpec,
    repos: &[String],
    concurrency: usize,
) -> Result<InstalledHooks, ProviderError> {
    // Owned names keep the futures free of borrowed closure arguments,
    // which async_trait's `Send` check cannot see through.
    let results: Vec<(String, Result<String, ProviderError>)> = stream::iter(repos.to_vec())
        .map(|repo| async move {
            let result = ensure_hook(host, spec, &repo).await;
            (repo, result)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut installed = InstalledHooks::default();
    for (repo, result) in results {
        match result {
            Ok(id) => {
                installed.repos.insert(repo, id);
            }
            Err(e) if host.fails_everywhere(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(repo = %repo, error = %e, "webhook not installed");
                installed.failures.insert(repo, e.to_string());
            }
        }
    }
    Ok(installed)
}

/// One hook of ours on organization `org` (`org_hooks`), which also hears
/// about new repositories and team changes; where the host refuses it (403,
/// or 404 where it hides organization hooks from the credential or the
/// plan), one on each of `repos` (`repo_hooks`, as [`ensure_repo_hooks`]).
/// Any other error fails the call.
pub(super) async fn ensure_org_or_repo_hooks(
    org_hooks: &impl HookApi,
    org: &str,
    repo_hooks: &impl HookApi,
    spec: &HookSpec,
    repos: &[String],
    concurrency: usize,
) -> Result<InstalledHooks, ProviderError> {
    match ensure_hook(org_hooks, spec, org).await {
        Ok(id) => Ok(InstalledHooks {
            org: Some(id),
            ..InstalledHooks::default()
        }),
        Err(e @ (ProviderError::Forbidden { .. } | ProviderError::NotFound { .. })) => {
            tracing::info!(org, reason = %e, "organization hook refused; installing one hook per repository");
            ensure_repo_hooks(repo_hooks, spec, repos, concurrency).await
        }
        Err(e) => Err(e),
    }
}

/// Deletes the per-repository hooks in `installed`, `concurrency` at a
/// time. A hook (or repository) already gone is fine; otherwise every hook
/// is still tried and the first failure returned.
pub(super) async fn remove_repo_hooks(
    host: &impl HookApi,
    installed: &InstalledHooks,
    concurrency: usize,
) -> Result<(), ProviderError> {
    let results: Vec<Result<(), ProviderError>> = stream::iter(installed.repos.clone())
        .map(|(repo, id)| async move { delete_hook(host, &repo, &id).await })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// Deletes the hooks [`ensure_org_or_repo_hooks`] installed: the one on
/// `org`, then the per-repository ones. Every hook is tried; the first
/// failure is returned.
pub(super) async fn remove_org_and_repo_hooks(
    org_hooks: &impl HookApi,
    org: &str,
    repo_hooks: &impl HookApi,
    installed: &InstalledHooks,
    concurrency: usize,
) -> Result<(), ProviderError> {
    let org_removed = match &installed.org {
        Some(id) => delete_hook(org_hooks, org, id).await,
        None => Ok(()),
    };
    let repos_removed = remove_repo_hooks(repo_hooks, installed, concurrency).await;
    org_removed.and(repos_removed)
}

/// What every host's `hooks` tests check of its webhook fixtures
/// (`shared/fixtures/{host}/webhooks`).
#[cfg(test)]
pub(super) mod fixtures {
    use super::*;
    use reqwest::header::HeaderValue;

    /// `(file name, bytes)` of a webhook payload fixture of `host`, read
    /// byte-exact at compile time (signatures depend on every byte).
    macro_rules! webhook_fixture {
        ($host:literal, $name:literal) => {
            (
                $name,
                include_bytes!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../shared/fixtures/",
                    $host,
                    "/webhooks/",
                    $name
                )) as &[u8],
            )
        };
    }
    pub(crate) use webhook_fixture;

    /// `payloads` (file name, bytes read with [`webhook_fixture`]) must be
    /// every payload file of the directory and of `headers.json`'s `events`
    /// map; each must give `expected` under its event header, and the
    /// signature test vectors must verify, and fail after a one-byte tamper.
    pub fn assert_fixtures(
        kind: ProviderKind,
        host: &str,
        payloads: &[(&str, &[u8])],
        expected: &[(&str, Vec<HookTarget>)],
    ) {
        let dir = format!(
            "{}/../shared/fixtures/{host}/webhooks",
            env!("CARGO_MANIFEST_DIR")
        );
        let headers: serde_json::Value =
            serde_json::from_slice(&std::fs::read(format!("{dir}/headers.json")).unwrap()).unwrap();
        let events = headers["events"].as_object().unwrap();
        let mut listed: Vec<&str> = events
            .keys()
            .filter(|k| !k.starts_with('_'))
            .map(String::as_str)
            .collect();
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".json") && f != "headers.json")
            .collect();
        let mut ours: Vec<&str> = payloads.iter().map(|(name, _)| *name).collect();
        let mut checked: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
        for names in [&mut listed, &mut ours, &mut checked] {
            names.sort_unstable();
        }
        files.sort_unstable();
        assert_eq!(ours, listed, "every payload in headers.json is read");
        assert_eq!(ours, files, "every payload file is read");
        assert_eq!(ours, checked, "every payload is checked");

        let body = |file: &str| payloads.iter().find(|(n, _)| *n == file).unwrap().1;
        for (name, want) in expected {
            let event = events[*name][event_header(kind)].as_str().unwrap();
            assert_eq!(
                &targets(kind, event, body(name)).unwrap(),
                want,
                "{name} as {event}"
            );
        }

        let (header, _) = signature_header(kind);
        for vector in headers["signature_test_vectors"].as_array().unwrap() {
            let body = body(vector["payload_file"].as_str().unwrap());
            let secret = Secret::new(vector["secret"].as_str().unwrap());
            let mut h = HeaderMap::new();
            let signature = vector[header].as_str().unwrap();
            h.insert(header, HeaderValue::from_str(signature).unwrap());
            assert_eq!(verify(kind, &h, body, &secret), Ok(()));
            let mut tampered = body.to_vec();
            tampered[10] ^= 1;
            assert!(verify(kind, &h, &tampered, &secret).is_err());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::hub_signature;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// GitHub's published test vector (docs: "Testing the webhook payload
    /// validation"), also in `fixtures/github/webhooks/headers.json`.
    #[test]
    fn github_published_test_vector_verifies() {
        let secret = Secret::new("It's a Secret to Everybody");
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(hub_signature(secret.expose(), b"Hello, World!"), sig);
        let h = headers(&[("X-Hub-Signature-256", sig)]);
        assert_eq!(
            verify(ProviderKind::Github, &h, b"Hello, World!", &secret),
            Ok(())
        );
        assert_eq!(
            verify(ProviderKind::Github, &h, b"Hello, World?", &secret),
            Err(HookError::BadSignature {
                header: "X-Hub-Signature-256"
            })
        );
        assert_eq!(
            verify(
                ProviderKind::Github,
                &HeaderMap::new(),
                b"Hello, World!",
                &secret
            ),
            Err(HookError::Unsigned {
                header: "X-Hub-Signature-256"
            })
        );
    }

    #[test]
    fn the_sha1_signature_alone_is_not_enough() {
        let secret = Secret::new("topsecret");
        let h = headers(&[(
            "X-Hub-Signature",
            "sha1=cf93f9ba3c8d3a789e61f91e1e5c6a360d036e98",
        )]);
        assert!(matches!(
            verify(ProviderKind::Github, &h, b"{}", &secret),
            Err(HookError::Unsigned { .. })
        ));
    }

    #[test]
    fn gitlab_compares_the_token() {
        let secret = Secret::new("798d3dd3-67f5-41df-ad19-7882cc6263bf");
        let good = headers(&[("X-Gitlab-Token", "798d3dd3-67f5-41df-ad19-7882cc6263bf")]);
        let bad = headers(&[("X-Gitlab-Token", "798d3dd3-67f5-41df-ad19-7882cc6263bX")]);
        assert_eq!(
            verify(ProviderKind::Gitlab, &good, b"anything", &secret),
            Ok(())
        );
        assert!(verify(ProviderKind::Gitlab, &bad, b"anything", &secret).is_err());
    }

    #[test]
    fn event_and_delivery_come_from_each_hosts_headers() {
        let h = headers(&[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ]);
        let d = delivery_headers_of(ProviderKind::Github, &h).unwrap();
        assert_eq!(d.event, "push");
        assert_eq!(
            d.delivery.as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
        assert_eq!(
            delivery_headers_of(ProviderKind::BitbucketServer, &h),
            Err(HookError::NoEvent {
                header: "X-Event-Key"
            })
        );
    }
}
