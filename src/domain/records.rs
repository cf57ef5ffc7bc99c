//! The records packyard keeps: teams, identities, packages, versions, tokens.

use super::{IdentityKey, PackageName, RemoteId, SyncId, TeamKey, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    /// RFC 3339 in UTC, e.g. `2026-11-25T16:49:13Z`.
    pub fn rfc3339(self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| self.0.to_string())
    }
}

/// `512 B`, `47 KiB`, `1.2 MiB`, `3.4 GiB`: sizes as admins read them.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// A team's permission on a repository, ordered from least to most.
/// Hosts with finer roles map onto these (GitHub triage → Read, maintain → Write).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Read,
    Write,
    Admin,
}

impl Permission {
    /// Read or better may install the package.
    pub fn may_install(self) -> bool {
        self >= Permission::Read
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TeamKind {
    /// A team, group or project at the code host.
    Remote,
    /// The owners/admins of the remote organization itself.
    OrgAdmins,
}

/// A team as stored: its members (by remote account id) and the repositories
/// it may access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub key: TeamKey,
    pub kind: TeamKind,
    pub slug: String,
    pub name: String,
    /// Member account id → login.
    pub members: BTreeMap<RemoteId, String>,
    pub repos: BTreeMap<RemoteId, Permission>,
}

impl Team {
    /// The remote id used for the pseudo-team of organization owners/admins.
    pub const ORG_ADMINS_ID: &'static str = "org-admins";
}

/// A person's account on one sync's code host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub sync: SyncId,
    pub remote: RemoteId,
    pub login: String,
    pub email: Option<String>,
}

impl Identity {
    pub fn key(&self) -> IdentityKey {
        IdentityKey {
            sync: self.sync.clone(),
            remote: self.remote.clone(),
        }
    }
}

/// A person. Access is the union over the teams of all their identities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub identities: BTreeSet<IdentityKey>,
}

/// A Composer package, created from a repository of its origin sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: PackageName,
    pub origin: SyncId,
    pub repo: RemoteId,
    pub repo_full_name: String,
    pub clone_url: String,
    pub html_url: String,
    pub description: Option<String>,
    pub default_branch: String,
    /// The code host of the owning repository ([`super::Sync::host`]),
    /// recorded with the package: ownership is (host, repository id), and it
    /// must outlive the removal of the origin sync.
    #[serde(default)]
    pub host: Option<String>,
    /// The repository is archived at the host; the metadata says abandoned.
    #[serde(default)]
    pub archived: bool,
    /// An admin marked the package abandoned (`packyard package abandon`).
    /// Runs keep it as it is.
    #[serde(default)]
    pub abandoned: Option<Abandoned>,
    /// The default branch had no composer.json at the last run. A single
    /// "missing" may be a replica lagging behind a push, so the package is
    /// removed only when the next run finds it missing again.
    #[serde(default)]
    pub manifest_missing: bool,
}

impl Package {
    /// Composer's `abandoned` value: the replacement's name, or `true`.
    pub fn abandoned_value(&self) -> Option<serde_json::Value> {
        match &self.abandoned {
            Some(Abandoned {
                replacement: Some(name),
            }) => Some(serde_json::Value::String(name.to_string())),
            Some(_) => Some(serde_json::Value::Bool(true)),
            None => self.archived.then_some(serde_json::Value::Bool(true)),
        }
    }
}

impl Conflict {
    /// The sentence admins read in the run output, the TUI and the log.
    pub fn describe(&self) -> String {
        format!(
            "{} declares {}, which belongs to {}; it was not published from there. If that repository should have it: `packyard package move {} --to-repo {}`",
            self.claimant, self.name, self.owner, self.name, self.claimant
        )
    }
}

/// Which archives a sync downloads ahead of the first install (`[dists]
/// prefetch`), so that metadata carries every `shasum` and installs need no
/// code host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Prefetch {
    None,
    Tags,
    #[default]
    TagsAndDefaultBranch,
    /// Tags and every branch head.
    All,
}

impl Prefetch {
    /// Whether the archive of `version` is prefetched.
    pub fn wants(self, version: &Version) -> bool {
        match self {
            Prefetch::None => false,
            Prefetch::Tags => version.kind == VersionKind::Tag,
            Prefetch::TagsAndDefaultBranch => {
                version.kind == VersionKind::Tag || version.default_branch
            }
            Prefetch::All => true,
        }
    }
}

