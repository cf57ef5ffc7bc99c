//! The admin API over a Unix socket: `packyard serve` listens on
//! `<data dir>/packyard.sock` and the CLI and the dashboard attach to it.
//!
//! The wire format is in [`super::protocol`]. The server runs one task per
//! connection; a connection carries one call, or one event stream after
//! `Subscribe`. The client opens a fresh connection per call: calls are rare
//! (an admin's keystroke), and it keeps a long sync run on one connection
//! from holding up a list on another.
//!
//! Access control is the file mode: the socket is 0600, so only the user the
//! daemon runs as (and root) may administer it.

use super::protocol::{MAX_REQUEST_BYTES, Request, Response, Streamed, WireNewSync};
use super::{
    Actor, AdminClient, AdminError, EngineEvent, InProcess, NewSync, OwnerChange, PackageSelection,
    PackageSummary, Policy, SyncRemoval, UserSummary,
};
use crate::domain::{
    AuditEntry, PackageName, RemoteOrg, RunSummary, Secret, Sync, SyncId, Team, Timestamp, Token,
    TokenScope, UserId, Version,
};
use crate::engine::EngineHandle;
use async_trait::async_trait;
use std::io::{self, ErrorKind};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Events buffered per attached subscriber on the client side, as the engine
/// buffers them per subscriber.
const EVENT_BUFFER: usize = 1024;

/// How long `subscribe` waits for the daemon to confirm a subscription. The
/// daemon answers at once; this only bounds a daemon that hangs.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "another packyard daemon answers on {}; one engine per data dir: stop it first, or attach to it by running `packyard` without `serve`",
        path.display()
    )]
    InUse { path: PathBuf },
    #[error("cannot create the admin socket {}: {source}", path.display())]
    Bind { path: PathBuf, source: io::Error },
    #[error(
        "the admin socket path {} is too long for a Unix socket (about 100 bytes at most); choose a shorter data dir with --data-dir or PACKYARD_DATA_DIR",
        path.display()
    )]
    PathTooLong { path: PathBuf },
}

/// A bound admin socket, not yet accepting. Binding apart from serving lets
/// `packyard serve` announce itself only once admins can attach, and fail
/// before announcing when the socket is taken.
pub struct AdminSocket {
    listener: UnixListener,
    /// Removes the socket file when the socket goes, also on an error path.
    _file: SocketFile,
}

struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot remove the admin socket");
        }
    }
}

/// Binds the admin socket at `path` with mode 0600. A socket file left by a
/// daemon that crashed (nobody accepts on it) is replaced; one that answers
/// belongs to a live daemon and is an error.
pub async fn bind(path: &Path) -> Result<AdminSocket, SocketError> {
    let bind_error = |source| SocketError::Bind {
        path: path.to_owned(),
        source,
    };
    if std::fs::symlink_metadata(path).is_ok() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(SocketError::InUse {
                path: path.to_owned(),
            });
        }
        tracing::info!(path = %path.display(), "replacing a stale admin socket");
        std::fs::remove_file(path).map_err(bind_error)?;
    }
    let listener = UnixListener::bind(path).map_err(|e| match e.kind() {
        ErrorKind::InvalidInput => SocketError::PathTooLong {
            path: path.to_owned(),
        },
        _ => bind_error(e),
    })?;
    let file = SocketFile(path.to_owned());
    // Before the first accept: until then nobody has been let in, and the
    // umask already kept others from writing (connecting) in the meantime.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_error)?;
    Ok(AdminSocket {
        listener,
        _file: file,
    })
}

