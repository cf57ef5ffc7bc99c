//! Synced state: teams, identities, packages and versions, and the atomic
//! application of a [`Plan`].

use super::{
    CATALOG_MTIME_KEY, Changed, Published, REVISION_KEY, Store, StoreError, decode, encode, key,
    prefix, read_u64, scan,
};
use crate::domain::{
    Change, Current, Identity, Package, PackageName, Plan, Removal, Sync, SyncId, Team, Timestamp,
    User, Version, VersionKind,
};
use sled::transaction::{ConflictableTransactionError, Transactional};
use std::collections::BTreeSet;

/// One prepared write. Plans are encoded before the transaction starts, so the
/// transaction closure (which sled may run more than once) only moves bytes.
enum Write {
    Put(Target, Vec<u8>, Vec<u8>),
    Delete(Target, Vec<u8>),
    /// Records a version's commit as published (merged with what is there).
    Publish(Vec<u8>, VersionKind),
    /// Sets a sync's primary flag on the record as stored when the
    /// transaction runs, so a run summary or hook state recorded since the
    /// plan was made is kept.
    Primary(Vec<u8>, bool),
}

#[derive(Clone, Copy)]
enum Target {
    Teams,
    Identities,
    Packages,
    Versions,
    PackageMtime,
    Syncs,
    Credentials,
    Users,
    Removals,
}

impl Store {
    /// The state a plan for `sync` is computed against. Versions are loaded
    /// for the sync's own packages and for the `claimed` names, which may
    /// move to it.
    pub fn load_current(
        &self,
        sync: &SyncId,
        claimed: &BTreeSet<PackageName>,
    ) -> Result<Current, StoreError> {
        let mut current = Current::default();
        for sync in self.load_syncs()? {
            current.syncs.insert(sync.id.clone(), sync);
        }
        for user in self.load_users()? {
            current.users.insert(user.id.clone(), user);
        }
        current.other_identities = self
            .load_identities(None)?
            .into_iter()
            .filter(|i| &i.sync != sync)
            .collect();
        for team in scan::<Team>(&self.trees.teams, "teams", &prefix(&[sync.as_str()]))? {
            current.teams.insert(team.key.clone(), team);
        }
        for identity in scan::<Identity>(
            &self.trees.identities,
            "identities",
            &prefix(&[sync.as_str()]),
        )? {
            current.identities.insert(identity.remote.clone(), identity);
        }
        for removal in scan::<Removal>(&self.trees.removals, "removals", &prefix(&[sync.as_str()]))?
        {
            current.removals.insert(removal.repo.clone(), removal);
        }
        for package in self.load_packages()? {
            if &package.origin == sync || claimed.contains(&package.name) {
                let versions = self
                    .load_versions(&package.name)?
                    .into_iter()
                    .map(|v| (v.version.clone(), v))
                    .collect();
                current.versions.insert(package.name.clone(), versions);
            }
            current.packages.insert(package.name.clone(), package);
        }
        Ok(current)
    }

