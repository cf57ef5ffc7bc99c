//! packyard's configuration: the optional TOML file, where the data directory
//! is, and logging.
//!
//! # File layout
//! Every key is optional; a file lists only what it changes (see
//! `config.example.toml` for the same keys with explanations):
//! ```toml
//! data_dir = "/var/lib/packyard"   # relative paths resolve against this file's directory
//! log_level = "info"               # error | warn | info | debug | trace | a filter directive
//!
//! [server]
//! listen = "127.0.0.1:8080"
//! public_url = "https://packages.example.com"   # default: http://{listen}
//!
//! [sync]
//! concurrency = 16                 # 1..=256 requests in flight per sync
//! timeout_secs = 30                # 1..=3600
//! max_attempts = 4                 # 1..=10, retries on 5xx and timeouts
//! max_rate_limit_wait_secs = 300   # 0..=86400, longest reset waited for in place
//! budget_reserve_percent = 10      # 0..=90, request budget a full run leaves untouched
//! resync_interval_minutes = 60     # 0..=10080, 0 disables the periodic full resync
//! github_api = "graphql"           # graphql | rest: how GitHub and GHES syncs read
//!
//! [dists]
//! prefetch = "tags-and-default-branch"   # none | tags | tags-and-default-branch | all
//! keep_branch_dists_days = 30      # 0..=3650
//! ```
//! Unknown keys are errors, so a typo never silently falls back to a default.
//!
//! # Where things are
//! The file is `--config FILE` (which must exist) or else
//! `config.toml` in the platform config directory (`~/.config/packyard` on
//! Linux), read when present. The data directory comes from, first match wins:
//! `--data-dir`, `PACKYARD_DATA_DIR`, the file's `data_dir`, the platform data
//! directory (`~/.local/share/packyard` on Linux).
//!
//! # Errors
//! Validation happens while deserializing, so every [`ConfigError::Invalid`]
//! carries the line and the dotted key that toml's span points at.
//!
//! # Logging
//! [`init_logging`] writes to `<data dir>/logs/packyard.log.YYYY-MM-DD`, never
//! to the terminal, which belongs to the TUI.

use crate::domain::{GithubApi, MAX_RESYNC_MINUTES, Prefetch};
use directories::ProjectDirs;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use tracing_subscriber::EnvFilter;

/// Environment variable that overrides the file's `data_dir`.
pub const DATA_DIR_ENV: &str = "PACKYARD_DATA_DIR";

/// How many daily log files are kept before the oldest is deleted.
const LOG_FILES_KEPT: usize = 30;

/// The levels `log_level` accepts on their own.
const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// The effective configuration, after file, environment and flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the Composer HTTP server listens (`[server] listen`).
    pub listen: SocketAddr,
    /// The URL Composer clients use, without a trailing `/` (`[server] public_url`).
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`[server] trusted_proxies`).
    pub trusted_proxies: Vec<IpAddr>,
    /// Store, dist cache, logs and the admin socket live here.
    pub data_dir: PathBuf,
    /// A level or an `EnvFilter` directive; `RUST_LOG` overrides it.
    pub log_level: String,
    pub sync: SyncDefaults,
    pub dists: DistsSection,
}

/// The dist store (`[dists]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a [dists] table")]
pub struct DistsSection {
    /// Which archives a sync downloads ahead of the first install.
    pub prefetch: Prefetch,
    /// Days a branch head's archive is kept after it stopped being a branch
    /// head (tagged versions are kept for good).
    #[serde(deserialize_with = "ranged::<_, _, 0, 3650>")]
    pub keep_branch_dists_days: u32,
}

impl Default for DistsSection {
    fn default() -> Self {
        Self {
            prefetch: Prefetch::default(),
            keep_branch_dists_days: 30,
        }
    }
}