impl AdminSocket {
    /// Answers admin calls on `engine` until `shutdown` fires, then removes
    /// the socket file and waits for the connections to close.
    pub async fn serve(self, engine: EngineHandle, shutdown: CancellationToken) {
        let admin = std::sync::Arc::new(InProcess::new(engine));
        let connections = TaskTracker::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    let (admin, shutdown) = (admin.clone(), shutdown.clone());
                    connections.spawn(async move {
                        tokio::select! {
                            _ = shutdown.cancelled() => {}
                            _ = handle_connection(stream, admin.as_ref()) => {}
                        }
                    });
                }
                Err(e) => {
                    // Out of file descriptors, usually: wait instead of spinning.
                    tracing::warn!(error = %e, "admin socket cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        drop(self);
        connections.close();
        connections.wait().await;
    }
}

async fn handle_connection(stream: UnixStream, admin: &InProcess) {
    // The kernel's word on who connected, for the audit log; the socket is
    // 0600, so it is this user or root.
    let admin = match stream.peer_cred() {
        Ok(cred) => admin.acting_for(Actor::socket_peer(cred.uid())),
        Err(e) => {
            tracing::warn!(error = %e, "admin connection without peer credentials refused");
            return;
        }
    };
    let admin = &admin;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let read = (&mut reader)
        .take(MAX_REQUEST_BYTES as u64 + 1)
        .read_line(&mut line)
        .await;
    let request = match read {
        // A probe (`admin::attach`) connects and hangs up without a word.
        Ok(0) => return,
        Ok(_) if line.len() > MAX_REQUEST_BYTES => Err(format!(
            "request longer than {MAX_REQUEST_BYTES} bytes refused"
        )),
        Ok(_) => serde_json::from_str::<Request>(&line)
            .map_err(|e| format!("not a packyard admin request ({e}); is this client the same packyard version as the daemon?")),
        Err(e) => Err(format!("unreadable request: {e}")),
    };
    let result = match request {
        Ok(Request::Subscribe) => stream_events(admin.engine(), reader, write).await,
        Ok(request) => write_line(&mut write, &dispatch(admin, request).await).await,
        Err(message) => write_line(&mut write, &Response::Failed { message }).await,
    };
    if let Err(e) = result {
        // The client went away mid-answer; nothing else to tell anyone.
        tracing::debug!(error = %e, "admin connection ended early");
    }
}

/// Streams engine events to a subscriber until it hangs up.
async fn stream_events(
    engine: &EngineHandle,
    mut reader: impl AsyncRead + Unpin,
    mut write: impl AsyncWrite + Unpin,
) -> io::Result<()> {
    // Subscribed before the acknowledgement, so every event after it reaches
    // the client: a client that triggers a run once subscribed sees it all.
    let mut events = engine.subscribe();
    write_line(&mut write, &Response::Subscribed).await?;
    let mut ignored = [0u8; 64];
    loop {
        let line = tokio::select! {
            // Anything but EOF from a subscriber is meaningless; EOF is goodbye.
            read = reader.read(&mut ignored) => match read {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => continue,
            },
            event = events.recv() => match event {
                Ok(event) => Streamed::Event { event },
                Err(broadcast::error::RecvError::Lagged(missed)) => Streamed::Lagged { missed },
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
        };
        write_line(&mut write, &line).await?;
    }
}

async fn write_line(
    write: &mut (impl AsyncWrite + Unpin),
    value: &impl serde::Serialize,
) -> io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.flush().await
}

/// Runs one call on `admin` and wraps its result for the wire.
async fn dispatch(admin: &dyn AdminClient, request: Request) -> Response {
    let result = match request {
        Request::AddSync { sync } => admin
            .add_sync(sync.into())
            .await
            .map(|(sync, org)| Response::SyncAdded { sync, org }),
        Request::ListSyncs => admin
            .list_syncs()
            .await
            .map(|syncs| Response::Syncs { syncs }),
        Request::RunSync { id, policy } => admin
            .run_sync(id, policy)
            .await
            .map(|summary| Response::RunFinished { summary }),
        Request::PromoteSync { id, apply } => admin
            .promote_sync(id, apply)
            .await
            .map(|change| Response::OwnerChange { change }),
        Request::RemoveSync { id, apply } => admin
            .remove_sync(id, apply)
            .await
            .map(|removal| Response::SyncRemoval { removal }),
        Request::SetResync { id, minutes } => admin
            .set_resync(id, minutes)
            .await
            .map(|sync| Response::SyncUpdated { sync }),
        Request::ListPackages { origin } => admin
            .list_packages(origin)
            .await
            .map(|packages| Response::Packages { packages }),
        Request::ListVersions { name } => admin
            .list_versions(name)
            .await
            .map(|versions| Response::Versions { versions }),
        Request::RemovePackages { selection, apply } => admin
            .remove_packages(selection, apply)
            .await
            .map(|names| Response::PackagesSelected { names }),
        Request::ListTeams { sync } => admin
            .list_teams(sync)
            .await
            .map(|teams| Response::Teams { teams }),
        Request::ListUsers => admin
            .list_users()
            .await
            .map(|users| Response::Users { users }),
        Request::LinkIdentity { user, sync, login } => admin
            .link_identity(user, sync, login)
            .await
            .map(|()| Response::IdentityLinked),
        Request::UnlinkIdentity { user, sync, login } => admin
            .unlink_identity(user, sync, login)
            .await
            .map(|user| Response::IdentityUnlinked { user }),
        Request::CreateToken {
            scope,
            label,
            expires_at,
        } => admin
            .create_token(scope, label, expires_at)
            .await
            .map(|(token, secret)| Response::TokenCreated {
                token,
                secret: (&secret).into(),
            }),
        Request::ListTokens => admin
            .list_tokens()
            .await
            .map(|tokens| Response::Tokens { tokens }),
        Request::RevokeToken { id } => admin
            .revoke_token(id)
            .await
            .map(|found| Response::TokenRevoked { found }),
        // Handled by the connection before dispatch: it changes the protocol.
        Request::ListAudit { limit } => admin
            .list_audit(limit)
            .await
            .map(|entries| Response::Audit { entries }),
        Request::Subscribe => Ok(Response::Subscribed),
    };
    result.unwrap_or_else(|e| Response::Failed {
        message: e.to_string(),
    })
}

/// The admin API of a running daemon, over its socket.
pub struct SocketClient {
    path: PathBuf,
}

impl SocketClient {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn gone_or(&self, e: io::Error) -> AdminError {
        match e.kind() {
            ErrorKind::NotFound
            | ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => AdminError::DaemonGone {
                path: self.path.clone(),
            },
            _ => AdminError::Socket {
                path: self.path.clone(),
                source: e,
            },
        }
    }

