//! What a provider observed at its code host in one run, normalized.

use super::{Permission, RemoteId};
use serde::{Deserialize, Serialize};

/// A listing from a code host. `complete` is false when any page failed or was
/// cut short; only complete listings may cause deletions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub complete: bool,
}

impl<T> Listing<T> {
    pub fn complete(items: Vec<T>) -> Self {
        Self {
            items,
            complete: true,
        }
    }

    pub fn partial(items: Vec<T>) -> Self {
        Self {
            items,
            complete: false,
        }
    }
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Self::partial(Vec::new())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteOrg {
    pub id: RemoteId,
    pub login: String,
    pub name: Option<String>,
}

/// A person's account at the code host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RemoteAccount {
    pub id: RemoteId,
    pub login: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteTeam {
    pub id: RemoteId,
    pub slug: String,
    pub name: String,
    pub members: Listing<RemoteAccount>,
    /// Repositories the team has access to, with its permission on each.
    pub repos: Listing<(RemoteId, Permission)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefKind {
    Tag,
    Branch,
}

/// The composer.json found at one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Manifest {
    /// No composer.json at that commit.
    Missing,
    /// A composer.json that could not be used, with the reason shown to admins.
    Invalid(String),
    /// A parsed composer.json (always a JSON object).
    Found(serde_json::Map<String, serde_json::Value>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRef {
    pub kind: RefKind,
    pub name: String,
    pub commit: String,
    pub manifest: Manifest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRepo {
    pub id: RemoteId,
    /// `owner/name` at the host.
    pub full_name: String,
    pub default_branch: String,
    /// URL Composer can clone for `source` installs.
    pub clone_url: String,
    pub html_url: String,
    pub description: Option<String>,
    /// Archived (read-only) at the host: its package is marked abandoned.
    pub archived: bool,
    /// Tags and branches. The default branch is always among them when the
    /// listing succeeded; its manifest decides whether the repo is a package.
    pub refs: Listing<RemoteRef>,
}

impl RemoteRepo {
    pub fn default_ref(&self) -> Option<&RemoteRef> {
        self.refs
            .items
            .iter()
            .find(|r| r.kind == RefKind::Branch && r.name == self.default_branch)
    }
}

/// A repository's refs as last read completely, kept so a later run can skip
/// reading them again while the repository shows no push since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRefs {
    /// The host's "last pushed" marker when the refs were read.
    pub pushed_at: String,
    pub checked_at: super::Timestamp,
    pub default_branch: String,
    pub refs: Vec<RemoteRef>,
}

/// Everything one sync run observed. Built by a provider, consumed by
/// `engine::reconcile::plan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSnapshot {
    pub org: RemoteOrg,
    /// Owners/admins of the remote organization.
    pub admins: Listing<RemoteAccount>,
    pub teams: Listing<RemoteTeam>,
    pub repos: Listing<RemoteRepo>,
}

impl RemoteSnapshot {
    /// True when every listing in the snapshot is complete.
    pub fn is_complete(&self) -> bool {
        self.admins.complete
            && self.teams.complete
            && self.repos.complete
            && self
                .teams
                .items
                .iter()
                .all(|t| t.members.complete && t.repos.complete)
            && self.repos.items.iter().all(|r| r.refs.complete)
    }
}
