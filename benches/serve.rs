//! Serving benchmark: Composer metadata from `packyard serve` against nginx
//! serving the very same bytes as static files behind HTTP Basic auth.
//!
//! For each catalog (the foundation issue's 1,000-repository organization,
//! 709 packages; and 10,000 packages with 100,000 versions, 2,000 users in
//! 200 teams) it first measures, in this process, the catalog's full
//! build, the rebuild after a one-package change and after a membership
//! change. Then it starts the real `packyard serve` on that data and nginx
//! (one worker; htpasswd with the `{SHA}` scheme, so both hash once per
//! request) on the bytes packyard answered, and drives both with `wrk` (2
//! threads, 32 connections), alternating three runs of each, for p2 and
//! packages.json with an org-wide and a user token (90 packages visible).
//! It prints the medians, the ratio packyard/nginx, and packyard's RSS.
//!
//! Needs `nginx`, `wrk` and `curl` on PATH (Debian: `apt-get install nginx wrk curl`).
//! Numbers, not pass/fail: `cargo bench --bench serve`. Knobs:
//! `PACKYARD_BENCH_SECONDS` (5, per wrk run), `PACKYARD_BENCH_CATALOGS`
//! (`1000-repos,10000-packages`).

use base64::Engine;
use packyard::composer::Catalog;
use packyard::composer::catalog::BuildReport;
use packyard::domain::*;
use packyard::store::{Store, token_hash};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ORG_TOKEN: &str = "pky_bench_org_token_000000000000000000000";
const USER_TOKEN: &str = "pky_bench_user_token_00000000000000000000";
/// Packages the user's team may read.
const USER_VISIBLE: usize = 90;
const RUNS: usize = 3;

/// The shape of a generated catalog.
struct Spec {
    label: &'static str,
    packages: usize,
    tags: usize,
    branches: usize,
    teams: usize,
    users: usize,
}

const CATALOGS: [Spec; 2] = [
    Spec {
        label: "1000-repos",
        packages: 709,
        tags: 5,
        branches: 2,
        teams: 100,
        users: 2000,
    },
    Spec {
        label: "10000-packages",
        packages: 10_000,
        tags: 8,
        branches: 2,
        teams: 200,
        users: 2000,
    },
];

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(format!("PACKYARD_BENCH_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let missing: Vec<&str> = ["nginx", "wrk", "curl"]
        .into_iter()
        .filter(|tool| which(tool).is_none())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "serve bench needs {} on PATH. Debian/Ubuntu: apt-get install -y {}",
            missing.join(" and "),
            missing.join(" ")
        );
        std::process::exit(1);
    }
    let wanted = std::env::var("PACKYARD_BENCH_CATALOGS")
        .unwrap_or_else(|_| "1000-repos,10000-packages".to_owned());
    let seconds = env_or("SECONDS", 5);
    for spec in CATALOGS
        .iter()
        .filter(|s| wanted.split(',').any(|w| w == s.label))
    {
        bench_catalog(spec, seconds);
    }
}

fn bench_catalog(spec: &Spec, seconds: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    // nginx's worker may run as another user: let it read the files.
    set_mode(dir.path(), 0o755);
    let data = dir.path().join("data");
    let started = Instant::now();
    let versions = generate(&data, spec);
    println!(
        "\n## {}: {} packages, {versions} versions, {} teams, {} users (generated in {:.1} s)",
        spec.label,
        spec.packages,
        spec.teams,
        spec.users,
        started.elapsed().as_secs_f64()
    );
    rebuild_timings(&data, spec);

    let served = Served::start(&data);
    let probe = format!("p2/bigco/pkg-{:04}.json", 102 % spec.packages);
    let www = dir.path().join("www");
    let cases = [
        ("org-wide", ORG_TOKEN, probe.as_str()),
        ("user", USER_TOKEN, probe.as_str()),
        ("org-wide", ORG_TOKEN, "packages.json"),
        ("user", USER_TOKEN, "packages.json"),
    ];
    // nginx gets exactly the bytes packyard answered, under one directory
    // per token, each with its own htpasswd.
    for (who, token, path) in cases {
        let bytes = fetch(&served.url, path, token);
        let file = www.join(who).join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &bytes).unwrap();
        std::fs::write(dir.path().join(format!("{who}.htpasswd")), htpasswd(token)).unwrap();
    }
    set_mode(&www, 0o755);
    let nginx = Nginx::start(dir.path(), &www);

    println!(
        "| request | token | bytes | packyard req/s | nginx req/s | ratio |\n|---|---|---|---|---|---|"
    );
    for (who, token, path) in cases {
        let bytes = std::fs::metadata(www.join(who).join(path)).unwrap().len();
        let ours = format!("{}/{path}", served.url);
        let theirs = format!("{}/{who}/{path}", nginx.url);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            a.push(wrk(&ours, token, seconds));
            b.push(wrk(&theirs, token, seconds));
        }
        let (a, b) = (median(a), median(b));
        println!(
            "| {path} | {who} | {bytes} | {a:.0} | {b:.0} | {:.2} |",
            a / b
        );
    }
    let (rss, peak) = served.rss_kib();
    println!(
        "packyard serve RSS after the runs: {:.0} MiB (peak {:.0} MiB)",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
}

