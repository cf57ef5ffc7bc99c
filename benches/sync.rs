//! Sync benchmark: the real `packyard` binary synchronizes a simulated GitHub
//! organization, first from scratch and then again with no remote change.
//!
//! Reports wall time, requests made versus the minimum the scenario needs,
//! peak RSS of the packyard process, and for the second run the share of
//! requests answered 304. Numbers, not pass/fail: `cargo bench --bench sync`.
//!
//! Runs for every provider (or those named in `PACKYARD_BENCH_PROVIDERS`,
//! e.g. `github,gitlab`). Sizes default to the foundation issue's
//! organization (1,000 repositories, 700 with composer.json, 5 tags and 2
//! branches each, 100 teams, 2,000 members, 20 ms latency per request) and
//! can be changed with `PACKYARD_BENCH_REPOS`, `..._COMPOSER`, `..._TEAMS`,
//! `..._MEMBERS`, `..._LATENCY_MS`. `PACKYARD_BENCH_LARGE=1` adds a
//! 10,000-repository organization (7,000 with composer.json, 500 teams,
//! 10,000 members) after it.
//!
//! A last run prefetches every wanted archive and reports its requests and
//! the dist store's size on disk. Every simulator enforces its host's
//! documented request budget. A run
//! that spends it pauses (exit 75); the benchmark then moves the
//! simulator's clock past the reset and runs again, as an admin would after
//! the reset, and reports per budget bucket what the sync cost and how many
//! hours of that bucket's documented hourly budget it is.

use packyard::domain::ProviderKind;
use packyard::simulate::{Charged, GeneratedSpec, OrgRole, Scenario, Simulator, Window};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(format!("PACKYARD_BENCH_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One run of the binary: wall time, the peak RSS it reached, and whether
/// it paused on a spent budget.
struct Measured {
    wall: Duration,
    peak_rss_kib: u64,
    paused: bool,
}

/// `sync run`'s exit code when the request budget is spent.
const PAUSED: i32 = 75;

/// Runs `packyard` to completion, sampling its high-water RSS from /proc
/// (monotonic, so the last sample before exit is the peak).
fn run_packyard(data_dir: &Path, args: &[&str], token: &str) -> Measured {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_packyard"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("BENCH_TOKEN", token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start packyard");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            if let Some(kib) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
                peak = peak.max(
                    kib.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse()
                        .unwrap_or(0),
                );
            }
        }
        if let Some(status) = child.try_wait().expect("wait for packyard") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    let output = child.wait_with_output().expect("packyard output");
    let paused = status.code() == Some(PAUSED);
    assert!(
        status.success() || paused,
        "packyard {args:?} failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    Measured {
        wall,
        peak_rss_kib: peak,
        paused,
    }
}

/// A sync run to its end: runs again after each pause, with the simulator's
/// clock moved an hour on (every host's budget is back within an hour).
/// Returns the total wall time, the highest peak RSS and the pauses.
fn sync_to_the_end(data_dir: &Path, sim: &Simulator) -> (Duration, u64, u32) {
    let (mut wall, mut peak, mut pauses) = (Duration::ZERO, 0, 0);
    loop {
        // Archives are prefetched (and counted) apart, after the metadata.
        let args = ["sync", "run", "bench", "--no-prefetch"];
        let run = run_packyard(data_dir, &args, &sim.token());
        wall += run.wall;
        peak = peak.max(run.peak_rss_kib);
        if !run.paused {
            return (wall, peak, pauses);
        }
        pauses += 1;
        assert!(pauses < 50, "the sync never completes");
        sim.clock().advance(Duration::from_secs(3600));
    }
}

/// Per bucket: what a run was charged, and that in hours of the bucket's
/// documented budget (its limit scaled to an hour).
fn budget_lines(sim: &Simulator, charged: &Charged) -> Vec<String> {
    let budget = sim.budget();
    charged
        .granted
        .iter()
        .map(|(bucket, cost)| {
            let hours = budget.limit(bucket).map(|limit| {
                let per_hour = match limit.window {
                    Window::Fixed(period) | Window::Rolling(period) => {
                        limit.limit as f64 * 3600.0 / period.as_secs_f64()
                    }
                    Window::TokenBucket { refill, every } => {
                        refill as f64 * 3600.0 / every.as_secs_f64()
                    }
                };
                *cost as f64 / per_hour
            });
            match hours {
                Some(hours) => format!("{bucket}: {cost} ({hours:.2} h of budget)"),
                None => format!("{bucket}: {cost} (not limited)"),
            }
        })
        .collect()
}

