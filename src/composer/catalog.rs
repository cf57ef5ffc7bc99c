//! What one token may see, read from the store: the visible package names
//! for `packages.json`, a single visible package for p2 and dist requests,
//! and the p2 document of a package with the shasums of cached dists.
//!
//! These functions do blocking sled reads (some scan); async callers run
//! them in `spawn_blocking`.

use super::metadata;
use crate::domain::{
    Directory, Package, PackageName, Sync, Team, TokenScope, User, VersionKind, access_for,
    may_install,
};
use crate::store::{Store, StoreError};
use serde_json::Value;
use std::collections::BTreeMap;

/// Names of the packages `scope` may install, sorted.
pub fn load_visible_names(
    store: &Store,
    scope: &TokenScope,
) -> Result<Vec<PackageName>, StoreError> {
    let packages = store.load_packages()?;
    let people = People::load(store, scope)?;
    let access = access_for(scope, &people.directory(), &packages);
    let mut names: Vec<PackageName> = packages
        .into_iter()
        .map(|p| p.name)
        .filter(|n| access.allows(n))
        .collect();
    names.sort();
    Ok(names)
}

/// The package called `name` if it exists and `scope` may install it. Absent
/// and forbidden are deliberately the same `None`.
pub fn load_visible_package(
    store: &Store,
    scope: &TokenScope,
    name: &PackageName,
) -> Result<Option<Package>, StoreError> {
    let Some(package) = store.load_package(name)? else {
        return Ok(None);
    };
    let people = People::load(store, scope)?;
    Ok(may_install(scope, &people.directory(), &package).then_some(package))
}

/// The p2 document (tags or branches) of `package`.
pub fn load_p2(
    store: &Store,
    public_url: &str,
    package: &Package,
    kind: VersionKind,
) -> Result<Value, StoreError> {
    let versions = store.load_versions(&package.name)?;
    let mut shasums = BTreeMap::new();
    for v in versions.iter().filter(|v| v.kind == kind) {
        if let Some(info) = store.load_dist(&package.name, &v.commit)? {
            shasums.insert(v.commit.clone(), info.sha1);
        }
    }
    Ok(metadata::p2_json(
        public_url, package, &versions, kind, &shasums,
    ))
}

/// The package called `name` if `scope` may install it and `commit` was
/// ever the commit of one of its versions: only published refs can be
/// downloaded, so a token cannot pull arbitrary commits through packyard's
/// credentials, and a lock keeps installing after its tag moved or went.
pub fn load_dist_package(
    store: &Store,
    scope: &TokenScope,
    name: &PackageName,
    commit: &str,
) -> Result<Option<Package>, StoreError> {
    let Some(package) = load_visible_package(store, scope, name)? else {
        return Ok(None);
    };
    Ok(store.is_published(name, commit)?.then_some(package))
}

/// The records the access rule reads. An org-wide token needs none, so
/// nothing is loaded for it.
#[derive(Default)]
struct People {
    syncs: Vec<Sync>,
    teams: Vec<Team>,
    users: Vec<User>,
}

impl People {
    fn load(store: &Store, scope: &TokenScope) -> Result<Self, StoreError> {
        if matches!(scope, TokenScope::OrgWide) {
            return Ok(Self::default());
        }
        Ok(Self {
            syncs: store.load_syncs()?,
            teams: store.load_teams(None)?,
            users: store.load_users()?,
        })
    }

    fn directory(&self) -> Directory<'_> {
        Directory {
            syncs: &self.syncs,
            teams: &self.teams,
            users: &self.users,
        }
    }
}
