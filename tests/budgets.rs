//! Request budgets as an admin meets them: a run that spends the host's
//! budget pauses (exit 75, with when it resets) instead of ending partial,
//! keeps the reserve, and the next run after the reset completes with what
//! the paused one read. The simulators enforce each host's documented
//! limits on a clock the tests move, so nothing waits for a real reset.

mod support;

use packyard::domain::{Credential, ProviderKind, Secret, SyncId};
use packyard::engine::{EngineHandle, EngineSettings, NewSync, Policy};
use packyard::providers::bitbucket_cloud::BitbucketCloudHost;
use packyard::providers::budget::{Priority, with_priority};
use packyard::providers::{CodeHost, MemoryCache, ProviderError};
use packyard::simulate::{BitbucketCloudSim, GithubSim, Limit, Scenario};
use packyard::store::Store;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use support::snapshots::{quiet, settings};
use support::{ok, stdout, sync_add};

/// `packyard` reading GitHub through REST: these tests count REST requests
/// against the `core` budget (the GraphQL path spends a handful of them).
fn packyard(data_dir: &std::path::Path) -> std::process::Command {
    let home = data_dir.with_extension("config");
    std::fs::create_dir_all(home.join("packyard")).unwrap();
    std::fs::write(
        home.join("packyard/config.toml"),
        "[sync]\ngithub_api = \"rest\"\n",
    )
    .unwrap();
    let mut cmd = support::packyard(data_dir);
    cmd.env("XDG_CONFIG_HOME", home);
    cmd
}

const SCENARIO: &str = include_str!("../assets/demo-github.toml");
const HOUR: Duration = Duration::from_secs(3600);
/// KNOWN RACE (see the closing note): a request or two of a run's
/// last concurrent burst may still land below the reserve.
const SLACK: u64 = 2;

async fn github() -> GithubSim {
    GithubSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap()
}

/// An engine on a fresh data dir with one GitHub sync per name, all with
/// the simulator's token.
async fn engine_with_syncs(
    sim: &GithubSim,
    names: &[&str],
) -> (EngineHandle, Vec<SyncId>, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let engine = EngineHandle::new(
        Store::open(data.path()).unwrap(),
        EngineSettings {
            client: packyard::providers::ClientSettings {
                github_api: packyard::domain::GithubApi::Rest,
                ..Default::default()
            },
            ..EngineSettings::default()
        },
    );
    let mut ids = Vec::new();
    for name in names {
        let id = SyncId::new(name).unwrap();
        engine
            .add_sync(NewSync {
                id: id.clone(),
                provider: ProviderKind::Github,
                api_url: sim.api_url(),
                org: sim.org(),
                credential: Credential::Token(Secret::new(sim.token())),
            })
            .await
            .unwrap();
        ids.push(id);
    }
    (engine, ids, data)
}