/// An admin's verdict that a package is no longer maintained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Abandoned {
    /// The package to use instead, if there is one.
    pub replacement: Option<PackageName>,
}

/// An admin removed the package `name` that repository `repo` of `sync`
/// provided: that sync does not create it again from that repository until
/// `packyard package restore`. Other syncs' repositories may (the migration
/// recipe: remove the old sync's packages, the new sync creates them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub sync: SyncId,
    pub repo: RemoteId,
    pub name: PackageName,
    pub removed_at: Timestamp,
}

/// A repository that declares a package name another repository owns. It
/// never takes the name by itself; an admin moves a package explicitly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Conflict {
    pub name: PackageName,
    /// The repository that declares the name, as `sync:path`.
    pub claimant: String,
    /// Who has the name: `sync:owner/repo`, or the other claimants when the
    /// name is new and several repositories declare it at once.
    pub owner: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionKind {
    Tag,
    Branch,
}

/// One installable version of a package: a tag or a branch at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub package: PackageName,
    /// Composer's pretty version: `v1.2.0`, `dev-main`, `1.x-dev`.
    pub version: String,
    pub normalized: String,
    pub kind: VersionKind,
    pub ref_name: String,
    /// Commit SHA: the dist and source reference.
    pub commit: String,
    pub default_branch: bool,
    /// The composer.json at that commit, as published.
    pub manifest: serde_json::Map<String, serde_json::Value>,
}

/// What a token may install.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TokenScope {
    /// Every package (CI, mirrors).
    OrgWide,
    /// What one team may install.
    Team { team: TeamKey },
    /// What one user may install, through any of their identities.
    User { user: UserId },
}

/// A Composer access token. Only the SHA-256 of the secret is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Short public id used to list and revoke the token.
    pub id: String,
    pub label: String,
    pub scope: TokenScope,
    /// Hex SHA-256 of the token secret.
    pub hash: String,
    pub created_at: Timestamp,
    pub last_used: Option<Timestamp>,
    /// After this the token is refused.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

impl Token {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }
}

/// The set of packages a request may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    All,
    Only(BTreeSet<PackageName>),
}

impl Access {
    pub fn allows(&self, name: &PackageName) -> bool {
        match self {
            Access::All => true,
            Access::Only(names) => names.contains(name),
        }
    }
}

/// Something a run skipped and why, shown to admins in the run summary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Problem {
    /// `owner/repo` at the host, or the team/listing concerned.
    pub subject: String,
    /// The tag or branch, when the problem is about one ref.
    pub reference: Option<String>,
    pub message: String,
}

/// The outcome of a finished run, kept on the sync for `sync list` and the TUI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// `None` when the run succeeded; otherwise what failed.
    pub error: Option<String>,
    /// True when some listing was incomplete, so nothing was removed.
    pub partial: bool,
    /// True when the deletion guard held the run back: it waits for an
    /// admin to confirm, and running it again unchanged would not help.
    #[serde(default)]
    pub guarded: bool,
    pub changes: super::PlanSummary,
    pub problems: Vec<Problem>,
    /// Repositories that declare a name another repository owns.
    #[serde(default)]
    pub conflicts: Vec<Conflict>,
    /// Archives downloaded into the dist store after the plan, and their bytes.
    #[serde(default)]
    pub prefetched: u64,
    #[serde(default)]
    pub prefetch_bytes: u64,
    pub requests: u64,
    pub not_modified: u64,
    /// The credential's request budget as the run left it, and whether the
    /// run paused on it. Boxed: most of what holds a summary never looks.
    #[serde(default)]
    pub budget: Option<Box<super::RunBudget>>,
}

impl RunSummary {
    /// Set when the run stopped because the request budget was spent: it
    /// applied nothing and resumes at the reset, reusing what it read.
    pub fn paused(&self) -> Option<&super::Pause> {
        self.budget.as_ref().and_then(|b| b.paused.as_ref())
    }

    /// The credential's request budgets as the run left them.
    pub fn headroom(&self) -> &[super::Headroom] {
        self.budget.as_ref().map_or(&[], |b| &b.headroom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_admins_expect_when_humanized() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(48 * 1024 * 1024), "48 MiB");
        assert_eq!(human_bytes(u64::MAX), "16777216 TiB");
    }
}
