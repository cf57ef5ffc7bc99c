//! The handlers. Each one checks the caller's visibility before anything
//! else, including before answering 304 (COMPOSER-PROTOCOL.md §3).

use super::auth::Caller;
use super::error::AppError;
use super::{AppState, blocking, freshness};
use crate::composer::{catalog, dists::validate_commit, metadata};
use crate::domain::{PackageName, VersionKind};
use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;

/// Dist files are streamed in chunks of this size.
const CHUNK: usize = 64 * 1024;

pub async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// `POST /downloads/`: Composer reports installs here and ignores the
/// answer; packyard keeps no download statistics. Taking the body makes the
/// size limit apply.
pub async fn notify_batch(_body: Bytes) -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `GET /packages.json`: the token's view of the catalog.
pub async fn packages_json(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let store = state.store.clone();
    // The visible set only changes when a plan is applied (which moves the
    // catalog time) or when the client switches to a newer token; counting
    // the token's creation keeps a new token from confirming a copy fetched
    // with an older one.
    let modified = blocking(move || store.load_catalog_mtime())
        .await?
        .map_or(caller.since, |m| m.max(caller.since));
    if freshness::is_fresh(&headers, Some(modified)) {
        return Ok(freshness::not_modified(Some(modified)));
    }
    let store = state.store.clone();
    let names = blocking(move || catalog::load_visible_names(&store, &caller.scope)).await?;
    let body = metadata::packages_json(&state.public_url, &names);
    Ok(freshness::json(to_json(&body)?, Some(modified)))
}

/// `GET /p2/{vendor}/{name}.json` and `{name}~dev.json`.
pub async fn p2(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((vendor, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let file = file.strip_suffix(".json").ok_or(AppError::NotFound)?;
    let (project, kind) = match file.strip_suffix("~dev") {
        Some(project) => (project, VersionKind::Branch),
        None => (file, VersionKind::Tag),
    };
    let name = package_name(&vendor, project)?;
    let store = state.store.clone();
    // The time is read before the document is built: a change in between
    // then only makes the next request download again, never miss a change.
    let (package, modified) = blocking(move || {
        let Some(package) = catalog::load_visible_package(&store, &caller.scope, &name)? else {
            return Ok(None);
        };
        let modified = store.load_package_mtime(&name)?;
        Ok(Some((package, modified)))
    })
    .await?
    .ok_or(AppError::NotFound)?;
    if freshness::is_fresh(&headers, modified) {
        return Ok(freshness::not_modified(modified));
    }
    let store = state.store.clone();
    let public_url = state.public_url.clone();
    let body = blocking(move || catalog::load_p2(&store, &public_url, &package, kind)).await?;
    Ok(freshness::json(to_json(&body)?, modified))
}

/// `GET /dists/{vendor}/{name}/{commit}.zip`, for commits of the package's
/// published versions only.
pub async fn dist(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((vendor, project, file)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let commit = file.strip_suffix(".zip").ok_or(AppError::NotFound)?;
    validate_commit(commit)?;
    let name = package_name(&vendor, &project)?;
    let store = state.store.clone();
    let wanted = commit.to_owned();
    let package =
        blocking(move || catalog::load_dist_package(&store, &caller.scope, &name, &wanted))
            .await?
            .ok_or(AppError::NotFound)?;
    let (path, info) = state
        .dists
        .get_or_fetch(&package, commit, state.archives.as_ref())
        .await?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| AppError::Internal(format!("cannot open {}: {e}", path.display())))?;
    let mut response = Response::new(file_body(file));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    Ok(response)
}

/// Composer lower-cases names before building URLs; an invalid name cannot
/// exist, so it is the same 404 as an unknown one.
fn package_name(vendor: &str, project: &str) -> Result<PackageName, AppError> {
    PackageName::new(&format!("{vendor}/{project}")).map_err(|_| AppError::NotFound)
}

fn to_json(value: &serde_json::Value) -> Result<Vec<u8>, AppError> {
    serde_json::to_vec(value).map_err(|e| AppError::Internal(format!("cannot encode JSON: {e}")))
}

/// Streams a file without holding it in memory.
fn file_body(file: tokio::fs::File) -> Body {
    let chunks = futures::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0; CHUNK];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    });
    Body::from_stream(chunks)
}
