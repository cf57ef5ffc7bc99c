//! Access changes reach Composer on the very next request: against a
//! running `packyard serve`, a token revoked or a membership removed at the
//! host (and synced) is refused by the first request after the admin
//! command returned, with no delay in between. Also HTTP/2 cleartext with
//! a real client.

mod support;

use packyard::simulate::{GithubSim, Scenario};
use reqwest::StatusCode;
use support::{Served, ok, packyard, stdout, sync_add};

const SCENARIO: &str = r#"
token = "ghp_stale0000000000000000000000000000000000"
[org]
login = "acme"
[[members]]
login = "root"
role = "admin"
[[members]]
login = "alice"
[[teams]]
slug = "alpha"
name = "Alpha"
members = ["alice"]
repos = { a = "pull" }
[[repos]]
name = "a"
tags = ["v1.0.0"]
composer = { name = "acme/a" }
"#;

struct Setup {
    sim: GithubSim,
    _tmp: tempfile::TempDir,
    data: std::path::PathBuf,
    served: Served,
}

/// The scenario synced, then served.
async fn setup() -> Setup {
    let sim = GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&mut sync_add(&data, &sim.api_url(), "acme", &sim.token()));
    ok(packyard(&data).args(["sync", "run", "acme"]));
    let served = Served::start(&data);
    Setup {
        sim,
        _tmp: tmp,
        data,
        served,
    }
}

/// A token created through the running daemon.
fn token(data: &std::path::Path, scope: &[&str]) -> String {
    let out = ok(packyard(data)
        .args(["token", "create", "--name", "t"])
        .args(scope));
    stdout(&out).trim().to_owned()
}

async fn get(client: &reqwest::Client, url: &str, token: &str) -> reqwest::Response {
    client
        .get(url)
        .basic_auth("composer", Some(token))
        .send()
        .await
        .unwrap()
}

async fn status(client: &reqwest::Client, url: &str, token: &str) -> StatusCode {
    get(client, url, token).await.status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_gets_401_on_the_next_request() {
    let s = setup().await;
    let secret = token(&s.data, &["--org-wide"]);
    let client = reqwest::Client::new();
    let url = format!("{}/p2/acme/a.json", s.served.url);
    assert_eq!(status(&client, &url, &secret).await, StatusCode::OK);
    let id = &packyard::store::token_hash(&secret)[..12];
    ok(packyard(&s.data).args(["token", "revoke", id, "--yes"]));
    assert_eq!(
        status(&client, &url, &secret).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_removed_at_the_host_gets_404_on_the_next_request_after_the_run() {
    let s = setup().await;
    let alice = token(&s.data, &["--user", "alice"]);
    let client = reqwest::Client::new();
    let url = format!("{}/p2/acme/a.json", s.served.url);
    assert_eq!(status(&client, &url, &alice).await, StatusCode::OK);
    s.sim.remove_team_member("alpha", "alice").unwrap();
    ok(packyard(&s.data).args(["sync", "run", "acme"]));
    assert_eq!(status(&client, &url, &alice).await, StatusCode::NOT_FOUND);
    let listed: serde_json::Value =
        get(&client, &format!("{}/packages.json", s.served.url), &alice)
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(listed["available-packages"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_served_over_http2_cleartext_with_prior_knowledge() {
    let s = setup().await;
    let secret = token(&s.data, &["--org-wide"]);
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for path in ["/packages.json", "/p2/acme/a.json"] {
        let response = client
            .get(format!("{}{path}", s.served.url))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_2, "{path}");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let doc: serde_json::Value = response.json().await.unwrap();
        assert!(doc.get("packages").is_some(), "{path}: {doc}");
    }
    // HTTP/1.1 on the same port still works.
    let http1 = reqwest::Client::builder().http1_only().build().unwrap();
    let response = http1
        .get(format!("{}/packages.json", s.served.url))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    assert_eq!(response.status(), StatusCode::OK);
}
