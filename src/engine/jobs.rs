//! One run in flight per sync, with merged triggers.
//!
//! A trigger that arrives while a run is in flight waits for it to finish and
//! then either shares the result of a run that *started after* the trigger
//! (that run already saw everything the trigger could ask for) or starts a
//! new one. N triggers during a run therefore cost one more run, not N.

use super::Policy;
use crate::domain::{RunSummary, SyncId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub(super) struct Jobs {
    slots: Mutex<HashMap<SyncId, Arc<Slot>>>,
}

#[derive(Default)]
struct Slot {
    /// Number of runs started so far; only changed while `last` is locked.
    started: AtomicU64,
    /// The latest finished run: its start number, policy and summary.
    last: tokio::sync::Mutex<Option<(u64, Policy, RunSummary)>>,
}

impl Jobs {
    pub(super) async fn run<F, Fut>(&self, sync: &SyncId, policy: Policy, start: F) -> RunSummary
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = RunSummary>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry(sync.clone()).or_default().clone()
        };
        let requested_after = slot.started.load(Ordering::SeqCst);
        let mut last = slot.last.lock().await;
        if let Some((number, ran_with, summary)) = last.as_ref() {
            if *number > requested_after && *ran_with == policy {
                return summary.clone();
            }
        }
        let number = slot.started.fetch_add(1, Ordering::SeqCst) + 1;
        let summary = start().await;
        *last = Some((number, policy, summary.clone()));
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PlanSummary, Timestamp};
    use std::sync::atomic::AtomicUsize;

    fn summary(n: i64) -> RunSummary {
        RunSummary {
            started_at: Timestamp(n),
            finished_at: Timestamp(n),
            error: None,
            partial: false,
            guarded: false,
            changes: PlanSummary::default(),
            problems: vec![],
            conflicts: vec![],
            prefetched: 0,
            prefetch_bytes: 0,
            requests: 0,
            not_modified: 0,
            budget: None,
        }
    }

    #[tokio::test]
    async fn triggers_during_a_run_are_merged_into_one_more_run() {
        let jobs = Arc::new(Jobs::default());
        let sync = SyncId::new("acme").unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, gate) = tokio::sync::watch::channel(false);
        let first = {
            let (jobs, sync, runs, mut gate) =
                (jobs.clone(), sync.clone(), runs.clone(), gate.clone());
            tokio::spawn(async move {
                jobs.run(&sync, Policy::default(), || async move {
                    let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
                    let _ = gate.wait_for(|open| *open).await;
                    summary(n as i64)
                })
                .await
            })
        };
        while runs.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let (jobs, sync, runs) = (jobs.clone(), sync.clone(), runs.clone());
                tokio::spawn(async move {
                    jobs.run(&sync, Policy::default(), || async move {
                        summary((runs.fetch_add(1, Ordering::SeqCst) + 1) as i64)
                    })
                    .await
                })
            })
            .collect();
        tokio::task::yield_now().await;
        release.send(true).unwrap();
        assert_eq!(first.await.unwrap().started_at, Timestamp(1));
        for w in waiters {
            assert_eq!(
                w.await.unwrap().started_at,
                Timestamp(2),
                "every waiter shares the second run"
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
