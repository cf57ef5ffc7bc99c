//! Changes an admin asks for: promote a sync to primary, remove a sync,
//! remove packages, link and unlink identities. Each is planned by a pure
//! function over the loaded records (so previews and tests see exactly what
//! will be written) and applied as one store transaction.

use crate::domain::{
    Change, Directory, Identity, IdentityKey, Package, PackageName, Plan, Removal, Sync, SyncId,
    Team, Timestamp, User, UserId, Version,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Everything the admin operations read.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub syncs: Vec<Sync>,
    pub teams: Vec<Team>,
    pub users: Vec<User>,
    pub identities: Vec<Identity>,
}

impl Records {
    fn directory(&self) -> Directory<'_> {
        Directory {
            syncs: &self.syncs,
            teams: &self.teams,
            users: &self.users,
        }
    }

    fn sync(&self, id: &SyncId) -> Option<&Sync> {
        self.syncs.iter().find(|s| &s.id == id)
    }

    fn user_of(&self, key: &IdentityKey) -> Option<&User> {
        self.users.iter().find(|u| u.identities.contains(key))
    }
}

/// Who gains and who loses packyard owner/admin access.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerChange {
    pub gain: Vec<UserId>,
    pub lose: Vec<UserId>,
    pub keep: Vec<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperationError {
    #[error("no synchronization named {0:?}. `packyard sync list` shows the configured ones")]
    NoSuchSync(String),
    #[error(
        "{0} is the primary synchronization: its remote owners and admins are packyard's owners and admins. Promote another synchronization first (`packyard sync promote NAME`), then remove this one"
    )]
    PrimarySync(String),
    #[error("no user named {0:?}. `packyard user list` shows users and their identities")]
    NoSuchUser(String),
    #[error(
        "no identity {login:?} in synchronization {sync:?}. Identities appear once a run of that synchronization has seen the account; `packyard user list` shows them"
    )]
    NoSuchIdentity { sync: String, login: String },
    #[error("{identity} is {user}'s only identity; link it to another user instead")]
    OnlyIdentity { user: String, identity: String },
    #[error("no such packages: {0}. `packyard package list` shows the package names")]
    NoSuchPackages(String),
}

/// Makes `id` the primary sync. Its remote owners/admins become packyard's
/// owners/admins; the change says who gains and who loses that access.
pub fn plan_promote(records: &Records, id: &SyncId) -> Result<(Plan, OwnerChange), OperationError> {
    records
        .sync(id)
        .ok_or_else(|| OperationError::NoSuchSync(id.to_string()))?;
    let before = records.directory().owners();
    let syncs: Vec<Sync> = records
        .syncs
        .iter()
        .map(|s| Sync {
            primary: &s.id == id,
            ..s.clone()
        })
        .collect();
    let after = Directory {
        syncs: &syncs,
        ..records.directory()
    }
    .owners();
    let mut plan = Plan::default();
    for (old, new) in records.syncs.iter().zip(&syncs) {
        if old.primary != new.primary {
            plan.changes.push(Change::SetPrimary {
                sync: new.id.clone(),
                primary: new.primary,
            });
        }
    }
    let change = OwnerChange {
        gain: after.difference(&before).cloned().collect(),
        lose: before.difference(&after).cloned().collect(),
        keep: before.intersection(&after).cloned().collect(),
    };
    Ok((plan, change))
}

/// What removing a sync takes away, and what it leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRemoval {
    pub teams: Vec<String>,
    pub identities: usize,
    /// Packages the sync created; they stay, without an active origin, until
    /// an admin removes them or another sync adopts them.
    pub packages_kept: Vec<PackageName>,
}

/// Removes a sync, its teams, memberships and identities. Its packages stay.
/// The primary sync cannot go while others exist.
pub fn plan_remove_sync(
    records: &Records,
    id: &SyncId,
    packages: &[PackageName],
) -> Result<(Plan, SyncRemoval), OperationError> {
    let sync = records
        .sync(id)
        .ok_or_else(|| OperationError::NoSuchSync(id.to_string()))?;
    if sync.primary && records.syncs.len() > 1 {
        return Err(OperationError::PrimarySync(id.to_string()));
    }
    let mut plan = Plan::default();
    let mut removal = SyncRemoval {
        packages_kept: packages.to_vec(),
        ..SyncRemoval::default()
    };
    plan.changes.push(Change::DeleteSync(id.clone()));
    for team in records.teams.iter().filter(|t| &t.key.sync == id) {
        removal.teams.push(team.slug.clone());
        plan.changes.push(Change::DeleteTeam(team.key.clone()));
    }
    let gone: BTreeSet<IdentityKey> = records
        .identities
        .iter()
        .filter(|i| &i.sync == id)
        .map(Identity::key)
        .collect();
    removal.identities = gone.len();
    plan.changes
        .extend(gone.iter().cloned().map(Change::DeleteIdentity));
    for user in records
        .users
        .iter()
        .filter(|u| u.identities.iter().any(|i| &i.sync == id))
    {
        let identities = user
            .identities
            .iter()
            .filter(|i| &i.sync != id)
            .cloned()
            .collect();
        plan.changes.push(Change::PutUser(User {
            id: user.id.clone(),
            identities,
        }));
    }
    plan.summary.teams_removed = removal.teams.len();
    Ok((plan, removal))
}

