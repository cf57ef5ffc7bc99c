//! Helpers shared by the integration tests: running the `packyard` binary,
//! a `packyard serve` child process, and the real Composer client.

#![allow(dead_code)] // each test binary uses a different subset

pub mod deliveries;
pub mod hosts;
pub mod snapshots;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The packyard binary with `--data-dir`, and the given env.
pub fn packyard(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_packyard"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env_remove("PACKYARD_DATA_DIR")
        .env_remove("RUST_LOG")
        .env_remove("PACKYARD_KEY_FILE")
        .env_remove("CREDENTIALS_DIRECTORY");
    cmd
}

/// `sync add github --name acme` for `org` at `api_url`, the token passed
/// through the environment as an admin would.
pub fn sync_add(data_dir: &Path, api_url: &str, org: &str, token: &str) -> Command {
    let mut cmd = packyard(data_dir);
    cmd.args([
        "sync",
        "add",
        "github",
        "--name",
        "acme",
        "--org",
        org,
        "--api-url",
        api_url,
        "--token-env",
        "SIM_TOKEN",
    ])
    .env("SIM_TOKEN", token);
    cmd
}

/// Runs a command and returns its output, failing the test with both streams
/// when it does not succeed.
pub fn ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A running `packyard serve`, killed on drop.
pub struct Served {
    child: Child,
    pub url: String,
}

impl Served {
    /// Starts `packyard serve` on an ephemeral port and waits until it listens.
    pub fn start(data_dir: &Path) -> Served {
        Served::start_with(data_dir, &["--listen", "127.0.0.1:0"])
    }

    /// Starts `packyard serve` on a free port that is also its public URL,
    /// so code hosts can be given webhook URLs before it starts.
    pub fn start_public(data_dir: &Path) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let listen = format!("127.0.0.1:{port}");
        let public = format!("http://{listen}");
        Served::start_with(data_dir, &["--listen", &listen, "--public-url", &public])
    }

    fn start_with(data_dir: &Path, args: &[&str]) -> Served {
        let mut child = packyard(data_dir)
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start packyard serve");
        let stdout = child.stdout.take().expect("serve stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read serve banner");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("serve printed no URL: {line:?}"))
            .trim_end_matches(['.', ','])
            .to_owned();
        Served { child, url }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        self.child.wait().expect("serve exits")
    }

    /// `host:port`, the key Composer's auth.json uses for this server.
    pub fn origin(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the real `composer` can be used. Without it the caller skips,
/// unless `PACKYARD_REQUIRE_COMPOSER=1`, in which case the test fails.
pub fn composer_available(test: &str) -> bool {
    let found = Command::new("composer")
        .arg("--version")
        .env("COMPOSER_ALLOW_SUPERUSER", "1")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("PACKYARD_REQUIRE_COMPOSER").as_deref() != Ok("1"),
            "{test}: `composer` is not installed but PACKYARD_REQUIRE_COMPOSER=1 (apt-get install -y composer php-zip unzip)"
        );
        eprintln!(
            "SKIPPED {test}: `composer` is not installed (apt-get install -y composer php-zip unzip)"
        );
    }
    found
}

/// A Composer project directory that uses only the given packyard server,
/// with its own COMPOSER_HOME and cache so runs do not share state.
pub struct Project {
    pub dir: PathBuf,
    home: PathBuf,
}

impl Project {
    pub fn new(root: &Path, name: &str, served: &Served, token: &str) -> Project {
        let dir = root.join(name);
        let home = root.join(format!("{name}-home"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let composer = serde_json::json!({
            "name": "test/app",
            "repositories": [{"type": "composer", "url": served.url}, {"packagist.org": false}],
            "config": {"secure-http": false},
            "minimum-stability": "stable",
        });
        std::fs::write(
            dir.join("composer.json"),
            serde_json::to_vec_pretty(&composer).unwrap(),
        )
        .unwrap();
        let auth = serde_json::json!({"http-basic": {served.origin(): {"username": "token", "password": token}}});
        std::fs::write(
            dir.join("auth.json"),
            serde_json::to_vec_pretty(&auth).unwrap(),
        )
        .unwrap();
        Project { dir, home }
    }

    pub fn composer(&self, args: &[&str]) -> Output {
        Command::new("composer")
            .args(args)
            .args(["--no-interaction", "--no-progress", "--no-ansi"])
            .current_dir(&self.dir)
            .env("COMPOSER_HOME", &self.home)
            .env("COMPOSER_CACHE_DIR", self.home.join("cache"))
            .env("COMPOSER_ALLOW_SUPERUSER", "1")
            .env_remove("COMPOSER_AUTH")
            .output()
            .expect("run composer")
    }

    pub fn lock(&self) -> serde_json::Value {
        serde_json::from_slice(
            &std::fs::read(self.dir.join("composer.lock")).expect("composer.lock"),
        )
        .unwrap()
    }
}
