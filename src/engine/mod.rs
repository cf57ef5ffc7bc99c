//! The engine: runs synchronizations and owns the providers' clients.
//!
//! [`EngineHandle`] is cheap to clone and is what every front end (CLI,
//! server, TUI through the admin API) talks to. Runs report progress as
//! [`EngineEvent`]s on a broadcast channel, so any number of clients can
//! watch. A run is: snapshot the host (network), plan with the pure
//! [`reconcile::plan`], apply the plan in one store transaction, record the
//! run's summary, and only then announce it.

mod cache;
mod events;
mod jobs;
pub mod operations;
mod packages;
mod prefetch;
pub mod reconcile;
mod requests;
mod run;
mod webhooks;

pub use events::EngineEvent;
pub use operations::{OperationError, OwnerChange, SyncRemoval};
pub use packages::{PackageChange, PackageChangePreview};
pub use reconcile::Policy;
pub use requests::{PackageSelection, UserSummary};
pub use webhooks::{Accepted, DeliveryError, HookSettings, PendingDelivery};

use crate::composer::DistCache;
use crate::domain::{
    AuditEntry, Credential, MAX_RESYNC_MINUTES, Package, PackageName, Prefetch, ProviderKind,
    RemoteOrg, RunSummary, Secret, Sync, SyncId, Team, Timestamp, Token, TokenScope, Version,
};
use crate::providers::{self, ClientSettings, CodeHost, ProviderError};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("no synchronization named {0:?}. `packyard sync list` shows the configured ones")]
    NoSuchSync(String),
    #[error("synchronization {0:?} has no stored credentials; remove it and add it again")]
    NoCredential(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error(transparent)]
    Operation(#[from] OperationError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Engine tuning, from the configuration file.
#[derive(Debug, Clone, Default)]
pub struct EngineSettings {
    pub client: ClientSettings,
    pub hooks: HookSettings,
    pub dists: DistSettings,
}

/// What the dist store keeps and fetches ahead (`[dists]`).
#[derive(Debug, Clone)]
pub struct DistSettings {
    pub prefetch: Prefetch,
    /// Days a branch head's archive is kept after the commit stopped being
    /// any branch head, and a removed package's archives after its removal.
    pub keep_branch_days: u32,
}

impl Default for DistSettings {
    fn default() -> Self {
        Self {
            prefetch: Prefetch::default(),
            keep_branch_days: 30,
        }
    }
}

/// What an admin gives to add a synchronization.
#[derive(Debug, Clone)]
pub struct NewSync {
    pub id: SyncId,
    pub provider: ProviderKind,
    pub api_url: String,
    pub org: String,
    pub credential: Credential,
}

/// A package with the facts the package list shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageSummary {
    #[serde(flatten)]
    pub package: Package,
    pub versions: usize,
    /// The highest tagged version, if any.
    pub latest: Option<String>,
    pub updated_at: Option<Timestamp>,
    /// Bytes of this package's archives in the dist store.
    #[serde(default)]
    pub dist_bytes: u64,
}

#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    settings: EngineSettings,
    events: broadcast::Sender<EngineEvent>,
    jobs: jobs::Jobs,
    /// One client per sync, reused across runs and dist downloads so that
    /// its concurrency limit and counters are per sync, not per call.
    hosts: Mutex<HashMap<SyncId, Arc<dyn CodeHost>>>,
    /// Each sync's organization as its last run saw it.
    orgs: Mutex<HashMap<SyncId, RemoteOrg>>,
    /// Wakes the webhook worker when a delivery was queued.
    hook_queue: tokio::sync::Notify,
    dists: DistCache,
    /// When the dist store was last swept, so runs in a row sweep once.
    swept_at: std::sync::atomic::AtomicI64,
}

/// How often the periodic resync looks for syncs that are due.
const RESYNC_CHECK: Duration = Duration::from_secs(30);

/// Whether `sync`'s periodic resync is due at `now`: its own interval wins
/// over `default`; zero (or no interval at all) means never. A run paused
/// on a spent budget is due again at the reset, whatever the interval.
fn resync_due(sync: &Sync, default: Option<Duration>, now: Timestamp) -> bool {
    if let Some(pause) = sync.last_run.as_ref().and_then(|r| r.paused()) {
        return pause.resumes_at <= now;
    }
    let interval = match sync.resync_minutes {
        Some(minutes) => Duration::from_secs(u64::from(minutes) * 60),
        None => default.unwrap_or(Duration::ZERO),
    };
    if interval.is_zero() {
        return false;
    }
    let last = sync
        .last_run
        .as_ref()
        .map_or(sync.created_at, |run| run.finished_at);
    u64::try_from(now.0 - last.0).unwrap_or(0) >= interval.as_secs()
}