/// Code host client tuning for every sync (`[sync]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a [sync] table")]
pub struct SyncDefaults {
    /// Requests in flight at once per sync.
    #[serde(deserialize_with = "ranged::<_, _, 1, 256>")]
    pub concurrency: usize,
    /// Timeout of one request.
    #[serde(deserialize_with = "ranged::<_, _, 1, 3600>")]
    pub timeout_secs: u64,
    /// Attempts for a request that fails with 5xx or a timeout (1 = no retry).
    #[serde(deserialize_with = "ranged::<_, _, 1, 10>")]
    pub max_attempts: u32,
    /// Longest wait for a rate limit reset that a request waits out in
    /// place; a longer one pauses the run until the reset.
    #[serde(deserialize_with = "ranged::<_, _, 0, 86400>")]
    pub max_rate_limit_wait_secs: u64,
    /// Share of each request budget a full run leaves for webhooks and
    /// other tools sharing the credentials.
    #[serde(deserialize_with = "ranged::<_, _, 0, 90>")]
    pub budget_reserve_percent: u8,
    /// Minutes between the full resyncs `serve` runs; 0 disables them.
    #[serde(deserialize_with = "ranged::<_, _, 0, { MAX_RESYNC_MINUTES as u64 }>")]
    pub resync_interval_minutes: u64,
    /// The API GitHub and GHES syncs read through.
    pub github_api: GithubApi,
}

impl Default for SyncDefaults {
    fn default() -> Self {
        Self {
            concurrency: 16,
            timeout_secs: 30,
            max_attempts: 4,
            max_rate_limit_wait_secs: 300,
            budget_reserve_percent: 10,
            resync_interval_minutes: 60,
            github_api: GithubApi::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file {} does not exist. Check the --config path, or leave --config out to use the defaults",
        .path.display()
    )]
    MissingFile { path: PathBuf },
    #[error("cannot read config file {}: {source}. Check that it is a readable file", .path.display())]
    ReadFile { path: PathBuf, source: io::Error },
    #[error("config file {}, line {line}: the file is not valid UTF-8. Save it as UTF-8 text", .path.display())]
    NotUtf8 { path: PathBuf, line: usize },
    #[error(
        "config file {}{}: {message}. Fix it there; config.example.toml lists every key with its default",
        .path.display(), location(*.line, .key.as_deref())
    )]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
    #[error(
        "cannot tell where packyard should keep its data: no home directory was found. Pass --data-dir DIR or set {DATA_DIR_ENV}"
    )]
    NoDataDir,
    #[error(
        "cannot create the data directory {}: {source}. Create it and let this user write to it, or choose another with --data-dir",
        .dir.display()
    )]
    CreateDataDir { dir: PathBuf, source: io::Error },
    #[error(
        "the data directory {} is not writable: {source}. Let this user write to it, or choose another with --data-dir",
        .dir.display()
    )]
    DataDirNotWritable { dir: PathBuf, source: io::Error },
    #[error("cannot set up logging in {}: {reason}", .dir.display())]
    Logging { dir: PathBuf, reason: String },
}

/// `, line 3, key `sync.concurrency`` for [`ConfigError::Invalid`].
fn location(line: Option<usize>, key: Option<&str>) -> String {
    let line = line.map(|l| format!(", line {l}")).unwrap_or_default();
    let key = key.map(|k| format!(", key `{k}`")).unwrap_or_default();
    line + &key
}

/// The file as written. Missing keys take the defaults below.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    #[serde(deserialize_with = "data_dir")]
    data_dir: Option<PathBuf>,
    #[serde(deserialize_with = "log_level")]
    log_level: String,
    server: ServerSection,
    sync: SyncDefaults,
    dists: DistsSection,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            log_level: "info".to_owned(),
            server: ServerSection::default(),
            sync: SyncDefaults::default(),
            dists: DistsSection::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a [server] table")]
