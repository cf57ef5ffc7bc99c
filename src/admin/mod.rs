//! The admin API: what front ends (CLI, TUI) may ask of packyard.
//!
//! Front ends hold a `dyn AdminClient` and never the engine or the store, so
//! the same code works whether the engine runs in this process
//! ([`InProcess`]) or behind a daemon's admin socket ([`SocketClient`]).
//! [`connect`] picks: the daemon when one answers on the data dir's socket,
//! else an engine of our own.
//!
//! - [`protocol`]: the socket's newline-delimited JSON messages.
//! - [`socket`]: the socket server `packyard serve` runs, and its client.

pub mod protocol;
pub mod socket;

use crate::domain::{
    AuditEntry, PackageName, RemoteOrg, RunSummary, Secret, Sync, SyncId, Team, Timestamp, Token,
    TokenScope, UserId, Version,
};
use crate::engine::{EngineError, EngineHandle};
use crate::store::{KeySource, Store, StoreError};
use async_trait::async_trait;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use tokio::sync::broadcast;

pub use socket::SocketClient;

/// The admin socket's file name in the data dir.
pub const SOCKET_FILE: &str = "packyard.sock";

pub use crate::engine::{
    EngineEvent, EngineSettings, HookSettings, NewSync, OwnerChange, PackageSelection,
    PackageSummary, Policy, SyncRemoval, UserSummary,
};
pub use crate::providers::ClientSettings;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The daemon we attached to went away (stopped, restarted, crashed).
    #[error(
        "the packyard daemon stopped: its admin socket {} does not answer. Start it again (`systemctl start packyard` or `packyard serve`), or run the command again to work on the data dir without it",
        path.display()
    )]
    DaemonGone { path: PathBuf },
    #[error(
        "cannot use the packyard daemon's admin socket {}: {source}. It is only open to the user the daemon runs as; run packyard as that user (e.g. `sudo -u packyard packyard`)",
        path.display()
    )]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The daemon ran the call and it failed; its message is for the admin.
    #[error("{0}")]
    Daemon(String),
    #[error(
        "the packyard daemon answered something this packyard does not understand ({0}); run the same packyard version as the daemon"
    )]
    Protocol(String),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::Engine(e.into())
    }
}

#[async_trait]
pub trait AdminClient: Send + std::marker::Sync {
    /// Checks the credentials at the host, then saves the synchronization.
    async fn add_sync(&self, new: NewSync) -> Result<(Sync, RemoteOrg), AdminError>;
    async fn list_syncs(&self) -> Result<Vec<Sync>, AdminError>;
    /// Runs a full sync and waits for it; watch [`AdminClient::subscribe`] for progress.
    async fn run_sync(&self, id: SyncId, policy: Policy) -> Result<RunSummary, AdminError>;
    async fn list_packages(
        &self,
        origin: Option<SyncId>,
    ) -> Result<Vec<PackageSummary>, AdminError>;
    /// Every version of one package (tags and branches) with its commit.
    async fn list_versions(&self, name: PackageName) -> Result<Vec<Version>, AdminError>;
    async fn list_teams(&self, sync: Option<SyncId>) -> Result<Vec<Team>, AdminError>;
    /// Creates a token; the secret is returned this once.
    async fn create_token(
        &self,
        scope: TokenScope,
        label: String,
        expires_at: Option<Timestamp>,
    ) -> Result<(Token, Secret), AdminError>;
    /// Who gains and loses owner/admin access if `id` becomes primary; makes it so when `apply`.
    async fn promote_sync(&self, id: SyncId, apply: bool) -> Result<OwnerChange, AdminError>;
    /// What removing `id` takes away; removes it when `apply`. Refused for the primary.
    async fn remove_sync(&self, id: SyncId, apply: bool) -> Result<SyncRemoval, AdminError>;
    /// Sets the minutes between `id`'s periodic full resyncs (`None`: the
    /// configured default; 0: none).
    async fn set_resync(&self, id: SyncId, minutes: Option<u32>) -> Result<Sync, AdminError>;
    /// The selected packages; removes them when `apply`.
    async fn remove_packages(
        &self,
        selection: PackageSelection,
        apply: bool,
    ) -> Result<Vec<PackageName>, AdminError>;
    async fn list_users(&self) -> Result<Vec<UserSummary>, AdminError>;
    async fn link_identity(
        &self,
        user: UserId,
        sync: SyncId,
        login: String,
    ) -> Result<(), AdminError>;
    async fn unlink_identity(
        &self,
        user: UserId,
        sync: SyncId,
        login: String,
    ) -> Result<UserId, AdminError>;
    async fn list_tokens(&self) -> Result<Vec<Token>, AdminError>;
    async fn revoke_token(&self, id: String) -> Result<bool, AdminError>;
    /// The last `limit` admin actions, oldest first.
    async fn list_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, AdminError>;
    fn subscribe(&self) -> broadcast::Receiver<EngineEvent>;
}

