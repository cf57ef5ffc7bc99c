//! Webhooks on the engine's side: installing each sync's hooks after a run,
//! accepting deliveries into the persistent queue, and the worker that turns
//! queued targets into targeted refreshes.
//!
//! A delivery is verified, mapped to targets and queued (durably) before it
//! is acknowledged; the refresh runs later. The worker takes every due
//! target of a sync at once, so a burst of pushes to one repository costs
//! one refresh, and a burst across repositories one plan. What a target
//! refreshes is read from the host again: payloads choose scope, never data.

use super::{EngineError, EngineEvent, EngineHandle, Policy, run};
use crate::domain::{
    HookState, HookTarget, InstalledHooks, Listing, ProviderKind, QueuedTarget, RemoteRepo,
    RemoteSnapshot, RemoteTeam, Secret, Sync, SyncId, Timestamp,
};
use crate::providers::hooks::{self, HookError};
use crate::providers::{CodeHost, HookSpec, ProviderError};
use crate::store::Enqueued;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Targets of one sync fetched at once. Above the client's own request
/// limit (`[sync] concurrency`), which is what actually bounds the load on
/// the host: a target is several dependent requests, so fewer targets in
/// flight would leave request slots idle while a burst waits.
const FETCH_CONCURRENCY: usize = 64;
/// A failing target is retried this often before the periodic resync is
/// left to catch what it would have brought.
const MAX_ATTEMPTS: u32 = 6;
/// Per-repository hooks are checked again at most this often; new
/// repositories get theirs on the first run that sees them.
const RECHECK_SECS: i64 = 24 * 3600;

/// Webhook settings, from the configuration.
#[derive(Debug, Clone)]
pub struct HookSettings {
    /// packyard's public URL; hooks are installed only when it is set, since
    /// a code host cannot deliver to a loopback default.
    pub public_url: Option<String>,
    /// Most targets waiting in the queue; deliveries beyond get 503.
    pub queue_capacity: usize,
}

impl Default for HookSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            queue_capacity: 10_000,
        }
    }
}

/// Why a delivery was not accepted. Each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("no synchronization {0:?} receives webhooks here")]
    UnknownSync(String),
    #[error("synchronization {0:?} has no webhook secret yet; run it with a public URL configured")]
    NoSecret(String),
    #[error(transparent)]
    Refused(#[from] HookError),
    #[error("the webhook queue is full ({0} targets waiting); the host should retry later")]
    QueueFull(usize),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// What became of an accepted delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The delivery id was seen before.
    Duplicate,
    /// An event packyard does not act on.
    Ignored {
        event: String,
    },
    Queued {
        event: String,
        targets: usize,
    },
}

/// A delivery to a known sync with a webhook secret, whose signature is
/// being checked as its body arrives ([`EngineHandle::begin_delivery`]).
pub struct PendingDelivery {
    id: SyncId,
    provider: ProviderKind,
    verifier: hooks::Verifier,
}

impl PendingDelivery {
    /// Feeds the next piece of the body to the signature check.
    pub fn update(&mut self, chunk: &[u8]) {
        self.verifier.update(chunk);
    }
}

impl DeliveryError {
    /// The delivery did not prove it comes from a hook of ours: an unknown
    /// sync, one without a secret, or a missing or wrong signature. These
    /// all look the same from outside, so a caller learns nothing about
    /// which syncs exist.
    pub fn is_unauthorized(&self) -> bool {
        match self {
            Self::UnknownSync(_) | Self::NoSecret(_) => true,
            Self::Refused(e) => e.is_signature(),
            Self::QueueFull(_) | Self::Engine(_) => false,
        }
    }
}

