//! One full synchronization run: snapshot, plan, apply, record.
//!
//! A run whose request budget runs out pauses instead of failing: it applies
//! nothing, records when the budget is back ([`RunSummary::paused`]), and
//! the next run (in any process) picks up where it stopped, since what it
//! read is in the store-backed provider cache (ETags answered 304 for free,
//! refs and manifests not fetched again).

use super::prefetch::Prefetched;
use super::{EngineError, EngineEvent, EngineHandle, Policy, reconcile};
use crate::domain::{
    Conflict, Headroom, Pause, Plan, PlanSummary, Problem, RemoteSnapshot, RunBudget, RunSummary,
    Sync, SyncId, Timestamp,
};
use crate::providers::budget::{Priority, with_priority};
use crate::providers::{CodeHost, Progress, ProgressFn, ProviderError, RequestStats};
use crate::store::{Store, StoreError};
use std::sync::Arc;

/// How often a plan is recomputed when another writer moved the store on
/// between planning and applying.
const APPLY_ATTEMPTS: usize = 3;

/// What a successful run produced.
#[derive(Default)]
struct Outcome {
    changes: PlanSummary,
    problems: Vec<Problem>,
    conflicts: Vec<Conflict>,
    prefetched: u64,
    prefetch_bytes: u64,
    partial: bool,
    /// The deletion guard held removals back; says how to confirm them.
    held: Option<String>,
}

impl EngineHandle {
    pub(super) async fn run_once(self, sync: Sync, policy: Policy) -> RunSummary {
        let started_at = Timestamp::now();
        self.emit(EngineEvent::SyncStarted {
            sync: sync.id.clone(),
        });
        let mut stats = RequestStats::default();
        let (result, budget) = match self.host(&sync).await {
            Ok(host) => {
                // A budget this process has not used yet starts from what the
                // last run saw, so a spent one is not spent again to find out.
                if let Some(last) = &sync.last_run {
                    host.budget().seed(last.headroom());
                }
                let result = with_priority(
                    Priority::Run,
                    self.snapshot_and_apply(&sync, host.clone(), &policy, &mut stats),
                )
                .await;
                (result, host.budget().headroom())
            }
            Err(e) => (Err(e), Vec::new()),
        };
        let paused = match &result {
            Err(EngineError::Provider(ProviderError::RateLimited {
                host,
                retry_after,
                budget: seen,
            })) => {
                // The bucket as the run left it, every request answered,
                // rather than as the request that found it spent saw it.
                let settled = seen
                    .as_deref()
                    .and_then(|seen| budget.iter().find(|b| b.bucket == seen.bucket))
                    .or(seen.as_deref());
                Some(pause(host, *retry_after, settled))
            }
            _ => None,
        };
        let (mut outcome, error) = match result {
            Ok(outcome) => (outcome, None),
            Err(_) if paused.is_some() => (Outcome::default(), None),
            Err(e) => (Outcome::default(), Some(e.to_string())),
        };
        // A run whose removals were held applied everything else, but it
        // waits for an admin, so it reports as not done.
        let guarded = outcome.held.is_some();
        let error = error.or(outcome.held.take());
        let summary = RunSummary {
            started_at,
            finished_at: Timestamp::now(),
            error,
            partial: outcome.partial,
            guarded,
            changes: outcome.changes,
            problems: outcome.problems,
            conflicts: outcome.conflicts,
            prefetched: outcome.prefetched,
            prefetch_bytes: outcome.prefetch_bytes,
            requests: stats.requests,
            not_modified: stats.not_modified,
            budget: Some(Box::new(RunBudget {
                paused,
                headroom: budget,
            })),
        };
        let id = sync.id.clone();
        let saved = summary.clone();
        // A paused run applied nothing, so nothing flushed what it read
        // into the provider cache: flush it now, for the run that resumes.
        let flush = summary.paused().is_some();
        if let Err(e) = self
            .blocking(move |s| {
                s.apply_run_summary(&id, &saved)?;
                if flush { s.flush() } else { Ok(()) }
            })
            .await
        {
            tracing::error!(sync = %sync.id, error = %e, "could not record the run summary");
        }
        for conflict in &summary.conflicts {
            tracing::warn!(sync = %sync.id, package = %conflict.name, "{}", conflict.describe());
        }
        match &summary.error {
            None if summary.paused().is_some() => {
                tracing::info!(sync = %sync.id, requests = summary.requests, paused = ?summary.paused(), "sync paused: request budget spent");
                self.emit(EngineEvent::SyncFinished {
                    sync: sync.id.clone(),
                    summary: summary.clone(),
                });
            }
            Some(error) if !summary.guarded => {
                tracing::warn!(sync = %sync.id, %error, "sync failed");
                self.emit(EngineEvent::SyncFailed {
                    sync: sync.id.clone(),
                    error: error.clone(),
                });
            }
            // A guarded run's summary says what was applied and what waits.
            _ => {
                tracing::info!(sync = %sync.id, changes = ?summary.changes, problems = summary.problems.len(), requests = summary.requests, "sync finished");
                self.emit(EngineEvent::SyncFinished {
                    sync: sync.id.clone(),
                    summary: summary.clone(),
                });
            }
        }
        summary
    }

