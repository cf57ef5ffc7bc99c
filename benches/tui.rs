//! Dashboard render benchmark: the Packages pane with 10,000 packages drawn
//! on a 200x50 `TestBackend`, the selection moving one row per frame.
//!
//! Prints the mean, p50, p99 and worst time per frame, the time one filter
//! keystroke takes to update the row list, and the process's peak RSS
//! (VmHWM). Targets: under 5 ms per frame and under 100 MB RSS. Numbers, not
//! pass/fail: `cargo bench --bench tui`. `PACKYARD_BENCH_PACKAGES` and
//! `PACKYARD_BENCH_FRAMES` change the sizes.

use packyard::admin::PackageSummary;
use packyard::domain::{Package, PackageName, RemoteId, SyncId, Timestamp};
use packyard::tui::theme::Theme;
use packyard::tui::{App, Mode, Msg, Reply, render};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(format!("PACKYARD_BENCH_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn packages(n: usize, now: Timestamp) -> Vec<PackageSummary> {
    let origins = [
        SyncId::new("acme-github").expect("sync name"),
        SyncId::new("acme-gitlab").expect("sync name"),
    ];
    (0..n)
        .map(|i| {
            let name = format!("acme/package-{i:05}");
            PackageSummary {
                package: Package {
                    name: PackageName::new(&name).expect("package name"),
                    origin: origins[i % 2].clone(),
                    repo: RemoteId(i.to_string()),
                    repo_full_name: name.clone(),
                    clone_url: format!("https://example.test/{name}.git"),
                    html_url: format!("https://example.test/{name}"),
                    description: None,
                    default_branch: "main".to_owned(),
                    host: None,
                    archived: false,
                    abandoned: None,
                    manifest_missing: false,
                },
                versions: 1 + i % 40,
                latest: Some(format!("v{}.{}.{}", i % 5, i % 11, i % 7)),
                updated_at: Some(Timestamp(now.0 - (i as i64 % 86_400))),
                dist_bytes: (i as u64 % 40) * 48_000,
            }
        })
        .collect()
}

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// Peak resident set size of this process, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let count = env_or("PACKAGES", 10_000);
    let frames = env_or("FRAMES", 1_000).max(1);
    let now = Timestamp::now();
    let mut app = App::new(
        Mode::Embedded,
        "http://127.0.0.1:8080".to_owned(),
        Theme::from_env(),
        now,
    );
    app.update(Msg::Reply(Reply::Packages(packages(count, now))));
    app.update(key('3'));
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).expect("test terminal");

    let mut times = Vec::with_capacity(frames);
    for frame in 0..frames + 50 {
        // Scroll through the list so frames draw different rows.
        app.update(key('j'));
        let started = Instant::now();
        terminal
            .draw(|f| render(&app, f))
            .expect("draw to the test backend");
        // The first frames warm caches and allocate buffers.
        if frame >= 50 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap_or(u32::MAX);
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];

    // One keystroke in the filter re-filters every package.
    app.update(key('/'));
    let started = Instant::now();
    app.update(key('9'));
    let filter = started.elapsed();

    println!("Packages pane, {count} packages, 200x50, {frames} frames");
    println!(
        "  per frame: mean {:.3} ms, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms (target < 5 ms)",
        ms(mean),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(at(1.0))
    );
    println!(
        "  filter keystroke over {count} packages: {:.3} ms",
        ms(filter)
    );
    match peak_rss_kib() {
        Some(kib) => println!(
            "  peak RSS (VmHWM): {:.1} MB (target < 100 MB)",
            kib as f64 / 1024.0
        ),
        None => println!("  peak RSS: unavailable (no /proc/self/status)"),
    }
}
