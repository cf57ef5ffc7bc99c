//! Smoke run of the real dashboard in tmux: `packyard demo` starts, the
//! panes switch, the package filter narrows the list, a sync run started
//! with `r` finishes, and a delete dialog opens and is cancelled. `packyard`
//! attaches to a running `serve` and shows a run another admin started.
//! Also: without a terminal, `packyard` says what to do instead.
//!
//! Without tmux the test reports a skip, unless `PACKYARD_REQUIRE_TMUX=1`
//! (as in CI), where a missing tmux is a failure.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Longest wait for the screen to show something.
const WAIT: Duration = Duration::from_secs(20);

/// A tmux server of our own (its socket in a temporary directory), killed
/// on drop, so the test never touches the developer's sessions and leaves
/// neither a server nor a socket behind.
struct Tmux {
    socket: tempfile::TempDir,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(self.socket.path().join("tmux.sock"))
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Runs `packyard --data-dir DATA_DIR {args}` in a new session.
    fn start(data_dir: &Path, args: &str) -> Tmux {
        let tmux = Tmux {
            socket: tempfile::tempdir().expect("temp dir for the tmux socket"),
        };
        let command = format!(
            "env -u RUST_LOG -u PACKYARD_DATA_DIR '{}' --data-dir '{}' {args}",
            env!("CARGO_BIN_EXE_packyard"),
            data_dir.display()
        );
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "-s",
            "demo",
            &command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "demo"]).stdout)
            .into_owned()
    }

    /// Sends one key (a tmux key name such as `Enter`, or literal text).
    fn send(&self, key: &str) {
        let out = self.run(&["send-keys", "-t", "demo", key]);
        assert!(out.status.success(), "tmux send-keys {key}: {out:?}");
        // A lone Escape followed at once by another key reads as Alt+key.
        std::thread::sleep(Duration::from_millis(150));
    }

    /// Polls the screen until `ready` holds; fails with the last screen.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if started.elapsed() > WAIT {
                panic!("waited {WAIT:?} for {what}; the screen shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "demo"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn tmux_available() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("PACKYARD_REQUIRE_TMUX").as_deref() != Ok("1"),
            "tmux is not installed but PACKYARD_REQUIRE_TMUX=1: install tmux (apt-get install tmux)"
        );
        eprintln!(
            "skipped: tmux is not installed (set PACKYARD_REQUIRE_TMUX=1 to make this a failure)"
        );
    }
    found
}

/// UTC time of day in seconds, as the Activity pane prints it.
fn seconds_of_day() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    now.as_secs() % 86_400
}

/// Whether the Activity pane shows `text` logged at or after `since`
/// (lines start with `HH:MM:SS`).
fn logged_since(screen: &str, text: &str, since: u64) -> bool {
    screen.lines().filter(|l| l.contains(text)).any(|line| {
        let mut parts = line
            .get(..8)
            .unwrap_or("")
            .split(':')
            .map(|p| p.parse::<u64>());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Ok(h)), Some(Ok(m)), Some(Ok(s))) => {
                let at = h * 3600 + m * 60 + s;
                // Past midnight the clock restarts at 0.
                at >= since || since - at > 43_200
            }
            _ => false,
        }
    })
}

#[test]
fn demo_dashboard_switches_panes_filters_runs_and_cancels_a_delete() {
    if !tmux_available() {
        return;
    }
    let data = tempfile::tempdir().expect("temp dir");
    let tmux = Tmux::start(data.path(), "demo");

    tmux.wait_for("the Synchronizations pane after the first run", |s| {
        s.contains("1 Synchronizations") && s.contains("acme-github") && s.contains("Last run")
    });

    tmux.send("3");
    tmux.wait_for("the Packages pane", |s| {
        s.contains("/ filter:") && s.contains("acme/cache") && s.contains("acme/log")
    });
    tmux.send("/");
    tmux.send("log");
    tmux.send("Enter");
    tmux.wait_for("the filtered package list", |s| {
        s.contains("acme/log") && !s.contains("acme/cache") && s.contains("1 of ")
    });

    tmux.send("2");
    tmux.wait_for("the Teams pane", |s| s.contains("Teams of all syncs"));
    tmux.send("4");
    tmux.wait_for("the Users & tokens pane", |s| {
        s.contains("Users (") && s.contains("Tokens (")
    });

    tmux.send("5");
    tmux.wait_for("the Activity pane", |s| s.contains("sync finished"));
    tmux.send("1");
    let pressed = seconds_of_day();
    tmux.send("r");
    tmux.wait_for("the run to start", |s| s.contains("Starting acme-github"));
    tmux.send("5");
    tmux.wait_for("a run to finish after r", |s| {
        logged_since(s, "acme-github: sync started", pressed)
            && logged_since(s, "acme-github: sync finished", pressed)
    });

    tmux.send("1");
    tmux.send("d");
    tmux.wait_for("the delete dialog", |s| {
        s.contains("Delete synchronization acme-github?") && s.contains("Keeps ")
    });
    tmux.send("Enter");
    tmux.wait_for("Enter to be refused", |s| {
        s.contains("Enter does not confirm")
    });
    tmux.send("Escape");
    tmux.wait_for("the dialog to close", |s| {
        !s.contains("Delete synchronization") && s.contains("★ acme-github")
    });

    tmux.send("q");
    let started = Instant::now();
    while tmux.alive() && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !tmux.alive(),
        "q did not quit the dashboard:\n{}",
        tmux.screen()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_attaches_to_serve_and_shows_a_run_another_admin_started() {
    if !tmux_available() {
        return;
    }
    let sim = packyard::simulate::GithubSim::start(
        packyard::simulate::Scenario::from_toml_str(include_str!("../assets/demo-github.toml"))
            .expect("demo scenario"),
    )
    .await
    .expect("simulated GitHub starts");
    let data = tempfile::tempdir().expect("temp dir");
    support::ok(&mut support::sync_add(
        data.path(),
        &sim.api_url(),
        "acme",
        &sim.token(),
    ));
    let served = support::Served::start(data.path());
    let tmux = Tmux::start(data.path(), "");
    tmux.wait_for("the attached dashboard", |s| {
        s.contains("attached to daemon") && s.contains("acme")
    });
    tmux.send("5");
    let started = seconds_of_day();
    let mut run = support::packyard(data.path());
    run.args(["sync", "run", "acme"]);
    let ran = tokio::task::spawn_blocking(move || support::ok(&mut run))
        .await
        .expect("sync run");
    assert!(support::stdout(&ran).contains("packages +10"));
    tmux.wait_for("the run the CLI started", |s| {
        logged_since(s, "acme: sync started", started)
            && logged_since(s, "acme: sync finished", started)
    });
    tmux.send("q");
    let quit = Instant::now();
    while tmux.alive() && quit.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!tmux.alive(), "q did not quit:\n{}", tmux.screen());
    // Quitting an attached dashboard leaves the daemon serving.
    support::ok(support::packyard(data.path()).args(["sync", "list"]));
    assert!(data.path().join("packyard.sock").exists());
    assert!(served.terminate().success());
}

#[test]
fn dashboard_says_what_to_do_when_not_on_a_terminal() {
    let data = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_packyard"))
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("PACKYARD_DATA_DIR")
        .output()
        .expect("run packyard");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("needs a terminal") && stderr.contains("packyard --help"),
        "{stderr}"
    );
}
