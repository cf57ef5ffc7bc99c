//! `POST /webhooks/{sync}`: where code hosts deliver. The handler only hands
//! the delivery to the engine, which verifies and queues it durably; the
//! answer goes out before any refresh runs, as hosts expect a quick reply
//! (GitHub gives up after 10 s).
//!
//! Nothing is read of a body before the headers pass: an unknown sync, a
//! sync without a secret and a missing signature are refused at once. The
//! body is then read as it arrives, into the signature check, with the size
//! limit enforced per chunk, and only a few bodies are read at a time, so
//! stalled uploads by strangers cannot pile up in memory.

use crate::engine::{Accepted, DeliveryError, EngineHandle};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Largest delivery accepted. GitHub caps payloads at 25 MB, but a push
/// large enough to pass this names far more than packyard reads; what it
/// would have refreshed, the periodic resync catches.
pub const WEBHOOK_BODY_LIMIT: usize = 5 * 1024 * 1024;

/// Bodies read at once: at most this many times [`WEBHOOK_BODY_LIMIT`] is
/// ever held by deliveries. Real deliveries are small and quick, so a few
/// slots serve every host.
pub const BODIES_IN_FLIGHT: usize = 8;

/// How long a delivery waits for a slot before it is told to come back.
const SLOT_WAIT: Duration = Duration::from_secs(5);

/// The one answer for every delivery that fails to prove it is ours, so it
/// tells a stranger nothing about which syncs exist.
const UNAUTHORIZED: &str = "the delivery is not signed by a webhook packyard installed";

#[derive(Clone)]
struct Receiver {
    engine: EngineHandle,
    slots: Arc<Semaphore>,
}

/// The webhook receiver, merged beside the Composer routes by `serve`.
pub fn router(engine: EngineHandle) -> Router {
    Router::new()
        .route("/webhooks/{sync}", post(receive))
        .with_state(Receiver {
            engine,
            slots: Arc::new(Semaphore::new(BODIES_IN_FLIGHT)),
        })
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(sync): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let engine = &receiver.engine;
    let mut pending = match engine.begin_delivery(&sync, &headers).await {
        Ok(pending) => pending,
        Err(e) => return refusal(&sync, e),
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > WEBHOOK_BODY_LIMIT) {
        return too_large(&sync);
    }
    let Ok(Ok(_slot)) = tokio::time::timeout(SLOT_WAIT, receiver.slots.acquire()).await else {
        tracing::warn!(%sync, "webhook delivery turned away: every body slot is busy");
        return busy(json!({ "error": "packyard is busy reading other deliveries; retry later" }));
    };
    // Grown as bytes arrive: a declared length costs nothing until sent.
    let mut received = Vec::with_capacity(declared.unwrap_or(0).min(64 * 1024));
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": "the delivery's body could not be read" })),
            )
                .into_response();
        };
        if received.len() + chunk.len() > WEBHOOK_BODY_LIMIT {
            return too_large(&sync);
        }
        pending.update(&chunk);
        received.extend_from_slice(&chunk);
    }
    match engine.finish_delivery(pending, &headers, &received).await {
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

fn too_large(sync: &str) -> Response {
    tracing::warn!(%sync, limit = WEBHOOK_BODY_LIMIT, "webhook delivery refused: body too large");
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        Json(json!({ "error": format!("the delivery is larger than {WEBHOOK_BODY_LIMIT} bytes") })),
    )
        .into_response()
}

fn busy(body: serde_json::Value) -> Response {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    response
}

/// Logged without the payload, and naming the sync only when it exists:
/// the path of a stranger's request is theirs to choose.
fn refusal(sync: &str, error: DeliveryError) -> Response {
    if error.is_unauthorized() {
        match &error {
            DeliveryError::UnknownSync(_) => {
                tracing::warn!("webhook delivery refused: no such synchronization")
            }
            _ => tracing::warn!(%sync, %error, "webhook delivery refused"),
        }
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": UNAUTHORIZED })),
        )
            .into_response();
    }
    match &error {
        DeliveryError::QueueFull(_) => {
            tracing::warn!(%sync, %error, "webhook delivery refused");
            busy(json!({ "error": error.to_string() }))
        }
        DeliveryError::Engine(_) => {
            tracing::error!(%sync, error = %error, "webhook delivery could not be queued");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": error.to_string() })),
            )
                .into_response()
        }
        _ => {
            tracing::warn!(%sync, %error, "webhook delivery refused");
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": error.to_string() })),
            )
                .into_response()
        }
    }
}
