//! Config files as an admin writes them: every `tests/configs/valid/*.toml`
//! loads, every `tests/configs/invalid/*.toml` fails with the text of each of
//! its `# expect: …` lines. Also the documented example, the data dir
//! environment variable and the log file.
//!
//! Tests here read or change process environment variables, so each one holds
//! [`ENV`] for its whole run.

use packyard::config::{Config, DATA_DIR_ENV, DistsSection, SyncDefaults, init_logging};
use packyard::domain::{GithubApi, Prefetch};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

static ENV: Mutex<()> = Mutex::new(());

/// Locks the environment and clears the variables config reads.
fn env_lock() -> MutexGuard<'static, ()> {
    let guard = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // SAFETY: every test in this binary holds `ENV` while it touches or reads
    // the environment, so no other thread reads it concurrently.
    unsafe {
        std::env::remove_var(DATA_DIR_ENV);
        std::env::remove_var("RUST_LOG");
    }
    guard
}

fn configs(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(kind);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("configs dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no configs in {}", dir.display());
    files
}

#[test]
fn valid_configs_load() {
    let _env = env_lock();
    for file in configs("valid") {
        if let Err(e) = Config::load(Some(&file), None) {
            panic!("{} should load: {e}", file.display());
        }
    }
}

#[test]
fn invalid_configs_fail_with_the_expected_message() {
    let _env = env_lock();
    for file in configs("invalid") {
        let bytes = std::fs::read(&file).expect("read config");
        let text = String::from_utf8_lossy(&bytes);
        let expected: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect: "))
            .collect();
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let message = match Config::load(Some(&file), Some("/unused".into())) {
            Ok(config) => panic!("{} should fail, loaded {config:?}", file.display()),
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains(&*file.to_string_lossy()),
            "error does not name the file: {message}"
        );
        for want in expected {
            assert!(
                message.contains(want),
                "{}: expected {want:?} in: {message}",
                file.display()
            );
        }
    }
}

#[test]
fn full_config_sets_every_field() {
    let _env = env_lock();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/valid/full.toml");
    let config = Config::load(Some(&file), None).expect("load");
    assert_eq!(
        config,
        Config {
            listen: "0.0.0.0:9090".parse().expect("addr"),
            public_url: Some("https://packages.example.com".into()),
            trusted_proxies: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            data_dir: "/var/lib/packyard".into(),
            log_level: "info,packyard=debug".into(),
            sync: SyncDefaults {
                concurrency: 32,
                timeout_secs: 60,
                max_attempts: 2,
                max_rate_limit_wait_secs: 0,
                budget_reserve_percent: 25,
                resync_interval_minutes: 0,
                github_api: GithubApi::Rest,
            },
            dists: DistsSection {
                prefetch: Prefetch::All,
                keep_branch_dists_days: 7,
            },
        }
    );
    assert_eq!(config.public_url(), "https://packages.example.com");
}

#[test]
fn relative_data_dir_is_relative_to_the_config_file() {
    let _env = env_lock();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/valid");
    let config = Config::load(Some(&dir.join("relative_data_dir.toml")), None).expect("load");
    assert_eq!(config.data_dir, dir.join("state/packyard"));
}

#[test]
fn example_config_documents_every_key_with_its_default() {
    let _env = env_lock();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let config = Config::load(Some(&file), Some("/flag".into())).expect("example loads");
    assert_eq!(config, Config::with_data_dir("/flag".into()));
    let text = std::fs::read_to_string(&file).expect("read example");
    for key in [
        "data_dir",
        "log_level",
        "[server]",
        "listen",
        "public_url",
        "[sync]",
        "concurrency",
        "timeout_secs",
        "max_attempts",
        "max_rate_limit_wait_secs",
        "budget_reserve_percent",
        "resync_interval_minutes",
        "github_api",
    ] {
        assert!(text.contains(key), "config.example.toml lacks {key}");
    }
}

#[test]
fn data_dir_env_beats_the_file_and_the_flag_beats_both() {
    let _env = env_lock();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs/valid/full.toml");
    // SAFETY: `_env` is held, see `env_lock`.
    unsafe { std::env::set_var(DATA_DIR_ENV, "/from/env") };
    let from_env = Config::load(Some(&file), None).expect("load").data_dir;
    let from_flag = Config::load(Some(&file), Some("/from/flag".into()))
        .expect("load")
        .data_dir;
    // SAFETY: as above.
    unsafe { std::env::remove_var(DATA_DIR_ENV) };
    assert_eq!(from_env, Path::new("/from/env"));
    assert_eq!(from_flag, Path::new("/from/flag"));
}

#[test]
fn invalid_rust_log_is_reported() {
    let _env = env_lock();
    let tmp = tempfile::tempdir().expect("tempdir");
    // SAFETY: `_env` is held, see `env_lock`.
    unsafe { std::env::set_var("RUST_LOG", "packyard=loudest") };
    let result = init_logging(tmp.path(), "info");
    // SAFETY: as above.
    unsafe { std::env::remove_var("RUST_LOG") };
    let message = result.expect_err("bad RUST_LOG").to_string();
    assert!(message.contains("RUST_LOG"), "{message}");
}

/// The only test in this binary that installs the global logger.
#[test]
fn logs_go_to_a_daily_file_without_colours() {
    let _env = env_lock();
    let tmp = tempfile::tempdir().expect("tempdir");
    let guard = init_logging(tmp.path(), "info").expect("init logging");
    tracing::info!(answer = 42, "hello from the config test");
    tracing::debug!("filtered out at info");
    drop(guard);

    let logs: Vec<PathBuf> = std::fs::read_dir(tmp.path().join("logs"))
        .expect("logs dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let name = logs[0].file_name().expect("name").to_string_lossy();
    let date = name.strip_prefix("packyard.log.").expect("log file prefix");
    assert!(
        date.len() == 10 && date.chars().all(|c| c.is_ascii_digit() || c == '-'),
        "{name}"
    );
    let text = std::fs::read_to_string(&logs[0]).expect("read log");
    assert!(text.contains("hello from the config test"), "{text}");
    assert!(text.contains("answer=42"), "{text}");
    assert!(!text.contains("filtered out"), "{text}");
    assert!(!text.contains('\u{1b}'), "ANSI escape in log file: {text}");
}
