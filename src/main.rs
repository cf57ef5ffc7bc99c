//! The `packyard` binary: parse the command line, load the configuration,
//! start the runtime and dispatch. Everything else lives in the library.

use clap::Parser;
use packyard::admin::InProcess;
use packyard::cli::{self, Cli, Command};
use packyard::config::{Config, init_logging};
use packyard::server::{DaemonOptions, run_daemon};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
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
        Command::Demo(args) => runtime.block_on(packyard::demo::run(
            args,
            cli.data_dir.is_some().then_some(config),
        )),
        Command::Serve(args) => {
            config.ensure_data_dir()?;
            let _logs = init_logging(&config.data_dir, &config.log_level)?;
            let options = DaemonOptions {
                data_dir: config.data_dir.clone(),
                listen: args.listen.unwrap_or(config.listen),
                public_url: args.public_url.or_else(|| config.public_url.clone()),
                resync_interval: (config.sync.resync_interval_minutes > 0)
                    .then(|| Duration::from_secs(config.sync.resync_interval_minutes * 60)),
                engine: cli::engine_settings(&config),
            };
            runtime.block_on(run_daemon(options))?;
            Ok(ExitCode::SUCCESS)
        }
        command => {
            config.ensure_data_dir()?;
            let _logs = init_logging(&config.data_dir, &config.log_level)?;
            let admin = InProcess::open(&config.data_dir, cli::engine_settings(&config))?;
            runtime.block_on(cli::execute(command, &admin))
        }
    }
}
