//! GitHub App credentials against the GitHub simulator: snapshots through
//! installation tokens, their renewal, clear errors for a wrong app, and the
//! `sync add github --app-id …` CLI. The RSA key is generated at test time.

mod support;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use packyard::domain::{Credential, Secret};
use packyard::providers::github::GithubHost;
use packyard::providers::{
    ClientSettings, CodeHost, HookSpec, MemoryCache, ProgressFn, ProviderError,
};
use packyard::simulate::{GithubSim, Scenario};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use support::{ok, packyard, stderr, stdout};

const EXCHANGE: &str = "/app/installations/{installation_id}/access_tokens";
const APP_ID: u64 = 4242;
const INSTALLATION_ID: u64 = 777;

/// An RSA key pair as PEM: private (PKCS#8) and public (SPKI).
struct TestKey {
    private: String,
    public: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn generate() -> TestKey {
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let private: Pkcs8V1Der = pair.as_der().unwrap();
    let public: PublicKeyX509Der = pair.public_key().as_der().unwrap();
    TestKey {
        private: pem("PRIVATE KEY", private.as_ref()),
        public: pem("PUBLIC KEY", public.as_ref()),
    }
}

/// Key generation is slow in a debug build: one app key and one stranger's
/// key per test binary.
fn app_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(generate)
}

fn other_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(generate)
}

fn demo() -> Scenario {
    Scenario::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/demo-github.toml"
    ))
    .unwrap()
}

async fn sim_with_app(lifetime: Duration) -> GithubSim {
    let sim = GithubSim::start(demo()).await.unwrap();
    sim.install_app(APP_ID, INSTALLATION_ID, &app_key().public, lifetime)
        .unwrap();
    sim
}

fn app(app_id: u64, installation_id: u64, key: &TestKey) -> Credential {
    Credential::GithubApp {
        app_id,
        installation_id,
        private_key: Secret::new(key.private.clone()),
    }
}

fn host(sim: &GithubSim, credential: &Credential) -> GithubHost {
    GithubHost::new(
        &sim.api_url(),
        &sim.org(),
        credential,
        Arc::new(MemoryCache::default()),
        &ClientSettings {
            timeout: Duration::from_secs(10),
            ..ClientSettings::default()
        },
    )
    .unwrap()
}

fn quiet() -> ProgressFn {
    Arc::new(|_| {})
}

