//! Webhook bookkeeping: each sync's hook secret and installed hooks, the
//! persistent queue of refreshes deliveries asked for, and the delivery ids
//! already seen.
//!
//! A delivery is acknowledged only after its targets are queued and flushed,
//! and a target leaves the queue only when a refresh that started after its
//! last delivery finished, so nothing acknowledged is lost to a crash.

use super::{Store, StoreError, decode, encode, key, prefix, read_u64, scan};
use crate::domain::{HookTarget, QueuedTarget, Secret, SyncId, Timestamp};
use sled::transaction::{ConflictableTransactionError, Transactional};

const HOOK_SEQ_KEY: &[u8] = b"hook_seq";

/// How many delivery ids are remembered for spotting redeliveries.
pub const REMEMBERED_DELIVERIES: u64 = 100_000;

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Its delivery id was seen before; nothing was queued.
    Duplicate,
    /// `added` new targets were queued and `merged` joined ones already waiting.
    Queued { added: usize, merged: usize },
    /// The queue holds `capacity` targets already; nothing was queued.
    Full,
}

impl Store {
    pub fn load_hook_secret(&self, sync: &SyncId) -> Result<Option<Secret>, StoreError> {
        let k = sync.as_str().as_bytes();
        let raw: Option<String> = self
            .trees
            .hook_secrets
            .get(k)?
            .map(|raw| self.unseal("hook_secrets", k, &raw))
            .transpose()?;
        Ok(raw.map(Secret::new))
    }

    /// Stores `secret` unless the sync already has one; returns the one kept.
    pub fn apply_hook_secret(&self, sync: &SyncId, secret: &Secret) -> Result<Secret, StoreError> {
        let k = sync.as_str().as_bytes();
        let raw = self.seal("hook_secrets", k, &secret.expose())?;
        let previous =
            self.trees
                .hook_secrets
                .compare_and_swap(k, None as Option<&[u8]>, Some(raw))?;
        self.flush()?;
        match previous {
            Ok(()) => Ok(secret.clone()),
            Err(existing) => {
                let kept: String =
                    self.unseal("hook_secrets", k, &existing.current.unwrap_or_default())?;
                Ok(Secret::new(kept))
            }
        }
    }

    /// Forgets a removed sync's hook secret and queued targets.
    pub fn apply_hooks_removed(&self, sync: &SyncId) -> Result<(), StoreError> {
        let k = sync.as_str().as_bytes();
        self.trees.hook_secrets.remove(k)?;
        for item in self.trees.hook_queue.scan_prefix(prefix(&[sync.as_str()])) {
            self.trees.hook_queue.remove(item?.0)?;
        }
        self.flush()
    }

