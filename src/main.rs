//! The `packyard` binary: parse the command line, load the configuration,
//! start the runtime and dispatch. Everything else lives in the library.

use anyhow::Context;
use clap::Parser;
use packyard::admin::{self, AdminClient, InProcess};
use packyard::cli::{self, Cli, Command};
use packyard::config::{Config, init_logging};
use packyard::server::{self, DaemonOptions, Services, run_daemon};
use packyard::tui::{self, Mode, Session};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

fn main() -> ExitCode {
    // Whatever packyard creates (store files, logs, dists) is its own.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error with its causes, each only once: many of our messages already
/// carry their cause's text.
fn describe(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
    }
    message
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref(), cli.data_dir.clone())?;
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        None => runtime.block_on(dashboard(config)),
        Some(Command::Demo(args)) => runtime.block_on(packyard::demo::run(
            args,
            cli.data_dir.is_some().then_some(config),
        )),
        Some(Command::Serve(args)) => {
            config.ensure_data_dir()?;
            let _logs = init_logging(&config.data_dir, &config.log_level)?;
            let public_url = args.public_url.or_else(|| config.public_url.clone());
            let mut engine = cli::engine_settings(&config);
            engine.hooks.public_url = public_url.clone();
            let options = DaemonOptions {
                data_dir: config.data_dir.clone(),
                listen: args.listen.unwrap_or(config.listen),
                public_url,
                trusted_proxies: config.trusted_proxies.clone(),
                resync_interval: resync_interval(&config),
                engine,
            };
            runtime.block_on(run_daemon(options))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Store(command)) => {
            config.ensure_data_dir()?;
            let _logs = init_logging(&config.data_dir, &config.log_level)?;
            cli::execute_store(command, &config.data_dir)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(command) => {
            config.ensure_data_dir()?;
            let _logs = init_logging(&config.data_dir, &config.log_level)?;
            // Inside the runtime: attaching to a daemon may spawn tasks.
            runtime.block_on(async {
                let admin = admin::connect(&config.data_dir, cli::engine_settings(&config))?;
                cli::execute(command, admin.as_ref()).await
            })
        }
    }
}

fn resync_interval(config: &Config) -> Option<Duration> {
    (config.sync.resync_interval_minutes > 0)
        .then(|| Duration::from_secs(config.sync.resync_interval_minutes * 60))
}

/// `packyard` alone: the dashboard attached to the daemon serving the data
/// dir, or else over an engine in this process, with the Composer server and
/// the periodic resync running beside it, as `serve`.
async fn dashboard(config: Config) -> anyhow::Result<ExitCode> {
    tui::require_terminal()?;
    config.ensure_data_dir()?;
    // Logs go to a file: the dashboard owns the terminal.
    let _logs = init_logging(&config.data_dir, &config.log_level)?;
    if let Some(daemon) = admin::attach(&config.data_dir)? {
        // The daemon serves Composer and resyncs; this is only a window on it.
        let session = Session {
            mode: Mode::Attached,
            server_url: config
                .public_url
                .clone()
                .unwrap_or_else(|| format!("daemon at {}", daemon.path().display())),
            notices: tokio::sync::mpsc::unbounded_channel().1,
        };
        tui::run(Arc::new(daemon), session)
            .await
            .context("the dashboard failed")?;
        return Ok(ExitCode::SUCCESS);
    }
    let admin = Arc::new(InProcess::open(
        &config.data_dir,
        cli::engine_settings(&config),
    )?);
    let listener = server::bind(config.listen).await?;
    let bound = listener.local_addr()?;
    let url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bound}"));
    let services = Services::start_behind(
        admin.engine(),
        listener,
        config.public_url.clone(),
        config.trusted_proxies.clone(),
        resync_interval(&config),
    );
    let (notices, received) = tokio::sync::mpsc::unbounded_channel();
    if config.public_url.is_none() && bound.ip().is_unspecified() {
        let _ = notices.send(format!(
            "warning: listening on {bound} without a public URL; dist URLs point at {bound}, which clients cannot reach. Set [server] public_url"
        ));
    }
    let session = Session {
        mode: Mode::Embedded,
        server_url: url,
        notices: received,
    };
    let closed = tui::run(admin.clone() as Arc<dyn AdminClient>, session).await;
    drop(notices);
    services.stop().await?;
    admin.engine().store().flush()?;
    closed.context("the dashboard failed")?;
    Ok(ExitCode::SUCCESS)
}