    async fn snapshot_and_apply(
        &self,
        sync: &Sync,
        host: Arc<dyn CodeHost>,
        policy: &Policy,
        stats: &mut RequestStats,
    ) -> Result<Outcome, EngineError> {
        let before = host.stats();
        let progress: ProgressFn = {
            let engine = self.clone();
            let id = sync.id.clone();
            Arc::new(move |p: Progress| {
                engine.emit(EngineEvent::PhaseChanged {
                    sync: id.clone(),
                    phase: p.phase.to_owned(),
                    done: p.done,
                    total: p.total,
                });
            })
        };
        let snapshot = host.snapshot(progress).await;
        let after = host.stats();
        stats.requests = after.requests - before.requests;
        stats.not_modified = after.not_modified - before.not_modified;
        let snapshot = Arc::new(snapshot?);
        self.remember_org(&sync.id, &snapshot.org);
        let applied = plan_and_apply_retrying(self, &sync.id, snapshot.clone(), policy).await?;
        if let Some(revision) = applied.revision {
            self.emit(EngineEvent::PlanApplied {
                sync: sync.id.clone(),
                revision,
            });
        }
        let repos = snapshot
            .repos
            .items
            .iter()
            .map(|r| r.full_name.clone())
            .collect();
        self.install_hooks(sync, host.as_ref(), repos).await;
        let mut problems = applied.plan.problems;
        let prefetched = if policy.skip_prefetch {
            Prefetched::default()
        } else {
            self.prefetch(&sync.id).await?
        };
        problems.extend(prefetched.problems);
        self.sweep_dists().await;
        Ok(Outcome {
            changes: applied.plan.summary,
            prefetched: prefetched.fetched,
            prefetch_bytes: prefetched.bytes,
            problems,
            conflicts: applied.plan.conflicts,
            partial: !snapshot.is_complete(),
            held: applied.plan.guard,
        })
    }
}

/// The pause of a run whose budget at `host` is spent for `retry_after`.
fn pause(host: &str, retry_after: std::time::Duration, seen: Option<&Headroom>) -> Pause {
    let now = Timestamp::now();
    let wait = i64::try_from(retry_after.as_secs()).unwrap_or(i64::MAX);
    let resumes_at = Timestamp(now.0.saturating_add(wait));
    let budget = seen.cloned().unwrap_or_else(|| Headroom {
        host: host.to_owned(),
        bucket: "api".to_owned(),
        limit: 0,
        remaining: 0,
        resets_at: Some(resumes_at),
        estimated: false,
    });
    Pause {
        resumes_at: budget.resets_at.unwrap_or(resumes_at).max(resumes_at),
        budget,
    }
}

/// A plan committed to the store (`revision` is `None` when it was empty).
/// Its `guard` says which removals it held back.
pub(super) struct Applied {
    pub plan: Plan,
    pub revision: Option<u64>,
}

/// Plans `snapshot` against the current store and applies it, planning
/// again when another writer moved the store on in between.
pub(super) async fn plan_and_apply_retrying(
    engine: &EngineHandle,
    id: &SyncId,
    snapshot: Arc<RemoteSnapshot>,
    policy: &Policy,
) -> Result<Applied, EngineError> {
    for _ in 0..APPLY_ATTEMPTS {
        let (sync, snap, policy) = (id.clone(), snapshot.clone(), policy.clone());
        let attempt = engine
            .blocking(move |s| plan_and_apply(s, &sync, &snap, &policy))
            .await?;
        match attempt {
            Attempt::Stale => continue,
            Attempt::Removed => return Err(EngineError::NoSuchSync(id.to_string())),
            Attempt::Done { plan, revision } => {
                return Ok(Applied {
                    plan: *plan,
                    revision,
                });
            }
        }
    }
    Err(EngineError::Internal(format!(
        "the store kept changing while planning; gave up after {APPLY_ATTEMPTS} attempts, run the sync again"
    )))
}

enum Attempt {
    /// The sync was removed while the run was in flight; nothing is written.
    Removed,
    /// Another writer moved the store on; plan again.
    Stale,
    /// The plan was applied (`revision` is `None` when it was empty).
    /// Boxed: a plan is far larger than the other variants.
    Done {
        plan: Box<Plan>,
        revision: Option<u64>,
    },
}

/// Plans against the current state and applies the plan, on the blocking pool.
fn plan_and_apply(
    store: &Store,
    id: &SyncId,
    snapshot: &RemoteSnapshot,
    policy: &Policy,
) -> Result<Attempt, StoreError> {
    let revision = store.revision()?;
    if store.load_sync(id)?.is_none() {
        return Ok(Attempt::Removed);
    }
    let current = store.load_current(id, &reconcile::claimed_names(snapshot))?;
    let plan = reconcile::plan(id, snapshot, &current, policy);
    if plan.is_empty() {
        return Ok(Attempt::Done {
            plan: Box::new(plan),
            revision: None,
        });
    }
    match store.apply(&plan, revision, Timestamp::now()) {
        Err(StoreError::Conflict { .. }) => Ok(Attempt::Stale),
        Err(e) => Err(e),
        Ok(next) => {
            store.flush()?;
            Ok(Attempt::Done {
                plan: Box::new(plan),
                revision: Some(next),
            })
        }
    }
}