/// What `package list --json` and `team list --json` say, without the
/// times that differ between runs.
fn store_content(data: &std::path::Path) -> (Vec<(String, u64)>, Value) {
    let packages: Value =
        serde_json::from_slice(&ok(packyard(data).args(["package", "list", "--json"])).stdout)
            .unwrap();
    let packages = packages
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["versions"].as_u64().unwrap(),
            )
        })
        .collect();
    let teams: Value =
        serde_json::from_slice(&ok(packyard(data).args(["team", "list", "--json"])).stdout)
            .unwrap();
    (packages, teams)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_spends_the_budget_pauses_with_exit_75_and_the_next_one_completes() {
    // The same organization synced without a limit, for comparison.
    let free = github().await;
    let reference = tempfile::tempdir().unwrap();
    ok(&mut sync_add(
        reference.path(),
        &free.api_url(),
        "acme",
        &free.token(),
    ));
    free.budget().reset_charged();
    ok(packyard(reference.path()).args(["sync", "run", "acme", "--no-prefetch"]));
    let uninterrupted = free.budget().charged().granted("core");

    let sim = github().await;
    // Enough for most of the run, not all of it.
    let limit = uninterrupted * 2 / 3;
    sim.set_rate_limit(Some(limit));
    let data = tempfile::tempdir().unwrap();
    ok(&mut sync_add(
        data.path(),
        &sim.api_url(),
        "acme",
        &sim.token(),
    ));
    sim.budget().reset_charged();

    let paused = packyard(data.path())
        .args(["sync", "run", "acme", "--no-prefetch"])
        .output()
        .unwrap();
    let text = stdout(&paused);
    assert_eq!(paused.status.code(), Some(75), "{text}");
    let reserve = limit.div_ceil(10);
    let prefix = format!(
        "rate limit of {} spent: ",
        sim.api_url().trim_start_matches("http://")
    );
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{prefix:?} in:\n{text}"));
    let (left, rest) = line.split_once(" of ").unwrap();
    // Requests in flight when the budget reached the reserve were dropped
    // unsent or unanswered, so somewhat more than the reserve may be left.
    assert!(left.parse::<u64>().unwrap() + SLACK >= reserve, "{line}");
    assert!(
        rest.starts_with(&format!("{limit} left, resets at "))
            && rest.ends_with(" UTC (in 60 min)"),
        "{line}"
    );
    assert!(
        !text.contains("incomplete"),
        "a rate limit is no partial listing: {text}"
    );
    let standing = sim.budget().standing("core", &sim.token_key()).unwrap();
    assert!(
        standing.remaining + SLACK >= reserve,
        "the reserve is kept for webhooks: {standing:?}"
    );
    let left = standing.remaining;
    let listed = stdout(&ok(packyard(data.path()).args(["sync", "list"])));
    assert!(listed.contains("paused: rate limit, resumes"), "{listed}");
    assert_eq!(
        store_content(data.path()).0,
        vec![],
        "a paused run applies nothing"
    );
    let spent_before_reset = sim.budget().charged().granted("core");

    // Another run before the reset starts from the remembered budget, asks
    // the free /rate_limit, spends at most what is left above the reserve
    // and pauses again; the host never has to refuse it.
    let early = packyard(data.path())
        .args(["sync", "run", "acme", "--no-prefetch"])
        .output()
        .unwrap();
    assert_eq!(early.status.code(), Some(75), "{}", stdout(&early));
    assert!(
        sim.budget().charged().granted("core") - spent_before_reset
            <= left.saturating_sub(reserve) + SLACK
    );
    assert!(
        sim.budget()
            .standing("core", &sim.token_key())
            .unwrap()
            .remaining
            + SLACK
            >= reserve
    );
    assert_eq!(sim.budget().charged().refused("core"), 0);

    // After the reset the run continues; should what is left need more than
    // one hour's budget above the reserve, it pauses again and the next
    // hour finishes it.
    let mut pauses = 2;
    let resumed = loop {
        sim.clock().advance(HOUR);
        let run = packyard(data.path())
            .args(["sync", "run", "acme", "--no-prefetch"])
            .output()
            .unwrap();
        if run.status.code() != Some(75) {
            break run;
        }
        pauses += 1;
        assert!(pauses < 5, "the sync never completes: {}", stdout(&run));
    };
    assert!(resumed.status.success(), "{}", stdout(&resumed));
    assert!(
        stdout(&resumed).contains("packages +10"),
        "{}",
        stdout(&resumed)
    );
    assert_eq!(store_content(data.path()), store_content(reference.path()));
    let total = sim.budget().charged().granted("core");
    // What the paused run read is kept: listings it finished come back as
    // free 304s, refs and manifests are not read again. Only what was in
    // flight when it paused (at most one page per request slot, 16, per
    // pause) is repeated.
    assert!(
        total <= uninterrupted + pauses * 16,
        "paused + resumed {total} vs uninterrupted {uninterrupted}"
    );
}

