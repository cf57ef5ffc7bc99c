//! Accepting connections: HTTP/1.1 and HTTP/2 cleartext (prior knowledge)
//! on one port, through hyper-util's auto builder, with the limits that
//! keep slow or idle clients from holding the server:
//! - a request's headers must arrive within `header_read_timeout` (hyper
//!   starts that timer whenever it waits for a request head, so it also
//!   closes idle keep-alive connections);
//! - a request body must arrive within `body_timeout` (tower-http);
//! - at most `max_connections` are open at once; further ones wait in the
//!   listen backlog. The process's open-file limit is raised to fit them.
//!
//! Shutdown stops accepting and lets open requests finish.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// File descriptors kept for everything but client connections: the
/// store, dist files being streamed, code host clients, the admin socket.
const RESERVED_FDS: u64 = 256;

/// After shutdown, requests in flight get this long to finish.
const DRAIN: Duration = Duration::from_secs(10);

/// A failed accept (typically: out of file descriptors) is retried this late.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 4096,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` fires. Handlers can extract
/// `ConnectInfo<SocketAddr>`, the peer's address.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let max_connections = raise_fd_limit(limits.max_connections);
    let app = app.layer(RequestBodyTimeoutLayer::new(limits.body_timeout));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        // Pings find peers that vanished without closing.
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(max_connections));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // Small responses go out at once rather than after Nagle's delay.
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are clients going away or timing out.
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still open after {} s; stopping anyway",
            DRAIN.as_secs()
        );
    }
    Ok(())
}

/// Raises the soft open-file limit as far as `wanted` connections need (up
/// to the hard limit) and returns how many connections fit.
fn raise_fd_limit(wanted: usize) -> usize {
    let needed = wanted as u64 + RESERVED_FDS;
    match rlimit::increase_nofile_limit(needed) {
        Ok(got) => {
            let fit = usize::try_from(got.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
            if fit < wanted {
                tracing::warn!(
                    open_files = got,
                    "the open-file limit allows only {fit} connections; raise it (ulimit -n, LimitNOFILE=) to serve {wanted}"
                );
            }
            fit.clamp(1, wanted)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit");
            wanted
        }
    }
}
