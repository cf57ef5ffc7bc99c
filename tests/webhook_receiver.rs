//! The webhook receiver through `webhooks::router(engine).oneshot(req)`,
//! with each host's published payloads from `shared/fixtures` signed as
//! their sources signed them: genuine deliveries are queued, and tampered,
//! unsigned, replayed, oversized and unknown ones are refused or ignored.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use packyard::domain::{
    Credential, HookTarget, ProviderKind, Secret, Sync, SyncId, Timestamp, hub_signature,
};
use packyard::engine::{EngineHandle, EngineSettings};
use packyard::server::webhooks::{BODIES_IN_FLIGHT, WEBHOOK_BODY_LIMIT, router};
use packyard::store::Store;
use tower::ServiceExt;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_json(path: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

/// The signature test vector `headers.json` gives for `payload_file`.
fn vector(host: &str, payload_file: &str) -> (String, String) {
    let headers = fixture_json(&format!("{host}/webhooks/headers.json"));
    let v = headers["signature_test_vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["payload_file"] == payload_file)
        .unwrap_or_else(|| panic!("no vector for {payload_file}"));
    let signature = v
        .get("X-Hub-Signature-256")
        .or_else(|| v.get("X-Hub-Signature"))
        .unwrap();
    (
        v["secret"].as_str().unwrap().to_owned(),
        signature.as_str().unwrap().to_owned(),
    )
}

/// An engine over a fresh store holding one sync of `provider` whose hook
/// secret is `secret`.
fn engine(provider: ProviderKind, secret: &str) -> (EngineHandle, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let sync = Sync {
        id: SyncId::new("acme").unwrap(),
        provider,
        api_url: "http://127.0.0.1:9".into(),
        org: "acme".into(),
        primary: true,
        created_at: Timestamp(0),
        last_run: None,
        resync_minutes: None,
        hooks: None,
    };
    store
        .apply_new_sync(&sync, &Credential::Token(Secret::new("unused")))
        .unwrap();
    store
        .apply_hook_secret(&sync.id, &Secret::new(secret))
        .unwrap();
    (EngineHandle::new(store, EngineSettings::default()), dir)
}

async fn post(
    engine: &EngineHandle,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, String) {
    let mut request = Request::post(path).header("Content-Type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = router(engine.clone())
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn queued(engine: &EngineHandle) -> Vec<HookTarget> {
    engine
        .store()
        .load_queued()
        .unwrap()
        .into_iter()
        .map(|q| q.target)
        .collect()
}

#[tokio::test]
async fn github_signed_push_is_queued_once_and_forgeries_are_refused() {
    let (secret, signature) = vector("github", "push.signed.json");
    let (engine, _dir) = engine(ProviderKind::Github, &secret);
    let body = fixture("github/webhooks/push.signed.json");
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("X-Hub-Signature-256", signature.as_str()),
    ];
    let (status, said) = post(&engine, "/webhooks/acme", &headers, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{said}");
    let targets = queued(&engine);
    assert_eq!(targets.len(), 1);
    assert!(matches!(&targets[0], HookTarget::Repo(_)), "{targets:?}");

    // The same delivery again (a redelivery): acknowledged, nothing new.
    let (status, said) = post(&engine, "/webhooks/acme", &headers, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{said}");
    assert!(said.contains("duplicate"), "{said}");

    // One byte changed: the signature no longer matches.
    let mut tampered = body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    let fresh = [
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", "another-delivery"),
        ("X-Hub-Signature-256", signature.as_str()),
    ];
    let (status, said) = post(&engine, "/webhooks/acme", &fresh, tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{said}");
    assert!(!said.contains(&secret), "the secret is never echoed");

    // No signature at all, or only the SHA-1 one.
    let unsigned = [
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", "third"),
        (
            "X-Hub-Signature",
            "sha1=cf93f9ba3c8d3a789e61f91e1e5c6a360d036e98",
        ),
    ];
    let (status, _) = post(&engine, "/webhooks/acme", &unsigned, body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A delivery for a sync that does not exist.
    let (status, _) = post(&engine, "/webhooks/nosuch", &headers, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(queued(&engine).len(), 1, "nothing else was queued");
}

#[tokio::test]
async fn oversized_deliveries_are_refused_before_they_are_read() {
    let (engine, _dir) = engine(ProviderKind::Github, "s3cret");
    let body = vec![b' '; WEBHOOK_BODY_LIMIT + 1];
    let signature = hub_signature("s3cret", &body);
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", signature.as_str()),
    ];
    let (status, _) = post(&engine, "/webhooks/acme", &headers, body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(queued(&engine).is_empty());
}

#[tokio::test]
async fn events_packyard_does_not_use_are_acknowledged_and_ignored() {
    let (engine, _dir) = engine(ProviderKind::Github, "s3cret");
    for (event, file) in [
        ("ping", "github/webhooks/ping.json"),
        ("issues", "github/webhooks/ping.json"),
    ] {
        let body = fixture(file);
        let signature = hub_signature("s3cret", &body);
        let headers = [
            ("X-GitHub-Event", event),
            ("X-GitHub-Delivery", event),
            ("X-Hub-Signature-256", signature.as_str()),
        ];
        let (status, said) = post(&engine, "/webhooks/acme", &headers, body).await;
        assert_eq!(status, StatusCode::OK, "{event}: {said}");
        assert!(said.contains("ignored"), "{event}: {said}");
    }
    assert!(queued(&engine).is_empty());
}

#[tokio::test]
async fn bitbucket_signed_pushes_verify_with_their_published_vectors() {
    for (provider, host, file, event) in [
        (
            ProviderKind::BitbucketCloud,
            "bitbucket-cloud",
            "repo-push.signed.json",
            "repo:push",
        ),
        (
            ProviderKind::BitbucketServer,
            "bitbucket-server",
            "repo-refs_changed.signed.json",
            "repo:refs_changed",
        ),
    ] {
        let (secret, signature) = vector(host, file);
        let (engine, _dir) = engine(provider, &secret);
        let body = fixture(&format!("{host}/webhooks/{file}"));
        let headers = [
            ("X-Event-Key", event),
            ("X-Request-Id", "d1"),
            ("X-Request-UUID", "d1"),
            ("X-Hub-Signature", signature.as_str()),
        ];
        let (status, said) = post(&engine, "/webhooks/acme", &headers, body.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{host}: {said}");
        assert!(
            matches!(queued(&engine).as_slice(), [HookTarget::Repo(_)]),
            "{host}: {:?}",
            queued(&engine)
        );
        let wrong = hub_signature("not-the-secret", &body);
        let forged = [
            ("X-Event-Key", event),
            ("X-Request-Id", "d2"),
            ("X-Request-UUID", "d2"),
            ("X-Hub-Signature", wrong.as_str()),
        ];
        let (status, _) = post(&engine, "/webhooks/acme", &forged, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{host}");
    }
}

#[tokio::test]
async fn gitlab_push_is_accepted_with_the_hooks_token_only() {
    let headers_json = fixture_json("gitlab/webhooks/headers.json");
    let token = headers_json["example_delivery_2"]["headers"]["X-Gitlab-Token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (engine, _dir) = engine(ProviderKind::Gitlab, &token);
    let body = fixture("gitlab/webhooks/push.json");
    let good = [
        ("X-Gitlab-Event", "Push Hook"),
        ("X-Gitlab-Token", token.as_str()),
        (
            "X-Gitlab-Event-UUID",
            "ee8d97b4-1479-43f1-9cac-fbbd1b80da55",
        ),
    ];
    let (status, said) = post(&engine, "/webhooks/acme", &good, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{said}");
    assert!(matches!(queued(&engine).as_slice(), [HookTarget::Repo(_)]));
    let bad = [
        ("X-Gitlab-Event", "Push Hook"),
        ("X-Gitlab-Token", "798d3dd3-67f5-41df-ad19-7882cc6263bf"),
    ];
    let (status, _) = post(&engine, "/webhooks/acme", &bad, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_sync_missing_secret_and_bad_signature_answer_alike() {
    let (engine, _dir) = engine(ProviderKind::Github, "s3cret");
    let store = engine.store();
    let mut bare = store
        .load_sync(&SyncId::new("acme").unwrap())
        .unwrap()
        .unwrap();
    bare.id = SyncId::new("nosecret").unwrap();
    bare.primary = false;
    store
        .apply_new_sync(&bare, &Credential::Token(Secret::new("unused")))
        .unwrap();
    let body = fixture("github/webhooks/ping.json");
    let wrong = hub_signature("guessed", &body);
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", "d1"),
        ("X-Hub-Signature-256", wrong.as_str()),
    ];
    let mut answers = Vec::new();
    for path in ["/webhooks/nosuch", "/webhooks/nosecret", "/webhooks/acme"] {
        answers.push(post(&engine, path, &headers, body.clone()).await);
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "a stranger cannot tell which syncs exist: {answers:?}"
    );
}

/// A body that sends `first` and then never ends, as a stalled upload.
fn stalled(first: Vec<u8>) -> Body {
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(first) })
        .chain(futures::stream::pending());
    Body::from_stream(stream)
}

fn request(path: &str, headers: &[(&str, &str)], body: Body) -> Request<Body> {
    let mut request = Request::post(path).header("Content-Type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.body(body).unwrap()
}

#[tokio::test]
async fn unsigned_delivery_is_refused_before_its_body_arrives() {
    let (engine, _dir) = engine(ProviderKind::Github, "s3cret");
    let unsigned = answer_to_stalled(&engine, &[("X-GitHub-Event", "push")]).await;
    assert_eq!(unsigned, StatusCode::UNAUTHORIZED);
    let (gitlab, _gitlab_dir) = engine_with_gitlab_token();
    let wrong_token = [("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "wrong")];
    let refused = answer_to_stalled(&gitlab, &wrong_token).await;
    assert_eq!(
        refused,
        StatusCode::UNAUTHORIZED,
        "refused from the headers"
    );
}

/// The status of a delivery whose body stalls after 1 KiB; fails the test
/// when the receiver waits for the rest instead of answering.
async fn answer_to_stalled(engine: &EngineHandle, headers: &[(&str, &str)]) -> StatusCode {
    let answer = router(engine.clone()).oneshot(request(
        "/webhooks/acme",
        headers,
        stalled(vec![b' '; 1024]),
    ));
    tokio::time::timeout(std::time::Duration::from_secs(10), answer)
        .await
        .expect("answered without waiting for the body")
        .unwrap()
        .status()
}

fn engine_with_gitlab_token() -> (EngineHandle, tempfile::TempDir) {
    engine(ProviderKind::Gitlab, "gitlab-token")
}

#[tokio::test(start_paused = true)]
async fn stalled_signed_uploads_hold_only_a_few_body_slots() {
    let (engine, _dir) = engine(ProviderKind::Github, "s3cret");
    let app = router(engine);
    // Anyone can send a signature header; the body decides.
    let forged = hub_signature("guessed", b"");
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", forged.as_str()),
    ];
    let mut stalled_uploads = Vec::new();
    for _ in 0..BODIES_IN_FLIGHT {
        let call = app.clone().oneshot(request(
            "/webhooks/acme",
            &headers,
            stalled(vec![b' '; 1 << 20]),
        ));
        stalled_uploads.push(tokio::spawn(call));
    }
    // The clock only moves once every upload waits on its body, in its slot.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let next = app.clone().oneshot(request(
        "/webhooks/acme",
        &headers,
        stalled(vec![b' '; 1 << 20]),
    ));
    let next = tokio::time::timeout(std::time::Duration::from_secs(60), next)
        .await
        .expect("turned away rather than left waiting")
        .unwrap();
    assert_eq!(next.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(next.headers().contains_key("retry-after"));
    for upload in &stalled_uploads {
        assert!(
            !upload.is_finished(),
            "the stalled uploads are still being read"
        );
    }
    for upload in stalled_uploads {
        upload.abort();
    }
    // Their slots are free again once they are gone.
    let body = fixture("github/webhooks/ping.json");
    let signature = hub_signature("s3cret", &body);
    let good = [
        ("X-GitHub-Event", "ping"),
        ("X-Hub-Signature-256", signature.as_str()),
    ];
    let response = app
        .oneshot(request("/webhooks/acme", &good, Body::from(body)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn gitlab_deliveries_are_deduplicated_on_idempotency_key_not_event_uuid() {
    let (engine, _dir) = engine_with_gitlab_token();
    let body = fixture("gitlab/webhooks/push.json");
    let event_uuid = "ee8d97b4-1479-43f1-9cac-fbbd1b80da55";
    let delivery = |webhook_uuid: &'static str, key: Option<&'static str>| {
        let mut h = vec![
            ("X-Gitlab-Event", "Push Hook"),
            ("X-Gitlab-Token", "gitlab-token"),
            ("X-Gitlab-Event-UUID", event_uuid),
            ("X-Gitlab-Webhook-UUID", webhook_uuid),
        ];
        h.extend(key.map(|k| ("Idempotency-Key", k)));
        h
    };
    // Two deliveries caused by one request share the Event-UUID.
    let (first, _) = post(
        &engine,
        "/webhooks/acme",
        &delivery("w-1", None),
        body.clone(),
    )
    .await;
    let (second, said) = post(
        &engine,
        "/webhooks/acme",
        &delivery("w-2", None),
        body.clone(),
    )
    .await;
    assert_eq!(
        (first, second),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED),
        "{said}"
    );
    // A retry keeps its Idempotency-Key (GitLab 17.4+), whatever else changes.
    let (first, _) = post(
        &engine,
        "/webhooks/acme",
        &delivery("w-3", Some("k-1")),
        body.clone(),
    )
    .await;
    let (retry, said) = post(
        &engine,
        "/webhooks/acme",
        &delivery("w-4", Some("k-1")),
        body.clone(),
    )
    .await;
    assert_eq!(first, StatusCode::ACCEPTED);
    assert!(
        retry == StatusCode::OK && said.contains("duplicate"),
        "{said}"
    );
    // Without the key, the Webhook-UUID names the delivery.
    let (again, said) = post(&engine, "/webhooks/acme", &delivery("w-1", None), body).await;
    assert!(
        again == StatusCode::OK && said.contains("duplicate"),
        "{said}"
    );
}
