//! Thin entry point: parse the command line, then either check the configuration or load it,
//! set up logging and run the command on the async runtime.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use kurento_exporter::app::config::Config;
use kurento_exporter::app::{config, telemetry};
use kurento_exporter::cli::{self, Cli, Command};
use kurento_exporter::sim;

// mimalloc instead of glibc's malloc: the poll cycle allocates and frees many small short-lived
// objects (decoded replies, readings); with glibc, allocation was ~40 % of the exporter's CPU in
// the fleet benchmark and freed memory stayed in per-thread arenas (BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command_or_default() {
        Command::CheckConfig => check_config(&cli),
        Command::Run => serve(&cli, |config| async {
            let (file, overrides) = (cli.config_file().map(Path::to_path_buf), cli.overrides());
            let load: kurento_exporter::ConfigLoader =
                Box::new(move || config::load(file.as_deref(), &overrides));
            kurento_exporter::run(config, load)
                .await
                .map_err(|e| e.to_string())
        }),
        Command::Simulate {
            listen,
            scenario,
            media_address,
        } => serve(&cli, |_| async move {
            let scenario = load_scenario(scenario.as_deref(), media_address)?;
            kurento_exporter::run_simulator(listen, scenario)
                .await
                .map_err(|e| e.to_string())
        }),
        Command::Demo {
            scenario,
            media_address,
        } => serve(&cli, |config| async move {
            let scenario = load_scenario(scenario.as_deref(), media_address)?;
            kurento_exporter::run_demo(config, scenario)
                .await
                .map_err(|e| e.to_string())
        }),
        Command::Bench(args) => serve(&cli, |_| async move {
            kurento_exporter::bench::run(&args)
                .await
                .map_err(|e| e.to_string())
        }),
        Command::Completions { shell } => print(Ok(cli::completions(shell))),
        Command::Man { dir: None } => print(cli::man_page()),
        Command::Man { dir: Some(dir) } => match cli::write_man_pages(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!(
                    "kurento_exporter: cannot write the man pages into {}: {err}",
                    dir.display()
                );
                ExitCode::FAILURE
            }
        },
    }
}

/// Writes generated text (completions, man page) to stdout; needs no configuration.
fn print(text: std::io::Result<Vec<u8>>) -> ExitCode {
    let written = text.and_then(|bytes| {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&bytes)?;
        stdout.flush()
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kurento_exporter: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `check-config`: the report on stdout when valid, on stderr otherwise.
fn check_config(cli: &Cli) -> ExitCode {
    let (report, code) = cli::check_config(cli.config_file(), &cli.overrides());
    if code == cli::EXIT_OK {
        println!("{report}");
    } else {
        eprintln!("{report}");
    }
    ExitCode::from(code)
}

/// Loads the configuration, sets up logging, and runs `command` to its end on the runtime.
fn serve<F, Fut>(cli: &Cli, command: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
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
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    let tokio_env_set = std::env::var_os("TOKIO_WORKER_THREADS").is_some();
    if let Some(workers) = cli.worker_threads(tokio_env_set) {
        builder.worker_threads(workers);
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(command(config));
    // Dropping the runtime would wait for every blocking task (a render, a DNS lookup of a stuck
    // resolver) without bound; the command has stopped what matters, so what is left is dropped
    // after at most this pause, keeping the exit within the shutdown bound (README "Signals").
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
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