struct ServerSection {
    #[serde(deserialize_with = "listen")]
    listen: SocketAddr,
    #[serde(deserialize_with = "public_url")]
    public_url: Option<String>,
    #[serde(deserialize_with = "trusted_proxies")]
    trusted_proxies: Vec<IpAddr>,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            public_url: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// What [`Config::load`] takes from the process environment, apart so tests
/// can supply it without touching real variables or the user's home.
struct Environment {
    /// `PACKYARD_DATA_DIR`, when set and not empty.
    data_dir: Option<PathBuf>,
    default_config_file: Option<PathBuf>,
    default_data_dir: Option<PathBuf>,
}

impl Environment {
    fn current() -> Self {
        let dirs = ProjectDirs::from("dev", "packyard", "packyard");
        Self {
            data_dir: std::env::var_os(DATA_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            default_config_file: dirs.as_ref().map(|d| d.config_dir().join("config.toml")),
            default_data_dir: dirs.map(|d| d.data_dir().to_path_buf()),
        }
    }
}

impl Config {
    /// Defaults everywhere, with `data_dir`. For tests and tools that must
    /// not read the user's config file.
    pub fn with_data_dir(data_dir: PathBuf) -> Self {
        Self::from_file(FileConfig::default(), data_dir)
    }

    /// Reads `file` (which must exist) or, without it, the default config
    /// file if present, then applies the data dir precedence (module docs).
    pub fn load(file: Option<&Path>, data_dir_flag: Option<PathBuf>) -> Result<Self, ConfigError> {
        Self::load_in(file, data_dir_flag, &Environment::current())
    }

    fn load_in(
        file: Option<&Path>,
        data_dir_flag: Option<PathBuf>,
        env: &Environment,
    ) -> Result<Self, ConfigError> {
        let path = file.or(env.default_config_file.as_deref());
        let parsed = match path {
            Some(p) => read(p, file.is_some())?.map(|f| (p, f)),
            None => None,
        };
        let from_file = parsed.as_ref().and_then(|(p, f)| {
            let dir = p.parent().unwrap_or(Path::new(""));
            f.data_dir.as_ref().map(|d| dir.join(d))
        });
        let data_dir = data_dir_flag
            .or_else(|| env.data_dir.clone())
            .or(from_file)
            .or_else(|| env.default_data_dir.clone())
            .ok_or(ConfigError::NoDataDir)?;
        let file_config = parsed.map(|(_, f)| f).unwrap_or_default();
        Ok(Self::from_file(file_config, data_dir))
    }

    fn from_file(file: FileConfig, data_dir: PathBuf) -> Self {
        Self {
            listen: file.server.listen,
            public_url: file.server.public_url,
            trusted_proxies: file.server.trusted_proxies,
            data_dir,
            log_level: file.log_level,
            sync: file.sync,
            dists: file.dists,
        }
    }

    /// The base URL Composer clients use: `public_url`, or `http://{listen}`.
    /// Set `public_url` when listening on `0.0.0.0` or behind a proxy, since
    /// this URL ends up in the dist URLs clients download from.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// Creates the data directory (mode 0700 on unix: it holds code host
    /// credentials) and checks that this process can write to it.
    pub fn ensure_data_dir(&self) -> Result<(), ConfigError> {
        let dir = &self.data_dir;
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|source| ConfigError::CreateDataDir {
                dir: dir.clone(),
                source,
            })?;
        let probe = dir.join(format!(".packyard-write-probe-{}", std::process::id()));
        std::fs::File::create_new(&probe)
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|source| ConfigError::DataDirNotWritable {
                dir: dir.clone(),
                source,
            })
    }
}

/// Reads and parses `path`; a missing file is an error only when `required`.
fn read(path: &Path, required: bool) -> Result<Option<FileConfig>, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => parse(path, bytes).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !required => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(ConfigError::MissingFile { path: path.into() })
        }
        Err(source) => Err(ConfigError::ReadFile {
            path: path.into(),
            source,
        }),
    }
}