/// Removes packages with all their versions, and remembers that their
/// origin sync removed them from their repositories: a later run of that
/// sync does not create them again from there (`package restore` does).
pub fn plan_remove_packages(packages: &[(Package, Vec<Version>)], now: Timestamp) -> Plan {
    let mut plan = Plan::default();
    for (package, versions) in packages {
        let name = &package.name;
        plan.changes.push(Change::DeletePackage(name.clone()));
        plan.changes.push(Change::PutRemoval(Removal {
            sync: package.origin.clone(),
            repo: package.repo.clone(),
            name: name.clone(),
            removed_at: now,
        }));
        for v in versions {
            plan.changes.push(Change::DeleteVersion {
                package: name.clone(),
                version: v.version.clone(),
            });
        }
        plan.summary.packages_removed += 1;
        plan.summary.versions_removed += versions.len();
    }
    plan
}

/// Finds the identity `login` of sync `sync` (logins compare case-insensitively).
fn identity<'a>(
    records: &'a Records,
    sync: &SyncId,
    login: &str,
) -> Result<&'a Identity, OperationError> {
    records
        .identities
        .iter()
        .find(|i| &i.sync == sync && i.login.eq_ignore_ascii_case(login))
        .ok_or_else(|| OperationError::NoSuchIdentity {
            sync: sync.to_string(),
            login: login.to_owned(),
        })
}

/// Moves the identity `login` of `sync` to `user`: the same person.
pub fn plan_link(
    records: &Records,
    user: &UserId,
    sync: &SyncId,
    login: &str,
) -> Result<Plan, OperationError> {
    let target = records
        .users
        .iter()
        .find(|u| &u.id == user)
        .ok_or_else(|| OperationError::NoSuchUser(user.to_string()))?;
    let key = identity(records, sync, login)?.key();
    let mut plan = Plan::default();
    if target.identities.contains(&key) {
        return Ok(plan);
    }
    if let Some(old) = records.user_of(&key) {
        let identities = old
            .identities
            .iter()
            .filter(|i| **i != key)
            .cloned()
            .collect();
        plan.changes.push(Change::PutUser(User {
            id: old.id.clone(),
            identities,
        }));
    }
    let mut identities = target.identities.clone();
    identities.insert(key);
    plan.changes.push(Change::PutUser(User {
        id: target.id.clone(),
        identities,
    }));
    Ok(plan)
}

/// Separates the identity `login` of `sync` from `user` into a user of its own.
pub fn plan_unlink(
    records: &Records,
    user: &UserId,
    sync: &SyncId,
    login: &str,
) -> Result<(Plan, UserId), OperationError> {
    let owner = records
        .users
        .iter()
        .find(|u| &u.id == user)
        .ok_or_else(|| OperationError::NoSuchUser(user.to_string()))?;
    let found = identity(records, sync, login)?;
    let key = found.key();
    if !owner.identities.contains(&key) {
        return Err(OperationError::NoSuchIdentity {
            sync: sync.to_string(),
            login: format!("{login} (of user {user})"),
        });
    }
    if owner.identities.len() == 1 {
        return Err(OperationError::OnlyIdentity {
            user: user.to_string(),
            identity: format!("{sync}:{login}"),
        });
    }
    let base = UserId::from_login(&found.login);
    let taken: BTreeSet<&UserId> = records.users.iter().map(|u| &u.id).collect();
    let new_id = std::iter::once(base.clone())
        .chain((2..).map(|n| base.numbered(n)))
        .find(|id| !taken.contains(id))
        .unwrap_or(base);
    let mut plan = Plan::default();
    let rest = owner
        .identities
        .iter()
        .filter(|i| **i != key)
        .cloned()
        .collect();
    plan.changes.push(Change::PutUser(User {
        id: owner.id.clone(),
        identities: rest,
    }));
    plan.changes.push(Change::PutUser(User {
        id: new_id.clone(),
        identities: BTreeSet::from([key]),
    }));
    Ok((plan, new_id))
}

#[cfg(test)]
mod tests;
