//! Webhooks: what a delivery asks packyard to refresh, and which hooks of
//! ours exist at a code host.
//!
//! A delivery only chooses the scope of a refresh; what is refreshed is read
//! from the host again, so a forged or stale payload can never write data.

use super::{SyncId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The part of a synchronization one webhook delivery asks to refresh.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum HookTarget {
    /// One repository's refs and composer.json files, by its full name at the
    /// host (as `RemoteRepo::full_name`): a push, a tag, a release.
    Repo(String),
    /// One team's members and repository permissions, by the reference the
    /// provider's `fetch_team` takes (GitHub team slug, GitLab group path).
    Team(String),
    /// Everything: events whose effect a targeted refresh cannot capture
    /// (repositories created, renamed or transferred, org membership).
    Full,
}

impl HookTarget {
    /// A stable key: two deliveries with the same key are one refresh.
    pub fn key(&self) -> String {
        match self {
            Self::Repo(name) => format!("repo:{name}"),
            Self::Team(name) => format!("team:{name}"),
            Self::Full => "full".to_owned(),
        }
    }
}

/// A refresh waiting in the persistent webhook queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedTarget {
    pub sync: SyncId,
    pub target: HookTarget,
    /// Bumped by every delivery that asks for this target again, so a worker
    /// that finishes an older request does not drop a newer one.
    pub seq: u64,
    pub first_received: Timestamp,
    /// Failed attempts so far; the worker backs off between them.
    pub attempts: u32,
    /// The worker leaves the target alone before this time (backoff).
    pub not_before: Timestamp,
}

/// The hooks packyard made sure of at a host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledHooks {
    /// The organization/group/workspace hook's id, when the host accepted one.
    pub org: Option<String>,
    /// Per-repository hook ids by repository full name, where no org-level
    /// hook could be used.
    pub repos: BTreeMap<String, String>,
    /// Where installing failed (the org, or a repository full name), with
    /// the reason to show to admins.
    pub failures: BTreeMap<String, String>,
}

/// What packyard knows of a sync's webhooks, shown in `sync list` and the TUI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookState {
    /// Where the hooks deliver: `{public_url}/webhooks/{sync}`.
    pub url: String,
    pub installed: InstalledHooks,
    pub checked_at: Timestamp,
    /// Why the last attempt to install failed as a whole, if it did.
    pub error: Option<String>,
}

impl HookState {
    /// One line for listings: "org hook", "12 repository hooks", "failed: …".
    pub fn describe(&self) -> String {
        if let Some(error) = &self.error {
            return format!("failed: {error}");
        }
        let mut out = match (&self.installed.org, self.installed.repos.len()) {
            (Some(_), _) => "org hook".to_owned(),
            (None, 1) => "1 repository hook".to_owned(),
            (None, n) => format!("{n} repository hooks"),
        };
        if !self.installed.failures.is_empty() {
            out.push_str(&format!(", {} failed", self.installed.failures.len()));
        }
        out
    }
}

/// `sha256=<hex HMAC-SHA256 of body keyed by secret>`: how GitHub
/// (`X-Hub-Signature-256`) and Bitbucket (`X-Hub-Signature`) sign deliveries.
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    let mut signer = HubSigner::new(secret);
    signer.update(body);
    signer.finish()
}

/// [`hub_signature`] of a body that arrives in pieces.
pub struct HubSigner(hmac::Hmac<sha2::Sha256>);

impl HubSigner {
    pub fn new(secret: &str) -> Self {
        use hmac::KeyInit;
        // HMAC takes keys of any length, so this cannot fail.
        Self(
            hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts any key"),
        )
    }

    pub fn update(&mut self, chunk: &[u8]) {
        hmac::Mac::update(&mut self.0, chunk);
    }

    pub fn finish(self) -> String {
        let hex: String = hmac::Mac::finalize(self.0)
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256={hex}")
    }
}