/// Fills a store at `data` the way syncs would; returns the version count.
fn generate(data: &Path, spec: &Spec) -> usize {
    let store = Store::open(data).expect("store");
    let sync = SyncId::new("bigco").unwrap();
    let team_key = |t: usize| TeamKey {
        sync: sync.clone(),
        remote: RemoteId(format!("team-{t}")),
    };
    let record = Sync {
        id: sync.clone(),
        provider: ProviderKind::Github,
        api_url: "https://api.github.com".into(),
        org: "bigco".into(),
        primary: true,
        created_at: Timestamp(1_700_000_000),
        last_run: None,
        resync_minutes: None,
        hooks: None,
    };
    let credential = Credential::Token(Secret::new("ghp_bench".to_owned()));
    store
        .apply_new_sync(&record, &credential)
        .expect("sync record");
    let mut people = Vec::new();
    // Each team reads a window of USER_VISIBLE repositories; each user is
    // in one team; two users own the organization.
    for t in 0..spec.teams {
        let members = (0..spec.users)
            .filter(|u| u % spec.teams == t)
            .map(|u| (RemoteId(format!("u{u}")), format!("user{u}")))
            .collect();
        let repos = (0..USER_VISIBLE)
            .map(|i| {
                (
                    RemoteId(format!("r{}", (t * 37 + i) % spec.packages)),
                    Permission::Read,
                )
            })
            .collect();
        people.push(Change::PutTeam(Team {
            key: team_key(t),
            kind: TeamKind::Remote,
            slug: format!("team-{t}"),
            name: format!("Team {t}"),
            members,
            repos,
        }));
    }
    people.push(Change::PutTeam(Team {
        key: TeamKey {
            sync: sync.clone(),
            remote: RemoteId(Team::ORG_ADMINS_ID.into()),
        },
        kind: TeamKind::OrgAdmins,
        slug: "owners".into(),
        name: "Owners".into(),
        members: [0, 1]
            .map(|u| (RemoteId(format!("u{u}")), format!("user{u}")))
            .into(),
        repos: BTreeMap::new(),
    }));
    for u in 0..spec.users {
        people.push(Change::PutUser(User {
            id: UserId::from_login(&format!("user{u}")),
            identities: [IdentityKey {
                sync: sync.clone(),
                remote: RemoteId(format!("u{u}")),
            }]
            .into(),
        }));
    }
    apply(&store, people);
    let mut versions = 0;
    for chunk in (0..spec.packages).collect::<Vec<_>>().chunks(500) {
        let mut changes = Vec::new();
        for &p in chunk {
            let package = package(&sync, p);
            for v in 0..spec.tags + spec.branches {
                changes.push(Change::PutVersion(version(&package.name, p, v, spec.tags)));
                versions += 1;
            }
            changes.push(Change::PutPackage(package));
        }
        apply(&store, changes);
    }
    // User 2 is in team 2 and no owner: USER_VISIBLE packages.
    for (id, secret, scope) in [
        ("org", ORG_TOKEN, TokenScope::OrgWide),
        (
            "user",
            USER_TOKEN,
            TokenScope::User {
                user: UserId::from_login("user2"),
            },
        ),
    ] {
        store
            .apply_new_token(&Token {
                id: id.into(),
                label: id.into(),
                scope,
                hash: token_hash(secret),
                created_at: Timestamp(1_700_000_000),
                last_used: None,
                expires_at: None,
            })
            .expect("token");
    }
    // Every user has a token, as in an organization where all install.
    for u in 3..spec.users {
        store
            .apply_new_token(&Token {
                id: format!("u{u}"),
                label: "laptop".into(),
                scope: TokenScope::User {
                    user: UserId::from_login(&format!("user{u}")),
                },
                hash: token_hash(&format!("pky_user_{u}")),
                created_at: Timestamp(1_700_000_000),
                last_used: None,
                expires_at: None,
            })
            .expect("token");
    }
    store.flush().expect("flush");
    versions
}

