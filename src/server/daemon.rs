//! `packyard serve`: the engine, the Composer server, the admin socket and
//! the periodic resync in one process, shut down cleanly on SIGTERM or Ctrl-C.

use super::connections::{self, Limits};
use super::{AppState, AuthFailures, router, usage};
use crate::admin::socket::{self, SocketError};
use crate::composer::{Catalog, CatalogError};
use crate::engine::{EngineHandle, EngineSettings};
use crate::store::{Store, StoreError};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "cannot listen on {addr}: {source}. Choose another address with --listen or [server] listen"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the HTTP server stopped: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// What `serve` needs, resolved from the configuration and flags.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The URL clients use; defaults to `http://` + the bound address.
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Full resync of every sync this often; `None` turns it off.
    pub resync_interval: Option<Duration>,
    pub engine: EngineSettings,
}

pub async fn bind(listen: SocketAddr) -> Result<TcpListener, DaemonError> {
    TcpListener::bind(listen)
        .await
        .map_err(|source| DaemonError::Bind {
            addr: listen,
            source,
        })
}

/// Serves `engine`'s store on `listener` until `shutdown` fires. Prints
/// nothing: the TUI owns the terminal while it serves.
pub async fn serve(
    engine: &EngineHandle,
    listener: TcpListener,
    public_url: Option<String>,
    trusted_proxies: Vec<IpAddr>,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let bound = listener.local_addr().map_err(DaemonError::Serve)?;
    let public_url = public_url.unwrap_or_else(|| format!("http://{bound}"));
    let store = engine.store().clone();
    let catalog = Catalog::open(store.clone(), public_url.clone()).await?;
    let state = AppState {
        dists: engine.dists().clone(),
        catalog: catalog.clone(),
        archives: Arc::new(engine.clone()),
        auth_failures: Arc::new(AuthFailures::new(trusted_proxies)),
        public_url: public_url.clone(),
    };
    tracing::info!(%bound, %public_url, "serving");
    let app = router(state).merge(super::webhooks::router(engine.clone()));
    let usage = tokio::spawn(usage::flush_periodically(
        catalog,
        store,
        shutdown.child_token(),
    ));
    let served = connections::serve(listener, app, &Limits::default(), shutdown.clone())
        .await
        .map_err(DaemonError::Serve);
    // Requests are over: the last uses they noted are written now.
    shutdown.cancel();
    let _ = usage.await;
    served
}

/// The Composer server and the periodic resync running beside an engine:
/// what `serve`, the embedded dashboard and the demo all run.
pub struct Services {
    shutdown: CancellationToken,
    tasks: TaskTracker,
    http: tokio::task::JoinHandle<Result<(), DaemonError>>,
}

impl Services {
    /// Serves `engine`'s store and webhook receiver on `listener`, works
    /// through the webhook queue, and resyncs each sync when its interval
    /// (its own, or `resync_interval`) has passed.
    pub fn start(
        engine: &EngineHandle,
        listener: TcpListener,
        public_url: Option<String>,
        resync_interval: Option<Duration>,
    ) -> Services {
        Self::start_behind(engine, listener, public_url, Vec::new(), resync_interval)
    }

    /// [`Services::start`] behind reverse proxies at `trusted_proxies`.
    pub fn start_behind(
        engine: &EngineHandle,
        listener: TcpListener,
        public_url: Option<String>,
        trusted_proxies: Vec<IpAddr>,
        resync_interval: Option<Duration>,
    ) -> Services {
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        {
            let (engine, shutdown) = (engine.clone(), shutdown.clone());
            tasks.spawn(async move { engine.resync_periodically(resync_interval, shutdown).await });
        }
        {
            let (engine, shutdown) = (engine.clone(), shutdown.clone());
            tasks.spawn(async move { engine.process_webhooks(shutdown).await });
        }
        let http = {
            let (engine, shutdown) = (engine.clone(), shutdown.clone());
            tokio::spawn(async move {
                serve(&engine, listener, public_url, trusted_proxies, shutdown).await
            })
        };
        Services {
            shutdown,
            tasks,
            http,
        }
    }

    /// Cancelling this token stops every service.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs `task` until the services stop.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Waits until the HTTP server ends (its shutdown fired, or it failed),
    /// then stops the rest. A sync run in flight stops between phases; a plan
    /// being applied always finishes (it is one store transaction).
    pub async fn wait(self) -> Result<(), DaemonError> {
        let served = self
            .http
            .await
            .map_err(|e| DaemonError::Serve(std::io::Error::other(e.to_string())))
            .and_then(|served| served);
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        served
    }

    /// Stops every service and waits for them.
    pub async fn stop(self) -> Result<(), DaemonError> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// Runs the daemon until SIGTERM or Ctrl-C, then flushes the store.
pub async fn run_daemon(options: DaemonOptions) -> Result<(), DaemonError> {
    // The store's lock comes first: it is what makes this the only engine
    // on the data dir, so a socket file found afterwards cannot be live.
    let store = Store::open(&options.data_dir)?;
    let engine = EngineHandle::new(store.clone(), options.engine.clone());
    let admin_socket = socket::bind(&crate::admin::socket_path(&options.data_dir)).await?;
    let listener = bind(options.listen).await?;
    announce(&listener, options.public_url.as_deref())?;
    let services = Services::start_behind(
        &engine,
        listener,
        options.public_url.clone(),
        options.trusted_proxies.clone(),
        options.resync_interval,
    );
    services.spawn(stop_on_signal(services.shutdown()));
    services.spawn(admin_socket.serve(engine.clone(), services.shutdown()));
    let served = services.wait().await;
    store.flush()?;
    tracing::info!("stopped");
    served
}

/// One line with the listening URL on stdout (tests and scripts read it),
/// and a warning when clients could not reach the dist URLs.
fn announce(listener: &TcpListener, public_url: Option<&str>) -> Result<(), DaemonError> {
    let bound = listener.local_addr().map_err(DaemonError::Serve)?;
    if public_url.is_none() && bound.ip().is_unspecified() {
        eprintln!(
            "warning: listening on {bound} without a public URL; dist URLs will point at {bound}, which clients cannot reach. Set --public-url"
        );
    }
    let public_url = public_url.map_or_else(|| format!("http://{bound}"), str::to_owned);
    println!("packyard serving Composer repository at http://{bound} (public URL {public_url})");
    let _ = std::io::stdout().flush();
    Ok(())
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