    async fn call(&self, request: &Request) -> Result<Response, AdminError> {
        let stream = UnixStream::connect(&self.path)
            .await
            .map_err(|e| self.gone_or(e))?;
        let (read, mut write) = stream.into_split();
        write_line(&mut write, request)
            .await
            .map_err(|e| self.gone_or(e))?;
        let mut line = String::new();
        let read = BufReader::new(read)
            .read_line(&mut line)
            .await
            .map_err(|e| self.gone_or(e))?;
        if read == 0 {
            // The daemon hung up without answering: it is shutting down.
            return Err(self.gone_or(ErrorKind::UnexpectedEof.into()));
        }
        match serde_json::from_str(&line) {
            Ok(Response::Failed { message }) => Err(AdminError::Daemon(message)),
            Ok(response) => Ok(response),
            Err(e) => Err(AdminError::Protocol(e.to_string())),
        }
    }
}

fn unexpected(response: Response) -> AdminError {
    AdminError::Protocol(format!("unexpected answer {response:?}"))
}

#[async_trait]
impl AdminClient for SocketClient {
    async fn add_sync(&self, new: NewSync) -> Result<(Sync, RemoteOrg), AdminError> {
        let sync = WireNewSync::from(&new);
        match self.call(&Request::AddSync { sync }).await? {
            Response::SyncAdded { sync, org } => Ok((sync, org)),
            other => Err(unexpected(other)),
        }
    }
    async fn list_syncs(&self) -> Result<Vec<Sync>, AdminError> {
        match self.call(&Request::ListSyncs).await? {
            Response::Syncs { syncs } => Ok(syncs),
            other => Err(unexpected(other)),
        }
    }
    async fn run_sync(&self, id: SyncId, policy: Policy) -> Result<RunSummary, AdminError> {
        match self.call(&Request::RunSync { id, policy }).await? {
            Response::RunFinished { summary } => Ok(summary),
            other => Err(unexpected(other)),
        }
    }
    async fn list_packages(
        &self,
        origin: Option<SyncId>,
    ) -> Result<Vec<PackageSummary>, AdminError> {
        match self.call(&Request::ListPackages { origin }).await? {
            Response::Packages { packages } => Ok(packages),
            other => Err(unexpected(other)),
        }
    }
    async fn list_versions(&self, name: PackageName) -> Result<Vec<Version>, AdminError> {
        match self.call(&Request::ListVersions { name }).await? {
            Response::Versions { versions } => Ok(versions),
            other => Err(unexpected(other)),
        }
    }
    async fn list_teams(&self, sync: Option<SyncId>) -> Result<Vec<Team>, AdminError> {
        match self.call(&Request::ListTeams { sync }).await? {
            Response::Teams { teams } => Ok(teams),
            other => Err(unexpected(other)),
        }
    }
    async fn create_token(
        &self,
        scope: TokenScope,
        label: String,
        expires_at: Option<Timestamp>,
    ) -> Result<(Token, Secret), AdminError> {
        let request = Request::CreateToken {
            scope,
            label,
            expires_at,
        };
        match self.call(&request).await? {
            Response::TokenCreated { token, secret } => Ok((token, secret.into())),
            other => Err(unexpected(other)),
        }
    }
    async fn promote_sync(&self, id: SyncId, apply: bool) -> Result<OwnerChange, AdminError> {
        match self.call(&Request::PromoteSync { id, apply }).await? {
            Response::OwnerChange { change } => Ok(change),
            other => Err(unexpected(other)),
        }
    }
    async fn remove_sync(&self, id: SyncId, apply: bool) -> Result<SyncRemoval, AdminError> {
        match self.call(&Request::RemoveSync { id, apply }).await? {
            Response::SyncRemoval { removal } => Ok(removal),
            other => Err(unexpected(other)),
        }
    }
    async fn set_resync(&self, id: SyncId, minutes: Option<u32>) -> Result<Sync, AdminError> {
        match self.call(&Request::SetResync { id, minutes }).await? {
            Response::SyncUpdated { sync } => Ok(sync),
            other => Err(unexpected(other)),
        }
    }
    async fn remove_packages(
        &self,
        selection: PackageSelection,
        apply: bool,
    ) -> Result<Vec<PackageName>, AdminError> {
        match self
            .call(&Request::RemovePackages { selection, apply })
            .await?
        {
            Response::PackagesSelected { names } => Ok(names),
            other => Err(unexpected(other)),
        }
    }
    async fn list_users(&self) -> Result<Vec<UserSummary>, AdminError> {
        match self.call(&Request::ListUsers).await? {
            Response::Users { users } => Ok(users),
            other => Err(unexpected(other)),
        }
    }
    async fn link_identity(
        &self,
        user: UserId,
        sync: SyncId,
        login: String,
    ) -> Result<(), AdminError> {
        match self
            .call(&Request::LinkIdentity { user, sync, login })
            .await?
        {
            Response::IdentityLinked => Ok(()),
            other => Err(unexpected(other)),
        }
    }
    async fn unlink_identity(
        &self,
        user: UserId,
        sync: SyncId,
        login: String,
    ) -> Result<UserId, AdminError> {
        match self
            .call(&Request::UnlinkIdentity { user, sync, login })
            .await?
        {
            Response::IdentityUnlinked { user } => Ok(user),
            other => Err(unexpected(other)),
        }
    }
    async fn list_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, AdminError> {
        match self.call(&Request::ListAudit { limit }).await? {
            Response::Audit { entries } => Ok(entries),
            other => Err(unexpected(other)),
        }
    }
    async fn list_tokens(&self) -> Result<Vec<Token>, AdminError> {
        match self.call(&Request::ListTokens).await? {
            Response::Tokens { tokens } => Ok(tokens),
            other => Err(unexpected(other)),
        }
    }
    async fn revoke_token(&self, id: String) -> Result<bool, AdminError> {
        match self.call(&Request::RevokeToken { id }).await? {
            Response::TokenRevoked { found } => Ok(found),
            other => Err(unexpected(other)),
        }
    }