/// The fewest requests any client of this host's API needs for a complete
/// snapshot: one per listing page the API requires, one composer.json per
/// repository's default branch (which also says whether it is a package),
/// and for packages the branch and tag listings plus one composer.json per
/// further distinct commit. What each API requires to learn teams, members
/// and permissions differs, so that part is per host.
fn minimum_requests(scenario: &Scenario, sim: &Simulator) -> u64 {
    let pages = |n: usize| n.div_ceil(100).max(1) as u64;
    let admins = scenario
        .members
        .iter()
        .filter(|m| matches!(m.role, OrgRole::Admin))
        .count();
    let teams = scenario.teams.len() as u64;
    let packages = scenario
        .repos
        .iter()
        .filter(|r| r.composer.is_some())
        .count() as u64;
    let people = match sim.kind() {
        // org, admins, teams, and per team its members and repositories
        ProviderKind::Github => {
            1 + pages(admins)
                + pages(scenario.teams.len())
                + scenario
                    .teams
                    .iter()
                    .map(|t| pages(t.members.len()) + pages(t.repos.len()))
                    .sum::<u64>()
        }
        // group, descendant groups, members of the group and each subgroup
        // (project shares come with the project listing)
        ProviderKind::Gitlab => 2 + teams + 1,
        // workspace, owners, groups with members, and the group permissions
        // of each package repository (2.0 has no workspace-wide listing)
        ProviderKind::BitbucketCloud => 3 + packages,
        // per project its user and group permissions and repositories, the
        // members of each group, and the admin user and group permissions
        ProviderKind::BitbucketServer => {
            let projects = scenario.repos.len() as u64;
            pages(scenario.repos.len()) + 3 * projects + teams + 2
        }
    };
    let mut min = people + pages(scenario.repos.len());
    for repo in &scenario.repos {
        min += 1;
        if repo.composer.is_none() {
            continue;
        }
        let branches = repo.all_branches();
        min += match sim.kind() {
            // Branches and tags in one `/refs` listing.
            ProviderKind::BitbucketCloud => pages(branches.len() + repo.tags.len()),
            _ => pages(branches.len()) + pages(repo.tags.len()),
        };
        let default = sim.commit_of(&repo.name, &repo.default_branch);
        let others: BTreeSet<String> = branches
            .iter()
            .copied()
            .chain(repo.tags.iter().map(String::as_str))
            .filter_map(|r| sim.commit_of(&repo.name, r))
            .filter(|c| Some(c) != default.as_ref())
            .collect();
        min += others.len() as u64;
    }
    min
}

fn main() {
    let mut specs = vec![GeneratedSpec {
        repos: env_or("REPOS", 1000),
        with_composer: env_or("COMPOSER", 700),
        tags: 5,
        branches: 2,
        teams: env_or("TEAMS", 100),
        members: env_or("MEMBERS", 2000),
    }];
    if env_or("LARGE", 0) == 1 {
        specs.push(GeneratedSpec {
            repos: 10_000,
            with_composer: 7_000,
            tags: 5,
            branches: 2,
            teams: 500,
            members: 10_000,
        });
    }
    let latency = Duration::from_millis(env_or("LATENCY_MS", 20) as u64);
    let providers = std::env::var("PACKYARD_BENCH_PROVIDERS")
        .unwrap_or_else(|_| "github,gitlab,bitbucket-cloud,bitbucket-server".into());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for spec in specs {
        println!(
            "\nsync benchmark: {spec:?}, {} ms latency per request",
            latency.as_millis()
        );
        for provider in providers.split(',') {
            let kind = match provider.trim() {
                "github" => ProviderKind::Github,
                "gitlab" => ProviderKind::Gitlab,
                "bitbucket-cloud" => ProviderKind::BitbucketCloud,
                "bitbucket-server" => ProviderKind::BitbucketServer,
                other => panic!("unknown provider {other:?} in PACKYARD_BENCH_PROVIDERS"),
            };
            bench_provider(&runtime, kind, spec, latency);
        }
    }
}

