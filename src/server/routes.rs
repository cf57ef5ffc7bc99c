//! The handlers. Each one takes a [`Caller`] (the token check) and checks
//! visibility before anything else, including before answering 304
//! (COMPOSER-PROTOCOL.md §3). Metadata is answered from the caller's
//! catalog snapshot, without touching the store.

use super::auth::Caller;
use super::error::AppError;
use super::{AppState, freshness};
use crate::composer::dists::validate_commit;
use crate::domain::{PackageName, VersionKind};
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
pub async fn notify_batch(_caller: Caller, _body: Bytes) -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `GET /packages.json`: the token's view of the catalog.
pub async fn packages_json(caller: Caller, headers: HeaderMap) -> Response {
    let view = caller.token.view();
    freshness::respond(
        &headers,
        view.packages_json(),
        Some(caller.token.packages_modified()),
    )
}

/// `GET /p2/{vendor}/{name}.json` and `{name}~dev.json`.
pub async fn p2(
    caller: Caller,
    Path((vendor, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let file = file.strip_suffix(".json").ok_or(AppError::NotFound)?;
    let (project, kind) = match file.strip_suffix("~dev") {
        Some(project) => (project, VersionKind::Branch),
        None => (file, VersionKind::Tag),
    };
    let name = package_name(&vendor, project)?;
    let (doc, modified) = caller
        .snapshot
        .p2(caller.token.view(), &name, kind)
        .ok_or(AppError::NotFound)?;
    Ok(freshness::respond(&headers, doc, modified))
}

/// `GET /dists/{vendor}/{name}/{commit}.zip`, for commits of the package's
/// published versions only.
pub async fn dist(
    State(state): State<AppState>,
    caller: Caller,
    Path((vendor, project, file)): Path<(String, String, String)>,
) -> Result<Response, AppError> {
    let commit = file.strip_suffix(".zip").ok_or(AppError::NotFound)?;
    validate_commit(commit)?;
    let name = package_name(&vendor, &project)?;
    let package = caller
        .snapshot
        .dist_package(caller.token.view(), &name, commit)
        .ok_or(AppError::NotFound)?
        .clone();
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