/// Events buffered per subscriber before a slow one starts missing some.
const EVENT_BUFFER: usize = 1024;

impl EngineHandle {
    pub fn new(store: Store, settings: EngineSettings) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Self {
            inner: Arc::new(Inner {
                settings,
                events,
                jobs: jobs::Jobs::default(),
                hosts: Mutex::new(HashMap::new()),
                orgs: Mutex::new(HashMap::new()),
                hook_queue: tokio::sync::Notify::new(),
                dists: DistCache::new(store.clone()),
                swept_at: std::sync::atomic::AtomicI64::new(i64::MIN),
                store,
            }),
        }
    }

    /// Read access for the Composer server.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The dist store, shared with the Composer server so that a request
    /// and a prefetch of one archive download it once.
    pub fn dists(&self) -> &DistCache {
        &self.inner.dists
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    fn emit(&self, event: EngineEvent) {
        // No subscriber is not an error: events are for whoever watches.
        let _ = self.inner.events.send(event);
    }

    /// Runs a store call on the blocking pool: sled may touch the disk.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| EngineError::Internal(format!("store task failed: {e}")))?
            .map_err(EngineError::from)
    }

    /// Checks the credentials against the host, then saves the sync. Nothing
    /// is saved when the host refuses them. The first sync becomes primary.
    pub async fn add_sync(&self, new: NewSync) -> Result<(Sync, RemoteOrg), EngineError> {
        if self
            .blocking({
                let id = new.id.clone();
                move |s| s.load_sync(&id)
            })
            .await?
            .is_some()
        {
            return Err(StoreError::SyncExists(new.id.to_string()).into());
        }
        let primary = self.blocking(|s| s.load_syncs()).await?.is_empty();
        let sync = Sync {
            id: new.id.clone(),
            provider: new.provider,
            api_url: normalize_api_url(&new.api_url)?,
            org: new.org.trim().to_owned(),
            primary,
            created_at: Timestamp::now(),
            last_run: None,
            resync_minutes: None,
            hooks: None,
        };
        let host = self.connect(&sync, &new.credential)?;
        let org = host.verify().await?;
        let credential = new.credential.clone();
        let saved = sync.clone();
        self.blocking(move |s| s.apply_new_sync(&saved, &credential))
            .await?;
        Ok((sync, org))
    }

    /// Sets the minutes between `id`'s periodic full resyncs (`None`: the
    /// configured default; 0: none).
    pub async fn set_resync(&self, id: SyncId, minutes: Option<u32>) -> Result<Sync, EngineError> {
        if minutes.is_some_and(|m| m > MAX_RESYNC_MINUTES) {
            return Err(EngineError::InvalidInput(format!(
                "a resync interval of {} minutes is too long; give 0 to {MAX_RESYNC_MINUTES} (a week), or 0 to turn periodic resyncs off",
                minutes.unwrap_or_default()
            )));
        }
        self.load_sync(&id).await?;
        self.blocking(move |s| {
            s.apply_resync_minutes(&id, minutes)?;
            s.load_sync(&id)?
                .ok_or_else(|| StoreError::NoSuchSync(id.to_string()))
        })
        .await
    }

    pub async fn list_syncs(&self) -> Result<Vec<Sync>, EngineError> {
        self.blocking(|s| s.load_syncs()).await
    }

    fn connect(
        &self,
        sync: &Sync,
        credential: &Credential,
    ) -> Result<Arc<dyn CodeHost>, EngineError> {
        let cache = Arc::new(cache::StoreCache::new(
            self.inner.store.clone(),
            sync.id.clone(),
        ));
        Ok(Arc::from(providers::connect(
            sync,
            credential,
            cache,
            &self.inner.settings.client,
        )?))
    }

    /// The sync's client, created on first use.
    async fn host(&self, sync: &Sync) -> Result<Arc<dyn CodeHost>, EngineError> {
        if let Some(host) = self.inner.hosts.lock().map_err(poisoned)?.get(&sync.id) {
            return Ok(host.clone());
        }
        let id = sync.id.clone();
        let credential = self
            .blocking(move |s| s.load_credential(&id))
            .await?
            .ok_or_else(|| EngineError::NoCredential(sync.id.to_string()))?;
        let host = self.connect(sync, &credential)?;
        let mut hosts = self.inner.hosts.lock().map_err(poisoned)?;
        Ok(hosts.entry(sync.id.clone()).or_insert(host).clone())
    }

    async fn load_sync(&self, id: &SyncId) -> Result<Sync, EngineError> {
        let key = id.clone();
        self.blocking(move |s| s.load_sync(&key))
            .await?
            .ok_or_else(|| EngineError::NoSuchSync(id.to_string()))
    }

    /// Runs a full sync now and waits for it. Requests that arrive while a run
    /// of the same sync is in flight are merged: they wait and share the next
    /// run's result instead of queueing one run each.
    ///
    /// Returns the run's summary; a failed run is a summary with `error` set.
    pub async fn run_sync(&self, id: &SyncId, policy: Policy) -> Result<RunSummary, EngineError> {
        let sync = self.load_sync(id).await?;
        let engine = self.clone();
        let id = sync.id.clone();
        Ok(self
            .inner
            .jobs
            .run(&id, policy.clone(), move || engine.run_once(sync, policy))
            .await)
    }

    /// Runs each sync again once its resync interval (its own, or
    /// `default`) has passed since its last run, until `cancel` fires: the
    /// full runs that catch what webhooks miss.
    pub async fn resync_periodically(&self, default: Option<Duration>, cancel: CancellationToken) {
        let mut ticker = tokio::time::interval(RESYNC_CHECK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let syncs = match self.list_syncs().await {
                Ok(syncs) => syncs,
                Err(e) => {
                    tracing::error!(error = %e, "periodic resync could not list synchronizations");
                    continue;
                }
            };
            let now = Timestamp::now();
            for sync in syncs.into_iter().filter(|s| resync_due(s, default, now)) {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    result = self.run_sync(&sync.id, Policy::default()) => match result {
                        Ok(summary) if summary.error.is_some() => tracing::warn!(sync = %sync.id, error = ?summary.error, "periodic resync failed"),
                        Ok(_) => {}
                        Err(e) => tracing::error!(sync = %sync.id, error = %e, "periodic resync failed"),
                    },
                }
            }
        }
    }

    /// Packages, optionally of one origin sync, sorted by name.
    pub async fn list_packages(
        &self,
        origin: Option<SyncId>,
    ) -> Result<Vec<PackageSummary>, EngineError> {
        self.blocking(move |s| {
            let usage = s.load_dist_usage()?;
            let mut out = Vec::new();
            for package in s.load_packages()? {
                if origin.as_ref().is_some_and(|o| o != &package.origin) {
                    continue;
                }
                let versions = s.load_versions(&package.name)?;
                out.push(PackageSummary {
                    latest: crate::domain::version::latest_tag(&versions)
                        .map(|v| v.version.clone()),
                    versions: versions.len(),
                    updated_at: s.load_package_mtime(&package.name)?,
                    dist_bytes: usage.get(&package.name).copied().unwrap_or(0),
                    package,
                });
            }
            Ok(out)
        })
        .await
    }

    pub async fn list_versions(&self, name: PackageName) -> Result<Vec<Version>, EngineError> {
        self.blocking(move |s| s.load_versions(&name)).await
    }

    pub async fn list_teams(&self, sync: Option<SyncId>) -> Result<Vec<Team>, EngineError> {
        self.blocking(move |s| s.load_teams(sync.as_ref())).await
    }

    /// Creates a Composer token. The secret is returned once and only its
    /// hash is stored.
    pub async fn create_token(
        &self,
        scope: TokenScope,
        label: String,
        expires_at: Option<Timestamp>,
    ) -> Result<(Token, Secret), EngineError> {
        let check = scope.clone();
        let exists = self
            .blocking(move |s| match &check {
                TokenScope::OrgWide => Ok(true),
                TokenScope::Team { team } => Ok(s
                    .load_teams(Some(&team.sync))?
                    .iter()
                    .any(|t| &t.key == team)),
                TokenScope::User { user } => Ok(s.load_users()?.iter().any(|u| &u.id == user)),
            })
            .await?;
        if !exists {
            return Err(EngineError::InvalidInput(
                "no such user or team; `packyard user list` and `packyard team list` show them"
                    .into(),
            ));
        }
        let secret = crate::domain::token_secret(&random_bytes()?);
        let hash = crate::store::token_hash(secret.expose());
        let token = Token {
            id: hash[..12].to_owned(),
            label,
            scope,
            hash,
            created_at: Timestamp::now(),
            last_used: None,
            expires_at,
        };
        let saved = token.clone();
        self.blocking(move |s| s.apply_new_token(&saved)).await?;
        Ok((token, secret))
    }

    pub async fn list_tokens(&self) -> Result<Vec<Token>, EngineError> {
        self.blocking(|s| s.load_tokens()).await
    }

    /// Revokes a token by its public id; false when there is no such token.
    pub async fn revoke_token(&self, id: String) -> Result<bool, EngineError> {
        self.blocking(move |s| s.apply_token_revoked(&id)).await
    }

    /// Appends an admin action to the audit log.
    pub async fn record_audit(&self, entry: AuditEntry) -> Result<(), EngineError> {
        self.blocking(move |s| s.apply_audit(&entry)).await
    }

    /// The last `limit` admin actions, oldest first.
    pub async fn list_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, EngineError> {
        self.blocking(move |s| s.load_audit(limit)).await
    }

    /// Drops the cached client of a removed sync.
    fn forget_host(&self, id: &SyncId) {
        if let Ok(mut hosts) = self.inner.hosts.lock() {
            hosts.remove(id);
        }
    }

    /// Downloads a package's archive at `commit` through its origin sync's
    /// client, with that sync's credentials.
    pub async fn fetch_archive(
        &self,
        package: &Package,
        commit: &str,
    ) -> Result<bytes::Bytes, EngineError> {
        let sync = self.load_sync(&package.origin).await?;
        let host = self.host(&sync).await?;
        // Archives wait for metadata: they may not spend the budget as deep.
        let archive = host.fetch_archive(&package.repo_full_name, commit);
        Ok(providers::budget::with_priority(providers::budget::Priority::Archive, archive).await?)
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> EngineError {
    EngineError::Internal("a client map lock was poisoned by an earlier panic".into())
}

/// `https://api.github.com/` → `https://api.github.com`; rejects non-http URLs.
fn normalize_api_url(url: &str) -> Result<String, EngineError> {
    let trimmed = url.trim().trim_end_matches('/');
    let valid = ["http://", "https://"].iter().any(|scheme| {
        trimmed
            .strip_prefix(scheme)
            .is_some_and(|rest| !rest.is_empty())
    });
    if valid {
        Ok(trimmed.to_owned())
    } else {
        Err(EngineError::InvalidInput(format!(
            "API URL {url:?} is not an http(s) URL; use e.g. https://api.github.com or https://ghe.example.com/api/v3"
        )))
    }
}

/// 32 random bytes, for secrets.
fn random_bytes() -> Result<[u8; 32], EngineError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| EngineError::Internal(format!("no randomness for a secret: {e}")))?;
    Ok(bytes)
}

