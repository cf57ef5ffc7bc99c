//! The engine's side of the admin operations: load the records, plan with
//! [`operations`], and apply the plan atomically (or only preview it).

use super::operations::{self, OwnerChange, Records, SyncRemoval};
use super::{EngineError, EngineHandle};
use crate::domain::{Identity, PackageName, Plan, SyncId, TeamKey, Timestamp, User, UserId};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// How often an operation is replanned when the store moved on meanwhile.
const ATTEMPTS: usize = 3;

/// A user as the user list shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    pub id: UserId,
    /// One of packyard's owners/admins (through the primary sync).
    pub owner: bool,
    pub identities: Vec<Identity>,
    pub teams: Vec<TeamKey>,
}

/// Which packages `package remove` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageSelection {
    Named(Vec<PackageName>),
    /// Every package created by this sync (it may be gone already).
    Origin(SyncId),
}

fn load_records(store: &Store) -> Result<Records, StoreError> {
    Ok(Records {
        syncs: store.load_syncs()?,
        teams: store.load_teams(None)?,
        users: store.load_users()?,
        identities: store.load_identities(None)?,
    })
}

impl EngineHandle {
    /// Plans against the current store and, when `apply`, writes the plan in
    /// one transaction; a plan computed against a store that moved on is
    /// recomputed.
    pub(super) async fn operate<T: Send + 'static>(
        &self,
        apply: bool,
        plan: impl Fn(&Store) -> Result<(Plan, T), EngineError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let store = self.store().clone();
        tokio::task::spawn_blocking(move || {
            for _ in 0..ATTEMPTS {
                let revision = store.revision()?;
                let (planned, out) = plan(&store)?;
                if !apply || planned.is_empty() {
                    return Ok(out);
                }
                match store.apply(&planned, revision, Timestamp::now()) {
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(e) => return Err(e.into()),
                    Ok(_) => {
                        store.flush()?;
                        return Ok(out);
                    }
                }
            }
            Err(EngineError::Internal(
                "the store kept changing; try again".into(),
            ))
        })
        .await
        .map_err(|e| EngineError::Internal(format!("store task failed: {e}")))?
    }

    /// Who gains and loses owner/admin access if `id` becomes primary;
    /// makes it so when `apply`.
    pub async fn promote_sync(&self, id: SyncId, apply: bool) -> Result<OwnerChange, EngineError> {
        self.operate(apply, move |s| {
            Ok(operations::plan_promote(&load_records(s)?, &id)?)
        })
        .await
    }

    /// What removing sync `id` takes away; removes it when `apply`.
    pub async fn remove_sync(&self, id: SyncId, apply: bool) -> Result<SyncRemoval, EngineError> {
        let record = self.load_sync(&id).await?;
        let removal = {
            let id = id.clone();
            self.operate(apply, move |s| {
                let kept: Vec<PackageName> = s
                    .load_packages()?
                    .into_iter()
                    .filter(|p| p.origin == id)
                    .map(|p| p.name)
                    .collect();
                Ok(operations::plan_remove_sync(&load_records(s)?, &id, &kept)?)
            })
            .await?
        };
        if apply {
            self.remove_hooks(&record).await;
            self.forget_host(&id);
            let dropped = id.clone();
            self.blocking(move |s| s.apply_caches_dropped(&dropped))
                .await?;
        }
        Ok(removal)
    }

    /// The packages `selection` names; removes them with their versions when `apply`.
    pub async fn remove_packages(
        &self,
        selection: PackageSelection,
        apply: bool,
    ) -> Result<Vec<PackageName>, EngineError> {
        self.operate(apply, move |s| {
            let names: Vec<PackageName> = match &selection {
                PackageSelection::Origin(sync) => s
                    .load_packages()?
                    .into_iter()
                    .filter(|p| &p.origin == sync)
                    .map(|p| p.name)
                    .collect(),
                PackageSelection::Named(names) => {
                    let missing: Vec<String> = names
                        .iter()
                        .filter(|n| !matches!(s.load_package(n), Ok(Some(_))))
                        .map(|n| n.to_string())
                        .collect();
                    if !missing.is_empty() {
                        return Err(
                            operations::OperationError::NoSuchPackages(missing.join(", ")).into(),
                        );
                    }
                    names.clone()
                }
            };
            let mut packages = Vec::new();
            for name in &names {
                if let Some(package) = s.load_package(name)? {
                    packages.push((package, s.load_versions(name)?));
                }
            }
            Ok((
                operations::plan_remove_packages(&packages, Timestamp::now()),
                names,
            ))
        })
        .await
    }

    /// Records that the identity `login` of `sync` is the same person as `user`.
    pub async fn link_identity(
        &self,
        user: UserId,
        sync: SyncId,
        login: String,
    ) -> Result<(), EngineError> {
        self.operate(true, move |s| {
            Ok((
                operations::plan_link(&load_records(s)?, &user, &sync, &login)?,
                (),
            ))
        })
        .await
    }

    /// Separates the identity `login` of `sync` from `user`; returns the new user's id.
    pub async fn unlink_identity(
        &self,
        user: UserId,
        sync: SyncId,
        login: String,
    ) -> Result<UserId, EngineError> {
        self.operate(true, move |s| {
            Ok(operations::plan_unlink(
                &load_records(s)?,
                &user,
                &sync,
                &login,
            )?)
        })
        .await
    }

    /// Users with their identities, teams and whether they are owners/admins.
    pub async fn list_users(&self) -> Result<Vec<UserSummary>, EngineError> {
        self.blocking(|s| {
            let records = load_records(s)?;
            let dir = crate::domain::Directory {
                syncs: &records.syncs,
                teams: &records.teams,
                users: &records.users,
            };
            Ok(records
                .users
                .iter()
                .map(|u: &User| UserSummary {
                    id: u.id.clone(),
                    owner: dir.is_owner(u),
                    identities: records
                        .identities
                        .iter()
                        .filter(|i| u.identities.contains(&i.key()))
                        .cloned()
                        .collect(),
                    teams: records
                        .teams
                        .iter()
                        .filter(|t| {
                            u.identities
                                .iter()
                                .any(|i| i.sync == t.key.sync && t.members.contains_key(&i.remote))
                        })
                        .map(|t| t.key.clone())
                        .collect(),
                })
                .collect())
        })
        .await
    }
}
