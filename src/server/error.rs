//! `AppError`: every way a request can fail, and the short JSON answer each
//! one gets. Internal details go to the log, never to the client.

use crate::composer::{CatalogError, DistError};
use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No credentials were sent. `origin` is the auth.json key (`host:port`).
    #[error(
        "this Composer repository needs a packyard token. Put it in auth.json as {{\"http-basic\": {{\"{origin}\": {{\"username\": \"token\", \"password\": \"<token>\"}}}}}} or {{\"bearer\": {{\"{origin}\": \"<token>\"}}}}; the key must include the port when it is not the scheme's default"
    )]
    MissingToken { origin: String },
    /// Credentials were sent but name no token (unknown or revoked).
    #[error(
        "the packyard token was not accepted (unknown or revoked). Ask an admin for a new one and update the \"{origin}\" entry of auth.json (\"http-basic\" password or \"bearer\")"
    )]
    UnknownToken { origin: String },
    /// Too many failed authentications from this client address.
    #[error(
        "too many failed authentications from this address; check the packyard token in auth.json and try again in {} s",
        .retry_after.as_secs().max(1)
    )]
    TooManyFailures { retry_after: std::time::Duration },
    /// Absent and forbidden look the same, so nothing is revealed.
    #[error("not found")]
    NotFound,
    /// The code host failed to provide an archive; the message is meant for
    /// the user and names the host.
    #[error("{0}")]
    Upstream(String),
    /// The catalog could not catch up with the store, so an answer could
    /// be stale. Composer retries a 503 a few times.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else. Logged in full, answered with a generic message.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl From<CatalogError> for AppError {
    fn from(e: CatalogError) -> Self {
        AppError::Unavailable(e.to_string())
    }
}

impl From<DistError> for AppError {
    fn from(e: DistError) -> Self {
        match e {
            DistError::InvalidCommit => AppError::NotFound,
            e if e.is_upstream() => AppError::Upstream(e.to_string()),
            e => AppError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::MissingToken { .. } | AppError::UnknownToken { .. } => {
                StatusCode::UNAUTHORIZED
            }
            AppError::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Upstream(_) => StatusCode::BAD_GATEWAY,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &self {
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "internal error; the packyard server log has the details".to_owned()
            }
            AppError::Upstream(detail) => {
                tracing::warn!(error = %detail, "archive download failed");
                detail.clone()
            }
            AppError::Unavailable(detail) => {
                tracing::error!(error = %detail, "request refused");
                "the package catalog is being rebuilt and is behind the store; try again shortly, and if this persists an admin should check the packyard server log".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (
            status,
            Json(json!({ "status": "error", "message": message })),
        )
            .into_response();
        if let AppError::TooManyFailures { retry_after } = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"packyard\""),
            );
        }
        response
    }
}