impl EngineHandle {
    /// Checks a delivery for sync `sync` and queues what it asks for. The
    /// queue is durable when this returns, so the caller may acknowledge.
    pub async fn accept_delivery(
        &self,
        sync: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Accepted, DeliveryError> {
        let mut pending = self.begin_delivery(sync, headers).await?;
        pending.update(body);
        self.finish_delivery(pending, headers, body).await
    }

    /// Starts checking a delivery from its headers alone: an unknown sync,
    /// a missing secret or signature header, and a wrong GitLab token are
    /// refused before any of the body is read.
    pub async fn begin_delivery(
        &self,
        sync: &str,
        headers: &HeaderMap,
    ) -> Result<PendingDelivery, DeliveryError> {
        let unknown = || DeliveryError::UnknownSync(sync.to_owned());
        let id = SyncId::new(sync).map_err(|_| unknown())?;
        let record = match self.load_sync(&id).await {
            Ok(record) => record,
            Err(EngineError::NoSuchSync(_)) => return Err(unknown()),
            Err(e) => return Err(e.into()),
        };
        let secret = self
            .blocking({
                let id = id.clone();
                move |s| s.load_hook_secret(&id)
            })
            .await?
            .ok_or_else(|| DeliveryError::NoSecret(sync.to_owned()))?;
        Ok(PendingDelivery {
            id,
            provider: record.provider,
            verifier: hooks::Verifier::new(record.provider, headers, &secret)?,
        })
    }

    /// Finishes the signature check of a delivery whose whole `body` went
    /// through [`PendingDelivery::update`], then queues what it asks for.
    pub async fn finish_delivery(
        &self,
        pending: PendingDelivery,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Accepted, DeliveryError> {
        let PendingDelivery {
            id,
            provider,
            verifier,
        } = pending;
        verifier.finish()?;
        let delivery = hooks::delivery_headers_of(provider, headers)?;
        let targets = hooks::targets(provider, &delivery.event, body)?;
        if targets.is_empty() {
            return Ok(Accepted::Ignored {
                event: delivery.event,
            });
        }
        let capacity = self.inner.settings.hooks.queue_capacity;
        let outcome = self
            .blocking({
                let (targets, delivery_id) = (targets.clone(), delivery.delivery.clone());
                move |s| {
                    s.apply_delivery(
                        &id,
                        delivery_id.as_deref(),
                        &targets,
                        Timestamp::now(),
                        capacity,
                    )
                }
            })
            .await?;
        match outcome {
            Enqueued::Duplicate => Ok(Accepted::Duplicate),
            Enqueued::Full => Err(DeliveryError::QueueFull(capacity)),
            Enqueued::Queued { .. } => {
                self.inner.hook_queue.notify_one();
                Ok(Accepted::Queued {
                    event: delivery.event,
                    targets: targets.len(),
                })
            }
        }
    }

    /// Works through the webhook queue until `cancel` fires: what was queued
    /// before a restart first, then whatever deliveries bring. Syncs are
    /// refreshed in parallel, each one batch at a time.
    pub async fn process_webhooks(&self, cancel: CancellationToken) {
        // Syncs with a refresh in flight, by its task: a task that panics
        // still frees its sync.
        let mut busy: HashMap<tokio::task::Id, SyncId> = HashMap::new();
        let mut running: JoinSet<()> = JoinSet::new();
        loop {
            let queued = match self.blocking(|s| s.load_queued()).await {
                Ok(queued) => queued,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the webhook queue");
                    Vec::new()
                }
            };
            let now = Timestamp::now();
            let mut due: BTreeMap<SyncId, Vec<QueuedTarget>> = BTreeMap::new();
            let mut next_due: Option<Timestamp> = None;
            for item in queued {
                if busy.values().any(|s| s == &item.sync) {
                    continue;
                }
                if item.not_before <= now {
                    due.entry(item.sync.clone()).or_default().push(item);
                } else {
                    next_due = Some(next_due.map_or(item.not_before, |t| t.min(item.not_before)));
                }
            }
            for (sync, batch) in due {
                let engine = self.clone();
                let task = running.spawn({
                    let sync = sync.clone();
                    async move { engine.refresh(&sync, batch).await }
                });
                busy.insert(task.id(), sync);
            }
            let wait = next_due.map_or(Duration::from_secs(60), |t| {
                Duration::from_secs(u64::try_from(t.0 - now.0).unwrap_or(0).max(1))
            });
            tokio::select! {
                _ = cancel.cancelled() => {
                    // A refresh in flight is abandoned between requests; its
                    // targets stay queued and run again after the restart.
                    running.abort_all();
                    return;
                }
                _ = self.inner.hook_queue.notified() => {}
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    let task = match done {
                        Ok((task, ())) => task,
                        Err(e) => {
                            tracing::error!(error = %e, "a webhook refresh failed; its targets stay queued");
                            // Not at once: the same targets would fail the same way.
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            e.id()
                        }
                    };
                    busy.remove(&task);
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Refreshes what `batch` asks for, then takes it off the queue (or puts
    /// failed targets back with a backoff).
    async fn refresh(&self, id: &SyncId, batch: Vec<QueuedTarget>) {
        let sync = match self.load_sync(id).await {
            Ok(sync) => sync,
            // Removed, maybe while this delivery was being queued: what is
            // left of its queue has nothing to refresh.
            Err(EngineError::NoSuchSync(_)) => {
                let dropped = self
                    .blocking(move |s| batch.iter().try_for_each(|i| s.apply_queued_done(i)))
                    .await;
                if let Err(e) = dropped {
                    tracing::error!(sync = %id, error = %e, "cannot update the webhook queue");
                }
                return;
            }
            Err(e) => {
                tracing::error!(sync = %id, error = %e, "cannot read the sync for its webhook queue");
                // Its targets stay queued; pause rather than spin on them.
                tokio::time::sleep(Duration::from_secs(1)).await;
                return;
            }
        };
        let result = self.refresh_targets(&sync, &batch).await;
        let failed: HashSet<HookTarget> = match result {
            Ok(failed) => failed,
            Err(e) => {
                tracing::warn!(sync = %id, error = %e, "webhook refresh failed; retrying later");
                batch.iter().map(|i| i.target.clone()).collect()
            }
        };
        let done = self
            .blocking(move |s| {
                for item in &batch {
                    if !failed.contains(&item.target) {
                        s.apply_queued_done(item)?;
                    } else if item.attempts + 1 >= MAX_ATTEMPTS {
                        tracing::warn!(sync = %item.sync, target = ?item.target, "webhook refresh kept failing; the periodic resync will catch up");
                        s.apply_queued_done(item)?;
                    } else {
                        let backoff = 2i64.pow(item.attempts.min(6) + 1);
                        s.apply_queued_retry(item, Timestamp(Timestamp::now().0 + backoff))?;
                    }
                }
                Ok(())
            })
            .await;
        if let Err(e) = done {
            tracing::error!(sync = %id, error = %e, "cannot update the webhook queue");
        }
    }

    /// A full run, for events a targeted refresh cannot capture.
    async fn refresh_full(&self, sync: &Sync) -> Result<HashSet<HookTarget>, EngineError> {
        let summary = self.run_sync(&sync.id, Policy::default()).await?;
        match summary.error {
            // A run the deletion guard held back waits for an admin;
            // retrying would not change its mind.
            Some(error) if !summary.guarded => Err(EngineError::Internal(error)),
            _ => Ok(HashSet::new()),
        }
    }

    /// Reads the batch's repositories and teams from the host and applies
    /// them as one scoped snapshot, or runs in full when the batch asks for
    /// more than a scoped snapshot can hold. Returns the targets that failed.
    async fn refresh_targets(
        &self,
        sync: &Sync,
        batch: &[QueuedTarget],
    ) -> Result<HashSet<HookTarget>, EngineError> {
        if batch.iter().any(|i| i.target == HookTarget::Full) {
            return self.refresh_full(sync).await;
        }
        let host = self.host(sync).await?;
        let org = self.org_of(sync, host.as_ref()).await?;
        // A membership change of the organization itself (GitLab's top
        // group) may change its owners/admins, which only a full run reads.
        if batch
            .iter()
            .any(|i| i.target == HookTarget::Team(org.id.0.clone()))
        {
            return self.refresh_full(sync).await;
        }
        let targets: Vec<HookTarget> = batch.iter().map(|i| i.target.clone()).collect();
        let fetched: Vec<(HookTarget, Result<Fetched, ProviderError>)> =
            futures::stream::iter(targets)
                .map(|target| {
                    let host = host.clone();
                    async move {
                        let result = match &target {
                            HookTarget::Repo(name) => {
                                host.fetch_repo(name).await.map(Fetched::Repo)
                            }
                            HookTarget::Team(name) => {
                                host.fetch_team(name).await.map(Fetched::Teams)
                            }
                            HookTarget::Full => {
                                unreachable!("a batch with a full target runs in full")
                            }
                        };
                        (target, result)
                    }
                })
                .buffer_unordered(FETCH_CONCURRENCY)
                .collect()
                .await;
        let mut failed = HashSet::new();
        let (mut repos, mut teams) = (Vec::new(), Vec::new());
        let mut gone = false;
        for (target, result) in fetched {
            match result {
                Ok(Fetched::Repo(Some(repo))) => repos.push(repo),
                Ok(Fetched::Teams(Some(found))) => teams.extend(found),
                // Removal needs complete listings, which only a full run has.
                Ok(Fetched::Repo(None) | Fetched::Teams(None)) => gone = true,
                Err(e) => {
                    tracing::warn!(sync = %sync.id, target = ?target, error = %e, "webhook target could not be read");
                    failed.insert(target);
                }
            }
        }
        let scope: Vec<String> = repos
            .iter()
            .map(|r| r.full_name.clone())
            .chain(teams.iter().map(|t| format!("team {}", t.slug)))
            .collect();
        let snapshot = RemoteSnapshot {
            org,
            admins: Listing::partial(Vec::new()),
            teams: Listing::partial(teams),
            repos: Listing::partial(repos),
        };
        let outcome =
            run::plan_and_apply_retrying(self, &sync.id, Arc::new(snapshot), &Policy::default())
                .await;
        let applied = outcome?;
        if let Some(revision) = applied.revision {
            self.emit(EngineEvent::PlanApplied {
                sync: sync.id.clone(),
                revision,
            });
            self.prefetch_in_background(&sync.id);
        }
        if let Some(message) = &applied.plan.guard {
            // Revocations and additions went through; only removals wait.
            tracing::warn!(sync = %sync.id, %message, "a webhook refresh held removals for an admin");
        }
        for conflict in &applied.plan.conflicts {
            tracing::warn!(sync = %sync.id, package = %conflict.name, "{}", conflict.describe());
        }
        let (summary, conflicts) = (applied.plan.summary, applied.plan.conflicts);
        if !scope.is_empty() {
            self.emit(EngineEvent::HookRefreshed {
                sync: sync.id.clone(),
                scope,
                changes: summary,
                conflicts,
            });
        }
        if gone {
            self.refresh_full(sync).await?;
        }
        Ok(failed)
    }

    /// The organization as the last full run saw it (targeted snapshots
    /// need it for naming only), asking the host when no run happened since
    /// start.
    async fn org_of(
        &self,
        sync: &Sync,
        host: &dyn CodeHost,
    ) -> Result<crate::domain::RemoteOrg, EngineError> {
        if let Some(org) = self
            .inner
            .orgs
            .lock()
            .map_err(super::poisoned)?
            .get(&sync.id)
        {
            return Ok(org.clone());
        }
        let org = host.verify().await?;
        self.remember_org(&sync.id, &org);
        Ok(org)
    }

    pub(super) fn remember_org(&self, id: &SyncId, org: &crate::domain::RemoteOrg) {
        if let Ok(mut orgs) = self.inner.orgs.lock() {
            orgs.insert(id.clone(), org.clone());
        }
    }

    /// Makes sure `sync`'s hooks exist after a run that saw `repos`, and
    /// records the outcome on the sync. Does nothing without a public URL.
    pub(super) async fn install_hooks(&self, sync: &Sync, host: &dyn CodeHost, repos: Vec<String>) {
        let Some(base) = self.inner.settings.hooks.public_url.clone() else {
            return;
        };
        let url = format!("{base}/webhooks/{}", sync.id);
        let state = match self.hook_secret(&sync.id).await {
            Ok(secret) => {
                let spec = HookSpec {
                    url: url.clone(),
                    secret,
                };
                self.ensure_hooks(sync, host, &spec, repos).await
            }
            Err(e) => HookState {
                url,
                installed: InstalledHooks::default(),
                checked_at: Timestamp::now(),
                error: Some(e.to_string()),
            },
        };
        if let Some(error) = &state.error {
            tracing::warn!(sync = %sync.id, %error, "webhooks could not be installed");
        }
        let id = sync.id.clone();
        if let Err(e) = self
            .blocking(move |s| s.apply_hook_state(&id, &state))
            .await
        {
            tracing::error!(sync = %sync.id, error = %e, "cannot record the webhook state");
        }
    }

    async fn ensure_hooks(
        &self,
        sync: &Sync,
        host: &dyn CodeHost,
        spec: &HookSpec,
        repos: Vec<String>,
    ) -> HookState {
        let now = Timestamp::now();
        let previous = sync.hooks.clone().filter(|h| h.error.is_none());
        // Hooks pointing at an old public URL would keep delivering there.
        if let Some(old) = previous.as_ref().filter(|h| h.url != spec.url) {
            if let Err(e) = host.remove_hooks(&old.installed).await {
                tracing::warn!(sync = %sync.id, error = %e, "hooks at the old public URL could not be removed");
            }
        }
        let known = previous.filter(|h| h.url == spec.url && now.0 - h.checked_at.0 < RECHECK_SECS);
        let (wanted, checked_at) = match &known {
            Some(h) => (
                repos
                    .into_iter()
                    .filter(|r| !h.installed.repos.contains_key(r))
                    .collect::<Vec<_>>(),
                h.checked_at,
            ),
            None => (repos, now),
        };
        match host.ensure_hooks(spec, &wanted).await {
            Ok(mut installed) => {
                match (&installed.org, known) {
                    (None, Some(h)) => {
                        let mut repos = h.installed.repos;
                        repos.extend(installed.repos);
                        installed.repos = repos;
                    }
                    // The org hook now covers everything: per-repository
                    // hooks from an earlier fallback would deliver twice.
                    (Some(_), Some(h)) if !h.installed.repos.is_empty() => {
                        let stale = InstalledHooks {
                            repos: h.installed.repos,
                            ..InstalledHooks::default()
                        };
                        if let Err(e) = host.remove_hooks(&stale).await {
                            tracing::warn!(sync = %sync.id, error = %e, "per-repository hooks replaced by the org hook could not be removed");
                        }
                    }
                    _ => {}
                }
                HookState {
                    url: spec.url.clone(),
                    installed,
                    checked_at,
                    error: None,
                }
            }
            Err(e) => HookState {
                url: spec.url.clone(),
                installed: known.map(|h| h.installed).unwrap_or_default(),
                checked_at: now,
                error: Some(e.to_string()),
            },
        }
    }

    /// The sync's webhook secret, made on first use.
    async fn hook_secret(&self, id: &SyncId) -> Result<Secret, EngineError> {
        let id = id.clone();
        if let Some(secret) = self
            .blocking({
                let id = id.clone();
                move |s| s.load_hook_secret(&id)
            })
            .await?
        {
            return Ok(secret);
        }
        let fresh = super::random_secret()?;
        self.blocking(move |s| s.apply_hook_secret(&id, &fresh))
            .await
    }

    /// Deletes a removed sync's hooks at the host (best effort: the sync is
    /// going either way) and its queue.
    pub(super) async fn remove_hooks(&self, sync: &Sync) {
        if let Some(state) = &sync.hooks {
            let removed = match self.host(sync).await {
                Ok(host) => host
                    .remove_hooks(&state.installed)
                    .await
                    .map_err(EngineError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = removed {
                tracing::warn!(sync = %sync.id, error = %e, "the sync's webhooks could not be removed at the host; delete them there");
            }
        }
        let id = sync.id.clone();
        if let Err(e) = self.blocking(move |s| s.apply_hooks_removed(&id)).await {
            tracing::error!(sync = %sync.id, error = %e, "cannot drop the sync's webhook queue");
        }
    }
}

enum Fetched {
    Repo(Option<RemoteRepo>),
    Teams(Option<Vec<RemoteTeam>>),
}