    /// Subscribes on a connection of its own, and only returns once the
    /// daemon confirmed: events after this call are not missed. Without a
    /// daemon (or a runtime) the receiver is closed, as an engine that
    /// stopped would leave it.
    fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        let (events, receiver) = broadcast::channel(EVENT_BUFFER);
        match open_subscription(&self.path) {
            Ok(stream) => {
                tokio::spawn(forward_events(stream, events));
            }
            Err(e) => tracing::warn!(error = %e, "cannot watch the daemon's events"),
        }
        receiver
    }
}

/// Connects, subscribes and waits for the acknowledgement. Blocking on
/// purpose: `subscribe` is not async, and a local daemon answers at once.
fn open_subscription(path: &Path) -> io::Result<UnixStream> {
    use std::io::{BufRead, Write};
    tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(SUBSCRIBE_TIMEOUT))?;
    let mut request = serde_json::to_vec(&Request::Subscribe).map_err(io::Error::other)?;
    request.push(b'\n');
    stream.write_all(&request)?;
    // Byte by byte: a buffered reader could swallow the first events, which
    // the async side must read instead.
    let mut ack = Vec::new();
    let mut unbuffered = std::io::BufReader::with_capacity(1, &stream);
    while !ack.ends_with(b"\n") {
        let n = unbuffered.read_until(b'\n', &mut ack)?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        if ack.len() > MAX_REQUEST_BYTES {
            return Err(io::Error::other("the daemon's answer is too long"));
        }
    }
    match serde_json::from_slice::<Response>(&ack) {
        Ok(Response::Subscribed) => {}
        Ok(other) => return Err(io::Error::other(format!("unexpected answer {other:?}"))),
        Err(e) => return Err(io::Error::other(e)),
    }
    stream.set_read_timeout(None)?;
    stream.set_nonblocking(true)?;
    UnixStream::from_std(stream)
}

