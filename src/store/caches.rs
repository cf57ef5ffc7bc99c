//! Caches that make repeated work cheap: HTTP ETags with their bodies,
//! manifests by commit, and what is known of each cached dist archive.
//! All are per sync, since visibility at a host depends on the credential.

use super::{Changed, Store, StoreError, decode, encode, key, prefix};
use crate::domain::{Manifest, PackageName, RemoteId, RepoRefs, SyncId, Timestamp};
use serde::{Deserialize, Serialize};

/// A dist archive on disk, identified by package and commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistInfo {
    /// SHA-1 hex of the archive bytes, as Composer's `shasum` expects.
    pub sha1: String,
    pub size: u64,
}

/// A response kept for conditional requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtagEntry {
    pub etag: String,
    pub body: Vec<u8>,
    /// Response headers a 304 does not repeat (pagination links).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

impl Store {
    pub fn load_etag(&self, sync: &SyncId, url: &str) -> Result<Option<EtagEntry>, StoreError> {
        let k = key(&[sync.as_str(), url]);
        self.trees
            .etags
            .get(&k)?
            .map(|raw| decode("etags", &k, &raw))
            .transpose()
    }

    pub fn apply_etag(
        &self,
        sync: &SyncId,
        url: &str,
        entry: &EtagEntry,
    ) -> Result<(), StoreError> {
        let k = key(&[sync.as_str(), url]);
        self.trees.etags.insert(&k, encode("etags", &k, entry)?)?;
        Ok(())
    }

    pub fn load_manifest(
        &self,
        sync: &SyncId,
        repo: &RemoteId,
        commit: &str,
    ) -> Result<Option<Manifest>, StoreError> {
        let k = key(&[sync.as_str(), &repo.0, commit]);
        self.trees
            .manifests
            .get(&k)?
            .map(|raw| decode("manifests", &k, &raw))
            .transpose()
    }

    pub fn apply_manifest(
        &self,
        sync: &SyncId,
        repo: &RemoteId,
        commit: &str,
        manifest: &Manifest,
    ) -> Result<(), StoreError> {
        let k = key(&[sync.as_str(), &repo.0, commit]);
        self.trees
            .manifests
            .insert(&k, encode("manifests", &k, manifest)?)?;
        Ok(())
    }

    pub fn load_refs(
        &self,
        sync: &SyncId,
        repo: &RemoteId,
    ) -> Result<Option<RepoRefs>, StoreError> {
        let k = key(&[sync.as_str(), &repo.0]);
        self.trees
            .refs
            .get(&k)?
            .map(|raw| decode("refs", &k, &raw))
            .transpose()
    }

    pub fn apply_refs(
        &self,
        sync: &SyncId,
        repo: &RemoteId,
        refs: &RepoRefs,
    ) -> Result<(), StoreError> {
        let k = key(&[sync.as_str(), &repo.0]);
        self.trees.refs.insert(&k, encode("refs", &k, refs)?)?;
        Ok(())
    }

    /// When packyard first found no composer.json at `commit`, recording
    /// `now` if this is the first time.
    pub fn apply_missing_seen(
        &self,
        sync: &SyncId,
        repo: &RemoteId,
        commit: &str,
        now: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        let k = key(&[sync.as_str(), &repo.0, commit]);
        let first = self.trees.missing_seen.fetch_and_update(&k, |old| {
            Some(old.map_or_else(|| now.0.to_be_bytes().to_vec(), <[u8]>::to_vec))
        })?;
        Ok(first
            .and_then(|v| v.as_ref().try_into().ok())
            .map_or(now, |b| Timestamp(i64::from_be_bytes(b))))
    }

    /// Forgets everything cached for a removed sync.
    pub fn apply_caches_dropped(&self, sync: &SyncId) -> Result<(), StoreError> {
        let p = prefix(&[sync.as_str()]);
        for tree in [
            &self.trees.etags,
            &self.trees.manifests,
            &self.trees.refs,
            &self.trees.missing_seen,
        ] {
            for k in tree.scan_prefix(&p).keys() {
                tree.remove(k?)?;
            }
        }
        self.flush()
    }

    pub fn load_dist(
        &self,
        package: &PackageName,
        commit: &str,
    ) -> Result<Option<DistInfo>, StoreError> {
        let k = key(&[package.as_str(), commit]);
        self.trees
            .dists
            .get(&k)?
            .map(|raw| decode("dists", &k, &raw))
            .transpose()
    }

    /// Records a cached archive. The package's metadata now carries its
    /// shasum, so its modification time moves too.
    pub fn apply_dist(
        &self,
        package: &PackageName,
        commit: &str,
        info: &DistInfo,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let k = key(&[package.as_str(), commit]);
        self.trees.dists.insert(&k, encode("dists", &k, info)?)?;
        let name = package.as_str().as_bytes();
        self.trees.package_mtime.update_and_fetch(name, |old| {
            let old = old
                .and_then(|v| v.try_into().ok())
                .map_or(i64::MIN, i64::from_be_bytes);
            Some(now.0.max(old.saturating_add(1)).to_be_bytes().to_vec())
        })?;
        self.note_changed(Changed {
            packages: [package.clone()].into(),
            ..Changed::default()
        });
        self.flush()
    }
}
