//! The `packyard` binary: parse the command line, load the configuration,
//! start the runtime and dispatch. Everything else lives in the library.

use clap::Parser;
use packyard::admin::InProcess;
use packyard::cli::{self, Cli, Command};
use packyard::config::{Config, init_logging};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref(), cli.data_dir.clone())?;
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Demo(args) => runtime.block_on(packyard::demo::run(args, cli.data_dir.is_some().then_some(config))),
        Command::Serve(args) => {
            config.ensure_data_dir()?;
            let _logs = init_logging(&config.data_dir, &config.log_level)?;
            runtime.block_on(packyard::server::run_daemon(&config, args.listen, args.public_url))?;
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