/// Copies the daemon's event lines into `events` until the daemon goes or
/// every receiver is dropped.
async fn forward_events(stream: UnixStream, events: broadcast::Sender<EngineEvent>) {
    let mut lines = BufReader::new(stream).lines();
    loop {
        let line = tokio::select! {
            _ = events.closed() => return,
            line = lines.next_line() => line,
        };
        let event = match line {
            Ok(Some(line)) => match serde_json::from_str::<Streamed>(&line) {
                Ok(Streamed::Event { event }) => event,
                Ok(Streamed::Lagged { missed }) => EngineEvent::EventsMissed { missed },
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable event from the daemon");
                    continue;
                }
            },
            // Dropping the sender tells receivers the daemon is gone.
            Ok(None) | Err(_) => return,
        };
        // No receiver left is caught by `closed` above.
        let _ = events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A socket served by an engine on a fresh data dir.
    async fn served(dir: &Path) -> (PathBuf, CancellationToken, tokio::task::JoinHandle<()>) {
        let engine = EngineHandle::new(Store::open(dir).expect("store opens"), Default::default());
        let path = dir.join(super::super::SOCKET_FILE);
        let socket = bind(&path).await.expect("binds");
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn(socket.serve(engine, shutdown.clone()));
        (path, shutdown, serving)
    }

    /// Sends raw bytes and returns the one answer line.
    async fn exchange(path: &Path, bytes: Vec<u8>) -> Response {
        let stream = UnixStream::connect(path).await.expect("connects");
        let (read, mut write) = stream.into_split();
        // Written concurrently: the server may answer before reading it all.
        let writing = tokio::spawn(async move { write.write_all(&bytes).await });
        let mut line = String::new();
        BufReader::new(read)
            .read_line(&mut line)
            .await
            .expect("answer");
        writing.abort();
        serde_json::from_str(&line).expect("a response line")
    }

    #[tokio::test]
    async fn request_is_refused_when_longer_than_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, shutdown, serving) = served(dir.path()).await;
        let answer = exchange(&path, vec![b'x'; MAX_REQUEST_BYTES + 10]).await;
        assert!(
            matches!(&answer, Response::Failed { message } if message.contains("longer than")),
            "{answer:?}"
        );
        let answer = exchange(&path, b"{\"request\":\"format-disk\"}\n".to_vec()).await;
        assert!(
            matches!(&answer, Response::Failed { message } if message.contains("not a packyard admin request")),
            "{answer:?}"
        );
        shutdown.cancel();
        serving.await.expect("serve ends");
        assert!(!path.exists(), "the socket file goes with the server");
    }

    #[tokio::test]
    async fn engine_error_reaches_the_client_when_a_call_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, shutdown, serving) = served(dir.path()).await;
        let client = SocketClient::new(path.clone());
        let id = SyncId::new("nosuch").expect("valid id");
        let error = client
            .run_sync(id, Policy::default())
            .await
            .expect_err("no such sync");
        assert!(
            matches!(&error, AdminError::Daemon(m) if m.contains("no synchronization named \"nosuch\"")),
            "{error:?}"
        );
        shutdown.cancel();
        serving.await.expect("serve ends");
        let gone = client.list_syncs().await.expect_err("daemon gone");
        assert!(matches!(gone, AdminError::DaemonGone { .. }), "{gone:?}");
    }

    #[tokio::test]
    async fn bind_is_refused_when_a_live_daemon_owns_the_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, shutdown, serving) = served(dir.path()).await;
        let refused = bind(&path).await.err().expect("in use");
        assert!(matches!(refused, SocketError::InUse { .. }), "{refused:?}");
        assert!(path.exists(), "the live daemon keeps its socket");
        shutdown.cancel();
        serving.await.expect("serve ends");
    }

    #[tokio::test]
    async fn long_data_dir_is_reported_when_no_socket_fits_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("d".repeat(120));
        std::fs::create_dir_all(&deep).expect("creates");
        let refused = bind(&deep.join(super::super::SOCKET_FILE))
            .await
            .err()
            .expect("too long");
        assert!(
            matches!(refused, SocketError::PathTooLong { .. }),
            "{refused:?}"
        );
        assert!(
            super::super::attach(&deep).expect("no error").is_none(),
            "commands still work in-process there"
        );
    }
}
