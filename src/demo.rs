//! `packyard demo`: packyard over a simulated GitHub organization, with no
//! network and no tokens. It syncs the organization from `assets/`, serves it
//! to Composer, prints how to try it, and keeps publishing new tags that the
//! next sync picks up, so something visibly happens.

use crate::admin::{AdminClient, EngineSettings, InProcess, NewSync};
use crate::cli::{self, Command, DemoArgs, ListOptions, PackageCommand, SyncCommand};
use crate::config::Config;
use crate::domain::{Credential, ProviderKind, Secret, SyncId, TokenScope};
use crate::server;
use crate::simulate::{GithubSim, Scenario};
use anyhow::Context;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SCENARIO: &str = include_str!("../assets/demo-github.toml");
/// How often the demo publishes a tag and syncs it.
const ACTIVITY_EVERY: Duration = Duration::from_secs(10);
/// The repository that receives the demo's new tags.
const ACTIVE_REPO: &str = "log";

/// Runs the demo until Ctrl-C. With `config` (from `--data-dir`) the data
/// stays there; otherwise it lives in a temporary directory.
pub async fn run(args: DemoArgs, config: Option<Config>) -> anyhow::Result<ExitCode> {
    let temp;
    let data_dir = match config {
        Some(config) => {
            config.ensure_data_dir()?;
            config.data_dir
        }
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary data directory")?;
            temp.path().to_owned()
        }
    };
    let sim = GithubSim::start(Scenario::from_toml_str(SCENARIO)?)
        .await
        .context("cannot start the simulated GitHub")?;
    let admin = InProcess::open(&data_dir, EngineSettings::default())?;
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
    println!(
        "Simulated GitHub organization {:?} at {}\n",
        sim.org(),
        sim.api_url()
    );
    let run = Command::Sync(SyncCommand::Run {
        name: id.to_string(),
        confirm_removals: false,
    });
    cli::execute(run, &admin).await?;
    println!();
    let all = ListOptions {
        sync: None,
        json: false,
    };
    cli::execute(Command::Package(PackageCommand::List(all)), &admin).await?;
    let (_, token) = admin
        .create_token(TokenScope::OrgWide, "demo".into(), None)
        .await?;

    let listener = server::bind(args.listen).await?;
    let url = format!("http://{}", listener.local_addr()?);
    print_try_it(&url, token.expose());
    let shutdown = CancellationToken::new();
    let engine = admin.engine().clone();
    let serving = {
        let (shutdown, data_dir) = (shutdown.clone(), data_dir.clone());
        tokio::spawn(
            async move { server::serve(&engine, &data_dir, listener, None, shutdown).await },
        )
    };
    let mut ticker = tokio::time::interval(ACTIVITY_EVERY);
    ticker.tick().await;
    for patch in 1.. {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = ticker.tick() => {}
        }
        let tag = format!("v1.1.{patch}");
        sim.add_tag(ACTIVE_REPO, &tag)?;
        println!("\n[simulated push] tag {tag} on acme/{ACTIVE_REPO}");
        let run = Command::Sync(SyncCommand::Run {
            name: id.to_string(),
            confirm_removals: false,
        });
        cli::execute(run, &admin).await?;
    }
    shutdown.cancel();
    serving.await??;
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn print_try_it(url: &str, token: &str) {
    let origin = url.trim_start_matches("http://");
    println!(
        "\nServing the Composer repository at {url}. Try it in an empty directory:\n\n\
         composer.json:\n\
         {{\n  \"repositories\": [{{\"type\": \"composer\", \"url\": \"{url}\"}}],\n  \"config\": {{\"secure-http\": false}}\n}}\n\n\
         auth.json:\n\
         {{\"http-basic\": {{\"{origin}\": {{\"username\": \"token\", \"password\": \"{token}\"}}}}}}\n\n\
         then: composer require acme/config:^1.0\n\n\
         A new tag is pushed to acme/{ACTIVE_REPO} and synced every {} s. Ctrl-C stops the demo.",
        ACTIVITY_EVERY.as_secs()
    );
}