#[tokio::test]
async fn a_sync_sharing_a_spent_token_does_not_spend_a_request_to_find_out() {
    let sim = github().await;
    let (engine, ids, _data) = engine_with_syncs(&sim, &["first", "second"]).await;
    // Another tool spends what is left of the token's hour.
    sim.set_rate_limit(Some(40));
    let first = engine.run_sync(&ids[0], metadata_only()).await.unwrap();
    assert!(first.paused().is_some(), "{first:?}");
    sim.reset_stats();

    let second = engine.run_sync(&ids[1], metadata_only()).await.unwrap();

    let pause = second.paused().expect("the shared budget is spent");
    assert_eq!(pause.budget.bucket, "core");
    let stats = sim.stats();
    assert_eq!(
        stats.requests - stats.route("/rate_limit"),
        0,
        "only the free rate-limit check: {stats:?}"
    );
}

#[tokio::test]
async fn bitbucket_cloud_pauses_on_its_own_estimate_of_the_rolling_hour() {
    let sim = BitbucketCloudSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    sim.budget()
        .set_limit("repository data", Some(Limit::rolling_hour(20)));
    // An access token: the only credential Bitbucket tells its limit
    // (`X-RateLimit-Limit`), never what is left of it.
    let bitbucket = BitbucketCloudHost::new(
        &sim.api_url(),
        &sim.org(),
        &Credential::Token(Secret::new(sim.token())),
        Arc::new(MemoryCache::default()),
        &settings(),
    )
    .unwrap();
    let err = with_priority(Priority::Run, bitbucket.snapshot(quiet()))
        .await
        .unwrap_err();
    let ProviderError::RateLimited {
        budget: Some(budget),
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(budget.estimated, "Bitbucket reports no count: {budget:?}");
    assert_eq!(
        (budget.limit, budget.remaining),
        (20, 2),
        "{err} {:?}",
        sim.budget().charged()
    );
    assert!(err.to_string().contains("≈2 of ≈20 left"), "{err}");
    let charged = sim.budget().charged();
    assert!(
        charged.granted("repository data") <= 18 && charged.refused("repository data") == 0,
        "stopped at the reserve before the host refused anything: {charged:?}"
    );
    assert!(
        charged.granted("raw files") > 0,
        "composer.json comes from the raw-file budget"
    );
}

#[tokio::test]
async fn a_ghes_with_rate_limiting_off_reports_no_budget_and_a_run_never_pauses() {
    let sim = github().await;
    sim.set_rate_limit(None);
    let (engine, ids, _data) = engine_with_syncs(&sim, &["ghes"]).await;
    let summary = engine.run_sync(&ids[0], metadata_only()).await.unwrap();
    assert_eq!((&summary.error, summary.paused()), (&None, None));
    assert!(summary.headroom().is_empty(), "no headers, nothing to show");
    let rate_limit = reqwest::Client::new()
        .get(format!("{}/rate_limit", sim.api_url()))
        .bearer_auth(sim.token())
        .send()
        .await
        .unwrap();
    assert_eq!(
        rate_limit.status(),
        404,
        "GHES: rate limiting is not enabled"
    );
}

#[tokio::test]
async fn gitlab_answers_429_with_its_headers_once_the_minute_is_spent_and_resets_with_the_clock() {
    let sim = packyard::simulate::GitlabSim::start(Scenario::from_toml_str(SCENARIO).unwrap())
        .await
        .unwrap();
    sim.budget().set_limit("api", Some(Limit::per_minute(2)));
    let get = || {
        reqwest::Client::new()
            .get(format!("{}/groups/{}", sim.api_url(), sim.org()))
            .header("private-token", sim.token())
            .send()
    };
    for left in ["1", "0"] {
        let ok = get().await.unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["ratelimit-remaining"], left);
        assert_eq!(ok.headers()["ratelimit-limit"], "2");
    }
    let refused = get().await.unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    sim.clock().advance(Duration::from_secs(60));
    assert_eq!(get().await.unwrap().status(), 200, "a new minute");
}

/// A run without the dist prefetch, whose archive downloads would spend the
/// budgets these tests measure.
fn metadata_only() -> Policy {
    Policy {
        skip_prefetch: true,
        ..Policy::default()
    }
}
