//! The providers' cache, kept in the store so that ETags and manifests
//! survive restarts: a no-change resync after a restart still costs 304s.

use crate::domain::{Manifest, RemoteId, RepoRefs, SyncId, Timestamp};
use crate::providers::{CachedResponse, ProviderCache};
use crate::store::{EtagEntry, Store};

/// How long after packyard first saw a commit a "no composer.json" answer
/// for it is trusted enough to cache: 10 minutes, by packyard's clock.
const TRUST_MISSING_AFTER_SECS: i64 = 600;

pub struct StoreCache {
    store: Store,
    sync: SyncId,
}

impl StoreCache {
    pub fn new(store: Store, sync: SyncId) -> Self {
        Self { store, sync }
    }
}

// A cache that cannot be read or written only costs extra requests, so store
// errors are logged and treated as misses rather than failing the run.
impl ProviderCache for StoreCache {
    fn etag(&self, url: &str) -> Option<CachedResponse> {
        match self.store.load_etag(&self.sync, url) {
            Ok(hit) => hit.map(|e| CachedResponse {
                etag: e.etag,
                body: e.body,
                headers: e.headers,
            }),
            Err(e) => {
                tracing::warn!(sync = %self.sync, error = %e, "ETag cache read failed");
                None
            }
        }
    }

    fn put_etag(&self, url: &str, response: CachedResponse) {
        let entry = EtagEntry {
            etag: response.etag,
            body: response.body,
            headers: response.headers,
        };
        if let Err(e) = self.store.apply_etag(&self.sync, url, &entry) {
            tracing::warn!(sync = %self.sync, error = %e, "ETag cache write failed");
        }
    }

    fn manifest(&self, repo: &RemoteId, commit: &str) -> Option<Manifest> {
        match self.store.load_manifest(&self.sync, repo, commit) {
            Ok(hit) => hit,
            Err(e) => {
                tracing::warn!(sync = %self.sync, error = %e, "manifest cache read failed");
                None
            }
        }
    }

    fn refs(&self, repo: &RemoteId) -> Option<RepoRefs> {
        match self.store.load_refs(&self.sync, repo) {
            Ok(hit) => hit,
            Err(e) => {
                tracing::warn!(sync = %self.sync, error = %e, "refs cache read failed");
                None
            }
        }
    }

    fn put_refs(&self, repo: &RemoteId, refs: &RepoRefs) {
        if let Err(e) = self.store.apply_refs(&self.sync, repo, refs) {
            tracing::warn!(sync = %self.sync, error = %e, "refs cache write failed");
        }
    }

    fn put_manifest(&self, repo: &RemoteId, commit: &str, manifest: &Manifest) {
        // Commits are immutable, but a host's replica may answer 404 for a
        // file right after a push. A "missing" is kept only for a commit
        // packyard first saw long enough ago; until then it is asked again.
        if *manifest == Manifest::Missing {
            let now = Timestamp::now();
            match self.store.apply_missing_seen(&self.sync, repo, commit, now) {
                Ok(first) if now.0 - first.0 >= TRUST_MISSING_AFTER_SECS => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(sync = %self.sync, error = %e, "manifest cache write failed");
                    return;
                }
            }
        }
        if let Err(e) = self
            .store
            .apply_manifest(&self.sync, repo, commit, manifest)
        {
            tracing::warn!(sync = %self.sync, error = %e, "manifest cache write failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_manifest_is_cached_only_for_commits_first_seen_ten_minutes_ago() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sync = SyncId::new("acme").unwrap();
        let cache = StoreCache::new(store.clone(), sync.clone());
        let repo = RemoteId::from(7u64);
        cache.put_manifest(&repo, "c0ffee1", &Manifest::Missing);
        assert_eq!(cache.manifest(&repo, "c0ffee1"), None, "seen just now");
        cache.put_manifest(&repo, "c0ffee1", &Manifest::Missing);
        assert_eq!(cache.manifest(&repo, "c0ffee1"), None, "still too recent");
        let long_ago = Timestamp(Timestamp::now().0 - TRUST_MISSING_AFTER_SECS);
        store
            .apply_missing_seen(&sync, &repo, "beef001", long_ago)
            .unwrap();
        cache.put_manifest(&repo, "beef001", &Manifest::Missing);
        assert_eq!(cache.manifest(&repo, "beef001"), Some(Manifest::Missing));
        let found = crate::providers::manifest::parse(br#"{"name":"acme/x"}"#);
        cache.put_manifest(&repo, "c0ffee1", &found);
        assert_eq!(
            cache.manifest(&repo, "c0ffee1"),
            Some(found),
            "found is cached at once"
        );
    }
}