    /// Applies every change of `plan` in one transaction, if the store is
    /// still at `expected_revision`. Returns the new revision. Either all of
    /// the plan is written or none of it, also across a crash.
    pub fn apply(
        &self,
        plan: &Plan,
        expected_revision: u64,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        let (writes, touched) = prepare(plan)?;
        let changed = changed_by(plan);
        let t = &self.trees;
        let result = (
            &t.meta,
            &t.teams,
            &t.identities,
            &t.packages,
            &t.versions,
            &t.package_mtime,
            &t.syncs,
            &t.credentials,
            &t.users,
            &t.removals,
            &t.published,
        )
            .transaction(
                |(
                    meta,
                    teams,
                    identities,
                    packages,
                    versions,
                    mtime,
                    syncs,
                    credentials,
                    users,
                    removals,
                    published,
                )| {
                    let found = read_u64(meta.get(REVISION_KEY)?);
                    if found != expected_revision {
                        return Err(ConflictableTransactionError::Abort(StoreError::Conflict {
                            expected: expected_revision,
                            found,
                        }));
                    }
                    let tree = |target: Target| match target {
                        Target::Teams => teams,
                        Target::Identities => identities,
                        Target::Packages => packages,
                        Target::Versions => versions,
                        Target::PackageMtime => mtime,
                        Target::Syncs => syncs,
                        Target::Credentials => credentials,
                        Target::Users => users,
                        Target::Removals => removals,
                    };
                    for write in &writes {
                        match write {
                            Write::Put(target, k, v) => {
                                tree(*target).insert(k.as_slice(), v.as_slice())?;
                            }
                            Write::Delete(target, k) => {
                                tree(*target).remove(k.as_slice())?;
                            }
                            Write::Publish(k, kind) => {
                                let old = published
                                    .get(k)?
                                    .map(|raw| decode::<Published>("published", k, &raw))
                                    .transpose()
                                    .map_err(ConflictableTransactionError::Abort)?;
                                let record = Published::republished(old, *kind, now);
                                let value = encode("published", k, &record)
                                    .map_err(ConflictableTransactionError::Abort)?;
                                published.insert(k.as_slice(), value)?;
                            }
                            Write::Primary(k, primary) => {
                                let Some(raw) = syncs.get(k)? else { continue };
                                let mut sync: Sync = decode("syncs", k, &raw)
                                    .map_err(ConflictableTransactionError::Abort)?;
                                sync.primary = *primary;
                                let raw = encode("syncs", k, &sync)
                                    .map_err(ConflictableTransactionError::Abort)?;
                                syncs.insert(k.as_slice(), raw)?;
                            }
                        }
                    }
                    // Last-Modified has one-second resolution, so a change within
                    // the same second as the previous one still moves it forward;
                    // otherwise a client could get a 304 for changed metadata.
                    let bump = |old: Option<sled::IVec>| {
                        let old = old
                            .and_then(|v| v.as_ref().try_into().ok())
                            .map_or(i64::MIN, i64::from_be_bytes);
                        now.0.max(old.saturating_add(1)).to_be_bytes()
                    };
                    for name in &touched {
                        mtime.insert(name.as_slice(), &bump(mtime.get(name)?))?;
                    }
                    if !writes.is_empty() {
                        meta.insert(CATALOG_MTIME_KEY, &bump(meta.get(CATALOG_MTIME_KEY)?))?;
                    }
                    let next = found + 1;
                    meta.insert(REVISION_KEY, &next.to_be_bytes())?;
                    Ok(next)
                },
            );
        let next = result?;
        self.note_changed(changed);
        Ok(next)
    }

    pub fn load_packages(&self) -> Result<Vec<Package>, StoreError> {
        scan(&self.trees.packages, "packages", &[])
    }

    pub fn load_package(&self, name: &PackageName) -> Result<Option<Package>, StoreError> {
        let k = name.as_str().as_bytes();
        self.trees
            .packages
            .get(k)?
            .map(|raw| decode("packages", k, &raw))
            .transpose()
    }

    /// Versions of a package, in key order (callers sort for display).
    pub fn load_versions(&self, name: &PackageName) -> Result<Vec<Version>, StoreError> {
        scan(&self.trees.versions, "versions", &prefix(&[name.as_str()]))
    }

    /// When anything synced last changed: the Last-Modified of packages.json.
    pub fn load_catalog_mtime(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(read_i64(self.trees.meta.get(CATALOG_MTIME_KEY)?))
    }

    /// When the package or one of its versions last changed.
    pub fn load_package_mtime(&self, name: &PackageName) -> Result<Option<Timestamp>, StoreError> {
        Ok(read_i64(
            self.trees.package_mtime.get(name.as_str().as_bytes())?,
        ))
    }

    pub fn load_users(&self) -> Result<Vec<User>, StoreError> {
        scan(&self.trees.users, "users", &[])
    }

    /// Identities of one sync, or of every sync.
    pub fn load_identities(&self, sync: Option<&SyncId>) -> Result<Vec<Identity>, StoreError> {
        let p = sync.map(|s| prefix(&[s.as_str()])).unwrap_or_default();
        scan(&self.trees.identities, "identities", &p)
    }

    /// Every package removal an admin made, of every sync.
    pub fn load_removals(&self) -> Result<Vec<Removal>, StoreError> {
        scan(&self.trees.removals, "removals", &[])
    }

    /// Teams of one sync, or of every sync.
    pub fn load_teams(&self, sync: Option<&SyncId>) -> Result<Vec<Team>, StoreError> {
        let p = sync.map(|s| prefix(&[s.as_str()])).unwrap_or_default();
        scan(&self.trees.teams, "teams", &p)
    }
}