    /// Queues the refreshes one delivery asks for, unless its id was seen
    /// before or the queue is full. A target already waiting is not queued
    /// twice: its sequence number moves on, so a refresh in flight for the
    /// earlier delivery does not take the new one with it. Durable on return.
    pub fn apply_delivery(
        &self,
        sync: &SyncId,
        delivery: Option<&str>,
        targets: &[HookTarget],
        now: Timestamp,
        capacity: usize,
    ) -> Result<Enqueued, StoreError> {
        let seen_key = delivery.map(|d| key(&[sync.as_str(), d]));
        let fresh: Vec<(Vec<u8>, &HookTarget)> = targets
            .iter()
            .map(|t| (key(&[sync.as_str(), &t.key()]), t))
            .collect();
        let new_targets = fresh
            .iter()
            .filter(|(k, _)| !matches!(self.trees.hook_queue.contains_key(k), Ok(true)))
            .count();
        if new_targets > 0 && self.trees.hook_queue.len() + new_targets > capacity {
            return Ok(Enqueued::Full);
        }
        let t = &self.trees;
        let result = (
            &t.meta,
            &t.hook_queue,
            &t.hook_deliveries,
            &t.hook_delivery_log,
        )
            .transaction(|(meta, queue, seen, log)| {
                if let Some(k) = &seen_key {
                    if seen.get(k)?.is_some() {
                        return Ok(Enqueued::Duplicate);
                    }
                }
                let mut seq = read_u64(meta.get(HOOK_SEQ_KEY)?) + 1;
                let (mut added, mut merged) = (0, 0);
                for (k, target) in &fresh {
                    let item = match queue.get(k.as_slice())? {
                        Some(raw) => {
                            merged += 1;
                            let mut item: QueuedTarget = decode("hook_queue", k, &raw)
                                .map_err(ConflictableTransactionError::Abort)?;
                            item.seq = seq;
                            item.not_before = now;
                            item
                        }
                        None => {
                            added += 1;
                            QueuedTarget {
                                sync: sync.clone(),
                                target: (*target).clone(),
                                seq,
                                first_received: now,
                                attempts: 0,
                                not_before: now,
                            }
                        }
                    };
                    let raw = encode("hook_queue", k, &item)
                        .map_err(ConflictableTransactionError::Abort)?;
                    queue.insert(k.as_slice(), raw)?;
                    seq += 1;
                }
                if let Some(k) = &seen_key {
                    seen.insert(k.as_slice(), &seq.to_be_bytes())?;
                    log.insert(&seq.to_be_bytes(), k.as_slice())?;
                }
                meta.insert(HOOK_SEQ_KEY, &seq.to_be_bytes())?;
                Ok(Enqueued::Queued { added, merged })
            });
        let outcome = result?;
        if let Enqueued::Queued { .. } = outcome {
            self.forget_old_deliveries()?;
            self.flush()?;
        }
        Ok(outcome)
    }

    /// Keeps the remembered delivery ids to the most recent ones.
    fn forget_old_deliveries(&self) -> Result<(), StoreError> {
        let newest = read_u64(self.trees.meta.get(HOOK_SEQ_KEY)?);
        let oldest_kept = newest.saturating_sub(REMEMBERED_DELIVERIES);
        let log = &self.trees.hook_delivery_log;
        while let Some((seq, delivery)) = log.first()? {
            if read_u64(Some(seq.clone())) >= oldest_kept {
                break;
            }
            self.trees.hook_deliveries.remove(&delivery)?;
            log.remove(seq)?;
        }
        Ok(())
    }

    /// Every queued target, oldest sync key first.
    pub fn load_queued(&self) -> Result<Vec<QueuedTarget>, StoreError> {
        scan(&self.trees.hook_queue, "hook_queue", &[])
    }

    /// Removes `item` from the queue, unless a later delivery asked for the
    /// same target since it was read (then it stays for another refresh).
    pub fn apply_queued_done(&self, item: &QueuedTarget) -> Result<(), StoreError> {
        self.update_queued(item, |_| None)
    }

    /// Puts `item` back with a backoff, unless a later delivery asked for it
    /// again (then it is due at once anyway).
    pub fn apply_queued_retry(
        &self,
        item: &QueuedTarget,
        not_before: Timestamp,
    ) -> Result<(), StoreError> {
        self.update_queued(item, |mut stored| {
            stored.attempts += 1;
            stored.not_before = not_before;
            Some(stored)
        })
    }

    fn update_queued(
        &self,
        item: &QueuedTarget,
        change: impl Fn(QueuedTarget) -> Option<QueuedTarget>,
    ) -> Result<(), StoreError> {
        let k = key(&[item.sync.as_str(), &item.target.key()]);
        let result = self.trees.hook_queue.transaction(|queue| {
            let Some(raw) = queue.get(&k)? else {
                return Ok(());
            };
            let stored: QueuedTarget =
                decode("hook_queue", &k, &raw).map_err(ConflictableTransactionError::Abort)?;
            if stored.seq != item.seq {
                return Ok(());
            }
            match change(stored) {
                None => queue.remove(k.as_slice()).map(drop)?,
                Some(next) => {
                    let raw = encode("hook_queue", &k, &next)
                        .map_err(ConflictableTransactionError::Abort)?;
                    queue.insert(k.as_slice(), raw).map(drop)?
                }
            }
            Ok(())
        });
        result?;
        self.flush()
    }
}
