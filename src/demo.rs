//! `packyard demo`: the dashboard over a simulated GitHub organization, with
//! no network and no tokens. It serves the organization to Composer, syncs
//! it once (installing its webhooks on the simulated host), and keeps pushing
//! new tags whose webhook deliveries refresh the repository, so the dashboard
//! shows a full run and then live webhook traffic.

use crate::admin::{AdminClient, EngineSettings, HookSettings, InProcess, NewSync, Policy};
use crate::cli::DemoArgs;
use crate::config::{Config, init_logging};
use crate::domain::{Credential, ProviderKind, Secret, SyncId};
use crate::server;
use crate::simulate::{GithubSim, Scenario};
use crate::tui::{self, Mode, Session};
use anyhow::Context;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const SCENARIO: &str = include_str!("../assets/demo-github.toml");
/// How often the demo publishes a tag.
const ACTIVITY_EVERY: Duration = Duration::from_secs(10);
/// The repository that receives the demo's new tags.
const ACTIVE_REPO: &str = "log";

/// Runs the demo until the dashboard is closed. With `config` (from
/// `--data-dir`) the data stays there; otherwise it lives in a temporary
/// directory.
pub async fn run(args: DemoArgs, config: Option<Config>) -> anyhow::Result<ExitCode> {
    tui::require_terminal()?;
    let temp;
    let (data_dir, log_level) = match config {
        Some(config) => {
            config.ensure_data_dir()?;
            (config.data_dir, config.log_level)
        }
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary data directory")?;
            (temp.path().to_owned(), "info".to_owned())
        }
    };
    // The dashboard owns the terminal: logs go to <data dir>/logs.
    let _logs = init_logging(&data_dir, &log_level)?;
    let sim = GithubSim::start(Scenario::from_toml_str(SCENARIO)?)
        .await
        .context("cannot start the simulated GitHub")?;
    let listener = server::bind(args.listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    // The simulated host delivers its webhooks to this server.
    let settings = EngineSettings {
        hooks: HookSettings {
            public_url: Some(url.clone()),
            ..HookSettings::default()
        },
        ..EngineSettings::default()
    };
    let admin = Arc::new(InProcess::open(&data_dir, settings)?);
    let id = SyncId::new("acme-github")?;
    if admin.list_syncs().await?.iter().all(|s| s.id != id) {
        let new = NewSync {
            id: id.clone(),
            provider: ProviderKind::Github,
            api_url: sim.api_url(),
            org: sim.org(),
            credential: Credential::Token(Secret::new(sim.token())),
        };
        admin.add_sync(new).await?;
    }

    // Webhooks keep it current after the first run; no periodic resync.
    let services = server::Services::start(admin.engine(), listener, None, None);
    let (notices, received) = mpsc::unbounded_channel();
    for line in [
        format!(
            "demo: simulated GitHub organization {:?} at {}",
            sim.org(),
            sim.api_url()
        ),
        format!("demo: Composer repository at {url} (plain http: set \"secure-http\": false)"),
        "demo: create a token in pane 4 with c; use it as the http-basic password".to_owned(),
        format!(
            "demo: a new tag is pushed to acme/{ACTIVE_REPO} every {} s; its webhook refreshes the package",
            ACTIVITY_EVERY.as_secs()
        ),
    ] {
        let _ = notices.send(line);
    }
    let session = Session {
        mode: Mode::Demo,
        server_url: url,
        notices: received,
    };
    let dashboard: Arc<dyn AdminClient> = admin.clone();
    let closed = tokio::select! {
        closed = tui::run(dashboard, session) => closed,
        () = simulate_pushes(&sim, admin.as_ref(), &id, &notices) => Ok(()),
    };
    services.stop().await?;
    sim.shutdown().await;
    closed.context("the dashboard failed")?;
    Ok(ExitCode::SUCCESS)
}

/// Syncs once (which installs the webhooks), then pushes a tag every
/// [`ACTIVITY_EVERY`]; the simulated host's webhook delivery makes packyard
/// refresh the repository. Progress and results reach the dashboard as
/// engine events.
async fn simulate_pushes(
    sim: &GithubSim,
    admin: &dyn AdminClient,
    id: &SyncId,
    notices: &mpsc::UnboundedSender<String>,
) {
    if let Err(e) = admin.run_sync(id.clone(), Policy::default()).await {
        let _ = notices.send(format!("demo: cannot sync {id}: {e}"));
    }
    let mut ticker = tokio::time::interval(ACTIVITY_EVERY);
    ticker.tick().await;
    for patch in 1.. {
        ticker.tick().await;
        let tag = format!("v1.1.{patch}");
        let said = match sim.add_tag(ACTIVE_REPO, &tag) {
            Ok(_) => format!("simulated push: tag {tag} on acme/{ACTIVE_REPO}, webhook sent"),
            Err(e) => format!("simulated push of {tag} failed: {e}"),
        };
        let _ = notices.send(said);
    }
}
