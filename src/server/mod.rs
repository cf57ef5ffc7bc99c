//! The Composer HTTP server: `router(state)` serves `packages.json`, the p2
//! metadata files, dist archives and the notify-batch endpoint to tokens,
//! and `/health` to anyone. Metadata comes from the published in-memory
//! [`Catalog`]: no request reads the store or writes to it (token use is
//! written in batches, see [`flush_token_use`]).
//!
//! # URL layout (all but `/health` need a token)
//! - `GET /health`
//! - `GET /packages.json`
//! - `GET /p2/{vendor}/{name}.json` (tags), `GET /p2/{vendor}/{name}~dev.json` (branches)
//! - `GET /dists/{vendor}/{name}/{commit}.zip`
//! - `POST /downloads/` (notify-batch)
//! - `POST /webhooks/{sync}` (code host deliveries, signed instead of token
//!   authenticated; see [`webhooks`])

mod auth;
mod auth_failures;
mod connections;
mod daemon;
mod error;
mod freshness;
mod routes;
mod usage;
pub mod webhooks;

pub use auth::Caller;
pub use auth_failures::AuthFailures;
pub use connections::{Limits, serve as serve_router};
pub use daemon::{DaemonError, DaemonOptions, Services, bind, run_daemon, serve};
pub use error::AppError;
pub use usage::flush_token_use;

use crate::composer::{ArchiveSource, Catalog, DistCache};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::sync::Arc;

/// Request bodies are only expected on the notify-batch POST, a short JSON
/// list of installed versions.
const BODY_LIMIT: usize = 64 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Catalog,
    pub dists: DistCache,
    pub archives: Arc<dyn ArchiveSource>,
    /// Failed authentications per client address.
    pub auth_failures: Arc<AuthFailures>,
    /// The externally visible base URL (`https://repo.example.com`), used for
    /// every URL the metadata carries.
    pub public_url: String,
}

pub fn router(state: AppState) -> Router {
    let composer = Router::new()
        .route("/packages.json", get(routes::packages_json))
        .route("/p2/{vendor}/{file}", get(routes::p2))
        .route("/dists/{vendor}/{name}/{file}", get(routes::dist))
        .route("/downloads/", post(routes::notify_batch));
    Router::new()
        .route("/health", get(routes::health))
        .merge(composer)
        .fallback(routes::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}