fn bench_provider(
    runtime: &tokio::runtime::Runtime,
    kind: ProviderKind,
    spec: GeneratedSpec,
    latency: Duration,
) {
    let scenario = Scenario::generated(spec);
    let sim = runtime
        .block_on(Simulator::start(kind, scenario.clone()))
        .expect("start simulator");
    sim.set_latency(latency);
    let data = tempfile::tempdir().expect("temp dir");
    let mut add = vec!["sync".to_owned(), "add".to_owned()];
    add.extend(sim.sync_add_args("bench", "BENCH_TOKEN"));
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    run_packyard(data.path(), &add, &sim.token());

    let minimum = minimum_requests(&scenario, &sim);
    // The first run starts on a fresh budget, as a new sync would.
    sim.clock().advance(Duration::from_secs(3600));
    sim.reset_stats();
    sim.budget().reset_charged();
    let (first_wall, first_rss, first_pauses) = sync_to_the_end(data.path(), &sim);
    let first_stats = sim.stats();
    let first_charged = sim.budget().charged();
    sim.clock().advance(Duration::from_secs(3600));
    sim.reset_stats();
    sim.budget().reset_charged();
    let (second_wall, second_rss, second_pauses) = sync_to_the_end(data.path(), &sim);
    let second_stats = sim.stats();
    let second_charged = sim.budget().charged();

    println!("\n== {kind}");
    println!(
        "first run:  {:>8.2} s  {:>6} requests (minimum {minimum}, ratio {:.3}x)  paused {first_pauses}x  peak RSS {:.1} MiB",
        first_wall.as_secs_f64(),
        first_stats.requests,
        first_stats.requests as f64 / minimum as f64,
        first_rss as f64 / 1024.0
    );
    println!(
        "  budget: {}",
        budget_lines(&sim, &first_charged).join("; ")
    );
    println!(
        "second run: {:>8.2} s  {:>6} requests ({:.1}% of the first), {} answered 304 ({:.1}%)  {:.1}% of the first run's time  paused {second_pauses}x  peak RSS {:.1} MiB",
        second_wall.as_secs_f64(),
        second_stats.requests,
        100.0 * second_stats.requests as f64 / first_stats.requests.max(1) as f64,
        second_stats.not_modified,
        100.0 * second_stats.not_modified as f64 / second_stats.requests.max(1) as f64,
        100.0 * second_wall.as_secs_f64() / first_wall.as_secs_f64(),
        second_rss as f64 / 1024.0
    );
    println!(
        "  budget: {}",
        budget_lines(&sim, &second_charged).join("; ")
    );
    println!("requests by route (first run):");
    for (route, n) in &first_stats.by_route {
        println!("  {n:>6}  {route}");
    }
    bench_prefetch(&sim, data.path());
}

/// The prefetch of every tag's and default branch's archive, as a run after
/// the metadata is in: its requests and budget, time and the dist store's
/// size on disk.
fn bench_prefetch(sim: &Simulator, data: &Path) {
    sim.clock().advance(Duration::from_secs(3600));
    sim.reset_stats();
    sim.budget().reset_charged();
    let run = run_packyard(data, &["sync", "run", "bench"], &sim.token());
    let stats = sim.stats();
    let (files, bytes) = disk_use(&data.join("dists"));
    println!(
        "prefetch:   {:>8.2} s  {:>6} requests  {files} archives, {:.1} MiB on disk ({:.1} KiB each)  paused: {}  peak RSS {:.1} MiB",
        run.wall.as_secs_f64(),
        stats.requests,
        bytes as f64 / 1_048_576.0,
        bytes as f64 / 1024.0 / files.max(1) as f64,
        run.paused,
        run.peak_rss_kib as f64 / 1024.0
    );
    println!(
        "  budget: {}",
        budget_lines(sim, &sim.budget().charged()).join("; ")
    );
}

/// Files below `dir` and their bytes.
fn disk_use(dir: &Path) -> (u64, u64) {
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let (files, bytes) = disk_use(&entry.path());
            total = (total.0 + files, total.1 + bytes);
        } else {
            total = (total.0 + 1, total.1 + meta.len());
        }
    }
    total
}