/// Parses the file's bytes, turning toml's byte span into a line and a key.
fn parse(path: &Path, bytes: Vec<u8>) -> Result<FileConfig, ConfigError> {
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::NotUtf8 {
        path: path.into(),
        line: line_at(e.as_bytes(), e.utf8_error().valid_up_to()),
    })?;
    toml::from_str(&text).map_err(|e| {
        let start = e.span().map(|s| s.start);
        ConfigError::Invalid {
            path: path.into(),
            line: start.map(|s| line_at(text.as_bytes(), s)),
            key: start.and_then(|s| key_at(&text, s)),
            message: e.message().trim().to_owned(),
        }
    })
}

/// The 1-based line holding byte `offset`.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    let before = &bytes[..offset.min(bytes.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// The dotted key whose name or value covers byte `offset` of `text`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let root = toml::de::DeTable::parse(text).ok()?;
    key_in(root.get_ref(), offset)
}

fn key_in(table: &toml::de::DeTable<'_>, offset: usize) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let name = key.get_ref();
        match value.get_ref().as_table().and_then(|t| key_in(t, offset)) {
            Some(inner) => Some(format!("{name}.{inner}")),
            None => (key.span().contains(&offset) || value.span().contains(&offset))
                .then(|| name.to_string()),
        }
    })
}

/// Integers in `MIN..=MAX`, converted to the field's type.
fn ranged<'de, D, T, const MIN: u64, const MAX: u64>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let value = u64::deserialize(d)?;
    if !(MIN..=MAX).contains(&value) {
        return Err(D::Error::custom(format!(
            "{value} is out of range: use a value from {MIN} to {MAX}"
        )));
    }
    T::try_from(value).map_err(|_| D::Error::custom(format!("{value} is too large")))
}

fn listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let value = String::deserialize(d)?;
    value.parse().map_err(|_| {
        D::Error::custom(format!(
            "{value:?} is not an IP address with a port: write e.g. \"127.0.0.1:8080\", \"0.0.0.0:8080\" or \"[::]:8080\" (host names are not resolved)"
        ))
    })
}

fn public_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    parse_public_url(&String::deserialize(d)?)
        .map(Some)
        .map_err(D::Error::custom)
}

fn trusted_proxies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpAddr>, D::Error> {
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|value| {
            value.parse().map_err(|_| {
                D::Error::custom(format!(
                    "{value:?} is not an IP address: list the addresses your reverse proxies connect from, e.g. [\"127.0.0.1\", \"::1\"] (no host names or ranges)"
                ))
            })
        })
        .collect()
}

fn log_level<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    parse_log_level(&String::deserialize(d)?).map_err(D::Error::custom)
}

fn data_dir<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let value = String::deserialize(d)?;
    if value.is_empty() || value.starts_with('~') {
        return Err(D::Error::custom(format!(
            "{value:?} is not usable: write an absolute path, or one relative to this file (`~` is not expanded)"
        )));
    }
    Ok(Some(PathBuf::from(value)))
}

/// Checks a public URL (absolute http or https, no query, fragment or
/// credentials) and drops trailing slashes. Also fits a clap `value_parser`
/// for `serve --public-url`.
pub fn parse_public_url(value: &str) -> Result<String, String> {
    let url = value.trim().trim_end_matches('/');
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let bad = |c: char| c.is_whitespace() || matches!(c, '?' | '#');
    if host.is_empty() || host.contains('@') || url.contains(bad) {
        return Err(format!(
            "{value:?} is not an absolute http(s) URL: write the address Composer clients use, e.g. \"https://packages.example.com\""
        ));
    }
    Ok(url.to_owned())
}

/// Accepts a level (any case) or an `EnvFilter` list whose parts are levels or
/// `target=level` directives, e.g. `info,packyard=debug`.
fn parse_log_level(value: &str) -> Result<String, String> {
    let lower = value.trim().to_ascii_lowercase();
    if LEVELS.contains(&lower.as_str()) {
        return Ok(lower);
    }
    let parts_ok = lower
        .split(',')
        .all(|p| LEVELS.contains(&p.trim()) || p.contains('='));
    if parts_ok && EnvFilter::try_new(&lower).is_ok() {
        return Ok(lower);
    }
    Err(format!(
        "{value:?} is not a log level: use error, warn, info, debug or trace, or a filter such as \"info,packyard=debug\""
    ))
}

