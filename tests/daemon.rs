//! `packyard serve` with admins attached over its admin socket: the socket's
//! mode, several clients seeing the same live events, CLI commands attaching
//! instead of failing, clean removal on SIGTERM, and a stale socket replaced.

mod support;

use packyard::admin::{self, AdminClient, AdminError, EngineEvent, EngineSettings};
use packyard::simulate::{GithubSim, Scenario};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;
use support::{Served, ok, packyard, stdout, sync_add};
use tokio::sync::broadcast;

const SCENARIO: &str = include_str!("../assets/demo-github.toml");

/// Long enough for a sync of the demo organization on a loaded CI machine.
const WAIT: Duration = Duration::from_secs(60);

async fn sim() -> GithubSim {
    GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap()
}

/// Runs a CLI command off the async workers, which serve the simulator.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || ok(&mut cmd))
        .await
        .unwrap()
}

/// The events of `sync`'s next run, up to and including `SyncFinished`.
async fn run_events(events: &mut broadcast::Receiver<EngineEvent>) -> Vec<EngineEvent> {
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("event stream stays open");
            let finished = matches!(event, EngineEvent::SyncFinished { .. });
            seen.push(event);
            if finished {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no SyncFinished within {WAIT:?}; saw {seen:?}"));
    seen
}

fn assert_whole_run(events: &[EngineEvent]) {
    let acme = |sync: &packyard::domain::SyncId| sync.as_str() == "acme";
    assert!(
        matches!(events.first(), Some(EngineEvent::SyncStarted { sync }) if acme(sync)),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, EngineEvent::PhaseChanged { sync, .. } if acme(sync))),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(EngineEvent::SyncFinished { sync, summary }) if acme(sync) && summary.error.is_none()),
        "{events:?}"
    );
}

fn socket(data: &Path) -> std::path::PathBuf {
    data.join("packyard.sock")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_clients_see_the_same_run_when_another_admin_starts_it() {
    let sim = sim().await;
    let data = tempfile::tempdir().unwrap();
    run(sync_add(data.path(), &sim.api_url(), "acme", &sim.token())).await;
    let _served = Served::start(data.path());

    let meta = std::fs::symlink_metadata(socket(data.path())).expect("socket file exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // Two admins attached at once, as in two SSH sessions.
    let watcher = admin::attach(data.path())
        .unwrap()
        .expect("serve answers on its socket");
    let other = admin::connect(data.path(), EngineSettings::default()).unwrap();
    let mut seen_by_watcher = watcher.subscribe();
    let mut seen_by_other = other.subscribe();

    // A third admin starts the run from the CLI, which attaches too.
    let mut sync_run = packyard(data.path());
    sync_run.args(["sync", "run", "acme"]);
    let ran = run(sync_run).await;
    assert!(stdout(&ran).contains("packages +10"), "{}", stdout(&ran));
    assert_whole_run(&run_events(&mut seen_by_watcher).await);
    assert_whole_run(&run_events(&mut seen_by_other).await);

    let mut listed = packyard(data.path());
    listed.args(["package", "list", "--json"]);
    let packages: serde_json::Value = serde_json::from_slice(&run(listed).await.stdout).unwrap();
    assert_eq!(packages.as_array().unwrap().len(), 10, "{packages}");
    assert_eq!(other.list_packages(None).await.unwrap().len(), 10);

    // The one secret that comes back over the socket arrives whole.
    let mut created = packyard(data.path());
    created.args(["token", "create", "--org-wide", "--name", "ci"]);
    let token = stdout(&run(created).await).trim().to_owned();
    assert!(token.starts_with("pky_") && token.len() > 20, "{token:?}");
    let tokens = other.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].label, "ci");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_in_process_again_when_serve_stopped_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let served = Served::start(data.path());
    let attached = admin::attach(data.path()).unwrap().expect("attached");
    let mut events = attached.subscribe();
    assert!(attached.list_syncs().await.unwrap().is_empty());

    let status = served.terminate();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    assert!(
        !socket(data.path()).exists(),
        "serve removes its socket on the way out"
    );
    let closed = tokio::time::timeout(WAIT, events.recv()).await.unwrap();
    assert!(
        matches!(closed, Err(broadcast::error::RecvError::Closed)),
        "{closed:?}"
    );
    let gone = attached.list_syncs().await.unwrap_err();
    assert!(matches!(gone, AdminError::DaemonGone { .. }), "{gone:?}");
    assert!(
        gone.to_string().contains("daemon stopped") && gone.to_string().contains("packyard serve"),
        "{gone}"
    );

    assert!(admin::attach(data.path()).unwrap().is_none());
    ok(packyard(data.path()).args(["package", "list"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_socket_is_replaced_when_serve_starts_after_a_crash() {
    let data = tempfile::tempdir().unwrap();
    // What a killed daemon leaves: the file, with nobody accepting on it.
    drop(std::os::unix::net::UnixListener::bind(socket(data.path())).unwrap());
    assert!(socket(data.path()).exists());
    assert!(
        admin::attach(data.path()).unwrap().is_none(),
        "a stale socket is not a daemon"
    );
    // Without a daemon, commands work on the data dir directly.
    ok(packyard(data.path()).args(["sync", "list"]));

    let served = Served::start(data.path());
    let attached = admin::attach(data.path())
        .unwrap()
        .expect("the new daemon answers");
    assert!(attached.list_tokens().await.unwrap().is_empty());
    let mode = std::fs::metadata(socket(data.path()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(served.terminate().success());
    assert!(!socket(data.path()).exists());
}