/// A webhook secret: 32 random bytes, base64url (Composer tokens have their
/// own shape, [`crate::domain::token_secret`]).
fn random_secret() -> Result<Secret, EngineError> {
    use base64::Engine as _;
    Ok(Secret::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(resync_minutes: Option<u32>, last_finished: Option<i64>) -> Sync {
        let summary = |at| RunSummary {
            started_at: Timestamp(at),
            finished_at: Timestamp(at),
            error: None,
            partial: false,
            guarded: false,
            changes: Default::default(),
            problems: vec![],
            conflicts: vec![],
            prefetched: 0,
            prefetch_bytes: 0,
            requests: 0,
            not_modified: 0,
            budget: None,
        };
        Sync {
            id: SyncId::new("acme").unwrap(),
            provider: ProviderKind::Github,
            api_url: "https://api.github.com".into(),
            org: "acme".into(),
            primary: true,
            created_at: Timestamp(0),
            last_run: last_finished.map(summary),
            resync_minutes,
            hooks: None,
        }
    }

    #[test]
    fn a_syncs_own_resync_interval_wins_over_the_default() {
        let hour = Some(Duration::from_secs(3600));
        let now = Timestamp(10_000);
        assert!(!resync_due(&sync(None, Some(9_000)), hour, now));
        assert!(resync_due(&sync(None, Some(6_000)), hour, now));
        assert!(resync_due(&sync(Some(10), Some(9_000)), hour, now));
        assert!(
            !resync_due(&sync(Some(0), Some(0)), hour, now),
            "0 turns it off"
        );
        assert!(
            !resync_due(&sync(None, Some(0)), None, now),
            "no default, no resync"
        );
        assert!(
            resync_due(&sync(Some(60), None), None, now),
            "counted from creation"
        );
    }

    #[test]
    fn a_paused_sync_is_due_at_its_reset_and_not_before() {
        let mut paused = sync(Some(0), Some(9_000));
        let budget = crate::domain::Headroom {
            host: "api.github.com".into(),
            bucket: "core".into(),
            limit: 5000,
            remaining: 0,
            resets_at: Some(Timestamp(10_500)),
            estimated: false,
        };
        if let Some(run) = paused.last_run.as_mut() {
            run.budget = Some(Box::new(crate::domain::RunBudget {
                paused: Some(crate::domain::Pause {
                    budget,
                    resumes_at: Timestamp(10_500),
                }),
                headroom: vec![],
            }));
        }
        assert!(!resync_due(&paused, None, Timestamp(10_000)));
        assert!(
            resync_due(&paused, None, Timestamp(10_500)),
            "even with periodic resyncs off"
        );
    }
}