fn apply(store: &Store, changes: Vec<Change>) {
    let plan = Plan {
        changes,
        ..Plan::default()
    };
    store
        .apply(&plan, store.revision().unwrap(), Timestamp(1_700_000_000))
        .expect("apply");
}

fn package(sync: &SyncId, p: usize) -> Package {
    let name = format!("bigco/pkg-{p:04}");
    Package {
        name: PackageName::new(&name).unwrap(),
        origin: sync.clone(),
        repo: RemoteId(format!("r{p}")),
        repo_full_name: name.clone(),
        clone_url: format!("https://github.com/{name}.git"),
        html_url: format!("https://github.com/{name}"),
        description: Some(format!("Package {p} of the bench organization")),
        default_branch: "main".into(),
        host: None,
        archived: false,
        abandoned: None,
        manifest_missing: false,
    }
}

/// Tags `v1.0.0`… then branches `dev-main`, `2.x-dev`…, each with a
/// composer.json of typical size.
fn version(name: &PackageName, p: usize, v: usize, tags: usize) -> Version {
    let commit = format!("{:040x}", (p as u128) << 32 | v as u128);
    let (pretty, normalized, kind) = if v < tags {
        (format!("v1.{v}.0"), format!("1.{v}.0.0"), VersionKind::Tag)
    } else if v == tags {
        (
            "dev-main".to_owned(),
            "dev-main".to_owned(),
            VersionKind::Branch,
        )
    } else {
        let n = v - tags;
        (
            format!("{n}.x-dev"),
            format!("{n}.9999999.9999999.9999999-dev"),
            VersionKind::Branch,
        )
    };
    let serde_json::Value::Object(manifest) = json!({
        "name": name.as_str(),
        "description": format!("Package {p} of the bench organization"),
        "type": "library",
        "license": ["proprietary"],
        "require": {"php": ">=8.1", "psr/log": "^3.0", "bigco/pkg-0000": format!("^1.{}", v.min(3))},
        "require-dev": {"phpunit/phpunit": "^10.5"},
        "autoload": {"psr-4": {format!("Bigco\\Pkg{p}\\"): "src/"}},
        "extra": {"branch-alias": {"dev-main": "1.x-dev"}},
    }) else {
        unreachable!("a JSON object literal")
    };
    Version {
        package: name.clone(),
        version: pretty.clone(),
        normalized,
        kind,
        ref_name: pretty.trim_start_matches("dev-").to_owned(),
        commit,
        default_branch: v == tags,
        manifest,
    }
}

/// The catalog's build times, in this process, on the generated store.
fn rebuild_timings(data: &Path, spec: &Spec) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let store = Store::open(data).expect("store");
        let (started, cpu) = (Instant::now(), cpu_time());
        let catalog = Catalog::open(store.clone(), "http://127.0.0.1:1".into())
            .await
            .expect("catalog");
        let full = started.elapsed();
        let cpu = cpu_time() - cpu;
        let report = catalog.reports().last.expect("a build");
        println!(
            "full build: {:.0} ms wall, {:.0} ms CPU ({:.0} ms of it packages: {} serialized; {} scope views for {} tokens)",
            full.as_secs_f64() * 1000.0,
            cpu.as_secs_f64() * 1000.0,
            report.packages_took.as_secs_f64() * 1000.0,
            report.packages_serialized,
            report.scopes_computed,
            report.tokens
        );
        let sync = SyncId::new("bigco").unwrap();
        let one = package(&sync, 5);
        let mut tag = version(&one.name, 5, 0, spec.tags);
        tag.version = "v9.0.0".into();
        tag.normalized = "9.0.0.0".into();
        let (took, cpu, report) = timed_change(&store, &catalog, Change::PutVersion(tag)).await;
        println!(
            "one-package change: {:.1} ms from commit to published catalog, {:.1} ms CPU with the commit (build {:.1} ms, {} package serialized, {} scope views updated)",
            took.as_secs_f64() * 1000.0,
            cpu.as_secs_f64() * 1000.0,
            report.took.as_secs_f64() * 1000.0,
            report.packages_serialized,
            report.scopes_updated
        );
        let mut team = store.load_teams(None).unwrap().remove(0);
        team.members.remove(&RemoteId("u0".into()));
        let (took, cpu, report) = timed_change(&store, &catalog, Change::PutTeam(team)).await;
        println!(
            "membership change: {:.1} ms from commit to published catalog, {:.1} ms CPU ({} scope views recomputed)",
            took.as_secs_f64() * 1000.0,
            cpu.as_secs_f64() * 1000.0,
            report.scopes_computed
        );
        println!(
            "machine load while measuring (1-minute average, {} cores): {}",
            std::thread::available_parallelism().map_or(1, usize::from),
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .unwrap_or("?")
        );
        store.flush().expect("flush");
    });
    // Dropping the runtime ends the catalog's follower, the last store user.
    drop(runtime);
}