/// Sends tracing events to a daily file `<data_dir>/logs/packyard.log.YYYY-MM-DD`
/// (the last 30 are kept) through a background writer. `level` is the filter
/// unless `RUST_LOG` is set. Keep the guard alive until exit: dropping it
/// flushes what is still queued.
pub fn init_logging(
    data_dir: &Path,
    level: &str,
) -> Result<tracing_appender::non_blocking::WorkerGuard, ConfigError> {
    let dir = data_dir.join("logs");
    let fail = |reason: String| ConfigError::Logging {
        dir: dir.clone(),
        reason,
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v).map_err(|e| {
            fail(format!(
                "RUST_LOG={v:?} is not a valid filter ({e}); fix or unset it"
            ))
        })?,
        _ => EnvFilter::try_new(level).map_err(|e| fail(format!("log level {level:?}: {e}")))?,
    };
    // The appender prunes old files on start and complains on stderr (which
    // the TUI owns) when the directory does not exist yet.
    std::fs::create_dir_all(&dir)
        .map_err(|e| fail(format!("{e}. Check that the directory is writable")))?;
    let appender = tracing_appender::rolling::RollingFileAppender::builder()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("packyard.log")
        .max_log_files(LOG_FILES_KEPT)
        .build(&dir)
        .map_err(|e| fail(format!("{e}. Check that the directory is writable")))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| fail(format!("a logger is already installed: {e}")))?;
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/packyard/config.toml";

    fn err(text: &str) -> String {
        match parse(Path::new(FILE), text.as_bytes().to_vec()) {
            Ok(c) => panic!("{text:?} should not load, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn env(data_dir: Option<&str>, config: Option<&Path>) -> Environment {
        Environment {
            data_dir: data_dir.map(PathBuf::from),
            default_config_file: config.map(Path::to_path_buf),
            default_data_dir: Some(PathBuf::from("/home/u/.local/share/packyard")),
        }
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("config.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    #[test]
    fn defaults_when_no_file_exists() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let missing = tmp.path().join("config.toml");
        let config = Config::load_in(None, None, &env(None, Some(&missing))).expect("load");
        assert_eq!(
            config,
            Config::with_data_dir("/home/u/.local/share/packyard".into())
        );
        assert_eq!(config.listen, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(config.log_level, "info");
        assert_eq!(config.sync.concurrency, 16);
        assert_eq!(config.sync.resync_interval_minutes, 60);
        assert_eq!(config.public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn data_dir_follows_flag_then_env_then_file_then_default() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = write(tmp.path(), "data_dir = \"/srv/from-file\"\n");
        let load = |flag: Option<&str>, var: Option<&str>, file: Option<&Path>| {
            Config::load_in(file, flag.map(PathBuf::from), &env(var, None))
                .expect("load")
                .data_dir
        };
        let f = Some(file.as_path());
        assert_eq!(load(Some("/flag"), Some("/env"), f), Path::new("/flag"));
        assert_eq!(load(None, Some("/env"), f), Path::new("/env"));
        assert_eq!(load(None, None, f), Path::new("/srv/from-file"));
        assert_eq!(
            load(None, None, None),
            Path::new("/home/u/.local/share/packyard")
        );
    }

    #[test]
    fn relative_data_dir_resolves_against_the_file_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = write(tmp.path(), "data_dir = \"state/packyard\"\n");
        let config = Config::load_in(Some(&file), None, &env(None, None)).expect("load");
        assert_eq!(config.data_dir, tmp.path().join("state/packyard"));
    }

    #[test]
    fn default_file_is_read_when_present() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let file = write(tmp.path(), "log_level = \"debug\"\n");
        let config = Config::load_in(None, None, &env(None, Some(&file))).expect("load");
        assert_eq!(config.log_level, "debug");
    }

    #[test]
    fn explicit_file_must_exist() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let missing = tmp.path().join("nope.toml");
        let e = Config::load_in(Some(&missing), None, &env(None, None)).unwrap_err();
        assert!(matches!(e, ConfigError::MissingFile { .. }), "{e}");
        assert!(e.to_string().contains("nope.toml"), "{e}");
    }

    #[test]
    fn load_fails_when_no_data_dir_can_be_found() {
        let no_home = Environment {
            data_dir: None,
            default_config_file: None,
            default_data_dir: None,
        };
        let e = Config::load_in(None, None, &no_home).unwrap_err();
        assert!(e.to_string().contains("--data-dir"), "{e}");
    }

    #[test]
    fn public_url_drops_trailing_slash_and_rejects_non_http() {
        assert_eq!(
            parse_public_url("https://pk.example.com/composer/").as_deref(),
            Ok("https://pk.example.com/composer")
        );
        assert_eq!(
            parse_public_url("http://127.0.0.1:8080").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        for bad in [
            "pk.example.com",
            "ftp://pk.example.com",
            "https://",
            "https:///x",
            "https://u:p@pk.example.com",
            "https://pk.example.com/?x=1",
            "https://pk example.com",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn public_url_prefers_the_configured_value() {
        let mut config = Config::with_data_dir("/d".into());
        config.listen = "[::1]:9000".parse().expect("addr");
        assert_eq!(config.public_url(), "http://[::1]:9000");
        config.public_url = Some("https://pk.example.com".into());
        assert_eq!(config.public_url(), "https://pk.example.com");
    }

    #[test]
    fn log_level_accepts_levels_and_directives_only() {
        assert_eq!(parse_log_level("INFO").as_deref(), Ok("info"));
        assert!(parse_log_level("info,packyard=debug").is_ok());
        assert!(parse_log_level("warn,packyard::engine=trace").is_ok());
        for bad in ["verbose", "info,verbose", "packyard=loud", ""] {
            assert!(parse_log_level(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = err("log_level = \"info\"\n[server]\nlistn = \"0.0.0.0:80\"\n");
        assert!(e.contains(FILE), "{e}");
        assert!(e.contains("line 3, key `server.listn`"), "{e}");
        assert!(
            e.contains("`listen`, `public_url`, `trusted_proxies`"),
            "{e}"
        );
        let e = err("[sync]\ntimeout_secs = 30\nconcurrency = 0\n");
        assert!(e.contains("line 3, key `sync.concurrency`"), "{e}");
        assert!(e.contains("from 1 to 256"), "{e}");
    }

    #[test]
    fn errors_point_at_the_first_invalid_utf8_line() {
        let e = parse(Path::new(FILE), b"# ok\nlog_level = \"\xff\"\n".to_vec()).unwrap_err();
        assert!(matches!(e, ConfigError::NotUtf8 { line: 2, .. }), "{e}");
    }

    #[test]
    fn data_dir_rejects_tilde() {
        assert!(err("data_dir = \"~/packyard\"\n").contains("not expanded"));
    }

    #[cfg(unix)]
    #[test]
    fn ensure_data_dir_creates_private_directory() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = Config::with_data_dir(tmp.path().join("a/b"));
        config.ensure_data_dir().expect("create");
        let mode = std::fs::metadata(&config.data_dir)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        config.ensure_data_dir().expect("existing dir is fine");
        assert_eq!(std::fs::read_dir(&config.data_dir).expect("ls").count(), 0);
    }

    #[test]
    fn ensure_data_dir_names_the_directory_when_it_cannot_be_created() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let blocker = tmp.path().join("file");
        std::fs::write(&blocker, "").expect("write");
        let config = Config::with_data_dir(blocker.join("data"));
        let e = config.ensure_data_dir().unwrap_err();
        assert!(matches!(e, ConfigError::CreateDataDir { .. }), "{e}");
        assert!(
            e.to_string()
                .contains(&*blocker.join("data").to_string_lossy())
        );
    }
}