/// The private key's base64 body, as it would leak if printed.
fn key_body(key: &TestKey) -> String {
    key.private.lines().nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn snapshot_equals_token_snapshot_when_app_credentials() {
    let sim = sim_with_app(Duration::from_secs(3600)).await;
    let with_app = host(&sim, &app(APP_ID, INSTALLATION_ID, app_key()))
        .snapshot(quiet())
        .await
        .unwrap();
    assert_eq!(sim.stats().route(EXCHANGE), 1, "one token for the run");
    let with_token = host(&sim, &Credential::Token(Secret::new(sim.token())))
        .snapshot(quiet())
        .await
        .unwrap();
    assert_eq!(with_app, with_token);
    assert!(!with_app.repos.items.is_empty());
}

#[tokio::test]
async fn hooks_and_targeted_refreshes_work_when_app_credentials() {
    let sim = sim_with_app(Duration::from_secs(3600)).await;
    let github = host(&sim, &app(APP_ID, INSTALLATION_ID, app_key()));
    let spec = HookSpec {
        url: "https://packyard.example/webhooks/acme".into(),
        secret: Secret::new("hook-secret"),
    };

    let installed = github.ensure_hooks(&spec, &[]).await.unwrap();
    let log = github.fetch_repo("acme/log").await.unwrap().unwrap();
    let team = github.fetch_team("platform").await.unwrap().unwrap();
    github.remove_hooks(&installed).await.unwrap();

    assert!(installed.org.is_some());
    assert!(log.refs.complete && !log.refs.items.is_empty());
    assert_eq!(team[0].slug, "platform");
    assert!(sim.webhooks().all().is_empty());
    assert_eq!(sim.stats().route(EXCHANGE), 1, "one token for all of it");
}

#[tokio::test]
async fn installation_token_is_renewed_when_it_expires_between_snapshots() {
    let sim = sim_with_app(Duration::from_secs(2)).await;
    let host = host(&sim, &app(APP_ID, INSTALLATION_ID, app_key()));
    host.snapshot(quiet()).await.unwrap();
    let first = sim.stats().route(EXCHANGE);
    assert!(first >= 1);
    // Long enough for the two-second token to have expired.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let second = host.snapshot(quiet()).await.unwrap();
    assert!(sim.stats().route(EXCHANGE) > first, "{:?}", sim.stats());
    assert!(second.repos.complete && second.teams.complete);
}

#[tokio::test]
async fn rejected_installation_token_is_replaced_when_host_revokes_it() {
    let sim = sim_with_app(Duration::from_secs(3600)).await;
    let host = host(&sim, &app(APP_ID, INSTALLATION_ID, app_key()));
    host.verify().await.unwrap();
    // Installing the app again forgets every token issued so far.
    sim.install_app(
        APP_ID,
        INSTALLATION_ID,
        &app_key().public,
        Duration::from_secs(3600),
    )
    .unwrap();
    host.verify().await.unwrap();
    assert_eq!(sim.stats().route(EXCHANGE), 2);
}

#[tokio::test]
async fn app_rejected_is_returned_when_app_id_key_or_installation_is_wrong() {
    let sim = sim_with_app(Duration::from_secs(3600)).await;
    for (credential, status) in [
        (app(APP_ID + 1, INSTALLATION_ID, app_key()), 401),
        (app(APP_ID, INSTALLATION_ID, other_key()), 401),
        (app(APP_ID, INSTALLATION_ID + 1, app_key()), 404),
    ] {
        let err = host(&sim, &credential).verify().await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(&err, ProviderError::AppRejected { status: s, .. } if *s == status),
            "{err:?}"
        );
        for part in [
            sim.api_url().trim_start_matches("http://"),
            "app id",
            "installation id",
        ] {
            assert!(text.contains(part), "{text}");
        }
        for key in [app_key(), other_key()] {
            assert!(!text.contains(&key_body(key)) && !format!("{err:?}").contains(&key_body(key)));
        }
    }
    // A snapshot stops at once instead of returning partial listings.
    let err = host(&sim, &app(APP_ID + 1, INSTALLATION_ID, app_key()))
        .snapshot(quiet())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::AppRejected { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_app_key_is_returned_when_key_is_public() {
    let sim = sim_with_app(Duration::from_secs(3600)).await;
    let credential = Credential::GithubApp {
        app_id: APP_ID,
        installation_id: INSTALLATION_ID,
        private_key: Secret::new(app_key().public.clone()),
    };
    let err = GithubHost::new(
        &sim.api_url(),
        &sim.org(),
        &credential,
        Arc::new(MemoryCache::default()),
        &ClientSettings::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, ProviderError::InvalidAppKey { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn debug_output_hides_key_when_app_credentials() {
    let sim = sim_with_app(Duration::from_secs(3600)).await;
    let credential = app(APP_ID, INSTALLATION_ID, app_key());
    let host = host(&sim, &credential);
    host.verify().await.unwrap();
    let body = key_body(app_key());
    for debug in [format!("{credential:?}"), format!("{host:?}")] {
        assert!(!debug.contains(&body) && !debug.contains("ghs_"), "{debug}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_add_with_app_flags_runs_and_never_shows_key_when_app_installed() {
    let sim = sim_with_app(Duration::from_secs(3600)).await;
    let data = tempfile::tempdir().unwrap();
    let key_file = data.path().join("app.pem");
    std::fs::write(&key_file, &app_key().private).unwrap();
    let add = |app_id: u64, key: &std::path::Path| {
        packyard(&data.path().join("data"))
            .args(["sync", "add", "github", "--name", "acme", "--org"])
            .arg(sim.org())
            .arg("--api-url")
            .arg(sim.api_url())
            .args(["--app-id", &app_id.to_string()])
            .args(["--installation-id", &INSTALLATION_ID.to_string()])
            .arg("--private-key-file")
            .arg(key)
            .output()
            .unwrap()
    };
    let body = key_body(app_key());
    let wrong = add(APP_ID + 1, &key_file);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("refused the GitHub App's credentials (HTTP 401"),
        "{}",
        stderr(&wrong)
    );
    assert!(!stderr(&wrong).contains(&body));
    let missing = add(APP_ID, &data.path().join("nosuch.pem"));
    assert!(
        stderr(&missing).contains("cannot read the private key file")
            && stderr(&missing).contains("nosuch.pem"),
        "{}",
        stderr(&missing)
    );
    let public_file = data.path().join("public.pem");
    std::fs::write(&public_file, &app_key().public).unwrap();
    let public = add(APP_ID, &public_file);
    assert!(
        stderr(&public).contains("public.pem is not an RSA private key"),
        "{}",
        stderr(&public)
    );

    let added = ok(packyard(&data.path().join("data"))
        .args(["sync", "add", "github", "--name", "acme", "--org"])
        .arg(sim.org())
        .arg("--api-url")
        .arg(sim.api_url())
        .args(["--app-id", &APP_ID.to_string()])
        .args(["--installation-id", &INSTALLATION_ID.to_string()])
        .arg("--private-key-file")
        .arg(&key_file));
    assert!(
        stdout(&added).contains("Added synchronization acme"),
        "{}",
        stdout(&added)
    );
    let run = ok(packyard(&data.path().join("data")).args(["sync", "run", "acme"]));
    assert!(stdout(&run).contains("packages +10"), "{}", stdout(&run));
    let listed = ok(packyard(&data.path().join("data")).args(["sync", "list", "--json"]));
    for out in [&added, &run, &listed] {
        assert!(
            !stdout(out).contains(&body) && !stderr(out).contains(&body),
            "the key never appears"
        );
        assert!(!stdout(out).contains("ghs_") && !stderr(out).contains("ghs_"));
    }
    assert!(sim.stats().route(EXCHANGE) >= 2, "add verifies, run syncs");
}
