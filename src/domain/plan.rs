//! A Plan: the exact writes one sync run will make, computed by the pure
//! reconcile step and applied atomically by the store.

use super::{
    Conflict, Identity, IdentityKey, Package, PackageName, Problem, RemoteId, Removal, Sync,
    SyncId, Team, TeamKey, User, UserId, Version,
};
use serde::{Deserialize, Serialize};

/// One write. The store applies every change of a plan in one transaction, so
/// a plan names every key it touches (sled transactions cannot scan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    PutTeam(Team),
    DeleteTeam(TeamKey),
    PutIdentity(Identity),
    DeleteIdentity(IdentityKey),
    PutUser(User),
    /// Sets a sync's primary flag on its stored record; never creates one.
    SetPrimary {
        sync: SyncId,
        primary: bool,
    },
    /// Removes a sync and its credentials.
    DeleteSync(SyncId),
    PutPackage(Package),
    DeletePackage(PackageName),
    PutVersion(Version),
    DeleteVersion {
        package: PackageName,
        version: String,
    },
    PutRemoval(Removal),
    DeleteRemoval {
        sync: SyncId,
        repo: RemoteId,
    },
}

/// Counts shown to admins after a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    pub teams_added: usize,
    pub teams_changed: usize,
    pub teams_removed: usize,
    pub packages_added: usize,
    pub packages_changed: usize,
    pub packages_removed: usize,
    pub versions_added: usize,
    pub versions_changed: usize,
    pub versions_removed: usize,
    /// Access this plan takes away, one entry per lost membership ("alice
    /// from backend", "bob as owner/admin"). Never held by the guard.
    #[serde(default)]
    pub revoked: Vec<String>,
}

impl PlanSummary {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// "packages +1 ~0 -0, versions +3 ~0 -1" (what changed only), or
    /// "up to date".
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = [
            (
                "packages",
                self.packages_added,
                self.packages_changed,
                self.packages_removed,
            ),
            (
                "versions",
                self.versions_added,
                self.versions_changed,
                self.versions_removed,
            ),
            (
                "teams",
                self.teams_added,
                self.teams_changed,
                self.teams_removed,
            ),
        ]
        .iter()
        .filter(|(_, a, ch, r)| a + ch + r > 0)
        .map(|(what, a, ch, r)| format!("{what} +{a} ~{ch} -{r}"))
        .collect();
        if !self.revoked.is_empty() {
            parts.push(format!("revoked {}", describe_revoked(&self.revoked)));
        }
        if parts.is_empty() {
            "up to date".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

/// Names the first few revocations and counts the rest, to fit a status line.
fn describe_revoked(revoked: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = revoked[..revoked.len().min(SHOWN)].join("; ");
    if revoked.len() > SHOWN {
        text.push_str(&format!(" and {} more", revoked.len() - SHOWN));
    }
    text
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub summary: PlanSummary,
    /// Refs and repositories that were skipped, with the reason.
    pub problems: Vec<Problem>,
    /// Repositories that declare a name another repository owns.
    pub conflicts: Vec<Conflict>,
    /// Set when more than half of the sync's packages or versions would go:
    /// those removals were taken out of the plan, which applies without
    /// them, and this says how to confirm them.
    pub guard: Option<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// What packyard holds now, as far as one sync's plan is concerned: the
/// sync's teams and identities, every package (names are global, so
/// conflicts and transfers between syncs are visible), the versions of the
/// packages this sync owns, and the people (users, every sync and the
/// identities of other syncs) that new identities are matched against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Current {
    pub syncs: std::collections::BTreeMap<SyncId, Sync>,
    pub users: std::collections::BTreeMap<UserId, User>,
    /// Identities of the other syncs, for matching by email or account.
    pub other_identities: Vec<Identity>,
    pub teams: std::collections::BTreeMap<TeamKey, Team>,
    pub identities: std::collections::BTreeMap<crate::domain::RemoteId, Identity>,
    pub packages: std::collections::BTreeMap<PackageName, Package>,
    pub versions:
        std::collections::BTreeMap<PackageName, std::collections::BTreeMap<String, Version>>,
    /// Packages an admin removed from this sync's repositories, by repository.
    pub removals: std::collections::BTreeMap<RemoteId, Removal>,
}
