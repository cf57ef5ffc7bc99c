//! What a careless admin's data dir gives away: nothing. Credentials are
//! sealed with a key outside the store, the data dir is private whatever
//! created it, and the key can be rotated or kept elsewhere.

mod support;

use packyard::simulate::{GithubSim, Scenario};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use support::{ok, packyard, stderr, sync_add};

const SCENARIO: &str = include_str!("../assets/demo-github.toml");

async fn sim() -> GithubSim {
    GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(p) = pending.pop() {
        if p.is_dir() {
            pending.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
        out.push(p);
    }
    out
}

/// `grep -ra SECRET DIR/store`.
fn store_holds(data: &Path, secret: &str) -> bool {
    files(&data.join("store"))
        .iter()
        .filter(|p| p.is_file())
        .any(|p| {
            std::fs::read(p)
                .unwrap()
                .windows(secret.len())
                .any(|w| w == secret.as_bytes())
        })
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn log_text(data: &Path) -> String {
    files(&data.join("logs"))
        .iter()
        .filter(|p| p.is_file())
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_not_in_the_store_files_when_data_dir_was_made_world_readable() {
    let sim = sim().await;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("packyard");
    // As `mkdir /var/lib/packyard` or a StateDirectory= without a mode gives it.
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    ok(&mut sync_add(&data, &sim.api_url(), "acme", &sim.token()));
    ok(packyard(&data).args(["sync", "run", "acme"]));
    assert!(!store_holds(&data, &sim.token()), "the token is sealed");
    for path in files(&data) {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(&path), expected, "{}", path.display());
    }
    assert!(
        log_text(&data).contains("made the data directory private"),
        "the fix is logged"
    );

    let rotated = ok(packyard(&data).args(["store", "rotate-key"]));
    assert!(stderr(&rotated).contains("new key"), "{}", stderr(&rotated));
    let run = ok(packyard(&data).args(["sync", "run", "acme"]));
    assert!(
        run.status.success(),
        "the credential opens with the new key"
    );
    assert!(!store_holds(&data, &sim.token()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_file_outside_the_data_dir_is_needed_to_use_the_credentials() {
    let sim = sim().await;
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("packyard.key");
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    ok(sync_add(data.path(), &sim.api_url(), "acme", &sim.token()).env("PACKYARD_KEY_FILE", &key));
    assert!(
        !data.path().join("store.key").exists(),
        "no key is kept beside the store"
    );

    let without = packyard(data.path())
        .args(["sync", "run", "acme"])
        .output()
        .unwrap();
    assert!(!without.status.success());
    assert!(
        stderr(&without).contains("key packyard does not have"),
        "{}",
        stderr(&without)
    );
    // systemd's LoadCredential=packyard.key:… hands the same file over.
    let with_credential = packyard(data.path())
        .args(["sync", "run", "acme"])
        .env("CREDENTIALS_DIRECTORY", keys.path())
        .output()
        .unwrap();
    assert!(
        with_credential.status.success(),
        "{}",
        stderr(&with_credential)
    );
    let rotate = packyard(data.path())
        .args(["store", "rotate-key"])
        .env("CREDENTIALS_DIRECTORY", keys.path())
        .output()
        .unwrap();
    assert!(!rotate.status.success());
    assert!(
        stderr(&rotate).contains("LoadCredential"),
        "{}",
        stderr(&rotate)
    );
}

#[test]
fn missing_key_file_named_by_the_environment_is_reported_with_its_path() {
    let data = tempfile::tempdir().unwrap();
    let out = packyard(data.path())
        .args(["sync", "list"])
        .env("PACKYARD_KEY_FILE", "/nonexistent/packyard.key")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read the store key /nonexistent/packyard.key"),
        "{}",
        stderr(&out)
    );
}
