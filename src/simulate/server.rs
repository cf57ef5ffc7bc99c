//! What every simulator does the same way: serve its router on
//! `127.0.0.1:0` until it is shut down or dropped.

use axum::Router;
use std::io;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A listener on a free loopback port; its address is known before the
/// router that needs it (for absolute URLs) is built.
pub(super) async fn bind() -> io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// A simulator's HTTP server, stopped on [`Running::shutdown`] or on drop.
pub(super) struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Serves `app` on `listener` in the background; `host` names the
    /// simulator in the log if serving fails.
    pub(super) fn serve(listener: TcpListener, app: Router, host: &'static str) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "{host} simulator stopped");
            }
        });
        Running {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops accepting requests and waits for the server task to end.
    pub(super) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
