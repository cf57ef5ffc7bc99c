//! The `packyard` binary as an admin uses it: what it prints, what it saves,
//! and how it fails. Runs against the simulated GitHub; needs no Composer.

mod support;

use packyard::simulate::{GithubSim, Scenario};
use support::{Served, ok, packyard, stderr, stdout, sync_add};

const SCENARIO: &str = include_str!("../assets/demo-github.toml");

async fn sim() -> GithubSim {
    GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap()
}

fn add(data: &std::path::Path, sim: &GithubSim, org: &str, token: &str) -> std::process::Output {
    sync_add(data, &sim.api_url(), org, token).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_add_saves_nothing_when_host_rejects_token_or_org() {
    let sim = sim().await;
    let data = tempfile::tempdir().unwrap();
    let bad = add(data.path(), &sim, "acme", "ghp_wrong");
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("rejected the credentials (HTTP 401"),
        "{}",
        stderr(&bad)
    );
    assert!(
        !stderr(&bad).contains("ghp_wrong"),
        "the token never appears in errors"
    );
    let missing = add(data.path(), &sim, "nosuch", &sim.token());
    assert!(
        stderr(&missing).contains("organization \"nosuch\" was not found"),
        "{}",
        stderr(&missing)
    );
    let listed = ok(packyard(data.path()).args(["sync", "list", "--json"]));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&listed.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_run_lists_packages_and_teams_when_org_is_synced() {
    let sim = sim().await;
    let data = tempfile::tempdir().unwrap();
    assert!(
        add(data.path(), &sim, "acme", &sim.token())
            .status
            .success()
    );
    let run = ok(packyard(data.path()).args(["sync", "run", "acme"]));
    assert!(stdout(&run).contains("packages +10"), "{}", stdout(&run));
    assert!(
        stdout(&run).contains("payments-sdk @ v0.9.0: composer.json is invalid"),
        "{}",
        stdout(&run)
    );

    let packages: serde_json::Value = serde_json::from_slice(
        &ok(packyard(data.path()).args(["package", "list", "--json"])).stdout,
    )
    .unwrap();
    let names: Vec<&str> = packages
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 10);
    assert!(names.contains(&"acme/http-client") && !names.contains(&"acme/handbook"));
    let log = packages
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "acme/log")
        .unwrap();
    assert_eq!(log["latest"], "v1.1.0", "a beta is not the latest release");

    let teams: serde_json::Value =
        serde_json::from_slice(&ok(packyard(data.path()).args(["team", "list", "--json"])).stdout)
            .unwrap();
    let platform = teams
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == "platform")
        .unwrap();
    assert_eq!(platform["members"].as_object().unwrap().len(), 3);

    let again = ok(packyard(data.path()).args(["sync", "run", "acme"]));
    assert!(stdout(&again).contains("up to date"), "{}", stdout(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_printed_once_and_revocation_needs_yes_when_not_on_a_terminal() {
    let data = tempfile::tempdir().unwrap();
    let created = ok(packyard(data.path()).args(["token", "create", "--org-wide", "--name", "ci"]));
    let secret = stdout(&created).trim().to_owned();
    assert!(
        secret.starts_with("pky_") && !secret.contains(char::is_whitespace),
        "only the token on stdout: {secret:?}"
    );
    let list = ok(packyard(data.path()).args(["token", "list", "--json"]));
    assert!(
        !stdout(&list).contains(&secret[4..]),
        "token list never shows the secret"
    );
    let tokens: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let id = tokens[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(tokens[0]["label"], "ci");
    assert!(tokens[0].get("hash").is_none());

    let refused = packyard(data.path())
        .args(["token", "revoke", &id])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("pass --yes"),
        "{}",
        stderr(&refused)
    );
    ok(packyard(data.path()).args(["token", "revoke", &id, "--yes"]));
    let list = ok(packyard(data.path()).args(["token", "list", "--json"]));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&list.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[tokio::test]
async fn commands_attach_and_a_second_serve_is_refused_when_serve_runs() {
    let data = tempfile::tempdir().unwrap();
    let served = Served::start(data.path());
    let listed = ok(packyard(data.path()).args(["package", "list", "--json"]));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&listed.stdout).unwrap(),
        serde_json::json!([])
    );
    let second = packyard(data.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("in use by another packyard process"),
        "{}",
        stderr(&second)
    );
    let health = reqwest::get(format!("{}/health", served.url))
        .await
        .unwrap();
    assert!(health.status().is_success());
    let unauthenticated = reqwest::get(format!("{}/packages.json", served.url))
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let status = served.terminate();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    ok(packyard(data.path()).args(["package", "list"]));
}

#[test]
fn bad_config_file_is_reported_with_file_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("packyard.toml");
    std::fs::write(
        &file,
        "log_level = \"info\"\n[server]\nlistn = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    let out = packyard(dir.path())
        .arg("--config")
        .arg(&file)
        .args(["sync", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("packyard.toml") && err.contains("line 3") && err.contains("listn"),
        "{err}"
    );
}

#[test]
fn unusable_data_dir_is_reported_with_its_path_when_it_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let data = file.join("data");
    let out = packyard(&data).args(["sync", "list"]).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&data.display().to_string()) && err.contains("--data-dir"),
        "{err}"
    );
}

#[test]
fn list_commands_end_quietly_when_the_reader_closes_the_pipe() {
    let data = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_packyard");
    for list in [
        "sync list",
        "package list",
        "team list",
        "user list",
        "token list",
        "user list --json",
    ] {
        // `true` exits before packyard writes, as `head -1` does after its line.
        let script =
            format!("set -o pipefail; (sleep 0.3; exec \"$0\" --data-dir \"$1\" {list}) | true");
        let out = std::process::Command::new("bash")
            .args(["-c", &script, bin])
            .arg(data.path())
            .env_remove("PACKYARD_DATA_DIR")
            .env_remove("PACKYARD_KEY_FILE")
            .output()
            .unwrap();
        assert!(
            out.status.success() && !stderr(&out).contains("panicked"),
            "{list}: {}\n{}",
            out.status,
            stderr(&out)
        );
    }
}

#[test]
fn token_expiry_far_in_the_future_is_refused_instead_of_wrapping() {
    let data = tempfile::tempdir().unwrap();
    for days in ["9223372036854775807d", "40000d"] {
        let out = packyard(data.path())
            .args(["token", "create", "--org-wide", "--expires", days])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{days}");
        assert!(
            stderr(&out).contains("too far ahead: at most 36500"),
            "{days}: {}",
            stderr(&out)
        );
    }
    let out =
        ok(packyard(data.path()).args(["token", "create", "--org-wide", "--expires", "36500d"]));
    assert!(!stdout(&out).trim().is_empty());
}

#[test]
fn new_token_is_recognisable_by_prefix_and_checksum() {
    let data = tempfile::tempdir().unwrap();
    let out = ok(packyard(data.path()).args(["token", "create", "--org-wide"]));
    let token = stdout(&out).trim().to_owned();
    assert_eq!(
        packyard::domain::token_shape(&token),
        packyard::domain::TokenShape::Checksummed,
        "{token}"
    );
    assert!(token.starts_with("pky_") && token.len() == 76, "{token}");
}
