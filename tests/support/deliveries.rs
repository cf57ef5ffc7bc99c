//! Receiving simulated webhook deliveries: a local receiver standing in for
//! packyard's webhook endpoint, and a wait on a simulator's delivery log.

use packyard::domain::{HookTarget, ProviderKind, Secret};
use packyard::providers::hooks;
use packyard::simulate::webhooks::{DeliveryRecord, Webhooks};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// One delivery as the receiver saw it.
pub type Received = (axum::http::HeaderMap, Vec<u8>);

/// Listens on 127.0.0.1:0 and hands every POST to `/webhooks/{sync}` to the
/// channel, answering 202 as packyard does. Returns the hook URL.
pub async fn receiver(sync: &str) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/webhooks/{sync}",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send((headers, body.to_vec()));
                    axum::http::StatusCode::ACCEPTED
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/webhooks/{sync}"), rx)
}

/// The deliveries answered so far, once there are `count` of them or a
/// generous deadline passed (no test depends on speed).
pub async fn answered(webhooks: &Webhooks, count: usize) -> Vec<DeliveryRecord> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done: Vec<DeliveryRecord> = webhooks
            .deliveries()
            .into_iter()
            .filter(|d| d.status.is_some())
            .collect();
        if done.len() >= count || Instant::now() > deadline {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks a delivery as packyard's webhook endpoint reads it: signed with
/// `secret`, naming `event` and the delivery id the simulator logged in
/// `record`, and asking for `targets`. Returns the payload.
pub fn accepted(
    kind: ProviderKind,
    (headers, body): &Received,
    secret: &Secret,
    record: &DeliveryRecord,
    (event, targets): (&str, &[HookTarget]),
) -> Value {
    assert_eq!(record.status, Some(202), "{record:?}");
    hooks::verify(kind, headers, body, secret).unwrap();
    let delivery = hooks::delivery_headers_of(kind, headers).unwrap();
    assert_eq!(delivery.event, event);
    assert_eq!(delivery.delivery.as_deref(), Some(record.delivery.as_str()));
    assert_eq!(hooks::targets(kind, event, body).unwrap(), targets);
    serde_json::from_slice(body).unwrap()
}