/// Encodes the plan's writes, and lists the packages whose modification time
/// the transaction must bump.
fn prepare(plan: &Plan) -> Result<(Vec<Write>, Vec<Vec<u8>>), StoreError> {
    let mut writes = Vec::with_capacity(plan.changes.len() * 2);
    let mut touched = std::collections::BTreeSet::new();
    for change in &plan.changes {
        match change {
            Change::PutTeam(team) => {
                let k = key(&[team.key.sync.as_str(), &team.key.remote.0]);
                writes.push(Write::Put(
                    Target::Teams,
                    k.clone(),
                    encode("teams", &k, team)?,
                ));
            }
            Change::DeleteTeam(team) => {
                writes.push(Write::Delete(
                    Target::Teams,
                    key(&[team.sync.as_str(), &team.remote.0]),
                ));
            }
            Change::PutIdentity(identity) => {
                let k = key(&[identity.sync.as_str(), &identity.remote.0]);
                writes.push(Write::Put(
                    Target::Identities,
                    k.clone(),
                    encode("identities", &k, identity)?,
                ));
            }
            Change::DeleteIdentity(identity) => {
                writes.push(Write::Delete(
                    Target::Identities,
                    key(&[identity.sync.as_str(), &identity.remote.0]),
                ));
            }
            Change::PutUser(user) => {
                let k = user.id.as_str().as_bytes().to_vec();
                writes.push(Write::Put(
                    Target::Users,
                    k.clone(),
                    encode("users", &k, user)?,
                ));
            }
            Change::SetPrimary { sync, primary } => {
                writes.push(Write::Primary(sync.as_str().as_bytes().to_vec(), *primary));
            }
            Change::DeleteSync(id) => {
                let k = id.as_str().as_bytes().to_vec();
                writes.push(Write::Delete(Target::Syncs, k.clone()));
                writes.push(Write::Delete(Target::Credentials, k));
            }
            Change::PutPackage(package) => {
                let k = package.name.as_str().as_bytes().to_vec();
                writes.push(Write::Put(
                    Target::Packages,
                    k.clone(),
                    encode("packages", &k, package)?,
                ));
                touched.insert(package.name.clone());
            }
            Change::DeletePackage(name) => {
                writes.push(Write::Delete(
                    Target::Packages,
                    name.as_str().as_bytes().to_vec(),
                ));
                writes.push(Write::Delete(
                    Target::PackageMtime,
                    name.as_str().as_bytes().to_vec(),
                ));
            }
            Change::PutVersion(version) => {
                let k = key(&[version.package.as_str(), &version.version]);
                writes.push(Write::Put(
                    Target::Versions,
                    k.clone(),
                    encode("versions", &k, version)?,
                ));
                writes.push(Write::Publish(
                    key(&[version.package.as_str(), &version.commit]),
                    version.kind,
                ));
                touched.insert(version.package.clone());
            }
            Change::DeleteVersion { package, version } => {
                writes.push(Write::Delete(
                    Target::Versions,
                    key(&[package.as_str(), version]),
                ));
                touched.insert(package.clone());
            }
            Change::PutRemoval(removal) => {
                let k = key(&[removal.sync.as_str(), &removal.repo.0]);
                writes.push(Write::Put(
                    Target::Removals,
                    k.clone(),
                    encode("removals", &k, removal)?,
                ));
            }
            Change::DeleteRemoval { sync, repo } => {
                writes.push(Write::Delete(
                    Target::Removals,
                    key(&[sync.as_str(), &repo.0]),
                ));
            }
        }
    }
    let deleted: std::collections::BTreeSet<&PackageName> = plan
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::DeletePackage(name) => Some(name),
            _ => None,
        })
        .collect();
    let touched = touched
        .iter()
        .filter(|n| !deleted.contains(n))
        .map(|n| n.as_str().as_bytes().to_vec())
        .collect();
    Ok((writes, touched))
}

/// What the published catalog must rebuild after `plan` is committed.
fn changed_by(plan: &Plan) -> Changed {
    let mut changed = Changed::default();
    for change in &plan.changes {
        match change {
            Change::PutPackage(package) => {
                changed.packages.insert(package.name.clone());
            }
            Change::DeletePackage(name) => {
                changed.packages.insert(name.clone());
            }
            Change::PutVersion(version) => {
                changed.packages.insert(version.package.clone());
            }
            Change::DeleteVersion { package, .. } => {
                changed.packages.insert(package.clone());
            }
            Change::PutTeam(_)
            | Change::DeleteTeam(_)
            | Change::PutIdentity(_)
            | Change::DeleteIdentity(_)
            | Change::PutUser(_)
            | Change::SetPrimary { .. }
            | Change::DeleteSync(_) => changed.people = true,
            // Removal markers only steer later runs; Composer sees nothing.
            Change::PutRemoval(_) | Change::DeleteRemoval { .. } => {}
        }
    }
    changed
}

fn read_i64(raw: Option<sled::IVec>) -> Option<Timestamp> {
    raw.and_then(|v| v.as_ref().try_into().ok())
        .map(|b| Timestamp(i64::from_be_bytes(b)))
}
