//! `POST /webhooks/{sync}`: where code hosts deliver. The handler only hands
//! the delivery to the engine, which verifies and queues it durably; the
//! answer goes out before any refresh runs, as hosts expect a quick reply
//! (GitHub gives up after 10 s).

use crate::engine::{Accepted, DeliveryError, EngineHandle};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;

/// Largest delivery accepted. GitHub caps payloads at 25 MB, but a push
/// large enough to pass this names far more than packyard reads; what it
/// would have refreshed, the periodic resync catches.
pub const WEBHOOK_BODY_LIMIT: usize = 5 * 1024 * 1024;

/// The webhook receiver, merged beside the Composer routes by `serve`.
pub fn router(engine: EngineHandle) -> Router {
    Router::new()
        .route("/webhooks/{sync}", post(receive))
        .layer(DefaultBodyLimit::max(WEBHOOK_BODY_LIMIT))
        .with_state(engine)
}

async fn receive(
    State(engine): State<EngineHandle>,
    Path(sync): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match engine.accept_delivery(&sync, &headers, &body).await {
        Ok(Accepted::Queued { event, targets }) => {
            tracing::debug!(%sync, %event, targets, "webhook queued");
            (
                StatusCode::ACCEPTED,
                Json(json!({ "status": "queued", "event": event, "targets": targets })),
            )
                .into_response()
        }
        Ok(Accepted::Duplicate) => {
            Json(json!({ "status": "duplicate delivery, ignored" })).into_response()
        }
        Ok(Accepted::Ignored { event }) => {
            Json(json!({ "status": "event not used, ignored", "event": event })).into_response()
        }
        Err(e) => refusal(&sync, e),
    }
}

/// Logged without the payload: only the sync and the reason.
fn refusal(sync: &str, error: DeliveryError) -> Response {
    let status = match &error {
        DeliveryError::UnknownSync(_) | DeliveryError::NoSecret(_) => StatusCode::NOT_FOUND,
        DeliveryError::Refused(e) if e.is_signature() => StatusCode::UNAUTHORIZED,
        DeliveryError::Refused(_) => StatusCode::BAD_REQUEST,
        DeliveryError::QueueFull(_) => StatusCode::SERVICE_UNAVAILABLE,
        DeliveryError::Engine(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(%sync, error = %error, "webhook delivery could not be queued");
    } else {
        tracing::warn!(%sync, error = %error, "webhook delivery refused");
    }
    let mut response = (status, Json(json!({ "error": error.to_string() }))).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    }
    response
}
