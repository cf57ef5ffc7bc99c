//! What one token may see, read from the store: the visible package names
//! for `packages.json`, a single visible package for p2 and dist requests,
//! and the p2 document of a package with the shasums of cached dists.
//!
//! These functions do blocking sled reads (some scan); async callers run
//! them in `spawn_blocking`.

use super::metadata;
use crate::domain::{Package, PackageName, Team, TokenScope, VersionKind, access_for, may_install};
use crate::store::{Store, StoreError};
use serde_json::Value;
use std::collections::BTreeMap;

/// Names of the packages `scope` may install, sorted.
pub fn load_visible_names(
    store: &Store,
    scope: &TokenScope,
) -> Result<Vec<PackageName>, StoreError> {
    let packages = store.load_packages()?;
    let access = access_for(scope, &load_scope_teams(store, scope)?, &packages);
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
    let teams = load_scope_teams(store, scope)?;
    Ok(may_install(scope, &teams, &package).then_some(package))
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

/// The package called `name` if `scope` may install it and `commit` is the
/// commit of one of its stored versions: only published refs can be
/// downloaded, so a token cannot pull arbitrary commits through packyard's
/// credentials.
pub fn load_dist_package(
    store: &Store,
    scope: &TokenScope,
    name: &PackageName,
    commit: &str,
) -> Result<Option<Package>, StoreError> {
    let Some(package) = load_visible_package(store, scope, name)? else {
        return Ok(None);
    };
    let published = store
        .load_versions(name)?
        .iter()
        .any(|v| v.commit == commit);
    Ok(published.then_some(package))
}

/// The teams the scope's rule needs: only the token's own sync's teams.
fn load_scope_teams(store: &Store, scope: &TokenScope) -> Result<Vec<Team>, StoreError> {
    match scope {
        TokenScope::OrgWide => Ok(Vec::new()),
        TokenScope::Team { team } => store.load_teams(Some(&team.sync)),
    }
}
