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
    PackageName, RemoteOrg, RunSummary, Secret, Sync, SyncId, Team, Timestamp, Token, TokenScope,
    UserId, Version,
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

/// The engine running inside this process, on this data dir.
pub struct InProcess {
    engine: EngineHandle,
}

impl InProcess {
    /// Opens the data dir's store (which locks it) and starts an engine on it.
    pub fn open(data_dir: &Path, settings: EngineSettings) -> Result<Self, AdminError> {
        let store = Store::open(data_dir)?;
        Ok(Self {
            engine: EngineHandle::new(store, settings),
        })
    }

    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }
}

#[async_trait]
impl AdminClient for InProcess {
    async fn add_sync(&self, new: NewSync) -> Result<(Sync, RemoteOrg), AdminError> {
        Ok(self.engine.add_sync(new).await?)
    }
    async fn list_syncs(&self) -> Result<Vec<Sync>, AdminError> {
        Ok(self.engine.list_syncs().await?)
    }
    async fn run_sync(&self, id: SyncId, policy: Policy) -> Result<RunSummary, AdminError> {
        Ok(self.engine.run_sync(&id, policy).await?)
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
        Ok(self.engine.create_token(scope, label, expires_at).await?)
    }
    async fn promote_sync(&self, id: SyncId, apply: bool) -> Result<OwnerChange, AdminError> {
        Ok(self.engine.promote_sync(id, apply).await?)
    }
    async fn remove_sync(&self, id: SyncId, apply: bool) -> Result<SyncRemoval, AdminError> {
        Ok(self.engine.remove_sync(id, apply).await?)
    }
    async fn set_resync(&self, id: SyncId, minutes: Option<u32>) -> Result<Sync, AdminError> {
        Ok(self.engine.set_resync(id, minutes).await?)
    }
    async fn remove_packages(
        &self,
        selection: PackageSelection,
        apply: bool,
    ) -> Result<Vec<PackageName>, AdminError> {
        Ok(self.engine.remove_packages(selection, apply).await?)
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
        Ok(self.engine.link_identity(user, sync, login).await?)
    }
    async fn unlink_identity(
        &self,
        user: UserId,
        sync: SyncId,
        login: String,
    ) -> Result<UserId, AdminError> {
        Ok(self.engine.unlink_identity(user, sync, login).await?)
    }
    async fn list_tokens(&self) -> Result<Vec<Token>, AdminError> {
        Ok(self.engine.list_tokens().await?)
    }
    async fn revoke_token(&self, id: String) -> Result<bool, AdminError> {
        Ok(self.engine.revoke_token(id).await?)
    }
    fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.engine.subscribe()
    }
}
