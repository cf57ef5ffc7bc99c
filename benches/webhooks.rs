//! Webhook benchmark: a simulated GitHub organization of 100 package
//! repositories pushes 1,000 times over 10 seconds; each push is one signed
//! `push` delivery to `packyard`'s receiver, which queues it and refreshes
//! the repository.
//!
//! Reports the time from each push (the delivery leaves the simulator at
//! once) until packyard's store, which the Composer server reads on every
//! request, holds that commit or a later one of the same branch (p50, p99,
//! max); the deliveries' answers; and the code host requests the refreshes
//! made, against a full no-change resync per delivery measured in the same
//! run. Numbers, not pass/fail: `cargo bench --bench webhooks`.
//!
//! Sizes: `PACKYARD_BENCH_PUSHES` (1000), `..._REPOS` (100),
//! `..._SECONDS` (10), `..._LATENCY_MS` (20, per code host request).

use packyard::domain::{Credential, ProviderKind, Secret, SyncId};
use packyard::engine::{EngineEvent, EngineHandle, EngineSettings, HookSettings, NewSync, Policy};
use packyard::server::{Services, bind};
use packyard::simulate::{GeneratedSpec, GithubSim, Scenario};
use packyard::store::Store;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(format!("PACKYARD_BENCH_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One push waiting to show up: its commit and when it was made.
struct Push {
    commit: String,
    at: Instant,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let pushes = env_or("PUSHES", 1000);
    let repos = env_or("REPOS", 100) as usize;
    let seconds = env_or("SECONDS", 10);
    let latency = Duration::from_millis(env_or("LATENCY_MS", 20));
    let scenario = Scenario::generated(GeneratedSpec {
        repos,
        with_composer: repos,
        tags: 5,
        branches: 2,
        teams: 10,
        members: 200,
    });
    let sim = GithubSim::start(scenario).await.expect("simulated GitHub");
    sim.faults().set_latency(latency);

    let dir = tempfile::tempdir().expect("temp dir");
    let listener = bind("127.0.0.1:0".parse().unwrap()).await.expect("listen");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let settings = EngineSettings {
        hooks: HookSettings {
            public_url: Some(url),
            ..HookSettings::default()
        },
        ..EngineSettings::default()
    };
    let engine = EngineHandle::new(Store::open(dir.path()).expect("store"), settings);
    let id = SyncId::new("bench").unwrap();
    engine
        .add_sync(NewSync {
            id: id.clone(),
            provider: ProviderKind::Github,
            api_url: sim.api_url(),
            org: sim.org(),
            credential: Credential::Token(Secret::new(sim.token())),
        })
        .await
        .expect("add sync");
    let services = Services::start(&engine, listener, None, None);
    let first = engine
        .run_sync(&id, Policy::default())
        .await
        .expect("first run");
    assert!(first.error.is_none(), "first run failed: {:?}", first.error);
    let hooks = sim.webhooks().all();
    println!(
        "webhooks: {pushes} pushes to {repos} repositories over {seconds} s, {} ms per host request; hooks installed: {}",
        latency.as_millis(),
        hooks.len()
    );

    // Baseline: what one full run costs when nothing changed.
    sim.reset_stats();
    engine
        .run_sync(&id, Policy::default())
        .await
        .expect("resync");
    let full_resync = sim.stats().requests;
    sim.reset_stats();

    let mut events = engine.subscribe();
    let names: Vec<String> = (0..repos).map(|i| format!("repo-{i:05}")).collect();
    let mut pending: BTreeMap<String, Vec<Push>> = BTreeMap::new();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut refreshes = 0u64;
    let gap = Duration::from_secs(seconds) / u32::try_from(pushes).unwrap_or(u32::MAX);
    let started = Instant::now();
    let mut next_push = 0u64;
    let deadline = Duration::from_secs(seconds + 60);
    while (next_push < pushes || pending.values().any(|p| !p.is_empty()))
        && started.elapsed() < deadline
    {
        let due = started + gap * u32::try_from(next_push).unwrap_or(u32::MAX);
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()), if next_push < pushes => {
                let repo = &names[(next_push as usize) % repos];
                let commit = sim.push_branch(repo, "main").expect("push");
                pending.entry(repo.clone()).or_default().push(Push { commit, at: Instant::now() });
                next_push += 1;
            }
            event = events.recv() => {
                if matches!(event, Ok(EngineEvent::HookRefreshed { .. })) {
                    refreshes += 1;
                }
                settle(&engine, &mut pending, &mut latencies);
            }
        }
    }
    let burst = started.elapsed();
    let requests = sim.stats().requests;
    let deliveries = sim.webhooks().deliveries();
    let accepted = deliveries
        .iter()
        .filter(|d| d.status.is_some_and(|s| (200..300).contains(&s)))
        .count();
    let unsettled: usize = pending.values().map(Vec::len).sum();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "  delivery to updated metadata: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} pushes ({} never showed up)",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        latencies.len(),
        unsettled
    );
    println!(
        "  deliveries: {} sent, {} answered 2xx; {} targeted refreshes in {:.1} s",
        deliveries.len(),
        accepted,
        refreshes,
        burst.as_secs_f64()
    );
    println!(
        "  code host requests: {requests} for {pushes} deliveries = {:.2} per delivery; a full no-change resync costs {full_resync}, so one per delivery would be {} ({:.1}% of that)",
        requests as f64 / pushes as f64,
        full_resync * pushes,
        100.0 * requests as f64 / (full_resync * pushes) as f64
    );
    services.stop().await.expect("stop");
}

/// Marks every push whose commit (or a later one on the same branch) the
/// store now holds as settled, recording how long it took.
fn settle(
    engine: &EngineHandle,
    pending: &mut BTreeMap<String, Vec<Push>>,
    latencies: &mut Vec<Duration>,
) {
    let now = Instant::now();
    for (repo, pushes) in pending.iter_mut().filter(|(_, p)| !p.is_empty()) {
        let name = packyard::domain::PackageName::new(&format!("bench/{repo}")).unwrap();
        let Ok(versions) = engine.store().load_versions(&name) else {
            continue;
        };
        let Some(current) = versions
            .iter()
            .find(|v| v.version == "dev-main")
            .map(|v| v.commit.clone())
        else {
            continue;
        };
        if let Some(seen) = pushes.iter().position(|p| p.commit == current) {
            for push in pushes.drain(..=seen) {
                latencies.push(now - push.at);
            }
        }
    }
}