/// The admin socket of the daemon serving `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// A client of the daemon serving `data_dir`, or `None` when no daemon
/// answers there (no socket, or a stale one left by a crash).
pub fn attach(data_dir: &Path) -> Result<Option<SocketClient>, AdminError> {
    let path = socket_path(data_dir);
    // A plain connect is the only reliable liveness test: the file outlives
    // a daemon that was killed. The probe hangs up at once, which the
    // server takes as a no-op.
    match std::os::unix::net::UnixStream::connect(&path) {
        Ok(_) => Ok(Some(SocketClient::new(path))),
        // InvalidInput: the path is too long for a Unix socket, so no
        // daemon can listen there either.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::NotFound | ErrorKind::ConnectionRefused | ErrorKind::InvalidInput
            ) =>
        {
            Ok(None)
        }
        Err(source) => Err(AdminError::Socket { path, source }),
    }
}

/// The admin API for `data_dir`: the running daemon's when there is one,
/// else an engine in this process (which locks the data dir).
pub fn connect(
    data_dir: &Path,
    settings: EngineSettings,
) -> Result<Box<dyn AdminClient>, AdminError> {
    Ok(match attach(data_dir)? {
        Some(daemon) => Box::new(daemon),
        None => Box::new(InProcess::open(data_dir, settings)?),
    })
}

/// Seals the data dir's secrets with a new store key and replaces the key
/// file (`packyard store rotate-key`). It rewrites the store, so it needs
/// the data dir to itself: a running daemon makes it fail as locked.
/// Returns the new key's id.
pub fn rotate_store_key(data_dir: &Path) -> Result<String, AdminError> {
    Ok(Store::rotate_key(data_dir, &KeySource::from_env(data_dir))?)
}

/// Who asks, for the audit log: an OS user, and how they reached packyard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub uid: u32,
    pub via: &'static str,
}

impl Actor {
    /// The user this process runs as.
    pub fn this_process() -> Self {
        Self {
            uid: rustix::process::getuid().as_raw(),
            via: "this process",
        }
    }

    /// A peer of the daemon's admin socket, by the uid the kernel reports.
    pub fn socket_peer(uid: u32) -> Self {
        Self {
            uid,
            via: "admin socket",
        }
    }
}

/// The engine running inside this process, on this data dir.
pub struct InProcess {
    engine: EngineHandle,
    actor: Actor,
}

impl InProcess {
    /// Opens the data dir's store (which locks it) and starts an engine on it.
    pub fn open(data_dir: &Path, settings: EngineSettings) -> Result<Self, AdminError> {
        let store = Store::open(data_dir)?;
        Ok(Self::new(EngineHandle::new(store, settings)))
    }

    /// Admin calls on `engine`, made by this process's user.
    pub fn new(engine: EngineHandle) -> Self {
        Self {
            engine,
            actor: Actor::this_process(),
        }
    }

    /// The same engine, with calls recorded as made by `actor`.
    pub fn acting_for(&self, actor: Actor) -> Self {
        Self {
            engine: self.engine.clone(),
            actor,
        }
    }

    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// Records a change that succeeded. A failed write is logged: the
    /// change itself is done and cannot be taken back.
    async fn audit(&self, action: String) {
        let entry = AuditEntry {
            at: Timestamp::now(),
            actor: format!("uid {}", self.actor.uid),
            via: self.actor.via.to_owned(),
            action,
        };
        tracing::info!(actor = %entry.actor, via = %entry.via, action = %entry.action, "admin action");
        if let Err(e) = self.engine.record_audit(entry).await {
            tracing::error!(error = %e, "could not record an admin action in the audit log");
        }
    }
}

