//! Dist archives ahead of installs. After a run (and in the background
//! after a webhook refresh) the engine downloads the archives the prefetch
//! policy wants and the dist store lacks, a few at a time, so that every
//! version's metadata carries its `shasum` and an install needs no code
//! host. Then it sweeps what retention no longer keeps: tagged versions
//! stay for good, a branch head's archive and a removed package's archives
//! for `keep_branch_days` after they stopped being current.

use super::{EngineError, EngineEvent, EngineHandle};
use crate::composer::{ArchiveSource, DistError};
use crate::domain::{Package, PackageName, Problem, SyncId, Timestamp, VersionKind};
use crate::store::{Published, Store, StoreError};
use async_trait::async_trait;
use futures::{StreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

/// Archives one sync prefetches at once. Prefetch runs after the metadata
/// and shares the sync's client (its request limit and rate-limit pauses),
/// so this only keeps it from crowding out webhook refreshes.
const PREFETCH_CONCURRENCY: usize = 4;

/// Sweeps closer together than this are skipped: runs often come in a row.
const SWEEP_EVERY_SECS: i64 = 600;

/// What a prefetch did.
#[derive(Debug, Default)]
pub(super) struct Prefetched {
    pub fetched: u64,
    pub bytes: u64,
    pub problems: Vec<Problem>,
}

/// Archives come from the package's code host, through the engine's client
/// for its origin sync (so with that sync's credentials), after metadata in
/// the request budget.
#[async_trait]
impl ArchiveSource for EngineHandle {
    async fn fetch_archive(&self, package: &Package, commit: &str) -> Result<bytes::Bytes, String> {
        // The inherent method, which downloads at the archives' priority.
        EngineHandle::fetch_archive(self, package, commit)
            .await
            .map_err(|e| e.to_string())
    }
}

impl EngineHandle {
    /// Downloads the archives of `sync`'s packages that the policy wants and
    /// the dist store lacks, reporting progress as the "prefetch" phase.
    pub(super) async fn prefetch(&self, sync: &SyncId) -> Result<Prefetched, EngineError> {
        let policy = self.inner.settings.dists.prefetch;
        let (id, dists) = (sync.clone(), self.dists().clone());
        let wanted = self
            .blocking(move |s| {
                let mut wanted = Vec::new();
                for package in s.load_packages()?.into_iter().filter(|p| p.origin == id) {
                    let commits: BTreeSet<String> = s
                        .load_versions(&package.name)?
                        .into_iter()
                        .filter(|v| policy.wants(v))
                        .map(|v| v.commit)
                        .collect();
                    for commit in commits {
                        if !dists.has(&package.name, &commit)? {
                            wanted.push((package.clone(), commit));
                        }
                    }
                }
                Ok(wanted)
            })
            .await?;
        let total = wanted.len() as u64;
        let mut out = Prefetched::default();
        if total == 0 {
            return Ok(out);
        }
        let phase = |done| EngineEvent::PhaseChanged {
            sync: sync.clone(),
            phase: "prefetch".to_owned(),
            done,
            total,
        };
        self.emit(phase(0));
        let mut results = stream::iter(wanted)
            .map(|(package, commit)| async move {
                let result = self.dists().get_or_fetch(&package, &commit, self).await;
                (package, commit, result)
            })
            .buffer_unordered(PREFETCH_CONCURRENCY);
        let mut done = 0;
        while let Some((package, commit, result)) = results.next().await {
            done += 1;
            match result {
                Ok((_, info)) => {
                    out.fetched += 1;
                    out.bytes += info.size;
                }
                Err(e) => out.problems.push(Problem {
                    subject: package.repo_full_name.clone(),
                    reference: Some(commit),
                    message: format!("archive not prefetched: {e}"),
                }),
            }
            self.emit(phase(done));
        }
        Ok(out)
    }

    /// Prefetches for `sync` without waiting: what webhook refreshes do.
    pub(super) fn prefetch_in_background(&self, sync: &SyncId) {
        let (engine, sync) = (self.clone(), sync.clone());
        tokio::spawn(async move {
            match engine.prefetch(&sync).await {
                Ok(done) => {
                    for p in &done.problems {
                        tracing::warn!(%sync, repo = %p.subject, commit = ?p.reference, "{}", p.message);
                    }
                }
                Err(e) => tracing::warn!(%sync, error = %e, "prefetch failed"),
            }
            engine.sweep_dists().await;
        });
    }

    /// Deletes the archives retention no longer keeps, at most once every
    /// [`SWEEP_EVERY_SECS`].
    pub(super) async fn sweep_dists(&self) {
        let now = Timestamp::now();
        let last = self.inner.swept_at.load(Ordering::Relaxed);
        if now.0.saturating_sub(last) < SWEEP_EVERY_SECS
            || self
                .inner
                .swept_at
                .compare_exchange(last, now.0, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let keep = i64::from(self.inner.settings.dists.keep_branch_days) * 86_400;
        let planned = match self.blocking(move |s| plan_sweep(s, now, keep)).await {
            Ok(planned) => planned,
            Err(e) => {
                tracing::warn!(error = %e, "sweeping the dist store failed");
                return;
            }
        };
        let (dists, store) = (self.dists().clone(), self.store().clone());
        let swept = tokio::task::spawn_blocking(move || -> Result<usize, DistError> {
            let mut removed = 0;
            for (name, commit, verdict) in planned {
                match verdict {
                    Sweep::Remove => {
                        dists.remove(&name, &commit)?;
                        removed += 1;
                    }
                    Sweep::Retire(at) => store.apply_retired(&name, &commit, at)?,
                }
            }
            Ok(removed)
        })
        .await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                tracing::info!(archives = n, "removed dist archives whose retention ended")
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "sweeping the dist store failed"),
            Err(e) => tracing::warn!(error = %e, "the dist sweep task failed"),
        }
    }
}

