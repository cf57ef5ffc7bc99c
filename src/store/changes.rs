//! The change feed: after each commit that changes what Composer may be
//! served, the store notes what it touched and moves a sequence number on.
//! The published catalog rebuilds from it, only what was touched, and a
//! request waits for a catalog at least as new as the sequence it saw, so no
//! answer is built from state older than a commit that already returned.
//!
//! In memory only: a restarted process builds its catalog from scratch.

use super::Store;
use crate::domain::PackageName;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// What commits touched since the feed was last taken.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changed {
    /// Packages whose record, versions or cached dists changed (or that went).
    pub packages: BTreeSet<PackageName>,
    /// Syncs, teams, identities or users: who may see what.
    pub people: bool,
    /// Tokens created or revoked.
    pub tokens: bool,
}

impl Changed {
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty() && !self.people && !self.tokens
    }

    fn merge(&mut self, other: Changed) {
        self.packages.extend(other.packages);
        self.people |= other.people;
        self.tokens |= other.tokens;
    }
}

/// Shared by every clone of a [`Store`]. Cheap to clone.
#[derive(Clone)]
pub struct ChangeFeed {
    inner: Arc<Feed>,
}

struct Feed {
    /// The sequence of the last noted commit, readable without a lock.
    seq: AtomicU64,
    pending: Mutex<Changed>,
    notify: watch::Sender<u64>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self {
            inner: Arc::new(Feed {
                seq: AtomicU64::new(0),
                pending: Mutex::default(),
                notify: watch::Sender::new(0),
            }),
        }
    }
}

impl ChangeFeed {
    /// The sequence number of the last commit noted; 0 before any.
    pub fn seq(&self) -> u64 {
        self.inner.seq.load(Ordering::SeqCst)
    }

    /// Wakes on every new sequence number.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.notify.subscribe()
    }

    /// Everything noted since the last call, and the sequence number it
    /// reaches: state read from the store after this call includes at least
    /// those commits.
    pub fn take(&self) -> (u64, Changed) {
        let mut pending = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (self.seq(), std::mem::take(&mut *pending))
    }

    /// Called after a commit returned, before the writer's call does.
    fn note(&self, changed: Changed) {
        if changed.is_empty() {
            return;
        }
        let seq = {
            let mut pending = self
                .inner
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pending.merge(changed);
            // Inside the lock, so that `take` never pairs a sequence number
            // with a change set that lacks it.
            self.inner.seq.fetch_add(1, Ordering::SeqCst) + 1
        };
        self.inner.notify.send_replace(seq);
    }
}

impl Store {
    /// The feed of committed changes, for the published catalog.
    pub fn changes(&self) -> ChangeFeed {
        self.changes.clone()
    }

    pub(super) fn note_changed(&self, changed: Changed) {
        self.changes.note(changed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str) -> Changed {
        Changed {
            packages: BTreeSet::from([PackageName::new(name).unwrap()]),
            ..Changed::default()
        }
    }

    #[test]
    fn take_returns_every_change_noted_since_the_last_take() {
        let feed = ChangeFeed::default();
        assert_eq!(feed.take(), (0, Changed::default()));
        feed.note(package("acme/a"));
        feed.note(Changed {
            tokens: true,
            ..package("acme/b")
        });
        let (seq, changed) = feed.take();
        assert_eq!(seq, 2);
        assert_eq!(changed.packages.len(), 2);
        assert!(changed.tokens && !changed.people);
        assert_eq!(feed.take(), (2, Changed::default()));
    }

    #[test]
    fn sequence_stays_when_nothing_was_touched() {
        let feed = ChangeFeed::default();
        let mut woken = feed.subscribe();
        feed.note(Changed::default());
        assert_eq!(feed.seq(), 0);
        assert!(!woken.has_changed().unwrap());
        feed.note(package("acme/a"));
        assert!(woken.has_changed().unwrap());
        assert_eq!(*woken.borrow_and_update(), 1);
    }
}