#[async_trait]
impl AdminClient for InProcess {
    async fn add_sync(&self, new: NewSync) -> Result<(Sync, RemoteOrg), AdminError> {
        let added = self.engine.add_sync(new).await?;
        self.audit(format!(
            "added sync {} ({} {})",
            added.0.id, added.0.provider, added.0.org
        ))
        .await;
        Ok(added)
    }
    async fn list_syncs(&self) -> Result<Vec<Sync>, AdminError> {
        Ok(self.engine.list_syncs().await?)
    }
    async fn run_sync(&self, id: SyncId, policy: Policy) -> Result<RunSummary, AdminError> {
        let summary = self.engine.run_sync(&id, policy.clone()).await?;
        let confirmed = if policy.confirm_removals {
            " confirming removals"
        } else {
            ""
        };
        self.audit(format!(
            "ran sync {id}{confirmed}: {}",
            summary.changes.describe()
        ))
        .await;
        Ok(summary)
    }
    async fn list_packages(
        &self,
        origin: Option<SyncId>,
    ) -> Result<Vec<PackageSummary>, AdminError> {
        Ok(self.engine.list_packages(origin).await?)
    }
    async fn list_versions(&self, name: PackageName) -> Result<Vec<Version>, AdminError> {
        Ok(self.engine.list_versions(name).await?)
    }
    async fn list_teams(&self, sync: Option<SyncId>) -> Result<Vec<Team>, AdminError> {
        Ok(self.engine.list_teams(sync).await?)
    }
    async fn create_token(
        &self,
        scope: TokenScope,
        label: String,
        expires_at: Option<Timestamp>,
    ) -> Result<(Token, Secret), AdminError> {
        let created = self.engine.create_token(scope, label, expires_at).await?;
        self.audit(format!(
            "created token {} ({})",
            created.0.id, created.0.label
        ))
        .await;
        Ok(created)
    }
    async fn promote_sync(&self, id: SyncId, apply: bool) -> Result<OwnerChange, AdminError> {
        let change = self.engine.promote_sync(id.clone(), apply).await?;
        if apply {
            self.audit(format!("promoted sync {id} to primary")).await;
        }
        Ok(change)
    }
    async fn remove_sync(&self, id: SyncId, apply: bool) -> Result<SyncRemoval, AdminError> {
        let removal = self.engine.remove_sync(id.clone(), apply).await?;
        if apply {
            self.audit(format!("removed sync {id}")).await;
        }
        Ok(removal)
    }
    async fn set_resync(&self, id: SyncId, minutes: Option<u32>) -> Result<Sync, AdminError> {
        let sync = self.engine.set_resync(id.clone(), minutes).await?;
        let every = minutes.map_or_else(|| "the default".to_owned(), |m| format!("{m} minutes"));
        self.audit(format!("set sync {id} to resync every {every}"))
            .await;
        Ok(sync)
    }
    async fn remove_packages(
        &self,
        selection: PackageSelection,
        apply: bool,
    ) -> Result<Vec<PackageName>, AdminError> {
        let names = self.engine.remove_packages(selection, apply).await?;
        if apply {
            let list: Vec<&str> = names.iter().map(PackageName::as_str).collect();
            self.audit(format!("removed packages {}", list.join(", ")))
                .await;
        }
        Ok(names)
    }
    async fn list_users(&self) -> Result<Vec<UserSummary>, AdminError> {
        Ok(self.engine.list_users().await?)
    }
    async fn link_identity(
        &self,
        user: UserId,
        sync: SyncId,
        login: String,
    ) -> Result<(), AdminError> {
        let action = format!("linked {sync}:{login} to user {user}");
        self.engine.link_identity(user, sync, login).await?;
        self.audit(action).await;
        Ok(())
    }
    async fn unlink_identity(
        &self,
        user: UserId,
        sync: SyncId,
        login: String,
    ) -> Result<UserId, AdminError> {
        let action = format!("unlinked {sync}:{login} from user {user}");
        let moved_to = self.engine.unlink_identity(user, sync, login).await?;
        self.audit(action).await;
        Ok(moved_to)
    }
    async fn list_tokens(&self) -> Result<Vec<Token>, AdminError> {
        Ok(self.engine.list_tokens().await?)
    }
    async fn revoke_token(&self, id: String) -> Result<bool, AdminError> {
        let found = self.engine.revoke_token(id.clone()).await?;
        if found {
            self.audit(format!("revoked token {id}")).await;
        }
        Ok(found)
    }
    async fn list_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, AdminError> {
        Ok(self.engine.list_audit(limit).await?)
    }
    fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.engine.subscribe()
    }
}
