//! Every commit that was ever a published version of a package, so its dist
//! stays downloadable after the tag is deleted or moved or the branch is
//! gone (a composer.lock pins the commit). Written in the same transaction
//! as the version itself; retired branch heads and removed packages are
//! swept after the configured retention.

use super::{Changed, Store, StoreError, decode, encode, key, prefix};
use crate::domain::{PackageName, Timestamp, VersionKind};
use serde::{Deserialize, Serialize};

/// What is known of one published commit of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// `Tag` once any tag pointed at the commit: tagged dists are kept for good.
    pub kind: VersionKind,
    pub first_at: Timestamp,
    /// When a sweep first found the commit no longer current (a branch that
    /// moved on, or a removed package); cleared when it is current again.
    #[serde(default)]
    pub retired_at: Option<Timestamp>,
}

impl Published {
    /// The record after `kind` is published at `now` again.
    pub(super) fn republished(old: Option<Self>, kind: VersionKind, now: Timestamp) -> Self {
        match old {
            Some(old) => Self {
                kind: old.kind.min(kind),
                retired_at: None,
                ..old
            },
            None => Self {
                kind,
                first_at: now,
                retired_at: None,
            },
        }
    }
}

impl Store {
    /// Whether `commit` was ever a published version of `name`.
    pub fn is_published(&self, name: &PackageName, commit: &str) -> Result<bool, StoreError> {
        Ok(self
            .trees
            .published
            .contains_key(key(&[name.as_str(), commit]))?)
    }

    /// Every commit that was ever a version of `name`.
    pub fn load_published_commits(
        &self,
        name: &PackageName,
    ) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let start = prefix(&[name.as_str()]);
        let mut out = std::collections::BTreeSet::new();
        for k in self.trees.published.scan_prefix(&start).keys() {
            let k = k?;
            out.insert(String::from_utf8_lossy(&k[start.len()..]).into_owned());
        }
        Ok(out)
    }

    /// Every published commit of every package, for the retention sweep.
    pub fn load_published(&self) -> Result<Vec<(PackageName, String, Published)>, StoreError> {
        let mut out = Vec::new();
        for item in self.trees.published.iter() {
            let (k, v) = item?;
            let record: Published = decode("published", &k, &v)?;
            let text = String::from_utf8_lossy(&k);
            let Some((name, commit)) = text.split_once('\0') else {
                continue;
            };
            if let Ok(name) = PackageName::new(name) {
                out.push((name, commit.to_owned(), record));
            }
        }
        Ok(out)
    }

    /// Records when a published commit stopped (or started again) being current.
    pub fn apply_retired(
        &self,
        name: &PackageName,
        commit: &str,
        retired_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let k = key(&[name.as_str(), commit]);
        let Some(raw) = self.trees.published.get(&k)? else {
            return Ok(());
        };
        let record: Published = decode("published", &k, &raw)?;
        let record = Published {
            retired_at,
            ..record
        };
        self.trees
            .published
            .insert(&k, encode("published", &k, &record)?)?;
        Ok(())
    }

    /// Forgets a published commit and its archive record once its retention ended.
    pub fn apply_unpublished(&self, name: &PackageName, commit: &str) -> Result<(), StoreError> {
        let k = key(&[name.as_str(), commit]);
        self.trees.published.remove(&k)?;
        self.trees.dists.remove(&k)?;
        self.flush()?;
        self.note_changed(Changed {
            packages: [name.clone()].into(),
            ..Changed::default()
        });
        Ok(())
    }

    /// Bytes of archives kept per package, removed packages included.
    pub fn load_dist_usage(
        &self,
    ) -> Result<std::collections::BTreeMap<PackageName, u64>, StoreError> {
        let mut usage = std::collections::BTreeMap::new();
        for item in self.trees.dists.iter() {
            let (k, v) = item?;
            let info: super::DistInfo = decode("dists", &k, &v)?;
            let text = String::from_utf8_lossy(&k);
            if let Some(Ok(name)) = text.split_once('\0').map(|(n, _)| PackageName::new(n)) {
                *usage.entry(name).or_insert(0) += info.size;
            }
        }
        Ok(usage)
    }

    /// Stores written before published commits were recorded know only the
    /// current versions: those become the published set, once.
    pub(super) fn backfill_published(&self) -> Result<(), StoreError> {
        const DONE: &[u8] = b"published_backfilled";
        if self.trees.meta.contains_key(DONE)? {
            return Ok(());
        }
        let now = Timestamp::now();
        for version in self.load_all_versions()? {
            let k = key(&[version.package.as_str(), &version.commit]);
            let old = self
                .trees
                .published
                .get(&k)?
                .map(|raw| decode("published", &k, &raw))
                .transpose()?;
            let record = Published::republished(old, version.kind, now);
            self.trees
                .published
                .insert(&k, encode("published", &k, &record)?)?;
        }
        self.trees.meta.insert(DONE, &[1])?;
        Ok(())
    }

    fn load_all_versions(&self) -> Result<Vec<crate::domain::Version>, StoreError> {
        super::scan(&self.trees.versions, "versions", &[])
    }
}