/// What the sweep does to one published commit.
#[derive(Debug, PartialEq, Eq)]
enum Sweep {
    /// Record when it stopped being current (or `None`: current again).
    Retire(Option<Timestamp>),
    Remove,
}

/// Decides, for every published commit whose state must change, what
/// happens to it: tags of existing packages and current commits are kept,
/// anything else is retired and removed `keep` seconds later.
fn plan_sweep(
    store: &Store,
    now: Timestamp,
    keep: i64,
) -> Result<Vec<(PackageName, String, Sweep)>, StoreError> {
    let mut current: BTreeMap<PackageName, BTreeSet<String>> = BTreeMap::new();
    for package in store.load_packages()? {
        let commits = store
            .load_versions(&package.name)?
            .into_iter()
            .map(|v| v.commit)
            .collect();
        current.insert(package.name, commits);
    }
    let mut out = Vec::new();
    for (name, commit, record) in store.load_published()? {
        let kept = current
            .get(&name)
            .is_some_and(|commits| record.kind == VersionKind::Tag || commits.contains(&commit));
        if let Some(verdict) = sweep_verdict(&record, kept, now, keep) {
            out.push((name, commit, verdict));
        }
    }
    Ok(out)
}

fn sweep_verdict(record: &Published, kept: bool, now: Timestamp, keep: i64) -> Option<Sweep> {
    match (kept, record.retired_at) {
        (true, None) => None,
        (true, Some(_)) => Some(Sweep::Retire(None)),
        (false, None) => Some(Sweep::Retire(Some(now))),
        (false, Some(at)) if now.0 - at.0 >= keep => Some(Sweep::Remove),
        (false, Some(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: VersionKind, retired_at: Option<i64>) -> Published {
        Published {
            kind,
            first_at: Timestamp(0),
            retired_at: retired_at.map(Timestamp),
        }
    }

    #[test]
    fn sweep_keeps_current_and_removes_only_after_the_retention() {
        let day = 86_400;
        let now = Timestamp(100 * day);
        let keep = 30 * day;
        let branch = |at| record(VersionKind::Branch, at);
        assert_eq!(sweep_verdict(&branch(None), true, now, keep), None);
        assert_eq!(
            sweep_verdict(&branch(None), false, now, keep),
            Some(Sweep::Retire(Some(now)))
        );
        assert_eq!(
            sweep_verdict(&branch(Some(now.0 - 29 * day)), false, now, keep),
            None
        );
        assert_eq!(
            sweep_verdict(&branch(Some(now.0 - 30 * day)), false, now, keep),
            Some(Sweep::Remove)
        );
        assert_eq!(
            sweep_verdict(&branch(Some(now.0 - 40 * day)), true, now, keep),
            Some(Sweep::Retire(None)),
            "a branch head again"
        );
    }
}
