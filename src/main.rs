//! Thin entry point: cli -> config -> telemetry -> lib.

use std::process::ExitCode;

use clap::Parser;
use kurento_exporter::app::{config, telemetry};
use kurento_exporter::cli::{self, Cli, Command};
use kurento_exporter::sim;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command_or_default();
    if command == Command::CheckConfig {
        let (report, code) = cli::check_config(cli.config_file(), &cli.overrides());
        if code == cli::EXIT_OK {
            println!("{report}");
        } else {
            eprintln!("{report}");
        }
        return ExitCode::from(code);
    }
    let config = match config::load(cli.config_file(), &cli.overrides()) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("invalid configuration:\n{errors}");
            return ExitCode::from(cli::EXIT_INVALID_CONFIG);
        }
    };
    if let Err(err) = telemetry::init(config.log.level, config.log.format) {
        eprintln!("cannot set up logging: {err}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome: Result<(), String> = runtime.block_on(async {
        match command {
            Command::Run | Command::CheckConfig => kurento_exporter::run(config)
                .await
                .map_err(|e| e.to_string()),
            Command::Simulate {
                listen,
                scenario,
                media_address,
            } => {
                let scenario = load_scenario(scenario.as_deref(), media_address)?;
                kurento_exporter::run_simulator(listen, scenario)
                    .await
                    .map_err(|e| e.to_string())
            }
            Command::Demo {
                scenario,
                media_address,
            } => {
                let scenario = load_scenario(scenario.as_deref(), media_address)?;
                kurento_exporter::run_demo(config, scenario)
                    .await
                    .map_err(|e| e.to_string())
            }
            Command::Bench(args) => kurento_exporter::bench::run(&args)
                .await
                .map_err(|e| e.to_string()),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "exiting");
            eprintln!("kurento_exporter: {err}");
            ExitCode::FAILURE
        }
    }
}

fn load_scenario(
    path: Option<&std::path::Path>,
    media_address: Option<std::net::IpAddr>,
) -> Result<sim::Scenario, String> {
    let mut scenario = match path {
        Some(path) => sim::Scenario::from_file(path).map_err(|e| e.to_string())?,
        None => sim::Scenario::demo(),
    };
    if let Some(ip) = media_address {
        scenario.peers.media_address = ip;
    }
    Ok(scenario)
}