/// Commits `change` and waits for the catalog that includes it: wall and
/// CPU time from before the commit, and the build's report.
async fn timed_change(
    store: &Store,
    catalog: &Catalog,
    change: Change,
) -> (Duration, Duration, BuildReport) {
    let (started, cpu) = (Instant::now(), cpu_time());
    apply(store, vec![change]);
    catalog.fresh().await.expect("fresh catalog");
    let (took, cpu) = (started.elapsed(), cpu_time() - cpu);
    (took, cpu, catalog.reports().last.expect("a build"))
}

/// A running `packyard serve` on the generated data, killed on drop.
struct Served {
    child: Child,
    url: String,
}

impl Served {
    fn start(data: &Path) -> Served {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_packyard"))
            .arg("--data-dir")
            .arg(data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start packyard serve");
        let url = format!("http://127.0.0.1:{port}");
        wait_until_ok(&format!("{url}/health"));
        Served { child, url }
    }

    /// Current and peak resident set size.
    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Nginx {
    child: Child,
    url: String,
}

impl Nginx {
    fn start(dir: &Path, www: &Path) -> Nginx {
        let port = free_port();
        let d = dir.display();
        let location = |who: &str| {
            format!(
                "location /{who}/ {{ auth_basic \"packyard\"; auth_basic_user_file {d}/{who}.htpasswd; }}"
            )
        };
        let config = format!(
            "worker_processes 1;\ndaemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  default_type application/json;\n  keepalive_requests 1000000;\n\
             client_body_temp_path {d}/nginx-body; proxy_temp_path {d}/nginx-proxy; fastcgi_temp_path {d}/nginx-fastcgi;\n\
             uwsgi_temp_path {d}/nginx-uwsgi; scgi_temp_path {d}/nginx-scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n    root {};\n    {}\n    {}\n  }}\n}}\n",
            www.display(),
            location("org-wide"),
            location("user"),
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let url = format!("http://127.0.0.1:{port}");
        wait_until_listening(port);
        Nginx { child, url }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `{SHA}` htpasswd line: any user name, the token as password. nginx
/// accepts any user listed, so one line per token is enough.
fn htpasswd(token: &str) -> String {
    use sha1::Digest;
    let digest = sha1::Sha1::digest(token.as_bytes());
    format!(
        "composer:{{SHA}}{}\n",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn basic(token: &str) -> String {
    let pair = format!("composer:{token}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn fetch(base: &str, path: &str, token: &str) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sf", "-H", &format!("Authorization: {}", basic(token))])
        .arg(format!("{base}/{path}"))
        .output()
        .expect("run curl");
    assert!(out.status.success(), "GET {path} failed");
    out.stdout
}

/// Requests per second from one wrk run.
fn wrk(url: &str, token: &str, seconds: u64) -> f64 {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{seconds}s")])
        .args(["-H", &format!("Authorization: {}", basic(token))])
        .arg(url)
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "{url} answered errors under load:\n{text}"
    );
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in wrk output:\n{text}"))
}

/// CPU time of this whole process, all threads: what a build costs apart
/// from whatever else the machine runs.
fn cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_until_listening(port: u16) {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port} after 30 s");
}

fn wait_until_ok(url: &str) {
    for _ in 0..1200 {
        let ok = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", url])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{url} did not answer within 60 s");
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}
